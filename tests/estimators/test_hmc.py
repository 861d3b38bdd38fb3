"""The HMC-refined estimator (Hoffman 2017) on the linear-Gaussian model: with a
poor guide, its θ-gradient is the exact ∇θ log p(x) within Monte Carlo error,
while the same estimator without refinement (the guide's samples) is not."""

import numpy as np
import pytest
import tensorflow as tf

from tfp_zoo import estimators, testing

Z = 4.0  # over the 4 × 2 + 4 + 4 = 16 components of θ's gradient, 40 replicates


def _poor_guide_problem():
  model, x = testing.linear_gaussian_problem()
  model.set_guide_to_exact_posterior()
  model.guide_bias.assign_add([1.5, -1.0])  # far from the posterior's mean
  return model, x


def _exact_gradient(model, x):
  with tf.GradientTape() as tape:
    loss = -tf.reduce_mean(model.exact_log_likelihood(x))
  return np.concatenate([g.numpy().ravel() for g in tape.gradient(
      loss, model.generative_variables)])


def _gradients(model, x, num_hmc_steps):
  def one(seed):
    _, theta_grads, _ = testing.estimator_gradients(
        estimators.hmc, model, x, seed=seed, num_samples=8, num_hmc_steps=num_hmc_steps,
        num_leapfrog_steps=3, step_size=0.1, adapt_step_size=False)
    return tf.concat([tf.reshape(g, [-1]) for g in theta_grads], 0)
  return testing.replicate(one, 40)


class HmcTest(tf.test.TestCase):

  @pytest.mark.slow  # statistical, ~30-60 s: .ci/run's second step
  def test_refined_samples_give_the_exact_generative_gradient(self):
    model, x = _poor_guide_problem()
    exact = _exact_gradient(model, x)
    # Short trajectories (0.3, under half the posterior's period) mix without
    # the oscillation that a trajectory near half a period shows.
    refined = _gradients(model, x, num_hmc_steps=60)
    self.assertLess(testing.max_abs_z_score(refined, exact), Z)
    # Without refinement the poor guide's samples bias the gradient: caught.
    unrefined = _gradients(model, x, num_hmc_steps=0)
    self.assertGreater(testing.max_abs_z_score(unrefined, exact), 3 * Z)
    # ... and the refined gradient is closer to the exact one.
    error = lambda g: float(np.linalg.norm(g.mean(0) - exact))
    self.assertLess(error(refined), 0.5 * error(unrefined))

  def test_step_size_adapts_toward_the_target_rate_and_is_state(self):
    model, x = testing.linear_gaussian_problem()
    bound = estimators.bind("hmc", num_samples=4, step_size=5.0, num_hmc_steps=2)
    state = bound.init(model)
    step = tf.function(lambda seed: bound(model, x, seed=seed, state=state)
                       .metrics["accept_rate"], autograph=False)
    rates = [float(step(tf.constant([i, 0]))) for i in range(60)]
    self.assertLess(np.mean(rates[:5]), 0.4)  # a step of 5 is far too large
    self.assertLess(float(state.step_size), 2.0)  # ... so it shrank
    self.assertGreater(np.mean(rates[-10:]), np.mean(rates[:5]))
    self.assertEqual([v.name for v in state.variables], ["log_step_size:0"])

  def test_refusals_are_clear(self):
    model, x = testing.linear_gaussian_problem()
    with self.assertRaisesRegex(ValueError, "hmc: adapt_step_size=True needs state"):
      estimators.hmc(model, x, seed=tf.constant([0, 0]))
    with self.assertRaisesRegex(ValueError, "hmc: step_size=-1.0 must be a positive"):
      estimators.hmc(model, x, seed=tf.constant([0, 0]), step_size=-1.0,
                     adapt_step_size=False)


if __name__ == "__main__":
  tf.test.main()
