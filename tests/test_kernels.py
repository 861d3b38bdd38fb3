"""Kernel ridge smoothers and feature maps against direct formulas."""

from unittest import mock

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tfp_zoo import kernels
from tfp_zoo.nn import precision


def _points(n, d=3, seed=0):
  return tf.random.stateless_normal([n, d], seed=[seed, 1])


def _kernel_matrix(name, x, y, h):
  distances = np.linalg.norm(np.asarray(x)[:, None] - np.asarray(y)[None], axis=-1)
  return np.exp(-distances ** 2 / (2 * h ** 2)) if name == "gaussian" else np.exp(-distances / h)


class KernelsTest(tf.test.TestCase, parameterized.TestCase):

  def test_median_bandwidth(self):
    x = _points(2000)
    distances = np.linalg.norm(x.numpy()[:, None] - x.numpy()[None], axis=-1)
    all_pairs = np.median(distances[np.triu_indices(2000, 1)])
    # 1000 independent pairs estimate the all-pairs median to about 3%.
    self.assertAllClose(kernels.median_bandwidth(x), all_pairs, rtol=0.05)
    self.assertAllClose(kernels.median_bandwidth(x[:4]),
                        np.median([distances[0, 2], distances[1, 3]]), rtol=1e-5)

  def test_median_cross_distance_is_the_median_over_all_pairs(self):
    x, y = _points(7), _points(12, seed=1) + 2.0
    distances = np.linalg.norm(x.numpy()[:, None] - y.numpy()[None], axis=-1)
    self.assertAllClose(kernels.median_cross_distance(x, y), np.median(distances), rtol=1e-5)

  def test_solve_dtype(self):
    self.assertEqual(kernels.solve_dtype(1e-3), tf.float32)
    self.assertEqual(kernels.solve_dtype(1e-6), tf.float64)
    self.assertEqual(kernels.solve_dtype(tf.constant(1e-3)), tf.float64)

  @parameterized.parameters(1e-3, 1e-6)
  def test_float32_solve_agrees_with_float64_where_it_is_used(self, ridge):
    phi = kernels.random_fourier_features(3, 300, kernel_name="gaussian", bandwidth=1.0,
                                          seed=tf.constant([0, 0]))
    x, query = _points(500), _points(5, seed=1)
    smoother = kernels.feature_ridge_smoother(phi(x), phi(query), ridge)
    p = tf.cast(phi(x), tf.float64).numpy()
    q = tf.cast(phi(query), tf.float64).numpy()
    expected = q @ np.linalg.solve(p.T @ p + 500 * ridge * np.eye(300), p.T)
    target = np.sin(x.numpy()).sum(-1)
    self.assertAllClose(smoother.numpy() @ target, expected @ target, rtol=2e-3, atol=2e-3)

  @parameterized.parameters("gaussian", "laplace")
  def test_random_fourier_features_approximate_the_kernel(self, name):
    x, y = _points(20), _points(20, seed=1)
    exact = _kernel_matrix(name, x, y, 1.5)
    errors = []
    for d in (100, 10000):
      features = kernels.random_fourier_features(3, d, kernel_name=name, bandwidth=1.5,
                                                 seed=tf.constant([3, 4]))
      approx = tf.matmul(features(x), features(y), transpose_b=True).numpy()
      errors.append(np.sqrt(np.mean((approx - exact) ** 2)))
    # Monte Carlo error of an average of D bounded terms: O(1/√D).
    self.assertLess(errors[1], 2.0 / np.sqrt(10000))
    self.assertLess(errors[1], errors[0] / 4)

  @parameterized.parameters("gaussian", "laplace")
  def test_structured_and_bfloat16_projections_approximate_the_kernel(self, name):
    x, y = _points(20, d=20), _points(20, seed=1, d=20)
    exact = _kernel_matrix(name, x, y, 4.0)

    def error(projection, d, **patch):
      errors = []
      for seed in range(4):
        features = kernels.random_fourier_features(20, d, kernel_name=name, bandwidth=4.0,
                                                   seed=tf.constant([seed, 4]),
                                                   projection=projection)
        approx = tf.matmul(features(x), features(y), transpose_b=True).numpy()
        errors.append(np.sqrt(np.mean((approx - exact) ** 2)))
      return np.mean(errors)
    for projection in ("structured", "bfloat16"):
      # Several blocks of 32 rows, and the Monte Carlo error of D bounded terms.
      self.assertLess(error(projection, 4000), 2.0 / np.sqrt(4000), projection)
      self.assertLess(error(projection, 4000), error(projection, 100) / 3, projection)
    # Without the √d' scale the frequencies are too low: a different kernel.
    original = kernels._structured_projection  # pylint: disable=protected-access

    def unscaled(input_size, num_features, seed):
      project = original(input_size, num_features, seed)
      return lambda v: project(v) / np.float32(np.sqrt(32))  # d = 20 pads to 32
    with mock.patch.object(kernels, "_structured_projection", unscaled):
      self.assertGreater(error("structured", 4000), 5.0 / np.sqrt(4000))

  @parameterized.parameters("gaussian", "laplace")
  def test_nystrom_with_every_point_as_landmark_is_exact(self, name):
    x, y = _points(30), _points(5, seed=1)
    features = kernels.nystrom_features(x, name, 1.2)
    self.assertAllClose(tf.matmul(features(x), features(y), transpose_b=True),
                        _kernel_matrix(name, x, y, 1.2), atol=1e-6)

  @parameterized.parameters(10, 200)
  def test_feature_smoother_is_ridge_regression(self, num_features):
    # Primal (D < N) and dual (N < D) solves give the same smoother.
    phi = tf.random.stateless_normal([50, num_features], seed=[1, 2])
    query = tf.random.stateless_normal([4, num_features], seed=[2, 2])
    ridge = 0.01
    p = phi.numpy().astype(np.float64)
    expected = query.numpy() @ np.linalg.solve(p.T @ p + 50 * ridge * np.eye(num_features),
                                               p.T)
    self.assertAllClose(kernels.feature_ridge_smoother(phi, query, ridge), expected,
                        rtol=1e-4, atol=1e-5)

  def test_kernel_smoother_is_kernel_ridge_regression(self):
    x, query = _points(40), _points(6, seed=2)
    gram = _kernel_matrix("gaussian", x, x, 1.0)
    expected = _kernel_matrix("gaussian", query, x, 1.0) @ np.linalg.inv(
        gram + 40 * 0.001 * np.eye(40))
    self.assertAllClose(kernels.kernel_ridge_smoother("gaussian", 1.0, x, query, 0.001),
                        expected, rtol=1e-4, atol=1e-5)

  def test_smoothers_fit_a_smooth_function(self):
    x = tf.random.stateless_uniform([400, 1], seed=[0, 3], minval=-2, maxval=2)
    target = np.sin(2 * x.numpy()[:, 0])
    query = tf.linspace(-1.5, 1.5, 7)[:, None]
    for smoother in (
        kernels.kernel_ridge_smoother("gaussian", 0.5, x, query, 1e-4),
        kernels.feature_ridge_smoother(*(lambda f: (f(x), f(query)))(
            kernels.random_fourier_features(1, 300, kernel_name="gaussian", bandwidth=0.5,
                                            seed=tf.constant([1, 1]))), 1e-4)):
      self.assertAllClose(smoother.numpy() @ target, np.sin(2 * query.numpy()[:, 0]),
                          atol=0.05)

  def test_tpu_safe_solves_are_float32_and_agree_with_float64(self):
    x, query = _points(1000, d=5), _points(100, d=5, seed=1)
    target = np.sin(x.numpy()).sum(-1)
    h = kernels.median_bandwidth(x)
    exact64 = lambda ridge: kernels.kernel_ridge_smoother(  # noqa: E731
        "gaussian", h, x, query, ridge).numpy() @ target
    with precision.tpu_safe():
      self.assertEqual(kernels.solve_dtype(1e-8), tf.float32)
      safe = lambda ridge: kernels.kernel_ridge_smoother(  # noqa: E731
          "gaussian", h, x, query, ridge).numpy() @ target
      # κ·u ≤ (1 + 1e5)·6e-8: the float32 solve is within 1e-2 of float64.
      reference = exact64(1e-5)
      self.assertLess(np.linalg.norm(safe(1e-5) - reference) / np.linalg.norm(reference), 1e-2)
      # Below the floor the float32 solve is that of λ = TPU_SAFE_MIN_RIDGE.
      tiny = safe(1e-10)
      self.assertTrue(np.all(np.isfinite(tiny)))
      floor = exact64(kernels.TPU_SAFE_MIN_RIDGE)
      self.assertLess(np.linalg.norm(tiny - floor) / np.linalg.norm(floor), 5e-2)
    self.assertEqual(kernels.solve_dtype(1e-8), tf.float64)  # the block has ended
    # Why the floor: float32 Cholesky of the feature system at λ = 1e-10 fails.
    phi = kernels.random_fourier_features(5, 500, kernel_name="gaussian", bandwidth=h,
                                          seed=tf.constant([3, 4]))(x)
    gram = tf.matmul(phi, phi, transpose_a=True) + 1000 * 1e-10 * tf.eye(500)
    self.assertFalse(np.all(np.isfinite(tf.linalg.cholesky(gram).numpy())))
    with precision.tpu_safe():
      smoother = kernels.feature_ridge_smoother(phi, phi[:10], 1e-10)
    self.assertTrue(np.all(np.isfinite(smoother.numpy())))

  @parameterized.parameters("gaussian", "laplace")
  def test_tpu_safe_nystrom_is_float32_and_exact_on_its_landmarks(self, name):
    x, y = _points(30), _points(5, seed=1)
    with precision.tpu_safe():
      features = kernels.nystrom_features(x, name, 1.2)
      self.assertEqual(features(y).dtype, tf.float32)
      self.assertAllClose(tf.matmul(features(x), features(y), transpose_b=True),
                          _kernel_matrix(name, x, y, 1.2), atol=1e-4)
      # Crowded landmarks (K_MM singular): the pseudo-inverse stays finite.
      crowded = kernels.nystrom_features(tf.concat([x, x], 0), name, 1.2)
      self.assertAllClose(tf.matmul(crowded(x), crowded(y), transpose_b=True),
                          _kernel_matrix(name, x, y, 1.2), atol=1e-3)

  @parameterized.parameters(20, 100)  # primal (D < N) and dual (N < D)
  def test_leave_one_out_errors_match_refitting(self, num_features):
    n = 60
    rng = np.random.default_rng(0)
    phi = rng.normal(size=(n, num_features))
    # Weak signal in strong noise: fitting it closely (small λ) overfits.
    targets = np.stack([np.sin(phi[:, 0]) + rng.normal(size=n),
                        phi[:, 1] + rng.normal(size=n)], -1)
    weights = rng.normal(size=(n, 2))
    ridges = (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
    choice = kernels.loo_feature_ridge_smoother(phi, phi[:5], targets, weights, ridges,
                                                rule="leave_one_out")

    def refit(ridge):  # leave each point out, refit, predict it
      errors = []
      for i in range(n):
        keep = np.arange(n) != i
        p = phi[keep]
        coef = np.linalg.solve(p.T @ p + n * ridge * np.eye(num_features), p.T @ targets[keep])
        errors.append(weights[i] @ (targets[i] - phi[i] @ coef))
      return np.square(errors)
    # The penalty stays Nλ for the left-out fits: the same linear smoother.
    self.assertAllClose(choice.loo_errors, [refit(r).mean() for r in ridges], rtol=1e-4)
    best = ridges[int(np.argmin([refit(r).mean() for r in ridges]))]
    self.assertAllClose(choice.ridge, best)
    self.assertAllClose(choice.smoother, kernels.feature_ridge_smoother(
        tf.constant(phi, tf.float32), tf.constant(phi[:5], tf.float32), best),
                        rtol=1e-3, atol=1e-4)
    # The training error (no 1/(1 − h)) always prefers the smallest λ: the
    # leave-one-out correction is what makes the choice.
    # The one-standard-error rule: the largest λ above the minimum within one
    # standard error of the paired per-sample differences (checked by refitting).
    squared = np.stack([refit(r) for r in ridges], -1)
    low = int(np.argmin(squared.mean(0)))
    chosen = low
    for j in range(low + 1, len(ridges)):
      paired = squared[:, j] - squared[:, low]
      if paired.mean() > paired.std() / np.sqrt(n):
        break
      chosen = j
    one_se = kernels.loo_feature_ridge_smoother(phi, phi[:5], targets, weights, ridges,
                                                rule="one_standard_error")
    self.assertAllClose(one_se.ridge, ridges[chosen])
    if num_features == 20:  # here the rule moves off the minimum (0.1 -> 1)
      self.assertGreater(chosen, low)
    self.assertAllClose(kernels.choose_feature_ridge(
        tf.constant(phi), targets, weights, ridges, rule="one_standard_error")[0],
                        ridges[chosen])
    # The default, generalised cross-validation: the full fit's weighted
    # residuals over the mean of 1 − hᵢ, from the hat matrix itself.
    gcv = []
    for r in ridges:
      hat = phi @ np.linalg.solve(phi.T @ phi + n * r * np.eye(num_features), phi.T)
      residual = np.sum(weights * (targets - hat @ targets), -1)
      gcv.append(np.mean(residual**2) / (1 - np.trace(hat) / n) ** 2)
    default = kernels.loo_feature_ridge_smoother(phi, phi[:5], targets, weights, ridges)
    self.assertAllClose(default.loo_errors, gcv, rtol=1e-4)
    self.assertAllClose(default.ridge, ridges[int(np.argmin(gcv))])
    fitted = [phi @ np.linalg.solve(phi.T @ phi + n * r * np.eye(num_features),
                                    phi.T @ targets) for r in ridges]
    training = [np.mean((targets - f) ** 2) for f in fitted]
    self.assertEqual(int(np.argmin(training)), 0)
    self.assertNotEqual(best, ridges[0])

  def test_leave_one_out_kernel_smoother(self):
    x, query = _points(50), _points(4, seed=2)
    targets = np.sin(x.numpy()).sum(-1, keepdims=True) + 0.2 * np.random.default_rng(1).normal(
        size=(50, 1))
    choice = kernels.loo_kernel_ridge_smoother("gaussian", 1.0, x, query, targets,
                                               rule="leave_one_out")
    gram = _kernel_matrix("gaussian", x, x, 1.0)
    for ridge, error in zip(kernels.RIDGE_GRID, choice.loo_errors.numpy()):
      hat = gram @ np.linalg.inv(gram + 50 * ridge * np.eye(50))
      residual = (targets[:, 0] - hat @ targets[:, 0]) / (1 - np.diag(hat))
      self.assertAllClose(error, np.mean(residual ** 2), rtol=1e-3)
    self.assertAllClose(choice.smoother, kernels.kernel_ridge_smoother(
        "gaussian", 1.0, x, query, float(choice.ridge)), rtol=1e-3, atol=1e-4)
    with precision.tpu_safe():  # float32 eigendecomposition: the same choice
      safe = kernels.loo_kernel_ridge_smoother("gaussian", 1.0, x, query, targets,
                                               rule="leave_one_out")
    self.assertAllClose(safe.ridge, choice.ridge)

  def test_symmetric_eigh_is_tf_eigh_by_lapack(self):
    a = np.random.default_rng(0).normal(size=(40, 40))
    matrix = tf.constant(a @ a.T + np.eye(40))
    values, vectors = kernels.symmetric_eigh(matrix)
    expected = tf.linalg.eigh(matrix)[0]
    self.assertAllClose(values, expected, rtol=1e-10)  # ascending, as TensorFlow's
    self.assertAllClose(tf.matmul(vectors * values[None], vectors, transpose_b=True), matrix,
                        atol=1e-9)
    graph = tf.function(kernels.symmetric_eigh, autograph=False).get_concrete_function(matrix)
    host_calls = [op.type for op in graph.graph.get_operations() if "PyFunc" in op.type]
    self.assertNotEmpty(host_calls)  # NumPy's LAPACK on the CPU, in a traced function too
    for call in (kernels.symmetric_eigh, graph):  # as tf.linalg.eigh refuses it
      with self.assertRaisesRegex(tf.errors.InvalidArgumentError, "not finite"):
        call(tf.fill([40, 40], tf.constant(np.nan, tf.float64)))
    self.assertEqual(graph.outputs[0].shape, [40])

    def tpu_safe(m):
      with precision.tpu_safe():
        return kernels.symmetric_eigh(m)
    for name, compiled in (
        ("tpu_safe", tf.function(tpu_safe, autograph=False)),
        ("xla", tf.function(kernels.symmetric_eigh, autograph=False, jit_compile=True))):
      ops = compiled.get_concrete_function(matrix).graph.get_operations()
      self.assertEmpty([op.type for op in ops if "PyFunc" in op.type], name)  # cannot run there
      self.assertAllClose(compiled(matrix)[0], expected, rtol=1e-8)

  def test_unknown_kernel(self):
    with self.assertRaisesRegex(ValueError, "kernel='rbf'; expected one of gaussian, laplace"):
      kernels.kernel("rbf", 1.0)
    with self.assertRaisesRegex(ValueError, "rule='aic'; expected one of gcv, leave_one_out, "
                                "one_standard_error"):
      kernels.choose_kernel_ridge(tf.eye(3), tf.ones([3, 1]), rule="aic")


if __name__ == "__main__":
  tf.test.main()
