"""tfp_zoo.keras.EstimatorModel: Keras sees, saves and restores every variable;
fit and evaluate run any estimator with the standard callbacks; the first step
is the Trainer's; what it cannot train is refused in one line. Also the
own-loop example (docs/keras.md's blocks run with the docs')."""

import glob
import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl.testing import parameterized

from tfp_zoo import estimators, evaluation, models, training
from tfp_zoo.keras import DEFAULT_LEARNING_RATE, EstimatorModel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPE = (8, 8, 1)
BATCH = 8


def _vae(seed=3):
  return models.get("vae", input_shape=SHAPE, hidden_sizes=(8,), latent_sizes=(2,), seed=seed)


def _sbn(seed=3):
  return models.get("sigmoid_belief_net", input_shape=SHAPE, layer_sizes=(4,), seed=seed)


def _images(n=32, seed=0):
  return (np.random.default_rng(seed).random((n, *SHAPE)) < 0.3).astype(np.float32)


def _batches(x):
  return tf.data.Dataset.from_tensor_slices(x).batch(BATCH)


def _refs(variables):
  return {v.ref() for v in variables}


def _values(variables):
  return [v.numpy() for v in variables]


def _log_likelihood(model, x):
  return evaluation.log_likelihood(model, x, seed=tf.constant([7, 7]),
                                   num_samples=10).log_likelihood.numpy()


def first_step_mismatch(keras_seed, trainer_seed=5):
  """Both trainers take one step on one batch (iwae, Adam at 1e-3): the
  largest mismatch of a variable, in units of the tolerance 1e-8 + 1e-6 |w|,
  and the step's losses."""
  x = _images(BATCH)
  fitted = EstimatorModel(_vae(), "iwae", seed=keras_seed, num_samples=2)
  fitted.compile(optimizer=keras.optimizers.Adam(1e-3))
  logs = fitted.fit(_batches(x), epochs=1, verbose=0, shuffle=False).history
  trainer = training.Trainer(_vae(), estimators.bind("iwae", num_samples=2),
                             learning_rate=1e-3, seed=trainer_seed)
  metrics = trainer(x)
  mismatch = max(float(np.max(np.abs(a - b) / (1e-8 + 1e-6 * np.abs(b))))
                 for a, b in zip(_values(fitted.model.variables),
                                 _values(trainer.model.variables)))
  return mismatch, logs["loss"][0], metrics["generative_loss"]


class VariablesTest(tf.test.TestCase):

  def test_keras_sees_every_variable_of_the_model_and_the_estimator_state(self):
    model = _vae()
    fitted = EstimatorModel(model, "nvil", num_samples=2)  # a learned baseline: state
    state = fitted.state
    self.assertNotEmpty(state.trainable_variables)
    self.assertNotEmpty(state.non_trainable_variables)  # the moving average
    expected = _refs(model.trainable_variables + state.trainable_variables)
    self.assertEqual(_refs(fitted.trainable_variables), expected)
    self.assertEqual(_refs(fitted.trainable_weights), expected)
    self.assertLen(fitted.trainable_variables, len(expected))
    everything = _refs(model.variables + state.variables + (fitted.step,))
    self.assertEqual(_refs(fitted.variables), everything)
    self.assertEqual(_refs(fitted.weights), everything)
    self.assertEqual(_refs(fitted.non_trainable_variables),
                     _refs(state.non_trainable_variables + (fitted.step,)))
    fitted.compile()  # each optimizer has slots for its own group only
    self.assertEqual(fitted.generative_optimizer.iterations.numpy(), 0)
    slots = lambda opt: len(opt.variables) - 2  # minus iterations and learning rate
    self.assertEqual(slots(fitted.generative_optimizer), 2 * len(model.generative_variables))
    self.assertEqual(slots(fitted.guide_optimizer),
                     2 * len(model.guide_variables + state.trainable_variables))

  def test_save_and_load_weights_round_trip_to_identical_log_likelihoods(self):
    x = _images(16)
    fitted = EstimatorModel(_vae(), "nvil", num_samples=2)
    fitted.compile()
    fitted.fit(_batches(x), epochs=1, verbose=0, shuffle=False)
    path = os.path.join(self.get_temp_dir(), "run.weights.h5")
    fitted.save_weights(path)
    restored = EstimatorModel(_vae(seed=4), "nvil", num_samples=2)
    restored.compile()
    self.assertNotAllEqual(restored.model.variables[-1], fitted.model.variables[-1])
    restored.load_weights(path)
    self.assertAllEqual(_log_likelihood(restored.model, x), _log_likelihood(fitted.model, x))
    self.assertEqual(int(restored.step.numpy()), 2)
    for a, b in ((restored.state, fitted.state),
                 (restored.generative_optimizer, fitted.generative_optimizer),
                 (restored.guide_optimizer, fitted.guide_optimizer)):
      for u, v in zip(a.variables, b.variables):
        self.assertAllEqual(u.numpy(), v.numpy())
    other = EstimatorModel(_vae(), "iwae", num_samples=2)  # no state: fewer variables
    other.compile()
    with self.assertRaisesRegex(ValueError, r"^EstimatorModel.load_weights: the file holds "
                                r"\d+ variables .* and this one has \d+: build the same "
                                "model and estimator$"):
      other.load_weights(path)


class FitTest(tf.test.TestCase, parameterized.TestCase):

  def test_the_first_step_is_the_trainers(self):
    # Tolerance: 1e-6 relative plus 1e-8 (1e-5 of the step size): Keras 3's
    # Adam rounds 1 - β2 differently from tf_keras's fused kernel, which
    # moves its first update by 6e-6 of the learning rate. The losses of the
    # step are computed before any update and agree to float rounding.
    mismatch, keras_loss, trainer_loss = first_step_mismatch(keras_seed=5)
    self.assertLess(mismatch, 1.0)
    self.assertAllClose(keras_loss, trainer_loss, rtol=1e-6, atol=0)

  def test_fit_with_tensorboard_a_checkpoint_and_early_stopping_on_val_loss(self):
    x = _images()
    logs, weights = (os.path.join(self.get_temp_dir(), d) for d in ("logs", "ckpt"))
    fitted = EstimatorModel(_vae(), "iwae", num_samples=2)
    fitted.compile()
    # No improvement of 1e9 nats: EarlyStopping stops after the second epoch,
    # which it can only do if it reads val_loss.
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=1e9, patience=1)
    history = fitted.fit(
        _batches(x[:16]), validation_data=_batches(x[16:]), epochs=10, verbose=0,
        shuffle=False, callbacks=[
            keras.callbacks.TensorBoard(logs, update_freq="epoch"),
            keras.callbacks.ModelCheckpoint(os.path.join(weights, "{epoch}.weights.h5"),
                                            save_weights_only=True), stop])
    self.assertLen(history.history["val_loss"], 2)
    self.assertEqual(stop.stopped_epoch, 1)
    self.assertContainsSubset({"loss", "generative_loss", "guide_loss", "iwae", "ess",
                               "val_loss", "val_iwae", "val_ess"}, history.history)
    self.assertNotEmpty(glob.glob(os.path.join(logs, "train", "events.out.tfevents.*")))
    self.assertNotEmpty(glob.glob(os.path.join(logs, "validation", "events.out.tfevents.*")))
    self.assertCountEqual(os.listdir(weights), ["1.weights.h5", "2.weights.h5"])
    restored = EstimatorModel(_vae(seed=4), "iwae", num_samples=2)
    restored.compile()
    restored.load_weights(os.path.join(weights, "2.weights.h5"))
    for a, b in zip(restored.variables, fitted.variables):
      self.assertAllEqual(a.numpy(), b.numpy())

  def test_evaluate_reports_the_estimators_metrics_and_changes_nothing(self):
    x = _images()
    fitted = EstimatorModel(_vae(), "nvil", num_samples=2)
    fitted.compile()
    fitted.fit(_batches(x[:8]), epochs=1, verbose=0, shuffle=False)
    before, average = _values(fitted.variables), float(fitted.state.moving_mean.numpy())
    first = fitted.evaluate(_batches(x), verbose=0, return_dict=True)
    second = fitted.evaluate(_batches(x), verbose=0, return_dict=True)
    self.assertEqual(first, second)
    self.assertCountEqual(first, ["loss", "generative_loss", "guide_loss", "baseline_mse",
                                  "elbo", "ess"])
    self.assertEqual(first["loss"], first["generative_loss"])
    for a, b in zip(before, _values(fitted.variables)):  # nvil's average is put back
      self.assertAllEqual(a, b)
    fitted.fit(_batches(x[:8]), epochs=1, verbose=0, shuffle=False)
    self.assertNotEqual(float(fitted.state.moving_mean.numpy()), average)  # fit assigns it

  @pytest.mark.slow  # three runs
  def test_a_run_resumed_by_backup_and_restore_is_the_uninterrupted_run(self):
    x = _images(16)

    def run(epochs, callbacks=(), seed=3):
      fitted = EstimatorModel(_vae(seed=seed), "nvil", num_samples=2, seed=1)
      fitted.compile()
      try:
        fitted.fit(_batches(x), epochs=epochs, verbose=0, shuffle=False,
                   callbacks=list(callbacks))
      except KeyboardInterrupt:
        pass
      return fitted

    class Interrupt(keras.callbacks.Callback):
      def on_epoch_end(self, epoch, logs=None):
        raise KeyboardInterrupt

    backup = os.path.join(self.get_temp_dir(), "backup")
    whole = run(epochs=2)
    run(epochs=2, callbacks=[keras.callbacks.BackupAndRestore(backup), Interrupt()])
    # A new process would build the model afresh: another initialisation.
    resumed = run(epochs=2, callbacks=[keras.callbacks.BackupAndRestore(backup)], seed=4)
    self.assertEqual(int(resumed.step.numpy()), 4)
    for a, b in zip(resumed.variables + resumed.guide_optimizer.variables,
                    whole.variables + whole.guide_optimizer.variables):
      self.assertAllEqual(a.numpy(), b.numpy())

  @parameterized.named_parameters(("elbo_vae", "elbo", _vae),
                                  ("wake_sleep_sbn", "wake_sleep", _sbn))
  def test_fit_trains_both_groups(self, name, make_model):
    model = make_model()
    fitted = EstimatorModel(model, name, num_samples=2)
    fitted.compile(optimizer="adam")
    theta, phi = _values(model.generative_variables), _values(model.guide_variables)
    logs = fitted.fit(_batches(_images(16)), epochs=1, verbose=0, shuffle=False).history
    self.assertTrue(all(np.isfinite(v[0]) for v in logs.values()), logs)
    for before, variable in zip(theta + phi, model.generative_variables + model.guide_variables):
      self.assertNotAllClose(before, variable.numpy(), msg=variable.name)
    self.assertEqual(int(fitted.step.numpy()), 2)
    if name == "wake_sleep":  # two losses: wake for θ, sleep for φ
      self.assertNotEqual(logs["generative_loss"], logs["guide_loss"])


class CompileTest(tf.test.TestCase):

  def test_one_optimizer_gives_both_groups_its_settings_in_two_instances(self):
    fitted = EstimatorModel(_vae(), "iwae")
    fitted.compile(optimizer=keras.optimizers.RMSprop(0.01, rho=0.8))
    generative, guide = fitted.generative_optimizer, fitted.guide_optimizer
    self.assertIsNot(generative, guide)
    self.assertIs(fitted.optimizer, generative)
    self.assertIsInstance(guide, keras.optimizers.RMSprop)
    self.assertEqual(generative.get_config(), {**guide.get_config(), "name": generative.name})
    fitted.compile()
    for opt in (fitted.generative_optimizer, fitted.guide_optimizer):
      self.assertIsInstance(opt, keras.optimizers.Adam)
      self.assertAllClose(opt.learning_rate, DEFAULT_LEARNING_RATE)
    self.assertEqual(DEFAULT_LEARNING_RATE, training.TrainConfig.learning_rate)

  def test_what_compile_cannot_take_is_one_line(self):
    fitted = EstimatorModel(_vae(), "iwae")
    with self.assertRaisesRegex(ValueError, "^EstimatorModel.compile: loss, metrics is not an "
                                "option here .*; give optimizer= or generative_optimizer= "
                                "and guide_optimizer=$"):
      fitted.compile(loss="mse", metrics=["mae"])
    with self.assertRaisesRegex(ValueError, "^EstimatorModel.compile: give optimizer= .* not "
                                "both$"):
      fitted.compile(optimizer="adam", guide_optimizer="sgd")
    same = keras.optimizers.Adam()
    with self.assertRaisesRegex(ValueError, "are one instance; give two"):
      fitted.compile(generative_optimizer=same, guide_optimizer=same)


class RefusalsTest(tf.test.TestCase):

  def test_an_estimator_that_needs_the_dataset_size_gets_it_or_is_refused(self):
    with self.assertRaisesRegex(ValueError, r"^EstimatorModel: estimator 'beta_tc_vae' needs "
                                r"dataset_size= \(the number of training examples, an "
                                r"integer >= 1\)$"):
      EstimatorModel(_vae(), "beta_tc_vae")
    fitted = EstimatorModel(_vae(), "beta_tc_vae", dataset_size=1000)
    self.assertEqual(fitted.estimator.options, {"dataset_size": 1000})
    bound = EstimatorModel(_vae(), estimators.bind("beta_tc_vae", beta=2.0), dataset_size=50)
    self.assertEqual(bound.estimator.options, {"beta": 2.0, "dataset_size": 50})
    with self.assertRaisesRegex(ValueError, "dataset_size=0: must be an integer >= 1"):
      EstimatorModel(_vae(), "beta_tc_vae", dataset_size=0)

  def test_a_model_with_a_parameter_prior_needs_the_dataset_size(self):
    model = models.get("matrix_factorisation", input_shape=(4,), latent_size=2,
                       prior="uniform", likelihood="bernoulli", dictionary="nonnegative")
    with self.assertRaisesRegex(ValueError, r"^EstimatorModel: MatrixFactorisation has a prior "
                                r"on its parameters: give dataset_size= \(the number of "
                                r"training examples\) to weigh it$"):
      EstimatorModel(model, "elbo")

  def test_an_estimator_for_other_latents_options_beside_a_binding_and_bad_options(self):
    with self.assertRaisesRegex(ValueError, "^EstimatorModel: estimator 'iwae' trains models "
                                "with real or spherical latents, and SigmoidBeliefNet has "
                                "discrete ones; use one of .*vimco"):
      EstimatorModel(_sbn(), "iwae")
    with self.assertRaisesRegex(ValueError, r"^EstimatorModel: options belong to the bound "
                                r"estimator: pass bind\('iwae', \*\*options\)"):
      EstimatorModel(_vae(), estimators.bind("iwae"), num_samples=3)
    with self.assertRaisesRegex(ValueError, "num_samples=0"):
      EstimatorModel(_vae(), "iwae", num_samples=0)
    with self.assertRaisesRegex(TypeError, "^EstimatorModel: expected a tfp_zoo model"):
      EstimatorModel("vae", "iwae")

  def test_state_fitted_to_the_data_must_be_fitted_before_fit(self):
    fitted = EstimatorModel(_vae(), "alws", feature_map="pca", feature_size=4)
    fitted.compile()
    with self.assertRaisesRegex(ValueError, r"^EstimatorModel.fit: estimator 'alws' fits its "
                                r"features to the data first: call fit_estimator_state\("
                                r"images\) .* before fit$"):
      fitted.fit(_batches(_images()), verbose=0)
    fitted.fit_estimator_state(_images())
    self.assertTrue(bool(fitted.state.pca_fitted.numpy()))
    self.assertNotAllClose(fitted.state.pca_projection.numpy(), 0.0)

  def test_it_has_no_forward_pass(self):
    with self.assertRaisesRegex(NotImplementedError, "no forward pass"):
      EstimatorModel(_vae(), "iwae")(_images(2))


class ExamplesTest(tf.test.TestCase):

  def test_the_own_loop_example_trains(self):
    spec = importlib.util.spec_from_file_location(
        "own_loop", os.path.join(ROOT, "examples", "own_loop.py"))
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    # Untrained (steps=1), the digits score about -510 nats; 30 steps, about -330.
    self.assertGreater(example.main(steps=30, batch_size=20), -450.0)


_MIRRORED = textwrap.dedent("""
    import json
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np
    from tfp_zoo import estimators, models, training
    from tfp_zoo.keras import EstimatorModel
    from tfp_zoo.training import distribute

    x = (np.random.default_rng(0).random((8, 8, 8, 1)) < 0.3).astype(np.float32)
    batches = tf.data.Dataset.from_tensor_slices(x).batch(8)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    vae = lambda: models.get("vae", input_shape=(8, 8, 1), hidden_sizes=(8,),
                             latent_sizes=(2,), seed=3)
    with strategy.scope():
      fitted = EstimatorModel(vae(), "iwae", seed=5, num_samples=2)
      fitted.compile()
      trainer = training.Trainer(vae(), estimators.bind("iwae", num_samples=2),
                                 learning_rate=1e-3, seed=SEED, strategy=strategy)
      try:
        EstimatorModel(vae(), "nvil", num_samples=2).compile()
        refused = None
      except ValueError as e:
        refused = str(e)
    logs = fitted.fit(batches, epochs=1, verbose=0, shuffle=False).history
    metrics = trainer(next(iter(distribute.distribute_batches(strategy, batches, 8))))
    variables = fitted.model.variables
    print(json.dumps(dict(
        replicas=strategy.num_replicas_in_sync, kind=type(variables[0]).__name__,
        mismatch=max(float(np.max(np.abs(a.numpy() - b.numpy())
                                  / (1e-8 + 1e-6 * np.abs(b.numpy()))))
                     for a, b in zip(variables, trainer.model.variables)),
        copies=max(float(np.max(np.abs(v.values[0].numpy() - v.values[1].numpy())))
                   for v in variables),
        keras_loss=logs["loss"][0], trainer_loss=metrics["generative_loss"],
        refused=refused)))
""")


@pytest.mark.slow  # a second interpreter, configured before TensorFlow starts
class MirroredStrategyTest(tf.test.TestCase):

  def _run(self, trainer_seed):
    out = subprocess.run([sys.executable, "-c", _MIRRORED.replace("SEED", str(trainer_seed))],
                         capture_output=True, text=True, cwd=ROOT, check=True,
                         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT))
    return json.loads(out.stdout.strip().splitlines()[-1])

  def test_two_replicas_train_as_the_trainer_does_under_the_same_strategy(self):
    result = self._run(trainer_seed=5)
    self.assertEqual((result["replicas"], result["kind"]), (2, "MirroredVariable"))
    self.assertEqual(result["copies"], 0.0)  # the replicas' copies agree
    self.assertLess(result["mismatch"], 1.0)  # the first-step tolerance of FitTest
    self.assertAllClose(result["keras_loss"], result["trainer_loss"], rtol=1e-6, atol=0)
    self.assertRegex(result["refused"], "^an estimator with state it assigns itself "
                     r"\(e.g. nvil's moving averages: .*\) is not supported with more than "
                     "one replica yet$")


if __name__ == "__main__":
  tf.test.main()
