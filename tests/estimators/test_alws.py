"""ALWS against the exact gradient of a linear-Gaussian model: the error falls
as the number of sleep samples grows, for the random-feature, Nyström and
exact solvers; a regression that learns nothing, or a ridge penalty added off
the diagonal, fails the same test. Plus every model, XLA, options."""

import functools
import importlib
import os
import subprocess
import sys
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
from absl.testing import parameterized

from tfp_zoo import estimators, kernels, models, testing, training

# The package re-exports the function `alws` under the module's name.
alws_lib = importlib.import_module("tfp_zoo.estimators.amortised_learning")

SIZES = (200, 800, 3200)
SEEDS = 5


def _problem():
  return testing.linear_gaussian_problem(batch_size=16)


def _flat(grads):
  return tf.concat([tf.reshape(g, [-1]) for g in grads], 0)


def _exact_gradient(model, x):
  with tf.GradientTape() as tape:
    loss = -tf.reduce_mean(model.exact_log_likelihood(x))
  return _flat(tape.gradient(loss, model.generative_variables)).numpy()


def _with_state(model, options):
  """`options` with, for ridge='auto' without a state, λ chosen at every call
  (ridge_every=1: the float64 path, on this call's sleep samples)."""
  del model
  if options.get("ridge", "auto") != "auto" or options.get("state") is not None:
    return options
  return dict(options, ridge_every=1)


def _relative_errors(model, x, **options):
  """Mean over seeds of ‖ĝ − g‖/‖g‖ for each number of sleep samples."""
  exact = _exact_gradient(model, x)
  errors = []
  for n in SIZES:
    call_options = _with_state(model, dict(options, num_sleep_samples=n, num_features=n))

    @tf.function(autograph=False)
    def gradient(seed, call_options=call_options):
      with tf.GradientTape() as tape:
        loss = estimators.alws(model, x, seed=seed, **call_options).generative_loss
      return _flat(tape.gradient(loss, model.generative_variables))
    errors.append(np.mean([np.linalg.norm(gradient(tf.constant([i, 5])).numpy() - exact)
                           for i in range(SEEDS)]) / np.linalg.norm(exact))
  return errors


def _error_at(model, x, n, **options):
  """Mean over seeds of ‖ĝ − g‖/‖g‖ at N = n sleep samples."""
  exact = _exact_gradient(model, x)
  options = _with_state(model, dict(options, num_sleep_samples=n))

  @tf.function(autograph=False)
  def gradient(seed):
    with tf.GradientTape() as tape:
      loss = estimators.alws(model, x, seed=seed, **options).generative_loss
    return _flat(tape.gradient(loss, model.generative_variables))
  return np.mean([np.linalg.norm(gradient(tf.constant([i, 9])).numpy() - exact)
                  for i in range(SEEDS)]) / np.linalg.norm(exact)


def _leave_one_out_rule(loo_errors, *args):
  """`kernels._loo_errors` with the leave-one-out minimum as the choice."""
  return loo_errors(*args[:-1], "leave_one_out")


def _linear_gaussian(dim, latent_size, noise_sd, weight_scale, seed=7):
  """A linear-Gaussian model built here (not the package's default draw):
  Gaussian weights of the given scale and bias, noise sd `noise_sd`."""
  model = models.LinearGaussian((dim,), latent_size=latent_size, seed=seed)
  rng = np.random.default_rng(seed)
  model.weight.assign(weight_scale * rng.normal(size=model.weight.shape).astype(np.float32))
  model.bias.assign(rng.normal(size=model.bias.shape).astype(np.float32))
  model.raw_scale.assign(tf.fill(model.raw_scale.shape,
                                 float(np.log(np.expm1(noise_sd)))))  # softplus⁻¹
  return model, model.joint().sample(16, seed=[1, 2]).x


# Different dimensions, noise levels and weight scales (the first test of the converging defaults).
LINEAR_GAUSSIANS = ((5, 2, 0.7, 1.0), (20, 3, 0.5, 0.5), (10, 2, 2.0, 3.0))


def _converges(errors):
  return all(a > b for a, b in zip(errors, errors[1:])) and errors[-1] < 0.2


class AlwsGradientTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters("random_features", "exact", "nystrom")
  @pytest.mark.slow
  def test_gradient_approaches_the_exact_gradient(self, solver):
    errors = _relative_errors(*_problem(), solver=solver, exponential_family=True)
    self.assertTrue(_converges(errors), errors)

  @parameterized.parameters("random_features", "nystrom", "exact")
  @pytest.mark.slow
  def test_default_options_converge_on_three_models_and_a_large_ridge_does_not(self, solver):
    # Default options (ridge='auto', D = 1000 bf16 random features) but the
    # solver; the exact solver's O(N³) eigendecomposition stops at N = 2000.
    sizes = (500, 1000, 2000) if solver == "exact" else (500, 2000, 8000)
    options = {} if solver == "random_features" else {"solver": solver}
    for spec in LINEAR_GAUSSIANS:
      model, x = _linear_gaussian(*spec)
      errors = [_error_at(model, x, n, **options) for n in sizes]
      self.assertLess(errors[-1], 0.3, (spec, errors))
      self.assertLess(errors[-1], errors[0], (spec, errors))
      if solver == "random_features":  # what training runs: the state's float32 path
        amortised = _error_at(model, x, sizes[-1], ridge_every=1,
                              state=estimators.make_state("alws", model))
        self.assertLess(amortised, 0.3, (spec, amortised))
      large = _error_at(model, x, sizes[-1], ridge=0.1, **options)
      self.assertGreater(large, 0.3, (spec, large))

  @pytest.mark.slow
  def test_noise_scale_gradient_bias_falls_as_one_over_n_and_a_shrunk_regression_flips_it(
      self):
    # The model's noise sd is 0.7, the data's 0.4: the exact gradient of the
    # loss in the softplus-raw scales is positive (lower σ). Analysis: the
    # smoother weights s(x*) depend on the sleep inputs only, so E[ĝ] is the
    # smoother applied to m(x) = E[∇f | x] without the targets' noise, and the
    # bias is the smoothing bias (S m − m)(x*). It vanishes as λ → 0 and the
    # features resolve m, here at rate 1/N with λ chosen by GCV. Measured (30
    # seeds, exact solver, exact 1.691): +0.165 ± 0.021 at N = 500, +0.043 ±
    # 0.009 at N = 2000 (the leave-one-out minimum's λ: +0.043 ± 0.011 too).
    # A fixed λ = 0.1 shrinks E[η(z) | x*] towards its prior mean, which
    # overstates the expected residual: −2.30, the wrong sign (pushes σ up).
    model, _ = _linear_gaussian(5, 2, 0.7, 1.0)
    data_model, _ = _linear_gaussian(5, 2, 0.4, 1.0)
    x = data_model.joint().sample(64, seed=[1, 2]).x
    with tf.GradientTape() as tape:
      loss = -tf.reduce_mean(model.exact_log_likelihood(x))
    exact = float(tf.reduce_sum(tape.gradient(loss, model.raw_scale)))

    def draws(n, seeds=20, **options):
      options = _with_state(model, dict(options, num_sleep_samples=n))

      @tf.function(autograph=False)
      def gradient(seed):
        with tf.GradientTape() as tape:
          loss = estimators.alws(model, x, seed=seed, **options).generative_loss
        return tf.reduce_sum(tape.gradient(loss, model.raw_scale))
      values = np.array([float(gradient(tf.constant([i, 3]))) for i in range(seeds)])
      return values.mean() - exact, values.std(ddof=1) / np.sqrt(len(values))
    small, small_se = draws(500, solver="exact")
    large, large_se = draws(2000, solver="exact")
    self.assertGreater(small, 3 * small_se, (small, small_se))  # the bias is there ...
    predicted, predicted_se = small * 500 / 2000, small_se * 500 / 2000
    self.assertLess(abs(large - predicted), 3 * np.hypot(large_se, predicted_se),
                    (large, large_se, predicted))  # ... and falls as 1/N
    self.assertLess(abs(large), 0.05 * exact, (large, exact))
    shrunk, shrunk_se = draws(2000, seeds=10, solver="exact", ridge=0.1)
    self.assertLess(shrunk + exact, -10 * shrunk_se, (shrunk, exact))  # pushes σ up

  @pytest.mark.slow  # statistical: .ci/run's second step
  def test_log_joint_regression_converges_too(self):
    errors = _relative_errors(*_problem(), exponential_family=False, solver="exact",
                              ridge=1e-3)
    self.assertTrue(all(a > b for a, b in zip(errors, errors[1:])), errors)
    # Regressing the whole log joint must also learn its x-dependence: slower
    # at a fixed λ. (With ridge='auto' the two forms end level here: 0.133
    # for the log joint, 0.152 for the natural parameters at N = 3200.)
    self.assertGreater(errors[-1], _relative_errors(*_problem(), solver="exact",
                                                    exponential_family=True,
                                                    ridge=1e-3)[-1])

  @parameterized.parameters("exact", "random_features")
  @pytest.mark.slow  # statistical: .ci/run's second step
  def test_automatic_ridge_is_as_good_as_the_best_of_a_grid(self, solver):
    model, x = _problem()
    options = dict(solver=solver, exponential_family=True, num_features=800)
    grid = {ridge: _error_at(model, x, 800, ridge=ridge, **options)
            for ridge in (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)}
    auto = _error_at(model, x, 800, ridge="auto", **options)
    # Measured (5 seeds): 1.08x the best grid point (exact), 1.07x (random
    # features), with generalised cross-validation. Picking the leave-one-out
    # minimum instead gave 1.12x and 1.14x over 10 seeds: on a flat error
    # curve a noisy minimum now and then lands a decade or two too low (1e-5
    # where 1e-4 is best); GCV's shared leverage varies less.
    self.assertLessEqual(auto, 1.1 * min(grid.values()), (auto, grid))
    self.assertGreater(grid[1e-1], 1.5 * auto, (auto, grid))  # a fixed large ridge fails
    with mock.patch.object(kernels, "_loo_errors", functools.partial(
        _leave_one_out_rule, kernels._loo_errors)):  # the rule is what gets it there
      minimum = _error_at(model, x, 800, ridge="auto", **options)
    self.assertGreater(minimum, auto, (minimum, auto))

  @pytest.mark.slow  # statistical: .ci/run's second step
  def test_posterior_mean_monitor_reaches_its_floor_and_flags_a_blind_regression(self):
    model = models.LinearGaussian((4,), latent_size=2, seed=3)
    x = model.joint().sample(4, seed=[1, 2]).x
    # Linear-Gaussian: Var(z | x) is the same for every x, so the floor of the
    # relative error is tr Σ_post / tr Var(z) = tr Σ_post / 2.
    w, s2 = model.weight.numpy(), np.square(model.scale.numpy())
    floor = np.trace(np.linalg.inv(np.eye(2) + w.T @ (w / s2[:, None]))) / 2
    options = dict(num_sleep_samples=5000, validation_fraction=0.2, solver="exact",
                   ridge=1e-4)
    errors = [float(estimators.alws(model, x, seed=tf.constant([i, 4]), **options)
                    .metrics["posterior_mean_error"]) for i in range(3)]
    # 1000 held-out latents: the mean of a squared error is known to about 5%.
    self.assertAllInRange(np.array(errors) / floor, 0.85, 1.2)
    self.assertLess(floor, 0.5)  # the data pin z down: a blind regression shows

    def mean_only(gram, ridge, dtype=None):
      del ridge, dtype
      n = tf.shape(gram)[0]
      return lambda cross: tf.fill([tf.shape(cross)[1], n], 1.0 / tf.cast(n, tf.float32))
    with mock.patch.object(kernels, "kernel_ridge_rows", mean_only):
      blind = float(estimators.alws(model, x, seed=tf.constant([0, 4]), **options)
                    .metrics["posterior_mean_error"])
    self.assertAllInRange(blind, 0.9, 1.1)

  def test_cross_median_bandwidth_serves_data_unlike_the_sleep_samples(self):
    # Data shifted by 3 noise sd per pixel from what the model generates: the
    # regression is queried where sleep samples are sparse. Measured (5 seeds,
    # N = 500 / 2000, exact solver, ridge='auto'): 0.58 / 0.53 with 'median',
    # 0.33 / 0.32 with 'cross_median'; unshifted 5-d data: 0.40 / 0.23 and
    # 0.41 / 0.24.
    model = models.LinearGaussian((20,), latent_size=2, seed=3)
    x = model.joint().sample(16, seed=[1, 2]).x
    options = dict(solver="exact", exponential_family=True, ridge="auto")
    shifted = x + 3.0 * model.scale
    median = _error_at(model, shifted, 500, bandwidth="median", **options)
    cross = _error_at(model, shifted, 500, bandwidth="cross_median", **options)
    self.assertLess(cross, 0.75 * median, (cross, median))
    # Unshifted, the two heuristics agree about the bandwidth's scale.
    objectives = estimators.alws(model, x, seed=tf.constant([0, 1]), **_with_state(
        model, dict(options, num_sleep_samples=200, bandwidth="cross_median")))
    sleep = model.joint().sample(200, seed=[5, 5]).x
    self.assertAllClose(objectives.metrics["bandwidth"], kernels.median_bandwidth(sleep),
                        rtol=0.2)

  def test_new_options_bind_and_train_from_the_launcher_config(self):
    options = {"ridge": "auto", "bandwidth": "cross_median", "num_sleep_samples": 40,
               "num_features": 20}
    bound = estimators.bind("alws", **options)  # option types: 'auto' is not a float
    self.assertEqual(bound.options["ridge"], "auto")
    workdir = os.path.join(self.create_tempdir().full_path, "run")
    result = training.train(training.TrainConfig(
        workdir=workdir, estimator="alws", estimator_options=options, train_steps=2,
        checkpoint_every=2, log_every=1, eval_num_samples=2, eval_examples=10,
        model_hparams={"hidden_sizes": (8,), "latent_sizes": (2,)}))
    for metric in ("ridge", "posterior_mean_error", "regression_error"):
      self.assertTrue(np.isfinite(result["train"][metric]), metric)

  @pytest.mark.slow  # the power check of the slow convergence test above (N = 3200)
  def test_a_regression_that_learns_nothing_fails(self):
    def mean_only(train_features, ridge, dtype=None):  # predicts the mean target
      del ridge, dtype
      n = tf.shape(train_features)[0]
      return lambda query: tf.fill([tf.shape(query)[0], n], 1.0 / tf.cast(n, tf.float32))
    with mock.patch.object(kernels, "feature_ridge_rows", mean_only):
      self.assertFalse(_converges(_relative_errors(*_problem(), exponential_family=True)))

  @pytest.mark.slow  # the power check of the slow convergence test above (N = 3200)
  def test_ridge_off_the_diagonal_fails(self):
    def off_diagonal(train_features, ridge, dtype=None):
      del dtype
      phi = tf.cast(train_features, tf.float64)
      gram = tf.matmul(phi, phi, transpose_a=True)
      gram += tf.cast(tf.shape(phi)[0], tf.float64) * tf.cast(ridge, tf.float64) * (
          tf.ones_like(gram))

      def rows(query):
        solved = tf.linalg.solve(gram + 1e-9 * tf.eye(tf.shape(gram)[0], dtype=tf.float64),
                                 tf.transpose(tf.cast(query, tf.float64)))
        return tf.cast(tf.matmul(solved, phi, transpose_a=True, transpose_b=True), tf.float32)
      return rows
    with mock.patch.object(kernels, "feature_ridge_rows", off_diagonal):
      self.assertFalse(_converges(_relative_errors(*_problem(), exponential_family=True)))


MODELS = {
    "vae": lambda: models.get("vae", input_shape=(6, 6, 1), hidden_sizes=(16,),
                              latent_sizes=(3,)),
    "vae2_gaussian": lambda: models.get("vae", input_shape=(6, 6, 1), stochastic_layers=2,
                                        likelihood="gaussian", hidden_sizes=(16,),
                                        latent_sizes=(4, 2)),
    "sigmoid_belief_net": lambda: models.get("sigmoid_belief_net", input_shape=(6, 6, 1),
                                             layer_sizes=(3, 5)),
    "discrete_vae": lambda: models.get("discrete_vae", input_shape=(6, 6, 1),
                                       latent="categorical", num_latents=3,
                                       hidden_sizes=(16,)),
    "gaussian_mixture": lambda: models.get("gaussian_mixture", input_shape=(6, 6, 1),
                                           num_components=4),
    "linear_gaussian": lambda: models.get("linear_gaussian", input_shape=(6, 6, 1)),
    "matrix_factorisation": lambda: models.get("matrix_factorisation", input_shape=(6, 6, 1),
                                               latent_size=5),
    "hyperspherical_vae": lambda: models.get("hyperspherical_vae", input_shape=(6, 6, 1),
                                             latent_dim=2, hidden_sizes=(16,)),
}


# Every model x solver in graph mode; under XLA (slow to compile) every model
# with the default solver, and every solver on one model. The fast tier runs a
# sample with every model, each solver on two models and one XLA case.
MODEL_CASES = testing.sample_product(
    [dict(model=m, solver=s, jit_compile=False) for m in MODELS for s in alws_lib.SOLVERS]
    + [dict(model=m, solver="random_features", jit_compile=True) for m in MODELS]
    + [dict(model="vae2_gaussian", solver=s, jit_compile=True)
       for s in alws_lib.SOLVERS if s != "random_features"],
    meets=(("model", "solver", 1), ("solver", "model", 2), ("jit_compile", "model", 1)),
    size=8)


class AlwsModelsTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(*MODEL_CASES)
  def test_every_model_gets_finite_nonzero_generative_gradients(self, model, solver,
                                                                jit_compile):
    model = MODELS[model]()
    x = tf.cast(tf.random.stateless_uniform([4, 6, 6, 1], seed=[0, 1]) < 0.4, tf.float32)

    options = _with_state(model, dict(num_sleep_samples=64, num_features=32, solver=solver))

    @tf.function(jit_compile=jit_compile, autograph=False)
    def gradients(seed):
      return testing.estimator_gradients(estimators.alws, model, x, seed=seed, **options)
    objectives, theta, phi = gradients(tf.constant([1, 2]))
    self.assertEmpty(testing.gradient_problems(model, theta, phi))
    for value in objectives.metrics.values():
      self.assertTrue(bool(tf.math.is_finite(value)))

  def test_the_model_sample_covers_every_model_and_solver(self):
    fast = testing.sampled(MODEL_CASES)
    self.assertCountEqual({c["model"] for c in fast}, MODELS)
    for solver in alws_lib.SOLVERS:
      self.assertGreaterEqual(len({c["model"] for c in fast if c["solver"] == solver}), 2)
    self.assertTrue(any(c["jit_compile"] for c in fast))

  def test_guide_update_none_leaves_the_guide_alone(self):
    model = MODELS["vae"]()
    _, _, phi = testing.estimator_gradients(estimators.alws, model, tf.zeros([2, 6, 6, 1]),
                                            seed=tf.constant([0, 0]), num_sleep_samples=16,
                                            guide_update="none", ridge=1e-3)
    self.assertTrue(all(g is None for g in phi))

  def test_heldout_bandwidth_picks_the_grid_point_with_least_error(self):
    model, x = _problem()
    seed = tf.constant([3, 1])  # the same sleep samples in every call (best: 2x median)
    run = lambda bandwidth: estimators.alws(model, x, seed=seed, num_sleep_samples=400,
                                            bandwidth=bandwidth, solver="exact",
                                            ridge=1e-3).metrics
    median = float(run("median")["bandwidth"])
    grid_errors = [float(run(median * scale)["regression_error"])
                   for scale in alws_lib._BANDWIDTH_GRID]  # pylint: disable=protected-access
    chosen = run("heldout")
    best = int(np.argmin(grid_errors))
    self.assertNotEqual(alws_lib._BANDWIDTH_GRID[best], 1.0)  # pylint: disable=protected-access
    self.assertNear(float(chosen["bandwidth"]),
                    median * alws_lib._BANDWIDTH_GRID[best], 1e-3 * median)  # pylint: disable=protected-access
    self.assertNear(float(chosen["regression_error"]), grid_errors[best], 1e-4)

  def test_nothing_held_out_reports_no_regression_error(self):
    model, x = _problem()
    metrics = estimators.alws(model, x, seed=tf.constant([0, 1]), **_with_state(
        model, dict(num_sleep_samples=64, validation_fraction=0.0))).metrics
    self.assertNotIn("regression_error", metrics)
    self.assertTrue(all(bool(tf.math.is_finite(v)) for v in metrics.values()))
    with self.assertRaisesRegex(ValueError, "validation_fraction=0.001 of 64 rounds to none"):
      estimators.alws(model, x, seed=tf.constant([0, 1]), num_sleep_samples=64,
                      validation_fraction=0.001, bandwidth="heldout")

  def test_bad_options_are_named(self):
    model, x = _problem()
    for options, message in (
        (dict(solver="svd"), "^alws: solver='svd' must be one of 'random_features'"),
        (dict(kernel="cosine"), "kernel='cosine' must be one of 'gaussian', 'laplace'"),
        (dict(bandwidth=-1.0), "bandwidth=-1.0"),
        (dict(bandwidth="silverman"), "bandwidth='silverman'"),
        (dict(ridge=0.0), "ridge=0.0 must be one of 'auto' or a positive finite number"),
        (dict(ridge="loo"), "ridge='loo' must be one of 'auto' or a positive"),
        (dict(num_sleep_samples=2), "^alws: num_sleep_samples=2 must be an integer >= 4$"),
        (dict(num_features=True), "^estimator 'alws': num_features=True must be an integer"),
        (dict(bandwidth="heldout", validation_fraction=0.0), "needs held-out samples"),
        (dict(exponential_family="yes"), "exponential_family='yes'")):
      with self.assertRaisesRegex(ValueError, message):
        estimators.alws(model, x, seed=tf.constant([0, 0]), **options)

  def test_exponential_family_true_needs_a_supported_likelihood(self):
    class CategoricalPixels(models.GaussianMixture):
      def _components(self, c):
        import tensorflow_probability as tfp  # pylint: disable=g-import-not-at-top
        logits = tf.one_hot(c, 3)
        return tfp.distributions.Categorical(logits=logits, name="x")
    model = CategoricalPixels((1,), num_components=3)
    x = tf.zeros([2, 1], tf.int32)  # [batch, *input_shape]; cast to float32 by the check
    with self.assertRaisesRegex(ValueError, "no natural parameters for Categorical"):
      estimators.alws(model, x, seed=tf.constant([0, 0]), exponential_family=True,
                      num_sleep_samples=8, ridge=1e-3)


class AlwsLearnedFeaturesTest(tf.test.TestCase):

  def _mf(self):
    # Noise scale 1 (the default before 2026-11-27): the regime the thresholds
    # below were measured in.
    return models.get("matrix_factorisation", input_shape=(8, 8, 1), latent_size=3, seed=2,
                      pixel_scale_init=1.0)

  @pytest.mark.slow  # statistical: .ci/run's second step
  def test_feature_map_learns_to_predict_the_targets(self):
    model = self._mf()
    state = estimators.make_state("alws", model, feature_map="learned", feature_size=8)
    self.assertEqual(state.num_targets, 1 + 2 * 64)  # g, then η1 and η2 of each pixel
    x = model.joint().sample(20, seed=tf.constant([5, 5])).x
    from tfp_zoo import training  # pylint: disable=g-import-not-at-top
    adam = training.make_optimizer(1e-2, tuple(state.trainable_variables))

    def run(seed):
      with tf.GradientTape() as tape:
        objectives = estimators.alws(model, x, seed=seed, num_sleep_samples=128,
                                     num_features=64, feature_map="learned", ridge=1e-3,
                                     state=state, guide_update="none", monitor_every=1)
      return objectives, tape.gradient(objectives.guide_loss, state.trainable_variables)

    seeds = [tf.constant([9, i]) for i in range(5)]
    kernel_error = np.mean([float(estimators.alws(
        model, x, seed=seed, num_sleep_samples=128, num_features=64, ridge=1e-3
    ).metrics["regression_error"]) for seed in seeds])
    first = [run(seed)[0] for seed in seeds]
    for i in range(60):
      _, grads = run(tf.constant([1, i]))
      adam.apply_gradients(zip(grads, state.trainable_variables))
    last = [run(seed)[0] for seed in seeds]  # the same sleep samples as `first`
    mean = lambda runs, name: np.mean([float(getattr(o, name) if name == "guide_loss"
                                             else o.metrics[name]) for o in runs])
    # The head's loss on standardised targets falls well below its start.
    self.assertLess(mean(last, "guide_loss"), 0.5 * mean(first, "guide_loss"))
    # The kernel regression on learned features beats the one on raw pixels
    # (5 seeds: 97 at the start, 123 after training, raw pixels 124), but
    # training the map to predict all 129 targets does not lower the held-out
    # error of the log joint: measured, and recorded here rather than claimed.
    self.assertLess(mean(first, "regression_error"), kernel_error)
    self.assertLess(mean(last, "regression_error"), 1.1 * kernel_error)

  def test_theta_gradient_does_not_train_the_map_and_is_finite(self):
    model = self._mf()
    state = estimators.make_state("alws", model, feature_map="learned")
    with tf.GradientTape(persistent=True) as tape:
      objectives = estimators.alws(model, tf.zeros([3, 8, 8, 1]), seed=tf.constant([0, 1]),
                                   num_sleep_samples=64, num_features=32,
                                   feature_map="learned", state=state)
    self.assertTrue(all(g is None for g in tape.gradient(objectives.generative_loss,
                                                         state.trainable_variables)))
    theta = tape.gradient(objectives.generative_loss, model.generative_variables)
    self.assertTrue(all(g is not None and bool(tf.reduce_all(tf.math.is_finite(g)))
                        for g in theta))

  def test_state_is_checked(self):
    model = self._mf()
    x = tf.zeros([2, 8, 8, 1])
    self.assertFalse(estimators.make_state("alws", model).learned)
    with self.assertRaisesRegex(ValueError, "feature_map='learned' needs state="):
      estimators.alws(model, x, seed=tf.constant([0, 0]), feature_map="learned")
    with self.assertRaisesRegex(ValueError, "^alws: feature_map='umap' must be one of 'kernel'"):
      estimators.alws(model, x, seed=tf.constant([0, 0]), feature_map="umap")
    state = estimators.make_state("alws", model, feature_map="learned",
                                  exponential_family=False)
    with self.assertRaisesRegex(ValueError, "predicts 1 targets but this model has 129"):
      estimators.alws(model, x, seed=tf.constant([0, 0]), feature_map="learned", state=state,
                      num_sleep_samples=16)


class AlwsAmortisedTest(tf.test.TestCase):
  """One pass through the networks; λ and the monitor amortised by the state."""

  def test_one_pass_draws_the_joint_sample_and_gives_the_two_pass_gradient(self):
    # Two Gaussian layers: z2's distribution depends on θ and on z1, which is
    # reparameterised, so a sample that were not stopped as drawn would pass
    # a gradient from log p(x | z) back through z1 into the prior's layer.
    model = MODELS["vae2_gaussian"]()
    joint, seed = model.joint(), tf.constant([3, 4])

    def gradient(parts):
      with tf.GradientTape() as tape:
        dists, sample = parts()
        total = tf.reduce_sum(tf.add_n([d.log_prob(tf.stop_gradient(v)) for d, v in
                                        zip(dists, tf.nest.flatten(sample))]))
      return _flat(tape.gradient(total, model.generative_variables)).numpy(), sample

    def two_pass():
      sample = tf.nest.map_structure(tf.stop_gradient, joint.sample(50, seed=seed))
      return joint.sample_distributions(value=sample, seed=seed)[0], sample
    sleep = alws_lib._sleep  # pylint: disable=protected-access
    one, one_sample = gradient(lambda: sleep(joint, 50, seed))
    two, two_sample = gradient(two_pass)
    for a, b in zip(tf.nest.flatten(one_sample), tf.nest.flatten(two_sample)):
      self.assertAllEqual(a, b)
    self.assertAllClose(one, two, rtol=1e-4, atol=1e-4)
    leaky, _ = gradient(lambda: joint.sample_distributions(50, seed=seed))
    self.assertGreater(np.abs(leaky - two).max(), 1e-2)  # the test sees a leak

  def _count_calls(self, module, name, steps, **options):
    model, x = _problem()
    state = estimators.make_state("alws", model)
    original, calls, metrics = getattr(module, name), [], []

    def counted(*args, **kwargs):
      calls.append(int(state.calls.numpy()))
      return original(*args, **kwargs)
    with mock.patch.object(module, name, counted):
      for i in range(steps):  # eagerly: tf.cond runs only the branch taken
        metrics.append(estimators.alws(model, x, seed=tf.constant([i, 1]), state=state,
                                       num_sleep_samples=64, num_features=32,
                                       **options).metrics)
    self.assertEqual(int(state.calls.numpy()), steps)
    return calls, metrics

  def test_ridge_is_rechosen_every_ridge_every_steps_and_kept_between(self):
    calls, metrics = self._count_calls(kernels, "choose_feature_ridge", 7, ridge_every=3)
    self.assertEqual(calls, [0, 3, 6])
    ridges = [float(m["ridge"]) for m in metrics]
    self.assertEqual(ridges[1:3], [ridges[0]] * 2)
    self.assertEqual(ridges[4:6], [ridges[3]] * 2)

  def test_monitor_runs_on_the_first_and_every_monitor_every_th_step(self):
    calls, metrics = self._count_calls(alws_lib, "_posterior_mean_error", 8, monitor_every=4)
    self.assertEqual(calls, [0, 3, 7])  # the metrics logged at steps 4 and 8 are fresh
    errors = [float(m["posterior_mean_error"]) for m in metrics]
    self.assertEqual(errors[1:3], [errors[0]] * 2)
    self.assertEqual(errors[4:7], [errors[3]] * 3)
    self.assertNotEqual(errors[3], errors[0])

  def test_amortised_gradient_matches_the_stateless_one_on_choice_steps(self):
    # On a step that chooses λ the amortised path (float32 solve) and the
    # stateless one (float64) differ only by rounding.
    model, x = _problem()
    state = estimators.make_state("alws", model)

    def gradient(**options):
      with tf.GradientTape() as tape:
        loss = estimators.alws(model, x, seed=tf.constant([2, 2]), num_sleep_samples=400,
                               num_features=200, **options).generative_loss
      return _flat(tape.gradient(loss, model.generative_variables)).numpy()
    stateless, amortised = gradient(ridge_every=1), gradient(state=state)
    self.assertLess(np.linalg.norm(amortised - stateless), 0.02 * np.linalg.norm(stateless))


class AlwsPcaTest(tf.test.TestCase):
  """feature_map='pca': whitened principal components of the training data,
  fitted once and kept in the state."""

  def test_fit_whitens_the_data_and_survives_a_checkpoint(self):
    model = MODELS["vae"]()
    images = tf.random.stateless_uniform([500, 6, 6, 1], seed=[3, 1]).numpy()
    images[:, :3] *= 4.0  # unequal variances: whitening has something to do
    state = estimators.make_state("alws", model, feature_map="pca", feature_size=5)
    state.fit_data(images)
    whitened = state.whiten(tf.reshape(images, [500, -1])).numpy()
    self.assertAllClose(np.cov(whitened, rowvar=False), np.eye(5), atol=1e-3)
    self.assertAllClose(whitened.mean(axis=0), np.zeros(5), atol=1e-4)
    path = tf.train.Checkpoint(state=state).save(os.path.join(self.get_temp_dir(), "c"))
    fresh = estimators.make_state("alws", model, feature_map="pca", feature_size=5)
    self.assertFalse(bool(fresh.pca_fitted))
    tf.train.Checkpoint(state=fresh).restore(path).assert_consumed()
    self.assertTrue(bool(fresh.pca_fitted))
    self.assertAllClose(fresh.pca_projection, state.pca_projection)

  def test_pca_features_give_finite_gradients_and_need_their_state(self):
    model = MODELS["vae"]()
    x = tf.cast(tf.random.stateless_uniform([4, 6, 6, 1], seed=[0, 1]) < 0.4, tf.float32)
    with self.assertRaisesRegex(ValueError, "feature_map='pca' needs state="):
      estimators.alws(model, x, seed=tf.constant([0, 0]), feature_map="pca")
    state = estimators.make_state("alws", model, feature_map="pca", feature_size=8)
    state.fit_data(model.joint().sample(200, seed=[4, 4]).x.numpy())
    objectives, theta, phi = testing.estimator_gradients(
        estimators.alws, model, x, seed=tf.constant([1, 2]), num_sleep_samples=64,
        num_features=32, feature_map="pca", feature_size=8, state=state)
    self.assertEmpty(testing.gradient_problems(model, theta, phi))
    self.assertTrue(all(bool(tf.math.is_finite(v)) for v in objectives.metrics.values()))
    with self.assertRaisesRegex(ValueError, "holds a learned or PCA feature map"):
      estimators.alws(model, x, seed=tf.constant([0, 0]), state=state)


_STRATEGY_SCRIPT = r"""
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, sys.argv[1])
from test_alws import MODELS
from tfp_zoo import estimators, testing
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
for name, make in MODELS.items():
  with strategy.scope():
    model = make()
  x = tf.cast(tf.random.stateless_uniform([8, 6, 6, 1], seed=[0, 1]) < 0.4, tf.float32)

  @tf.function(autograph=False)
  def step(x):
    def replica(x):
      context = tf.distribute.get_replica_context()
      seed = tf.random.experimental.stateless_fold_in([1, 2], context.replica_id_in_sync_group)
      with tf.GradientTape() as tape:
        loss = estimators.alws(model, x, seed=seed, num_sleep_samples=64,
                               num_features=32, ridge_every=1).generative_loss
      grads = tape.gradient(loss, model.generative_variables)
      return context.all_reduce("mean", [tf.convert_to_tensor(g) for g in grads])
    return strategy.run(replica, args=(x,))
  grads = step(strategy.experimental_distribute_values_from_function(
      lambda ctx: x[4 * ctx.replica_id_in_sync_group:4 * (ctx.replica_id_in_sync_group + 1)]))
  grads = strategy.experimental_local_results(grads)[0]
  problems = testing.gradient_problems(model, grads, [])
  print(name, "OK" if not problems else problems, strategy.num_replicas_in_sync, flush=True)
"""


class AlwsDistributedTest(tf.test.TestCase):

  @pytest.mark.slow
  def test_runs_under_mirrored_strategy_on_two_cpu_replicas(self):
    here = os.path.dirname(os.path.abspath(__file__))
    process = subprocess.run(
        [sys.executable, "-c", _STRATEGY_SCRIPT, here], capture_output=True, text=True,
        timeout=600, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        cwd=os.path.dirname(os.path.dirname(here)))
    self.assertEqual(process.returncode, 0, process.stderr[-3000:])
    lines = dict(line.split(" ", 1) for line in process.stdout.strip().splitlines())
    self.assertCountEqual(lines, MODELS)
    for name, result in lines.items():
      self.assertEqual(result, "OK 2", name)


if __name__ == "__main__":
  tf.test.main()
