"""Fréchet distance: closed forms it must reproduce, and its sample version."""

import numpy as np
import tensorflow as tf

from tfp_zoo.evaluation import frechet


def _random_covariance(rng, d):
  a = rng.normal(size=(d, d))
  return a @ a.T + 0.1 * np.eye(d)


class FrechetTest(tf.test.TestCase):

  def test_diagonal_covariances_have_the_closed_form(self):
    # Commuting covariances: tr (C_a C_b)^{1/2} = Σ sqrt(a_i b_i).
    mean_a, mean_b = np.array([0., 1., 2.]), np.array([1., 1., -1.])
    var_a, var_b = np.array([1., 4., 0.25]), np.array([9., 1., 0.25])
    expected = np.sum((mean_a - mean_b) ** 2) + np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2)
    self.assertAllClose(frechet.gaussian_frechet_distance(
        mean_a, np.diag(var_a), mean_b, np.diag(var_b)), expected, rtol=1e-10)

  def test_non_commuting_covariances(self):
    rng = np.random.default_rng(0)
    cov_a, cov_b = _random_covariance(rng, 5), _random_covariance(rng, 5)
    mean = rng.normal(size=5)
    d_ab = frechet.gaussian_frechet_distance(mean, cov_a, mean, cov_b)
    # Symmetric although C_a^{1/2} C_b C_a^{1/2} ≠ C_b^{1/2} C_a C_b^{1/2} ...
    self.assertAllClose(d_ab, frechet.gaussian_frechet_distance(mean, cov_b, mean, cov_a),
                        rtol=1e-8)
    # ... invariant under a rotation of both ...
    rotation, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    self.assertAllClose(d_ab, frechet.gaussian_frechet_distance(
        rotation @ mean, rotation @ cov_a @ rotation.T, rotation @ mean,
        rotation @ cov_b @ rotation.T), rtol=1e-8)
    # ... zero for equal Gaussians, (1 − √c)² tr C for C and cC, and positive otherwise.
    self.assertAllClose(frechet.gaussian_frechet_distance(mean, cov_a, mean, cov_a), 0.,
                        atol=1e-8)
    self.assertAllClose(frechet.gaussian_frechet_distance(mean, cov_a, mean, 4. * cov_a),
                        np.trace(cov_a), rtol=1e-8)
    self.assertGreater(float(d_ab), 0.1)
    # A wrong cross term (tr of the plain product, no square root) disagrees.
    wrong = np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(cov_a @ cov_b)
    self.assertNotAllClose(d_ab, wrong, rtol=0.05)

  def test_sample_version_converges_to_the_exact_distance(self):
    rng = np.random.default_rng(1)
    cov_a, cov_b = _random_covariance(rng, 3), _random_covariance(rng, 3)
    mean_a, mean_b = rng.normal(size=3), rng.normal(size=3)
    exact = float(frechet.gaussian_frechet_distance(mean_a, cov_a, mean_b, cov_b))
    errors = []
    for n in (100, 10_000):
      a = rng.multivariate_normal(mean_a, cov_a, size=n)
      b = rng.multivariate_normal(mean_b, cov_b, size=n)
      errors.append(abs(frechet.frechet_distance(a, b) - exact) / exact)
    self.assertLess(errors[1], 0.05)
    self.assertLess(errors[1], errors[0])

  def test_float32_and_float64_tensors_and_arrays(self):
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(40, 3)), rng.normal(size=(50, 3)) + 0.5
    reference = frechet.frechet_distance(a, b)
    self.assertGreater(reference, 0.1)
    for convert in (lambda v: tf.constant(v, tf.float32), lambda v: tf.constant(v),
                    lambda v: v.astype(np.float32), lambda v: tf.Variable(v, dtype=tf.float32),
                    lambda v: v.tolist()):
      distance = frechet.frechet_distance(convert(a), convert(b))
      self.assertIsInstance(distance, float)
      # float32 inputs carry float32 rounding, nothing more.
      self.assertAllClose(distance, reference, rtol=1e-5)
    mixed = frechet.frechet_distance(tf.constant(a, tf.float32), b)
    self.assertAllClose(mixed, reference, rtol=1e-5)
    self.assertAllClose(frechet.gaussian_frechet_distance(
        tf.constant([0., 1.], tf.float32), tf.eye(2), np.zeros(2), 4 * np.eye(2)), 3.0)

  def test_bad_input_is_named(self):
    with self.assertRaisesRegex(ValueError, "features_a: need a matrix"):
      frechet.frechet_distance(np.zeros(5), np.zeros((5, 2)))
    with self.assertRaisesRegex(ValueError, "features_a has 2 features but features_b has 3"):
      frechet.frechet_distance(np.zeros((5, 2)), np.zeros((5, 3)))


if __name__ == "__main__":
  tf.test.main()
