"""A VAE with discrete latents: binary units or one-hot categorical variables.

    z ~ p_θ(z): Π_i Bernoulli(σ(a_i))            (latent='bernoulli', z ∈ {0,1}^N)
             or Π_i OneHotCategorical(softmax(A_i))  (latent='categorical', z_i ∈ one-hot^C)
    x | z ~ p_θ(x | MLP_θ(z))                      (Bernoulli or Gaussian pixels)
    q_φ(z | x): the same family with logits MLP_φ(x)

The prior logits are learned. The "nonlinear SBN" of Mnih & Rezende (2016,
VIMCO) and Tucker et al. (2017, REBAR) is latent='bernoulli' with 200 units and
tanh MLPs; 20 ten-way categorical variables is the setting of Jang, Gu & Poole
(2017). Its samples carry no gradient, so train it with a score-function or
wake-sleep estimator (nvil, vimco, rws, wake_sleep).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo import distributions, nn
from tfp_zoo.models import architectures, base, pixels
from tfp_zoo.models.spec import register

tfd = tfp.distributions

__all__ = ["DiscreteVAE", "LATENTS"]

LATENTS = ("bernoulli", "categorical")
_DEFAULT_NUM_LATENTS = {"bernoulli": 200, "categorical": 20}


@register("discrete_vae", latents="discrete",
          summary=("VAE with discrete latents: 200 binary units (the \"nonlinear SBN\" of "
                   "VIMCO/REBAR) or 20 one-hot categorical variables of 10 classes, learned "
                   "prior logits, MLP encoder and decoder; Bernoulli or Gaussian pixels"))
class DiscreteVAE(base.LatentVariableModel):
  """A one-layer VAE whose latent 'z' is binary or one-hot categorical.

  'z' has event shape [num_latents] (Bernoulli) or [num_latents, num_categories]
  (one-hot, float32).
  """

  def __init__(self, input_shape: Sequence[int], *, latent: str = "bernoulli",
               num_latents: int = 0, num_categories: int = 10,
               hidden_sizes: int | Sequence[int] = (200, 200),
               likelihood: str = "bernoulli", activation: str = "tanh",
               architecture: str = "auto", conv_channels: int | Sequence[int] | None = None,
               residual_blocks: int = 0, pixel_scale: str = "learned",
               pixel_scale_init: float = pixels.DEFAULT_PIXEL_SCALE_INIT, seed: int = 0, name: str | None = None):
    """Builds the networks.

    Args:
      input_shape: shape of one observation, e.g. (28, 28, 1).
      latent: 'bernoulli' or 'categorical'.
      num_latents: binary units or categorical variables (0: 200 binary units,
        or 20 categorical variables).
      num_categories: categories per categorical variable (>= 2).
      hidden_sizes: deterministic hidden sizes of the encoder and decoder MLPs.
      likelihood: 'bernoulli' (binary pixels) or 'gaussian' (continuous pixels).
      activation: hidden activation, one of `nn.ACTIVATIONS`.
      architecture: 'mlp', 'conv' or 'auto' (conv for colour images), as in
        `architectures.resolve`; `hidden_sizes` are the MLP's.
      conv_channels: channels of the stride-2 convolutions (architecture=conv).
      residual_blocks: residual blocks after each of them (architecture=conv).
      pixel_scale: the noise of likelihood='gaussian': 'learned' (one scale per
        pixel), 'shared' (one learned scale) or 'fixed'.
      pixel_scale_init: that scale at initialisation (default 0.1; 1 in runs saved before 2026-11-27).
      seed: integer seed of the initialisation.
      name: module name.
    """
    super().__init__(input_shape, name=name)
    if latent not in LATENTS:
      raise ValueError(f"latent={latent!r}: expected one of {LATENTS}")
    pixels.check_likelihood(likelihood)
    pixels.check_pixel_scale(pixel_scale, pixel_scale_init, likelihood)
    if not isinstance(num_latents, int) or num_latents < 0:
      raise ValueError(f"num_latents={num_latents!r}: expected a positive integer "
                       "(0 for the default)")
    if latent == "categorical" and (not isinstance(num_categories, int)
                                    or num_categories < 2):
      raise ValueError(f"num_categories={num_categories!r}: expected an integer >= 2")
    hidden = nn.parse_sizes(hidden_sizes, "hidden_sizes")
    self.architecture = architectures.resolve(architecture, self.input_shape, conv_channels,
                                              residual_blocks)
    nets = dict(activation=activation, conv_channels=conv_channels,
                residual_blocks=residual_blocks)
    self.latent = latent
    self.likelihood = likelihood
    self.num_latents = num_latents or _DEFAULT_NUM_LATENTS[latent]
    self.latent_event_shape = ((self.num_latents,) if latent == "bernoulli"
                               else (self.num_latents, num_categories))
    latent_size = int(np.prod(self.latent_event_shape))
    data_size = int(np.prod(self.input_shape))
    seeds = tf.random.experimental.stateless_split(tf.constant([seed, 5]), 2).numpy()
    self.prior_logits = tf.Variable(tf.zeros(self.latent_event_shape), name="prior_logits")
    self.decoder = architectures.decoder(self.architecture, latent_size, self.input_shape,
                                         tuple(reversed(hidden)), seed=seeds[0],
                                         name="decoder",
                                         params_per_pixel=pixels.params_per_pixel(likelihood),
                                         **nets)
    self.encoder = architectures.encoder(self.architecture, self.input_shape, hidden,
                                         latent_size, seed=seeds[1], name="encoder", **nets)
    if likelihood == "gaussian":
      self.pixel_raw_scale = pixels.initial_raw_scale(data_size, pixel_scale, pixel_scale_init)

  @property
  def observation_support(self) -> str:
    return pixels.support(self.likelihood)

  @property
  def latent_names(self) -> tuple[str, ...]:
    return ("z",)

  def _latent(self, logits: tf.Tensor) -> tfd.Distribution:
    if self.latent == "bernoulli":
      units = distributions.Bernoulli(logits=logits, dtype=tf.float32)
      return tfd.Independent(units, reinterpreted_batch_ndims=1, name="z")
    return tfd.Independent(tfd.OneHotCategorical(logits=logits, dtype=tf.float32),
                           reinterpreted_batch_ndims=1, name="z")

  def joint(self) -> tfd.JointDistributionCoroutine:
    def model():
      z = yield base.Root(self._latent(self.prior_logits))
      params = architectures.decode(self.decoder,
                                    nn.flatten_event(z, len(self.latent_event_shape)))
      yield pixels.observation(params, self.input_shape, self.likelihood,
                               getattr(self, "pixel_raw_scale", None))
    return tfd.JointDistributionCoroutine(model, name="joint")

  def guide(self, x: tf.Tensor) -> tfd.JointDistributionCoroutine:
    logits = architectures.encode(self.encoder, pixels.network_input(x, self.likelihood),
                                  self.event_ndims)
    logits = tf.reshape(logits, tf.concat([tf.shape(logits)[:-1],
                                           self.latent_event_shape], 0))
    def model():
      yield base.Root(self._latent(logits))
    return tfd.JointDistributionCoroutine(model, name="guide")

  @property
  def generative_variables(self) -> tuple[tf.Variable, ...]:
    variables = (self.prior_logits,) + self.decoder.trainable_variables
    if self.likelihood == "gaussian":
      variables += pixels.scale_variables(self.pixel_raw_scale)
    return variables

  @property
  def guide_variables(self) -> tuple[tf.Variable, ...]:
    return self.encoder.trainable_variables
