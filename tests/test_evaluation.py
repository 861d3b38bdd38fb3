"""Importance-sampled log p(x) against the exact linear-Gaussian value."""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tfp_zoo import evaluation, models

Z = 3.0


class PriorOnly(models.LinearGaussian):
  """The same model without a guide: `log_likelihood` proposes from the prior."""

  @property
  def guide_variables(self):
    return ()


def _check(test, model, x, result):
  exact = model.exact_log_likelihood(x).numpy()
  error = result.log_likelihood.numpy() - exact
  # Examples are independent: the mean error has stderr sqrt(Σ se²)/n.
  stderr = np.sqrt(np.sum(result.stderr.numpy() ** 2)) / len(exact)
  test.assertLess(stderr, 0.02)  # tolerance tight enough to catch real errors
  test.assertLess(abs(error.mean()), Z * stderr + 1e-4)
  return error


class LogLikelihoodTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters((models.LinearGaussian, 250), (models.LinearGaussian, 5000),
                            (PriorOnly, 1000))
  def test_k5000_matches_exact(self, model_class, chunk_size):
    model = model_class((4,), latent_size=2, seed=3)
    x = model.joint().sample(10, seed=[1, 2]).x
    result = evaluation.log_likelihood(model, x, seed=tf.constant([5, 6]),
                                       num_samples=5000, chunk_size=chunk_size)
    self.assertEqual(result.log_likelihood.shape, (10,))
    _check(self, model, x, result)

  def test_a_biased_proposal_weighting_is_caught(self):
    model = models.LinearGaussian((4,), latent_size=2, seed=3)
    x = model.joint().sample(10, seed=[1, 2]).x
    result = evaluation.log_likelihood(model, x, seed=tf.constant([5, 6]), num_samples=5000)
    wrong = result._replace(log_likelihood=result.log_likelihood - 0.05)
    with self.assertRaises(AssertionError):
      _check(self, model, x, wrong)

  def test_ess_and_stderr(self):
    model = models.LinearGaussian((4,), latent_size=2, seed=3)
    x = model.joint().sample(3, seed=[1, 2]).x
    result = evaluation.log_likelihood(model, x, seed=tf.constant([0, 1]), num_samples=400)
    self.assertAllInRange(result.ess, 1.0, 400.0)
    model.set_guide_to_exact_posterior()  # equal weights: ESS = K, no error
    result = evaluation.log_likelihood(model, x, seed=tf.constant([0, 1]), num_samples=400)
    self.assertAllClose(result.ess, [400.0] * 3, rtol=1e-3)
    self.assertAllClose(result.stderr, [0.0] * 3, atol=2e-3)
    self.assertAllClose(result.log_likelihood, model.exact_log_likelihood(x), atol=1e-3)

  def test_dataset_log_likelihood(self):
    model = models.LinearGaussian((4,), latent_size=2, seed=3)
    x = model.joint().sample(25, seed=[1, 2]).x.numpy()
    seen = []
    result = evaluation.dataset_log_likelihood(
        model, x, seed=tf.constant([0, 1]), num_samples=2000, batch_size=10,
        progress=lambda done, total: seen.append((done, total)))
    self.assertEqual(seen, [(10, 25), (20, 25), (25, 25)])
    self.assertEqual(result.num_examples, 25)
    exact = float(tf.reduce_mean(model.exact_log_likelihood(x)))
    self.assertAllClose(result.mean, exact, atol=0.05)

  def test_bad_arguments(self):
    model = models.LinearGaussian((4,))
    with self.assertRaisesRegex(ValueError, "num_samples must be an integer >= 1"):
      evaluation.log_likelihood(model, tf.zeros([1, 4]), seed=tf.constant([0, 0]),
                                num_samples=0)
    with self.assertRaisesRegex(ValueError, "chunk_size"):
      evaluation.log_likelihood(model, tf.zeros([1, 4]), seed=tf.constant([0, 0]),
                                chunk_size=0)


if __name__ == "__main__":
  tf.test.main()
