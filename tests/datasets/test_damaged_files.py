"""Damaged, inconsistent or missing data files end in one line naming the file.

Each case writes small idx files (20 train / 10 test images), damages them
one way and loads through `load_images` with TFDS pointed at a temporary
directory and the network blocked. The files are checked before the TFDS
builder runs, so nothing is prepared from a damaged file.
"""

import glob
import gzip
import os
import re
import socket
import struct
import time
from unittest import mock

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from tfp_zoo import datasets
from tfp_zoo import testing
from tfp_zoo.datasets import idx
from tfp_zoo.errors import DatasetError, DatasetNotFoundError, ResourceError

TRAIN_IMAGES, TRAIN_LABELS = idx.IDX_FILES["train"]
TEST_IMAGES, TEST_LABELS = idx.IDX_FILES["test"]
ALL_FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)


def _write_idx_files(directory, n_train=20, n_test=10):
  testing.write_fake_idx(directory, n_train, n_test)


def _raw(path):
  with open(path, "rb") as f:
    return f.read()


def _put(path, data):
  with open(path, "wb") as f:
    f.write(data)


def _idx_bytes(path):
  return gzip.decompress(_raw(path))


# Each damage(directory) changes one file in place.
def _truncated_gzip(d):
  path = os.path.join(d, TRAIN_IMAGES)
  _put(path, _raw(path)[:len(_raw(path)) // 2])


def _not_gzip(d):
  _put(os.path.join(d, TRAIN_IMAGES), b"<html>404 Not Found</html>\n" * 10)


def _uncompressed_idx_named_gz(d):
  path = os.path.join(d, TRAIN_IMAGES)
  _put(path, _idx_bytes(path))


def _corrupt_gzip_crc(d):
  path = os.path.join(d, TRAIN_IMAGES)
  data = bytearray(_raw(path))
  data[-8] ^= 0xFF  # the CRC32 in the gzip trailer
  _put(path, bytes(data))


def _empty_file(d):
  _put(os.path.join(d, TRAIN_LABELS), b"")


def _bad_magic(d):
  path = os.path.join(d, TRAIN_IMAGES)
  _put(path, gzip.compress(b"\x1f\x8b" + _idx_bytes(path)[2:]))


def _float_type_code(d):
  path = os.path.join(d, TRAIN_IMAGES)
  data = bytearray(_idx_bytes(path))
  data[2] = 0x0D
  _put(path, gzip.compress(bytes(data)))


def _truncated_header(d):
  _put(os.path.join(d, TRAIN_IMAGES), gzip.compress(b"\x00\x00\x08\x03\x00\x00\x00"))


def _data_longer_than_header(d):
  path = os.path.join(d, TRAIN_IMAGES)
  _put(path, gzip.compress(_idx_bytes(path) + b"\x00" * 7))


def _data_shorter_than_header(d):
  path = os.path.join(d, TEST_IMAGES)
  _put(path, gzip.compress(_idx_bytes(path)[:-28]))


def _huge_header(d):  # claims 2^32-1 images; must not try to allocate them
  data = b"\x00\x00\x08\x03" + struct.pack(">3I", 2**32 - 1, 28, 28) + b"\x00" * 100
  _put(os.path.join(d, TRAIN_IMAGES), gzip.compress(data))


def _images_32x32(d):
  idx.write_idx(os.path.join(d, TRAIN_IMAGES), np.zeros([20, 32, 32], np.uint8))


def _images_flat(d):
  idx.write_idx(os.path.join(d, TEST_IMAGES), np.zeros([10, 784], np.uint8))


def _labels_2d(d):
  idx.write_idx(os.path.join(d, TRAIN_LABELS), np.zeros([20, 1], np.uint8))


def _fewer_labels(d):
  idx.write_idx(os.path.join(d, TEST_LABELS), np.zeros([9], np.uint8))


def _labels_swapped(d):  # the test labels under the train name
  os.replace(os.path.join(d, TEST_LABELS), os.path.join(d, TRAIN_LABELS))
  idx.write_idx(os.path.join(d, TEST_LABELS), np.zeros([10], np.uint8))


def _label_out_of_range(d):
  labels = np.zeros([20], np.uint8)
  labels[7] = 10
  idx.write_idx(os.path.join(d, TRAIN_LABELS), labels)


def _empty_split(d):
  idx.write_idx(os.path.join(d, TEST_IMAGES), np.zeros([0, 28, 28], np.uint8))
  idx.write_idx(os.path.join(d, TEST_LABELS), np.zeros([0], np.uint8))


def _directory_in_place_of_a_file(d):
  os.remove(os.path.join(d, TEST_LABELS))
  os.mkdir(os.path.join(d, TEST_LABELS))


def _broken_symlink(d):
  os.remove(os.path.join(d, TRAIN_IMAGES))
  os.symlink(os.path.join(d, "nowhere.gz"), os.path.join(d, TRAIN_IMAGES))


def _no_permission(d):
  os.chmod(os.path.join(d, TRAIN_LABELS), 0)


# (name, damage, the file the message must name, a regex of the problem)
_DAMAGED = (
    ("truncated_gzip", _truncated_gzip, TRAIN_IMAGES, r"truncated \(\d+ bytes; the gzip"),
    ("not_gzip", _not_gzip, TRAIN_IMAGES, "not a valid gzip file"),
    ("uncompressed_idx_named_gz", _uncompressed_idx_named_gz, TRAIN_IMAGES,
     r"not gzip-compressed \(it holds an uncompressed idx file\); gzip it"),
    ("corrupt_gzip_crc", _corrupt_gzip_crc, TRAIN_IMAGES, "not a valid gzip file.*CRC"),
    ("empty_file", _empty_file, TRAIN_LABELS, r"empty file \(0 bytes\)"),
    ("bad_magic", _bad_magic, TRAIN_IMAGES,
     "not an idx file .*starts with bytes 00 00 08.*this one starts with 1f 8b 08 03"),
    ("float_type_code", _float_type_code, TRAIN_IMAGES,
     r"not an idx file of unsigned bytes \(type code 0x0d; only 0x08"),
    ("truncated_header", _truncated_header, TRAIN_IMAGES,
     r"truncated idx header \(7 bytes; 3 dimensions need 16 bytes\)"),
    ("data_longer_than_header", _data_longer_than_header, TRAIN_IMAGES,
     r"header says shape \(20, 28, 28\) \(15680 bytes\) but the file holds 15687"),
    ("data_shorter_than_header", _data_shorter_than_header, TEST_IMAGES,
     r"header says shape \(10, 28, 28\) \(7840 bytes\) but the file holds 7812"),
    ("huge_header", _huge_header, TRAIN_IMAGES, r"header says shape \(4294967295, 28, 28\)"),
    ("images_32x32", _images_32x32, TRAIN_IMAGES,
     r"images must be 28x28 .*header says shape \(20, 32, 32\)"),
    ("images_flat", _images_flat, TEST_IMAGES, r"images must be 28x28 .*\(10, 784\)"),
    ("labels_2d", _labels_2d, TRAIN_LABELS, r"labels must be an idx file of shape \[N\]"),
    ("fewer_labels", _fewer_labels, TEST_LABELS,
     f"9 labels for the 10 images of {TEST_IMAGES}; the counts must be equal"),
    ("labels_swapped", _labels_swapped, TRAIN_LABELS, "10 labels for the 20 images"),
    ("label_out_of_range", _label_out_of_range, TRAIN_LABELS,
     r"label 10 at index 7 \(1 labels out of range\); labels must be in 0..9"),
    ("empty_split", _empty_split, TEST_IMAGES, r"the test split holds no images \(N = 0\)"),
    ("directory_in_place_of_a_file", _directory_in_place_of_a_file, TEST_LABELS,
     r"cannot read this file \(Is a directory\)"),
    ("broken_symlink", _broken_symlink, TRAIN_IMAGES,
     r"cannot read this file \(No such file or directory\)"),
    ("no_permission", _no_permission, TRAIN_LABELS,
     r"cannot read this file \(Permission denied\)"),
)


def _no_network(*args, **kwargs):
  raise AssertionError(f"network access attempted: {args} {kwargs}")


class _OfflineTestCase(parameterized.TestCase, tf.test.TestCase):
  """A fresh idx directory, TFDS in a temporary directory, no network."""

  def setUp(self):
    super().setUp()
    root = self.create_tempdir().full_path
    self.idx_dir = os.path.join(root, "idx")
    os.makedirs(self.idx_dir)
    _write_idx_files(self.idx_dir)
    self.tfds_dir = os.path.join(root, "tfds")
    self.tfds_root = os.path.join(root, "tfds_root")
    self.enter_context(mock.patch.dict(os.environ, {"TFDS_DATA_DIR": self.tfds_root}))
    self.enter_context(mock.patch.object(socket.socket, "connect", _no_network))
    self.enter_context(mock.patch.object(socket, "create_connection", _no_network))

  def assertOneLine(self, message):
    self.assertNotIn("\n", message)
    self.assertNotIn("\r", message)
    self.assertLess(len(message), 600, message)


class DamagedFilesTest(_OfflineTestCase):

  @parameterized.named_parameters(*_DAMAGED)
  def test_damaged_file_is_named_in_one_line(self, damage, bad_file, problem):
    damage(self.idx_dir)
    path = os.path.join(self.idx_dir, bad_file)
    if damage is _no_permission and os.access(path, os.R_OK):  # root reads anyway:
      real_open = open                                           # let open() refuse

      def refusing_open(file, *args, **kwargs):
        if os.fspath(file) == path:
          raise PermissionError(13, "Permission denied", path)
        return real_open(file, *args, **kwargs)
      self.enter_context(mock.patch.object(idx, "open", refusing_open, create=True))
    start = time.monotonic()
    for split in ("train", "test"):  # all four files are checked for either split
      with self.assertRaisesRegex(DatasetError, problem) as caught:
        datasets.load_images("mnist", split, data_dir=self.idx_dir, tfds_dir=self.tfds_dir)
      message = str(caught.exception)
      self.assertStartsWith(message, f"{path}: ")
      self.assertOneLine(message)
      self.assertIsInstance(caught.exception, ValueError)  # callers catching ValueError
    self.assertLess(time.monotonic() - start, 10.0)
    # The builder never saw the files: nothing was prepared, nothing is left behind.
    self.assertEqual(glob.glob(os.path.join(self.tfds_dir, "idx_images", "*", "*")), [])

  @parameterized.named_parameters(*_DAMAGED[:3])
  def test_default_tfds_directory_too(self, damage, bad_file, problem):
    damage(self.idx_dir)
    with self.assertRaisesRegex(DatasetError, problem):
      datasets.load_images("fashion_mnist", "test", data_dir=self.idx_dir)
    self.assertFalse(os.path.exists(self.tfds_root))

  def test_read_idx_names_the_file_too(self):
    _truncated_gzip(self.idx_dir)
    with self.assertRaisesRegex(DatasetError,
                                f"^{re.escape(self.idx_dir)}/{TRAIN_IMAGES}: truncated"):
      idx.read_idx(os.path.join(self.idx_dir, TRAIN_IMAGES))

  def test_the_builder_alone_raises_dataset_error(self):
    # load_images checks first; the builder used directly still names the file.
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    _label_out_of_range(self.idx_dir)
    builder = datasets.IdxImages(config="mnist", data_dir=self.tfds_dir)
    with self.assertRaisesRegex(DatasetError, f"{TRAIN_LABELS}: label 10 at index 7"):
      builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
          manual_dir=self.idx_dir, try_download_gcs=False))

  def test_good_files_load_after_a_failure(self):
    _fewer_labels(self.idx_dir)
    with self.assertRaises(DatasetError):
      datasets.load_images("mnist", "test", data_dir=self.idx_dir, tfds_dir=self.tfds_dir)
    _write_idx_files(self.idx_dir)
    images = datasets.load_images("mnist", "test", data_dir=self.idx_dir,
                                  tfds_dir=self.tfds_dir)
    self.assertEqual(images.shape, (10, 28, 28, 1))


class MissingFilesTest(_OfflineTestCase):

  @parameterized.named_parameters(
      ("one_missing", (TEST_LABELS,)),
      ("train_missing", (TRAIN_IMAGES, TRAIN_LABELS)),
      ("three_missing", (TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)),
  )
  def test_some_idx_files_missing_names_them(self, missing):
    for name in missing:
      os.remove(os.path.join(self.idx_dir, name))
    present = [f for f in ALL_FILES if f not in missing]
    with self.assertRaisesRegex(
        DatasetNotFoundError,
        f"^--data_dir={re.escape(self.idx_dir)} holds {', '.join(present)} but not "
        f"{', '.join(missing)}; a directory of idx files needs all four: "):
      datasets.load_images("mnist", "train", data_dir=self.idx_dir, tfds_dir=self.tfds_dir)
    with self.assertRaisesRegex(DatasetNotFoundError, "but not"):
      datasets.data_digest("mnist", self.idx_dir)

  def test_gunzipped_files_get_a_hint(self):
    for name in ALL_FILES:
      path = os.path.join(self.idx_dir, name)
      _put(path[:-3], _idx_bytes(path))
      os.remove(path)
    with self.assertRaisesRegex(
        DatasetNotFoundError,
        r"not available offline in --data_dir=.* \(found 4 of them uncompressed, e.g. "
        r"train-images-idx3-ubyte: gzip them\)") as caught:
      datasets.load_images("mnist", "train", data_dir=self.idx_dir)
    self.assertOneLine(str(caught.exception))
    _write_idx_files(self.idx_dir)  # now gzipped, the uncompressed ones still there
    os.remove(os.path.join(self.idx_dir, TEST_LABELS))
    with self.assertRaisesRegex(
        DatasetNotFoundError,
        f"but not {TEST_LABELS} \\(found {TEST_LABELS[:-3]} uncompressed: gzip it\\); "):
      datasets.load_images("mnist", "train", data_dir=self.idx_dir)


class PreparedCopyTest(_OfflineTestCase):
  """The TFDS copy prepared from the idx files: interrupted, damaged, unwritable."""

  def _load(self, split="train", **kwargs):
    return datasets.load_images("mnist", split, data_dir=self.idx_dir,
                                tfds_dir=self.tfds_dir, **kwargs)

  def test_an_interrupted_prepare_does_not_break_the_next_run(self):
    # TFDS prepares into a sibling `incomplete.<random>_1.0.0` directory and renames
    # it when done (checked: a SIGKILL during prepare leaves only that sibling).
    # A leftover one is ignored by the next prepare.
    leftover = os.path.join(self.tfds_dir, "idx_images", "mnist", "incomplete.ABC123_1.0.0")
    os.makedirs(leftover)
    _put(os.path.join(leftover, "idx_images-train.tfrecord-00000-of-00001"), b"\x00" * 10)
    self.assertEqual(self._load().shape, (20, 28, 28, 1))

  def test_a_version_directory_without_metadata_is_prepared_again(self):
    # E.g. a partial copy: TFDS itself would "reuse" it and then fail to read it.
    version_dir = os.path.join(self.tfds_dir, "idx_images", "mnist", "1.0.0")
    os.makedirs(version_dir)
    _put(os.path.join(version_dir, "idx_images-train.tfrecord-00000-of-00001"), b"junk")
    self.assertEqual(self._load().shape, (20, 28, 28, 1))
    self.assertEqual(self._load("test").shape, (10, 28, 28, 1))

  def test_a_damaged_prepared_copy_is_named(self):
    self._load()
    [shard] = glob.glob(os.path.join(self.tfds_dir, "idx_images", "mnist", "1.0.0",
                                     "*-train.tfrecord*"))
    _put(shard, _raw(shard)[:100])
    with self.assertRaisesRegex(
        DatasetError,
        r"idx_images/mnist/1.0.0: the prepared train split cannot be read \(.*truncated.*\); "
        "delete it and it is prepared again from the idx files in "
        f"{re.escape(self.idx_dir)}$") as caught:
      self._load()
    self.assertOneLine(str(caught.exception))
    self.assertNotIn("function_node", str(caught.exception))

  def test_damaged_metadata_of_the_prepared_copy_is_named(self):
    self._load()
    _put(os.path.join(self.tfds_dir, "idx_images", "mnist", "1.0.0", "dataset_info.json"),
         b"{")
    with self.assertRaisesRegex(
        DatasetError, f"^{re.escape(self.tfds_dir)}: the prepared TFDS copy cannot be "
        r"read \(.*JSON.*\); delete it and it is prepared again") as caught:
      self._load()
    self.assertOneLine(str(caught.exception))

  def test_damaged_metadata_in_a_tfds_data_dir_is_named(self):
    tfds_data_dir = self.create_tempdir().full_path
    version_dir = os.path.join(tfds_data_dir, "mnist", "3.0.1")
    os.makedirs(version_dir)
    for name in ("dataset_info.json", "features.json"):
      _put(os.path.join(version_dir, name), b"{")
    with self.assertRaisesRegex(
        DatasetError, f"^--data_dir={re.escape(tfds_data_dir)}: the prepared TFDS copy "
        r"cannot be read \(.*\); delete .*/mnist and prepare it again \(--download\)"):
      datasets.load_images("mnist", "train", data_dir=tfds_data_dir)

  def test_an_unreadable_data_dir_is_named(self):
    real_access = os.access
    refuse = lambda path, mode, **kw: path != self.idx_dir and real_access(path, mode, **kw)
    with mock.patch.object(os, "access", refuse):
      with self.assertRaisesRegex(DatasetError, f"^--data_dir={re.escape(self.idx_dir)}: "
                                  r"cannot read this directory \(permission denied\)$"):
        self._load()

  def test_an_unwritable_tfds_directory_is_a_resource_error(self):
    blocker = os.path.join(self.tfds_dir + "_file")
    _put(blocker, b"a file, not a directory")
    with self.assertRaisesRegex(
        ResourceError, f"^cannot write the prepared copy of mnist under {re.escape(blocker)}/sub.*"
        "set TFDS_DATA_DIR to a writable directory") as caught:
      datasets.load_images("mnist", "train", data_dir=self.idx_dir,
                           tfds_dir=os.path.join(blocker, "sub"))
    self.assertOneLine(str(caught.exception))


class DataDigestTest(_OfflineTestCase):

  def test_digest_of_idx_files(self):
    digest = datasets.data_digest("mnist", self.idx_dir)
    self.assertRegex(digest, "^[0-9a-f]{16}$")
    self.assertEqual(datasets.data_digest("fashion_mnist", self.idx_dir), digest)
    copy = self.create_tempdir().full_path
    _write_idx_files(copy)
    self.assertEqual(datasets.data_digest("mnist", copy), digest)  # content, not path
    _write_idx_files(copy, n_test=11)
    self.assertNotEqual(datasets.data_digest("mnist", copy), digest)

  def test_the_default_prepared_copy_is_keyed_by_the_digest(self):
    datasets.load_images("mnist", "test", data_dir=self.idx_dir)
    digest = datasets.data_digest("mnist", self.idx_dir)
    self.assertTrue(os.path.isdir(os.path.join(self.tfds_root, "tfp_zoo_idx", digest,
                                               "idx_images", "mnist", "1.0.0")))

  def test_shipped_subset_and_uncomputable_cases(self):
    shipped = datasets.data_digest("mnist_small")
    self.assertRegex(shipped, "^[0-9a-f]{16}$")
    self.assertEqual(datasets.data_digest("mnist_small", data_dir=self.idx_dir), shipped)
    self.assertIsNone(datasets.data_digest("mnist"))  # no data_dir: TFDS's own copy
    self.assertIsNone(datasets.data_digest("mnist", self.create_tempdir().full_path))
    with self.assertRaisesRegex(DatasetNotFoundError, "is not a directory"):
      datasets.data_digest("mnist", os.path.join(self.idx_dir, "nope"))
    with self.assertRaisesRegex(ValueError, "unknown dataset 'cifar'"):
      datasets.data_digest("cifar", self.idx_dir)

  def test_unreadable_file(self):
    _directory_in_place_of_a_file(self.idx_dir)
    with self.assertRaisesRegex(DatasetError, f"{TEST_LABELS}: cannot read this file"):
      datasets.data_digest("mnist", self.idx_dir)


if __name__ == "__main__":
  tf.test.main()
