"""Bayesian polynomial regression: a fixed model for amortised inference.

    w ~ N(0, σ_w² I_K),  K = degree + 1,
    y_m | w ~ noise(Σ_k w_k t_m^k, s),  m = 1..M,

on inputs t_m fixed on a grid in [−1, 1] (or given). `noise` is 'student_t'
(ν = `degrees_of_freedom`; heavy tails, so the posterior has no closed form),
'laplace', or 'gaussian', the conjugate variant with an exact posterior and
evidence (`exact_posterior`, `exact_log_likelihood`).

Nothing is learned in the model: θ is empty, and training with
`train_generative=False` fits only the guide. The guide q_η(w | y) is
amortised over data sets y: an MLP from y to the mean and the scale of a
full-covariance ('full_covariance') or diagonal ('diagonal') Gaussian. Trained
on sleep samples (w, y) ~ p alone (wake-sleep's φ-update), it minimises
E_{p(y)} KL(p(w | y) ‖ q_η(w | y)), "learning to invert the generative model"
(Paige & Wood 2016; Le, Baydin & Wood 2017), before any data is seen; at test
time it is an importance-sampling proposal whose weights correct it
(`benchmarks/learned_proposal.py`).

Observations are vectors y [M] (input_shape (M,)), so the model runs through
the Python API, not the image launcher.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo import nn
from tfp_zoo.models import base
from tfp_zoo.models.spec import register

tfb = tfp.bijectors
tfd = tfp.distributions

__all__ = ["PolynomialRegression", "NOISES", "GUIDES"]

NOISES = ("student_t", "laplace", "gaussian")
GUIDES = ("full_covariance", "diagonal")


@register("polynomial_regression", latents="real",
          summary=("a fixed model for amortised inference (Python API and benchmarks; vector "
                   "data): cubic coefficients w ~ N(0, I), y at 20 points on [−1, 1] with "
                   "Student-t, Laplace or Gaussian noise (the conjugate variant has "
                   "`exact_posterior(y)` and `exact_log_likelihood(y)`); no θ, and an "
                   "amortised full-covariance or diagonal Gaussian guide q(w | y) from an MLP,"
                   " trained with `train_generative=False`"))
class PolynomialRegression(base.LatentVariableModel):
  """w ~ N(0, σ_w² I), y | w ~ noise(V w, s) with V the Vandermonde matrix of t."""

  def __init__(self, input_shape: Sequence[int] = (20,), *, degree: int = 3,
               inputs: Sequence[float] | None = None, noise: str = "student_t",
               noise_scale: float = 0.3, degrees_of_freedom: float = 3.0,
               prior_scale: float = 1.0, guide: str = "full_covariance",
               hidden_sizes: Sequence[int] = (128, 128), activation: str = "relu",
               seed: int = 0, name: str | None = None):
    """A fixed model and an untrained guide.

    Args:
      input_shape: (M,), the number of observed points.
      degree: the polynomial's degree (K = degree + 1 coefficients).
      inputs: the M inputs t_m (default: evenly spaced on [−1, 1]).
      noise: one of `NOISES`.
      noise_scale: s, the noise's scale.
      degrees_of_freedom: ν of the Student-t noise.
      prior_scale: σ_w.
      guide: one of `GUIDES`.
      hidden_sizes: the guide MLP's hidden layers.
      activation: the guide MLP's activation.
      seed: integer seed of the guide's initial weights.
      name: module name.
    """
    super().__init__(input_shape, name=name)
    if len(self.input_shape) != 1:
      raise ValueError(f"input_shape={tuple(self.input_shape)}: polynomial_regression "
                       "observes a vector of M points, shape (M,)")
    num_points = int(self.input_shape[0])
    if not isinstance(degree, int) or isinstance(degree, bool) or degree < 0:
      raise ValueError(f"degree={degree!r}: expected a non-negative integer")
    if noise not in NOISES:
      raise ValueError(f"noise={noise!r}: expected one of {', '.join(NOISES)}")
    if guide not in GUIDES:
      raise ValueError(f"guide={guide!r}: expected one of {', '.join(GUIDES)}")
    for option, value in (("noise_scale", noise_scale), ("prior_scale", prior_scale),
                          ("degrees_of_freedom", degrees_of_freedom)):
      if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
          0 < value < np.inf):
        raise ValueError(f"{option}={value!r}: expected a positive number")
    if inputs is None:
      inputs = np.linspace(-1.0, 1.0, num_points)
    inputs = np.asarray(inputs, np.float64)
    if inputs.shape != (num_points,) or not np.all(np.isfinite(inputs)):
      raise ValueError(f"inputs: expected {num_points} finite numbers (input_shape="
                       f"{tuple(self.input_shape)}), got shape {inputs.shape}")
    self.degree, self.num_coefficients = degree, degree + 1
    self.noise, self.guide_kind = noise, guide
    self.noise_scale, self.prior_scale = float(noise_scale), float(prior_scale)
    self.degrees_of_freedom = float(degrees_of_freedom)
    self.inputs = inputs.astype(np.float32)
    # V [M, K]: V_mk = t_m^k. A constant, not a variable: the model is fixed.
    self.design = np.vander(inputs, self.num_coefficients, increasing=True).astype(np.float32)
    k = self.num_coefficients
    outputs = 2 * k if guide == "diagonal" else k + k * (k + 1) // 2
    self.encoder = nn.MLP([num_points, *hidden_sizes, outputs], activation=activation,
                          seed=(seed, 21), name="encoder")
    self._fill_tril = tfb.FillScaleTriL(diag_shift=1e-5)

  def curves(self, w: tf.Tensor, inputs: np.ndarray | tf.Tensor | None = None) -> tf.Tensor:
    """Σ_k w_k t^k at `inputs` (default the model's): [..., len(inputs)]."""
    if inputs is None:
      design = self.design
    else:
      design = np.vander(np.asarray(inputs, np.float64), self.num_coefficients,
                         increasing=True).astype(np.float32)
    return tf.linalg.matvec(tf.constant(design), tf.convert_to_tensor(w, tf.float32))

  def _noise(self, loc: tf.Tensor) -> tfd.Distribution:
    scale = tf.constant(self.noise_scale)
    if self.noise == "student_t":
      return tfd.StudentT(self.degrees_of_freedom, loc, scale)
    if self.noise == "laplace":
      return tfd.Laplace(loc, scale)
    return tfd.Normal(loc, scale)

  def prior(self) -> tfd.Distribution:
    """p(w) = N(0, σ_w² I_K)."""
    k = self.num_coefficients
    return tfd.MultivariateNormalDiag(tf.zeros([k]), tf.fill([k], self.prior_scale), name="w")

  def joint(self) -> tfd.JointDistributionCoroutine:
    def model():
      w = yield base.Root(self.prior())
      yield tfd.Independent(self._noise(self.curves(w)), reinterpreted_batch_ndims=1,
                            name=base.OBSERVATION)

    return tfd.JointDistributionCoroutine(model, name="joint")

  def guide(self, x: tf.Tensor) -> tfd.JointDistributionCoroutine:
    y = tf.convert_to_tensor(x, tf.float32)
    raw = self.encoder(y)
    k = self.num_coefficients
    loc = raw[..., :k]
    if self.guide_kind == "diagonal":
      q = tfd.MultivariateNormalDiag(loc, tf.nn.softplus(raw[..., k:]) + 1e-5, name="w")
    else:
      q = tfd.MultivariateNormalTriL(loc, self._fill_tril(raw[..., k:]), name="w")

    def model():
      yield base.Root(q)

    return tfd.JointDistributionCoroutine(model, name="guide")

  @property
  def latent_names(self) -> tuple[str, ...]:
    return ("w",)

  @property
  def generative_variables(self) -> tuple[tf.Variable, ...]:
    return ()  # a fixed model

  @property
  def guide_variables(self) -> tuple[tf.Variable, ...]:
    return tuple(self.encoder.trainable_variables)

  # The conjugate variant's exact answers.

  def _require_gaussian(self, what: str) -> None:
    if self.noise != "gaussian":
      raise ValueError(f"{what} is exact only for noise='gaussian' (this model has "
                       f"noise={self.noise!r}): use importance sampling or MCMC")

  def exact_posterior(self, y: tf.Tensor) -> tfd.MultivariateNormalTriL:
    """p(w | y) = N(Σ Vᵀy / s², Σ), Σ = (I/σ_w² + VᵀV/s²)⁻¹ (noise='gaussian')."""
    self._require_gaussian("exact_posterior")
    v = tf.constant(self.design, tf.float64)
    precision = (tf.eye(self.num_coefficients, dtype=tf.float64) / self.prior_scale**2
                 + tf.matmul(v, v, transpose_a=True) / self.noise_scale**2)
    covariance = tf.linalg.inv(precision)
    y = tf.cast(tf.convert_to_tensor(y), tf.float64)
    mean = tf.linalg.matvec(covariance, tf.linalg.matvec(v, y, transpose_a=True)
                            ) / self.noise_scale**2
    return tfd.MultivariateNormalTriL(tf.cast(mean, tf.float32),
                                      tf.cast(tf.linalg.cholesky(covariance), tf.float32))

  def exact_log_likelihood(self, y: tf.Tensor) -> tf.Tensor:
    """log p(y) = log N(y; 0, σ_w² VVᵀ + s² I) per data set (noise='gaussian')."""
    self._require_gaussian("exact_log_likelihood")
    v = tf.constant(self.design, tf.float64)
    covariance = (self.prior_scale**2 * tf.matmul(v, v, transpose_b=True)
                  + self.noise_scale**2 * tf.eye(int(self.input_shape[0]), dtype=tf.float64))
    marginal = tfd.MultivariateNormalTriL(tf.zeros_like(v[:, 0]),
                                          tf.linalg.cholesky(covariance))
    return tf.cast(marginal.log_prob(tf.cast(tf.convert_to_tensor(y), tf.float64)),
                   tf.float32)
