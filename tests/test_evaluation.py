"""Importance-sampled log p(x) against the exact linear-Gaussian value."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from absl.testing import parameterized

from tfp_zoo import estimators, evaluation, models

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

  def test_prior_proposal_matches_exact_with_a_smaller_ess(self):
    model = models.LinearGaussian((4,), latent_size=2, seed=3)
    x = model.joint().sample(10, seed=[1, 2]).x
    model.set_guide_to_exact_posterior()
    prior = evaluation.log_likelihood(model, x, seed=tf.constant([5, 6]), num_samples=20000,
                                      chunk_size=5000, proposal="prior")
    _check(self, model, x, prior)
    guide = evaluation.log_likelihood(model, x, seed=tf.constant([5, 6]), num_samples=20000,
                                      chunk_size=5000)
    self.assertTrue(np.all(prior.ess.numpy() < 0.9 * guide.ess.numpy()))  # the exact guide wins
    # Broken variant: prior samples weighed by p(x, z), forgetting to divide by p(z).
    z = model.joint().sample([20000, 10], seed=[5, 6]).z
    wrong = model.joint().log_prob(z=z, x=x)
    wrong = evaluation.summarize_log_weights(wrong, 20000)
    with self.assertRaises(AssertionError):
      _check(self, model, x, wrong)

  def test_a_wrong_weighting_is_caught(self):
    model = models.LinearGaussian((4,), latent_size=2, seed=3)
    x = model.joint().sample(10, seed=[1, 2]).x
    # Forgetting the proposal density: weights p(x, z) instead of p(x, z)/q(z|x).
    w = estimators.importance_log_weights(model, x, seed=tf.constant([5, 6]),
                                          num_samples=5000)
    result = evaluation.LogLikelihood(tfp.math.reduce_logmeanexp(w.log_joint, axis=0),
                                      tf.fill([10], 5000.0), tf.fill([10], 0.005))
    with self.assertRaises(AssertionError):
      _check(self, model, x, result)

  def test_summary_of_padded_log_weights(self):
    log_weights = tf.constant([[-1.0, 3.0], [-2.0, 1.0], [0.5, 2.0]])
    w = np.exp(log_weights.numpy())
    summary = evaluation.summarize_log_weights(log_weights, 3)
    self.assertAllClose(summary.log_likelihood, np.log(w.mean(0)), rtol=1e-6)
    self.assertAllClose(summary.ess, w.sum(0) ** 2 / (w ** 2).sum(0), rtol=1e-5)
    self.assertAllClose(summary.stderr, np.sqrt(1 / summary.ess.numpy() - 1 / 3), rtol=1e-5)
    # −inf rows (the export's chunk padding) change nothing when K says 3.
    padded = tf.concat([log_weights, tf.fill([2, 2], -np.inf)], 0)
    for a, b in zip(evaluation.summarize_log_weights(padded, tf.constant(3)), summary):
      self.assertAllClose(a, b)

  def test_ess_matches_its_definition(self):
    model = models.LinearGaussian((4,), latent_size=2, seed=3)
    x = model.joint().sample(3, seed=[1, 2]).x
    seed = tf.constant([0, 1])
    result = evaluation.log_likelihood(model, x, seed=seed, num_samples=400,
                                       chunk_size=400)
    log_w = evaluation.log_likelihood_weights(
        model, x, seed=tf.random.experimental.stateless_split(seed, 1)[0],
        num_samples=400).numpy().astype(np.float64)
    w = np.exp(log_w - log_w.max(0))
    self.assertAllClose(result.ess, w.sum(0) ** 2 / (w ** 2).sum(0), rtol=1e-3)
    self.assertAllClose(result.log_likelihood,
                        np.log(w.mean(0)) + log_w.max(0), atol=1e-4)

  def test_stderr_matches_the_spread_over_seeds(self):
    model = models.LinearGaussian((4,), latent_size=2, seed=3)
    x = model.joint().sample(4, seed=[1, 2]).x
    runs = [evaluation.log_likelihood(model, x, seed=tf.constant([i, 7]), num_samples=300)
            for i in range(40)]
    spread = np.std([r.log_likelihood.numpy() for r in runs], axis=0, ddof=1)
    reported = np.mean([r.stderr.numpy() for r in runs], axis=0)
    # 40 draws estimate a standard deviation to about ±11%: allow ±35%.
    self.assertAllInRange(reported / spread, 0.65, 1.35)

  def test_ess_and_stderr(self):
    model = models.LinearGaussian((4,), latent_size=2, seed=3)
    x = model.joint().sample(3, seed=[1, 2]).x
    result = evaluation.log_likelihood(model, x, seed=tf.constant([0, 1]), num_samples=400)
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
    self.assertIsNone(result.bits_per_dim)  # real-valued data: nats only
    exact = float(tf.reduce_mean(model.exact_log_likelihood(x)))
    self.assertAllClose(result.mean, exact, atol=0.05)

  def test_bfloat16_evaluation_matches_float32(self):
    model = models.get("vae", input_shape=(28, 28, 1))
    x = tf.cast(tf.random.stateless_uniform([20, 28, 28, 1], seed=[0, 5]) < 0.3, tf.float32)
    run = lambda name: evaluation.log_likelihood(  # noqa: E731
        model, x, seed=tf.constant([2, 3]), num_samples=300, chunk_size=100,
        precision=name).log_likelihood.numpy()
    fp32, bf16 = run("float32"), run("bfloat16")
    # bf16 rounds network outputs (relative u = 2^-8 each, independent signs);
    # the log-weights are float32 sums over 784 pixels: far below u relative.
    relative = np.abs(bf16 - fp32) / np.abs(fp32)
    self.assertLess(relative.max(), 2.0 ** -8 / 16)
    self.assertGreater(relative.max(), 0.0)  # the bf16 graph did run
    with self.assertRaisesRegex(ValueError, "^precision='float8': expected "
                                "one of float32, bfloat16, mixed_float16$"):
      run("float8")

  def test_bad_arguments(self):
    model = models.LinearGaussian((4,))
    with self.assertRaisesRegex(ValueError, "^num_samples: log_likelihood needs an integer >= 1, got 0"):
      evaluation.log_likelihood(model, tf.zeros([1, 4]), seed=tf.constant([0, 0]),
                                num_samples=0)
    with self.assertRaisesRegex(ValueError, "chunk_size"):
      evaluation.log_likelihood(model, tf.zeros([1, 4]), seed=tf.constant([0, 0]),
                                chunk_size=0)
    with self.assertRaisesRegex(ValueError, "^log_likelihood: proposal='posterior'; expected "
                                "one of guide, prior$"):
      evaluation.log_likelihood(model, tf.zeros([1, 4]), seed=tf.constant([0, 0]),
                                proposal="posterior")


if __name__ == "__main__":
  tf.test.main()
