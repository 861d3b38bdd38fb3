"""The linear-Gaussian model: exact log p(x), posterior and gradients.

    z ~ N(0, I_d),    x | z ~ N(W z + b, diag(s²)),
    p(x) = N(x; b, W Wᵀ + diag(s²)),
    p(z | x) = N(Σ Wᵀ S⁻² (x − b), Σ),   Σ = (I + Wᵀ S⁻² W)⁻¹.

The guide (`guide=`) is linear-Gaussian too:

* 'full_covariance' (default): q(z | x) = N(A x + c, L Lᵀ), which can equal the
  exact posterior (`set_guide_to_exact_posterior`);
* 'diagonal': N(A x + c, diag σ²), which cannot (the posterior is correlated);
* 'iaf': the diagonal Gaussian followed by an inverse autoregressive flow
  (`flows.py`); its MADE's direct connections make it exact at
  `set_guide_to_exact_posterior`, so a trained flow can reach log p(x).

This is the yardstick the estimator tests measure against.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo import nn
from tfp_zoo.models import base, flows
from tfp_zoo.models.spec import register

tfb = tfp.bijectors
tfd = tfp.distributions

__all__ = ["LinearGaussian", "GUIDES"]

GUIDES = ("full_covariance", "diagonal", "iaf")


@register("linear_gaussian", latents="real",
          summary=("z ~ N(0, I), x | z ~ N(Wz + b, diag(s²)), with exact "
                   "`exact_log_likelihood(x)` and `exact_posterior(x)`: the yardstick for "
                   "tests; its correlated posterior is what a diagonal guide cannot fit and an"
                   " IAF guide can (exactly: `set_guide_to_exact_posterior()`)"))
class LinearGaussian(base.LatentVariableModel):
  """z ~ N(0, I), x | z ~ N(Wz + b, diag(s²)), with a linear-Gaussian guide."""

  def __init__(self, input_shape: Sequence[int], *, latent_size: int = 2,
               guide: str = "full_covariance", flow_layers: int | None = None,
               flow_hidden: int | None = None,
               seed: int = 0, name: str | None = None):
    """Draws θ and a guide near (not at) the posterior.

    Args:
      input_shape: shape of one observation.
      latent_size: d.
      guide: one of `GUIDES` (see the module docstring).
      flow_layers: MADE layers of the 'iaf' guide (unset: 1, which is exact here).
      flow_hidden: hidden units of each MADE (unset: 4 d).
      seed: integer seed of θ and φ.
      name: module name.
    """
    super().__init__(input_shape, name=name)
    if not isinstance(latent_size, int) or latent_size <= 0:
      raise ValueError(f"latent_size must be positive, got {latent_size}")
    if guide not in GUIDES:
      raise ValueError(f"guide={guide!r}: expected one of {', '.join(GUIDES)}")
    for option, value in (("flow_layers", flow_layers), ("flow_hidden", flow_hidden)):
      nn.check_positive_or_unset(option, value)
      if value is not None and guide != "iaf":
        raise ValueError(f"{option} is only used with guide=iaf")
    self.guide_kind = guide
    d, n = latent_size, int(np.prod(self.input_shape))
    self.latent_size, self.data_size = d, n
    s = tf.random.experimental.stateless_split(tf.constant([seed, 1]), 4).numpy()
    self.weight = tf.Variable(tf.random.stateless_normal([n, d], s[0]), name="weight")
    self.bias = tf.Variable(tf.random.stateless_normal([n], s[1]), name="bias")
    self.raw_scale = tf.Variable(tf.fill([n], 0.5413), name="raw_scale")  # scale 1
    self._fill_tril = tfb.FillScaleTriL(diag_shift=1e-5)
    self.guide_weight = tf.Variable(
        0.1 * tf.random.stateless_normal([d, n], s[2]), name="guide_weight")
    self.guide_bias = tf.Variable(tf.zeros([d]), name="guide_bias")
    if guide == "full_covariance":
      self.guide_raw_tril = tf.Variable(
          self._fill_tril.inverse(tf.eye(d)), name="guide_raw_tril")
    else:
      self.guide_raw_scale = tf.Variable(tf.fill([d], 0.5413), name="guide_raw_scale")
    if guide == "iaf":
      self.guide_flow = flows.AutoregressiveFlow(
          d, kind="iaf", num_layers=1 if flow_layers is None else flow_layers,
          hidden_size=4 * d if flow_hidden is None else flow_hidden,
          seed=s[3], name="guide_flow")

  @property
  def scale(self) -> tf.Tensor:
    return tf.nn.softplus(self.raw_scale)

  def joint(self) -> tfd.JointDistributionCoroutine:
    def model():
      z = yield base.Root(tfd.MultivariateNormalDiag(
          tf.zeros([self.latent_size]), tf.ones([self.latent_size]), name="z"))
      loc = tf.reshape(self._decode(z),
                       tf.concat([tf.shape(z)[:-1], self.input_shape], 0))
      yield tfd.Independent(
          tfd.Normal(loc, tf.reshape(self.scale, self.input_shape)),
          reinterpreted_batch_ndims=self.event_ndims, name=base.OBSERVATION)

    return tfd.JointDistributionCoroutine(model, name="joint")

  def _decode(self, z: tf.Tensor) -> tf.Tensor:
    return tf.linalg.matvec(self.weight, z) + self.bias

  def guide(self, x: tf.Tensor) -> tfd.JointDistributionCoroutine:
    x = nn.flatten_event(tf.convert_to_tensor(x, tf.float32), self.event_ndims)
    loc = tf.linalg.matvec(self.guide_weight, x) + self.guide_bias
    if self.guide_kind == "full_covariance":
      q = tfd.MultivariateNormalTriL(loc, self._fill_tril(self.guide_raw_tril), name="z")
    else:
      q = tfd.MultivariateNormalDiag(loc, tf.nn.softplus(self.guide_raw_scale), name="z")
      if self.guide_kind == "iaf":
        q = tfd.TransformedDistribution(q, self.guide_flow.bijector(), name="z")

    def model():
      yield base.Root(q)

    return tfd.JointDistributionCoroutine(model, name="guide")

  @property
  def latent_names(self) -> tuple[str, ...]:
    return ("z",)

  @property
  def generative_variables(self) -> tuple[tf.Variable, ...]:
    return (self.weight, self.bias, self.raw_scale)

  @property
  def guide_variables(self) -> tuple[tf.Variable, ...]:
    if self.guide_kind == "full_covariance":
      return (self.guide_weight, self.guide_bias, self.guide_raw_tril)
    variables = (self.guide_weight, self.guide_bias, self.guide_raw_scale)
    if self.guide_kind == "iaf":
      variables += self.guide_flow.trainable_variables
    return variables

  # Exact quantities.

  def exact_marginal(self) -> tfd.MultivariateNormalTriL:
    """p_θ(x) = N(b, W Wᵀ + diag(s²)) over flattened x."""
    cov = (tf.matmul(self.weight, self.weight, transpose_b=True)
           + tf.linalg.diag(tf.square(self.scale)))
    return tfd.MultivariateNormalTriL(self.bias, tf.linalg.cholesky(cov))

  def exact_log_likelihood(self, x: tf.Tensor) -> tf.Tensor:
    """log p_θ(x) per example; differentiable in θ."""
    x = nn.flatten_event(tf.convert_to_tensor(x, tf.float32), self.event_ndims)
    return self.exact_marginal().log_prob(x)

  def _posterior_params(self) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Returns (A, c, chol Σ) with p(z | x) = N(A x + c, Σ)."""
    wt_s2 = tf.transpose(self.weight) / tf.square(self.scale)  # Wᵀ S⁻²
    precision = tf.eye(self.latent_size) + tf.matmul(wt_s2, self.weight)
    chol_precision = tf.linalg.cholesky(precision)
    cov = tf.linalg.cholesky_solve(chol_precision, tf.eye(self.latent_size))
    a = tf.matmul(cov, wt_s2)
    c = -tf.linalg.matvec(a, self.bias)
    return a, c, tf.linalg.cholesky(cov)

  def exact_posterior(self, x: tf.Tensor) -> tfd.MultivariateNormalTriL:
    """p_θ(z | x), batched over the leading dimensions of x."""
    x = nn.flatten_event(tf.convert_to_tensor(x, tf.float32), self.event_ndims)
    a, c, tril = self._posterior_params()
    return tfd.MultivariateNormalTriL(tf.linalg.matvec(a, x) + c, tril)

  def set_guide_to_exact_posterior(self) -> None:
    """Assigns φ so that q_φ(z | x) = p_θ(z | x) for every x.

    For the IAF guide: base N(P L⁻¹(A x + c), I), earlier layers the identity,
    and the last layer the affine map z = L u (u the reversed-as-needed base
    noise P ε), written as u ↦ diag(L)(I − M)u with M = I − diag(L)⁻¹L.

    Raises:
      ValueError: for the diagonal guide, which cannot equal the posterior.
    """
    a, c, tril = self._posterior_params()
    if self.guide_kind == "diagonal":
      raise ValueError("guide='diagonal' cannot equal the full-covariance posterior")
    if self.guide_kind == "full_covariance":
      self.guide_weight.assign(a)
      self.guide_bias.assign(c)
      self.guide_raw_tril.assign(self._fill_tril.inverse(tril))
      return
    layers = self.guide_flow.layers
    inverse_tril = tf.linalg.triangular_solve(tril, tf.eye(self.latent_size))
    weight, bias = tf.matmul(inverse_tril, a), tf.linalg.matvec(inverse_tril, -tf.linalg.matvec(a, self.bias))
    if len(layers) % 2 == 0:  # an odd number of reversals precedes the last layer
      weight, bias = tf.reverse(weight, [0]), tf.reverse(bias, [0])
    self.guide_weight.assign(weight)
    self.guide_bias.assign(bias)
    self.guide_raw_scale.assign(tf.fill([self.latent_size], 0.5413))  # softplus⁻¹(1)
    for made in layers[:-1]:
      made.set_affine(tf.zeros([self.latent_size] * 2), tf.zeros([self.latent_size]))
    diagonal = tf.linalg.diag_part(tril)
    layers[-1].set_affine(tf.eye(self.latent_size) - tril / diagonal[:, None],
                          -tf.math.log(diagonal))
