"""Data sources: every --dataset value is one object that loads, digests,
counts and says whether it needs --data_dir; your own from module:object."""

import numpy as np
import tensorflow as tf

from tfp_zoo import datasets
from tfp_zoo.errors import DatasetError


class _Squares:
  """A user's source: 4x4 images with one lit square."""

  def load(self, split, data_dir=None):
    del data_dir
    images = np.zeros([6 if split == "train" else 2, 4, 4, 1], np.uint8)
    images[:, 1:3, 1:3] = 255
    return images


class DataSourcesTest(tf.test.TestCase):

  def test_each_kind_is_one_object(self):
    for name, needs in (("mnist_small", False), ("multi_mnist", False), ("mnist", True),
                        ("fashion_mnist", True), ("cifar10", True), ("tfds:emnist", True),
                        ("npz:/tmp/x.npz", False), ("folder:/tmp/images", False)):
      self.assertIsInstance(datasets.source(name), datasets.DataSource)
      self.assertEqual(datasets.needs_data_dir(name), needs, name)
    shipped = datasets.source("mnist_small")
    self.assertEqual(shipped.load("test").shape, (1000, 28, 28, 1))
    self.assertEqual(shipped.digest(), datasets.data_digest("mnist_small"))
    self.assertIsNone(shipped.counts("test"))
    self.assertTrue(datasets.source("npz:/tmp/x.npz").digest_is_the_files)

  def test_a_users_source_is_adapted_and_checked(self):
    source = datasets.sources._UserSource("my.module:squares", _Squares())
    self.assertEqual(source.load("train").shape, (6, 4, 4, 1))
    self.assertIsNone(source.digest())  # optional parts answer None
    self.assertIsNone(source.size())
    self.assertFalse(source.needs_data_dir)
    floats = datasets.sources._UserSource("my.module:floats",
                                          lambda split, data_dir=None: np.zeros([2, 4, 4, 1]))
    with self.assertRaisesRegex(DatasetError, r"^--dataset=my.module:floats: load\('test'\) "
                                r"returned float64\[2, 4, 4, 1\]; expected uint8 images"):
      floats.load("test")

  def test_registered_and_refused_names(self):
    with self.assertRaisesRegex(ValueError, "dataset 'mnist' is already registered"):
      datasets.register_source("mnist", _Squares())
    datasets.register_source("test_squares", _Squares())
    self.assertEqual(datasets.load_images("test_squares", "test").shape, (2, 4, 4, 1))
    for name, message in (("tfp_zoo.datasets:no_such_source", "has no 'no_such_source'"),
                          ("tfp_zoo.datasets:DataSource", "expected a data source"),
                          ("imagenet", "unknown dataset 'imagenet'; known: mnist_small")):
      with self.assertRaisesRegex(ValueError, message):
        datasets.source(name)


if __name__ == "__main__":
  tf.test.main()
