"""Matrix factorisation with a sparse, non-negative or uniform prior (the
denoising models of Li et al. 2020, "Amortised learning by wake-sleep", §5).

    z ~ Π_k Laplace(0, 1)        (prior='laplace': sparse codes)
     or Π_k Exponential(1)       (prior='exponential': non-negative codes)
     or Π_k Uniform(0, 1)        (prior='uniform'; the decoder sees logit z)
    x | z ~ N(W z + b, diag(σ²))  (likelihood='gaussian'; σ per `pixel_scale`)
     or Bernoulli(σ(W z + b))    (likelihood='bernoulli', binary pixels)

The columns of W form a dictionary of images; a data point is a sparse or
non-negative combination of them. `dictionary='nonnegative'` makes
W = exp(log W) with a Gamma(0.9, 0.3) prior on its entries
(`parameter_log_prior`; the authors' Bernoulli factorisation, `run_mf.py` of
kevin-w-li/al-ws: uniform codes, 100 elements, W started at 0.03, b at 0.1).
The guide, for the ELBO and its relatives, is a diagonal Normal (Laplace
prior), LogNormal (Exponential prior) or logit-Normal (uniform prior) whose
parameters come from an MLP of x; ALWS does not need it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo import nn
from tfp_zoo.models import base, pixels
from tfp_zoo.models.spec import register

tfd = tfp.distributions

__all__ = ["MatrixFactorisation", "PRIORS", "DICTIONARIES"]

PRIORS = ("laplace", "exponential", "uniform")
DICTIONARIES = ("real", "nonnegative")
_GAMMA_PRIOR = (0.9, 0.3)  # concentration, rate of the non-negative dictionary's entries
_NONNEGATIVE_INIT = (0.03, 0.1)  # W and b at the start (the authors')
_UNIT_CLIP = 1e-6  # logit z stays finite


class _ClippedSigmoid(tfp.bijectors.Sigmoid):
  """σ(u), whose inverse clips y to [ε, 1 − ε] first: uniform codes drawn as
  exactly 0 or 1 (float32 draws do that every ~10⁷ codes) keep a finite
  logit-normal density in the guide's sleep update."""

  def _inverse(self, y):
    return super()._inverse(tf.clip_by_value(y, _UNIT_CLIP, 1.0 - _UNIT_CLIP))

  def _inverse_log_det_jacobian(self, y):
    return super()._inverse_log_det_jacobian(
        tf.clip_by_value(y, _UNIT_CLIP, 1.0 - _UNIT_CLIP))


@register("matrix_factorisation", latents="real",
          summary=("x = Wz + b + N(0, diag σ²) with sparse Laplace or non-negative Exponential"
                   " codes z; Normal or LogNormal guide; for continuous data "
                   "(`--binarization=none`)"))
class MatrixFactorisation(base.LatentVariableModel):
  """x = Wz + b + noise, with latent 'z' of size `latent_size`."""

  def __init__(self, input_shape: Sequence[int], *, latent_size: int = 50,
               prior: str = "laplace", likelihood: str = "gaussian",
               dictionary: str = "real", guide_hidden_size: int = 200,
               pixel_scale: str = "learned", pixel_scale_init: float = pixels.DEFAULT_PIXEL_SCALE_INIT, seed: int = 0,
               name: str | None = None):
    """Builds the dictionary and the guide network.

    Args:
      input_shape: shape of one observation, e.g. (28, 28, 1).
      latent_size: number of dictionary elements (columns of W).
      prior: 'laplace' (sparse), 'exponential' (non-negative) or 'uniform'.
      likelihood: 'gaussian' (continuous pixels) or 'bernoulli' (binary).
      dictionary: 'real', or 'nonnegative' (exp of a learned log, Gamma prior).
      guide_hidden_size: hidden units of the guide's MLP.
      pixel_scale: the Gaussian pixel noise: 'learned' per pixel, 'shared' (one
        learned scale) or 'fixed'; `pixel_scale_init` is its initial value.
      pixel_scale_init: the noise scale at initialisation (default 0.1; 1 in runs saved before 2026-11-27).
      seed: integer seed of the initialisation.
      name: module name.
    """
    super().__init__(input_shape, name=name)
    if likelihood not in ("gaussian", "bernoulli"):
      raise ValueError(f"likelihood={likelihood!r}: expected 'gaussian' or 'bernoulli'")
    pixels.check_pixel_scale(pixel_scale, pixel_scale_init, likelihood)
    if prior not in PRIORS:
      raise ValueError(f"prior={prior!r}: expected one of {PRIORS}")
    if dictionary not in DICTIONARIES:
      raise ValueError(f"dictionary={dictionary!r}: expected one of {DICTIONARIES}")
    if not isinstance(latent_size, int) or latent_size < 1:
      raise ValueError(f"latent_size={latent_size!r}: expected a positive integer")
    self.prior, self.latent_size = prior, latent_size
    self.likelihood, self.nonnegative = likelihood, dictionary == "nonnegative"
    data_size = int(np.prod(self.input_shape))
    seeds = tf.random.experimental.stateless_split(tf.constant([seed, 9]), 2).numpy()
    if self.nonnegative:
      weight, bias = _NONNEGATIVE_INIT
      self.log_dictionary = tf.Variable(tf.fill([latent_size, data_size], float(np.log(weight))),
                                        name="log_dictionary")
      self.bias = tf.Variable(tf.fill([data_size], bias), name="bias")
    else:
      self.dictionary = nn.Dense(latent_size, data_size, seed=seeds[0], name="dictionary")
    self.pixel_raw_scale = (pixels.initial_raw_scale(data_size, pixel_scale, pixel_scale_init)
                            if likelihood == "gaussian" else None)
    self.guide_network = nn.MLP([data_size, guide_hidden_size, 2 * latent_size],
                                seed=seeds[1], name="guide_network")

  @property
  def latent_names(self) -> tuple[str, ...]:
    return ("z",)

  @property
  def observation_support(self) -> str:
    return pixels.support(self.likelihood)

  def decode(self, z: tf.Tensor) -> tf.Tensor:
    """W u + b for the codes z (u = logit z for uniform codes): the Gaussian
    means or the Bernoulli logits, flat [..., pixels]."""
    if self.prior == "uniform":
      z = tf.clip_by_value(z, _UNIT_CLIP, 1.0 - _UNIT_CLIP)
      z = tf.math.log(z) - tf.math.log1p(-z)
    if self.nonnegative:
      return tf.tensordot(z, tf.exp(self.log_dictionary), [[-1], [0]]) + self.bias
    return self.dictionary(z)

  def parameter_log_prior(self) -> tf.Tensor | None:
    """Σ log Gamma(W_kd; 0.9, 0.3) for a non-negative dictionary, else None."""
    if not self.nonnegative:
      return None
    concentration, rate = _GAMMA_PRIOR
    return tf.reduce_sum(tfd.Gamma(concentration, rate).log_prob(tf.exp(self.log_dictionary)))

  def mean_image(self, z: tf.Tensor) -> tf.Tensor:
    """E[x | z] in the input shape: the mean, or the pixel probabilities."""
    params = self.decode(z)
    if self.likelihood == "bernoulli":
      params = tf.sigmoid(params)
    return tf.reshape(params, tf.concat([tf.shape(params)[:-1], self.input_shape], 0))

  def prior_distribution(self) -> tfd.Distribution:
    """p(z), factorised over the latent_size codes."""
    if self.prior == "laplace":
      codes = tfd.Laplace(tf.zeros([self.latent_size]), 1.0)
    elif self.prior == "uniform":
      codes = tfd.Uniform(tf.zeros([self.latent_size]), 1.0)
    else:
      codes = tfd.Exponential(tf.ones([self.latent_size]))
    return tfd.Independent(codes, reinterpreted_batch_ndims=1, name="z")

  def joint(self) -> tfd.JointDistributionCoroutine:
    def model():
      z = yield base.Root(self.prior_distribution())
      yield pixels.observation(self.decode(z), self.input_shape, self.likelihood,
                               self.pixel_raw_scale)
    return tfd.JointDistributionCoroutine(model, name="joint")

  def guide(self, x: tf.Tensor) -> tfd.JointDistributionCoroutine:
    h = self.guide_network(nn.flatten_event(tf.convert_to_tensor(x, tf.float32),
                                            self.event_ndims))
    loc, raw_scale = tf.split(h, 2, axis=-1)
    scale = tf.nn.softplus(raw_scale) + 1e-4
    if self.prior == "laplace":
      codes = tfd.Normal(loc, scale)
    elif self.prior == "uniform":  # logit-normal
      codes = tfd.TransformedDistribution(tfd.Normal(loc, scale), _ClippedSigmoid())
    else:
      codes = tfd.LogNormal(loc, scale)

    def model():
      yield base.Root(tfd.Independent(codes, reinterpreted_batch_ndims=1, name="z"))
    return tfd.JointDistributionCoroutine(model, name="guide")

  @property
  def generative_variables(self) -> tuple[tf.Variable, ...]:
    weights = ((self.log_dictionary, self.bias) if self.nonnegative
               else self.dictionary.trainable_variables)
    if self.pixel_raw_scale is None:
      return weights
    return weights + pixels.scale_variables(self.pixel_raw_scale)

  @property
  def guide_variables(self) -> tuple[tf.Variable, ...]:
    return self.guide_network.trainable_variables
