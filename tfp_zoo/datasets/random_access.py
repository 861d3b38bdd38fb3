"""A training split too large for memory, read by index from a TFDS data source.

TFDS data sources (`builder.as_data_source`, ArrayRecord files) read any record
by its index, so the input pipeline can gather batch s from the indices of the
epoch's permutation exactly as it does from an in-memory array: batch s stays a
pure function of (seed, s) and resuming stays exact. Records are decoded on
the host (`tf.numpy_function`) and the dataset's preprocessing (crop, resize,
grey) runs in the graph on each batch.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import tensorflow as tf

__all__ = ["RandomAccessImages"]

_CHUNK = 1024


class RandomAccessImages:
  """uint8 images [N, H, W, C] behind a random-access source; looks enough like
  the in-memory array for the training loop: `len`, `shape`, `dtype`, `ndim`,
  and `images[i:j]` (read and preprocessed at once)."""

  dtype = np.dtype(np.uint8)
  ndim = 4

  def __init__(self, source: Any, key: str,
               preprocess: Callable[[tf.Tensor], tf.Tensor], name: str):
    """`source[i]` is a record (a dict with the image under `key`), `len(source)`
    the split's size; `preprocess` maps uint8 [B, *raw] to uint8 [B, H, W, C]."""
    self._source, self._key, self._preprocess, self.name = source, key, preprocess, name
    first = np.asarray(source[0][key])
    self.raw_shape = tuple(first.shape)
    processed = preprocess(tf.constant(first[None]))
    self.shape = (len(source),) + tuple(processed.shape[1:])

  def __len__(self) -> int:
    return self.shape[0]

  def read(self, indices: np.ndarray) -> np.ndarray:
    """Raw uint8 records [len(indices), *raw_shape] at `indices`."""
    records = self._source.__getitems__([int(i) for i in np.asarray(indices).ravel()])
    images = [np.asarray(r[self._key]) for r in records]
    if any(image.shape != self.raw_shape for image in images):
      raise ValueError(f"{self.name}: images of different sizes "
                       f"({self.raw_shape} and {next(i.shape for i in images if i.shape != self.raw_shape)}); "
                       "training reads images of one size")
    return np.stack(images).astype(np.uint8, copy=False)

  def gather(self, indices: tf.Tensor) -> tf.Tensor:
    """Preprocessed uint8 images [B, H, W, C] at `indices` [B], inside a graph."""
    raw = tf.numpy_function(self.read, [indices], tf.uint8, stateful=False)
    raw.set_shape([indices.shape[0], *self.raw_shape])
    images = self._preprocess(raw)
    images.set_shape([indices.shape[0], *self.shape[1:]])
    return images

  def __getitem__(self, key: slice) -> np.ndarray:
    if not isinstance(key, slice):
      raise TypeError("RandomAccessImages supports slices only (images[i:j])")
    indices = np.arange(len(self))[key]
    out = np.zeros((len(indices),) + self.shape[1:], np.uint8)
    for start in range(0, len(indices), _CHUNK):  # raw images may be far larger
      chunk = indices[start:start + _CHUNK]
      out[start:start + len(chunk)] = self._preprocess(tf.constant(self.read(chunk))).numpy()
    return out
