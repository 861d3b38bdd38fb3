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
"""

from __future__ import annotations

import os
import re

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from tfp_zoo.errors import DatasetError, DatasetNotFoundError

__all__ = ["IMAGE_DATASETS", "PREFIX", "tfds_name", "load"]

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
          f"tfds.builder('{name}', data_dir={where}).download_and_prepare()\" (or add "
          "--download), then train offline with --data_dir")


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


def load(dataset: str, split: str, *, data_dir: str | None, download: bool) -> np.ndarray:
  """`split` ('train' or 'test') of a TFDS image dataset as uint8 [N, H, W, C]."""
  name = tfds_name(dataset)
  builder = _builder(name, dataset, data_dir)
  if not builder.is_prepared():
    if not download:
      raise DatasetNotFoundError(
          f"--dataset={dataset}: {name} is not prepared in --data_dir={data_dir}; "
          + _prepare_hint(name, data_dir))
    builder.download_and_prepare()
  splits = builder.info.splits
  source = split if split in splits else ("validation" if split == "test" and
                                          "validation" in splits else None)
  if source is None:
    raise DatasetError(f"--dataset={dataset}: {name} has no {split} split (it has "
                       f"{', '.join(splits)})")
  key = _image_key(builder, dataset)
  preprocess = _PREPROCESS.get(name.split("/")[0].split(":")[0], lambda image: image)
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


def _image_key(builder: tfds.core.DatasetBuilder, dataset: str) -> str:
  features = builder.info.features
  keys = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
  if "image" in keys:
    return "image"
  if not keys:
    raise DatasetError(f"--dataset={dataset}: {builder.name} has no image feature "
                       f"(features: {', '.join(features)})")
  return keys[0]
