"""idx files, the shipped subset, the local TFDS builder, and failing fast offline."""

import os
import time

import numpy as np
import tensorflow as tf

from tfp_zoo import datasets
from tfp_zoo import testing
from tfp_zoo.datasets import idx


_write_fake_mnist = testing.write_fake_idx


class IdxTest(tf.test.TestCase):

  def test_round_trip(self):
    for name in ("a.gz", "b"):
      path = os.path.join(self.get_temp_dir(), name)
      array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
      idx.write_idx(path, array)
      self.assertAllEqual(idx.read_idx(path), array)

  def test_bad_files(self):
    path = os.path.join(self.get_temp_dir(), "bad")
    with open(path, "wb") as f:
      f.write(b"not an idx file")
    with self.assertRaisesRegex(ValueError, "not an idx file"):
      idx.read_idx(path)
    idx.write_idx(path, np.zeros([4, 4], np.uint8))
    with open(path, "ab") as f:
      f.write(b"\x00")
    with self.assertRaisesRegex(ValueError, "header says"):
      idx.read_idx(path)


class SourcesTest(tf.test.TestCase):

  def test_shipped_subset(self):
    train = datasets.load_images("mnist_small", "train")
    test = datasets.load_images("mnist_small", "test")
    self.assertEqual(train.shape, (10000, 28, 28, 1))
    self.assertEqual(test.shape, (1000, 28, 28, 1))
    self.assertEqual(train.dtype, np.uint8)
    labels = idx.read_idx(os.path.join(datasets.shipped_dir(), idx.IDX_FILES["train"][1]))
    self.assertAllEqual(np.bincount(labels), [1000] * 10)  # class-stratified
    self.assertBetween(float(train.mean()), 25.0, 40.0)  # MNIST's mean grey level ~33

  def test_local_idx_directory_through_tfds_builder(self):
    idx_dir = os.path.join(self.get_temp_dir(), "idx")
    os.makedirs(idx_dir)
    _write_fake_mnist(idx_dir)
    tfds_dir = os.path.join(self.get_temp_dir(), "tfds")
    train = datasets.load_images("mnist", "train", data_dir=idx_dir, tfds_dir=tfds_dir)
    self.assertEqual(train.shape, (30, 28, 28, 1))
    expected = idx.read_idx(os.path.join(idx_dir, idx.IDX_FILES["train"][0]))
    # TFDS may shuffle: compare as multisets of images.
    self.assertAllEqual(np.sort(train.reshape(30, -1), axis=0),
                        np.sort(expected.reshape(30, -1), axis=0))
    self.assertTrue(os.path.isdir(os.path.join(tfds_dir, "idx_images", "mnist")))
    test = datasets.load_images("fashion_mnist", "test", data_dir=idx_dir, tfds_dir=tfds_dir)
    self.assertEqual(test.shape, (10, 28, 28, 1))

  def test_missing_dataset_fails_fast_and_says_how_to_fix_it(self):
    empty = self.get_temp_dir()
    for data_dir in (None, empty):
      start = time.monotonic()
      with self.assertRaisesRegex(datasets.DatasetNotFoundError,
                                  r"'mnist' is not available offline.*--data_dir.*--download"):
        datasets.load_images("mnist", "train", data_dir=data_dir)
      self.assertLess(time.monotonic() - start, 10.0)

  def test_bad_names(self):
    with self.assertRaisesRegex(ValueError, "unknown dataset 'cifar'; known: mnist_small"):
      datasets.load_images("cifar", "train")
    with self.assertRaisesRegex(ValueError, "unknown split 'dev'"):
      datasets.load_images("mnist_small", "dev")


if __name__ == "__main__":
  tf.test.main()
