"""Data a user gets wrong, in real launcher processes: each is one line naming
the file and the real cause (not TensorFlow's internals, not a pickle hint,
not --data_dir when none was given), a download without a network gives up
within seconds, and reading a finished run needs no data."""

import gzip
import hashlib
import os
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

from tfp_zoo import testing

pytestmark = pytest.mark.slow  # end to end: .ci/run's second step

TINY = ["--model_hparams=hidden_sizes=8,latent_sizes=2", "--batch_size=10",
        "--num_samples=2", "--eval_num_samples=2", "--eval_examples=5", "--train_steps=4"]

# train.py with one more dataset known by its label files' digest, so that
# files made here stand for MNIST's (the real ones are not in unit tests).
_TRAIN_KNOWING = """
import runpy, sys
from tfp_zoo.datasets import sources
sources._KNOWN_LABEL_FILES[sys.argv.pop(1)] = "mnist"
sys.argv[0] = {train!r}
runpy.run_path({train!r}, run_name="__main__")
"""


def _silent_server():
  """A local address that accepts connections and never answers."""
  server = socket.socket()
  server.bind(("127.0.0.1", 0))
  server.listen(32)
  held = []
  def accept():
    while True:
      try:
        held.append(server.accept()[0])
      except OSError:
        return
  threading.Thread(target=accept, daemon=True).start()
  return server


def _png(path, array):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "wb") as f:
    f.write(tf.io.encode_png(array).numpy())


class DataRefusalsTest(tf.test.TestCase):

  def _assert_one_line(self, process, stdout, stderr, *expected, absent=()):
    self.assertNotEqual(process.returncode, 0, stdout[-2000:])
    self.assertNotIn("Traceback", stdout + stderr)
    last = stderr.strip().splitlines()[-1]
    self.assertRegex(last, r"^FATAL \w+: ")
    for text in expected:
      self.assertIn(text, last)
    for text in absent:
      self.assertNotIn(text, last)

  def test_each_bad_file_is_named_with_its_cause(self):
    root = self.create_tempdir().full_path
    images = lambda n, h=4, w=4: np.zeros((n, h, w), np.uint8)
    np.save(os.path.join(root, "array.npy"), images(3))
    os.replace(os.path.join(root, "array.npy"), os.path.join(root, "array.npz"))
    with open(os.path.join(root, "text.npz"), "w") as f:
      f.write("not a zip")
    np.savez(os.path.join(root, "zero.npz"), train=images(5, 0, 4), test=images(5, 0, 4))
    np.savez(os.path.join(root, "objects.npz"), train=np.array([{}], dtype=object),
             test=images(2))
    for split in ("train", "test"):
      _png(os.path.join(root, "sixteen", split, "a.png"), tf.zeros([4, 4, 1], tf.uint16))
      _png(os.path.join(root, "damaged", split, "a.png"), tf.zeros([4, 4, 1], tf.uint8))
      with open(os.path.join(root, "damaged", split, "a.png"), "r+b") as f:
        f.truncate(40)
    fresh = os.path.join(root, "never")
    cases = [
        ("npz:" + os.path.join(root, "array.npz"),
         ["array.npz: a single .npy array (np.save), not an .npz archive"]),
        ("npz:" + os.path.join(root, "text.npz"), ["text.npz: not an .npz (zip) archive"]),
        ("npz:" + os.path.join(root, "zero.npz"),
         ["zero.npz, array 'train': images of size 0x4"]),
        ("npz:" + os.path.join(root, "objects.npz"),
         ["objects.npz: not a readable .npz file (an array holds Python objects"]),
        ("folder:" + os.path.join(root, "sixteen"),
         [os.path.join("sixteen", "train", "a.png") + ": a 16-bit PNG; expected 8-bit"]),
        ("folder:" + os.path.join(root, "damaged"),
         [os.path.join("damaged", "train", "a.png") + ": a truncated or damaged PNG"]),
    ]
    started = [(testing.start_launcher("train.py", f"--workdir={fresh}",
                                       f"--dataset={dataset}", *TINY), expected)
               for dataset, expected in cases]
    for process, expected in started:
      stdout, stderr = process.communicate(timeout=300)
      with self.subTest(expected=expected[0]):
        self._assert_one_line(process, stdout, stderr, *expected,
                              absent=("pickle", "{{function_node", "[Op:", "--data_dir"))
    self.assertFalse(os.path.exists(fresh))

  def test_a_changed_npz_is_named_and_reading_a_run_needs_no_data(self):
    root = self.create_tempdir().full_path
    path = os.path.join(root, "own.npz")
    rng = np.random.default_rng(0)
    make = lambda: np.savez(path, train=rng.integers(0, 256, (30, 8, 8), np.uint8),
                            test=rng.integers(0, 256, (10, 8, 8), np.uint8))
    make()
    workdir = os.path.join(root, "run")
    process = testing.start_launcher("train.py", f"--workdir={workdir}",
                                     f"--dataset=npz:{path}", *TINY)
    _, stderr = process.communicate(timeout=300)
    self.assertEqual(process.returncode, 0, stderr[-2000:])
    make()  # other images under the same name
    process = testing.start_launcher("train.py", f"--workdir={workdir}",
                                     f"--dataset=npz:{path}", *TINY[:-1], "--train_steps=8")
    stdout, stderr = process.communicate(timeout=300)
    self._assert_one_line(process, stdout, stderr,
                          f"--dataset=npz:{path}: its content changed since the run began",
                          absent=("--data_dir",))
    os.remove(path)  # export and pictures read the run only
    output = os.path.join(root, "export")
    exporting = testing.start_launcher("export.py", f"--workdir={workdir}",
                                       f"--output={output}")
    sampling = testing.start_launcher("sample.py", f"--workdir={workdir}",
                                      f"--output={root}/samples.png")
    for process in (exporting, sampling):
      stdout, stderr = process.communicate(timeout=300)
      self.assertEqual(process.returncode, 0, stderr[-2000:])
    self.assertTrue(os.path.isfile(os.path.join(output, "saved_model.pb")))
    self.assertTrue(os.path.isfile(os.path.join(root, "samples.png")))
    self.assertIn("posterior picture skipped", stderr)

  def test_another_datasets_files_are_recognised(self):
    data = self.create_tempdir().full_path
    testing.write_fake_idx(data)
    with open(os.path.join(data, "train-labels-idx1-ubyte.gz"), "rb") as f:
      digest = hashlib.sha256(gzip.decompress(f.read())).hexdigest()
    train = os.path.join(testing._ROOT, "launchers", "train.py")  # pylint: disable=protected-access
    process = subprocess.run(
        [sys.executable, "-c", _TRAIN_KNOWING.format(train=train), digest,
         f"--workdir={data}/run", "--dataset=fashion_mnist", f"--data_dir={data}", *TINY],
        capture_output=True, text=True, timeout=300, env=testing.launcher_env())
    self._assert_one_line(process, process.stdout, process.stderr,
                          "train-labels-idx1-ubyte.gz is mnist's (train labels, recognised "
                          "by its content digest), not fashion_mnist's")

  def test_a_download_without_an_answer_gives_up_within_30_seconds(self):
    server = _silent_server()
    proxy = f"http://127.0.0.1:{server.getsockname()[1]}"
    data = self.create_tempdir().full_path
    env = testing.launcher_env(HTTPS_PROXY=proxy, HTTP_PROXY=proxy, https_proxy=proxy,
                               http_proxy=proxy)
    started = time.monotonic()
    process = testing.start_launcher("train.py", f"--workdir={data}/run",
                                     "--dataset=fashion_mnist", "--download",
                                     f"--data_dir={data}", *TINY, env=env)
    stdout, stderr = process.communicate(timeout=120)
    elapsed = time.monotonic() - started
    server.close()
    self._assert_one_line(process, stdout, stderr, "--download: fashion_mnist cannot be "
                          "fetched", "could not be reached within 10 s")
    self.assertLess(elapsed, 30.0)
    self.assertFalse(os.path.exists(os.path.join(data, "run")))


if __name__ == "__main__":
  tf.test.main()
