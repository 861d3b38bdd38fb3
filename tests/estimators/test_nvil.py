"""NVIL on a model with exact answers: a Gaussian mixture whose ELBO and
2-sample IWAE bound are sums over the categorical latent, so their exact
gradients come from autodiff of the enumeration. The score-function
estimates must match them for every baseline, and the baselines must cut the
variance."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from absl.testing import parameterized

from tfp_zoo import estimators, models, testing, training
from tfp_zoo.estimators import base

NUM_REPLICATES = 400


def _problem():
  model = models.GaussianMixture((1,), num_components=5, scale=2.0, hidden_size=8, seed=4)
  # Spread-out data, some far from every component: log p(x) differs by tens
  # of nats between examples, which an input-dependent baseline can learn.
  x = tf.linspace(-14.0, 14.0, 8)[:, None]
  return model, x


def _variables(model):
  return model.generative_variables + model.guide_variables


def _exact_gradients(model, x, bound):
  """∇ of the mean exact ELBO or K=2 IWAE bound, by enumerating c (and pairs)."""
  with tf.GradientTape() as tape:
    log_q = tf.nn.log_softmax(model.guide_network(x))  # [batch, C]
    log_w = model._log_joint_all(x) - log_q  # pylint: disable=protected-access
    q = tf.exp(log_q)
    if bound == "elbo":
      value = tf.reduce_sum(q * log_w, axis=-1)
    else:
      pairs = tfp.math.log_add_exp(log_w[:, :, None], log_w[:, None, :]) - np.log(2.0)
      value = tf.reduce_sum(q[:, :, None] * q[:, None, :] * pairs, axis=[1, 2])
    loss = -tf.reduce_mean(value)
  return [g.numpy() for g in tape.gradient(loss, _variables(model))]


def _nvil_gradients(model, x, state, **options):
  def draw(seed):
    _, theta, phi = testing.estimator_gradients(estimators.nvil, model, x, seed=seed,
                                                state=state, **options)
    return list(theta) + list(phi)
  return testing.replicate(draw, NUM_REPLICATES, seed=(5, 6))


def _max_z(draws, exact):
  return max(testing.max_abs_z_score(d, e) for d, e in zip(draws, exact))


def _warm_up(model, x, state, bound, steps=300):
  """Trains the baseline (only) on the problem, as it would be during training."""
  optimizer = training.make_optimizer(0.01, state.trainable_variables)

  @tf.function(autograph=False)
  def step(seed):
    with tf.GradientTape() as tape:
      loss = estimators.nvil(model, x, seed=seed, bound=bound, num_samples=2,
                             baseline="learned" if state.network is not None else "moving_average",
                             state=state).generative_loss
    if state.trainable_variables:
      optimizer.apply_gradients(zip(tape.gradient(loss, state.trainable_variables),
                                    state.trainable_variables))
  for i in range(steps):
    step(tf.constant([i, 99]))


class NvilTest(tf.test.TestCase, parameterized.TestCase):

  # The fast tier checks each bound and each baseline once, TFP_ZOO_FULL_PRODUCT=1 all six.
  @parameterized.named_parameters(*testing.sample_product(
      [dict(bound=b, baseline=s) for b in ("elbo", "iwae")
       for s in ("none", "moving_average", "learned")],
      meets=(("bound", "baseline", 1), ("baseline", "bound", 1)), size=3))
  def test_gradients_match_the_exact_bound_gradient(self, bound, baseline):
    model, x = _problem()
    state = estimators.make_state("nvil", model, baseline=baseline)
    if state is not None:
      _warm_up(model, x, state, bound)
    draws = _nvil_gradients(model, x, state, bound=bound, baseline=baseline, num_samples=2)
    self.assertLess(_max_z(draws, _exact_gradients(model, x, bound)), 4.5)

  def test_a_gradient_without_the_score_term_is_caught(self):
    model, x = _problem()

    def no_score_term(model, x, *, seed, num_samples):
      weights = base.importance_log_weights(model, x, seed=seed, num_samples=num_samples,
                                            stop_latents=True)
      loss = -tf.reduce_mean(weights.log_weights)
      return base.Objectives(loss, loss, {})

    def draw(seed):
      _, theta, phi = testing.estimator_gradients(no_score_term, model, x, seed=seed,
                                                  num_samples=2)
      return list(theta) + list(phi)
    draws = testing.replicate(draw, NUM_REPLICATES, seed=(5, 6))
    self.assertGreater(_max_z(draws, _exact_gradients(model, x, "elbo")), 10.0)

  def test_baselines_reduce_the_guide_gradient_variance(self):
    model, x = _problem()
    num_theta = len(model.generative_variables)
    variance = {}
    for baseline in ("none", "moving_average", "learned"):
      state = estimators.make_state("nvil", model, baseline=baseline)
      if state is not None:
        _warm_up(model, x, state, "elbo")
      draws = _nvil_gradients(model, x, state, bound="elbo", baseline=baseline,
                              num_samples=2)
      variance[baseline] = sum(float(np.var(d, axis=0).sum()) for d in draws[num_theta:])
    self.assertLess(variance["moving_average"], 0.7 * variance["none"])
    self.assertLess(variance["learned"], 0.6 * variance["moving_average"])

  def test_the_moving_average_tracks_the_signal_and_is_checkpointed(self):
    model, x = _problem()
    state = estimators.make_state("nvil", model, baseline="moving_average")
    self.assertEmpty(state.trainable_variables)
    _warm_up(model, x, state, "elbo", steps=100)
    # The signal the average sees: batch means of the 2-particle ELBO.
    signals = testing.replicate(lambda seed: estimators.nvil(
        model, x, seed=seed, num_samples=2, baseline="none").metrics["elbo"], 200)
    # An exponential average with decay α of iid values has variance
    # σ²(1 − α)/(1 + α) around their mean.
    tolerance = 4 * np.std(signals) * np.sqrt((1 - state.decay) / (1 + state.decay))
    average = float(state.moving_mean / (1 - state.decay ** state.num_updates))
    self.assertNear(average, float(np.mean(signals)), tolerance)
    restored = estimators.make_state("nvil", model, baseline="moving_average")
    path = tf.train.Checkpoint(state=state).save(self.create_tempdir().full_path + "/c")
    tf.train.Checkpoint(state=restored).restore(path)
    self.assertEqual(float(restored.num_updates), 100.0)

  def test_options_are_checked_clearly(self):
    model, x = _problem()
    seed = tf.constant([0, 0])
    with self.assertRaisesRegex(ValueError, "keeps its baseline between steps: pass state="):
      estimators.nvil(model, x, seed=seed)
    with self.assertRaisesRegex(ValueError, "^nvil: baseline='mean' must be one of 'learned'"):
      estimators.nvil(model, x, seed=seed, baseline="mean")
    with self.assertRaisesRegex(ValueError, "^nvil: bound='vimco' must be one of 'elbo', 'iwae'$"):
      estimators.nvil(model, x, seed=seed, bound="vimco", baseline="none")
    with self.assertRaisesRegex(ValueError, "another baseline"):
      estimators.nvil(model, x, seed=seed, baseline="learned",
                      state=estimators.make_state("nvil", model, baseline="moving_average"))
    self.assertIsNone(estimators.make_state("nvil", model, baseline="none"))
    self.assertIsNone(estimators.make_state("iwae", model))


if __name__ == "__main__":
  tf.test.main()
