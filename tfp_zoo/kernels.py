"""Kernel ridge regression as a linear smoother, with random Fourier features,
Nyström features or the exact kernel (for ALWS).

Every solver returns the *smoother matrix* S [queries, N]: the ridge prediction
at the queries is S f for any targets f [N, ...] on the training inputs. S
depends on the inputs only, so it carries no gradient, and a caller can
differentiate S f through the targets (ALWS differentiates log p_θ(z_n, x_n)).

    features:  S = Φ* (ΦᵀΦ + NλI)⁻¹ Φᵀ  = Φ* Φᵀ (ΦΦᵀ + NλI)⁻¹   (whichever of D, N is smaller)
    exact:     S = K*  (K + NλI)⁻¹

Solves use a Cholesky factorisation in float64: the Gram matrices of a few
thousand features are too ill-conditioned for float32 at small λ.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

tfk = tfp.math.psd_kernels

__all__ = ["KERNELS", "median_bandwidth", "random_fourier_features", "nystrom_features",
           "feature_ridge_smoother", "kernel_ridge_smoother", "kernel"]

KERNELS = ("gaussian", "laplace")
FeatureMap = Callable[[tf.Tensor], tf.Tensor]


def median_bandwidth(x: tf.Tensor, max_points: int = 500) -> tf.Tensor:
  """The median heuristic: the median pairwise distance among (up to
  `max_points` of) the rows of `x` [N, d] (no gradient)."""
  x = tf.stop_gradient(tf.convert_to_tensor(x, tf.float32))[:max_points]
  squared = tf.reduce_sum(tf.square(x), axis=-1)
  distances = squared[:, None] + squared[None, :] - 2.0 * tf.matmul(x, x, transpose_b=True)
  # All N² entries, the N zeros of the diagonal included: a negligible bias
  # for N in the hundreds, and static shapes (XLA) unlike a mask.
  median = tfp.stats.percentile(tf.sqrt(tf.maximum(distances, 0.0)), 50.0,
                                interpolation="midpoint")
  return tf.maximum(median, 1e-6)


def kernel(name: str, bandwidth: tf.Tensor) -> tfk.PositiveSemidefiniteKernel:
  """exp(−‖x − y‖² / 2h²) ('gaussian') or exp(−‖x − y‖ / h) ('laplace')."""
  if name == "gaussian":
    return tfk.ExponentiatedQuadratic(length_scale=bandwidth)
  if name == "laplace":
    return tfk.MaternOneHalf(length_scale=bandwidth)
  raise ValueError(f"kernel={name!r}; expected one of {', '.join(KERNELS)}")


def random_fourier_features(input_size: int, num_features: int, *, kernel_name: str,
                            bandwidth: tf.Tensor, seed: tf.Tensor) -> FeatureMap:
  """φ(x) = √(2/D) cos(Wx/h + b) with φ(x)ᵀφ(y) ≈ k(x, y) (Rahimi & Recht 2007).

  The rows of W are draws from the kernel's spectral density: standard normal
  (Gaussian kernel) or multivariate Cauchy (Laplace kernel); b ~ U[0, 2π).
  """
  if kernel_name not in KERNELS:
    raise ValueError(f"kernel={kernel_name!r}; expected one of {', '.join(KERNELS)}")
  w_seed, b_seed, c_seed = tfp.random.split_seed(seed, 3)
  w = tf.random.stateless_normal([input_size, num_features], seed=w_seed)
  if kernel_name == "laplace":  # a multivariate t with one degree of freedom
    w = w / tf.abs(tf.random.stateless_normal([1, num_features], seed=c_seed))
  b = tf.random.stateless_uniform([num_features], seed=b_seed, maxval=2.0 * np.pi)
  scale = np.sqrt(2.0 / num_features).astype(np.float32)

  def features(x: tf.Tensor) -> tf.Tensor:
    return scale * tf.cos(tf.matmul(tf.stop_gradient(x), w) / bandwidth + b)
  return features


def nystrom_features(landmarks: tf.Tensor, kernel_name: str, bandwidth: tf.Tensor,
                     jitter: float = 1e-8) -> FeatureMap:
  """φ(x) = L⁻¹ k(M, x), K_MM = LLᵀ, so φ(x)ᵀφ(y) = k(x, M) K_MM⁻¹ k(M, y)
  (Williams & Seeger 2001); `landmarks` M [D, d]. Works in float64 throughout
  (K_MM is near-singular when landmarks crowd) and returns float64 features."""
  kernel_fn = kernel(kernel_name, tf.cast(bandwidth, tf.float64))
  landmarks = tf.cast(tf.stop_gradient(landmarks), tf.float64)
  gram = kernel_fn.matrix(landmarks, landmarks)
  chol = tf.linalg.cholesky(gram + jitter * tf.eye(tf.shape(gram)[0], dtype=tf.float64))

  def features(x: tf.Tensor) -> tf.Tensor:
    cross = kernel_fn.matrix(landmarks, tf.cast(tf.stop_gradient(x), tf.float64))
    return tf.transpose(tf.linalg.triangular_solve(chol, cross, lower=True))
  return features


def feature_ridge_smoother(train_features: tf.Tensor, query_features: tf.Tensor,
                           ridge: float | tf.Tensor) -> tf.Tensor:
  """S [B, N] of ridge regression on features Φ [N, D] with penalty NλI.

  Solves the D×D primal system, or the N×N dual one when N < D (the same S).
  Products run in the features' dtype; the factorisation and solve in float64.
  """
  phi = tf.stop_gradient(train_features)
  query = tf.stop_gradient(tf.cast(query_features, phi.dtype))
  n, d = phi.shape[0], phi.shape[1]
  penalty = tf.cast(tf.shape(phi)[0], tf.float64) * tf.cast(ridge, tf.float64)
  if n is not None and d is not None and n < d:
    gram = tf.cast(tf.matmul(phi, phi, transpose_b=True), tf.float64)  # N×N
    chol = tf.linalg.cholesky(gram + penalty * tf.eye(n, dtype=tf.float64))
    cross = tf.cast(tf.matmul(query, phi, transpose_b=True), tf.float64)  # [B, N]
    smoother = tf.transpose(tf.linalg.cholesky_solve(chol, tf.transpose(cross)))
  else:
    gram = tf.cast(tf.matmul(phi, phi, transpose_a=True), tf.float64)  # D×D
    chol = tf.linalg.cholesky(gram + penalty * tf.eye(tf.shape(phi)[1], dtype=tf.float64))
    solved = tf.cast(tf.linalg.cholesky_solve(
        chol, tf.cast(tf.transpose(query), tf.float64)), phi.dtype)  # [D, B]
    smoother = tf.matmul(solved, phi, transpose_a=True, transpose_b=True)
  return tf.cast(smoother, tf.float32)


def kernel_ridge_smoother(kernel_name: str, bandwidth: tf.Tensor, train_x: tf.Tensor,
                          query_x: tf.Tensor, ridge: float | tf.Tensor) -> tf.Tensor:
  """S [B, N] = k(x*, X) (K + NλI)⁻¹ of exact kernel ridge regression (O(N³))."""
  kernel_fn = kernel(kernel_name, tf.cast(bandwidth, tf.float64))
  train_x = tf.cast(tf.stop_gradient(train_x), tf.float64)
  query_x = tf.cast(tf.stop_gradient(query_x), tf.float64)
  gram = kernel_fn.matrix(train_x, train_x)
  n = tf.shape(gram)[0]
  penalty = tf.cast(n, tf.float64) * tf.cast(ridge, tf.float64)
  chol = tf.linalg.cholesky(gram + penalty * tf.eye(n, dtype=tf.float64))
  cross = kernel_fn.matrix(query_x, train_x)  # [B, N]
  return tf.cast(tf.transpose(tf.linalg.cholesky_solve(chol, tf.transpose(cross))),
                 tf.float32)
