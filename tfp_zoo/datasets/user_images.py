"""A user's own images: a NumPy `.npz` file or a folder of PNGs.

    --dataset=npz:PATH      arrays `train` and `test`, uint8, [N, H, W, C]
                            ([N, H, W] is read as one channel)
    --dataset=folder:PATH   subfolders train/ and test/ of PNGs of one size

Both load into memory as uint8 [N, H, W, C], like the other sources, and
every problem is one line naming the file: a missing file or split, a wrong
dtype or rank, splits of different image shapes, an empty split, a PNG that
does not decode or has another size.
"""

from __future__ import annotations

import hashlib
import os
import re
import zipfile

import numpy as np
import tensorflow as tf

from tfp_zoo.errors import DatasetError, DatasetNotFoundError

__all__ = ["PREFIXES", "is_user_dataset", "load_npz", "load_folder", "user_digest",
           "npz_size"]

PREFIXES = ("npz:", "folder:")
_SPLITS = ("train", "test")
_CHANNELS = (1, 3)


def is_user_dataset(name: str) -> bool:
  return isinstance(name, str) and name.startswith(PREFIXES)


def _path(name: str) -> str:
  kind, path = name.split(":", 1)
  if not path:
    raise DatasetNotFoundError(f"--dataset={name}: give a path after '{kind}:'")
  return os.path.expanduser(path)


def _check_images(images: np.ndarray, where: str) -> np.ndarray:
  if images.dtype == object:
    raise DatasetError(f"{where}: holds Python objects (dtype object), not pixels; expected "
                       "a uint8 array [N, H, W, C]")
  if images.dtype != np.uint8:
    raise DatasetError(f"{where}: pixels are {images.dtype}; expected uint8 levels 0..255 "
                       "(e.g. np.round(x * 255).astype(np.uint8) for [0, 1] floats)")
  if images.ndim == 3:
    images = images[..., None]
  if images.ndim != 4 or images.shape[-1] not in _CHANNELS:
    raise DatasetError(f"{where}: shape {images.shape}; expected [N, H, W, C] with C in "
                       f"{_CHANNELS} (or [N, H, W])")
  if not len(images):
    raise DatasetError(f"{where}: no images")
  if 0 in images.shape[1:3]:
    raise DatasetError(f"{where}: images of size {images.shape[1]}x{images.shape[2]}; "
                       "expected at least one pixel each way")
  return images


def load_npz(name: str, split: str) -> np.ndarray:
  """`split` of `npz:PATH` as uint8 [N, H, W, C], checked against the other split."""
  path = _path(name)
  if not os.path.isfile(path):
    raise DatasetNotFoundError(f"--dataset={name}: {path} is not a file")
  _check_zip(path)
  try:
    with np.load(path, allow_pickle=False) as arrays:
      missing = [s for s in _SPLITS if s not in arrays.files]
      if missing:
        raise DatasetError(f"{path}: holds arrays {', '.join(arrays.files) or 'none'} but "
                           f"not {', '.join(missing)}; save with np.savez(path, train=..., "
                           "test=...)")
      images = {s: _check_images(arrays[s], f"{path}, array '{s}'") for s in _SPLITS}
  except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
    if isinstance(e, DatasetError):
      raise
    reason = str(e).splitlines()[0] if str(e) else type(e).__name__
    if "allow_pickle" in reason or "pickled" in reason:
      reason = "an array holds Python objects, not pixels"
    raise DatasetError(f"{path}: not a readable .npz file ({reason})") from None
  _check_same_shape(images, path)
  return images[split]


def _check_zip(path: str) -> None:
  """An .npz is a zip archive of .npy arrays: say what the file is instead."""
  if zipfile.is_zipfile(path):
    return
  with open(path, "rb") as f:
    head = f.read(8)
  what = ("a single .npy array (np.save), not an .npz archive" if head.startswith(b"\x93NUMPY")
          else "not an .npz (zip) archive" + (" (it is empty)" if not head else ""))
  raise DatasetError(f"{path}: {what}; save the splits with np.savez(path, train=..., "
                     "test=...)")


def _check_same_shape(images: dict[str, np.ndarray], where: str) -> None:
  shapes = {s: images[s].shape[1:] for s in _SPLITS}
  if shapes["train"] != shapes["test"]:
    raise DatasetError(f"{where}: train images are {shapes['train']} but test images "
                       f"{shapes['test']}; both splits need one image shape")


def _png_files(directory: str) -> list[str]:
  return sorted(f for f in os.listdir(directory) if f.lower().endswith(".png"))


def load_folder(name: str, split: str) -> np.ndarray:
  """`split` of `folder:PATH` (PATH/train/*.png, PATH/test/*.png, sorted by
  file name) as uint8 [N, H, W, C]; grey-and-alpha or RGBA PNGs lose alpha."""
  root = _path(name)
  if not os.path.isdir(root):
    raise DatasetNotFoundError(f"--dataset={name}: {root} is not a directory")
  missing = [s for s in _SPLITS if not os.path.isdir(os.path.join(root, s))]
  if missing:
    raise DatasetNotFoundError(f"--dataset={name}: no {' or '.join(missing)} subfolder in "
                               f"{root}; it needs train/ and test/ holding PNG files")
  first_shapes = {s: _first_shape(os.path.join(root, s)) for s in _SPLITS}
  if first_shapes["train"] != first_shapes["test"]:
    raise DatasetError(f"{root}: train images are {first_shapes['train']} but test images "
                       f"{first_shapes['test']}; both splits need one image shape")
  return _read_pngs(os.path.join(root, split), first_shapes[split])


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _decode(path: str) -> np.ndarray:
  try:
    with open(path, "rb") as f:
      raw = f.read()
  except OSError as e:
    raise DatasetError(f"{path}: cannot be read ({e.strerror})") from None
  if not raw.startswith(_PNG_SIGNATURE):
    raise DatasetError(f"{path}: not a PNG file (no PNG signature"
                       + ("; it is empty)" if not raw else ")"))
  # IHDR: width, height, then the bit depth (byte 24): decode_png would quietly
  # convert 16-bit pixels to 8 bits.
  if len(raw) >= 25 and raw[24] not in (1, 2, 4, 8):
    raise DatasetError(f"{path}: a {raw[24]}-bit PNG; expected 8-bit pixels (save it "
                       "with 8 bits per channel)")
  try:
    image = tf.io.decode_png(raw).numpy()
  except tf.errors.OpError as e:
    reason = re.sub(r"\{\{[^}]*\}\}\s*|\s*\[Op:\w+\].*", "", e.message).strip()
    raise DatasetError(f"{path}: a truncated or damaged PNG ({reason or 'does not decode'})"
                       ) from None
  if image.shape[-1] in (2, 4):  # grey + alpha, RGBA: drop alpha
    image = image[..., :-1]
  return image


def _first_shape(directory: str) -> tuple[int, ...]:
  files = _png_files(directory)
  if not files:
    raise DatasetError(f"{directory}: no .png files")
  return _decode(os.path.join(directory, files[0])).shape


def _read_pngs(directory: str, shape: tuple[int, ...]) -> np.ndarray:
  files = _png_files(directory)
  images = np.empty((len(files), *shape), np.uint8)
  for i, f in enumerate(files):
    image = _decode(os.path.join(directory, f))
    if image.shape != shape:
      raise DatasetError(f"{os.path.join(directory, f)}: shape {image.shape}, but "
                         f"{files[0]} is {shape}; every image needs one size")
    images[i] = image
  return images


def user_digest(name: str) -> str:
  """16 hex digits of the bytes a user dataset is read from (file names too)."""
  path = _path(name)
  digest = hashlib.sha256()
  if name.startswith("npz:"):
    if not os.path.isfile(path):
      raise DatasetNotFoundError(f"--dataset={name}: {path} is not a file")
    with open(path, "rb") as f:
      for block in iter(lambda: f.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()[:16]
  if not os.path.isdir(path):
    raise DatasetNotFoundError(f"--dataset={name}: {path} is not a directory")
  for split in _SPLITS:
    directory = os.path.join(path, split)
    for f in _png_files(directory) if os.path.isdir(directory) else ():
      digest.update(f"{split}/{f}".encode())
      with open(os.path.join(directory, f), "rb") as handle:
        digest.update(handle.read())
  return digest.hexdigest()[:16]


def npz_size(name: str) -> tuple[tuple[int, ...], int] | None:
  """(image shape, bytes of both splits) from the .npz's array headers, without
  reading the pixels; None if the file cannot tell (load_npz says why)."""
  path = _path(name)
  try:
    shapes = {}
    with zipfile.ZipFile(path) as archive:
      for split in _SPLITS:
        with archive.open(split + ".npy") as f:
          version = np.lib.format.read_magic(f)
          read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                         else np.lib.format.read_array_header_2_0)
          shape, _, dtype = read_header(f)
          shapes[split] = (shape, np.dtype(dtype).itemsize)
  except (OSError, KeyError, ValueError, zipfile.BadZipFile):
    return None
  image = tuple(shapes["train"][0][1:]) + ((1,) if len(shapes["train"][0]) == 3 else ())
  total = sum(int(np.prod(shape)) * size for shape, size in shapes.values())
  return image, total
