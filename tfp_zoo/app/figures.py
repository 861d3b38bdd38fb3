"""PNG figures of a trained model, from a workdir or an exported SavedModel
(behind `launchers/sample.py`): the arrays come from `tfp_zoo.evaluation.samples`."""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np
import tensorflow as tf

from tfp_zoo import datasets
from tfp_zoo.evaluation import samples as samples_lib
from tfp_zoo.errors import ConfigError
from tfp_zoo.evaluation.samples import (for_display, has_planar_latent, latent_grid, pixel_max,
                              posterior_on_grid)
from tfp_zoo.training import readers as readers_lib
from tfp_zoo.training.launcher_configs import SampleConfig

__all__ = ["write_pictures"]


def _pyplot():
  try:
    import matplotlib  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ConfigError("drawing PNGs needs matplotlib: pip install matplotlib") from None
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def _save(fig: Any, path: str) -> str:
  tmp = path + ".tmp.png"  # a PNG appears whole or not at all
  fig.savefig(tmp, dpi=100, bbox_inches="tight")
  os.replace(tmp, path)
  _pyplot().close(fig)
  return path


_SAMPLE = SampleConfig  # the one default of each option


def write_pictures(output: str, *, workdir: str | None = None, saved_model: str | None = None,
                   num_samples: int = _SAMPLE.num_samples, seed: int = _SAMPLE.seed,
                   grid_points: int = _SAMPLE.grid_points, extent: float = _SAMPLE.extent,
                   posterior_examples: int = _SAMPLE.posterior_examples) -> list[str]:
  """Draws a trained model (from a workdir or an exported SavedModel) to PNGs.

  Writes `output`: samples x ~ p(x) beside their decoder means E[x | z]. For a
  model with one latent in R², also `<stem>_latent_grid.png` (decoder means
  over a grid_points² grid on [−extent, extent]²) and, from a workdir,
  `<stem>_posterior.png` (the true posterior p(z | x) ∝ p(z, x) on a grid beside
  the guide q(z | x), for the first `posterior_examples` test digits).

  Args:
    output: the PNG file to write.
    workdir: a training workdir (its latest checkpoint); give it or
      `saved_model`.
    saved_model: a SavedModel written by `export_model`.
    num_samples: samples in the grid, 1 to 10000 (default 64).
    seed: integer seed of the samples (default 0).
    grid_points: latent grid points per axis, 2 to 100 (default 15).
    extent: the latent grid spans [−extent, extent]² (default 3.0).
    posterior_examples: test digits in the posterior figure, 0 to 20
      (default 4).

  Returns:
    The paths written.

  Raises:
    ConfigError: not exactly one source, a missing source, or a model whose
      observations are not images.
  """
  SampleConfig(output=output, workdir=workdir, saved_model=saved_model,
               num_samples=num_samples, seed=seed, grid_points=grid_points, extent=extent,
               posterior_examples=posterior_examples).validate()
  seed_tensor = tf.constant([seed, 0], tf.int32)
  model = config = None
  if workdir is not None:
    model, config, _ = readers_lib.restore_model(workdir)
    samples = samples_lib.sample_with_means(model, num_samples, seed_tensor)
    planar = has_planar_latent(model)
    maximum = pixel_max(model)
    name = model.latent_names[0]

    def decode(z):
      return samples_lib.decode(model, {name: tf.constant(z)}, seed_tensor)["x_mean"]
  else:
    if not os.path.isfile(os.path.join(saved_model, "saved_model.pb")):
      raise ConfigError(f"--saved_model={saved_model} is not a SavedModel "
                                 "directory (no saved_model.pb)")
    loaded = tf.saved_model.load(saved_model)
    samples = loaded.sample(tf.constant(num_samples), seed_tensor)
    planar = bool(loaded.planar_latent)
    # Exports from before pixel_max existed hold [0, 1] pixels.
    maximum = float(loaded.pixel_max) if hasattr(loaded, "pixel_max") else 1.0
    name = loaded.latent_names.numpy()[0].decode()

    def decode(z):
      return loaded.decode(**{name: tf.constant(z), "seed": seed_tensor})["x_mean"]
  x, x_mean = samples["x"].numpy(), samples["x_mean"].numpy()
  if x.ndim != 4:
    raise ConfigError(f"the model's observations have shape {x.shape[1:]}, not "
                               "images [height, width, channels]; nothing to draw")

  plt = _pyplot()
  os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  written = []
  fig, axes = plt.subplots(1, 2, figsize=(10, 5.3))
  for ax, images, title in ((axes[0], x, "samples x ~ p(x)"),
                            (axes[1], x_mean, "decoder means E[x | z]")):
    ax.imshow(for_display(images, maximum), cmap="gray", vmin=0, vmax=1)
    ax.set_title(title)
    ax.axis("off")
  written.append(_save(fig, output))
  if not planar:
    return written

  stem = os.path.splitext(output)[0]
  box = [-extent, extent, -extent, extent]
  means = np.asarray(decode(latent_grid(extent, grid_points)))
  fig, ax = plt.subplots(figsize=(7, 7))
  ax.imshow(for_display(means, maximum), cmap="gray", extent=box)
  ax.set_xlabel("z1")
  ax.set_ylabel("z2")
  ax.set_title("decoder means over the latent grid")
  written.append(_save(fig, stem + "_latent_grid.png"))
  if model is None or not posterior_examples:
    return written

  try:  # the one picture that needs the data: without them, the others still come
    test = datasets.load_images(config.dataset, "test", data_dir=config.data_dir)
  except (datasets.DatasetError, datasets.DatasetNotFoundError) as e:
    print(f"posterior picture skipped: it shows test examples, and {e}", file=sys.stderr,
          flush=True)
    return written
  images = datasets.eval_images(test[:posterior_examples], binarization=config.binarization,
                                seed=0, eight_bit=config.eight_bit)
  true, guide = posterior_on_grid(model, images, extent=extent, num_points=60)
  fig, axes = plt.subplots(len(images), 2, figsize=(6, 3 * len(images)), squeeze=False)
  # Contours at fixed fractions of each density's peak, so both read alike.
  fractions = np.array([0.05, 0.3, 0.6, 0.9])
  for i in range(len(images)):
    axes[i, 0].imshow(for_display(images[i:i + 1], maximum), cmap="gray", vmin=0, vmax=1)
    axes[i, 0].axis("off")
    axes[i, 1].contour(true[i], extent=box, origin="upper", colors="black",
                       levels=fractions * true[i].max())
    if guide is not None:
      axes[i, 1].contour(guide[i], extent=box, origin="upper", colors="tab:red",
                         levels=fractions * guide[i].max(), linestyles="dashed")
    axes[i, 1].set_aspect("equal")
  axes[0, 1].set_title("p(z | x) black, q(z | x) red dashed")
  written.append(_save(fig, stem + "_posterior.png"))
  return written
