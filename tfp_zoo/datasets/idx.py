"""Reading and writing the idx format of MNIST and Fashion-MNIST (gzipped or not).

Format (LeCun et al.): a big-endian header of two zero bytes, a type code
(0x08 = unsigned byte), the number of dimensions, then each dimension as a
big-endian uint32, then the data in C order.
"""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np

__all__ = ["read_idx", "write_idx", "IDX_FILES"]

# The four standard file names, by split, as (images, labels).
IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_UBYTE = 0x08


def _open(path: str, mode: str):
  return gzip.open(path, mode) if path.endswith(".gz") else open(path, mode)


def read_idx(path: str) -> np.ndarray:
  """Reads an idx file of unsigned bytes into a uint8 array.

  Raises:
    ValueError: if the file is not an idx file of unsigned bytes or is truncated.
  """
  with _open(path, "rb") as f:
    data = f.read()
  if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != _UBYTE:
    raise ValueError(f"{path} is not an idx file of unsigned bytes")
  ndim = data[3]
  header = 4 + 4 * ndim
  shape = struct.unpack(f">{ndim}I", data[4:header])
  expected = int(np.prod(shape))
  if len(data) - header != expected:
    raise ValueError(f"{path}: header says {shape} ({expected} bytes) but the file "
                     f"holds {len(data) - header} bytes of data")
  return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def write_idx(path: str, array: np.ndarray) -> None:
  """Writes a uint8 array as an idx file (gzipped if `path` ends in .gz)."""
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
