"""The generic train step: it learns, applies each loss to its own group, compiles."""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tfp_zoo import estimators, models, training


def _data():
  truth = models.LinearGaussian((4,), latent_size=2, seed=7)
  return truth, truth.joint().sample(256, seed=[0, 1]).x


class TrainStepTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(("elbo", False), ("iwae", False), ("iwae", True))
  def test_training_raises_the_exact_log_likelihood(self, estimator, jit_compile):
    truth, x = _data()
    model = models.LinearGaussian((4,), latent_size=2, seed=1)
    before = float(tf.reduce_mean(model.exact_log_likelihood(x)))
    step = training.make_train_step(
        model, estimators.get(estimator),
        training.make_optimizer(0.05, model.generative_variables),
        training.make_optimizer(0.05, model.guide_variables),
        jit_compile=jit_compile, num_samples=5)
    for i in range(300):
      metrics = step(x, tf.constant(i, tf.int64))
    after = float(tf.reduce_mean(model.exact_log_likelihood(x)))
    best = float(tf.reduce_mean(truth.exact_log_likelihood(x)))
    self.assertTrue(np.isfinite(float(metrics["generative_loss"])))
    # From far below to within 0.5 nats/example of the data-generating model.
    self.assertLess(before, best - 2.0)
    self.assertGreater(after, best - 0.5)

  @parameterized.parameters("none", "sleep")
  def test_alws_learns_without_a_guide_and_can_train_one_on_its_dreams(self, guide_update):
    truth, x = _data()
    model = models.LinearGaussian((4,), latent_size=2, seed=1)
    before = float(tf.reduce_mean(model.exact_log_likelihood(x)))
    phi0 = [v.numpy() for v in model.guide_variables]
    step = training.make_train_step(
        model, estimators.alws, training.make_optimizer(0.05, model.generative_variables),
        training.make_optimizer(0.05, model.guide_variables), num_sleep_samples=400,
        num_features=200, guide_update=guide_update)
    for i in range(150):
      step(x, tf.constant(i, tf.int64))
    after = float(tf.reduce_mean(model.exact_log_likelihood(x)))
    best = float(tf.reduce_mean(truth.exact_log_likelihood(x)))
    self.assertLess(before, best - 2.0)
    self.assertGreater(after, best - 0.5)
    moved = [not np.allclose(a, v.numpy()) for a, v in zip(phi0, model.guide_variables)]
    self.assertEqual(any(moved), guide_update == "sleep")

  def test_separate_losses_update_separate_groups(self):
    model = models.LinearGaussian((4,), latent_size=2, seed=1)
    _, x = _data()

    def theta_only(model, x, *, seed, num_samples):
      objectives = estimators.elbo(model, x, seed=seed, num_samples=num_samples)
      # θ follows the ELBO; φ's loss is a constant, so φ must not move.
      return estimators.Objectives(objectives.generative_loss,
                                   tf.constant(0.0) * objectives.guide_loss, {})

    theta0 = [v.numpy() for v in model.generative_variables]
    phi0 = [v.numpy() for v in model.guide_variables]
    step = training.make_train_step(
        model, theta_only, training.make_optimizer(0.01, model.generative_variables),
        training.make_optimizer(0.01, model.guide_variables), num_samples=2)
    step(x, tf.constant(0, tf.int64))
    for before, v in zip(theta0, model.generative_variables):
      self.assertNotAllClose(before, v)
    for before, v in zip(phi0, model.guide_variables):
      self.assertAllClose(before, v)

  def test_step_seed_is_a_function_of_seed_and_step(self):
    a = training.step_seed(3, tf.constant(5))
    self.assertAllEqual(a, training.step_seed(3, tf.constant(5)))
    self.assertNotAllEqual(a, training.step_seed(3, tf.constant(6)))
    self.assertNotAllEqual(a, training.step_seed(4, tf.constant(5)))

  def test_guide_optimizer_is_required_when_there_is_a_guide(self):
    model = models.LinearGaussian((4,))
    with self.assertRaisesRegex(ValueError, "guide_optimizer"):
      training.make_train_step(model, estimators.elbo,
                               training.make_optimizer(0.1, model.generative_variables))


if __name__ == "__main__":
  tf.test.main()
