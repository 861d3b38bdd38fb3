"""The generic train step: it learns, applies each loss to its own group, compiles."""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tfp_zoo import estimators, models, testing, training


def _data():
  truth = models.LinearGaussian((4,), latent_size=2, seed=7)
  return truth, truth.joint().sample(256, seed=[0, 1]).x


class ParameterPriorTest(tf.test.TestCase):

  def test_a_parameter_prior_enters_theta_loss_divided_by_the_train_size(self):
    import tf_keras  # pylint: disable=g-import-not-at-top
    model = models.get("matrix_factorisation", input_shape=(4,), latent_size=2,
                       prior="uniform", likelihood="bernoulli", dictionary="nonnegative")
    x = model.joint().sample(8, seed=[1, 2]).x
    with self.assertRaisesRegex(ValueError, "prior on its parameters: give StepConfig\\(dataset_size=...\\)"):
      training.make_train_step(model, estimators.get("elbo"),
                               tf_keras.optimizers.legacy.SGD(1.0),
                               tf_keras.optimizers.legacy.SGD(1.0))
    seed = training.step_seed(0, tf.constant(0, tf.int64))
    theta = model.generative_variables
    with tf.GradientTape(persistent=True) as tape:
      loss = estimators.elbo(model, x, seed=seed).generative_loss
      with_prior = loss - model.parameter_log_prior() / 50.0
    before = [v.numpy() for v in theta]
    expected = [v - g for v, g in zip(before, tape.gradient(with_prior, theta))]
    without = [v - g for v, g in zip(before, tape.gradient(loss, theta))]
    step = training.make_train_step(model, estimators.get("elbo"),
                                    tf_keras.optimizers.legacy.SGD(1.0),
                                    tf_keras.optimizers.legacy.SGD(1.0), train_size=50)
    log_prior = float(model.parameter_log_prior())
    metrics = step(x, tf.constant(0, tf.int64))
    self.assertAllClose(metrics["parameter_log_prior"], log_prior)
    for variable, value in zip(theta, expected):
      self.assertAllClose(variable, value, rtol=1e-4, atol=1e-5)
    # The prior's share of the update is large enough for the test to see.
    self.assertGreater(np.abs(expected[0] - without[0]).max(), 1e-3)


# 300 steps each: the fast tier trains two (one under XLA), TFP_ZOO_FULL_PRODUCT=1 all.
LEARNING_CASES = testing.sample_product(
    [dict(estimator=e, jit_compile=j) for e, j in (("elbo", False), ("iwae", False),
                                                   ("iwae", True), ("dreg", False),
                                                   ("rws", False), ("piwae", False))],
    meets=(("jit_compile", "estimator", 1),), size=2)


class TrainStepTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(*LEARNING_CASES)
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

  @parameterized.named_parameters(*testing.sample_product(
      [dict(guide_update="none"), dict(guide_update="sleep")], size=1))
  def test_alws_learns_without_a_guide_and_can_train_one_on_its_dreams(self, guide_update):
    truth, x = _data()
    model = models.LinearGaussian((4,), latent_size=2, seed=1)
    before = float(tf.reduce_mean(model.exact_log_likelihood(x)))
    phi0 = [v.numpy() for v in model.guide_variables]
    step = training.make_train_step(
        model, estimators.alws, training.make_optimizer(0.05, model.generative_variables),
        training.make_optimizer(0.05, model.guide_variables), num_sleep_samples=400,
        num_features=200, guide_update=guide_update, ridge_every=1)
    for i in range(150):
      step(x, tf.constant(i, tf.int64))
    after = float(tf.reduce_mean(model.exact_log_likelihood(x)))
    best = float(tf.reduce_mean(truth.exact_log_likelihood(x)))
    self.assertLess(before, best - 2.0)
    self.assertGreater(after, best - 0.5)
    moved = [not np.allclose(a, v.numpy()) for a, v in zip(phi0, model.guide_variables)]
    self.assertEqual(any(moved), guide_update == "sleep")

  @parameterized.parameters("generative", "guide")
  def test_each_loss_updates_its_own_group_only(self, live):
    """Only the live loss is non-zero; its group takes Adam's first step,
    about −lr·sign(∇ loss), and the other group does not move. A step that routes
    either loss to the wrong group, or one loss to both, fails."""
    model = models.LinearGaussian((4,), latent_size=2, seed=1)
    _, x = _data()
    lr, seed = 0.01, training.step_seed(0, tf.constant(0, tf.int64))

    def one_loss_live(model, x, *, seed, num_samples):
      loss = estimators.elbo(model, x, seed=seed, num_samples=num_samples).generative_loss
      dead = tf.constant(0.0) * loss
      return (estimators.Objectives(loss, dead, {}) if live == "generative"
              else estimators.Objectives(dead, loss, {}))

    theta, phi = model.generative_variables, model.guide_variables
    moving, still = (theta, phi) if live == "generative" else (phi, theta)
    with tf.GradientTape() as tape:
      loss = estimators.elbo(model, x, seed=seed, num_samples=2).generative_loss
    # tf_keras legacy Adam's first step: lr·g / (|g| + ε/√(1−β2)), ε = 1e-7.
    expected = [v.numpy() - lr * g.numpy() / (np.abs(g.numpy()) + 1e-7 / np.sqrt(1e-3))
                for v, g in zip(moving, tape.gradient(loss, moving))]
    still0 = [v.numpy() for v in still]
    step = training.make_train_step(
        model, one_loss_live, training.make_optimizer(lr, theta),
        training.make_optimizer(lr, phi), num_samples=2)
    metrics = step(x, tf.constant(0, tf.int64))
    self.assertEqual(float(metrics[training.train_step.FINITE]), 1.0)
    for want, v in zip(expected, moving):
      self.assertAllClose(want, v, atol=1e-5)
    for before, v in zip(still0, still):
      self.assertAllEqual(before, v)

  def test_the_step_reports_non_finite_parameters(self):
    model = models.LinearGaussian((4,), latent_size=2, seed=1)
    _, x = _data()
    step = training.make_train_step(
        model, estimators.elbo, training.make_optimizer(1e38, model.generative_variables),
        training.make_optimizer(1e38, model.guide_variables), num_samples=2)
    finite = [float(step(x, tf.constant(i, tf.int64))[training.train_step.FINITE])
              for i in range(3)]
    self.assertIn(0.0, finite)

  def test_kl_warmup_passes_beta_as_a_function_of_the_step(self):
    model = models.LinearGaussian((4,), latent_size=2, seed=1)
    _, x = _data()
    step = training.make_train_step(
        model, estimators.bind("elbo", num_samples=2, beta=2.0),
        training.make_optimizer(0.01, model.generative_variables),
        training.make_optimizer(0.01, model.guide_variables), kl_warmup_steps=4)
    betas = [float(step(x, tf.constant(s, tf.int64))["beta"]) for s in (0, 1, 3, 9, 2)]
    self.assertAllClose(betas, [0.5, 1.0, 2.0, 2.0, 1.5])  # 2·min(1, (s + 1)/4)
    with self.assertRaisesRegex(ValueError, "kl_warmup_steps: estimator 'iwae' has no KL"):
      training.make_train_step(model, estimators.iwae,
                               training.make_optimizer(0.01, model.generative_variables),
                               training.make_optimizer(0.01, model.guide_variables),
                               kl_warmup_steps=4)

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
