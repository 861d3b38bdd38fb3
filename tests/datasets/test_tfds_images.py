"""TFDS image datasets through the real TFDS path: tiny prepared copies that
the tests write (no network), the fixed preprocessing, and one-line failures."""

import os
import time

import numpy as np
import tensorflow as tf

from unittest import mock

from tfp_zoo import datasets, testing, training
from tfp_zoo.datasets import random_access, tfds_images
from tfp_zoo.errors import DatasetError, DatasetNotFoundError

RNG = np.random.default_rng(0)


def _images(n, shape):
  return RNG.integers(0, 256, size=(n, *shape), dtype=np.uint8)


class TfdsImagesTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.data_dir = os.path.join(tf.compat.v1.test.get_temp_dir(), "tfds")
    cls.cifar = {"train": _images(6, (32, 32, 3)), "test": _images(3, (32, 32, 3))}
    testing.write_prepared_tfds("cifar10", cls.data_dir, cls.cifar)
    # Omniglot: white background, one dark square stroke.
    page = np.full((2, 105, 105, 3), 255, np.uint8)
    page[:, 30:60, 30:60] = 0
    cls.omniglot = {"train": page, "test": page[:1]}
    testing.write_prepared_tfds("omniglot", cls.data_dir, cls.omniglot)
    face = np.zeros((1, 218, 178, 3), np.uint8)
    face[:, 39:179, 19:159] = 200  # the centre 140×140 crop is uniform
    testing.write_prepared_tfds("celeb_a", cls.data_dir, {"train": face, "test": face})
    # The same CIFAR-10 images in ArrayRecord files, which TFDS reads by index.
    cls.array_record_dir = os.path.join(tf.compat.v1.test.get_temp_dir(), "tfds_ar")
    cls.big = {"train": _images(40, (32, 32, 3)), "test": _images(3, (32, 32, 3))}
    testing.write_prepared_tfds("cifar10", cls.array_record_dir, cls.big,
                                file_format="array_record")

  def test_cifar10_and_tfds_name_read_the_stored_images(self):
    for name in ("cifar10", "tfds:cifar10"):
      for split in ("train", "test"):
        images = datasets.load_images(name, split, data_dir=self.data_dir)
        self.assertEqual(images.dtype, np.uint8)
        # TFDS shuffles files when preparing: compare as sets of images.
        self.assertCountEqual([i.tobytes() for i in images],
                              [i.tobytes() for i in self.cifar[split]])

  def test_omniglot_is_grey_28x28_and_inverted(self):
    images = datasets.load_images("omniglot", "train", data_dir=self.data_dir)
    self.assertEqual(images.shape, (2, 28, 28, 1))
    self.assertEqual(images[0, 0, 0, 0], 0)      # white paper becomes black
    self.assertEqual(images[0, 12, 12, 0], 255)  # the dark stroke becomes bright

  def test_celeb_a_is_cropped_and_resized(self):
    images = datasets.load_images("celeb_a", "test", data_dir=self.data_dir)
    self.assertEqual(images.shape, (1, 64, 64, 3))
    # Only the crop remains (CelebA is stored as JPEG: a few levels of ringing).
    self.assertAllClose(images, np.full_like(images, 200), atol=16)

  def test_not_prepared_fails_fast_and_says_how(self):
    empty = self.create_tempdir().full_path
    start = time.monotonic()
    with self.assertRaisesRegex(DatasetNotFoundError,
                                "svhn_cropped is not prepared in --data_dir=.*prepare it once "
                                "with network: .*download_and_prepare\\(\\)"):
      datasets.load_images("svhn_cropped", "train", data_dir=empty)
    self.assertLess(time.monotonic() - start, 10.0)
    with self.assertRaisesRegex(DatasetNotFoundError, "TFDS knows no dataset 'no_such_set'"):
      datasets.load_images("tfds:no_such_set", "train", data_dir=empty)
    with self.assertRaisesRegex(DatasetNotFoundError, "'Bad Name' is not a TFDS dataset name"):
      datasets.load_images("tfds:Bad Name", "train", data_dir=empty)

  def test_a_split_too_large_for_memory_is_read_by_index(self):
    in_memory = tfds_images.load("cifar10", "train", data_dir=self.array_record_dir,
                                 download=False)
    streamed = tfds_images.load("cifar10", "train", data_dir=self.array_record_dir,
                                download=False, in_memory_bytes=1000)
    self.assertIsInstance(streamed, random_access.RandomAccessImages)
    self.assertEqual(streamed.shape, in_memory.shape)
    self.assertAllEqual(streamed[:], in_memory)  # the same records in the same order
    self.assertCountEqual([i.tobytes() for i in in_memory],
                          [i.tobytes() for i in self.big["train"]])
    # The test split always stays in memory (evaluation reads it whole).
    self.assertIsInstance(tfds_images.load("cifar10", "test", data_dir=self.array_record_dir,
                                           download=False, in_memory_bytes=0), np.ndarray)
    for binarization in ("dynamic", "none"):
      make = lambda images, start: [b.numpy() for b in datasets.train_batches(  # noqa: E731
          images, batch_size=7, seed=3, start_step=start,
          binarization=binarization).take(8 - start)]
      expected = make(in_memory, 0)
      self.assertAllEqual(make(streamed, 0), expected)
      # Batch s is a pure function of (seed, s): resuming at step 6 (second epoch).
      self.assertAllEqual(make(streamed, 6), expected[6:])
    with self.assertRaisesRegex(ValueError, "binarization='fixed' .* use 'dynamic' or 'none'"):
      datasets.train_batches(streamed, batch_size=7, seed=3, binarization="fixed")
    # A large split prepared as TFRecord cannot be read by index: one line, with the remedy.
    with self.assertRaisesRegex(DatasetError, "prepared as tfrecord, which cannot be read by "
                                "index; prepare it again in ArrayRecord format: .*"
                                "file_format='array_record'"):
      tfds_images.load("cifar10", "train", data_dir=self.data_dir, download=False,
                       in_memory_bytes=1000)

  def test_trains_on_a_split_read_by_index(self):
    workdir = os.path.join(self.create_tempdir().full_path, "run")
    config = training.TrainConfig(
        workdir=workdir, dataset="cifar10", data_dir=self.array_record_dir, batch_size=5,
        model_hparams={"conv_channels": (4,), "latent_sizes": (2,)}, train_steps=3,
        checkpoint_every=3, log_every=3, eval_num_samples=2, binarization="none")
    with mock.patch.object(tfds_images, "IN_MEMORY_BYTES", 1000):
      result = training.train(config)
    self.assertEqual(result["step"], 3)
    self.assertTrue(np.isfinite(result["test"]["mean"]))

  def test_trains_on_a_prepared_copy(self):
    workdir = os.path.join(self.create_tempdir().full_path, "run")
    result = training.train(training.TrainConfig(
        workdir=workdir, dataset="cifar10", data_dir=self.data_dir, batch_size=3,
        model_hparams={"conv_channels": (4,), "latent_sizes": (2,)}, train_steps=2,
        checkpoint_every=2, log_every=2, eval_num_samples=2))
    self.assertEqual(result["step"], 2)
    self.assertTrue(np.isfinite(result["test"]["mean"]))


if __name__ == "__main__":
  tf.test.main()
