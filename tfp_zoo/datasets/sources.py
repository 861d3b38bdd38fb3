"""Where images come from: the shipped subset, local idx files, prepared TFDS
data, or (only when asked) a TFDS download. Offline first, failing fast.

Every problem a user can cause ends in one line naming the file or directory:
`DatasetNotFoundError` when the data is not there (naming the missing files),
`DatasetError` when a file is damaged or inconsistent, `ResourceError` when
the prepared copy cannot be written.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import re
import zlib
from typing import Any, Callable

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from tfp_zoo.datasets import idx, multi_mnist, tfds_images, user_images
from tfp_zoo.datasets.download import download_and_prepare
from tfp_zoo.datasets.idx_builder import IdxImages
from tfp_zoo import registry
from tfp_zoo.errors import DatasetError, DatasetNotFoundError, ResourceError, UserError

__all__ = ["DATASETS", "SPLITS", "DatasetNotFoundError", "load_images", "load_counts",
           "load_boxes",
           "shipped_dir", "data_digest", "check_dataset", "DataSource", "source",
           "register_source", "needs_data_dir", "estimated_size"]

DATASETS = ("mnist_small", "mnist", "fashion_mnist", multi_mnist.NAME)
SPLITS = ("train", "test")
# The four idx files in a fixed order (train images, train labels, test ...).
_IDX_NAMES = tuple(f for pair in idx.IDX_FILES.values() for f in pair)


def shipped_dir() -> str:
  """The directory of the MNIST subset shipped inside the package.

  Returns:
    The path of `tfp_zoo/datasets/data/mnist_small` in the installed package.
  """
  return os.path.join(os.path.dirname(__file__), "data", "mnist_small")


class DataSource:
  """One kind of data: it loads, digests, counts, and says whether it needs
  --data_dir. Every `--dataset` value resolves to one (`source`).

  The protocol a user's source (`--dataset=package.module:object`) follows:
  `load(split, data_dir=None)` returning uint8 images [N, H, W, C] (or a
  function of that signature); optionally `digest(data_dir)` (a content
  digest: a resumed run refuses other data), `size(data_dir)` ((image shape,
  bytes of both splits), read before loading, for the memory check),
  `counts(split, data_dir)` (objects per image, for evaluation),
  `boxes(split, data_dir)` (their boxes, as `load_boxes` returns them) and
  `needs_data_dir` (True if it reads --data_dir).

  Args:
    name: the `--dataset` value it answers to.
  """
  needs_data_dir: bool = False
  # The digest is a file's own (npz:, folder:): a changed digest means the
  # file was edited, not that --data_dir points elsewhere.
  digest_is_the_files: bool = False

  def __init__(self, name: str):
    self.name = name

  def load(self, split: str, *, data_dir: str | None = None, download: bool = False,
           tfds_dir: str | None = None) -> np.ndarray:
    raise NotImplementedError

  def digest(self, data_dir: str | None = None) -> str | None:
    return None

  def size(self, data_dir: str | None = None) -> tuple[tuple[int, ...], int] | None:
    return None

  def counts(self, split: str, data_dir: str | None = None) -> np.ndarray | None:
    return None

  def boxes(self, split: str, data_dir: str | None = None) -> np.ndarray | None:
    return None


class _Shipped(DataSource):
  """The MNIST subset inside the package (10k/1k digits): always offline."""

  def load(self, split, *, data_dir=None, download=False, tfds_dir=None):
    return idx.read_split(shipped_dir(), split)[0][..., None]

  def digest(self, data_dir=None):
    return _shipped_digest()


class _IdxOrTfds(DataSource):
  """MNIST or Fashion-MNIST: four idx files in --data_dir, a prepared TFDS
  copy there, or (only with --download) TFDS's download."""
  needs_data_dir = True

  def load(self, split, *, data_dir=None, download=False, tfds_dir=None):
    return _load_idx_or_tfds(self.name, split, data_dir, download, tfds_dir)

  def digest(self, data_dir=None):
    if not data_dir:
      return None
    if not os.path.isdir(data_dir):
      raise DatasetNotFoundError(_one_line(f"--data_dir={data_dir} is not a directory"))
    return _digest(_read_idx_files(data_dir)) if _idx_dir(data_dir) else None

  def size(self, data_dir=None):
    return _idx_size(data_dir) if data_dir and _idx_dir(data_dir) else None


class _Tfds(DataSource):
  """A TFDS image dataset prepared in --data_dir (`tfds_images`)."""
  needs_data_dir = True

  def load(self, split, *, data_dir=None, download=False, tfds_dir=None):
    if data_dir and not os.path.isdir(data_dir):
      raise DatasetNotFoundError(_one_line(f"--data_dir={data_dir} is not a directory"))
    return tfds_images.load(self.name, split, data_dir=data_dir, download=download)


class _MultiMnist(DataSource):
  """0-2 digits on a 50x50 canvas (for AIR), built from mnist_small or the idx
  files in --data_dir; records the digit count of each image."""

  def load(self, split, *, data_dir=None, download=False, tfds_dir=None):
    return _multi_mnist(split, data_dir).images

  def digest(self, data_dir=None):
    digits = source(multi_mnist.source_name(data_dir)).digest(data_dir)
    return multi_mnist.digest(digits) if digits else None

  def counts(self, split, data_dir=None):
    return _multi_mnist(split, data_dir).counts

  def boxes(self, split, data_dir=None):
    scenes = _multi_mnist(split, data_dir)
    side = scenes.side
    top, left, present = (scenes.boxes[..., i].astype(np.float32) for i in range(3))
    return np.stack([top, left, top + side * present, left + side * present], -1) * present[..., None]


class _UserImages(DataSource):
  """npz:PATH (arrays train and test) or folder:PATH (train/ and test/ PNGs)."""
  digest_is_the_files = True

  def load(self, split, *, data_dir=None, download=False, tfds_dir=None):
    if self.name.startswith("npz:"):
      return user_images.load_npz(self.name, split)
    return user_images.load_folder(self.name, split)

  def digest(self, data_dir=None):
    return user_images.user_digest(self.name)

  def size(self, data_dir=None):
    return user_images.npz_size(self.name) if self.name.startswith("npz:") else None


class _UserSource(DataSource):
  """A user's object from `--dataset=package.module:object`, adapted to the
  full protocol: absent methods answer None, and what `load` returns is
  checked (one line naming the object otherwise)."""

  def __init__(self, name: str, obj: object):
    super().__init__(name)
    self._obj = obj
    self.needs_data_dir = bool(getattr(obj, "needs_data_dir", False))

  def _optional(self, method: str, *args: object) -> object:
    fn = getattr(self._obj, method, None)
    return None if fn is None else fn(*args)

  def load(self, split, *, data_dir=None, download=False, tfds_dir=None):
    load = getattr(self._obj, "load", self._obj)
    images = np.asarray(load(split, data_dir=data_dir))
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3) \
        or not len(images):
      raise DatasetError(f"--dataset={self.name}: load({split!r}) returned "
                         f"{images.dtype}{list(images.shape)}; expected uint8 images "
                         "[N, H, W, C] with N >= 1 and C = 1 or 3")
    return images

  def digest(self, data_dir=None):
    return self._optional("digest", data_dir)

  def size(self, data_dir=None):
    return self._optional("size", data_dir)

  def counts(self, split, data_dir=None):
    return self._optional("counts", split, data_dir)

  def boxes(self, split, data_dir=None):
    return self._optional("boxes", split, data_dir)


# The named datasets, and the kinds that a prefix selects (the path follows it).
_NAMED: dict[str, DataSource] = {
    "mnist_small": _Shipped("mnist_small"), "mnist": _IdxOrTfds("mnist"),
    "fashion_mnist": _IdxOrTfds("fashion_mnist"),
    multi_mnist.NAME: _MultiMnist(multi_mnist.NAME),
    **{n: _Tfds(n) for n in tfds_images.IMAGE_DATASETS}}
_PREFIXED: dict[str, Callable[[str], DataSource]] = {
    "npz:": _UserImages, "folder:": _UserImages,
    tfds_images.PREFIX: _Tfds}


def register_source(name: str, data_source: Any) -> DataSource:
  """Makes `data_source` (a `DataSource`, or an object following its
  protocol) available as `--dataset=name` in this process (a taken name is
  refused).

  Args:
    name: the new name; not a built-in or registered one, nor starting with
      a `prefix:` kind.
    data_source: a `DataSource`, or an object with `load(split,
      data_dir=None)` (or such a function).

  Returns:
    The registered `DataSource` (`data_source` itself, or a wrapper of it).

  Raises:
    ValueError: `name` is taken.
  """
  if name in _NAMED or name.startswith(tuple(_PREFIXED)):
    raise ValueError(f"dataset {name!r} is already registered; register yours under "
                     "another name")
  if not isinstance(data_source, DataSource):  # the documented protocol
    data_source = _UserSource(name, data_source)
  _NAMED[name] = data_source
  return data_source


@functools.lru_cache(maxsize=64)
def source(name: str) -> DataSource:
  """The `DataSource` a `--dataset` value names.

  Args:
    name: a built-in or registered name (`DATASETS`, a TFDS image dataset), a
      `prefix:PATH` kind ('tfds:NAME', 'npz:PATH', 'folder:PATH') or a
      `package.module:object` path to your own source.

  Returns:
    The `DataSource` (one per name: the result is cached).

  Raises:
    ValueError: an unknown name, or a `module:object` path that does not
      import or names no data source (one line saying what is missing).
  """
  if isinstance(name, str) and name in _NAMED:
    return _NAMED[name]
  for prefix, make in _PREFIXED.items():
    if isinstance(name, str) and name.startswith(prefix):
      return make(name)
  if registry.is_object_path(name):
    obj = registry.import_object(name, "dataset")
    if not callable(getattr(obj, "load", obj)) or isinstance(obj, type):
      raise ValueError(f"dataset {name!r}: expected a data source, an object with "
                       "load(split, data_dir=None) -> uint8 [N, H, W, C] (or such a "
                       f"function), got {type(obj).__name__}")
    if getattr(obj, "__name__", None) in _NAMED:
      raise ValueError(f"dataset {name!r}: its name {obj.__name__!r} is a built-in "
                       "dataset's; rename it")
    return _UserSource(name, obj)
  raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}, "
                   f"{', '.join(tfds_images.IMAGE_DATASETS)}, tfds:NAME (any TFDS image "
                   "dataset), npz:PATH (arrays train and test, uint8 [N, H, W, C]), "
                   "folder:PATH (train/ and test/ of PNGs), or package.module:object "
                   "(your own data source)")


def check_dataset(name: str) -> None:
  """ValueError unless `name` names a data source (see `source`).

  Args:
    name: a `--dataset` value.

  Raises:
    ValueError: `name` names no data source.
  """
  source(name)


def needs_data_dir(name: str) -> bool:
  """Whether the dataset `name` reads --data_dir (False for one that does not resolve).

  Args:
    name: a `--dataset` value.

  Returns:
    True if its source reads --data_dir.
  """
  try:
    return source(name).needs_data_dir
  except ValueError:
    return False


def _check_names(name: str, split: str | None = None) -> DataSource:
  data_source = source(name)
  if split is not None and split not in SPLITS:
    raise ValueError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
  return data_source


def _first_line(text: object, limit: int = 300) -> str:
  """The first line of `text` (e.g. a TensorFlow error, without its op names),
  at most `limit` characters."""
  text = re.sub(r"\{\{function_node [^}]*\}\}", "", str(text))
  text = re.sub(r"\s*\[Op:[^\]]*\].*", "", text)
  lines = text.strip().splitlines()
  return lines[0].strip()[:limit] if lines else ""


def _one_line(text: str) -> str:
  """Joins the lines of a message (e.g. a path with a newline) into one."""
  return " ".join(str(text).splitlines())


def _idx_dir(data_dir: str) -> bool:
  """True if `data_dir` holds all four idx files; False if it holds none.

  Raises:
    DatasetNotFoundError: only some of them are there (names the missing ones).
  """
  # lexists: a directory or a broken link in a file's place counts as present,
  # so reading it names the file and the problem.
  present = [f for f in _IDX_NAMES if os.path.lexists(os.path.join(data_dir, f))]
  if len(present) == len(_IDX_NAMES):
    return True
  if not present:
    return False
  missing = [f for f in _IDX_NAMES if f not in present]
  raise DatasetNotFoundError(_one_line(
      f"--data_dir={data_dir} holds {', '.join(present)} but not {', '.join(missing)}"
      f"{_uncompressed_hint(data_dir, missing)}; a directory of idx files needs all "
      f"four: {', '.join(_IDX_NAMES)}"))


def _uncompressed_hint(data_dir: str, missing: list[str]) -> str:
  """Points at idx files that are there but not gzipped (e.g. after gunzip)."""
  plain = [f[:-len(".gz")] for f in missing
           if os.path.isfile(os.path.join(data_dir, f[:-len(".gz")]))]
  if not plain:
    return ""
  return (f" (found {plain[0]} uncompressed: gzip it)" if len(plain) == 1 else
          f" (found {len(plain)} of them uncompressed, e.g. {plain[0]}: gzip them)")


def load_images(name: str, split: str, *, data_dir: str | None = None,
                download: bool = False, tfds_dir: str | None = None) -> np.ndarray:
  """Loads a split as uint8 images [N, H, W, C] ([N, 28, 28, 1] for MNIST).

  A TFDS training split too large for memory comes back as a
  `random_access.RandomAccessImages` read by index (`tfds_images`).

  Args:
    name: 'mnist_small' (shipped with the package), 'mnist', 'fashion_mnist',
      a TFDS image dataset ('omniglot', 'cifar10', 'svhn_cropped', 'celeb_a',
      'tfds:NAME'; `tfds_images`), or a user's images: 'npz:PATH' or
      'folder:PATH' (`user_images`).
    split: 'train' or 'test'.
    data_dir: a directory holding the four idx `.gz` files, or a TFDS data
      directory with the dataset already prepared.
    download: allow TFDS to download `name` into `data_dir` (network).
    tfds_dir: where the idx builder writes its prepared TFDS files (default:
      `tfp_zoo_idx/<digest of the idx files>` under TFDS's data directory, so
      different idx files never share a prepared copy).

  Returns:
    uint8 images [N, H, W, C], in memory or as a `RandomAccessImages`.

  Raises:
    ValueError: for an unknown name or split.
    DatasetNotFoundError: if the data is not available offline (within seconds,
      never after a network time-out), with a message saying how to provide it;
      also when only some of the four idx files are in `data_dir` (names the
      missing ones).
    DatasetError: an idx file (or a prepared TFDS copy) is unreadable, damaged
      or inconsistent: truncated or not gzip, a wrong idx header, a data length
      that does not match the header, images not 28x28, a label count that
      differs from the image count, labels outside 0..9, an empty split. The
      idx files are checked before TFDS sees them; the message names the file.
    ResourceError: the prepared copy cannot be written under `tfds_dir`.
  """
  return _check_names(name, split).load(split, data_dir=data_dir, download=download,
                                         tfds_dir=tfds_dir)


def _load_idx_or_tfds(name: str, split: str, data_dir: str | None, download: bool,
                      tfds_dir: str | None) -> np.ndarray:
  if data_dir and not os.path.isdir(data_dir):
    raise DatasetNotFoundError(_one_line(f"--data_dir={data_dir} is not a directory"))
  if data_dir and not os.access(data_dir, os.R_OK | os.X_OK):
    raise DatasetError(_one_line(f"--data_dir={data_dir}: cannot read this directory "
                                 "(permission denied)"))
  if data_dir and _idx_dir(data_dir):
    return _from_idx_builder(name, split, data_dir, tfds_dir)
  if data_dir:
    builder = _builder(lambda: tfds.builder(name, data_dir=data_dir),
                       f"--data_dir={data_dir}", f"delete {os.path.join(data_dir, name)} and "
                       "prepare it again (--download), or give a directory of idx files")
    if builder.is_prepared():
      return _as_numpy(builder, split, f"delete it and prepare {name} again (--download)")
  if download:
    builder = tfds.builder(name, data_dir=data_dir)
    download_and_prepare(builder, name)
    return _as_numpy(builder, split, f"delete it and prepare {name} again (--download)")
  where = f"in --data_dir={data_dir}" if data_dir else "(no --data_dir given)"
  hint = _uncompressed_hint(data_dir, list(_IDX_NAMES)) if data_dir else ""
  raise DatasetNotFoundError(_one_line(
      f"dataset {name!r} is not available offline {where}{hint}. Provide a directory "
      f"with the four idx files ({', '.join(_IDX_NAMES)})"
      f" as --data_dir, or a TFDS data_dir where {name!r} is prepared, or pass "
      "--download to fetch it with TFDS (needs network). The shipped subset "
      "--dataset=mnist_small always works offline."))


def estimated_size(name: str, data_dir: str | None = None
                   ) -> tuple[tuple[int, ...], int] | None:
  """(image shape, bytes of both splits in memory) of a dataset, read from its
  files' headers before loading it, where that is cheap: npz files and MNIST's
  idx files; None otherwise (the shipped subset is small).

  Args:
    name: a `--dataset` value.
    data_dir: the dataset's directory, for those that read one.

  Returns:
    (image shape (H, W, C), bytes of both splits as uint8), or None.

  Raises:
    ValueError: `name` names no data source.
  """
  return source(name).size(data_dir)


def _idx_size(data_dir: str) -> tuple[tuple[int, ...], int] | None:
  total = 0
  try:
    for images_file, _ in idx.IDX_FILES.values():
      with gzip.open(os.path.join(data_dir, images_file)) as f:
        header = f.read(16)
      count, rows, cols = (int.from_bytes(header[i:i + 4], "big") for i in (4, 8, 12))
      total += count * rows * cols
  except (OSError, EOFError, ValueError):
    return None
  return (rows, cols, 1), total


def data_digest(name: str, data_dir: str | None = None) -> str | None:
  """A content digest of the data `load_images(name, ..., data_dir=data_dir)` reads.

  Two runs whose digests are equal read byte-identical data files. Hashes the
  files' raw bytes only (fast); damage is reported by `load_images`.

  Args:
    name: 'mnist_small', 'mnist' or 'fashion_mnist'.
    data_dir: as for `load_images` (ignored for 'mnist_small').

  Returns:
    16 hex digits: the digest of the four idx files in `data_dir`, or of the
    shipped files for 'mnist_small'. None where no digest can be computed
    cheaply: no `data_dir`, or a TFDS data directory (prepared or downloaded).

  Raises:
    ValueError: an unknown name.
    DatasetNotFoundError: `data_dir` is not a directory, or holds only some
      of the four idx files.
    DatasetError: an idx file cannot be read.
  """
  return _check_names(name).digest(data_dir)


def load_counts(name: str, split: str, *, data_dir: str | None = None) -> np.ndarray | None:
  """The number of objects in each image of `split` (int32 [N]), for datasets
  that record it (multi_mnist, for evaluation only); None for the others.

  Args:
    name: a `--dataset` value.
    split: 'train' or 'test'.
    data_dir: the dataset's directory, for those that read one.

  Returns:
    int32 array [N], one count per image of the split, or None.

  Raises:
    ValueError: an unknown dataset or split.
  """
  return _check_names(name, split).counts(split, data_dir)


def load_boxes(name: str, split: str, *, data_dir: str | None = None) -> np.ndarray | None:
  """Each object's box in each image of `split`, for datasets that record them.

  Args:
    name: the dataset (`--dataset`).
    split: "train" or "test".
    data_dir: as for `load_images`.

  Returns:
    float32 [N, T, 4] (top, left, bottom, right) in pixel-edge coordinates,
    rows of absent objects all 0 (multi_mnist); None for other datasets.
  """
  return _check_names(name, split).boxes(split, data_dir)


def _multi_mnist(split: str, data_dir: str | None) -> multi_mnist.MultiMnist:
  source = multi_mnist.source_name(data_dir)
  return _built_multi_mnist(split, data_dir or None, data_digest(source, data_dir) or "")


@functools.lru_cache(maxsize=4)
def _built_multi_mnist(split: str, data_dir: str | None, digest: str) -> multi_mnist.MultiMnist:
  del digest  # part of the cache key: other digits, another build
  digits = load_images(multi_mnist.source_name(data_dir), split, data_dir=data_dir)
  return multi_mnist.build_split(np.asarray(digits), split)


@functools.lru_cache(maxsize=None)
def _shipped_digest() -> str:
  return _digest(_read_idx_files(shipped_dir()))


def _read_idx_files(directory: str) -> dict[str, bytes]:
  """The raw bytes of the four idx files, by file name (DatasetError if unreadable)."""
  return {f: idx.read_file(os.path.join(directory, f)) for f in _IDX_NAMES}


def _digest(raw_files: dict[str, bytes]) -> str:
  digest = hashlib.sha256()
  for name in _IDX_NAMES:  # the order and formula of earlier versions: same keys
    digest.update(name.encode() + raw_files[name])
  return digest.hexdigest()[:16]


# sha256 of label files that identify a dataset: the .gz files TFDS downloads
# (its url_checksums) and, for MNIST, their decompressed content (copies are
# often recompressed). Label files are small, and they differ between datasets.
_KNOWN_LABEL_FILES = {
    "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c": "mnist",
    "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6": "mnist",
    "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5": "mnist",
    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2": "mnist",
    "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845": "fashion_mnist",
    "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5": "fashion_mnist",
}


def _check_identity(name: str, directory: str, raw_files: dict[str, bytes]) -> None:
  """Refuses the files of another known dataset given as `name` (MNIST's
  files as fashion_mnist would train quietly on the wrong data)."""
  for split, (_, labels_file) in idx.IDX_FILES.items():
    raw = raw_files[labels_file]
    contents = [raw]
    try:
      contents.append(gzip.decompress(raw))
    except (OSError, EOFError, zlib.error):
      pass
    for content in contents:
      known = _KNOWN_LABEL_FILES.get(hashlib.sha256(content).hexdigest())
      if known is not None and known != name:
        raise DatasetError(_one_line(
            f"--data_dir={directory}: {labels_file} is {known}'s ({split} labels, "
            f"recognised by its content digest), not {name}'s; give the {name} files, or "
            f"--dataset={known}"))


def _check_idx_files(directory: str, raw_files: dict[str, bytes]) -> None:
  """Decodes and checks both splits, so TFDS never sees a damaged file."""
  for split, (images_file, labels_file) in idx.IDX_FILES.items():
    paths = [os.path.join(directory, f) for f in (images_file, labels_file)]
    images, labels = (idx.decode_idx(p, raw_files[f])
                      for p, f in zip(paths, (images_file, labels_file)))
    idx.check_split(split, images, labels, *paths)


def _from_idx_builder(name: str, split: str, data_dir: str,
                      tfds_dir: str | None) -> np.ndarray:
  # Read each file once: the digest names exactly the bytes that were checked.
  raw_files = _read_idx_files(data_dir)
  _check_identity(name, data_dir, raw_files)
  _check_idx_files(data_dir, raw_files)
  if tfds_dir is None:
    root = os.environ.get("TFDS_DATA_DIR",
                          os.path.join(os.path.expanduser("~"), "tensorflow_datasets"))
    tfds_dir = os.path.join(root, "tfp_zoo_idx", _digest(raw_files))
  builder = _prepared_idx_builder(name, data_dir, tfds_dir)
  return _as_numpy(builder, split, "delete it and it is prepared again from the idx "
                   f"files in {data_dir}")


def _prepared_idx_builder(name: str, data_dir: str, tfds_dir: str) -> IdxImages:
  """An `IdxImages` builder for `name`, prepared under `tfds_dir` if it was not.

  TFDS prepares into a sibling `incomplete.*` directory and renames it when
  done, so a prepare that was killed leaves only that sibling, which the next
  prepare ignores. A version directory without TFDS's metadata (e.g. a partial
  copy) would be "reused" by TFDS and then fail to read: it is removed first.
  """
  builder = _builder(lambda: IdxImages(config=name, data_dir=tfds_dir), tfds_dir,
                     f"delete it and it is prepared again from the idx files in {data_dir}")
  if builder.is_prepared():
    return builder
  try:
    if builder.data_path.exists():
      print(f"Removing the incomplete prepared copy {builder.data_path} ...", flush=True)
      builder.data_path.rmtree()
    print(f"Preparing {name} from the idx files in {data_dir} (once) ...", flush=True)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=data_dir, try_download_gcs=False))
  except DatasetError:
    raise
  except OSError as e:
    builder = IdxImages(config=name, data_dir=tfds_dir)
    if builder.is_prepared():  # another process (e.g. a worker) prepared it first
      return builder
    reason = e.strerror or _first_line(e) or type(e).__name__
    filename = os.fspath(e.filename) if getattr(e, "filename", None) else tfds_dir
    where = "" if filename.rstrip("/") == tfds_dir.rstrip("/") else f" ({filename})"
    raise ResourceError(_one_line(
        f"cannot write the prepared copy of {name} under {tfds_dir}{where}: {reason}; "
        "make it writable, or set TFDS_DATA_DIR to a writable directory with free "
        "space")) from None
  except Exception:  # pylint: disable=broad-except
    builder = IdxImages(config=name, data_dir=tfds_dir)
    if builder.is_prepared():  # another process prepared it first (rename clash)
      return builder
    raise
  return IdxImages(config=name, data_dir=tfds_dir)


def _builder(make: Callable[[], tfds.core.DatasetBuilder], where: str,
             remedy: str) -> tfds.core.DatasetBuilder:
  """`make()`, with a damaged prepared copy's metadata as a one-line DatasetError."""
  try:
    return make()
  except UserError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    # TFDS reads dataset_info.json/features.json of a prepared copy here and
    # wraps what goes wrong (protobuf ParseError, JSON, I/O) in varying types.
    raise DatasetError(_one_line(
        f"{where}: the prepared TFDS copy cannot be read ({_first_line(e)}); "
        f"{remedy}")) from None


def _as_numpy(builder: tfds.core.DatasetBuilder, split: str, remedy: str) -> np.ndarray:
  """The split's images; DatasetError naming the prepared directory if damaged."""
  try:
    images = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))["image"]
  except (tf.errors.OpError, OSError) as e:
    reason = _first_line(getattr(e, "message", None) or e) or type(e).__name__
    raise DatasetError(_one_line(
        f"{builder.data_dir}: the prepared {split} split cannot be read ({reason}); "
        f"{remedy}")) from None
  return np.asarray(images, np.uint8).reshape(-1, 28, 28, 1)
