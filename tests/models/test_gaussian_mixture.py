"""The discrete-latent yardstick: exact answers by enumeration, and RWS /
wake-sleep moving guide and model the right way."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from absl.testing import parameterized

from tfp_zoo import estimators, evaluation, models, testing, training

tfd = tfp.distributions


def _data(n=256):
  truth = models.GaussianMixture((1,), num_components=20, seed=11)
  truth.mixture_logits.assign(tf.random.stateless_normal([20], seed=[4, 4]) * 2.0)
  return truth.joint().sample(n, seed=[5, 5]).x


def _guide_logits(model, x):
  return model.guide(x).sample_distributions(seed=[0, 0])[0][0].logits_parameter()


def _kl_to_posterior(model, x, guide_logits=None):
  """mean KL(p_θ(c|x) ‖ q(c|x)), with q the current guide or given logits."""
  logits = _guide_logits(model, x) if guide_logits is None else guide_logits
  return float(tf.reduce_mean(tfd.kl_divergence(model.exact_posterior(x),
                                                tfd.Categorical(logits=logits))))


def _frozen_guide(model, x, *, seed, num_samples):
  """A broken RWS: the guide is never updated."""
  objectives = estimators.rws(model, x, seed=seed, num_samples=num_samples)
  return estimators.Objectives(objectives.generative_loss,
                               0.0 * objectives.guide_loss, objectives.metrics)


def _train(model, x, estimator, steps=400):
  step = training.make_train_step(
      model, estimator, training.make_optimizer(0.05, model.generative_variables),
      training.make_optimizer(0.05, model.guide_variables), num_samples=5)
  for i in range(steps):
    step(x, tf.constant(i, tf.int64))


class GaussianMixtureTest(tf.test.TestCase, parameterized.TestCase):

  def test_exact_log_likelihood_satisfies_bayes_rule(self):
    model = models.GaussianMixture((1,), seed=1)
    x = model.joint().sample(6, seed=[1, 2]).x
    for c in (0, 7, 19):
      c = tf.fill([6], c)
      self.assertAllClose(model.joint().log_prob(c=c, x=x)
                          - model.exact_posterior(x).log_prob(c),
                          model.exact_log_likelihood(x), atol=1e-4)

  def test_k5000_bound_matches_exact_log_likelihood(self):
    model = models.GaussianMixture((1,), seed=1)
    x = model.joint().sample(20, seed=[1, 2]).x
    result = evaluation.log_likelihood(model, x, seed=tf.constant([3, 4]), num_samples=5000)
    exact = model.exact_log_likelihood(x).numpy()
    stderr = np.sqrt(np.sum(result.stderr.numpy() ** 2)) / 20
    self.assertLess(stderr, 0.02)
    self.assertLess(abs(np.mean(result.log_likelihood.numpy() - exact)), 3 * stderr)

  @parameterized.parameters("rws", "wake_sleep")
  def test_training_moves_guide_to_posterior_and_model_to_data(self, estimator):
    x = _data()
    model = models.GaussianMixture((1,), num_components=20, seed=2)
    initial_guide = _guide_logits(model, x)
    ll_before = float(tf.reduce_mean(model.exact_log_likelihood(x)))
    _train(model, x, estimators.get(estimator))
    # Against the trained model's posterior, the trained guide beats the initial one.
    self.assertLess(_kl_to_posterior(model, x), 0.5 * _kl_to_posterior(model, x, initial_guide))
    self.assertGreater(float(tf.reduce_mean(model.exact_log_likelihood(x))), ll_before + 0.2)

  def test_a_frozen_guide_is_caught(self):
    x = _data()
    model = models.GaussianMixture((1,), num_components=20, seed=2)
    initial_guide = _guide_logits(model, x)
    _train(model, x, _frozen_guide)
    self.assertGreater(_kl_to_posterior(model, x),
                       0.5 * _kl_to_posterior(model, x, initial_guide))

  @parameterized.parameters("rws", "wake_sleep", "vimco")
  def test_discrete_estimators_give_every_variable_a_gradient(self, estimator):
    model = models.GaussianMixture((1,), seed=1)
    x = model.joint().sample(8, seed=[1, 2]).x
    _, theta_grads, phi_grads = testing.estimator_gradients(
        estimators.get(estimator), model, x, seed=tf.constant([0, 1]), num_samples=3)
    self.assertEmpty(testing.gradient_problems(model, theta_grads, phi_grads))

  def test_reparameterised_estimators_refuse_it(self):
    model = models.GaussianMixture((1,))
    with self.assertRaisesRegex(ValueError, "not reparameterisable"):
      estimators.iwae(model, tf.zeros([2, 1]), seed=tf.constant([0, 0]))


if __name__ == "__main__":
  tf.test.main()
