"""Reading and writing the idx format of MNIST and Fashion-MNIST (gzipped or not).

Format (LeCun et al.): a big-endian header of two zero bytes, a type code
(0x08 = unsigned byte), the number of dimensions, then each dimension as a
big-endian uint32, then the data in C order.

Every problem with a file (unreadable, not gzip, truncated, a wrong header,
inconsistent sizes, labels out of range) raises `tfp_zoo.errors.DatasetError`
with one line that names the file and the problem.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib

import numpy as np

from tfp_zoo.errors import DatasetError

__all__ = ["read_idx", "write_idx", "read_split", "check_split", "decode_idx", "read_file",
           "IDX_FILES", "NUM_CLASSES", "IMAGE_SHAPE"]

# The four standard file names, by split, as (images, labels).
IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
NUM_CLASSES = 10
IMAGE_SHAPE = (28, 28)
_UBYTE = 0x08


def _one_line(text: str) -> str:
  """Joins the lines of `text` (e.g. an exception's or a path's) into one line."""
  return " ".join(str(text).splitlines())


def read_file(path: str) -> bytes:
  """The raw bytes of `path`.

  Raises:
    DatasetError: the file cannot be read (missing, a directory, no permission).
  """
  try:
    with open(path, "rb") as f:
      return f.read()
  except OSError as e:
    reason = e.strerror or type(e).__name__
    raise DatasetError(_one_line(f"{path}: cannot read this file ({reason})")) from None


def decode_idx(path: str, raw: bytes) -> np.ndarray:
  """Decodes the bytes `raw` of the idx file `path` (gunzipped if it ends in .gz).

  Args:
    path: the file's name, used for gzip detection and in error messages.
    raw: the file's bytes, as read from disk.

  Returns:
    A uint8 array of the shape the header gives.

  Raises:
    DatasetError: not gzip, a truncated or corrupt gzip stream, a header that is
      not that of an idx file of unsigned bytes, or a data length that does not
      match the header.
  """
  if not raw:
    raise DatasetError(_one_line(f"{path}: empty file (0 bytes); expected an idx file"))
  if path.endswith(".gz"):
    try:
      data = gzip.decompress(raw)
    except EOFError:
      raise DatasetError(_one_line(
          f"{path}: truncated ({len(raw)} bytes; the gzip stream ends early); "
          "download or copy the file again")) from None
    except (gzip.BadGzipFile, zlib.error, OSError) as e:
      if raw[:3] == b"\x00\x00" + bytes([_UBYTE]):
        raise DatasetError(_one_line(
            f"{path}: not gzip-compressed (it holds an uncompressed idx file); "
            "gzip it")) from None
      raise DatasetError(_one_line(
          f"{path}: not a valid gzip file ({e}); a .gz file here must be the "
          "gzip-compressed idx file (gunzip -t checks it)")) from None
  else:
    data = raw
  if len(data) < 4 or data[:2] != b"\x00\x00":
    raise DatasetError(_one_line(
        f"{path}: not an idx file (an idx file starts with bytes 00 00 08 and the "
        f"number of dimensions; this one starts with {data[:4].hex(' ') or 'nothing'})"))
  if data[2] != _UBYTE:
    raise DatasetError(_one_line(
        f"{path}: not an idx file of unsigned bytes (type code 0x{data[2]:02x}; "
        f"only 0x{_UBYTE:02x} is supported)"))
  ndim = data[3]
  header = 4 + 4 * ndim
  if len(data) < header:
    raise DatasetError(_one_line(
        f"{path}: truncated idx header ({len(data)} bytes; {ndim} dimensions need "
        f"{header} bytes)"))
  shape = struct.unpack(f">{ndim}I", data[4:header])
  expected = int(np.prod(shape, dtype=np.int64))
  if len(data) - header != expected:
    raise DatasetError(_one_line(
        f"{path}: header says shape {tuple(shape)} ({expected} bytes) but the file "
        f"holds {len(data) - header} bytes of data"))
  return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def read_idx(path: str) -> np.ndarray:
  """Reads an idx file of unsigned bytes into a uint8 array.

  Args:
    path: the file, gzipped or not.

  Returns:
    A uint8 array of the shape its header gives (e.g. [N, 28, 28] images or
    [N] labels).

  Raises:
    DatasetError (a ValueError): the file cannot be read, is not (valid) gzip,
      is not an idx file of unsigned bytes, or is truncated.
  """
  return decode_idx(path, read_file(path))


def check_split(split: str, images: np.ndarray, labels: np.ndarray, images_path: str,
                labels_path: str) -> None:
  """Checks that decoded idx arrays form a split of 28x28 images with labels 0..9.

  Raises:
    DatasetError: images not [N, 28, 28], labels not [N], N = 0, a label count
      that differs from the image count, or a label outside 0..9.
  """
  if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
    raise DatasetError(_one_line(
        f"{images_path}: images must be 28x28 (an idx file of shape [N, 28, 28]); "
        f"its header says shape {tuple(images.shape)}"))
  if labels.ndim != 1:
    raise DatasetError(_one_line(
        f"{labels_path}: labels must be an idx file of shape [N]; its header says "
        f"shape {tuple(labels.shape)}"))
  if not len(images):
    raise DatasetError(_one_line(f"{images_path}: the {split} split holds no images "
                                 "(N = 0)"))
  if len(labels) != len(images):
    raise DatasetError(_one_line(
        f"{labels_path}: {len(labels)} labels for the {len(images)} images of "
        f"{os.path.basename(images_path)}; the counts must be equal"))
  bad = np.flatnonzero(labels >= NUM_CLASSES)
  if bad.size:
    raise DatasetError(_one_line(
        f"{labels_path}: label {int(labels[bad[0]])} at index {int(bad[0])} "
        f"({bad.size} labels out of range); labels must be in 0..{NUM_CLASSES - 1}"))


def read_split(directory: str, split: str) -> tuple[np.ndarray, np.ndarray]:
  """Reads and checks the images [N, 28, 28] and labels [N] of `split` in `directory`.

  Raises:
    DatasetError: a file is unreadable, damaged or inconsistent (see
      `decode_idx` and `check_split`); the message names the file.
  """
  images_path, labels_path = (os.path.join(directory, f) for f in IDX_FILES[split])
  images, labels = read_idx(images_path), read_idx(labels_path)
  check_split(split, images, labels, images_path, labels_path)
  return images, labels


def write_idx(path: str, array: np.ndarray) -> None:
  """Writes a uint8 array as an idx file (gzipped if `path` ends in .gz).

  The file is written beside `path` and renamed into place; gzip output is
  byte-identical across runs.

  Args:
    path: the file to write (replaced if it exists).
    array: the values, cast to uint8; any number of dimensions.
  """
  array = np.ascontiguousarray(array, dtype=np.uint8)
  header = bytes([0, 0, _UBYTE, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
  tmp = path + ".tmp"
  # mtime=0 keeps gzip output byte-identical across runs.
  if path.endswith(".gz"):
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
      f.write(header + array.tobytes())
  else:
    with open(tmp, "wb") as f:
      f.write(header + array.tobytes())
  os.replace(tmp, path)
