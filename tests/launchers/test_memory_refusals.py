"""Memory, in real launcher processes under an address-space limit: a run
whose conv activations or data will not fit is refused in one line before
anything is written, and the estimate is near the measured peak."""

import os
import resource
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import tensorflow as tf

from tfp_zoo import testing, training
from tfp_zoo.training import config as config_lib

pytestmark = pytest.mark.slow  # end to end: .ci/run's second step

LIMIT = 12 * 2**30


def _limit_address_space():
  resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def _rgb_npz(path, n_train=300, size=64):
  rng = np.random.default_rng(0)
  np.savez(path, train=rng.integers(0, 256, (n_train, size, size, 3), np.uint8),
           test=rng.integers(0, 256, (50, size, size, 3), np.uint8))


def _peak_rss_of_a_run(workdir, *args):
  """Peak RSS (bytes) of a 3-step training process."""
  # VmHWM is this process image's own peak: getrusage's ru_maxrss would count
  # the parent's RSS at fork (it survives execve), and a big pytest worker
  # would hide the step.
  code = ("import runpy, sys; sys.argv = sys.argv[1:]; "
          "exec('try:\\n runpy.run_path(sys.argv[0], run_name=\"__main__\")\\n"
          "except SystemExit:\\n pass'); "
          "print('PEAK', [int(l.split()[1]) * 1024 for l in open('/proc/self/status') "
          "if l.startswith('VmHWM:')][0])")
  process = subprocess.run(
      [sys.executable, "-c", code, os.path.join(testing._ROOT, "launchers", "train.py"),  # pylint: disable=protected-access
       f"--workdir={workdir}", "--train_steps=3", "--log_every=1", "--eval_examples=2",
       "--eval_num_samples=1", *args],
      capture_output=True, text=True, timeout=600, env=testing.launcher_env())
  assert process.returncode == 0, process.stderr[-3000:]
  return int(process.stdout.strip().splitlines()[-1].split()[1])


class MemoryRefusalsTest(tf.test.TestCase):

  def _assert_refused(self, process, *expected):
    stdout, stderr = process.communicate(timeout=300)
    self.assertNotEqual(process.returncode, 0, stdout[-2000:])
    self.assertNotIn("Traceback", stdout + stderr)
    last = stderr.strip().splitlines()[-1]
    self.assertRegex(last, r"^FATAL ConfigError: out of memory: a step needs about ")
    for text in expected:
      self.assertIn(text, last)

  def test_conv_activations_and_data_that_will_not_fit_are_refused(self):
    root = self.create_tempdir().full_path
    rgb = os.path.join(root, "rgb.npz")
    _rgb_npz(rgb)
    # An archive whose headers declare more images than any memory holds
    # (the pixels are never read: the estimate comes first).
    huge = os.path.join(root, "huge.npz")
    with zipfile.ZipFile(huge, "w") as archive:
      for split, n in (("train", 10**6), ("test", 1000)):
        with archive.open(split + ".npy", "w") as f:
          np.lib.format.write_array_header_1_0(
              f, {"descr": "|u1", "fortran_order": False, "shape": (n, 256, 256, 3)})
    fresh = os.path.join(root, "never")
    conv = testing.start_launcher(  # 64 x 500 particles of 64 x 64 x 3 conv maps
        "train.py", f"--workdir={fresh}", f"--dataset=npz:{rgb}", "--binarization=none",
        "--num_samples=500", "--batch_size=64", preexec_fn=_limit_address_space)
    data = testing.start_launcher("train.py", f"--workdir={fresh}", f"--dataset=npz:{huge}",
                                  "--binarization=none", "--num_samples=1",
                                  "--batch_size=8", preexec_fn=_limit_address_space)
    self._assert_refused(conv, "lower --num_samples or --batch_size")
    self._assert_refused(data, "(the data 183.3 of it)")
    self.assertFalse(os.path.exists(fresh))

  def test_the_estimate_is_near_the_measured_peak(self):
    root = self.create_tempdir().full_path
    rgb = os.path.join(root, "rgb.npz")
    _rgb_npz(rgb)
    common = [f"--dataset=npz:{rgb}", "--binarization=none", "--batch_size=64"]
    small = _peak_rss_of_a_run(os.path.join(root, "small"), *common, "--num_samples=1")
    large = _peak_rss_of_a_run(os.path.join(root, "large"), *common, "--num_samples=16")
    estimate = lambda k: config_lib.estimate_memory_bytes(training.TrainConfig(
        workdir="unused", dataset=f"npz:{rgb}", binarization="none", batch_size=64,
        num_samples=k), (64, 64, 3))
    ratio = (estimate(16) - estimate(1)) / (large - small)
    self.assertBetween(ratio, 0.5, 2.0)


if __name__ == "__main__":
  tf.test.main()
