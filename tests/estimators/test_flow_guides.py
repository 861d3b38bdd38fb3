"""Flow guides on the linear-Gaussian model, whose posterior is a correlated
Gaussian: the IAF guide reaches log p(x), the diagonal guide cannot, and the
path-derivative estimators (DReG, STL) treat the flow's parameters correctly.
Each check is paired with a variant it must reject."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo import estimators, models, testing

tfd = tfp.distributions
Z = 4.5  # max |z| over ~10-16 components: P(false alarm) < 1e-4 under the null
# float32 rounding of log w at the exact posterior (~1e-5 per term) is far below this.
FLOAT_FLOOR = 1e-3


def _problem(guide, seed=3):
  model = models.get("linear_gaussian", input_shape=(4,), latent_size=2, guide=guide,
                     seed=seed)
  return model, model.joint().sample(16, seed=[1, 2]).x


def _fit_guide(model, x, steps=800):
  """Fits φ alone (θ frozen) by ascending the ELBO with its STL gradient."""
  optimizer = tf.keras.optimizers.Adam(0.02)

  @tf.function(autograph=False)
  def step(seed):
    with tf.GradientTape() as tape:
      loss = estimators.stl(model, x, seed=seed, num_samples=8, bound="elbo").guide_loss
    optimizer.apply_gradients(zip(tape.gradient(loss, model.guide_variables),
                                  model.guide_variables))

  seeds = tf.random.experimental.stateless_split(tf.constant([5, 5]), steps)
  for i in range(steps):
    step(seeds[i])


def _elbo_gap(log_weights, exact):
  """(mean over x of log p(x) − ELBO estimate, its Monte Carlo standard error)."""
  gap = exact - log_weights.mean(0)
  stderr = np.sqrt((log_weights.var(0, ddof=1) / len(log_weights)).sum()) / len(gap)
  return float(gap.mean()), float(stderr)


def _without_flow_log_det(model, x, seed, num_samples):
  """A broken ELBO: flow samples scored by the base density (no log-det)."""
  q = model.guide(x).sample_distributions(seed=seed)[0][0]
  eps = q.distribution.sample(num_samples, seed=seed)
  z = q.bijector.forward(eps)
  return (model.joint().log_prob(z=z, x=x) - q.distribution.log_prob(eps)).numpy()


def _gradient_fn(model, x, estimator, **options):
  def gradient(seed):
    with tf.GradientTape() as tape:
      loss = estimator(model, x, seed=seed, **options).guide_loss
    return tf.concat([tf.reshape(g, [-1])
                      for g in tape.gradient(loss, model.guide_variables)], 0)
  return gradient


def _dreg_reusing_base_noise(model, x, *, seed, num_samples):
  """A tempting shortcut that is wrong: log q at the stopped sample from the
  stopped base noise, log N(ε̄) − log|det ∂f/∂ε|(ε̄), instead of the sequential
  inverse. Its value is right; its φ-gradient misses ∂ε/∂φ at fixed z."""
  q = model.guide(x).sample_distributions(seed=seed)[0][0]
  eps = q.distribution.sample(num_samples, seed=seed)
  z = q.bijector.forward(eps)
  log_q = q.distribution.log_prob(eps) - q.bijector.forward_log_det_jacobian(eps, 1)
  name = model.latent_names[0]
  log_w = model.joint().log_prob(**{name: z, "x": x}) - log_q
  stopped = tf.stop_gradient(eps)
  log_q_stopped = (q.distribution.log_prob(stopped)
                   - q.bijector.forward_log_det_jacobian(stopped, 1))
  w2 = tf.stop_gradient(tf.nn.softmax(log_w, axis=0) ** 2)
  loss = -tf.reduce_mean(tf.reduce_sum(w2 * (log_w + log_q_stopped), 0))
  return estimators.Objectives(loss, loss, {})


def _iwae_dreg_and_shortcut_draws(model, x, seed, n=300):
  """φ-gradient replicates of IWAE, DReG and the base-noise shortcut, K = 10."""
  return {name: testing.replicate(_gradient_fn(model, x, fn, num_samples=10), n,
                                  seed=(seed, i))
          for i, (name, fn) in enumerate((("iwae", estimators.iwae),
                                          ("dreg", estimators.dreg),
                                          ("shortcut", _dreg_reusing_base_noise)))}


def _max_abs_z(draws, a, b):
  """max over gradient components of |mean_a − mean_b| / SE, from replicates;
  components constant in both (masked MADE weights) must agree exactly."""
  n = len(draws[a])
  stderr = np.sqrt(draws[a].var(0, ddof=1) / n + draws[b].var(0, ddof=1) / n)
  difference = np.abs(draws[a].mean(0) - draws[b].mean(0))
  constant = stderr == 0
  np.testing.assert_array_equal(difference[constant], np.zeros(constant.sum()))
  return np.max(difference[~constant] / stderr[~constant])


def _perturb_flow(model):
  rng = np.random.default_rng(0)
  for v in model.guide_flow.trainable_variables:
    v.assign(v + 0.3 * rng.normal(size=v.shape).astype(np.float32))


class FlowGuideTest(tf.test.TestCase):

  @pytest.mark.slow  # fits two guides, then 2000 weights each
  def test_iaf_guide_reaches_log_px_where_the_diagonal_guide_cannot(self):
    num_samples = 2000
    gaps = {}
    for guide in ("iaf", "diagonal"):
      model, x = _problem(guide)
      _fit_guide(model, x)
      weights = estimators.importance_log_weights(model, x, seed=tf.constant([9, 9]),
                                                  num_samples=num_samples).log_weights
      gaps[guide] = _elbo_gap(weights.numpy(), model.exact_log_likelihood(x).numpy())
      if guide == "iaf":
        broken = _elbo_gap(_without_flow_log_det(model, x, tf.constant([9, 9]), num_samples),
                           model.exact_log_likelihood(x).numpy())
    gap, stderr = gaps["iaf"]
    self.assertLess(abs(gap), max(3 * stderr, FLOAT_FLOOR))
    gap, stderr = gaps["diagonal"]
    self.assertGreater(gap, max(10 * stderr, 0.05))  # KL to the best diagonal Gaussian
    # Power: the same flow scored without its log-determinant is far off.
    self.assertGreater(abs(broken[0]), 10 * max(broken[1], FLOAT_FLOOR))

  @pytest.mark.slow  # 3 x 300 replicates through the flow
  def test_dreg_with_an_iaf_guide_has_the_iwae_mean_and_lower_variance(self):
    model, x = _problem("iaf")
    _perturb_flow(model)
    draws = _iwae_dreg_and_shortcut_draws(model, x, seed=6)
    z = lambda a, b: _max_abs_z(draws, a, b)
    self.assertLess(z("dreg", "iwae"), Z)
    self.assertLess(draws["dreg"].var(0).sum(), 0.7 * draws["iwae"].var(0).sum())
    # Power: re-using the base noise at the stopped sample changes the mean.
    self.assertGreater(z("shortcut", "iwae"), Z)

  @pytest.mark.slow  # 3 x 300 replicates through a VAE's context flow
  def test_dreg_with_a_context_iaf_guide_has_the_iwae_mean(self):
    # The VAE's IAF takes the encoder's context h: DReG's φ-gradient (the flow's
    # and the encoder's, through h) has the IWAE gradient's mean.
    model = models.get("vae", input_shape=(3, 3, 1), hidden_sizes=(8,), latent_sizes=(3,),
                       guide="iaf", seed=2)
    self.assertTrue(model.iaf_context)
    rng = np.random.default_rng(0)
    for v in model.guide_flows[0].trainable_variables:
      v.assign(v + 0.3 * rng.normal(size=v.shape).astype(np.float32))
    x = tf.cast(tf.random.stateless_uniform([6, 3, 3, 1], seed=[1, 2]) < 0.5, tf.float32)
    draws = _iwae_dreg_and_shortcut_draws(model, x, seed=7)
    z = lambda a, b: _max_abs_z(draws, a, b)
    # ~300 components: P(max |z| > 5 | unbiased) < 2e-4.
    self.assertLess(z("dreg", "iwae"), 5.0)
    self.assertGreater(z("shortcut", "iwae"), 5.0)  # power

  def test_stl_is_zero_at_the_exact_posterior_with_an_iaf_guide(self):
    # Only a surrogate that holds z fixed while φ moves (the sequential inverse)
    # has a zero path derivative where q = p(z | x).
    model, x = _problem("iaf")
    model.set_guide_to_exact_posterior()
    draws = testing.replicate(_gradient_fn(model, x, estimators.stl, num_samples=3,
                                           bound="elbo"), 5)
    self.assertAllClose(draws, np.zeros_like(draws), atol=2e-3)
    shortcut = testing.replicate(_gradient_fn(model, x, _dreg_reusing_base_noise,
                                              num_samples=3), 5)
    self.assertGreater(np.abs(shortcut).max(), 0.05)

  def test_every_reparameterised_estimator_trains_an_iaf_guide(self):
    model, x = _problem("iaf")
    _perturb_flow(model)
    for name, options in (("elbo", {}), ("iwae", {}), ("miwae", {}), ("ciwae", {}),
                          ("piwae", {}), ("dreg", {}), ("stl", {}), ("rws", {"dreg": True})):
      _, theta, phi = testing.estimator_gradients(estimators.get(name), model, x,
                                                  seed=tf.constant([1, 1]), num_samples=4,
                                                  **options)
      self.assertEmpty(testing.gradient_problems(model, theta, phi), name)


if __name__ == "__main__":
  tf.test.main()
