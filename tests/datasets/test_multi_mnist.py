"""multi_mnist: built deterministically and offline, counts beside the images."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tfp_zoo import datasets
from tfp_zoo.datasets import multi_mnist

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _digits(n=20, side=28):
  rng = np.random.default_rng(0)
  digits = np.zeros((n, side, side), np.uint8)
  digits[:, 4:-4, 4:-4] = rng.integers(1, 256, size=(n, side - 8, side - 8))
  return digits


class FromDigitsTest(tf.test.TestCase):

  def test_deterministic_counts_and_boxes(self):
    a = multi_mnist.from_digits(_digits(), 600, seed=3)
    b = multi_mnist.from_digits(_digits(), 600, seed=3)
    for x, y in zip(a, b):
      np.testing.assert_array_equal(x, y)
    self.assertFalse(np.array_equal(a.images, multi_mnist.from_digits(_digits(), 600,
                                                                      seed=4).images))
    self.assertEqual(a.images.shape, (600, 50, 50, 1))
    self.assertEqual(a.images.dtype, np.uint8)
    # Counts are uniform on 0..2 (chi-square, 2 degrees of freedom, 0.1% level).
    observed = np.bincount(a.counts, minlength=3)
    self.assertEqual(len(observed), 3)
    self.assertLess(np.sum((observed - 200.0) ** 2 / 200.0), 13.8)
    # The boxes mark exactly the digits drawn; empty canvases are empty.
    self.assertAllEqual(a.boxes[..., 2].sum(1), a.counts)
    self.assertEqual(int(a.images[a.counts == 0].max()), 0)
    for i in np.flatnonzero(a.counts == 1)[:20]:
      top, left, _ = a.boxes[i, 0]
      self.assertTrue(0 <= top <= 22 and 0 <= left <= 22)
      inside = a.images[i, top:top + 28, left:left + 28, 0]
      self.assertEqual(int(a.images[i].sum()), int(inside.sum()))  # nothing outside the box
      self.assertGreater(int(inside.sum()), 0)

  def test_bad_arguments(self):
    with self.assertRaisesRegex(ValueError, "^digits: expected uint8"):
      multi_mnist.from_digits(np.zeros((3, 28, 28), np.float32), 5, seed=0)
    with self.assertRaisesRegex(ValueError, "^canvas_size=20: must be at least"):
      multi_mnist.from_digits(_digits(), 5, seed=0, canvas_size=20)
    with self.assertRaisesRegex(ValueError, "^max_digits=0"):
      multi_mnist.from_digits(_digits(), 5, seed=0, max_digits=0)


class LoadTest(tf.test.TestCase):

  def test_built_from_the_shipped_digits_offline(self):
    train = datasets.load_images("multi_mnist", "train")
    test = datasets.load_images("multi_mnist", "test")
    self.assertEqual(train.shape, (10000, 50, 50, 1))
    self.assertEqual(test.shape, (1000, 50, 50, 1))
    counts = datasets.load_counts("multi_mnist", "test")
    self.assertEqual(counts.shape, (1000,))
    self.assertCountEqual(np.unique(counts), [0, 1, 2])
    self.assertIsNone(datasets.load_counts("mnist_small", "test"))
    # Test canvases use test digits: every digit pixel sum is one of theirs.
    digits = datasets.load_images("mnist_small", "test")[..., 0]
    single = test[counts == 1][:5, ..., 0]
    sums = set(digits.reshape(len(digits), -1).sum(1).tolist())
    for canvas in single:
      self.assertIn(int(canvas.sum()), sums)
    digest = datasets.data_digest("multi_mnist")
    self.assertEqual(len(digest), 16)
    self.assertNotEqual(digest, datasets.data_digest("mnist_small"))

  def test_from_idx_files_in_data_dir(self):
    from tfp_zoo import testing  # pylint: disable=g-import-not-at-top
    directory = self.create_tempdir().full_path
    testing.write_fake_idx(directory, n_train=30, n_test=10)
    images = datasets.load_images("multi_mnist", "train", data_dir=directory)
    self.assertEqual(images.shape, (30, 50, 50, 1))
    self.assertNotEqual(datasets.data_digest("multi_mnist", directory),
                        datasets.data_digest("multi_mnist"))

  @pytest.mark.slow  # a second interpreter runs the script
  def test_script_writes_an_npz_dataset(self):
    out = os.path.join(self.create_tempdir().full_path, "multi.npz")
    process = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "make_multi_mnist.py"),
         f"--output={out}", "--num_train=50", "--num_test=20"],
        capture_output=True, text=True, timeout=300)
    self.assertEqual(process.returncode, 0, process.stderr[-2000:])
    with np.load(out) as arrays:
      self.assertEqual(arrays["train"].shape, (50, 50, 50, 1))
      self.assertEqual(arrays["test_counts"].shape, (20,))
    # It reads back as a user's dataset.
    self.assertEqual(datasets.load_images(f"npz:{out}", "test").shape, (20, 50, 50, 1))


if __name__ == "__main__":
  tf.test.main()
