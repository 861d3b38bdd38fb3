"""The ELBO on the linear-Gaussian model, where ELBO = log p(x) − KL(q ‖ p(z|x)) exactly."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from absl.testing import parameterized

from tfp_zoo import estimators, models, testing

tfd = tfp.distributions
# Under the null, P(|z| > 3) = 0.27% per comparison; the seeds are fixed, so a
# pass is deterministic, and each test also shows that a wrong variant fails.
Z = 3.0


def _exact_elbo(model, x):
  """Batch mean of log p(x) − KL(q(z|x) ‖ p(z|x))."""
  q = model.guide(x).sample_distributions(seed=[0, 0])[0][0]
  kl = tfd.kl_divergence(q, model.exact_posterior(x))
  return float(tf.reduce_mean(model.exact_log_likelihood(x) - kl))


def _entropy_forgotten(model, x, *, seed, num_samples):
  """A deliberately wrong ELBO: E_q[log p(x, z)] without the entropy of q."""
  w = estimators.importance_log_weights(model, x, seed=seed, num_samples=num_samples)
  loss = -tf.reduce_mean(w.log_joint)
  return estimators.Objectives(loss, loss, {"elbo": -loss})


def _analytic_kl(model, x):
  """Batch mean of KL(q(z|x) ‖ p(z)) in closed form."""
  q = model.guide(x).sample_distributions(seed=[0, 0])[0][0]
  p = model.joint().sample_distributions(seed=[0, 0])[0][0]
  return float(tf.reduce_mean(tfd.kl_divergence(q, p)))


def _beta_on_the_likelihood(model, x, *, seed, num_samples, beta):
  """A deliberately wrong β-VAE: β weighs log p(x | z) instead of the KL."""
  objectives = estimators.elbo(model, x, seed=seed, num_samples=num_samples, beta=0.0)
  log_likelihood = objectives.metrics["beta_elbo"]
  kl = objectives.metrics["kl"]
  return beta * log_likelihood - kl


class BetaElboTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(False, True)
  def test_beta_one_reproduces_the_elbo_exactly(self, analytic_kl):
    model, x = testing.linear_gaussian_problem()
    seed = tf.constant([3, 1])
    variables = model.trainable_variables
    losses, grads = [], []
    for beta in (None, 1.0, tf.constant(1.0)):
      options = {} if beta is None else {"beta": beta}
      with tf.GradientTape() as tape:
        loss = estimators.elbo(model, x, seed=seed, num_samples=4, analytic_kl=analytic_kl,
                               **options).generative_loss
      losses.append(float(loss))
      grads.append(tape.gradient(loss, variables))
    self.assertEqual(losses[0], losses[1])
    self.assertAllClose(losses[0], losses[2], rtol=1e-6)
    for a, b in zip(grads[0], grads[2]):
      self.assertAllClose(a, b, rtol=1e-5, atol=1e-6)

  def test_beta_weighs_the_kl_term(self):
    """E[L_β] = ELBO − (β − 1)·KL(q ‖ p(z)) on the linear-Gaussian model, where
    both are known in closed form; weighing the likelihood instead fails."""
    model, x = testing.linear_gaussian_problem()
    beta = 10.0
    kl = _analytic_kl(model, x)
    expected = _exact_elbo(model, x) - (beta - 1.0) * kl
    values = testing.replicate(lambda s: estimators.elbo(
        model, x, seed=s, num_samples=200, beta=beta).metrics["beta_elbo"], 50)
    mean, stderr = testing.mean_and_stderr(values)
    self.assertLess(stderr, 0.2)
    self.assertLess(abs(mean - expected), Z * stderr)
    self.assertGreater((beta - 1.0) * kl, 4 * stderr)  # the test tells β from β = 1
    # The closed-form KL with β: exact up to the likelihood's Monte Carlo error.
    analytic = testing.replicate(lambda s: estimators.elbo(
        model, x, seed=s, num_samples=200, beta=beta, analytic_kl=True).metrics["beta_elbo"], 50)
    self.assertLess(testing.max_abs_z_score(analytic, expected), Z)
    wrong = testing.replicate(lambda s: _beta_on_the_likelihood(
        model, x, seed=s, num_samples=200, beta=beta), 50)
    self.assertGreater(testing.max_abs_z_score(wrong, expected), Z)

  def test_beta_is_checked(self):
    model, x = testing.linear_gaussian_problem()
    for bad in (-1.0, float("nan"), True, "2"):
      with self.assertRaisesRegex(ValueError, "^(estimator 'elbo'|elbo): beta=.* must be"):
        estimators.elbo(model, x, seed=tf.constant([0, 0]), beta=bad)


class ElboTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(False, True)
  def test_matches_exact_elbo_and_is_below_log_likelihood(self, analytic_kl):
    model, x = testing.linear_gaussian_problem()
    values = testing.replicate(
        lambda s: estimators.elbo(model, x, seed=s, num_samples=200,
                                  analytic_kl=analytic_kl).metrics["elbo"], 50)
    mean, stderr = testing.mean_and_stderr(values)
    exact_elbo = _exact_elbo(model, x)
    log_px = float(tf.reduce_mean(model.exact_log_likelihood(x)))
    self.assertLess(stderr, 0.05)  # the comparison below has power
    self.assertLess(abs(mean - exact_elbo), Z * stderr)
    self.assertLessEqual(mean, log_px + Z * stderr)
    self.assertLess(exact_elbo, log_px - 0.5)  # the guide is imperfect: a real gap

  def test_catches_a_wrong_bound(self):
    model, x = testing.linear_gaussian_problem()
    values = testing.replicate(
        lambda s: _entropy_forgotten(model, x, seed=s, num_samples=200).metrics["elbo"], 50)
    self.assertGreater(testing.max_abs_z_score(values, _exact_elbo(model, x)), Z)

  def test_equals_log_likelihood_at_the_exact_posterior(self):
    model, x = testing.linear_gaussian_problem()
    model.set_guide_to_exact_posterior()
    # Every log-weight equals log p(x): the estimate is exact with any seed.
    value = estimators.elbo(model, x, seed=tf.constant([4, 4]), num_samples=3).metrics["elbo"]
    self.assertAllClose(value, tf.reduce_mean(model.exact_log_likelihood(x)), atol=1e-3)

  def test_generative_gradient_matches_exact_gradient_at_exact_posterior(self):
    # Fisher's identity: ∇θ log p(x) = E_{p(z|x)}[∇θ log p(x, z)], which is the
    # ELBO's θ-gradient when q is the exact posterior (φ held fixed).
    model, x = testing.linear_gaussian_problem()
    model.set_guide_to_exact_posterior()
    theta = model.generative_variables
    with tf.GradientTape() as tape:
      exact_loss = -tf.reduce_mean(model.exact_log_likelihood(x))
    exact = np.concatenate([tf.reshape(g, [-1]) for g in tape.gradient(exact_loss, theta)])

    def gradient(seed):
      with tf.GradientTape() as tape:
        loss = estimators.elbo(model, x, seed=seed, num_samples=10).generative_loss
      return tf.concat([tf.reshape(g, [-1]) for g in tape.gradient(loss, theta)], 0)

    z = testing.max_abs_z_score(testing.replicate(gradient, 40), exact)
    self.assertLess(z, 4.0)  # 16 components: max of 16 |z| under the null
    # Power: with the guide mean off the posterior the same check fails.
    model.guide_bias.assign_add([0.7, -0.7])
    self.assertGreater(testing.max_abs_z_score(testing.replicate(gradient, 40), exact), 4.0)

  def test_analytic_kl_needs_one_latent_part(self):
    model = models.get("vae", input_shape=(6,), stochastic_layers=2, latent_sizes=(3, 2))
    with self.assertRaisesRegex(ValueError, "analytic_kl=True.*one latent part"):
      estimators.elbo(model, tf.zeros([2, 6]), seed=tf.constant([0, 0]), analytic_kl=True)

  def test_bad_num_samples(self):
    model, x = testing.linear_gaussian_problem()
    with self.assertRaisesRegex(ValueError, "^elbo: num_samples=0 must be an integer >= 1$"):
      estimators.elbo(model, x, seed=tf.constant([0, 0]), num_samples=0)


if __name__ == "__main__":
  tf.test.main()
