"""Image datasets prepared by TFDS: Omniglot, CIFAR-10, SVHN, CelebA, and any
TFDS image dataset by name (`--dataset=tfds:NAME`).

They are read offline from a TFDS `--data_dir` where the dataset was prepared
once (with network: `--download`, or `tfds.builder(NAME, data_dir=DIR)
.download_and_prepare()`); without one they fail at once, saying how. Each
split is loaded into memory as uint8 [N, H, W, C] after a fixed
preprocessing:

    omniglot       grey, resized to 28×28 and inverted (strokes bright), as in
                   the IWAE paper (Burda et al. 2016)
    celeb_a        centre-cropped to 140×140 and resized to 64×64
    cifar10, svhn_cropped and tfds:NAME   as stored

A 'test' split that a dataset lacks is read from its 'validation' split.

A training split larger than `IN_MEMORY_BYTES` after preprocessing (CelebA's
162,770 faces are 2.0 GB at 64×64×3; ImageNet far more) is not loaded: it is
read by index from the TFDS data source (`random_access`), which needs the
dataset prepared in ArrayRecord format (`file_format='array_record'`).
"""

from __future__ import annotations

import os
import re

import math

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from tfp_zoo.datasets import random_access
from tfp_zoo.datasets.download import download_and_prepare
from tfp_zoo.errors import DatasetError, DatasetNotFoundError

__all__ = ["IMAGE_DATASETS", "IN_MEMORY_BYTES", "PREFIX", "tfds_name", "load"]

IN_MEMORY_BYTES = 2 * 1024 ** 3

IMAGE_DATASETS = ("omniglot", "cifar10", "svhn_cropped", "celeb_a")
PREFIX = "tfds:"
_CELEB_A_CROP, _CELEB_A_SIZE, _OMNIGLOT_SIZE = 140, 64, 28


def tfds_name(name: str) -> str | None:
  """The TFDS name behind a --dataset value, or None if TFDS does not hold it."""
  if name in IMAGE_DATASETS:
    return name
  if isinstance(name, str) and name.startswith(PREFIX):
    return name[len(PREFIX):]
  return None


def _omniglot(image: tf.Tensor) -> tf.Tensor:
  grey = tf.image.rgb_to_grayscale(image)
  small = tf.image.resize(grey, [_OMNIGLOT_SIZE] * 2, method="area")
  return tf.cast(tf.round(255.0 - small), tf.uint8)


def _celeb_a(image: tf.Tensor) -> tf.Tensor:
  face = tf.image.resize_with_crop_or_pad(image, _CELEB_A_CROP, _CELEB_A_CROP)
  small = tf.image.resize(face, [_CELEB_A_SIZE] * 2, method="area")
  return tf.cast(tf.round(small), tf.uint8)


_PREPROCESS = {"omniglot": _omniglot, "celeb_a": _celeb_a}


def _first_line(error: Exception) -> str:
  text = str(getattr(error, "message", None) or error).strip().splitlines()
  return re.sub(r"\s+", " ", text[0])[:200] if text else type(error).__name__


def _prepare_hint(name: str, data_dir: str | None) -> str:
  where = repr(data_dir) if data_dir else "DIR"
  return (f"prepare it once with network: python -c \"import tensorflow_datasets as tfds; "
          f"tfds.builder('{name}', data_dir={where}, file_format='array_record')"
          ".download_and_prepare()\" (or add --download), then train offline with --data_dir")


def _builder(name: str, dataset: str, data_dir: str | None) -> tfds.core.DatasetBuilder:
  if not name or not re.fullmatch(r"[a-z0-9_]+(/[a-z0-9_.]+)?(:[0-9.]+)?", name):
    raise DatasetNotFoundError(f"--dataset={dataset}: {name!r} is not a TFDS dataset name "
                               "(e.g. tfds:cifar100 or tfds:imagenet_resized/32x32)")
  try:
    return tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError:
    raise DatasetNotFoundError(
        f"--dataset={dataset}: TFDS knows no dataset {name!r} and none is prepared in "
        f"--data_dir={data_dir}") from None
  except Exception as e:  # pylint: disable=broad-except
    raise DatasetError(f"--data_dir={data_dir}: the prepared TFDS copy of {name} cannot be "
                       f"read ({_first_line(e)}); delete it and prepare it again") from None


def load(dataset: str, split: str, *, data_dir: str | None, download: bool,
         in_memory_bytes: int | None = None) -> np.ndarray | random_access.RandomAccessImages:
  """`split` ('train' or 'test') of a TFDS image dataset as uint8 [N, H, W, C]:
  in memory, or a `RandomAccessImages` for a training split larger than
  `in_memory_bytes` (default `IN_MEMORY_BYTES`)."""
  name = tfds_name(dataset)
  builder = _builder(name, dataset, data_dir)
  if not builder.is_prepared():
    if not download:
      raise DatasetNotFoundError(
          f"--dataset={dataset}: {name} is not prepared in --data_dir={data_dir}; "
          + _prepare_hint(name, data_dir))
    builder = tfds.builder(name, data_dir=data_dir, file_format="array_record")
    download_and_prepare(builder, dataset)
  splits = builder.info.splits
  source = split if split in splits else ("validation" if split == "test" and
                                          "validation" in splits else None)
  if source is None:
    raise DatasetError(f"--dataset={dataset}: {name} has no {split} split (it has "
                       f"{', '.join(splits)})")
  key = _image_key(builder, dataset)
  preprocess = _PREPROCESS.get(name.split("/")[0].split(":")[0], lambda image: image)
  limit = IN_MEMORY_BYTES if in_memory_bytes is None else in_memory_bytes
  size = _preprocessed_bytes(builder, key, source, preprocess)
  array_record = builder.info.file_format == tfds.core.file_adapters.FileFormat.ARRAY_RECORD
  if split == "train" and size is not None and size > limit:
    images = _random_access(builder, dataset, name, source, key, preprocess, size, data_dir)
    print(f"--dataset={dataset}: the {source} split is {size / 1024 ** 3:.1f} GB; reading it "
          f"by index from {os.fspath(builder.data_path)} instead of loading it", flush=True)
    return images
  if array_record:  # ArrayRecord files are read through the data source only
    images = _random_access(builder, dataset, name, source, key, preprocess, size, data_dir)
    return images[:]
  try:
    data = (builder.as_dataset(split=source, shuffle_files=False)
            .map(lambda example: preprocess(example[key]),
                 num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .batch(1024))
    images = np.concatenate(list(tfds.as_numpy(data)))
  except (tf.errors.OpError, OSError, ValueError) as e:
    raise DatasetError(f"{os.fspath(builder.data_path)}: the prepared {source} split cannot "
                       f"be read ({_first_line(e)}); delete it and prepare {name} again "
                       "(--download)") from None
  if images.dtype != np.uint8 or images.ndim != 4:
    raise DatasetError(f"--dataset={dataset}: its '{key}' feature is {images.dtype} "
                       f"{images.shape[1:]}; expected uint8 images [H, W, C]")
  return images


def _preprocessed_bytes(builder, key, split, preprocess) -> int | None:
  """The split's size in memory after preprocessing (None for images of varying size)."""
  shape = builder.info.features[key].shape
  if any(d is None for d in shape):
    return None
  one = preprocess(tf.zeros([1, *shape], tf.uint8))
  return builder.info.splits[split].num_examples * math.prod(one.shape[1:])


def _random_access(builder, dataset, name, split, key, preprocess, size, data_dir):
  if builder.info.file_format != tfds.core.file_adapters.FileFormat.ARRAY_RECORD:
    raise DatasetError(
        f"--dataset={dataset}: its {split} split is {size / 1024 ** 3:.1f} GB after "
        f"preprocessing, more "
        f"than the {IN_MEMORY_BYTES / 1024 ** 3:.0f} GB loaded into memory, and it is "
        f"prepared as {builder.info.file_format.value}, which cannot be read by index; "
        f"prepare it again in ArrayRecord format: python -c \"import tensorflow_datasets as "
        f"tfds; tfds.builder('{name}', data_dir={data_dir!r}, file_format='array_record')"
        ".download_and_prepare()\"")
  try:
    source = builder.as_data_source(split=split)
    images = random_access.RandomAccessImages(source, key, preprocess, f"--dataset={dataset}")
  except Exception as e:  # pylint: disable=broad-except
    raise DatasetError(f"{os.fspath(builder.data_path)}: the prepared {split} split cannot "
                       f"be read by index ({_first_line(e)}); delete it and prepare {name} "
                       "again (--download)") from None
  return images


def _image_key(builder: tfds.core.DatasetBuilder, dataset: str) -> str:
  features = builder.info.features
  keys = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
  if "image" in keys:
    return "image"
  if not keys:
    raise DatasetError(f"--dataset={dataset}: {builder.name} has no image feature "
                       f"(features: {', '.join(features)})")
  return keys[0]
