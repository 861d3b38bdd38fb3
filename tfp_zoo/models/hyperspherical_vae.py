"""A VAE whose latent lives on the unit sphere S^{d−1} ⊂ R^d (d = 2: a circle).

    z ~ Uniform(S^{d−1}),   x | z ~ p_θ(x | MLP_θ(z))  (Bernoulli or Gaussian pixels)
    q_φ(z | x) = PowerSpherical(μ_φ(x), κ_φ(x))

Davidson et al. (2018, "Hyperspherical variational auto-encoders") used a
von Mises-Fisher guide; the power spherical distribution (De Cao & Aziz 2020)
has the same role with an exact reparameterised sampler, so every estimator
here runs on it, and ALWS needs no guide at all.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo import nn
from tfp_zoo.models import architectures, base, pixels
from tfp_zoo.models.spec import register

tfd = tfp.distributions

__all__ = ["HypersphericalVAE"]


@register("hyperspherical_vae", latents="spherical",
          summary=("latent on the unit sphere S^{d−1} (`latent_dim=2`: a circle): uniform "
                   "prior, power spherical guide (De Cao & Aziz 2020), MLP decoder; the "
                   "non-Euclidean latent"))
class HypersphericalVAE(base.LatentVariableModel):
  """Latent 'z': a unit vector in R^latent_dim (latent_dim=2 puts it on a circle)."""

  def __init__(self, input_shape: Sequence[int], *, latent_dim: int = 3,
               hidden_sizes: int | Sequence[int] = (200, 200),
               likelihood: str = "bernoulli", activation: str = "tanh",
               architecture: str = "auto", conv_channels: int | Sequence[int] | None = None,
               residual_blocks: int = 0, pixel_scale: str = "learned",
               pixel_scale_init: float = pixels.DEFAULT_PIXEL_SCALE_INIT, seed: int = 0, name: str | None = None):
    """Builds the networks.

    Args:
      input_shape: shape of one observation, e.g. (28, 28, 1).
      latent_dim: d, the dimension of the space the sphere S^{d−1} sits in (>= 2).
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
    if not isinstance(latent_dim, int) or latent_dim < 2:
      raise ValueError(f"latent_dim={latent_dim!r}: expected an integer >= 2")
    pixels.check_likelihood(likelihood)
    pixels.check_pixel_scale(pixel_scale, pixel_scale_init, likelihood)
    hidden = nn.parse_sizes(hidden_sizes, "hidden_sizes")
    self.architecture = architectures.resolve(architecture, self.input_shape, conv_channels,
                                              residual_blocks)
    nets = dict(activation=activation, conv_channels=conv_channels,
                residual_blocks=residual_blocks)
    self.latent_dim, self.likelihood = latent_dim, likelihood
    data_size = int(np.prod(self.input_shape))
    seeds = tf.random.experimental.stateless_split(tf.constant([seed, 8]), 2).numpy()
    self.decoder = architectures.decoder(self.architecture, latent_dim, self.input_shape,
                                         tuple(reversed(hidden)), seed=seeds[0],
                                         name="decoder",
                                         params_per_pixel=pixels.params_per_pixel(likelihood),
                                         **nets)
    # Outputs an unnormalised mean direction and a raw concentration.
    self.encoder = architectures.encoder(self.architecture, self.input_shape, hidden,
                                         latent_dim + 1, seed=seeds[1], name="encoder", **nets)
    if likelihood == "gaussian":
      self.pixel_raw_scale = pixels.initial_raw_scale(data_size, pixel_scale, pixel_scale_init)

  @property
  def observation_support(self) -> str:
    return pixels.support(self.likelihood)

  @property
  def latent_names(self) -> tuple[str, ...]:
    return ("z",)

  def joint(self) -> tfd.JointDistributionCoroutine:
    def model():
      z = yield base.Root(tfd.SphericalUniform(dimension=self.latent_dim, name="z"))
      yield pixels.observation(architectures.decode(self.decoder, z), self.input_shape,
                               self.likelihood,
                               getattr(self, "pixel_raw_scale", None))
    return tfd.JointDistributionCoroutine(model, name="joint")

  def guide(self, x: tf.Tensor) -> tfd.JointDistributionCoroutine:
    h = architectures.encode(self.encoder, pixels.network_input(x, self.likelihood),
                             self.event_ndims)
    direction = tf.math.l2_normalize(h[..., :self.latent_dim], axis=-1, epsilon=1e-6)
    concentration = tf.nn.softplus(h[..., self.latent_dim]) + 1.0

    def model():
      yield base.Root(tfd.PowerSpherical(direction, concentration, name="z"))
    return tfd.JointDistributionCoroutine(model, name="guide")

  @property
  def generative_variables(self) -> tuple[tf.Variable, ...]:
    variables = self.decoder.trainable_variables
    if self.likelihood == "gaussian":
      variables += pixels.scale_variables(self.pixel_raw_scale)
    return variables

  @property
  def guide_variables(self) -> tuple[tf.Variable, ...]:
    return self.encoder.trainable_variables
