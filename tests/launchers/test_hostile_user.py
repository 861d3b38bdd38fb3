"""What a hostile user tries, in real launcher processes: each ends in one line
(`FATAL <ErrorName>: ...`, no traceback, non-zero status) naming the flag or
file, and leaves the workdir as it was. The in-process checks of the same
rules live in tests/training/test_config.py and test_workdir.py."""

import glob
import gzip
import json
import os
import re
import resource
import signal

import pytest
import tensorflow as tf

from tfp_zoo import testing, training

pytestmark = pytest.mark.slow  # end to end: .ci/run's second step

TINY = ["--model_hparams=hidden_sizes=16,latent_sizes=4", "--batch_size=20",
        "--num_samples=2", "--log_every=5", "--checkpoint_every=10",
        "--eval_num_samples=5", "--eval_examples=20"]


_start = testing.start_launcher


def _snapshot(workdir):
  out = {}
  for path in sorted(glob.glob(os.path.join(workdir, "**"), recursive=True)):
    if os.path.isfile(path) and os.path.basename(path) != "lock":
      with open(path, "rb") as f:
        out[os.path.relpath(path, workdir)] = f.read()
  return out


_wait_for_line = testing.wait_for_line


def _limit_address_space():
  limit = 6 * 2**30
  resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


class HostileUserTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = os.path.join(os.environ.get("TEST_TMPDIR", "/tmp"), f"hostile_{os.getpid()}")
    cls.workdir = os.path.join(cls.root, "run")
    training.train(training.TrainConfig(
        workdir=cls.workdir, model_hparams={"hidden_sizes": (16,), "latent_sizes": (4,)},
        num_samples=2, batch_size=20, train_steps=10, checkpoint_every=10, log_every=5,
        eval_num_samples=5, eval_examples=20))

  def _assert_one_line(self, process, stdout, stderr, *expected, status=None):
    if status is None:
      self.assertNotEqual(process.returncode, 0, stdout[-2000:])
    else:
      self.assertEqual(process.returncode, status, stderr[-2000:])
    self.assertNotIn("Traceback", stdout + stderr)
    last = stderr.strip().splitlines()[-1]
    self.assertRegex(last, r"^FATAL \w+( error)?: ")
    self.assertEqual((stdout + stderr).count("FATAL"), 1)
    for text in expected:
      self.assertIn(text, last)

  def test_each_bad_input_is_one_line_and_changes_nothing(self):
    before = _snapshot(self.workdir)
    damaged = os.path.join(self.root, "damaged")
    os.makedirs(damaged, exist_ok=True)
    testing.write_fake_idx(damaged, 30, 30)
    with gzip.open(os.path.join(damaged, "train-images-idx3-ubyte.gz"), "rb") as f:
      whole = f.read()
    with open(os.path.join(damaged, "train-images-idx3-ubyte.gz"), "wb") as f:
      f.write(gzip.compress(whole)[:200])  # truncated
    fresh = os.path.join(self.root, "never")
    bad_tf_config = testing.launcher_env(TF_CONFIG="{not json")
    cases = [
        (("train.py", f"--workdir={fresh}", "--learning_rate=inf"), {},
         ["--learning_rate=inf: must be finite"]),
        (("train.py", f"--workdir={fresh}", "--model=gaussian_mixture",
          "--model_hparams=scale=nan"), {}, ["--model_hparams", "scale=nan must be finite"]),
        (("train.py", f"--workdir={fresh}", "--estimator=alws", "--num_samples=3"), {},
         ["--num_samples=3", "alws"]),
        (("train.py", f"--workdir={fresh}", "--estimator_options=num_groups=2,num_groups=3"),
         {}, ["--estimator_options", "each key once"]),
        (("train.py", f"--workdir={fresh}", "--strategy=multi_worker_mirrored"),
         dict(env=bad_tf_config), ["TF_CONFIG"]),
        (("train.py", f"--workdir={fresh}", "--num_samples=5000", "--batch_size=100"),
         dict(preexec_fn=_limit_address_space), ["out of memory", "--num_samples"]),
        (("train.py", f"--workdir={fresh}", "--dataset=mnist", f"--data_dir={damaged}"), {},
         ["train-images-idx3-ubyte.gz"]),
        (("train.py", f"--workdir={self.workdir}", "--estimator=elbo", "--batch_size=10",
          *TINY[:1]), {}, ["--estimator: run 'iwae', now 'elbo'"]),
        (("export.py", f"--workdir={self.workdir}", f"--output={self.workdir}",
          "--overwrite"), {}, ["--output", "--workdir"]),
        (("export.py", f"--workdir={self.workdir}", f"--output={self.root}", "--overwrite"),
         {}, ["--output", "not a SavedModel"]),
        (("sample.py", f"--workdir={self.workdir}", "--extent=nan",
          f"--output={self.root}/x.png"), {}, ["--extent"]),
        # absl's own checks (enums, bounds, required) and the dry run.
        (("train.py", f"--workdir={fresh}", "--batch_size=0"), {}, ["--batch_size=0"]),
        (("train.py", f"--workdir={fresh}", "--estimator=reinforce"), {},
         ["--estimator='reinforce': one of alws, beta_tc_vae, ciwae, dreg, elbo",
          "or package.module:object (your own)"]),
        (("train.py", f"--workdir={fresh}", "--snr_num_draws=1"), {},
         ["--snr_num_draws=1: 1 is not integer >= 2"]),
        (("train.py", f"--workdir={fresh}", "--estimator=iwae", "--model=discrete_vae"), {},
         ["--estimator=iwae trains models with real or spherical latents, and "
          "--model=discrete_vae has discrete ones; use one of alws, nvil, rws, vimco, "
          "wake_sleep"]),
        (("train.py", f"--workdir={fresh}", "--dataset=mnist"), {}, ["needs --data_dir"]),
        (("train.py", f"--workdir={fresh}", "--dataset=mnist", f"--data_dir={self.root}"), {},
         ["DatasetNotFoundError: dataset 'mnist' is not available offline"]),
        (("train.py", f"--workdir={fresh}", "--model_hparams=depth=3"), {},
         ["--model_hparams: model 'vae' does not take depth"]),
        (("train.py",), {}, ["--workdir"]),
        (("evaluate.py", f"--workdir={fresh}"), {}, ["--workdir"]),
    ]
    started = [(_start(*args, **kwargs), args, expected) for args, kwargs, expected in cases]
    for process, args, expected in started:  # started together: their imports overlap
      stdout, stderr = process.communicate(timeout=300)
      with self.subTest(args=args):
        self._assert_one_line(process, stdout, stderr, *expected)
    self.assertFalse(os.path.exists(fresh))
    self.assertEqual(_snapshot(self.workdir), before)

  def test_an_invalid_config_json_for_the_readers(self):
    workdir = os.path.join(self.root, "broken_config")
    os.makedirs(os.path.join(workdir, "checkpoints"), exist_ok=True)
    with open(os.path.join(workdir, "config.json"), "w") as f:
      f.write("not json")
    processes = [_start("evaluate.py", f"--workdir={workdir}"),
                 _start("export.py", f"--workdir={workdir}", f"--output={self.root}/e")]
    for process in processes:
      stdout, stderr = process.communicate(timeout=300)
      self._assert_one_line(process, stdout, stderr, "config.json is not valid JSON")

  def test_a_second_trainer_is_refused_while_the_first_runs(self):
    workdir = os.path.join(self.root, "locked")
    first = _start("train.py", f"--workdir={workdir}", "--train_steps=100000", *TINY)
    _wait_for_line(first, "train 5/")
    second = _start("train.py", f"--workdir={workdir}", "--train_steps=100000",
                    "--estimator=elbo", *TINY)
    stdout, stderr = second.communicate(timeout=300)
    self._assert_one_line(second, stdout, stderr, "WorkdirLockedError",
                          f"in use by PID {first.pid}")
    first.send_signal(signal.SIGTERM)
    _, stderr = first.communicate(timeout=120)
    self.assertEqual(first.returncode, 0, stderr[-2000:])
    with open(os.path.join(workdir, "config.json")) as f:
      self.assertEqual(json.load(f)["estimator"], "iwae")

  def test_ctrl_c_checkpoints_and_exits_130_and_a_second_one_spares_the_checkpoint(self):
    workdir = os.path.join(self.root, "interrupted")
    process = _start("train.py", f"--workdir={workdir}", "--train_steps=100000", *TINY)
    _wait_for_line(process, "train 15/")
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    self.assertEqual(process.returncode, 130, stderr[-2000:])
    self.assertNotIn("Traceback", stdout + stderr)
    step = int(re.search(r"SIGINT: saved the checkpoint of step (\d+)", stdout).group(1))
    self.assertTrue(os.path.exists(os.path.join(workdir, "checkpoints",
                                                f"ckpt-{step}.index")))
    # Ctrl-C during the final evaluation stops it; the checkpoint stays as it was.
    # Small evaluation batches: hundreds of chunk calls, so that the evaluation
    # is still running when a loaded machine gets round to sending the signal.
    # Started with SIGINT ignored, as a background job of a non-interactive shell
    # (or a test runner's worker) is: the launcher must still stop on it.
    evaluating = _start("train.py", f"--workdir={workdir}", f"--train_steps={step}",
                        *TINY[:-2], "--eval_num_samples=5000", "--eval_examples=1000",
                        "--eval_batch_size=10",
                        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    _wait_for_line(evaluating, "eval (K=5000)")
    before = _snapshot(os.path.join(workdir, "checkpoints"))
    evaluating.send_signal(signal.SIGINT)
    stdout, stderr = evaluating.communicate(timeout=120)
    self._assert_one_line(evaluating, stdout, stderr, "Interrupted", status=130)
    self.assertEqual(_snapshot(os.path.join(workdir, "checkpoints")), before)
    self.assertFalse(os.path.exists(os.path.join(workdir, "results.json")))

  def test_a_second_ctrl_c_aborts_at_once_in_one_line(self):
    workdir = os.path.join(self.root, "aborted")
    process = _start("train.py", f"--workdir={workdir}", "--train_steps=100000", *TINY)
    _wait_for_line(process, "train 15/")
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    self.assertEqual(process.returncode, 130, stderr[-2000:])
    self.assertNotIn("Traceback", stdout + stderr)


if __name__ == "__main__":
  tf.test.main()
