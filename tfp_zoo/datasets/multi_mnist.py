"""`multi_mnist`: 0 to `max_digits` MNIST digits scattered on a 50×50 canvas.

The dataset of attend-infer-repeat (Eslami et al. 2016). It is built, not
downloaded: deterministically from the digits of the shipped `mnist_small`
(default) or of full MNIST (`data_dir` holding the idx files), so it works
offline and two builds from the same digits are byte-identical. Canvas i of a
split draws its digit count uniformly from 0..max_digits, then for each digit
a source image of the same split and a position with the whole 28×28 digit
inside the canvas; overlapping digits combine by the pixel-wise maximum. The
counts (and the boxes) are kept beside the images for evaluation only: the
model never sees them.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

import numpy as np

__all__ = ["NAME", "CANVAS_SIZE", "MAX_DIGITS", "MultiMnist", "build_split", "digest",
           "from_digits", "source_name"]

NAME = "multi_mnist"
CANVAS_SIZE = 50
MAX_DIGITS = 2
_VERSION = "1"  # change when the construction changes: it enters the data digest
_SEEDS = {"train": 0, "test": 1}


class MultiMnist(NamedTuple):
  """One split: images uint8 [N, size, size, 1], counts int32 [N] and boxes
  int32 [N, max_digits, 3] = (top, left, present) of each digit (0 where absent),
  each digit `side` pixels square."""
  images: np.ndarray
  counts: np.ndarray
  boxes: np.ndarray
  side: int = 28  # the digits' side in pixels: each box is side × side


def source_name(data_dir: str | None) -> str:
  """The digits multi_mnist is built from: full MNIST in `data_dir`, else the
  shipped subset."""
  return "mnist" if data_dir else "mnist_small"


def from_digits(digits: np.ndarray, num_images: int, *, seed: int,
                canvas_size: int = CANVAS_SIZE, max_digits: int = MAX_DIGITS) -> MultiMnist:
  """Scatters digits on `num_images` canvases (deterministic in `seed`).

  Args:
    digits: uint8 [N, 28, 28] or [N, 28, 28, 1] source digits.
    num_images: canvases to make.
    seed: the NumPy generator's seed.
    canvas_size: side of the square canvas (>= the digits' side).
    max_digits: the most digits per canvas (counts are uniform on 0..max_digits).
  """
  digits = np.asarray(digits)
  if digits.ndim == 4:
    digits = digits[..., 0]
  if digits.ndim != 3 or digits.dtype != np.uint8 or not len(digits):
    raise ValueError(f"digits: expected uint8 [N, height, width], got {digits.dtype} "
                     f"{digits.shape}")
  side = digits.shape[1]
  if canvas_size < max(digits.shape[1:]):
    raise ValueError(f"canvas_size={canvas_size}: must be at least the digits' size "
                     f"{digits.shape[1:]}")
  if max_digits < 1:
    raise ValueError(f"max_digits={max_digits}: expected an integer >= 1")
  rng = np.random.default_rng(seed)
  counts = rng.integers(0, max_digits + 1, size=num_images).astype(np.int32)
  sources = rng.integers(0, len(digits), size=(num_images, max_digits))
  corners = rng.integers(0, canvas_size - side + 1, size=(num_images, max_digits, 2))
  images = np.zeros((num_images, canvas_size, canvas_size), np.uint8)
  boxes = np.zeros((num_images, max_digits, 3), np.int32)
  for i in range(num_images):
    for j in range(counts[i]):
      top, left = corners[i, j]
      region = images[i, top:top + side, left:left + side]
      np.maximum(region, digits[sources[i, j]], out=region)
      boxes[i, j] = (top, left, 1)
  return MultiMnist(images[..., None], counts, boxes, side)


def build_split(digits: np.ndarray, split: str) -> MultiMnist:
  """The `split` of multi_mnist from that split's source digits: as many
  canvases as digits (10,000/1,000 from `mnist_small`, 60,000/10,000 from full
  MNIST), with the split's fixed seed. `datasets.load_images('multi_mnist', ...)`
  calls this (and caches it for the process)."""
  if split not in _SEEDS:
    raise ValueError(f"unknown split {split!r}; known: {', '.join(_SEEDS)}")
  return from_digits(digits, len(digits), seed=_SEEDS[split])


def digest(source_digest: str) -> str:
  """The data digest of multi_mnist built from digits with `source_digest`."""
  text = f"{NAME}:{_VERSION}:{CANVAS_SIZE}:{MAX_DIGITS}:{source_digest}"
  return hashlib.sha256(text.encode()).hexdigest()[:16]

