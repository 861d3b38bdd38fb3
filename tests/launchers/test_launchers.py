"""Launcher smoke tests in real processes: train, restart from the checkpoint,
evaluate, sample, export, SIGKILL and SIGTERM. Bad flags and other hostile
input: tests/launchers/test_hostile_user.py."""

import glob
import json
import os
import re
import signal
import subprocess

import pytest
import tensorflow as tf
from absl.testing import parameterized

from tfp_zoo import testing
from tfp_zoo.launch import startup

pytestmark = pytest.mark.slow  # end to end: .ci/run's second step

TINY = ["--model_hparams=hidden_sizes=32,latent_sizes=4", "--batch_size=50",
        "--num_samples=2", "--log_every=5", "--checkpoint_every=10",
        "--eval_num_samples=10", "--eval_examples=50"]


def _run(launcher, *args, timeout=300):
  process = testing.start_launcher(launcher, *args)
  stdout, stderr = process.communicate(timeout=timeout)
  return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _last_line(process):
  return process.stderr.strip().splitlines()[-1]


_AIR = ["--model=air", "--dataset=multi_mnist", "--binarization=none",
        "--model_hparams=what_size=4,window_size=10,hidden_size=16,rnn_size=16",
        "--batch_size=8", "--log_every=5", "--checkpoint_every=10",
        "--eval_num_samples=5", "--eval_examples=8"]


class LaunchersTest(tf.test.TestCase, parameterized.TestCase):

  def test_train_restart_evaluate(self):
    workdir = os.path.join(self.get_temp_dir(), "run")
    first = _run("train.py", f"--workdir={workdir}", "--train_steps=20", *TINY)
    self.assertEqual(first.returncode, 0, first.stderr[-3000:])
    self.assertIn("train 20/20", first.stdout)
    self.assertIn("test log-likelihood (K=10, 50 examples)", first.stdout)
    self.assertTrue(os.path.exists(os.path.join(workdir, "checkpoints", "ckpt-20.index")))
    self.assertNotEmpty(tf.io.gfile.glob(os.path.join(workdir, "train", "events.*")))
    self.assertNotEmpty(tf.io.gfile.glob(os.path.join(workdir, "eval", "events.*")))

    second = _run("train.py", f"--workdir={workdir}", "--train_steps=30", *TINY)
    self.assertEqual(second.returncode, 0, second.stderr[-3000:])
    self.assertIn("Resuming from step 20", second.stdout)
    self.assertIn("train 30/30", second.stdout)
    self.assertNotIn("train 5/30", second.stdout)

    # The run says what it is, once, and TensorFlow's C++ start-up lines are gone.
    self.assertEqual(first.stdout.count("strategy: default, 1 replica on 1 worker"), 1)
    self.assertFalse([line for line in first.stderr.splitlines()
                      if startup.is_startup_noise(line)], first.stderr[-3000:])

    output = os.path.join(self.get_temp_dir(), "evaluation.json")
    evaluation = _run("evaluate.py", f"--workdir={workdir}", "--num_samples=20",
                      "--num_examples=30", f"--output={output}")
    self.assertEqual(evaluation.returncode, 0, evaluation.stderr[-3000:])
    self.assertIn("at step 30", evaluation.stdout)
    self.assertRegex(evaluation.stdout,
                     r"test log-likelihood \(K=20, 30 examples\): -\d+\.\d+ ± \d+\.\d+ nats")
    # --output: the fields of results.json's evaluation block, with these values.
    with open(output) as f, open(os.path.join(workdir, "results.json")) as g:
      written, results = json.load(f), json.load(g)
    self.assertEqual(set(written), set(results["test"]))
    self.assertEqual((written["num_samples"], written["num_examples"]), (20, 30))
    self.assertIn(f"{written['mean']:.3f}", evaluation.stdout)

  def test_sample_pictures_from_workdir_and_saved_model(self):
    workdir = os.path.join(self.get_temp_dir(), "planar")
    trained = _run("train.py", f"--workdir={workdir}", "--train_steps=10",
                   "--model_hparams=hidden_sizes=16,latent_sizes=2", "--batch_size=50",
                   "--log_every=5", "--checkpoint_every=10", "--eval_num_samples=5",
                   "--eval_examples=20")
    self.assertEqual(trained.returncode, 0, trained.stderr[-3000:])
    out = os.path.join(self.get_temp_dir(), "pictures")
    sampled = _run("sample.py", f"--workdir={workdir}", f"--output={out}/w.png",
                   "--num_samples=16", "--grid_points=4", "--posterior_examples=2")
    self.assertEqual(sampled.returncode, 0, sampled.stderr[-3000:])
    for name in ("w.png", "w_latent_grid.png", "w_posterior.png"):
      self.assertGreater(os.path.getsize(os.path.join(out, name)), 1000, name)
    exported = _run("export.py", f"--workdir={workdir}", f"--output={out}/model")
    self.assertEqual(exported.returncode, 0, exported.stderr[-3000:])
    sampled = _run("sample.py", f"--saved_model={out}/model", f"--output={out}/s.png",
                   "--num_samples=16", "--grid_points=4")
    self.assertEqual(sampled.returncode, 0, sampled.stderr[-3000:])
    for name in ("s.png", "s_latent_grid.png"):
      self.assertGreater(os.path.getsize(os.path.join(out, name)), 1000, name)
    # Bad sources (neither, both, not a SavedModel): tests/test_pictures.py.

  def test_sigkill_then_restart_reproduces_the_uninterrupted_losses(self):
    flags_ = ["--train_steps=200", *TINY]
    straight = _run("train.py", f"--workdir={self.get_temp_dir()}/straight", *flags_)
    self.assertEqual(straight.returncode, 0, straight.stderr[-3000:])
    killed_dir = f"{self.get_temp_dir()}/killed"
    process = _start("train.py", f"--workdir={killed_dir}", *flags_)
    _wait_for_line(process, "train 25/200")
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    self.assertEqual(process.returncode, -signal.SIGKILL)
    restarted = _run("train.py", f"--workdir={killed_dir}", *flags_)
    self.assertEqual(restarted.returncode, 0, restarted.stderr[-3000:])
    resumed_at = int(re.search(r"Resuming from step (\d+)", restarted.stdout).group(1))
    self.assertBetween(resumed_at, 10, 190)
    expected, got = _losses(straight.stdout), _losses(restarted.stdout)
    compared = [s for s in got if s > resumed_at]
    self.assertNotEmpty(compared)
    for step in compared:
      self.assertEqual(got[step], expected[step], f"step {step}")

  def test_sigterm_checkpoints_and_exits_cleanly(self):
    workdir = f"{self.get_temp_dir()}/terminated"
    process = _start("train.py", f"--workdir={workdir}", "--train_steps=100000", *TINY)
    _wait_for_line(process, "train 25/100000")
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    self.assertEqual(process.returncode, 0, stderr[-3000:])
    step = int(re.search(r"SIGTERM: saved the checkpoint of step (\d+)", stdout).group(1))
    self.assertTrue(os.path.exists(os.path.join(workdir, "checkpoints", f"ckpt-{step}.index")))
    self.assertFalse(os.path.exists(os.path.join(workdir, "results.json")))
    restarted = _run("train.py", f"--workdir={workdir}", f"--train_steps={step + 5}", *TINY)
    self.assertEqual(restarted.returncode, 0, restarted.stderr[-3000:])
    self.assertIn(f"Resuming from step {step}", restarted.stdout)

  # The AIR command of docs/data.md at tiny sizes, one process per estimator that trains
  # it (split so that the slow tier's two workers share them).
  @parameterized.parameters("rws", "vimco", "nvil", "wake_sleep")
  def test_air_on_multi_mnist_trains_offline(self, estimator):
    workdir = os.path.join(self.get_temp_dir(), f"air_{estimator}")
    trained = _run("train.py", f"--workdir={workdir}", f"--estimator={estimator}",
                   "--train_steps=10", *_AIR)
    self.assertEqual(trained.returncode, 0, trained.stderr[-3000:])
    self.assertIn("train 10/10", trained.stdout)
    # How well it reads scenes, in results.json and TensorBoard.
    with open(os.path.join(workdir, "results.json")) as f:
      scenes = json.load(f)["scenes"]
    self.assertBetween(scenes["count_accuracy"], 0.0, 1.0)
    self.assertGreater(scenes["num_examples"], 0)
    self.assertIn("scenes: count accuracy", trained.stdout)
    tags = set()
    for path in glob.glob(os.path.join(workdir, "eval", "events.out.tfevents.*")):
      for event in tf.compat.v1.train.summary_iterator(path):
        tags.update(v.tag for v in event.summary.value)
    self.assertIn("air/count_accuracy", tags)
    if estimator != "rws":
      return
    out = os.path.join(self.get_temp_dir(), "air_pictures")
    sampled = _run("sample.py", f"--workdir={workdir}", f"--output={out}/air.png",
                   "--num_samples=4")
    self.assertEqual(sampled.returncode, 0, sampled.stderr[-3000:])
    self.assertGreater(os.path.getsize(os.path.join(out, "air.png")), 1000)
    exported = _run("export.py", f"--workdir={workdir}", f"--output={out}/model")
    self.assertEqual(exported.returncode, 0, exported.stderr[-3000:])

  def test_air_refuses_reparameterised_estimators(self):
    refused = _run("train.py", f"--workdir={self.get_temp_dir()}/air_elbo", "--estimator=elbo",
                   "--train_steps=10", *_AIR)
    self.assertNotEqual(refused.returncode, 0)
    self.assertIn("--estimator=elbo trains models with real or spherical latents, and "
                  "--model=air has mixed ones; use one of alws, nvil, rws, vimco, wake_sleep",
                  _last_line(refused))


_start = testing.start_launcher
_wait_for_line = testing.wait_for_line


def _losses(stdout):
  """{step: the metrics part of its progress line} (rate and eta dropped)."""
  losses = {}
  for line in stdout.splitlines():
    match = re.match(r"train (\d+)/\d+ .*?\| eta [^|]*\| (.*)", line)
    if match:
      losses[int(match.group(1))] = match.group(2)
  return losses


if __name__ == "__main__":
  tf.test.main()
