"""Matrix factorisation with a sparse or non-negative prior (the denoising
model of Li et al. 2020, "Amortised learning by wake-sleep", §5).

    z ~ Π_k Laplace(0, 1)        (prior='laplace': sparse codes)
     or Π_k Exponential(1)       (prior='exponential': non-negative codes)
    x | z ~ N(W z + b, diag(σ²))  (σ learned per pixel)

The columns of W form a dictionary of images; a data point is a sparse or
non-negative combination of them. The guide, for the ELBO and its
relatives, is a diagonal Normal (Laplace prior) or LogNormal (Exponential
prior) whose parameters come from an MLP of x; ALWS does not need it.
Use continuous data (`--binarization=none`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo import nn
from tfp_zoo.models import base, pixels

tfd = tfp.distributions

__all__ = ["MatrixFactorisation", "PRIORS"]

PRIORS = ("laplace", "exponential")


class MatrixFactorisation(base.LatentVariableModel):
  """x = Wz + b + noise, with latent 'z' of size `latent_size`."""

  def __init__(self, input_shape: Sequence[int], *, latent_size: int = 50,
               prior: str = "laplace", guide_hidden_size: int = 200,
               pixel_scale: str = "learned", pixel_scale_init: float = 1.0, seed: int = 0,
               name: str | None = None):
    """Builds the dictionary and the guide network.

    Args:
      input_shape: shape of one observation, e.g. (28, 28, 1).
      latent_size: number of dictionary elements (columns of W).
      prior: 'laplace' (sparse) or 'exponential' (non-negative).
      guide_hidden_size: hidden units of the guide's MLP.
      pixel_scale: the Gaussian pixel noise: 'learned' per pixel, 'shared' (one
        learned scale) or 'fixed'; `pixel_scale_init` is its initial value.
      pixel_scale_init: the noise scale at initialisation (default 1).
      seed: integer seed of the initialisation.
      name: module name.
    """
    super().__init__(input_shape, name=name)
    pixels.check_pixel_scale(pixel_scale, pixel_scale_init, "gaussian")
    if prior not in PRIORS:
      raise ValueError(f"prior={prior!r}: expected one of {PRIORS}")
    if not isinstance(latent_size, int) or latent_size < 1:
      raise ValueError(f"latent_size={latent_size!r}: expected a positive integer")
    self.prior, self.latent_size = prior, latent_size
    data_size = int(np.prod(self.input_shape))
    seeds = tf.random.experimental.stateless_split(tf.constant([seed, 9]), 2).numpy()
    self.dictionary = nn.Dense(latent_size, data_size, seed=seeds[0], name="dictionary")
    self.pixel_raw_scale = pixels.initial_raw_scale(data_size, pixel_scale, pixel_scale_init)
    self.guide_network = nn.MLP([data_size, guide_hidden_size, 2 * latent_size],
                                seed=seeds[1], name="guide_network")

  @property
  def latent_names(self) -> tuple[str, ...]:
    return ("z",)

  def prior_distribution(self) -> tfd.Distribution:
    """p(z), factorised over the latent_size codes."""
    if self.prior == "laplace":
      codes = tfd.Laplace(tf.zeros([self.latent_size]), 1.0)
    else:
      codes = tfd.Exponential(tf.ones([self.latent_size]))
    return tfd.Independent(codes, reinterpreted_batch_ndims=1, name="z")

  def joint(self) -> tfd.JointDistributionCoroutine:
    def model():
      z = yield base.Root(self.prior_distribution())
      yield pixels.observation(self.dictionary(z), self.input_shape, "gaussian",
                               self.pixel_raw_scale)
    return tfd.JointDistributionCoroutine(model, name="joint")

  def guide(self, x: tf.Tensor) -> tfd.JointDistributionCoroutine:
    h = self.guide_network(nn.flatten_event(tf.convert_to_tensor(x, tf.float32),
                                            self.event_ndims))
    loc, raw_scale = tf.split(h, 2, axis=-1)
    scale = tf.nn.softplus(raw_scale) + 1e-4
    codes = tfd.Normal(loc, scale) if self.prior == "laplace" else tfd.LogNormal(loc, scale)

    def model():
      yield base.Root(tfd.Independent(codes, reinterpreted_batch_ndims=1, name="z"))
    return tfd.JointDistributionCoroutine(model, name="guide")

  @property
  def generative_variables(self) -> tuple[tf.Variable, ...]:
    return self.dictionary.trainable_variables + pixels.scale_variables(self.pixel_raw_scale)

  @property
  def guide_variables(self) -> tuple[tf.Variable, ...]:
    return self.guide_network.trainable_variables
