"""The workdir: nothing a user does loses or poisons a run. The lock, the
resume contract, non-finite states never persisted, failed writes, read-only
tools, all in-process."""

import errno
import glob
import json
import math
import os
import socket
import subprocess
import sys
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf

from tfp_zoo import datasets, testing, training
from tfp_zoo.app import export
from tfp_zoo import models as models_lib
from tfp_zoo.errors import ResourceError, WorkdirLockedError
from tfp_zoo.training import actions
from tfp_zoo.training import workdir as workdir_lib
from tfp_zoo.training import resume as resume_lib

TINY = testing.TINY_VAE
_config = testing.tiny_train_config


def _snapshot(workdir):
  """Every file's bytes (lock aside): to show that nothing changed."""
  out = {}
  for path in sorted(glob.glob(os.path.join(workdir, "**"), recursive=True)):
    if os.path.isfile(path) and os.path.basename(path) != workdir_lib.LOCK_FILE:
      with open(path, "rb") as f:
        out[os.path.relpath(path, workdir)] = f.read()
  return out


def _dead_pid():
  process = subprocess.Popen([sys.executable, "-c", "pass"])
  process.wait()
  return process.pid


class LockTest(tf.test.TestCase):

  def test_a_second_trainer_stops_at_once_naming_the_holder(self):
    workdir = self.create_tempdir().full_path
    with workdir_lib.Lock(workdir):
      with self.assertRaisesRegex(WorkdirLockedError, f"in use by PID {os.getpid()} on "):
        workdir_lib.Lock(workdir).acquire()
      with self.assertRaisesRegex(WorkdirLockedError, f"PID {os.getpid()}"):
        training.train(_config(workdir, train_steps=2))
    self.assertFalse(os.path.exists(os.path.join(workdir, "config.json")))
    with workdir_lib.Lock(workdir):  # released: free again
      pass

  def test_a_stale_lock_of_a_dead_process_is_taken_over_and_said_so(self):
    workdir = self.create_tempdir().full_path
    with open(os.path.join(workdir, "lock"), "w") as f:
      json.dump({"host": socket.gethostname(), "pid": _dead_pid()}, f)
    with mock.patch("builtins.print") as printed:
      lock = workdir_lib.Lock(workdir).acquire()
    self.assertIn("Took over the stale lock", printed.call_args[0][0])
    with open(os.path.join(workdir, "lock")) as f:
      self.assertEqual(json.load(f)["pid"], os.getpid())
    lock.release()

  def test_a_lock_recorded_by_another_host_is_not_taken_over(self):
    workdir = self.create_tempdir().full_path
    with open(os.path.join(workdir, "lock"), "w") as f:
      json.dump({"host": "elsewhere", "pid": _dead_pid()}, f)
    with self.assertRaisesRegex(WorkdirLockedError, "on elsewhere, which may still be "
                                "running; if it is not, delete"):
      workdir_lib.Lock(workdir).acquire()

  def test_readers_take_no_lock(self):
    workdir = os.path.join(self.create_tempdir().full_path, "run")
    testing.trained_workdir(_config(workdir))
    with workdir_lib.Lock(workdir):  # a trainer holds it; reading still works
      _, _, step = training.restore_model(workdir)
      self.assertEqual(step, 10)


class ResumeContractTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.workdir = os.path.join(self.create_tempdir().full_path, "run")
    self.first = testing.trained_workdir(_config(self.workdir))

  def test_every_refused_difference_is_listed_and_nothing_changes(self):
    before = _snapshot(self.workdir)
    with self.assertRaises(training.ConfigError) as raised:
      training.train(_config(self.workdir, estimator="elbo", batch_size=10, train_steps=5,
                             jit_compile=True, seed=3))
    message = str(raised.exception)
    self.assertNotIn("\n", message)
    for part in ("--estimator: run 'iwae', now 'elbo'", "--batch_size: run 20, now 10",
                 "--jit_compile: run False, now True", "--seed: run 0, now 3",
                 "--train_steps: 5 is below the restored step 10"):
      self.assertIn(part, message)
    self.assertEqual(_snapshot(self.workdir), before)  # config.json, results.json kept

  def test_a_new_learning_rate_is_applied_and_logged(self):
    with mock.patch("builtins.print") as printed:
      training.train(_config(self.workdir, train_steps=15, learning_rate=0.02))
    lines = [str(c[0][0]) for c in printed.call_args_list if c[0]]
    self.assertTrue(any("--learning_rate changed from 0.001 to 0.02: applied from step 10"
                        in line for line in lines), lines)
    path = tf.train.latest_checkpoint(os.path.join(self.workdir, "checkpoints"))
    rates = [tf.train.load_variable(path, name) for name, _ in tf.train.list_variables(path)
             if "optimizer" in name and "learning_rate" in name]
    self.assertLen(rates, 2)
    self.assertAllClose(rates, [0.02, 0.02])

  def test_cadence_budget_and_strategy_may_change(self):
    result = training.train(_config(self.workdir, train_steps=12, log_every=3,
                                    checkpoint_every=4, eval_examples=10,
                                    eval_num_samples=3, max_train_seconds=100.0,
                                    strategy="one_device"))
    self.assertEqual(result["step"], 12)

  def test_data_are_compared_by_content_not_by_path(self):
    source = self.create_tempdir().full_path
    images = datasets.load_images("mnist_small", "train")[:200, ..., 0]
    testing.write_fake_idx(source, 200, 100, images=images)
    tfds_dir = self.create_tempdir().full_path
    workdir = os.path.join(self.create_tempdir().full_path, "idx")
    with mock.patch.dict(os.environ, {"TFDS_DATA_DIR": tfds_dir}):
      training.train(_config(workdir, dataset="mnist", data_dir=source, train_steps=4,
                             checkpoint_every=4))
      copy = self.create_tempdir().full_path  # same bytes, other path: accepted
      for name in os.listdir(source):
        with open(os.path.join(source, name), "rb") as f, open(
            os.path.join(copy, name), "wb") as g:
          g.write(f.read())
      training.train(_config(workdir, dataset="mnist", data_dir=copy, train_steps=6,
                             checkpoint_every=4))
      datasets.write_idx(os.path.join(copy, "train-images-idx3-ubyte.gz"), images[::-1])
      with self.assertRaisesRegex(training.ConfigError, "--data_dir=.*: the data differ"):
        training.train(_config(workdir, dataset="mnist", data_dir=copy, train_steps=8))

  def test_rerunning_a_finished_run_keeps_its_training_metrics(self):
    again = training.train(_config(self.workdir))
    self.assertEqual(again["step"], 10)
    self.assertEqual(again["train"], self.first["train"])
    self.assertNotEmpty(again["train"])
    with open(os.path.join(self.workdir, "results.json")) as f:
      self.assertEqual(json.load(f)["train"], self.first["train"])

  def test_an_invalid_config_json_is_one_clear_error_and_is_kept(self):
    path = os.path.join(self.workdir, "config.json")
    with open(path, "w") as f:
      f.write('{"model": "vae",')
    with self.assertRaisesRegex(training.ConfigError, "config.json is not valid JSON"):
      training.train(_config(self.workdir, train_steps=12))
    with self.assertRaisesRegex(training.ConfigError, "config.json is not valid JSON"):
      training.restore_model(self.workdir)
    with open(path, "w") as f:
      json.dump({"model": "vae", "batch_size": "many", "workdir": self.workdir}, f)
    with self.assertRaisesRegex(training.ConfigError, "not a valid run configuration.*"
                                "--batch_size='many'"):
      training.train(_config(self.workdir, train_steps=12))
    with open(path) as f:
      self.assertIn("many", f.read())


class OlderWorkdirsTest(tf.test.TestCase):

  def test_older_configs_keep_their_iaf_and_their_zeros_mean_the_default(self):
    workdir = self.create_tempdir().full_path
    run = _config(workdir, model_hparams=dict(TINY, guide="iaf", prior="mixture"),
                  estimator="hmc").validate()
    resume_lib.save_config(run, workdir, None)
    path = os.path.join(workdir, "config.json")
    with open(path) as f:
      fields = json.load(f)
    self.assertIsNone(fields["model_hparams"]["iaf_context"])  # new runs: the context IAF
    self.assertIsNone(fields["model_hparams"]["flow_layers"])
    # As the previous main wrote it: no iaf_context, no adaptation_decay, and
    # 0 for "the default" size.
    del fields["model_hparams"]["iaf_context"], fields["estimator_options"]["adaptation_decay"]
    fields["model_hparams"].update(flow_layers=0, prior_components=0, flow_hidden=0)
    with open(path, "w") as f:
      json.dump(fields, f)
    saved = training.load_config(workdir)
    self.assertIs(saved.model_hparams["iaf_context"], False)
    self.assertEqual(saved.estimator_options["adaptation_decay"], 0.0)
    for name in ("flow_layers", "prior_components", "flow_hidden"):
      self.assertIsNone(saved.model_hparams[name], name)
    model = models_lib.get("vae", input_shape=(28, 28, 1), **saved.resolved_model_hparams())
    self.assertFalse(model.iaf_context)
    self.assertLen(model.guide_flows[0].layers, 2)  # the default, not 0 layers
    self.assertEqual(model.prior.locs.shape[0], 10)

  def test_k_is_saved_itself_and_a_null_k_of_older_runs_stays_5(self):
    workdir = self.create_tempdir().full_path
    new_run = _config(workdir, estimator="elbo", num_samples=None).validate()
    resume_lib.save_config(new_run, workdir, None)
    path = os.path.join(workdir, "config.json")
    with open(path) as f:
      fields = json.load(f)
    self.assertEqual(fields["num_samples"], 1)  # elbo's own default, as from Python
    # Before each estimator declared its K, the launcher saved null and gave 5.
    fields["num_samples"] = None
    with open(path, "w") as f:
      json.dump(fields, f)
    saved = training.load_config(workdir)
    self.assertEqual(saved.effective_num_samples, 5)
    # Resumed without --num_samples: the run's K, not the estimator's default.
    resumed = _config(workdir, estimator="elbo", num_samples=None).with_run_defaults(saved)
    self.assertEqual(resumed.effective_num_samples, 5)
    given = _config(workdir, estimator="elbo", num_samples=3).with_run_defaults(saved)
    self.assertEqual(given.effective_num_samples, 3)  # given: kept (the check refuses it)

  @pytest.mark.slow  # trains, resumes, evaluates and exports an old-format run
  def test_a_workdir_written_before_the_resume_contract_resumes_and_exports(self):
    # config.json as the previous main wrote it: K saved for every estimator,
    # no data digest, no lock file.
    workdir = os.path.join(self.create_tempdir().full_path, "old")
    training.train(_config(workdir, num_samples=None))
    path = os.path.join(workdir, "config.json")
    with open(path) as f:
      fields = json.load(f)
    del fields["data_digest"], fields[workdir_lib.PINNED_KEY]
    del fields["model_hparams"]["pixel_scale_init"]  # not written before 2026-11-27
    fields["num_samples"] = 5
    with open(path, "w") as f:
      json.dump(fields, f)
    os.remove(os.path.join(workdir, "lock"))
    self.assertEqual(training.train(_config(workdir, num_samples=None,
                                            train_steps=12))["step"], 12)
    self.assertEqual(training.evaluate_workdir(workdir, num_samples=2,
                                               num_examples=5).num_examples, 5)
    export.export_workdir(workdir, os.path.join(self.create_tempdir().full_path, "e"))
    # Options the previous main accepted but ignored are dropped on reading
    # (they had no effect), so such a run still resumes without them.
    fields.update(estimator="alws", num_samples=5,
                  estimator_options={"solver": "exact", "num_features": 64})
    with open(path, "w") as f:
      json.dump(fields, f)
    config = training.load_config(workdir)
    self.assertIsNone(config.num_samples)  # alws takes no K
    # ... and a run saved before config.json pinned every default gets the
    # defaults of its time (ALWS's changed on 2026-11-27).
    self.assertEqual(config.estimator_options, {"solver": "exact", "ridge": 1e-3,
                                                "guide_sleep_samples": 10**9})
    # The model's too: Gaussian pixels started at scale 1 then (0.1 since).
    self.assertEqual(config.model_hparams["pixel_scale_init"], 1.0)
    for likelihood in ("gaussian", "bernoulli"):  # both rebuild
      model = models_lib.get("vae", input_shape=(4, 4, 1),
                             **{**config.model_hparams, "likelihood": likelihood})
      if likelihood == "gaussian":
        self.assertAllClose(tf.nn.softplus(model.pixel_raw_scale[0]) + 1e-3, 1.0, atol=2e-3)


class PinnedDefaultsTest(tf.test.TestCase):
  """config.json holds every default, so a run outlives a change of default."""

  def _log_likelihood(self, workdir):
    return training.evaluate_workdir(workdir, num_samples=3, num_examples=10).mean

  def test_a_changed_model_default_does_not_change_a_saved_run(self):
    workdir = os.path.join(self.create_tempdir().full_path, "run")
    testing.trained_workdir(_config(workdir))
    with open(os.path.join(workdir, "config.json")) as f:
      saved = json.load(f)
    self.assertTrue(saved[workdir_lib.PINNED_KEY])
    self.assertEqual(saved["model_hparams"]["activation"], "tanh")  # a default, written
    self.assertEqual(saved["estimator_options"], {})  # iwae's one option is K: --num_samples
    before = self._log_likelihood(workdir)
    defaults = models_lib.get_class("vae").__init__.__kwdefaults__
    with mock.patch.dict(defaults, {"activation": "relu"}):
      self.assertEqual(self._log_likelihood(workdir), before)  # evaluated as trained
      self.assertEqual(training.train(_config(workdir, train_steps=12, checkpoint_every=2,
                                              eval_examples=5))["step"], 12)
      with open(os.path.join(workdir, "config.json")) as f:
        self.assertEqual(json.load(f)["model_hparams"]["activation"], "tanh")
      # The same run saved without its defaults would be rebuilt with the new one.
      del saved["model_hparams"]["activation"]
      with open(os.path.join(workdir, "config.json"), "w") as f:
        json.dump(saved, f)
      self.assertNotAlmostEqual(self._log_likelihood(workdir), before, places=3)

  @pytest.mark.slow  # two runs and a refusal; the model's defaults are the fast check
  def test_a_resumed_run_keeps_its_options_and_a_change_names_the_keys(self):
    workdir = os.path.join(self.create_tempdir().full_path, "alws")
    options = {"num_sleep_samples": 32, "num_features": 16}
    training.train(_config(workdir, estimator="alws", num_samples=None, train_steps=2,
                           checkpoint_every=2, estimator_options=options, eval_examples=5))
    with open(os.path.join(workdir, "config.json")) as f:
      pinned = json.load(f)["estimator_options"]
    self.assertEqual(pinned["ridge"], "auto")
    self.assertNotIn("feature_size", pinned)  # meaningless with feature_map='kernel'
    with self.assertRaises(training.ConfigError) as raised:
      training.train(_config(workdir, estimator="alws", num_samples=None, train_steps=4,
                             estimator_options=dict(options, ridge=0.01)))
    self.assertIn("--estimator_options: ridge 'auto' in the run, now 0.01, ridge_every 100 "
                  "in the run, now unset", str(raised.exception))
    self.assertEqual(training.train(_config(  # the run's values, given or not
        workdir, estimator="alws", num_samples=None, train_steps=4, eval_examples=5,
        estimator_options=dict(options, ridge="auto")))["step"], 4)


class NonFiniteTest(tf.test.TestCase):

  def test_a_diverging_step_stops_the_run_and_is_never_saved(self):
    workdir = os.path.join(self.create_tempdir().full_path, "run")
    testing.trained_workdir(_config(workdir))
    before = _snapshot(workdir)
    with self.assertRaisesRegex(training.TrainingDivergedError,
                                r"step 1[1-9] made the (loss|parameters) non-finite") as raised:
      training.train(_config(workdir, train_steps=20, learning_rate=1e30,
                             checkpoint_every=1))
    diverged = int(str(raised.exception).split()[1])
    # Every finite step was saved (checkpoint_every=1); the diverged one never.
    self.assertEqual(workdir_lib.checkpoint_candidates(
        os.path.join(workdir, "checkpoints"))[0], os.path.join(workdir, "checkpoints",
                                                                f"ckpt-{diverged - 1}"))
    after = _snapshot(workdir)
    self.assertEqual(after["results.json"], before["results.json"])
    model, _, step = training.restore_model(workdir)
    self.assertEqual(step, diverged - 1)
    self.assertTrue(all(np.all(np.isfinite(v.numpy())) for v in model.variables))

  def test_the_step_flags_non_finite_parameters_at_once(self):
    # lr = 1e30 leaves the loss of step 1 finite but its parameters huge; the
    # first non-finite step is named, not the next logging step.
    workdir = os.path.join(self.create_tempdir().full_path, "run")
    with self.assertRaisesRegex(training.TrainingDivergedError, r"step [12] made"):
      training.train(_config(workdir, learning_rate=1e30, log_every=100))
    self.assertEmpty(workdir_lib.checkpoint_candidates(os.path.join(workdir, "checkpoints")))
    self.assertFalse(os.path.exists(os.path.join(workdir, "results.json")))

  def test_results_and_summaries_never_hold_nan(self):
    path = os.path.join(self.create_tempdir().full_path, "results.json")
    workdir_lib.write_json(path, {"test": {"mean": float("nan"), "ess": np.float32(2.0)},
                                  "x": [float("inf"), 1]}, "results.json")
    with open(path) as f:
      self.assertEqual(json.loads(f.read()), {"test": {"mean": None, "ess": 2.0},
                                              "x": [None, 1]})
    logdir = self.create_tempdir().full_path
    writer = tf.summary.create_file_writer(logdir)
    skipped = actions.write_scalars(writer, 1, {"a": 1.0, "b": math.nan, "c": math.inf})
    writer.flush()
    self.assertEqual(skipped, ["b", "c"])
    tags = {v.tag for p in glob.glob(os.path.join(logdir, "events.*"))
            for e in tf.compat.v1.train.summary_iterator(p) for v in e.summary.value}
    self.assertEqual(tags, {"a"})

  def test_progress_lines_show_small_values(self):
    progress = mock.Mock()
    progress.rate.return_value = 2.0
    log = actions.LogMetrics(tf.summary.create_noop_writer(), progress, 1, 10)
    log(1, {"ridge": 3.16e-5, "loss": -1024.4801, "zero": 0.0}, None, stopping=False)
    self.assertEqual(progress.update.call_args[0][1],
                     "ridge 3.16e-05 | loss -1024.480 | zero 0.000")


class FailedWritesTest(tf.test.TestCase):
  """Sessions run as root, so a read-only or full disk is injected as the
  OSError a write would raise."""

  def test_a_full_disk_or_read_only_workdir_is_one_line_and_loses_nothing(self):
    workdir = os.path.join(self.create_tempdir().full_path, "run")
    testing.trained_workdir(_config(workdir))
    before = _snapshot(workdir)
    for code, hint in ((errno.ENOSPC, "the disk is full"), (errno.EACCES, "permission denied"),
                       (errno.EROFS, "read-only")):
      with mock.patch.object(workdir_lib.os, "replace",
                             side_effect=OSError(code, os.strerror(code))):
        with self.assertRaisesRegex(ResourceError, f"cannot write config.json at .*{hint}"):
          training.train(_config(workdir, train_steps=12))
      self.assertEqual(_snapshot(workdir), before)
    with mock.patch.object(tf.train.CheckpointManager, "save", side_effect=(
        tf.errors.ResourceExhaustedError(None, None, "No space left on device"))):
      with self.assertRaisesRegex(ResourceError, "cannot write a checkpoint .*No space left"):
        training.train(_config(workdir, train_steps=12))
    self.assertEqual(training.restore_model(workdir)[2], 10)

  def test_out_of_memory_in_a_step_names_the_flags_to_lower(self):
    workdir = os.path.join(self.create_tempdir().full_path, "run")
    with mock.patch.object(training.Trainer, "__call__", side_effect=(
        tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor"))):
      with self.assertRaisesRegex(ResourceError, "out of memory .*lower --num_samples or "
                                  "--batch_size"):
        training.train(_config(workdir))
    self.assertEmpty(workdir_lib.checkpoint_candidates(os.path.join(workdir, "checkpoints")))


class ReadersTest(tf.test.TestCase):

  def test_evaluate_with_zero_examples_means_the_whole_test_split(self):
    workdir = os.path.join(self.create_tempdir().full_path, "run")
    testing.trained_workdir(_config(workdir))
    result = training.evaluate_workdir(workdir, num_samples=2, num_examples=0,
                                       batch_size=500)
    self.assertEqual(result.num_examples, len(datasets.load_images("mnist_small", "test")))
    self.assertEqual(training.evaluate_workdir(workdir, num_samples=2,
                                               num_examples=7).num_examples, 7)
    fp32, bf16 = (training.evaluate_workdir(workdir, num_samples=20, num_examples=7,
                                            precision=p) for p in ("float32", "bfloat16"))
    self.assertNotEqual(fp32.mean, bf16.mean)  # bf16 arithmetic, same seeds
    self.assertAllClose(fp32.mean, bf16.mean, rtol=2.0 ** -8 / 16)
    with self.assertRaisesRegex(training.ConfigError, "^--precision='fp8': one of float32"):
      training.evaluate_workdir(workdir, precision="fp8")
    with self.assertRaisesRegex(training.ConfigError, "^--precision: AIS runs in float32"):
      training.evaluate_workdir(workdir, method="ais", precision="bfloat16")

  def test_evaluate_by_ais_and_its_refusals(self):
    workdir = os.path.join(self.create_tempdir().full_path, "run")
    testing.trained_workdir(_config(workdir))
    ais = training.evaluate_workdir(workdir, num_samples=4, num_examples=6, method="ais",
                                    ais_steps=5)
    self.assertEqual((ais.num_examples, ais.num_samples), (6, 4))
    self.assertTrue(np.isfinite(ais.mean))
    from_guide = training.evaluate_workdir(workdir, num_samples=4, num_examples=6,
                                           method="ais", ais_steps=5, ais_proposal="guide")
    self.assertTrue(np.isfinite(from_guide.mean))
    self.assertNotEqual(from_guide.mean, ais.mean)
    with self.assertRaisesRegex(training.ConfigError,
                                "^--ais_proposal='posterior': one of prior, guide$"):
      training.evaluate_workdir(workdir, method="ais", ais_proposal="posterior")
    with self.assertRaisesRegex(training.ConfigError, "--method='mcmc': one of is, ais"):
      training.evaluate_workdir(workdir, method="mcmc")
    discrete = os.path.join(self.create_tempdir().full_path, "discrete")
    training.train(_config(discrete, model="discrete_vae", estimator="vimco",
                           model_hparams={"num_latents": 3, "hidden_sizes": (4,)},
                           train_steps=2, checkpoint_every=2))
    with self.assertRaisesRegex(training.ConfigError, "--method=ais: ais: latent 'z'"):
      training.evaluate_workdir(discrete, method="ais")


if __name__ == "__main__":
  tf.test.main()
