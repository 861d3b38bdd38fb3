"""Attend-infer-repeat: the exact one-step model by enumeration of presence, the
stopping structure, the estimators that train it (and those that refuse it),
mixed-latent score-function gradients, and XLA."""

import os
import statistics
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from absl.testing import parameterized

from tfp_zoo import estimators, models, testing, training
from tfp_zoo.app import export
from tfp_zoo.models import air as air_lib

Z = 4.0  # z-score bound of the statistical checks
SEED = tf.constant([0, 1])


def _one_step(**overrides):
  """One step, fixed position, linear what decoder: exact by enumeration."""
  hparams = dict(max_steps=1, fixed_position=True, decoder="linear", what_size=2,
                 window_size=4, hidden_size=8, rnn_size=8, pixel_noise=0.5, seed=3)
  hparams.update(overrides)
  model = models.get("air", input_shape=(6, 6, 1), **hparams)
  # A decoder with weight, so that present and absent canvases differ clearly.
  layer = model.decoder.layers[0]
  layer.kernel.assign(tf.random.stateless_normal(layer.kernel.shape, [4, 4]))
  layer.bias.assign(tf.fill(layer.bias.shape, 0.5))
  model.present_logits.assign([1.0])
  return model


def _small(**overrides):
  hparams = dict(max_steps=3, what_size=3, window_size=4, hidden_size=8, rnn_size=8, seed=1)
  hparams.update(overrides)
  return models.get("air", input_shape=(10, 10, 1), **hparams)


def _is_log_likelihood(model, x, num_samples, seed):
  """log p̂(x) = log mean_k w_k with the guide as proposal, and its delta-method
  standard error sd(w)/(√K·mean(w)), per example."""
  w = estimators.importance_log_weights(model, x, seed=seed, num_samples=num_samples,
                                        stop_latents=True).log_weights.numpy()
  shift = w.max(0)
  weights = np.exp(w - shift)
  estimate = np.log(weights.mean(0)) + shift
  stderr = weights.std(0, ddof=1) / (np.sqrt(num_samples) * weights.mean(0))
  return estimate, stderr


class _UnmaskedWhat(air_lib.AIR):
  """A wrong AIR: an absent object's code still counts in the joint's prior but
  not in the guide (p(x) itself integrates to the right value; the weights do
  not: joint and guide disagree on which latents exist)."""

  def joint(self):
    joint = super().joint()
    def model():
      present = yield models.Root(tfp.distributions.Bernoulli(
          logits=self.present_logits[0], dtype=tf.float32, name="present_0"))
      what = yield tfp.distributions.Independent(
          tfp.distributions.Normal(tf.zeros(self.what_size), 1.0), 1, name="what_0")
      window = self.object_window(what)
      from tfp_zoo.nn import spatial_transformer  # pylint: disable=g-import-not-at-top
      placed = spatial_transformer.place_window(window, self.boxes(None), self.canvas_shape)
      yield self._observation(1.0 - present[..., None, None] * placed)
    del joint
    return tfp.distributions.JointDistributionCoroutine(model)


class _AbsentObjectDrawn(air_lib.AIR):
  """A wrong AIR whose p(x) is wrong: an absent object is still drawn."""

  def joint(self):
    from tfp_zoo.nn import spatial_transformer  # pylint: disable=g-import-not-at-top
    def model():
      present = yield models.Root(tfp.distributions.Bernoulli(
          logits=self.present_logits[0], dtype=tf.float32, name="present_0"))
      what = yield air_lib._masked_normal(tf.zeros(self.what_size), tf.ones(self.what_size),
                                          present, "what_0")
      placed = spatial_transformer.place_window(self.object_window(what), self.boxes(None),
                                                self.canvas_shape)
      yield self._observation(1.0 - placed)  # not multiplied by present
    return tfp.distributions.JointDistributionCoroutine(model)


class OneStepExactTest(tf.test.TestCase):

  def test_exact_log_likelihood_is_the_enumeration_of_presence(self):
    model = _one_step()
    joint = model.joint()
    x = joint.sample(6, seed=[5, 5]).x
    exact = model.exact_log_likelihood(x).numpy()
    # Absent: the joint's density does not depend on the (masked) code.
    absent = joint.log_prob(present_0=tf.zeros(6), what_0=tf.random.normal([6, 2]) * 5, x=x)
    absent_again = joint.log_prob(present_0=tf.zeros(6), what_0=tf.zeros([6, 2]), x=x)
    self.assertAllClose(absent, absent_again)
    # Present: the linear-Gaussian marginal equals prior importance sampling of the
    # code, within its Monte Carlo error (delta method).
    n = 20000
    codes = tf.random.stateless_normal([n, 1, 2], [6, 6])
    present = joint.log_prob(present_0=tf.ones([n, 6]), what_0=codes, x=x)
    log_w = (present - tfp.distributions.MultivariateNormalDiag(tf.zeros(2)).log_prob(codes)
             ).numpy().astype(np.float64)
    w = np.exp(log_w - log_w.max(0))
    present_marginal = np.log(w.mean(0)) + log_w.max(0)
    estimate = np.logaddexp(absent.numpy(), present_marginal)
    share = np.exp(present_marginal - estimate)  # d estimate / d present_marginal
    # Plus float32 rounding of the two sides (sums over 36 pixels, a Cholesky):
    # 64 ulps of |log p|, the whole tolerance for images the absent term dominates.
    rounding = 64 * np.finfo(np.float32).eps * np.abs(exact)
    stderr = share * w.std(0, ddof=1) / (np.sqrt(n) * w.mean(0)) + rounding
    self.assertLess(np.max(np.abs(estimate - exact) / stderr), Z)
    # Power: the enumeration with the presence probabilities swapped is rejected.
    rho = model.present_logits[0].numpy()
    # log σ(ρ) − log σ(−ρ) = ρ: absent takes log σ(ρ), present log σ(−ρ).
    swapped = np.logaddexp(absent.numpy() + rho, present_marginal - rho)
    self.assertGreater(np.max(np.abs(swapped - exact) / stderr), 3 * Z)

  @pytest.mark.slow  # trains a guide for 500 steps, then 3 x 20,000 weights
  def test_importance_sampling_with_the_guide_agrees_with_the_enumeration(self):
    model = _one_step()
    sample = model.joint().sample(16, seed=[6, 6])
    x = sample.x
    self.assertBetween(float(tf.reduce_sum(sample.present_0)), 1, 15)  # both kinds of image
    # A sleep-trained guide (θ frozen; 500 steps, seconds): an untrained one has
    # ESS near 1, where the delta-method error is itself unreliable.
    trainer = training.Trainer(model, estimators.bind("wake_sleep", num_sleep_samples=256),
                               learning_rate=3e-3, seed=0, train_generative=False)
    for _ in range(500):
      trainer(x)
    exact = model.exact_log_likelihood(x).numpy()
    estimate, stderr = _is_log_likelihood(model, x, 20000, SEED)
    self.assertLess(np.max(np.abs(estimate - exact) / stderr), Z)
    # Power: a joint that masks differently from the guide, and one that draws
    # absent objects (a wrong p(x)), are rejected.
    for wrong_class in (_UnmaskedWhat, _AbsentObjectDrawn):
      wrong = wrong_class(input_shape=(6, 6, 1), max_steps=1, fixed_position=True,
                          decoder="linear", what_size=2, window_size=4, hidden_size=8,
                          rnn_size=8, pixel_noise=0.5, seed=3)
      for v, w in zip(model.variables, wrong.variables):
        w.assign(v)
      wrong_estimate, wrong_stderr = _is_log_likelihood(wrong, x, 20000, SEED)
      self.assertGreater(np.max(np.abs(wrong_estimate - exact) / wrong_stderr), 3 * Z,
                         wrong_class.__name__)

  def test_exact_log_likelihood_refuses_other_configurations(self):
    with self.assertRaisesRegex(ValueError, "exact_log_likelihood needs max_steps=1"):
      _small().exact_log_likelihood(tf.zeros([1, 10, 10, 1]))


class StructureTest(tf.test.TestCase):

  def test_presence_stops_and_counts_follow_the_prior(self):
    model = _small()
    model.present_logits.assign([1.0, 0.0, -1.0])
    n = 20000
    sample = model.joint().sample(n, seed=[1, 1])
    present = np.stack([sample[i * 3].numpy() for i in range(3)], 1)
    self.assertTrue(np.all(np.diff(present, axis=1) <= 0), "an object after a stop")
    counts = model.count(sample._asdict()).numpy()
    p = 1 / (1 + np.exp(-np.array([1.0, 0.0, -1.0])))
    exact = np.array([1 - p[0], p[0] * (1 - p[1]), p[0] * p[1] * (1 - p[2]), np.prod(p)])
    observed = np.bincount(counts, minlength=4) / n
    self.assertLess(np.max(np.abs(observed - exact) / np.sqrt(exact * (1 - exact) / n)), Z)
    # The density ignores the where/what of absent steps and is finite.
    values = sample._asdict()
    log_prob = model.joint().log_prob(**values)
    moved = dict(values, what_2=values["what_2"] + 3.0, where_2=values["where_2"] - 1.0)
    absent = present[:, 2] == 0
    self.assertAllClose(tf.boolean_mask(model.joint().log_prob(**moved), absent),
                        tf.boolean_mask(log_prob, absent))
    self.assertTrue(np.all(np.isfinite(log_prob.numpy())))

  def test_guide_stops_too_and_infer_reads_scenes(self):
    model = _small()
    x = model.joint().sample(16, seed=[2, 2]).x
    sample = model.guide(x).sample(50, seed=[3, 3])
    present = np.stack([sample[i * 3].numpy() for i in range(3)], -1)
    self.assertTrue(np.all(np.diff(present, axis=-1) <= 0))
    scene = model.infer(x, seed=SEED)
    self.assertEqual(scene["count"].shape, (16,))
    self.assertEqual(scene["boxes"].shape, (16, 3, 3))
    self.assertAllEqual(scene["count"], tf.cast(tf.reduce_sum(scene["present"], -1), tf.int32))
    self.assertTrue(np.all(scene["boxes"].numpy()[..., 0] > 0))

  def test_bad_hyperparameters_name_themselves(self):
    for hparams, message in ((dict(max_steps=0), "max_steps=0: expected a positive integer"),
                             (dict(decoder="conv"), "decoder='conv'"),
                             (dict(likelihood="poisson"), "likelihood='poisson'"),
                             (dict(pixel_noise=0.0), "pixel_noise=0.0"),
                             (dict(present_prior=1.0), "present_prior=1.0")):
      with self.assertRaisesRegex(ValueError, "^" + message):
        _small(**hparams)
    with self.assertRaisesRegex(ValueError, "square one-channel images"):
      models.get("air", input_shape=(10, 10, 3))

  @pytest.mark.slow  # XLA compiles the recurrent model and guide: ~15 s
  def test_model_and_guide_run_under_xla(self):
    model = _small()
    x = model.joint().sample(4, seed=[2, 2]).x

    def weights(seed):
      guide = model.guide(x)
      latents = guide.sample(3, seed=seed)
      return model.joint().log_prob(**latents._asdict(), x=x) - guide.log_prob(latents)
    compiled = tf.function(weights, jit_compile=True)(SEED)
    self.assertEqual(compiled.shape, (3, 4))
    self.assertTrue(np.all(np.isfinite(compiled.numpy())))
    # XLA draws other numbers; the densities of given latents agree.
    latents = model.guide(x).sample(3, seed=SEED)._asdict()
    log_prob = lambda: model.joint().log_prob(**latents, x=x)
    self.assertAllClose(tf.function(log_prob, jit_compile=True)(), log_prob(), rtol=1e-4,
                        atol=1e-2)


# Each estimator that trains AIR (tracing its recurrent guide takes seconds):
# one in the fast tier, all with TFP_ZOO_FULL_PRODUCT=1 in the slow tier.
ESTIMATOR_CASES = testing.sample_product(
    [dict(name="rws", options={}), dict(name="rws", options={"guide_update": "sleep"}),
     dict(name="rws", options={"guide_update": "mixture"}), dict(name="vimco", options={}),
     dict(name="nvil", options={}), dict(name="wake_sleep", options={})], size=1)


class EstimatorsTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(*ESTIMATOR_CASES)
  def test_trains_with_every_gradient_finite(self, name, options):
    model = _small()
    x = tf.clip_by_value(model.joint().sample(4, seed=[2, 2]).x, 0.0, 1.0)
    state = estimators.make_state(name, model)
    if state is not None:
      options = dict(options, state=state)
    objectives, theta, phi = testing.estimator_gradients(estimators.get(name), model, x,
                                                         seed=SEED, **options)
    self.assertEqual(testing.gradient_problems(model, theta, phi), [])
    for value in objectives.metrics.values():
      self.assertTrue(np.isfinite(float(value)))

  @parameterized.parameters("elbo", "iwae", "dreg", "stl")
  def test_reparameterised_estimators_refuse_it(self, name):
    with self.assertRaisesRegex(ValueError, r"latents \['present_0', 'present_1', "
                                r"'present_2'\] are not reparameterisable"):
      estimators.get(name)(_small(), tf.zeros([2, 10, 10, 1]), seed=SEED)


def _phi_gradient(model, x, estimator, **options):
  def fn(seed):
    _, _, phi = testing.estimator_gradients(estimator, model, x, seed=seed, **options)
    return tf.concat([tf.reshape(g, [-1]) for g in phi], 0)
  return fn


@pytest.mark.slow  # 300 replicates of each estimator: ~15 s per case
class MixedLatentGradientsTest(tf.test.TestCase, parameterized.TestCase):
  """vimco/nvil reparameterise where/what and score only presence: unbiased for the
  same gradient as scoring everything, with less variance; dropping the presence
  score term is caught."""

  @parameterized.parameters(
      ("vimco", dict(num_samples=4)),
      ("nvil", dict(num_samples=4, bound="elbo", baseline="none")),
      ("nvil", dict(num_samples=4, bound="iwae", baseline="none")))
  def test_mixed_is_unbiased_and_lower_variance(self, name, options):
    model = _small(max_steps=2, fixed_position=False)
    x = tf.clip_by_value(model.joint().sample(2, seed=[7, 7]).x, 0.0, 1.0)
    estimator, n = estimators.get(name), 300
    mixed = testing.replicate(_phi_gradient(model, x, estimator, **options), n, seed=(1, 1))
    scored = testing.replicate(_phi_gradient(model, x, estimator, **options,
                                             continuous_latents="score_function"),
                               n, seed=(2, 2))
    live = (mixed.var(0) > 0) & (scored.var(0) > 0)  # components some draw moves
    # Bonferroni over the live components at the 0.1% level.
    bound = statistics.NormalDist().inv_cdf(1 - 0.0005 / live.sum())
    stderr = np.sqrt(mixed.var(0, ddof=1) / n + scored.var(0, ddof=1) / n)[live]
    self.assertLess(np.max(np.abs(mixed.mean(0) - scored.mean(0))[live] / stderr), bound)
    # Reparameterising where/what removes most of the score function's variance.
    self.assertLess(mixed.var(0)[live].sum() / scored.var(0)[live].sum(), 0.5)
    if name != "vimco":
      return
    # Power: the mixed estimator without the presence score term is biased.
    def no_presence_score(model, x, *, seed, num_samples):
      weights, _ = estimators.score_function_log_weights(
          model, x, seed=seed, num_samples=num_samples, continuous_latents="reparameterize",
          estimator="test")
      loss = -tf.reduce_mean(tfp.math.reduce_logmeanexp(weights.log_weights, axis=0))
      return estimators.Objectives(loss, loss, {})
    wrong = testing.replicate(_phi_gradient(model, x, no_presence_score, num_samples=4),
                              n, seed=(3, 3))
    stderr = np.sqrt(wrong.var(0, ddof=1) / n + scored.var(0, ddof=1) / n)[live]
    self.assertGreater(np.max(np.abs(wrong.mean(0) - scored.mean(0))[live] / stderr),
                       2 * bound)


class ContinuousLatentsOptionTest(tf.test.TestCase):

  def test_continuous_latents_option_is_checked(self):
    with self.assertRaisesRegex(ValueError, "^vimco: continuous_latents='all' must be one of 'auto'"):
      estimators.vimco(_small(), tf.zeros([2, 10, 10, 1]), seed=SEED,
                       continuous_latents="all")


# A fresh interpreter with numpy and TensorFlow only.
_TF_ONLY = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf

    loaded = tf.saved_model.load(sys.argv[1])
    out = loaded.sample(tf.constant(50), tf.constant([3, 4]))
    assert out["x"].shape == (50, 10, 10, 1), out["x"].shape
    present = np.stack([out[f"present_{t}"].numpy() for t in range(3)], 1)
    assert np.all(np.diff(present, axis=1) <= 0), present  # no object after a stop
    assert out["where_0"].shape == (50, 3) and out["what_2"].shape == (50, 3)
    mean = out["x_mean"].numpy()
    assert np.all(np.isfinite(mean)) and mean.min() >= 0 and mean.max() <= 1
    again = loaded.sample(tf.constant(50), tf.constant([3, 4]))
    np.testing.assert_array_equal(again["x"].numpy(), out["x"].numpy())
    ll = loaded.log_likelihood(tf.clip_by_value(out["x"][:4], 0.0, 1.0), tf.constant(20),
                               tf.constant([0, 0]))
    assert np.all(np.isfinite(ll["log_likelihood"].numpy())), ll
    leaked = [m for m in sys.modules if m.startswith(("tfp_zoo", "tensorflow_probability"))]
    assert not leaked, leaked
    print("AIR TF-ONLY OK")
""")


class ExportTest(tf.test.TestCase):

  @pytest.mark.slow  # a second interpreter imports TensorFlow: ~20 s
  def test_export_samples_scenes_in_a_tensorflow_only_process(self):
    path = export.export_model(_small(), os.path.join(self.get_temp_dir(), "air"))
    script = os.path.join(self.get_temp_dir(), "tf_only_air.py")
    with open(script, "w") as f:
      f.write(_TF_ONLY)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    process = subprocess.run([sys.executable, script, path], capture_output=True, text=True,
                             timeout=300, cwd=self.get_temp_dir(),
                             env=dict(env, TF_CPP_MIN_LOG_LEVEL="2"))
    self.assertEqual(process.returncode, 0, process.stderr[-3000:])
    self.assertIn("AIR TF-ONLY OK", process.stdout)


if __name__ == "__main__":
  tf.test.main()
