"""The IWAE bound on the linear-Gaussian model: monotone in K, below log p(x)."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo import estimators, testing

tfd = tfp.distributions
Z = 3.0


def _bounds(model, x, k, estimator=estimators.iwae, replicates=100):
  return testing.replicate(
      lambda s: estimator(model, x, seed=s, num_samples=k).generative_loss, replicates,
      seed=(k, 0)) * -1.0


def _mean_of_weights(model, x, *, seed, num_samples):
  """A deliberately wrong IWAE: the mean of the log-weights instead of the log
  of their mean (the ELBO in disguise), so it does not grow with K."""
  w = estimators.importance_log_weights(model, x, seed=seed, num_samples=num_samples)
  loss = -tf.reduce_mean(w.log_weights)
  return estimators.Objectives(loss, loss, {})


class IwaeTest(tf.test.TestCase):

  def test_bound_increases_with_k_and_stays_below_log_likelihood(self):
    model, x = testing.linear_gaussian_problem()
    log_px = float(tf.reduce_mean(model.exact_log_likelihood(x)))
    stats = {k: testing.mean_and_stderr(_bounds(model, x, k)) for k in (1, 10, 100)}
    for small, large in ((1, 10), (10, 100)):
      (m_small, se_small), (m_large, se_large) = stats[small], stats[large]
      # Significantly larger, not merely "not smaller".
      self.assertGreater(m_large - m_small, Z * np.hypot(se_small, se_large))
    m100, se100 = stats[100]
    self.assertLessEqual(m100, log_px + Z * se100)
    self.assertLess(se100, 0.05)

  def test_k1_is_the_elbo(self):
    model, x = testing.linear_gaussian_problem()
    q = model.guide(x).sample_distributions(seed=[0, 0])[0][0]
    exact_elbo = float(tf.reduce_mean(
        model.exact_log_likelihood(x) - tfd.kl_divergence(q, model.exact_posterior(x))))
    values = _bounds(model, x, 1, replicates=400)
    mean, stderr = testing.mean_and_stderr(values)
    self.assertLess(abs(mean - exact_elbo), Z * stderr)

  def test_wrong_bound_does_not_increase(self):
    model, x = testing.linear_gaussian_problem()
    m1, se1 = testing.mean_and_stderr(_bounds(model, x, 1, _mean_of_weights))
    m100, se100 = testing.mean_and_stderr(_bounds(model, x, 100, _mean_of_weights))
    self.assertLess(m100 - m1, Z * np.hypot(se1, se100))

  def test_exact_at_the_posterior(self):
    model, x = testing.linear_gaussian_problem()
    model.set_guide_to_exact_posterior()
    objectives = estimators.iwae(model, x, seed=tf.constant([1, 1]), num_samples=7)
    self.assertAllClose(objectives.metrics["iwae"],
                        tf.reduce_mean(model.exact_log_likelihood(x)), atol=1e-3)
    # All weights equal: the ESS is K.
    self.assertAllClose(objectives.metrics["ess"], 7.0, rtol=1e-3)


if __name__ == "__main__":
  tf.test.main()
