"""tf.data pipelines: binarisation and resumable, deterministic training batches.

Batch `s` of a run is a pure function of (seed, s): the epoch's permutation is
drawn from `fold_in(seed, epoch)` and dynamic binarisation from
`fold_in(seed, s)`. Restarting at step s therefore needs only the step count,
which the checkpoint holds, and reproduces the uninterrupted run exactly. A
split too large for memory (`random_access.RandomAccessImages`) is gathered
by the same indices from its TFDS data source.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfp_zoo.datasets import random_access

__all__ = ["BINARIZATIONS", "binarize_fixed", "to_float", "train_batches", "eval_images"]

# dynamic: resampled at every visit (IWAE paper); fixed: one stochastic
# binarisation for the whole run; none: grey levels in [0, 1].
BINARIZATIONS = ("dynamic", "fixed", "none")
_FIXED_SALT = 1
_DYNAMIC_SALT = 2
_PERMUTATION_SALT = 3


def _fold(seed: tf.Tensor, *data) -> tf.Tensor:
  for d in data:
    seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(d, tf.int32))
  return seed


def to_float(images: np.ndarray | tf.Tensor, *, eight_bit: bool = False) -> tf.Tensor:
  """uint8 [0, 255] -> float32 [0, 1], or the levels 0..255 as float32 with
  `eight_bit` (for discretised likelihoods, which rescale inside the model).

  Args:
    images: uint8 images (array or tensor) of any shape.
    eight_bit: keep the levels 0..255 (default False: divide by 255).

  Returns:
    A float32 tensor, the shape of `images`.
  """
  images = tf.cast(images, tf.float32)
  return images if eight_bit else images / 255.0


def binarize_fixed(images: np.ndarray, seed: int) -> np.ndarray:
  """One stochastic binarisation x ~ Bernoulli(pixel / 255), fixed by `seed`.

  Args:
    images: uint8 images [N, H, W, C].
    seed: integer seed; the same seed gives the same binarisation.

  Returns:
    float32 array of 0s and 1s, the shape of `images`.
  """
  probs = to_float(images)
  u = tf.random.stateless_uniform(tf.shape(probs), seed=_fold(tf.constant([seed, 0]), _FIXED_SALT))
  return tf.cast(u < probs, tf.float32).numpy()


def eval_images(images: np.ndarray, *, binarization: str, seed: int = 0,
                eight_bit: bool = False) -> np.ndarray:
  """Test images as float32: one fixed binarisation unless binarization='none'
  (then grey levels in [0, 1], or 0..255 with `eight_bit`).

  Args:
    images: uint8 images [N, H, W, C].
    binarization: one of `BINARIZATIONS`; 'dynamic' and 'fixed' both give
      one fixed binarisation for evaluation.
    seed: the binarisation's integer seed (default 0).
    eight_bit: grey levels 0..255 instead of [0, 1] (only with
      binarization='none'; default False).

  Returns:
    float32 array, the shape of `images`.

  Raises:
    ValueError: an unknown `binarization`, or `eight_bit` with a binarisation.
  """
  _check_binarization(binarization, eight_bit)
  if binarization == "none":
    return to_float(images, eight_bit=eight_bit).numpy()
  return binarize_fixed(images, seed)


def _check_binarization(binarization: str, eight_bit: bool = False) -> None:
  if binarization not in BINARIZATIONS:
    raise ValueError(f"binarization={binarization!r}: expected one of {BINARIZATIONS}")
  if eight_bit and binarization != "none":
    raise ValueError(f"binarization={binarization!r}: 8-bit levels are not binarised; "
                     "use binarization='none'")


def train_batches(images: np.ndarray | random_access.RandomAccessImages, *,
                  batch_size: int, seed: int,
                  start_step: int = 0, binarization: str = "dynamic",
                  eight_bit: bool = False) -> tf.data.Dataset:
  """An infinite dataset of float32 batches [batch_size, *image_shape]
  (`eight_bit`: levels 0..255 instead of [0, 1], with binarization='none').

  Each epoch visits a fresh permutation (the last incomplete batch of an epoch
  is dropped); batch number `s` is the same whatever `start_step` was.
  `images` is uint8 [N, H, W, C] in memory, or a `RandomAccessImages`.

  Args:
    images: the training images, uint8 [N, H, W, C] or a `RandomAccessImages`
      read from disk by index.
    batch_size: examples per batch, between 1 and N.
    seed: integer seed of the permutations and binarisations.
    start_step: the first batch's number (default 0; to resume).
    binarization: 'dynamic' (default: resampled every visit), 'fixed' (once,
      in memory; not for images read from disk) or 'none' (grey levels).
    eight_bit: levels 0..255 instead of [0, 1] (only with
      binarization='none'; default False).

  Returns:
    An infinite `tf.data.Dataset` of float32 batches [batch_size, H, W, C],
    batches number start_step, start_step + 1, ...

  Raises:
    ValueError: an unknown `binarization`, `eight_bit` with a binarisation,
      'fixed' for images read from disk, or `batch_size` outside [1, N].
  """
  _check_binarization(binarization, eight_bit)
  streamed = isinstance(images, random_access.RandomAccessImages)
  if streamed and binarization == "fixed":
    raise ValueError(f"binarization='fixed' binarises the whole training set in memory, "
                     f"and {images.name} is read from disk: use 'dynamic' or 'none'")
  n = len(images)
  if not 1 <= batch_size <= n:
    raise ValueError(f"batch_size={batch_size} must be between 1 and the number of "
                     f"training examples ({n})")
  steps_per_epoch = n // batch_size
  base_seed = tf.constant([seed, 0], tf.int32)
  if streamed:
    gather = images.gather
  else:
    data = tf.constant(binarize_fixed(images, seed) if binarization == "fixed" else images)
    gather = lambda indices: tf.gather(data, indices)  # noqa: E731

  def epoch_indices(epoch):
    u = tf.random.stateless_uniform([n], seed=_fold(base_seed, _PERMUTATION_SALT, epoch))
    order = tf.argsort(u)[:steps_per_epoch * batch_size]
    return tf.data.Dataset.from_tensor_slices(
        tf.reshape(order, [steps_per_epoch, batch_size]))

  def make_batch(step, indices):
    x = gather(indices)
    if binarization == "fixed":
      return x
    x = to_float(x, eight_bit=eight_bit)
    if binarization == "dynamic":
      u = tf.random.stateless_uniform(tf.shape(x), seed=_fold(base_seed, _DYNAMIC_SALT, step))
      x = tf.cast(u < x, tf.float32)
    return x

  first_epoch, offset = divmod(start_step, steps_per_epoch)
  indices = (tf.data.Dataset.counter(first_epoch)
             .flat_map(epoch_indices).skip(offset))
  steps = tf.data.Dataset.counter(start_step)
  return (tf.data.Dataset.zip(steps, indices)
          .map(make_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
          .prefetch(2))
