"""Kernel ridge regression as a linear smoother, with random Fourier features,
Nyström features or the exact kernel (for ALWS).

Every solver returns the *smoother matrix* S [queries, N]: the ridge prediction
at the queries is S f for any targets f [N, ...] on the training inputs. S
depends on the inputs only, so it carries no gradient, and a caller can
differentiate S f through the targets (ALWS differentiates log p_θ(z_n, x_n)).

    features:  S = Φ* (ΦᵀΦ + NλI)⁻¹ Φᵀ  = Φ* Φᵀ (ΦΦᵀ + NλI)⁻¹   (whichever of D, N is smaller)
    exact:     S = K*  (K + NλI)⁻¹

Solves use a Cholesky factorisation, in float64 where it matters: for a
kernel with k(x, x) = 1 (all here, and their random and Nyström features) the
system has trace(K) ≤ N, so its condition number is at most 1 + 1/λ. Up to
1e4 (λ ≥ 1e-4), float32 loses at most about 1e-3 relative accuracy, far
below the regression's statistical error, at half the cost. Beyond that,
float64.

TPU-safe (`precision.tpu_safe()`; TPUs have no float64): every solve runs in
float32 with λ floored at `TPU_SAFE_MIN_RIDGE` = 1e-6, where the bound
κ·u ≤ (1 + 1/λ)·6e-8 on the relative error is 0.06 and measured errors of
the smoothed predictions stay below 3e-2 (below 1e-6 float32 Cholesky returns
NaN on low-dimensional inputs); Nyström features use a float32
eigendecomposition of K_MM with eigenvalues below D·u·λ_max dropped (the
pseudo-inverse) instead of a float64 Cholesky with jitter.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from tensorflow_probability.python.internal import implementation_selection

from tfp_zoo.nn import precision

tfk = tfp.math.psd_kernels

__all__ = ["KERNELS", "PROJECTIONS", "TPU_SAFE_MIN_RIDGE", "RIDGE_GRID", "RIDGE_RULES", "RidgeChoice", "median_bandwidth",
           "median_cross_distance",
           "solve_dtype", "random_fourier_features", "loo_feature_ridge_smoother",
           "loo_kernel_ridge_smoother",
           "nystrom_features", "feature_ridge_rows", "kernel_ridge_rows",
           "choose_feature_ridge", "choose_kernel_ridge",
           "feature_ridge_smoother", "kernel_ridge_smoother", "kernel", "symmetric_eigh"]

KERNELS = ("gaussian", "laplace")
TPU_SAFE_MIN_RIDGE = 1e-6
# λ candidates of the leave-one-out choice: half decades from 1e-7 to 1.
RIDGE_GRID = tuple(float(10.0 ** (e / 2)) for e in range(-14, 1))
# How λ is picked from the grid (`_loo_errors`): generalised cross-validation
# (the default), the leave-one-out minimum, or the one-standard-error rule.
RIDGE_RULES = ("gcv", "leave_one_out", "one_standard_error")
FeatureMap = Callable[[tf.Tensor], tf.Tensor]


def symmetric_eigh(matrix: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
  """Eigenvalues (ascending) and eigenvectors of a symmetric matrix, as
  `tf.linalg.eigh` gives them, by LAPACK through NumPy where it can run.

  TensorFlow's CPU kernel (Eigen's solver, one thread) took 28.6 s for a
  3200 x 3200 float64 matrix where NumPy's LAPACK took 2.7 s (2-core AMD
  EPYC); choosing λ by GCV costs one such decomposition of the Gram matrix.
  Under XLA (`jit_compile=True`), in TPU-safe mode and where a GPU is
  visible (cuSOLVER), it stays `tf.linalg.eigh`. It carries no gradient on
  any path (its callers choose λ with it), and a non-finite matrix is an
  InvalidArgumentError on every path.

  Args:
    matrix: a symmetric [n, n] matrix.

  Returns:
    (eigenvalues [n] ascending, eigenvectors [n, n] as columns), in the
    matrix's dtype.
  """
  matrix = tf.stop_gradient(matrix)
  if (implementation_selection.is_xla() or not precision.float64_allowed()
      or tf.config.list_logical_devices("GPU")):
    return tf.linalg.eigh(matrix)
  matrix = tf.debugging.check_numerics(matrix, "symmetric_eigh: the matrix is not finite")
  values, vectors = tf.numpy_function(np.linalg.eigh, [matrix], [matrix.dtype, matrix.dtype],
                                      stateful=False, name="lapack_eigh")
  values.set_shape(matrix.shape[:-1])
  vectors.set_shape(matrix.shape)
  return values, vectors


def median_bandwidth(x: tf.Tensor) -> tf.Tensor:
  """The median heuristic for iid rows of `x` [N, d] (no gradient).

  The median distance between the disjoint pairs (x_i, x_{i+N/2}): for iid
  rows these are independent draws of the pairwise distance, so N/2 of them
  estimate its median at O(N·d) cost instead of the O(N²) of all pairs.

  Args:
    x: samples [N, d], N ≥ 2 (cast to float32).

  Returns:
    The bandwidth h, a float32 scalar, at least 1e-6.
  """
  x = tf.stop_gradient(tf.convert_to_tensor(x, tf.float32))
  half = tf.shape(x)[0] // 2
  distances = tf.norm(x[:half] - x[half:2 * half], axis=-1)
  # The midpoint median by sorting: tfp.stats.percentile computes its index in
  # float64, which TPUs lack.
  distances = tf.sort(distances)
  size = tf.shape(distances)[0]
  median = 0.5 * (distances[(size - 1) // 2] + distances[size // 2])
  return tf.maximum(median, 1e-6)


def median_cross_distance(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
  """The median distance between the rows of `x` [B, d] and of `y` [N, d], over
  all B·N pairs (no gradient): the median heuristic across two samples, for a
  bandwidth that suits both when they differ (e.g. data and sleep samples).

  Args:
    x: samples [B, d] (cast to float32).
    y: samples [N, d] (cast to float32).

  Returns:
    The median distance, a float32 scalar, at least 1e-6.
  """
  x = tf.stop_gradient(tf.convert_to_tensor(x, tf.float32))
  y = tf.stop_gradient(tf.convert_to_tensor(y, tf.float32))
  squared = (tf.reduce_sum(tf.square(x), -1)[:, None] + tf.reduce_sum(tf.square(y), -1)[None]
             - 2.0 * tf.matmul(x, y, transpose_b=True))
  distances = tf.sort(tf.reshape(tf.sqrt(tf.maximum(squared, 0.0)), [-1]))
  size = tf.shape(distances)[0]
  return tf.maximum(0.5 * (distances[(size - 1) // 2] + distances[size // 2]), 1e-6)


def solve_dtype(ridge: float | tf.Tensor) -> tf.DType:
  """float32 when λ ≥ 1e-4 (condition number ≤ 1e4 + 1) or TPU-safe, else float64.

  Args:
    ridge: λ, a Python number or a tensor (a tensor's value is not read: it
      gets float64 where allowed).

  Returns:
    `tf.float32` or `tf.float64`.
  """
  if not precision.float64_allowed() or (isinstance(ridge, (int, float)) and ridge >= 1e-4):
    return tf.float32
  return tf.float64


def _solve_ridge(ridge: float | tf.Tensor, dtype: tf.DType) -> tf.Tensor:
  """λ in `dtype`, floored at TPU_SAFE_MIN_RIDGE when float64 is not allowed."""
  ridge = tf.cast(ridge, dtype)
  return ridge if precision.float64_allowed() else tf.maximum(ridge, TPU_SAFE_MIN_RIDGE)


def kernel(name: str, bandwidth: tf.Tensor) -> tfk.PositiveSemidefiniteKernel:
  """exp(−‖x − y‖² / 2h²) ('gaussian') or exp(−‖x − y‖ / h) ('laplace').

  Args:
    name: 'gaussian' or 'laplace' (`KERNELS`).
    bandwidth: h, the length scale.

  Returns:
    A TFP `PositiveSemidefiniteKernel` (`ExponentiatedQuadratic` or
    `MaternOneHalf`).

  Raises:
    ValueError: an unknown `name`.
  """
  if name == "gaussian":
    return tfk.ExponentiatedQuadratic(length_scale=bandwidth)
  if name == "laplace":
    return tfk.MaternOneHalf(length_scale=bandwidth)
  raise ValueError(f"kernel={name!r}; expected one of {', '.join(KERNELS)}")


PROJECTIONS = ("dense", "bfloat16", "structured")


def random_fourier_features(input_size: int, num_features: int, *, kernel_name: str,
                            bandwidth: tf.Tensor, seed: tf.Tensor,
                            projection: str = "dense") -> FeatureMap:
  """φ(x) = √(2/D) cos(Wx/h + b) with φ(x)ᵀφ(y) ≈ k(x, y) (Rahimi & Recht 2007).

  The rows of W are draws from the kernel's spectral density: standard normal
  (Gaussian kernel) or multivariate Cauchy (Laplace kernel: a normal row over
  |N(0, 1)|); b ~ U[0, 2π). `projection='dense'` stores W [d, D] and costs
  d·D per input; 'bfloat16' is the same product with bf16 operands and float32
  accumulation (1.9x faster here; for inputs in [0, 1] and a median-heuristic
  bandwidth the phase error is ~1e-3 rad, far below the features' Monte Carlo
  error, and the regression stays exact on the features it sees).
  'structured' is the structured orthogonal random features of Yu et al. (2016, "Orthogonal Random Features"): x zero-padded to
  d' = 2^k ≥ d, and each block of d' rows is √d'·H S₃ H S₂ H S₁ with H the
  orthonormal Walsh–Hadamard matrix and Sᵢ random sign diagonals; its rows
  are orthogonal and their kernel estimate is nearly unbiased for large d'
  (on 20-d inputs its error was 1.15x the dense one's), and H = H_a ⊗ H_b is applied as two small
  matmuls, so a block costs 2·(a + b)·d' per input instead of d·d' (in flops:
  on a 2-core CPU the einsums' transposes made it slower, 16.5 ms against
  11.6 dense and 5.3 bf16 for 1100 × 784 → 1000).

  Args:
    input_size: d, the inputs' last dimension.
    num_features: D, the number of features.
    kernel_name: 'gaussian' or 'laplace' (`KERNELS`).
    bandwidth: h, a positive scalar.
    seed: stateless seed, int32[2], of W and b.
    projection: 'dense' (default), 'bfloat16' or 'structured'
      (`PROJECTIONS`).

  Returns:
    The feature map x [N, d] ↦ φ(x) [N, D], float32, with no gradient
    through x.

  Raises:
    ValueError: an unknown `kernel_name` or `projection`.
  """
  if kernel_name not in KERNELS:
    raise ValueError(f"kernel={kernel_name!r}; expected one of {', '.join(KERNELS)}")
  if projection not in PROJECTIONS:
    raise ValueError(f"projection={projection!r}; expected one of {', '.join(PROJECTIONS)}")
  w_seed, b_seed, c_seed = tfp.random.split_seed(seed, 3)
  b = tf.random.stateless_uniform([num_features], seed=b_seed, maxval=2.0 * np.pi)
  scale = np.sqrt(2.0 / num_features).astype(np.float32)
  radial = 1.0  # the Cauchy radius of the Laplace kernel's frequencies
  if kernel_name == "laplace":  # a multivariate t with one degree of freedom
    radial = 1.0 / tf.abs(tf.random.stateless_normal([num_features], seed=c_seed))
  if projection in ("dense", "bfloat16"):
    w = tf.random.stateless_normal([input_size, num_features], seed=w_seed)
  if projection == "dense":
    w = w * radial

    def dense(x: tf.Tensor) -> tf.Tensor:
      return scale * tf.cos(tf.matmul(tf.stop_gradient(x), w) / bandwidth + b)
    return dense
  if projection == "bfloat16":
    w16 = tf.cast(w * radial, tf.bfloat16)

    def half(x: tf.Tensor) -> tf.Tensor:
      product = tf.matmul(tf.cast(tf.stop_gradient(x), tf.bfloat16), w16)
      return scale * tf.cos(tf.cast(product, tf.float32) / bandwidth + b)
    return half
  project = _structured_projection(input_size, num_features, w_seed)

  def structured(x: tf.Tensor) -> tf.Tensor:
    return scale * tf.cos(project(tf.stop_gradient(x)) * (radial / bandwidth) + b)
  return structured


def _hadamard(size: int) -> np.ndarray:
  """The orthonormal Walsh–Hadamard matrix of a power-of-two size (Sylvester)."""
  h = np.ones([1, 1], np.float32)
  while h.shape[0] < size:
    h = np.block([[h, h], [h, -h]])
  return (h / np.sqrt(size)).astype(np.float32)


def _structured_projection(input_size: int, num_features: int,
                           seed: tf.Tensor) -> Callable[[tf.Tensor], tf.Tensor]:
  """x [N, d] -> [N, D]: blocks of √d'·H S₃ H S₂ H S₁ on x padded to d'."""
  padded = 1 << max(int(np.ceil(np.log2(max(input_size, 2)))), 1)
  rows_a = 1 << (int(np.log2(padded)) // 2)
  rows_b = padded // rows_a
  # H_{d'} = H_a ⊗ H_b: on x reshaped [.., a, b] it is X ↦ H_a X H_bᵀ.
  h_a, h_b = tf.constant(_hadamard(rows_a)), tf.constant(_hadamard(rows_b))
  blocks = -(-num_features // padded)
  signs = 2.0 * tf.cast(tf.random.stateless_uniform([blocks, 3, padded], seed=seed) < 0.5,
                        tf.float32) - 1.0

  def hadamard(v: tf.Tensor) -> tf.Tensor:  # v [N, blocks, d']
    shaped = tf.reshape(v, [-1, blocks, rows_a, rows_b])
    shaped = tf.einsum("nkab,cb->nkac", shaped, h_b)
    shaped = tf.einsum("nkab,ca->nkcb", shaped, h_a)
    return tf.reshape(shaped, [-1, blocks, padded])

  def project(x: tf.Tensor) -> tf.Tensor:
    v = tf.pad(tf.cast(x, tf.float32), [[0, 0], [0, padded - input_size]])
    v = v[:, None, :] * signs[None, :, 0]
    v = hadamard(hadamard(v) * signs[None, :, 1]) * signs[None, :, 2]
    v = hadamard(v) * np.float32(np.sqrt(padded))
    return tf.reshape(v, [-1, blocks * padded])[:, :num_features]
  return project


def nystrom_features(landmarks: tf.Tensor, kernel_name: str, bandwidth: tf.Tensor,
                     jitter: float = 1e-8) -> FeatureMap:
  """φ(x) = L⁻¹ k(M, x), K_MM = LLᵀ, so φ(x)ᵀφ(y) = k(x, M) K_MM⁻¹ k(M, y)
  (Williams & Seeger 2001); `landmarks` M [D, d]. Works in float64 throughout
  (K_MM is near-singular when landmarks crowd) and returns float64 features;
  TPU-safe, float32 with the pseudo-inverse (module docstring).

  Args:
    landmarks: M [D, d], the landmark inputs.
    kernel_name: 'gaussian' or 'laplace'.
    bandwidth: h, a positive scalar.
    jitter: added to K_MM's diagonal before its Cholesky factorisation
      (default 1e-8).

  Returns:
    The feature map x [N, d] ↦ φ(x) [N, D] (float64; float32 TPU-safe), with
    no gradient through x.
  """
  if not precision.float64_allowed():
    return _nystrom_features_float32(landmarks, kernel_name, bandwidth)
  kernel_fn = kernel(kernel_name, tf.cast(bandwidth, tf.float64))
  landmarks = tf.cast(tf.stop_gradient(landmarks), tf.float64)
  gram = kernel_fn.matrix(landmarks, landmarks)
  chol = tf.linalg.cholesky(gram + jitter * tf.eye(tf.shape(gram)[0], dtype=tf.float64))

  def features(x: tf.Tensor) -> tf.Tensor:
    cross = kernel_fn.matrix(landmarks, tf.cast(tf.stop_gradient(x), tf.float64))
    return tf.transpose(tf.linalg.triangular_solve(chol, cross, lower=True))
  return features


def _nystrom_features_float32(landmarks: tf.Tensor, kernel_name: str,
                              bandwidth: tf.Tensor) -> FeatureMap:
  """φ(x) = Λ₊^{-1/2} Uᵀ k(M, x) with K_MM = UΛUᵀ: eigenvalues below D·u·λ_max
  (float32 rounding) are dropped, so φ(x)ᵀφ(y) = k(x, M) K_MM⁺ k(M, y)."""
  kernel_fn = kernel(kernel_name, tf.cast(bandwidth, tf.float32))
  landmarks = tf.cast(tf.stop_gradient(landmarks), tf.float32)
  eigenvalues, eigenvectors = tf.linalg.eigh(kernel_fn.matrix(landmarks, landmarks))
  size = tf.cast(tf.shape(eigenvalues)[0], tf.float32)
  keep = eigenvalues > size * np.finfo(np.float32).eps * tf.reduce_max(eigenvalues)
  inverse_sqrt = tf.where(keep, tf.math.rsqrt(tf.where(keep, eigenvalues, 1.0)), 0.0)

  def features(x: tf.Tensor) -> tf.Tensor:
    cross = kernel_fn.matrix(landmarks, tf.cast(tf.stop_gradient(x), tf.float32))
    return tf.transpose(inverse_sqrt[:, None] * tf.matmul(eigenvectors, cross,
                                                           transpose_a=True))
  return features


def feature_ridge_rows(train_features: tf.Tensor, ridge: float | tf.Tensor,
                       dtype: tf.DType | None = None) -> Callable[[tf.Tensor], tf.Tensor]:
  """Ridge regression on features Φ [N, D] with penalty NλI, factorised once:
  returns `rows(query_features [Q, D]) -> S [Q, N]`.

  Factorises the D×D primal system, or the N×N dual one when N < D (the same
  S). Products run in the features' dtype; the factorisation and solve in
  `dtype` (default `solve_dtype(ridge)`). A float32 solve floors λ at
  `TPU_SAFE_MIN_RIDGE` (module docstring).

  Args:
    train_features: Φ [N, D] (no gradient).
    ridge: λ > 0.
    dtype: the solve's dtype (default None: `solve_dtype(ridge)`).

  Returns:
    `rows(query_features [Q, D]) -> S [Q, N]`, float32.
  """
  phi = tf.stop_gradient(train_features)
  n, d = phi.shape[0], phi.shape[1]
  dtype = dtype or solve_dtype(ridge)
  penalty = tf.cast(tf.shape(phi)[0], dtype) * _solve_ridge(ridge, dtype)
  if n is not None and d is not None and n < d:
    gram = tf.cast(tf.matmul(phi, phi, transpose_b=True), dtype)  # N×N
    chol = tf.linalg.cholesky(gram + penalty * tf.eye(n, dtype=dtype))

    def dual_rows(query_features: tf.Tensor) -> tf.Tensor:
      query = tf.stop_gradient(tf.cast(query_features, phi.dtype))
      cross = tf.cast(tf.matmul(phi, query, transpose_b=True), dtype)  # [N, Q]
      return tf.cast(tf.transpose(tf.linalg.cholesky_solve(chol, cross)), tf.float32)
    return dual_rows
  gram = tf.cast(tf.matmul(phi, phi, transpose_a=True), dtype)  # D×D
  chol = tf.linalg.cholesky(gram + penalty * tf.eye(tf.shape(phi)[1], dtype=dtype))

  def primal_rows(query_features: tf.Tensor) -> tf.Tensor:
    query = tf.stop_gradient(tf.cast(query_features, phi.dtype))
    solved = tf.cast(tf.linalg.cholesky_solve(chol, tf.cast(tf.transpose(query), dtype)),
                     phi.dtype)  # [D, Q]
    return tf.cast(tf.matmul(solved, phi, transpose_a=True, transpose_b=True), tf.float32)
  return primal_rows


def feature_ridge_smoother(train_features: tf.Tensor, query_features: tf.Tensor,
                           ridge: float | tf.Tensor) -> tf.Tensor:
  """S [B, N] of ridge regression on features Φ [N, D] with penalty NλI
  (`feature_ridge_rows` at the queries).

  Args:
    train_features: Φ [N, D].
    query_features: the B queries' features [B, D].
    ridge: λ > 0.

  Returns:
    The smoother S [B, N], float32: predictions at the queries are S Y.
  """
  return feature_ridge_rows(train_features, ridge)(query_features)


def kernel_ridge_rows(gram: tf.Tensor, ridge: float | tf.Tensor,
                      dtype: tf.DType | None = None) -> Callable[[tf.Tensor], tf.Tensor]:
  """Exact kernel ridge regression on the Gram matrix K [N, N], factorised
  once: returns `rows(cross [N, Q]) -> S [Q, N] = k(x*, X)(K + NλI)⁻¹` for
  the cross-kernel columns k(X, x*) of Q queries.

  Args:
    gram: K [N, N] (no gradient).
    ridge: λ > 0.
    dtype: the solve's dtype (default None: `solve_dtype(ridge)`).

  Returns:
    `rows(cross [N, Q]) -> S [Q, N]`, float32.
  """
  dtype = dtype or solve_dtype(ridge)
  gram = tf.cast(tf.stop_gradient(gram), dtype)
  n = tf.shape(gram)[0]
  penalty = tf.cast(n, dtype) * _solve_ridge(ridge, dtype)
  chol = tf.linalg.cholesky(gram + penalty * tf.eye(n, dtype=dtype))

  def rows(cross: tf.Tensor) -> tf.Tensor:
    solved = tf.linalg.cholesky_solve(chol, tf.cast(tf.stop_gradient(cross), dtype))
    return tf.cast(tf.transpose(solved), tf.float32)
  return rows


def kernel_ridge_smoother(kernel_name: str, bandwidth: tf.Tensor, train_x: tf.Tensor,
                          query_x: tf.Tensor, ridge: float | tf.Tensor) -> tf.Tensor:
  """S [B, N] = k(x*, X) (K + NλI)⁻¹ of exact kernel ridge regression (O(N³)),
  in `solve_dtype(ridge)`.

  Args:
    kernel_name: 'gaussian' or 'laplace'.
    bandwidth: h, a positive scalar.
    train_x: training inputs X [N, d].
    query_x: the B query inputs [B, d].
    ridge: λ > 0.

  Returns:
    The smoother S [B, N], float32.

  Raises:
    ValueError: an unknown `kernel_name`.
  """
  dtype = solve_dtype(ridge)
  kernel_fn = kernel(kernel_name, tf.cast(bandwidth, dtype))
  train_x = tf.cast(tf.stop_gradient(train_x), dtype)
  query_x = tf.cast(tf.stop_gradient(query_x), dtype)
  rows = kernel_ridge_rows(kernel_fn.matrix(train_x, train_x), ridge, dtype)
  return rows(kernel_fn.matrix(train_x, query_x))


class RidgeChoice(NamedTuple):
  """A ridge smoother whose λ was chosen by exact leave-one-out error.

  Attributes:
    smoother: S [queries, N], float32, no gradient.
    ridge: the chosen λ (penalty Nλ), a float32 scalar.
    loo_errors: float32 [G], the mean squared leave-one-out error of each λ
      of the grid used (sorted; in float32 only λ ≥ `TPU_SAFE_MIN_RIDGE`).
  """
  smoother: tf.Tensor    # [queries, N], float32, no gradient
  ridge: tf.Tensor       # the chosen λ (penalty Nλ)
  loo_errors: tf.Tensor  # [len(ridges)] mean squared leave-one-out error of each λ


def loo_feature_ridge_smoother(train_features: tf.Tensor, query_features: tf.Tensor,
                               targets: tf.Tensor, weights: tf.Tensor | None = None,
                               ridges: tuple[float, ...] = RIDGE_GRID,
                               rule: str = "gcv") -> RidgeChoice:
  """`feature_ridge_smoother` with λ chosen from `ridges` by leave-one-out error.

  One eigendecomposition serves every λ. With the Gram matrix ΦᵀΦ = VΛVᵀ
  (or ΦΦᵀ = QΛQᵀ when N < D) the hat matrix of penalty α = Nλ is
  H(α) = A diag(d(α)) Aᵀ, A = ΦV and d = 1/(Λ + α) (dual: A = Q and
  d = Λ/(Λ + α)), so each λ's leverages hᵢ and fitted values cost O(N·r), and
  the exact leave-one-out residual of ridge regression is
  (yᵢ − ŷᵢ)/(1 − hᵢ) (Hastie, Tibshirani & Friedman 2009, eq. 7.52 for linear
  smoothers). `targets` Y [N, T] are scored through `weights` W [N, T]
  (default ones): the residual of sample i is Σₜ Wᵢₜ(Y − Ŷ)ᵢₜ/(1 − hᵢ), which
  for ALWS's exponential-family form (W = [1, T(xᵢ)]) is the error of the
  predicted log joint. The choice carries no gradient; the returned smoother
  is linear in whatever is later smoothed with it.

  Args:
    train_features: Φ [N, D].
    query_features: features of the Q queries [Q, D].
    targets: Y [N, T], the regression targets that score each λ.
    weights: W [N, T] (default None: ones).
    ridges: the grid of λ (default `RIDGE_GRID`, 1e-7 to 1).
    rule: how λ is picked, one of `RIDGE_RULES`: 'gcv' (default),
      'leave_one_out' or 'one_standard_error'.

  Returns:
    `RidgeChoice` with the smoother S [Q, N] at the chosen λ.

  Raises:
    ValueError: an unknown `rule`.
  """
  phi = tf.stop_gradient(train_features)
  query = tf.stop_gradient(tf.cast(query_features, phi.dtype))
  n, d = phi.shape[0], phi.shape[1]
  dual = n is not None and d is not None and n < d
  dtype = tf.float64 if precision.float64_allowed() else tf.float32
  phi, query = tf.cast(phi, dtype), tf.cast(query, dtype)
  if dual:
    eigenvalues, basis = symmetric_eigh(tf.matmul(phi, phi, transpose_b=True))
    query_basis = tf.matmul(tf.matmul(query, phi, transpose_b=True), basis)
  else:
    eigenvalues, vectors = symmetric_eigh(tf.matmul(phi, phi, transpose_a=True))
    basis = tf.matmul(phi, vectors)
    query_basis = tf.matmul(query, vectors)
  return _loo_choice(tf.maximum(eigenvalues, 0.0), basis, query_basis, dual, targets,
                     weights, ridges, rule)


def loo_kernel_ridge_smoother(kernel_name: str, bandwidth: tf.Tensor, train_x: tf.Tensor,
                              query_x: tf.Tensor, targets: tf.Tensor,
                              weights: tf.Tensor | None = None,
                              ridges: tuple[float, ...] = RIDGE_GRID,
                              rule: str = "gcv") -> RidgeChoice:
  """`kernel_ridge_smoother` with λ chosen by leave-one-out error (K = QΛQᵀ;
  see `loo_feature_ridge_smoother`).

  Args:
    kernel_name: 'gaussian' or 'laplace'.
    bandwidth: h, a positive scalar.
    train_x: training inputs X [N, d].
    query_x: query inputs [Q, d].
    targets: Y [N, T], the regression targets that score each λ.
    weights: W [N, T] (default None: ones).
    ridges: the grid of λ (default `RIDGE_GRID`).
    rule: one of `RIDGE_RULES` (default 'gcv').

  Returns:
    `RidgeChoice` with the smoother S [Q, N] at the chosen λ.

  Raises:
    ValueError: an unknown `kernel_name` or `rule`.
  """
  dtype = tf.float64 if precision.float64_allowed() else tf.float32
  kernel_fn = kernel(kernel_name, tf.cast(bandwidth, dtype))
  train_x = tf.cast(tf.stop_gradient(train_x), dtype)
  query_x = tf.cast(tf.stop_gradient(query_x), dtype)
  eigenvalues, basis = symmetric_eigh(kernel_fn.matrix(train_x, train_x))
  query_basis = tf.matmul(kernel_fn.matrix(query_x, train_x), basis)
  return _loo_choice(tf.maximum(eigenvalues, 0.0), basis, query_basis, True, targets,
                     weights, ridges, rule)


def choose_feature_ridge(train_features: tf.Tensor, targets: tf.Tensor,
                         weights: tf.Tensor | None = None,
                         ridges: tuple[float, ...] = RIDGE_GRID,
                         dtype: tf.DType | None = None,
                         rule: str = "gcv") -> tuple[tf.Tensor, tf.Tensor]:
  """(λ, leave-one-out errors [len(ridges)]) of `loo_feature_ridge_smoother`,
  without forming a smoother: what a caller that solves by `feature_ridge_rows`
  needs. `dtype` (default float64 where allowed) is that of the
  eigendecomposition; in float32 the grid starts at `TPU_SAFE_MIN_RIDGE`.

  Args:
    train_features: Φ [N, D].
    targets: Y [N, T], the regression targets that score each λ.
    weights: W [N, T] (default None: ones).
    ridges: the grid of λ (default `RIDGE_GRID`).
    dtype: the eigendecomposition's dtype (default None: float64 where
      allowed).
    rule: one of `RIDGE_RULES` (default 'gcv').

  Returns:
    (λ, a float32 scalar; the errors, float32 [G] over the grid used).

  Raises:
    ValueError: an unknown `rule`.
  """
  phi = tf.stop_gradient(train_features)
  n, d = phi.shape[0], phi.shape[1]
  dual = n is not None and d is not None and n < d
  dtype = dtype or (tf.float64 if precision.float64_allowed() else tf.float32)
  phi = tf.cast(phi, dtype)
  if dual:
    eigenvalues, basis = symmetric_eigh(tf.matmul(phi, phi, transpose_b=True))
  else:
    eigenvalues, vectors = symmetric_eigh(tf.matmul(phi, phi, transpose_a=True))
    basis = tf.matmul(phi, vectors)
  best, errors, ridges, _ = _loo_errors(tf.maximum(eigenvalues, 0.0), basis, dual, targets,
                                        weights, ridges, rule)
  return tf.gather(tf.constant(ridges, tf.float32), best), errors


def choose_kernel_ridge(gram: tf.Tensor, targets: tf.Tensor, weights: tf.Tensor | None = None,
                        ridges: tuple[float, ...] = RIDGE_GRID,
                        dtype: tf.DType | None = None,
                        rule: str = "gcv") -> tuple[tf.Tensor, tf.Tensor]:
  """(λ, leave-one-out errors) of exact kernel ridge regression on the Gram
  matrix K [N, N] (see `choose_feature_ridge`).

  Args:
    gram: K [N, N].
    targets: Y [N, T], the regression targets that score each λ.
    weights: W [N, T] (default None: ones).
    ridges: the grid of λ (default `RIDGE_GRID`).
    dtype: the eigendecomposition's dtype (default None: float64 where
      allowed).
    rule: one of `RIDGE_RULES` (default 'gcv').

  Returns:
    (λ, a float32 scalar; the errors, float32 [G] over the grid used).

  Raises:
    ValueError: an unknown `rule`.
  """
  dtype = dtype or (tf.float64 if precision.float64_allowed() else tf.float32)
  eigenvalues, basis = symmetric_eigh(tf.cast(tf.stop_gradient(gram), dtype))
  best, errors, ridges, _ = _loo_errors(tf.maximum(eigenvalues, 0.0), basis, True, targets,
                                        weights, ridges, rule)
  return tf.gather(tf.constant(ridges, tf.float32), best), errors


def _loo_choice(eigenvalues, basis, query_basis, dual, targets, weights, ridges, rule):
  best, errors, ridges, smooth_scale = _loo_errors(eigenvalues, basis, dual, targets, weights,
                                                   ridges, rule)
  smoother = tf.matmul(query_basis * smooth_scale[:, best][None], basis, transpose_b=True)
  return RidgeChoice(tf.cast(smoother, tf.float32), tf.gather(tf.constant(ridges), best),
                     errors)


def _loo_errors(eigenvalues, basis, dual, targets, weights, ridges, rule):
  """(index of the chosen λ, float32 errors [G], the grid used, 1/(Λ + Nλ) [r, G])."""
  if rule not in RIDGE_RULES:
    raise ValueError(f"rule={rule!r}; expected one of {', '.join(RIDGE_RULES)}")
  dtype = basis.dtype
  ridges = tuple(sorted(ridges))
  if dtype != tf.float64:  # float32 (TPU-safe): the floor of every solve
    ridges = tuple(r for r in ridges if r >= TPU_SAFE_MIN_RIDGE) or (TPU_SAFE_MIN_RIDGE,)
  targets = tf.cast(tf.stop_gradient(targets), dtype)
  weights = (tf.ones_like(targets) if weights is None
             else tf.cast(tf.stop_gradient(weights), dtype))
  n = tf.cast(tf.shape(basis)[0], dtype)
  alphas = n * tf.constant(ridges, dtype)                                  # [G]
  smooth_scale = 1.0 / (eigenvalues[:, None] + alphas[None])               # [r, G]
  # Σₜ Wᵢₜ Ŷᵢₜ = Σⱼ Aᵢⱼ dⱼ (W Cᵀ)ᵢⱼ with C = AᵀY: one [N, r] product for all λ.
  projected = basis * tf.matmul(weights, tf.matmul(basis, targets, transpose_a=True),
                                transpose_b=True)                          # [N, r]
  if dual:
    # Q is a complete orthonormal basis: I − H = Q diag(α/(Λ + α)) Qᵀ, so the
    # residuals and 1 − hᵢ are formed without cancellation as h → 1.
    keep_scale = alphas[None] * smooth_scale                               # [r, G]
    residual = tf.matmul(projected, keep_scale)                            # [N, G]
    complement = tf.matmul(tf.square(basis), keep_scale)
  else:
    observed = tf.reduce_sum(weights * targets, axis=-1, keepdims=True)   # [N, 1]
    residual = observed - tf.matmul(projected, smooth_scale)
    complement = 1.0 - tf.matmul(tf.square(basis), smooth_scale)
  eps = np.finfo(dtype.as_numpy_dtype).eps
  if rule == "gcv":  # 1 − tr(H)/N for every sample
    complement = tf.reduce_mean(complement, axis=0, keepdims=True)
  squared = tf.square(residual / tf.maximum(complement, 1e3 * eps))       # [N, G]
  errors = tf.reduce_mean(squared, axis=0)
  errors = tf.where(tf.math.is_finite(errors), errors, np.inf)             # [G]
  best = tf.argmin(errors)
  if rule == "one_standard_error":
    # Larger λ while the error stays within one standard error of the
    # minimum's: paired per-sample differences, so the noise shared by
    # neighbouring λ cancels. A near-flat error curve then settles on the
    # smoother end, where a noisy minimum would otherwise pick a λ decades
    # too small (measured in tests/estimators/test_alws.py).
    differences = squared - tf.gather(squared, best, axis=1)[:, None]
    standard_error = tf.math.reduce_std(differences, axis=0) / tf.sqrt(n)
    within = errors - tf.gather(errors, best) <= standard_error
    index = tf.range(len(ridges), dtype=tf.int64)
    stop = tf.reduce_min(tf.where((index > best) & ~within, index,
                                  tf.constant(len(ridges), tf.int64)))
    best = stop - 1
  return best, tf.cast(errors, tf.float32), ridges, smooth_scale
