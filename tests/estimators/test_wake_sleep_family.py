"""Wake-sleep, RWS, DReG, STL, VIMCO and the IWAE relatives against exact
linear-Gaussian gradients. Each check is paired with a variant it must reject."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from absl.testing import parameterized

from tfp_zoo import estimators, testing, training

tfd = tfp.distributions
Z = 4.5  # max |z| over ~10-16 components: P(false alarm) < 1e-4 under the null


def _flat(grads):
  return tf.concat([tf.reshape(g, [-1]) for g in grads], 0)


def _gradient_fn(model, x, estimator, group, **options):
  variables = model.generative_variables if group == "theta" else model.guide_variables

  def gradient(seed):
    with tf.GradientTape() as tape:
      objectives = estimator(model, x, seed=seed, **options)
      loss = objectives.generative_loss if group == "theta" else objectives.guide_loss
    return _flat(tape.gradient(loss, variables))

  return gradient


def _exact_theta_gradient(model, x):
  with tf.GradientTape() as tape:
    loss = -tf.reduce_mean(model.exact_log_likelihood(x))
  return _flat(tape.gradient(loss, model.generative_variables)).numpy()


def _exact_kl_gradient(model, x, reverse=False):
  """∇φ mean_b KL(p(z|x) ‖ q_φ(z|x)), the wake-φ target; with `reverse`,
  ∇φ mean_b KL(q_φ(z|x) ‖ p(z|x)) = ∇φ(−ELBO), the ELBO's guide target."""
  posterior = model.exact_posterior(x)
  posterior = tfd.MultivariateNormalTriL(tf.stop_gradient(posterior.loc),
                                         tf.stop_gradient(posterior.scale.to_dense()))
  with tf.GradientTape() as tape:
    q = model.guide(x).sample_distributions(seed=[0, 0])[0][0]
    kl = tf.reduce_mean(tfd.kl_divergence(q, posterior) if reverse
                        else tfd.kl_divergence(posterior, q))
  return _flat(tape.gradient(kl, model.guide_variables)).numpy()


def _rws_normalised_over_the_batch(model, x, *, seed, num_samples):
  """A deliberately wrong RWS θ-update: one softmax over particles *and*
  examples (rescaled by the batch size, so equal examples are unaffected)."""
  w = estimators.importance_log_weights(model, x, seed=seed, num_samples=num_samples,
                                        stop_latents=True)
  flat = tf.nn.softmax(tf.reshape(tf.stop_gradient(w.log_weights), [-1]))
  normalized = tf.reshape(flat, tf.shape(w.log_weights)) * tf.cast(tf.shape(x)[0], tf.float32)
  loss = -tf.reduce_mean(tf.reduce_sum(normalized * w.log_joint, axis=0))
  return estimators.Objectives(loss, loss, {})


def _error(values, exact):
  return float(np.linalg.norm(values.mean(0) - exact))


class RwsTest(tf.test.TestCase, parameterized.TestCase):

  def test_wake_theta_converges_to_the_exact_gradient(self):
    model, x = testing.linear_gaussian_problem()
    exact = _exact_theta_gradient(model, x)
    draws = {k: testing.replicate(_gradient_fn(model, x, estimators.rws, "theta",
                                               num_samples=k), 30, seed=(k, 1))
             for k in (1, 10, 1000)}
    errors = [_error(draws[k], exact) for k in (1, 10, 1000)]
    self.assertGreater(errors[0], errors[1])
    self.assertGreater(errors[1], errors[2])
    self.assertGreater(testing.max_abs_z_score(draws[1], exact), Z)  # K=1 is biased
    self.assertLess(testing.max_abs_z_score(draws[1000], exact), Z)

  @parameterized.parameters(False, True)
  def test_wake_phi_converges_to_the_gradient_of_kl_p_q(self, dreg):
    model, x = testing.linear_gaussian_problem()
    exact = _exact_kl_gradient(model, x)
    draws = {k: testing.replicate(_gradient_fn(model, x, estimators.rws, "phi",
                                               num_samples=k, dreg=dreg), 30, seed=(k, 2))
             for k in (1, 10, 1000)}
    errors = [_error(draws[k], exact) for k in (1, 10, 1000)]
    self.assertGreater(errors[0], errors[2])
    self.assertGreater(errors[1], errors[2])
    self.assertGreater(testing.max_abs_z_score(draws[1], exact), Z)
    self.assertLess(testing.max_abs_z_score(draws[1000], exact), Z)

  def test_sleep_phi_is_zero_in_expectation_at_the_exact_posterior(self):
    model, x = testing.linear_gaussian_problem()
    model.set_guide_to_exact_posterior()
    gradient = _gradient_fn(model, x, estimators.rws, "phi", guide_update="sleep",
                            num_sleep_samples=200)
    zero = np.zeros(len(model.guide_variables[0].numpy().ravel()) + 2 + 3)
    self.assertLess(testing.max_abs_z_score(testing.replicate(gradient, 40), zero), Z)
    model.guide_bias.assign_add([0.5, -0.5])  # power: off the posterior, it is not zero
    self.assertGreater(testing.max_abs_z_score(testing.replicate(gradient, 40), zero), Z)

  def test_mixture_is_the_weighted_sum(self):
    model, x = testing.linear_gaussian_problem()
    seed = tf.constant([3, 4])
    losses = {u: float(estimators.rws(model, x, seed=seed, guide_update=u,
                                      mixture_weight=0.3).guide_loss)
              for u in ("wake", "sleep", "mixture")}
    self.assertAllClose(losses["mixture"], 0.3 * losses["wake"] + 0.7 * losses["sleep"],
                        rtol=1e-5)

  def test_weights_are_normalised_per_example(self):
    model, x = testing.linear_gaussian_problem()
    # Duplicating the batch must not change the per-example update: weights are
    # normalised over particles only, never across the minibatch.
    gradient = _gradient_fn(model, x, estimators.rws, "theta", num_samples=4)
    doubled = _gradient_fn(model, tf.concat([x, x], 0), estimators.rws, "theta",
                           num_samples=4)
    single = testing.replicate(gradient, 200).mean(0)
    double = testing.replicate(doubled, 100).mean(0)
    self.assertAllClose(single, double, atol=0.15 * np.abs(single).max())

  def test_two_very_different_examples_each_get_their_own_posterior_expectation(self):
    # x_far lies ~30 nats below x_near in log p(x): weights normalised across
    # the minibatch would give its particles almost no weight. With the guide
    # at the exact posterior, per-example weights are 1/K and the wake-θ update
    # (1/K) Σ_k ∇θ log p(x_b, z_k), z_k ~ p(z|x_b), is unbiased for ∇θ log p(x_b)
    # (Fisher's identity) for any K: the tolerance is Monte Carlo error alone.
    model, x = testing.linear_gaussian_problem(batch_size=1)
    x = tf.concat([x, x + 8.0], 0)
    log_px = model.exact_log_likelihood(x).numpy()
    self.assertGreater(log_px[0] - log_px[1], 20.0)
    model.set_guide_to_exact_posterior()
    exact = _exact_theta_gradient(model, x)
    rws = testing.replicate(_gradient_fn(model, x, estimators.rws, "theta", num_samples=10),
                            100, seed=(8, 1))
    self.assertLess(testing.max_abs_z_score(rws, exact), Z)
    # Power: the batch-normalised update follows x_near alone.
    wrong = testing.replicate(_gradient_fn(model, x, _rws_normalised_over_the_batch, "theta",
                                           num_samples=10), 100, seed=(8, 1))
    self.assertGreater(testing.max_abs_z_score(wrong, exact), 10 * Z)

  def test_bad_options(self):
    model, x = testing.linear_gaussian_problem()
    with self.assertRaisesRegex(ValueError, "^rws: guide_update='dream' must be one of 'wake'"):
      estimators.rws(model, x, seed=tf.constant([0, 0]), guide_update="dream")
    with self.assertRaisesRegex(ValueError, "mixture_weight=2"):
      estimators.rws(model, x, seed=tf.constant([0, 0]), mixture_weight=2.0)


class WakeSleepTest(tf.test.TestCase):

  def test_wake_theta_is_exact_at_the_exact_posterior(self):
    model, x = testing.linear_gaussian_problem()
    model.set_guide_to_exact_posterior()
    exact = _exact_theta_gradient(model, x)
    gradient = _gradient_fn(model, x, estimators.wake_sleep, "theta", num_samples=10)
    self.assertLess(testing.max_abs_z_score(testing.replicate(gradient, 30), exact), Z)
    model.guide_bias.assign_add([0.7, -0.7])
    self.assertGreater(testing.max_abs_z_score(testing.replicate(gradient, 30), exact), Z)

  def test_sleep_moves_the_guide_towards_the_posterior(self):
    model, x = testing.linear_gaussian_problem()
    kl = lambda: float(tf.reduce_mean(tfd.kl_divergence(
        model.exact_posterior(x), model.guide(x).sample_distributions(seed=[0, 0])[0][0])))
    before = kl()
    optimizer = training.make_optimizer(0.02, model.guide_variables)

    @tf.function(autograph=False)
    def step(seed):
      with tf.GradientTape() as tape:
        loss = estimators.wake_sleep(model, x, seed=seed, num_sleep_samples=256).guide_loss
      optimizer.apply_gradients(zip(tape.gradient(loss, model.guide_variables),
                                    model.guide_variables))

    seeds = tf.random.experimental.stateless_split(tf.constant([5, 5]), 300)
    for i in range(300):
      step(seeds[i])
    self.assertLess(kl(), 0.2 * before)


class PathDerivativeTest(tf.test.TestCase):

  def test_dreg_has_the_iwae_mean_and_lower_variance(self):
    model, x = testing.linear_gaussian_problem()
    iwae = testing.replicate(_gradient_fn(model, x, estimators.iwae, "phi",
                                          num_samples=10), 200, seed=(1, 1))
    dreg = testing.replicate(_gradient_fn(model, x, estimators.dreg, "phi",
                                          num_samples=10), 200, seed=(2, 2))
    difference = iwae.mean(0) - dreg.mean(0)
    stderr = np.sqrt(iwae.var(0, ddof=1) / 200 + dreg.var(0, ddof=1) / 200)
    self.assertLess(np.max(np.abs(difference) / stderr), Z)
    self.assertLess(dreg.var(0).sum(), 0.7 * iwae.var(0).sum())
    # Power: the same comparison tells an ELBO gradient (a different mean) apart.
    elbo = testing.replicate(_gradient_fn(model, x, estimators.elbo, "phi",
                                          num_samples=10), 200, seed=(3, 3))
    stderr = np.sqrt(iwae.var(0, ddof=1) / 200 + elbo.var(0, ddof=1) / 200)
    self.assertGreater(np.max(np.abs(iwae.mean(0) - elbo.mean(0)) / stderr), Z)

  def test_dreg_theta_update_is_the_iwae_update(self):
    model, x = testing.linear_gaussian_problem()
    seed = tf.constant([7, 7])
    a = _gradient_fn(model, x, estimators.dreg, "theta", num_samples=5)(seed)
    b = _gradient_fn(model, x, estimators.iwae, "theta", num_samples=5)(seed)
    self.assertAllClose(a, b, rtol=1e-5, atol=1e-6)

  def test_stl_has_zero_variance_at_the_exact_posterior(self):
    model, x = testing.linear_gaussian_problem()
    model.set_guide_to_exact_posterior()
    for bound in ("elbo", "iwae"):
      draws = testing.replicate(_gradient_fn(model, x, estimators.stl, "phi",
                                             num_samples=3, bound=bound), 5)
      self.assertAllClose(draws, np.zeros_like(draws), atol=1e-4)
    # The plain reparameterised ELBO gradient is not zero there (score term).
    draws = testing.replicate(_gradient_fn(model, x, estimators.elbo, "phi",
                                           num_samples=3), 5)
    self.assertGreater(np.abs(draws).max(), 1e-2)

  def test_stl_elbo_is_unbiased_for_the_elbo_gradient_away_from_the_posterior(self):
    # At the exact posterior STL's φ-gradient is 0 for any sign; away from it,
    # bound='elbo' must average to the exact ∇φ(−ELBO) = ∇φ KL(q ‖ p(z|x)).
    model, x = testing.linear_gaussian_problem()
    model.guide_bias.assign_add([0.5, -0.5])  # further off the posterior
    exact = _exact_kl_gradient(model, x, reverse=True)
    n = 200
    stl = testing.replicate(_gradient_fn(model, x, estimators.stl, "phi", num_samples=4,
                                         bound="elbo"), n, seed=(4, 1))
    self.assertLess(testing.max_abs_z_score(stl, exact), Z)
    # The exact target is right: the reparameterised ELBO gradient agrees.
    elbo = testing.replicate(_gradient_fn(model, x, estimators.elbo, "phi", num_samples=4),
                             n, seed=(4, 2))
    self.assertLess(testing.max_abs_z_score(elbo, exact), Z)
    # Power: the sign-flipped STL is refused by a wide margin.
    self.assertGreater(testing.max_abs_z_score(-stl, exact), 10 * Z)
    self.assertGreater(np.linalg.norm(exact), 0.5)

  def test_stl_iwae_is_biased_for_the_iwae_gradient(self):
    # As the docstring says (Tucker et al. 2019): with K > 1, STL's IWAE
    # weights w̃_k leave a dropped score term of non-zero mean; DReG (w̃_k²) does not.
    model, x = testing.linear_gaussian_problem()
    n = 200
    draws = {name: testing.replicate(_gradient_fn(model, x, estimators.get(name), "phi",
                                                  num_samples=10, **options), n,
                                     seed=(5, i))
             for i, (name, options) in enumerate((("iwae", {}), ("dreg", {}),
                                                  ("stl", dict(bound="iwae"))))}
    def z(a, b):
      stderr = np.sqrt(draws[a].var(0, ddof=1) / n + draws[b].var(0, ddof=1) / n)
      return np.max(np.abs(draws[a].mean(0) - draws[b].mean(0)) / stderr)
    self.assertLess(z("dreg", "iwae"), Z)
    self.assertGreater(z("stl", "iwae"), Z)


class RelativesTest(tf.test.TestCase):

  def test_identities_on_shared_samples(self):
    model, x = testing.linear_gaussian_problem()
    seed = tf.constant([1, 9])
    value = lambda e, metric, **o: float(e(model, x, seed=seed, **o).metrics[metric])
    self.assertAllClose(value(estimators.ciwae, "ciwae", num_samples=6, beta=1.0),
                        value(estimators.elbo, "elbo", num_samples=6), rtol=1e-6)
    self.assertAllClose(value(estimators.ciwae, "ciwae", num_samples=6, beta=0.0),
                        value(estimators.iwae, "iwae", num_samples=6), rtol=1e-6)
    self.assertAllClose(value(estimators.miwae, "miwae", num_samples=6, num_groups=1),
                        value(estimators.iwae, "iwae", num_samples=6), rtol=1e-6)
    self.assertAllClose(value(estimators.miwae, "miwae", num_samples=1, num_groups=6),
                        value(estimators.elbo, "elbo", num_samples=6), rtol=1e-6)
    piwae = estimators.piwae(model, x, seed=seed, num_samples=3, num_groups=2)
    self.assertAllClose(piwae.generative_loss,
                        estimators.iwae(model, x, seed=seed, num_samples=6).generative_loss)
    self.assertAllClose(piwae.guide_loss, estimators.miwae(
        model, x, seed=seed, num_samples=3, num_groups=2).generative_loss)

  def test_miwae_is_between_elbo_and_iwae(self):
    model, x = testing.linear_gaussian_problem()
    mean = lambda e, **o: testing.mean_and_stderr(testing.replicate(
        lambda s: -e(model, x, seed=s, **o).generative_loss, 100))
    elbo, _ = mean(estimators.elbo, num_samples=20)
    (miwae, se), iwae = mean(estimators.miwae, num_samples=5, num_groups=4), \
        mean(estimators.iwae, num_samples=20)[0]
    self.assertLess(elbo, miwae - 3 * se)
    self.assertLess(miwae, iwae - 3 * se)


class VimcoTest(tf.test.TestCase):

  def test_guide_gradient_is_unbiased_for_the_iwae_gradient(self):
    model, x = testing.linear_gaussian_problem()
    n = 300
    iwae = testing.replicate(_gradient_fn(model, x, estimators.iwae, "phi",
                                          num_samples=5), n, seed=(1, 1))
    vimco = testing.replicate(_gradient_fn(model, x, estimators.vimco, "phi",
                                           num_samples=5), n, seed=(2, 2))
    stderr = np.sqrt(iwae.var(0, ddof=1) / n + vimco.var(0, ddof=1) / n)
    self.assertLess(np.max(np.abs(iwae.mean(0) - vimco.mean(0)) / stderr), Z)
    # Power: dropping the leave-one-out baseline's learning signal is caught.
    def no_signal(model, x, *, seed, num_samples):
      w = estimators.importance_log_weights(model, x, seed=seed, num_samples=num_samples,
                                            stop_latents=True)
      loss = -tf.reduce_mean(tfp.math.reduce_logmeanexp(w.log_weights, axis=0))
      return estimators.Objectives(loss, loss, {})
    wrong = testing.replicate(_gradient_fn(model, x, no_signal, "phi", num_samples=5), n)
    stderr = np.sqrt(iwae.var(0, ddof=1) / n + wrong.var(0, ddof=1) / n)
    self.assertGreater(np.max(np.abs(iwae.mean(0) - wrong.mean(0)) / stderr), Z)

  def test_needs_two_samples(self):
    model, x = testing.linear_gaussian_problem()
    with self.assertRaisesRegex(ValueError, "^vimco: num_samples=1 must be an integer >= 2$"):
      estimators.vimco(model, x, seed=tf.constant([0, 0]), num_samples=1)


if __name__ == "__main__":
  tf.test.main()
