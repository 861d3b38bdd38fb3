"""A TFDS builder for the four standard idx `.gz` files in a local directory.

Reads MNIST or Fashion-MNIST (same file names and format) from a manual
directory, so full datasets are prepared and loaded offline:

    builder = IdxImages(config="mnist", data_dir=tfds_dir)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=idx_dir))
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow_datasets as tfds

from tfp_zoo.datasets import idx

__all__ = ["IdxImages"]


class IdxImages(tfds.core.GeneratorBasedBuilder):
  """28x28 grey-scale images with labels, from local idx files."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [
      tfds.core.BuilderConfig(name="mnist", description="MNIST digits"),
      tfds.core.BuilderConfig(name="fashion_mnist", description="Fashion-MNIST"),
  ]
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Put the four idx files " + ", ".join(f for pair in idx.IDX_FILES.values()
                                            for f in pair)
      + " in a directory and pass it as the manual_dir (launchers: --data_dir).")

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            # Raw uint8 tensors: no PNG encoding, so preparing is fast.
            "image": tfds.features.Tensor(shape=(28, 28, 1), dtype=np.uint8),
            "label": tfds.features.ClassLabel(num_classes=10),
        }),
        supervised_keys=("image", "label"),
    )

  def _split_generators(self, dl_manager):
    return {split: self._generate_examples(os.fspath(dl_manager.manual_dir), split)
            for split in idx.IDX_FILES}

  def _generate_examples(self, directory: str, split: str):
    # Raises DatasetError (naming the file) for damaged or inconsistent files;
    # `tfp_zoo.datasets.load_images` checks them before preparing, so this only
    # matters when the builder is used on its own.
    images, labels = idx.read_split(directory, split)
    for i, (image, label) in enumerate(zip(images, labels)):
      yield i, {"image": image[..., None], "label": int(label)}
