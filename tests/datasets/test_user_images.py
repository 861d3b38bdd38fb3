"""A user's own images (npz:PATH, folder:PATH): read back exactly, digested,
and every bad file named in one line."""

import dataclasses
import os

import numpy as np
import tensorflow as tf

from tfp_zoo import datasets, training
from tfp_zoo.errors import DatasetError, DatasetNotFoundError

RNG = np.random.default_rng(0)
TRAIN = RNG.integers(0, 256, size=(12, 5, 6, 3), dtype=np.uint8)
TEST = RNG.integers(0, 256, size=(4, 5, 6, 3), dtype=np.uint8)


def _write_folder(root, train=TRAIN, test=TEST):
  for split, images in (("train", train), ("test", test)):
    os.makedirs(os.path.join(root, split), exist_ok=True)
    for i, image in enumerate(images):
      with open(os.path.join(root, split, f"{i:03d}.png"), "wb") as f:
        f.write(tf.io.encode_png(image).numpy())
  return root


class NpzTest(tf.test.TestCase):

  def test_reads_both_splits_exactly(self):
    path = os.path.join(self.get_temp_dir(), "images.npz")
    np.savez(path, train=TRAIN, test=TEST)
    self.assertAllEqual(datasets.load_images(f"npz:{path}", "train"), TRAIN)
    self.assertAllEqual(datasets.load_images(f"npz:{path}", "test"), TEST)
    grey = os.path.join(self.get_temp_dir(), "grey.npz")
    np.savez(grey, train=TRAIN[..., 0], test=TEST[..., 0])  # [N, H, W]: one channel
    self.assertEqual(datasets.load_images(f"npz:{grey}", "test").shape, (4, 5, 6, 1))

  def test_digest_follows_the_bytes(self):
    path = os.path.join(self.get_temp_dir(), "images.npz")
    np.savez(path, train=TRAIN, test=TEST)
    before = datasets.data_digest(f"npz:{path}")
    self.assertEqual(datasets.data_digest(f"npz:{path}"), before)
    changed = TEST.copy()
    changed[0, 0, 0, 0] ^= 1
    np.savez(path, train=TRAIN, test=changed)
    self.assertNotEqual(datasets.data_digest(f"npz:{path}"), before)

  def test_bad_files_are_named(self):
    d = self.get_temp_dir()
    cases = {
        "floats.npz": (dict(train=TRAIN / 255.0, test=TEST), DatasetError,
                       "array 'train': pixels are float64; expected uint8"),
        "one_split.npz": (dict(train=TRAIN), DatasetError,
                          "holds arrays train but not test; save with np.savez"),
        "shapes.npz": (dict(train=TRAIN, test=TEST[:, :4]), DatasetError,
                       "train images are \\(5, 6, 3\\) but test images \\(4, 6, 3\\)"),
        "empty.npz": (dict(train=TRAIN[:0], test=TEST), DatasetError, "'train': no images"),
        "channels.npz": (dict(train=np.zeros([2, 4, 4, 2], np.uint8),
                              test=np.zeros([2, 4, 4, 2], np.uint8)),
                         DatasetError, "expected \\[N, H, W, C\\] with C in \\(1, 3\\)"),
    }
    for name, (arrays, error, pattern) in cases.items():
      path = os.path.join(d, name)
      np.savez(path, **arrays)
      with self.assertRaisesRegex(error, pattern, msg=name):
        datasets.load_images(f"npz:{path}", "test")
    with open(os.path.join(d, "damaged.npz"), "wb") as f:
      f.write(b"PK\x03\x04 not really a zip")
    with self.assertRaisesRegex(DatasetError, "damaged.npz: not an .npz \\(zip\\) archive"):
      datasets.load_images(f"npz:{d}/damaged.npz", "train")
    with self.assertRaisesRegex(DatasetNotFoundError, "--dataset=npz:/nowhere.npz: "
                                "/nowhere.npz is not a file"):
      datasets.load_images("npz:/nowhere.npz", "train")
    with self.assertRaisesRegex(DatasetNotFoundError, "give a path after 'npz:'"):
      datasets.load_images("npz:", "train")


class FolderTest(tf.test.TestCase):

  def test_reads_pngs_in_file_name_order(self):
    root = _write_folder(self.create_tempdir().full_path)
    self.assertAllEqual(datasets.load_images(f"folder:{root}", "train"), TRAIN)
    self.assertAllEqual(datasets.load_images(f"folder:{root}", "test"), TEST)
    self.assertLen(datasets.data_digest(f"folder:{root}"), 16)

  def test_bad_folders_are_named(self):
    root = self.create_tempdir().full_path
    os.makedirs(os.path.join(root, "train"))
    with self.assertRaisesRegex(DatasetNotFoundError, "no test subfolder in"):
      datasets.load_images(f"folder:{root}", "train")
    os.makedirs(os.path.join(root, "test"))
    with self.assertRaisesRegex(DatasetError, "train: no .png files"):
      datasets.load_images(f"folder:{root}", "train")
    _write_folder(root)
    with open(os.path.join(root, "train", "005.png"), "wb") as f:
      f.write(tf.io.encode_png(TRAIN[0, :4]).numpy())
    with self.assertRaisesRegex(DatasetError, "005.png: shape \\(4, 6, 3\\), but 000.png is "
                                "\\(5, 6, 3\\)"):
      datasets.load_images(f"folder:{root}", "train")
    with open(os.path.join(root, "train", "005.png"), "wb") as f:
      f.write(b"\x89PNG broken")
    with self.assertRaisesRegex(DatasetError, "005.png: not a PNG file \\(no PNG signature\\)"):
      datasets.load_images(f"folder:{root}", "train")


class TrainOnUserImagesTest(tf.test.TestCase):

  def test_a_colour_npz_trains_with_8_bit_levels_and_resumes(self):
    path = os.path.join(self.get_temp_dir(), "images.npz")
    np.savez(path, train=TRAIN, test=TEST)
    workdir = os.path.join(self.create_tempdir().full_path, "run")
    config = training.TrainConfig(
        workdir=workdir, dataset=f"npz:{path}", binarization="none", batch_size=4,
        model_hparams={"likelihood": "discretized_logistic", "conv_channels": (4,),
                       "latent_sizes": (2,)},
        train_steps=3, checkpoint_every=3, log_every=3, eval_num_samples=3)
    result = training.train(config)
    self.assertEqual(result["step"], 3)
    self.assertTrue(np.isfinite(result["test"]["mean"]))
    # 8-bit levels: the result carries bits per dimension, −log p(x) / (H·W·C · ln 2).
    self.assertAllClose(result["test"]["bits_per_dim"],
                        -result["test"]["mean"] / (5 * 6 * 3 * np.log(2.0)))
    model, _, _ = training.restore_model(workdir)
    self.assertEqual(model.architecture, "conv")  # colour images: the conv net
    self.assertEqual(model.input_shape, (5, 6, 3))
    # Other bytes under the same path: the resume check refuses them.
    np.savez(path, train=TRAIN[::-1], test=TEST)
    with self.assertRaisesRegex(training.ConfigError, "its content changed since the run began"):
      training.train(dataclasses.replace(config, train_steps=4))


if __name__ == "__main__":
  tf.test.main()
