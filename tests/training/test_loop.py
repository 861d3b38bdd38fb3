"""The training loop: resumes exactly, writes checkpoints, summaries and results."""

import contextlib
import glob
import io
import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from tfp_zoo.nn import precision
from tfp_zoo import estimators, testing, training
from tfp_zoo.training import resume as resume_lib
from tfp_zoo.training import run_summaries

TINY = {"hidden_sizes": (16,), "latent_sizes": (4,)}


def _config(workdir, **overrides):
  fields = dict(workdir=workdir, model="vae", model_hparams=dict(TINY), estimator="iwae", batch_size=20, train_steps=30, log_every=5,
                checkpoint_every=10, eval_num_samples=20, eval_examples=40)
  fields.update(overrides)
  if "num_samples" not in overrides and fields["estimator"] in ("iwae", "elbo", "dreg"):
    fields["num_samples"] = 3
  return training.TrainConfig(**fields)


def _weights(workdir):
  model, _, step = training.restore_model(workdir)
  return step, [v.numpy() for v in model.trainable_variables]


class LoopTest(tf.test.TestCase):

  def test_resumed_run_equals_uninterrupted_run(self):
    straight = os.path.join(self.get_temp_dir(), "straight")
    resumed = os.path.join(self.get_temp_dir(), "resumed")
    result = testing.trained_workdir(_config(straight))
    training.train(_config(resumed, train_steps=20))
    result_resumed = training.train(_config(resumed))
    step_a, weights_a = _weights(straight)
    step_b, weights_b = _weights(resumed)
    self.assertEqual((step_a, step_b), (30, 30))
    for a, b in zip(weights_a, weights_b):
      self.assertAllClose(a, b, rtol=1e-5, atol=1e-6)
    self.assertAllClose(result["train"]["iwae"], result_resumed["train"]["iwae"], rtol=1e-5)

  @pytest.mark.slow  # four runs; the fast tier resumes exactly (above)
  def test_unreadable_checkpoints_fall_back_or_refuse(self):
    straight = os.path.join(self.get_temp_dir(), "fallback_straight")
    broken = os.path.join(self.get_temp_dir(), "fallback")
    testing.trained_workdir(_config(straight))
    training.train(_config(broken, train_steps=20))  # ckpt-10 and ckpt-20
    checkpoints = os.path.join(broken, "checkpoints")

    def truncate(prefix):
      for path in glob.glob(os.path.join(checkpoints, prefix + ".data-*")):
        with open(path, "r+b") as f:
          f.truncate(os.path.getsize(path) // 2)
    truncate("ckpt-20")
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
      training.train(_config(broken))
    self.assertIn("Fell back to", output.getvalue())
    self.assertIn("ckpt-10: skipped unreadable ckpt-20", output.getvalue())
    # Resumed from step 10, it reproduces the uninterrupted run exactly.
    for a, b in zip(_weights(straight)[1], _weights(broken)[1]):
      self.assertAllClose(a, b, rtol=1e-5, atol=1e-6)
    # A lost state file hides nothing: the newest checkpoint is found from its files.
    os.remove(os.path.join(checkpoints, "checkpoint"))
    self.assertEqual(training.train(_config(broken, train_steps=31))["step"], 31)
    for prefix in ("ckpt-*",):
      truncate(prefix)
    with self.assertRaisesRegex(training.ConfigError,
                                "no readable checkpoint .*Refusing to restart from step 0"):
      training.train(_config(broken, train_steps=40))
    with self.assertRaisesRegex(training.ConfigError, "no readable checkpoint"):
      training.restore_model(broken)

  @pytest.mark.slow  # the fast tier resumes nvil's state (below)
  def test_hmc_step_size_is_checkpointed_and_resumes_exactly(self):
    hmc = dict(estimator="hmc", num_samples=2, train_steps=20,
               estimator_options={"num_hmc_steps": 2, "num_leapfrog_steps": 2})
    straight = os.path.join(self.get_temp_dir(), "hmc_straight")
    resumed = os.path.join(self.get_temp_dir(), "hmc_resumed")
    training.train(_config(straight, **hmc))
    training.train(_config(resumed, **dict(hmc, train_steps=10)))
    training.train(_config(resumed, **hmc))
    for a, b in zip(_weights(straight)[1], _weights(resumed)[1]):
      self.assertAllClose(a, b, rtol=1e-5, atol=1e-6)
    path = tf.train.latest_checkpoint(os.path.join(resumed, "checkpoints"))
    step_size = [tf.train.load_variable(path, n) for n, _ in tf.train.list_variables(path)
                 if n.startswith("estimator_state/log_step_size")]
    self.assertLen(step_size, 1)
    self.assertNotAlmostEqual(float(step_size[0]), np.log(0.1), places=3)  # it adapted
    self.assertIn("estimator_state/num_updates/.ATTRIBUTES/VARIABLE_VALUE",
                  dict(tf.train.list_variables(path)))  # the decaying gain's count
    # A run saved before the decaying gain (no adaptation_decay in config.json,
    # no counter in the checkpoint) resumes with its constant gain, exactly.
    constant = dict(hmc, estimator_options={**hmc["estimator_options"],
                                            "adaptation_decay": 0.0})
    straight = os.path.join(self.get_temp_dir(), "hmc_constant_straight")
    older = os.path.join(self.get_temp_dir(), "hmc_older")
    training.train(_config(straight, **constant))
    training.train(_config(older, **dict(constant, train_steps=10)))
    config_path = os.path.join(older, "config.json")
    with open(config_path) as f:
      fields = json.load(f)
    del fields["estimator_options"]["adaptation_decay"]
    with open(config_path, "w") as f:
      json.dump(fields, f)
    self.assertEqual(training.load_config(older).estimator_options["adaptation_decay"], 0.0)
    training.train(_config(older, **hmc))
    for a, b in zip(_weights(straight)[1], _weights(older)[1]):
      self.assertAllClose(a, b, rtol=1e-5, atol=1e-6)

  @pytest.mark.slow  # fast tier: the schedule of the step (test_train_step.py)
  def test_kl_warmup_resumes_exactly(self):
    # β = min(1, (s + 1)/N) is a function of the step: a run stopped half-way
    # through the warm-up and resumed matches the uninterrupted one.
    warm = dict(estimator="elbo", num_samples=2, kl_warmup_steps=25)
    straight = os.path.join(self.get_temp_dir(), "warm_straight")
    resumed = os.path.join(self.get_temp_dir(), "warm_resumed")
    result = training.train(_config(straight, **warm))
    self.assertAllClose(result["train"]["beta"], 1.0)
    training.train(_config(resumed, train_steps=10, **warm))
    training.train(_config(resumed, **warm))
    for a, b in zip(_weights(straight)[1], _weights(resumed)[1]):
      self.assertAllClose(a, b, rtol=1e-5, atol=1e-6)
    with self.assertRaisesRegex(training.ConfigError, "--kl_warmup_steps: run 25, now 5"):
      training.train(_config(resumed, train_steps=40, estimator="elbo", num_samples=2,
                             kl_warmup_steps=5))

  def test_estimator_state_is_checkpointed_and_resumed(self):
    # NVIL's baseline (network and moving average) shapes every update, so a
    # resumed run matches only if the checkpoint carries it.
    nvil = dict(model="discrete_vae", model_hparams={"num_latents": 8, "hidden_sizes": (16,)},
                estimator="nvil", estimator_options={"baseline": "learned"})
    straight = os.path.join(self.get_temp_dir(), "nvil_straight")
    resumed = os.path.join(self.get_temp_dir(), "nvil_resumed")
    training.train(_config(straight, **nvil))
    training.train(_config(resumed, train_steps=20, **nvil))
    training.train(_config(resumed, **nvil))
    for a, b in zip(_weights(straight)[1], _weights(resumed)[1]):
      self.assertAllClose(a, b, rtol=1e-5, atol=1e-6)
    names = [name for name, _ in tf.train.list_variables(
        tf.train.latest_checkpoint(os.path.join(resumed, "checkpoints")))]
    self.assertTrue(any(n.startswith("estimator_state/moving_mean") for n in names))
    self.assertTrue(any(n.startswith("estimator_state/network") for n in names))

  def test_gradient_diagnostics_are_logged_and_change_nothing(self):
    nvil = dict(model="discrete_vae", model_hparams={"num_latents": 8, "hidden_sizes": (16,)},
                estimator="nvil", train_steps=20)
    plain = os.path.join(self.get_temp_dir(), "snr_off")
    logged = os.path.join(self.get_temp_dir(), "snr_on")
    training.train(_config(plain, **nvil))
    training.train(_config(logged, snr_every=5, snr_num_draws=4, **nvil))
    for a, b in zip(_weights(plain)[1], _weights(logged)[1]):
      self.assertAllClose(a, b, rtol=1e-6, atol=1e-7)
    values = {}
    for path in glob.glob(os.path.join(logged, "train", "events.*")):
      for record in tf.data.TFRecordDataset(path):
        event = tf.compat.v1.Event.FromString(record.numpy())
        for value in event.summary.value:
          if value.metadata.plugin_data.plugin_name != "scalars":  # images, text
            continue
          values.setdefault(value.tag, []).append(
              (event.step, float(tf.make_ndarray(value.tensor))))
    for tag in ("gradient_snr/generative", "gradient_snr/guide", "gradient_snr/ess"):
      self.assertEqual([step for step, _ in values[tag]], [5, 10, 15, 20])
      self.assertTrue(all(v > 0 and np.isfinite(v) for _, v in values[tag]))
    self.assertNotIn("gradient_snr/guide", {  # off by default
        value.tag for path in glob.glob(os.path.join(plain, "train", "events.*"))
        for record in tf.data.TFRecordDataset(path)
        for value in tf.compat.v1.Event.FromString(record.numpy()).summary.value})

  @pytest.mark.slow  # fast tier: alws from a launcher config (test_alws.py)
  def test_alws_trains_from_a_config_with_numeric_bandwidth(self):
    workdir = os.path.join(self.get_temp_dir(), "alws")
    result = training.train(_config(
        workdir, estimator="alws", train_steps=10, checkpoint_every=5,
        estimator_options={"bandwidth": 5.0, "num_sleep_samples": 64, "num_features": 32}))
    self.assertEqual(result["step"], 10)
    self.assertNear(result["train"]["bandwidth"], 5.0, 1e-6)
    self.assertTrue(np.isfinite(result["test"]["mean"]))

  @pytest.mark.slow  # the fast tier resumes nvil's state (above)
  def test_alws_learned_feature_map_is_trained_and_checkpointed(self):
    workdir = os.path.join(self.get_temp_dir(), "alws_learned")
    options = {"feature_map": "learned", "feature_size": 4, "num_sleep_samples": 64,
               "num_features": 32}
    training.train(_config(workdir, estimator="alws", train_steps=5, checkpoint_every=5,
                           estimator_options=options))
    path = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
    head = [n for n, _ in tf.train.list_variables(path)
            if n.startswith("estimator_state/head/kernel/.ATTRIBUTES")]
    self.assertLen(head, 1)
    # The guide optimizer moved the map: it differs from a fresh one.
    fresh = estimators.make_state("alws", training.restore_model(workdir)[0], **options)
    trained = tf.train.load_variable(path, head[0])
    self.assertGreater(float(np.abs(trained - fresh.head.kernel.numpy()).max()), 1e-4)

  @pytest.mark.slow  # the fast tier resumes nvil's state (above)
  def test_alws_pca_features_are_fitted_on_the_data_and_checkpointed(self):
    workdir = os.path.join(self.get_temp_dir(), "alws_pca")
    options = {"feature_map": "pca", "feature_size": 6, "num_sleep_samples": 64,
               "num_features": 32}
    training.train(_config(workdir, estimator="alws", train_steps=3, checkpoint_every=3,
                           estimator_options=options))
    path = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
    names = dict(tf.train.list_variables(path))
    self.assertEqual(names["estimator_state/pca_projection/.ATTRIBUTES/VARIABLE_VALUE"],
                     [784, 6])
    self.assertTrue(tf.train.load_variable(
        path, "estimator_state/pca_fitted/.ATTRIBUTES/VARIABLE_VALUE"))
    mean = tf.train.load_variable(path, "estimator_state/pca_mean/.ATTRIBUTES/VARIABLE_VALUE")
    self.assertGreater(float(np.max(mean)), 0.1)  # digits' mean, not zeros

  def test_distributed_code_path_on_one_replica_matches_the_default(self):
    # mirrored over this machine's one CPU: strategy.run, distributed input and
    # the replica seed all run, and with one replica change nothing.
    default = training.train(_config(os.path.join(self.get_temp_dir(), "d"), train_steps=10))
    mirrored = training.train(_config(os.path.join(self.get_temp_dir(), "m"), train_steps=10,
                                      strategy="mirrored"))
    self.assertAllClose(default["train"]["iwae"], mirrored["train"]["iwae"], rtol=1e-5)
    with self.assertRaisesRegex(training.ConfigError, "--strategy=tpu: no TPU reachable"):
      training.train(_config(os.path.join(self.get_temp_dir(), "t"), strategy="tpu"))
    with self.assertRaisesRegex(training.ConfigError, "--strategy='gpus': one of default"):
      training.train(_config(os.path.join(self.get_temp_dir(), "t"), strategy="gpus"))

  def test_workdir_contents(self):
    workdir = os.path.join(self.get_temp_dir(), "run")
    result = training.train(_config(workdir, eval_every=15))
    self.assertEqual(result["step"], 30)
    self.assertTrue(np.isfinite(result["test"]["mean"]))
    self.assertEqual(result["test"]["num_examples"], 40)
    self.assertLess(result["test"]["mean"], 0.0)
    with open(os.path.join(workdir, "results.json")) as f:
      self.assertEqual(json.load(f)["step"], 30)
    self.assertEqual(tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints")),
                     os.path.join(workdir, "checkpoints", "ckpt-30"))
    tags = {}
    for path in glob.glob(os.path.join(workdir, "*", "events.out.tfevents.*")):
      for event in tf.compat.v1.train.summary_iterator(path):
        for value in event.summary.value:
          tags.setdefault(os.path.basename(os.path.dirname(path)), set()).add(value.tag)
    # K-free evaluation tags: the periodic (K <= 100) and the final (K = 20 here).
    self.assertContainsSubset({"eval/log_likelihood", "eval/ess", "final/log_likelihood",
                               "final/ess"}, tags["eval"])
    self.assertFalse([t for t in set().union(*tags.values()) if re.search(r"_k\d", t)])
    self.assertContainsSubset({"iwae", "generative_loss", "ess", "examples_per_second",
                               "learning_rate", "samples/x_mean", "samples/x",
                               "reconstructions"}, tags["train"])
    # The run's hparams and config at the workdir root, for the HParams dashboard.
    root = glob.glob(os.path.join(workdir, "events.out.tfevents.*"))
    self.assertLen(root, 1)
    plugins, texts = set(), set()
    for event in tf.compat.v1.train.summary_iterator(root[0]):
      for value in event.summary.value:
        plugins.add(value.metadata.plugin_data.plugin_name)
        texts.add(value.tag)
    self.assertContainsSubset({"hparams", "text"}, plugins)
    self.assertIn("config", texts)
    hparams = run_summaries.hparams_of(_config(workdir, eval_every=15))
    self.assertEqual(hparams["eval_num_samples"], 20)
    self.assertEqual(hparams["model_hparams.hidden_sizes"], json.dumps(list(TINY["hidden_sizes"])))
    with open(os.path.join(workdir, "config.json")) as f:
      saved = json.load(f)
    # --precision=auto (the default) is decided for this host and pinned.
    self.assertEqual(saved["precision"], precision.auto_precision(**precision.host_hardware())[0])

  def test_time_budget_checkpoints_and_stops_then_resumes(self):
    workdir = os.path.join(self.get_temp_dir(), "budget")
    # A budget spent by the first step: stop after it, checkpointed and evaluated.
    result = training.train(_config(workdir, train_steps=1000, max_train_seconds=1e-6))
    self.assertEqual(result["step"], 1)
    self.assertEqual(_weights(workdir)[0], 1)
    self.assertTrue(np.isfinite(result["test"]["mean"]))
    result = training.train(_config(workdir, train_steps=12))  # no budget: runs to the end
    self.assertEqual(result["step"], 12)

  def test_incompatible_resume_is_refused(self):
    workdir = os.path.join(self.get_temp_dir(), "run")
    training.train(_config(workdir, train_steps=5, eval_examples=10))
    with self.assertRaisesRegex(training.ConfigError, "cannot continue: --model_hparams: hidden_sizes .* in the run, now"):
      training.train(_config(workdir, model_hparams={"hidden_sizes": (8,)}))

  def test_a_dataset_smaller_than_the_default_batch_gets_a_batch_of_its_size(self):
    workdir = os.path.join(self.get_temp_dir(), "small")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
      result = training.train(_config(workdir, batch_size=None, train_examples=30,
                                      train_steps=2, eval_examples=10))
    self.assertEqual(result["step"], 2)
    self.assertIn("note: the training split has 30 examples, fewer than the default batch "
                  "of 100: --batch_size=30", out.getvalue())
    with open(os.path.join(workdir, "config.json")) as f:
      self.assertEqual(json.load(f)["batch_size"], 30)  # pinned: a resume keeps it
    # Given explicitly, a batch larger than the data is still refused.
    with self.assertRaisesRegex(training.ConfigError,
                                r"--batch_size=100: must be at most the number of training "
                                r"examples \(30\)"):
      training.train(_config(os.path.join(self.get_temp_dir(), "small2"), batch_size=100,
                             train_examples=30, train_steps=2))

  def test_bad_config_values_name_the_flag(self):
    workdir = self.get_temp_dir()
    for overrides, pattern in (
        (dict(batch_size=0), "--batch_size=0: must be a positive integer"),
        (dict(model="gan"), "--model='gan': one of air, discrete_vae, gaussian_mixture, hyperspherical_vae, linear_gaussian, matrix_factorisation, polynomial_regression, sigmoid_belief_net, vae"),
        (dict(estimator_options={"analytic_kl": True}), "--estimator_options: .*analytic_kl"),
        (dict(model_hparams={"stochastic_layers": 3}), "--model_hparams: stochastic_layers=3"),
        (dict(batch_size=20000), "--batch_size=20000: must be at most"),
        (dict(learning_rate=-1.0), "--learning_rate=-1.0: must be positive"),
        (dict(snr_num_draws=1), "--snr_num_draws=1: must be an integer >= 2"),
        (dict(max_train_seconds=-1.0), "--max_train_seconds=-1.0: must be a non-negative"),
        (dict(estimator="alws", estimator_options={"bandwidth": -2.0}),
         "--estimator_options: alws: bandwidth=-2.0 must be one of 'median'"),
        (dict(estimator="alws", estimator_options={"solver": 3}), "solver=3 must be a string"),
        (dict(estimator_options={"num_samples": 0}), "set num_samples with --num_samples"),
        (dict(estimator="nvil", estimator_options={"baseline": "mean"}),
         "--estimator_options: nvil: baseline='mean' must be one of 'learned'"),
        (dict(estimator="hmc", estimator_options={"target_accept_rate": 1.0}),
         r"--estimator_options: hmc: target_accept_rate=1.0 must be a finite number in "
         r"\(0, 1\)"),
        (dict(model_hparams=dict(TINY, flow_layers=0, guide="iaf")),
         "--model_hparams: .*flow_layers=0: expected a positive integer"),
        (dict(estimator="nvil", estimator_options={"state": "x"}),
         "--estimator_options: estimator 'nvil' does not take state"),
        (dict(estimator="elbo", estimator_options={"analytic_kl": "yes"}),
         "analytic_kl='yes' must be true or false"),
        (dict(model="linear_gaussian", model_hparams={"latent_size": 2.5}),
         "latent_size=2.5 must be an integer"),
        (dict(estimator="elbo", estimator_options={"analytic_kl": True},
              model_hparams=dict(TINY, stochastic_layers=2, latent_sizes=(4, 2))),
         "--estimator=elbo with --model=vae: elbo\\(analytic_kl=True\\) needs")):
      with self.assertRaisesRegex(training.ConfigError, pattern):
        training.train(_config(os.path.join(workdir, "bad"), **overrides))
    self.assertFalse(os.path.exists(os.path.join(workdir, "bad")))  # nothing written

  def test_a_run_that_failed_before_its_first_checkpoint_can_be_retried(self):
    workdir = os.path.join(self.get_temp_dir(), "retry")
    os.makedirs(workdir)
    resume_lib.save_config(_config(workdir, model_hparams={"hidden_sizes": (8,)}), workdir,
                            None)
    with open(os.path.join(workdir, "results.json"), "w") as f:
      f.write("{}")  # stale
    result = training.train(_config(workdir, train_steps=5, eval_examples=10))
    self.assertEqual(result["step"], 5)
    with open(os.path.join(workdir, "results.json")) as f:
      self.assertEqual(json.load(f)["step"], 5)

  def test_workdir_that_is_a_file(self):
    path = os.path.join(self.get_temp_dir(), "file")
    with open(path, "w") as f:
      f.write("x")
    with self.assertRaisesRegex(training.ConfigError, "exists and is not a directory"):
      training.train(_config(path, train_steps=2))



if __name__ == "__main__":
  tf.test.main()
