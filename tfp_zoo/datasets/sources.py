"""Where images come from: the shipped subset, local idx files, prepared TFDS
data, or (only when asked) a TFDS download. Offline first, failing fast."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import tensorflow_datasets as tfds

from tfp_zoo.datasets import idx
from tfp_zoo.errors import DatasetNotFoundError
from tfp_zoo.datasets.idx_builder import IdxImages

__all__ = ["DATASETS", "SPLITS", "DatasetNotFoundError", "load_images", "shipped_dir"]

DATASETS = ("mnist_small", "mnist", "fashion_mnist")
SPLITS = ("train", "test")




def shipped_dir() -> str:
  """The directory of the MNIST subset shipped inside the package."""
  return os.path.join(os.path.dirname(__file__), "data", "mnist_small")


def _has_idx_files(directory: str) -> bool:
  return all(os.path.isfile(os.path.join(directory, f))
             for pair in idx.IDX_FILES.values() for f in pair)


def load_images(name: str, split: str, *, data_dir: str | None = None,
                download: bool = False, tfds_dir: str | None = None) -> np.ndarray:
  """Loads a split as uint8 images of shape [N, 28, 28, 1].

  Args:
    name: 'mnist_small' (shipped with the package), 'mnist' or 'fashion_mnist'.
    split: 'train' or 'test'.
    data_dir: a directory holding the four idx `.gz` files, or a TFDS data
      directory with the dataset already prepared.
    download: allow TFDS to download `name` into `data_dir` (network).
    tfds_dir: where the idx builder writes its prepared TFDS files (default:
      `tfp_zoo_idx/<digest of the idx files>` under TFDS's data directory, so
      different idx files never share a prepared copy).

  Raises:
    ValueError: for an unknown name or split.
    DatasetNotFoundError: if the data is not available offline (within seconds,
      never after a network time-out), with a message saying how to provide it.
  """
  if name not in DATASETS:
    raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
  if split not in SPLITS:
    raise ValueError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
  if name == "mnist_small":
    return idx.read_idx(os.path.join(shipped_dir(), idx.IDX_FILES[split][0]))[..., None]
  if data_dir and not os.path.isdir(data_dir):
    raise DatasetNotFoundError(f"--data_dir={data_dir} is not a directory")
  if data_dir and _has_idx_files(data_dir):
    return _from_idx_builder(name, split, data_dir, tfds_dir)
  if data_dir:
    builder = tfds.builder(name, data_dir=data_dir)
    if builder.is_prepared():
      return _as_numpy(builder, split)
  if download:
    builder = tfds.builder(name, data_dir=data_dir)
    builder.download_and_prepare()
    return _as_numpy(builder, split)
  where = f"in --data_dir={data_dir}" if data_dir else "(no --data_dir given)"
  raise DatasetNotFoundError(
      f"dataset {name!r} is not available offline {where}. Provide a directory "
      f"with the four idx files ({', '.join(f for p in idx.IDX_FILES.values() for f in p)})"
      f" as --data_dir, or a TFDS data_dir where {name!r} is prepared, or pass "
      "--download to fetch it with TFDS (needs network). The shipped subset "
      "--dataset=mnist_small always works offline.")


def _idx_digest(directory: str) -> str:
  digest = hashlib.sha256()
  for pair in idx.IDX_FILES.values():
    for name in pair:
      with open(os.path.join(directory, name), "rb") as f:
        digest.update(name.encode() + f.read())
  return digest.hexdigest()[:16]


def _from_idx_builder(name: str, split: str, data_dir: str,
                      tfds_dir: str | None) -> np.ndarray:
  if tfds_dir is None:
    root = os.environ.get("TFDS_DATA_DIR",
                          os.path.join(os.path.expanduser("~"), "tensorflow_datasets"))
    tfds_dir = os.path.join(root, "tfp_zoo_idx", _idx_digest(data_dir))
  builder = IdxImages(config=name, data_dir=tfds_dir)
  if not builder.is_prepared():
    print(f"Preparing {name} from the idx files in {data_dir} (once) ...", flush=True)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=data_dir))
  return _as_numpy(builder, split)


def _as_numpy(builder: tfds.core.DatasetBuilder, split: str) -> np.ndarray:
  images = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))["image"]
  return np.asarray(images, np.uint8).reshape(-1, 28, 28, 1)
