"""The yardstick model: its exact quantities must be exact."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo import estimators, models

tfd = tfp.distributions


class LinearGaussianTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.model = models.LinearGaussian((4,), latent_size=2, seed=3)
    self.x = self.model.joint().sample(6, seed=[1, 2]).x

  def test_exact_log_likelihood_satisfies_bayes_rule(self):
    # log p(x) = log p(z, x) − log p(z | x) for every z.
    z = tf.random.stateless_normal([3, 6, 2], seed=[5, 6])
    log_joint = self.model.joint().log_prob(z=z, x=self.x)
    log_posterior = self.model.exact_posterior(self.x).log_prob(z)
    expected = tf.broadcast_to(self.model.exact_log_likelihood(self.x), [3, 6])
    self.assertAllClose(log_joint - log_posterior, expected, atol=1e-4)

  def test_exact_marginal_matches_samples(self):
    x = self.model.joint().sample(20000, seed=[7, 8]).x
    marginal = self.model.exact_marginal()
    # Monte Carlo error of a mean of 20000 draws: sd/141; allow 4 standard errors.
    sd = tf.sqrt(tf.linalg.diag_part(marginal.covariance()))
    z_scores = (tf.reduce_mean(x, 0) - marginal.mean()) / (sd / np.sqrt(20000))
    self.assertAllLess(tf.abs(z_scores), 4.0)

  def test_set_guide_to_exact_posterior(self):
    posterior = self.model.exact_posterior(self.x)
    guide = self.model.guide(self.x).sample_distributions(seed=[1, 1])[0][0]
    self.assertGreater(float(tf.reduce_max(tf.abs(guide.mean() - posterior.mean()))), 0.1)
    self.model.set_guide_to_exact_posterior()
    guide = self.model.guide(self.x).sample_distributions(seed=[1, 1])[0][0]
    self.assertAllClose(guide.mean(), posterior.mean(), atol=1e-4)
    self.assertAllClose(guide.covariance(), posterior.covariance(), atol=1e-4)

  def test_iaf_guide_set_to_the_exact_posterior_has_constant_weights(self):
    # log w = log p(x, z) − log q(z | x) = log p(x) for every z iff q = p(z | x).
    for layers in (1, 2, 3):
      model = models.get("linear_gaussian", input_shape=(5,), latent_size=3, guide="iaf",
                         flow_layers=layers, seed=2)
      x = model.joint().sample(6, seed=[1, 2]).x
      model.set_guide_to_exact_posterior()
      weights = estimators.importance_log_weights(model, x, seed=tf.constant([1, 1]),
                                                  num_samples=50).log_weights
      self.assertAllClose(weights, tf.broadcast_to(model.exact_log_likelihood(x),
                                                   weights.shape), atol=2e-3)
      # Power: one wrong sign in the flow's affine part breaks it.
      made = model.guide_flow.layers[-1]
      made.direct_kernel.assign(-made.direct_kernel)
      weights = estimators.importance_log_weights(model, x, seed=tf.constant([1, 1]),
                                                  num_samples=50).log_weights
      self.assertGreater(float(tf.reduce_max(tf.abs(
          weights - model.exact_log_likelihood(x)))), 0.1)

  def test_exact_log_likelihood_is_differentiable_in_theta(self):
    with tf.GradientTape() as tape:
      value = tf.reduce_sum(self.model.exact_log_likelihood(self.x))
    grads = tape.gradient(value, self.model.generative_variables)
    for g in grads:
      self.assertIsNotNone(g)
      self.assertGreater(float(tf.reduce_max(tf.abs(g))), 0.0)

  def test_image_shaped_observations(self):
    model = models.LinearGaussian((2, 3, 1), latent_size=2)
    x = model.joint().sample(4, seed=[0, 1]).x
    self.assertEqual(x.shape, (4, 2, 3, 1))
    self.assertEqual(model.exact_log_likelihood(x).shape, (4,))


if __name__ == "__main__":
  tf.test.main()
