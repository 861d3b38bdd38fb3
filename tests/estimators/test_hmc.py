"""The HMC-refined estimator (Hoffman 2017) on the linear-Gaussian model: with a
poor guide, its θ-gradient is the exact ∇θ log p(x) within Monte Carlo error,
while the same estimator without refinement (the guide's samples) is not."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo import estimators, testing
from tfp_zoo.estimators import base

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
    bound = estimators.bind("hmc", num_samples=4, step_size=5.0, num_hmc_steps=2,
                            adaptation_rate=0.1)
    state = bound.init(model)
    step = tf.function(lambda seed: bound(model, x, seed=seed, state=state)
                       .metrics["accept_rate"], autograph=False)
    rates = [float(step(tf.constant([i, 0]))) for i in range(60)]
    self.assertLess(np.mean(rates[:5]), 0.4)  # a step of 5 is far too large
    self.assertLess(float(state.step_size), 2.0)  # ... so it shrank
    self.assertGreater(np.mean(rates[-10:]), np.mean(rates[:5]))
    self.assertEqual(sorted(v.name for v in state.variables),
                     ["log_step_size:0", "num_updates:0"])
    self.assertEqual(float(state.num_updates), 60.)
    legacy = estimators.bind("hmc", adaptation_decay=0.0).init(model)
    self.assertEqual([v.name for v in legacy.variables], ["log_step_size:0"])

  def _settle(self, **options):
    """Mean accept rate and mean |Δ log ε| per step over the last 100 of 1000."""
    model, x = testing.linear_gaussian_problem()
    bound = estimators.bind("hmc", num_samples=4, step_size=0.1, **options)
    state = bound.init(model)
    step = tf.function(lambda seed: (bound(model, x, seed=seed, state=state)
                                     .metrics["accept_rate"], state.log_step_size * 1.),
                       autograph=False)
    rates, log_steps = zip(*[[float(v) for v in step(tf.constant([i, 7]))]
                             for i in range(1000)])
    return np.mean(rates[-100:]), np.mean(np.abs(np.diff(log_steps[-101:])))

  @pytest.mark.slow  # 3 x 1000 training steps, ~25 s
  def test_step_size_settles(self):
    # The default gain, and a 10x larger one, both decaying: the acceptance
    # rate reaches the target and ε stops moving (per-step changes < 1%).
    for options in ({}, {"adaptation_rate": 0.5}):
      accept, change = self._settle(**options)
      self.assertAlmostEqual(accept, 0.65, delta=0.05, msg=str(options))
      self.assertLess(change, 0.01, msg=str(options))
    # A constant gain that large (the rule before the decay) keeps ε jumping
    # with every batch's acceptance: caught.
    _, change = self._settle(adaptation_rate=0.5, adaptation_decay=0.0)
    self.assertGreater(change, 0.01)

  def test_accept_rate_averages_every_transition(self):
    model, x = testing.linear_gaussian_problem()
    model.set_guide_to_exact_posterior()
    model.guide_bias.assign_add([3., -3.])  # early transitions differ from late ones
    seed = tf.constant([4, 5])
    options = dict(num_samples=3, num_hmc_steps=6, num_leapfrog_steps=2, step_size=0.6,
                   adapt_step_size=False)
    reported = float(estimators.hmc(model, x, seed=seed, **options).metrics["accept_rate"])
    # The same chains, from the same seeds, traced by hand.
    guide_seed, chain_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    weights = base.importance_log_weights(model, x, seed=guide_seed, num_samples=3,
                                          guide=model.guide(x))
    joint, names = model.joint(), base.latent_names(model.joint())
    def target(*z):
      values = {**dict(zip(names, z)), "x": x}
      return joint.log_prob([values[n] for n in base.as_named(joint.dtype)])
    kernel = tfp.mcmc.TransformedTransitionKernel(
        tfp.mcmc.HamiltonianMonteCarlo(target, step_size=0.6, num_leapfrog_steps=2),
        bijector=base.latent_space_bijectors(model, "hmc"))
    _, accepted = tfp.mcmc.sample_chain(
        num_results=6, num_burnin_steps=0, kernel=kernel, seed=chain_seed,
        current_state=[weights.latents[n] for n in names],
        trace_fn=lambda _, r: tf.exp(tf.minimum(r.inner_results.log_accept_ratio, 0.)))
    per_transition = tf.reduce_mean(accepted, axis=list(range(1, accepted.shape.rank)))
    self.assertAllClose(reported, float(tf.reduce_mean(per_transition)), rtol=1e-5)
    # Not the last transition's rate (what it reported before), which differs here.
    self.assertGreater(abs(reported - float(per_transition[-1])), 0.05)

  def test_without_refinement_there_is_no_accept_rate(self):
    model, x = testing.linear_gaussian_problem()
    metrics = estimators.hmc(model, x, seed=tf.constant([0, 0]), num_hmc_steps=0,
                             adapt_step_size=False).metrics
    self.assertNotIn("accept_rate", metrics)
    self.assertIn("log_joint_refined", metrics)

  def test_refusals_are_clear(self):
    model, x = testing.linear_gaussian_problem()
    with self.assertRaisesRegex(ValueError, "hmc: adapt_step_size=True needs state"):
      estimators.hmc(model, x, seed=tf.constant([0, 0]))
    with self.assertRaisesRegex(ValueError, "hmc: step_size=-1.0 must be a positive"):
      estimators.hmc(model, x, seed=tf.constant([0, 0]), step_size=-1.0,
                     adapt_step_size=False)
    for option, value, allowed in (
        ("target_accept_rate", 0.0, r"in \(0, 1\)"),
        ("target_accept_rate", 1.0, r"in \(0, 1\)"),
        ("target_accept_rate", 1.5, r"in \(0, 1\)"),
        ("adaptation_rate", 0.0, "positive finite"),
        ("adaptation_rate", -0.1, "positive finite"),
        ("adaptation_decay", 1.5, r"in \[0, 1\]"),
        ("adaptation_decay", -0.5, r"in \[0, 1\]")):
      with self.assertRaisesRegex(ValueError, f"hmc: {option}={value!r} must be .*{allowed}"):
        estimators.hmc(model, x, seed=tf.constant([0, 0]), **{option: value},
                       state=estimators.bind("hmc").init(model))
      with self.assertRaisesRegex(ValueError, f"hmc: {option}={value!r} must be"):
        estimators.bind("hmc", **{option: value}).init(model)
    with self.assertRaisesRegex(ValueError, "^hmc: num_hmc_steps=-1 must be an integer >= 0$"):
      estimators.hmc(model, x, seed=tf.constant([0, 0]), num_hmc_steps=-1,
                     adapt_step_size=False)


if __name__ == "__main__":
  tf.test.main()
