"""A Gaussian mixture with a categorical latent: the discrete-latent yardstick.

    c ~ Categorical(softmax(π)),   x | c ~ N(μ_c, σ² I)

with exact log p(x) = logsumexp_c [log π_c + log N(x; μ_c, σ² I)] and exact
posterior p(c | x) by enumeration. The guide q_φ(c | x) is a categorical whose
logits come from a small MLP of x. With 20 components and 1-D data this is the
benchmark of Le, Kosiorek, Siddharth, Teh & Wood (2019), "Revisiting
reweighted wake-sleep for models with stochastic control flow".
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo import nn
from tfp_zoo.models import base
from tfp_zoo.models.spec import register

tfd = tfp.distributions

__all__ = ["GaussianMixture"]


@register("gaussian_mixture", latents="discrete",
          summary=("c ~ Categorical(π), x | c ~ N(μ_c, σ²I) with an amortised categorical "
                   "guide; exact log p(x) and p(c | x) by enumeration: the discrete-latent "
                   "yardstick (Le et al. 2019, 20 components)"))
class GaussianMixture(base.LatentVariableModel):
  """Mixture of `num_components` isotropic Gaussians; latent 'c' is categorical.

  Args:
    input_shape: the shape of one observation.
    num_components: C ≥ 2, the number of components (default 20); the means
      start spread over [−C, C] on the first axis.
    scale: σ > 0, every component's standard deviation (fixed; default 1.0).
    hidden_size: width of the guide's hidden layer (default 16).
    seed: integer seed of the initial means and guide weights (default 0).
    name: the module's name (default: the class's).

  Raises:
    ValueError: `num_components` < 2 or `scale` ≤ 0.
  """

  def __init__(self, input_shape: Sequence[int], *, num_components: int = 20,
               scale: float = 1.0, hidden_size: int = 16, seed: int = 0,
               name: str | None = None):
    super().__init__(input_shape, name=name)
    if num_components < 2:
      raise ValueError(f"num_components must be >= 2, got {num_components}")
    if scale <= 0:
      raise ValueError(f"scale must be positive, got {scale}")
    dim = int(np.prod(self.input_shape))
    self.num_components, self.scale = num_components, float(scale)
    seeds = tf.random.experimental.stateless_split(tf.constant([seed, 2]), 2).numpy()
    self.mixture_logits = tf.Variable(tf.zeros([num_components]), name="mixture_logits")
    # Means spread over [-2C/2, 2C/2] on the first axis, as in Le et al.
    spread = np.linspace(-num_components, num_components, num_components, dtype=np.float32)
    means = np.zeros([num_components, dim], np.float32)
    means[:, 0] = spread
    self.means = tf.Variable(means + 0.1 * tf.random.stateless_normal(
        [num_components, dim], seeds[0]).numpy(), name="means")
    self.guide_network = nn.MLP([dim, hidden_size, num_components], seed=seeds[1],
                                name="guide_network")

  @property
  def latent_names(self) -> tuple[str, ...]:
    return ("c",)

  def _components(self, c: tf.Tensor) -> tfd.Distribution:
    loc = tf.reshape(tf.gather(self.means, c),
                     tf.concat([tf.shape(c), self.input_shape], 0))
    return tfd.Independent(tfd.Normal(loc, self.scale),
                           reinterpreted_batch_ndims=self.event_ndims, name=base.OBSERVATION)

  def joint(self) -> tfd.JointDistributionCoroutine:
    def model():
      c = yield base.Root(tfd.Categorical(logits=self.mixture_logits, name="c"))
      yield self._components(c)
    return tfd.JointDistributionCoroutine(model, name="joint")

  def guide(self, x: tf.Tensor) -> tfd.JointDistributionCoroutine:
    logits = self.guide_network(nn.flatten_event(tf.convert_to_tensor(x, tf.float32),
                                                 self.event_ndims))
    def model():
      yield base.Root(tfd.Categorical(logits=logits, name="c"))
    return tfd.JointDistributionCoroutine(model, name="guide")

  @property
  def generative_variables(self) -> tuple[tf.Variable, ...]:
    return (self.mixture_logits, self.means)

  @property
  def guide_variables(self) -> tuple[tf.Variable, ...]:
    return self.guide_network.trainable_variables

  def _log_joint_all(self, x: tf.Tensor) -> tf.Tensor:
    """log p(c, x) for every c: [batch..., num_components]."""
    x = nn.flatten_event(tf.convert_to_tensor(x, tf.float32), self.event_ndims)
    log_mix = tf.nn.log_softmax(self.mixture_logits)
    log_lik = tf.reduce_sum(
        tfd.Normal(self.means, self.scale).log_prob(x[..., None, :]), axis=-1)
    return log_mix + log_lik

  def exact_log_likelihood(self, x: tf.Tensor) -> tf.Tensor:
    """log p_θ(x) by enumerating the components; differentiable in θ."""
    return tf.reduce_logsumexp(self._log_joint_all(x), axis=-1)

  def exact_posterior(self, x: tf.Tensor) -> tfd.Categorical:
    """p_θ(c | x)."""
    return tfd.Categorical(logits=self._log_joint_all(x))
