"""A differentiable spatial transformer for axis-aligned scale-and-shift boxes.

Attend-infer-repeat (Eslami et al. 2016) reads a window out of an image and
writes a decoded object back onto the canvas through an affine map with a
scale s and a shift (t_x, t_y) (Jaderberg et al. 2015, "Spatial transformer
networks"). In normalised coordinates, where an image spans [−1, 1] along each
axis and pixel a of H has its centre at u_a = −1 + (2a + 1)/H, the window's
point v ∈ [−1, 1]² sits at the image point u = s·v + t: the window covers the
box [t − s, t + s] of the image.

Bilinear interpolation of an axis-aligned map separates into one tent-kernel
matrix per axis, K[i, a] = max(0, 1 − |p_i − a|) with p_i the (fractional)
pixel index that output pixel i reads, so

    window = K_y · image · K_xᵀ                    (`extract_window`)
    canvas = K'_y · window · K'_xᵀ                 (`place_window`, the inverse map)

two batched matmuls instead of a gather: the same numbers as STN's bilinear
sampler with zero padding, differentiable in s and t except where a sample
position lands exactly on a pixel centre (a measure-zero set for sampled
boxes, where TensorFlow's abs and relu give the gradient 0), with any number
of leading batch dimensions, and compiled by XLA like any matmul. TensorFlow has no
maintained sampler op (tfa's `resampler` went with TensorFlow Addons).
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf

__all__ = ["interpolation_matrix", "extract_window", "place_window"]


def _centres(size: int) -> tf.Tensor:
  """Normalised coordinates of the centres of `size` pixels, in (−1, 1)."""
  return -1.0 + (2.0 * tf.range(size, dtype=tf.float32) + 1.0) / size


def interpolation_matrix(positions: tf.Tensor, size: int) -> tf.Tensor:
  """The tent-kernel weights K[..., i, a] = max(0, 1 − |p_i − a|).

  Args:
    positions: [..., n] normalised coordinates (−1 and 1 are the outer edges)
      at which to read an axis of `size` pixels.
    size: that axis' number of pixels.

  Returns:
    [..., n, size]: row i interpolates linearly between the two pixels next to
    position i (zero outside the image).
  """
  index = (positions + 1.0) * (size / 2.0) - 0.5  # fractional pixel index
  pixels = tf.range(size, dtype=positions.dtype)
  return tf.nn.relu(1.0 - tf.abs(index[..., :, None] - pixels))


def _matmul(a: tf.Tensor, b: tf.Tensor, transpose_b: bool = False) -> tf.Tensor:
  """a @ b after broadcasting both to one batch shape.

  TensorFlow 2.21's CPU (oneDNN) batched matmul gives wrong numbers and
  corrupts the heap when it broadcasts operands of different ranks itself
  (e.g. [3, 1, 6, 4] @ [4, 6]ᵀ); with equal batch shapes it is correct.
  """
  batch = tf.broadcast_dynamic_shape(tf.shape(a)[:-2], tf.shape(b)[:-2])
  a = tf.broadcast_to(a, tf.concat([batch, tf.shape(a)[-2:]], 0))
  b = tf.broadcast_to(b, tf.concat([batch, tf.shape(b)[-2:]], 0))
  return tf.matmul(a, b, transpose_b=transpose_b)


def _split(where: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  where = tf.convert_to_tensor(where, tf.float32)
  return where[..., 0:1], where[..., 1:2], where[..., 2:3]


def extract_window(images: tf.Tensor, where: tf.Tensor,
                   window_shape: Sequence[int]) -> tf.Tensor:
  """Reads the box of `where` out of `images`, resampled to `window_shape`.

  Args:
    images: [..., H, W] (one channel; batch dimensions broadcast with `where`'s).
    where: [..., 3] = (s, t_x, t_y): the box [t − s, t + s] in the image's
      normalised coordinates (s > 0; s = 1, t = 0 is the whole image).
    window_shape: (h, w) of the output.

  Returns:
    [..., h, w] windows (bilinear, zero outside the image).
  """
  images = tf.convert_to_tensor(images, tf.float32)
  scale, shift_x, shift_y = _split(where)
  h, w = (int(d) for d in window_shape)
  rows = interpolation_matrix(scale * _centres(h) + shift_y, int(images.shape[-2]))
  cols = interpolation_matrix(scale * _centres(w) + shift_x, int(images.shape[-1]))
  return _matmul(_matmul(rows, images), cols, transpose_b=True)


def place_window(windows: tf.Tensor, where: tf.Tensor,
                 canvas_shape: Sequence[int]) -> tf.Tensor:
  """Writes `windows` onto an empty canvas in the box of `where`: the inverse of
  `extract_window` (a window read from a box and placed back reproduces the
  box's content, up to interpolation).

  Args:
    windows: [..., h, w].
    where: [..., 3] = (s, t_x, t_y) as for `extract_window`.
    canvas_shape: (H, W) of the output.

  Returns:
    [..., H, W] canvases, zero outside the box.
  """
  windows = tf.convert_to_tensor(windows, tf.float32)
  scale, shift_x, shift_y = _split(where)
  height, width = (int(d) for d in canvas_shape)
  rows = interpolation_matrix((_centres(height) - shift_y) / scale, int(windows.shape[-2]))
  cols = interpolation_matrix((_centres(width) - shift_x) / scale, int(windows.shape[-1]))
  return _matmul(_matmul(rows, windows), cols, transpose_b=True)
