"""Pictures of a model: tiled sample grids, decoder means over a 2-D latent
grid, and the true posterior p(z | x) beside the guide q(z | x) on a grid.

The arrays need only numpy and TensorFlow (they feed TensorBoard image
summaries); `write_pictures` (behind `launchers/sample.py`) renders them to PNG
with matplotlib.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo.models import base

__all__ = ["tile", "has_planar_latent", "latent_grid", "posterior_on_grid", "write_pictures"]


def tile(images: np.ndarray, columns: int | None = None) -> np.ndarray:
  """Tiles [N, H, W] or [N, H, W, 1] images into one [rows·H, columns·W] array.

  Missing cells of the last row are left black.
  """
  images = np.asarray(images, np.float32)
  if images.ndim == 4 and images.shape[-1] == 1:
    images = images[..., 0]
  if images.ndim != 3 or len(images) == 0:
    raise ValueError(f"images: need [N, H, W] or [N, H, W, 1] with N >= 1, got shape "
                     f"{images.shape}")
  n, height, width = images.shape
  columns = columns or int(np.ceil(np.sqrt(n)))
  rows = int(np.ceil(n / columns))
  canvas = np.zeros([rows * columns, height, width], np.float32)
  canvas[:n] = images
  return canvas.reshape(rows, columns, height, width).transpose(0, 2, 1, 3).reshape(
      rows * height, columns * width)


def has_planar_latent(model: base.LatentVariableModel) -> bool:
  """True if the model has one latent, real-valued in R² (not on a manifold)."""
  joint = model.joint()
  names = model.latent_names
  if len(names) != 1:
    return False
  part = getattr(joint.event_shape, names[0])
  dtype = getattr(joint.dtype, names[0])
  if not dtype.is_floating or part.as_list() != [2]:
    return False
  prior = getattr(joint.sample_distributions(seed=tf.constant([0, 0]))[0], names[0])
  try:
    event_space = prior.experimental_default_event_space_bijector()
  except (TypeError, NotImplementedError):
    # SphericalUniform's bijector fails under numpy 2 (TFP 0.25 passes newshape=).
    return False
  return isinstance(event_space, tfp.bijectors.Identity)  # R², not e.g. the circle


def latent_grid(extent: float, num_points: int) -> np.ndarray:
  """A [num_points², 2] grid over [−extent, extent]², row-major from the top
  left (z2 decreasing down the rows, z1 increasing along them)."""
  values = np.linspace(-extent, extent, num_points, dtype=np.float32)
  z1, z2 = np.meshgrid(values, values[::-1])
  return np.stack([z1.ravel(), z2.ravel()], -1)


def posterior_on_grid(model: base.LatentVariableModel, x: tf.Tensor, *, extent: float = 3.,
                      num_points: int = 60) -> tuple[np.ndarray, np.ndarray | None]:
  """The true posterior and the guide on a grid, each normalised over the grid.

  The true posterior is p(z | x) ∝ p(z, x), evaluated on the grid points (so it
  needs no sampling); the guide is q(z | x) on the same points.

  Args:
    model: a model with one planar latent (`has_planar_latent`).
    x: observations [B, *input_shape].

  Returns:
    (true, guide), each [B, num_points, num_points] with rows as in
    `latent_grid`; `guide` is None for models without one.
  """
  if not has_planar_latent(model):
    raise ValueError(f"{type(model).__name__} has no single latent in R²; the posterior "
                     "grid needs one (e.g. vae with latent_sizes=2)")
  name = model.latent_names[0]
  grid = tf.constant(latent_grid(extent, num_points))  # [G, 2]
  x = tf.convert_to_tensor(x, tf.float32)
  batch = x.shape[0]
  z = tf.broadcast_to(grid[:, None, :], [grid.shape[0], batch, 2])  # [G, B, 2]
  log_joint = model.joint().log_prob(**{name: z, base.OBSERVATION: x})  # [G, B]

  def normalise(log_values):
    log_values = log_values - tf.reduce_logsumexp(log_values, 0, keepdims=True)
    return tf.transpose(tf.reshape(tf.exp(log_values), [num_points, num_points, batch]),
                        [2, 0, 1]).numpy()
  guide = None
  if model.has_guide:
    guide = normalise(model.guide(x).log_prob(**{name: z}))
  return normalise(log_joint), guide


def _pyplot():
  try:
    import matplotlib  # pylint: disable=g-import-not-at-top
  except ImportError:
    from tfp_zoo import training  # pylint: disable=g-import-not-at-top
    raise training.ConfigError("drawing PNGs needs matplotlib: pip install -e "
                               "'.[plots]'") from None
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def _save(fig: Any, path: str) -> str:
  tmp = path + ".tmp.png"  # a PNG appears whole or not at all
  fig.savefig(tmp, dpi=100, bbox_inches="tight")
  os.replace(tmp, path)
  _pyplot().close(fig)
  return path


def write_pictures(output: str, *, workdir: str | None = None, saved_model: str | None = None,
                   num_samples: int = 64, seed: int = 0, grid_points: int = 15,
                   extent: float = 3.0, posterior_examples: int = 4) -> list[str]:
  """Draws a trained model (from a workdir or an exported SavedModel) to PNGs.

  Writes `output`: samples x ~ p(x) beside their decoder means E[x | z]. For a
  model with one latent in R², also `<stem>_latent_grid.png` (decoder means
  over a grid_points² grid on [−extent, extent]²) and, from a workdir,
  `<stem>_posterior.png` (the true posterior p(z | x) ∝ p(z, x) on a grid beside
  the guide q(z | x), for the first `posterior_examples` test digits).

  Returns:
    The paths written.

  Raises:
    ConfigError: not exactly one source, a missing source, or a model whose
      observations are not images.
  """
  from tfp_zoo import datasets, export, training  # pylint: disable=g-import-not-at-top
  if (workdir is None) == (saved_model is None):
    raise training.ConfigError("give exactly one of --workdir and --saved_model")
  seed_tensor = tf.constant([seed, 0], tf.int32)
  model = config = None
  if workdir is not None:
    if not os.path.isdir(workdir):
      raise training.ConfigError(f"--workdir={workdir} is not a directory")
    model, config, _ = training.restore_model(workdir)
    samples = export.sample_with_means(model, num_samples, seed_tensor)
    planar = has_planar_latent(model)
    name = model.latent_names[0]

    def decode(z):
      return export.decode(model, {name: tf.constant(z)}, seed_tensor)["x_mean"]
  else:
    if not os.path.isfile(os.path.join(saved_model, "saved_model.pb")):
      raise training.ConfigError(f"--saved_model={saved_model} is not a SavedModel "
                                 "directory (no saved_model.pb)")
    loaded = tf.saved_model.load(saved_model)
    samples = loaded.sample(tf.constant(num_samples), seed_tensor)
    planar = bool(loaded.planar_latent)
    name = loaded.latent_names.numpy()[0].decode()

    def decode(z):
      return loaded.decode(**{name: tf.constant(z), "seed": seed_tensor})["x_mean"]
  x, x_mean = samples["x"].numpy(), samples["x_mean"].numpy()
  if x.ndim != 4:
    raise training.ConfigError(f"the model's observations have shape {x.shape[1:]}, not "
                               "images [height, width, channels]; nothing to draw")

  plt = _pyplot()
  os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  written = []
  fig, axes = plt.subplots(1, 2, figsize=(10, 5.3))
  for ax, images, title in ((axes[0], x, "samples x ~ p(x)"),
                            (axes[1], x_mean, "decoder means E[x | z]")):
    ax.imshow(np.clip(tile(images), 0, 1), cmap="gray", vmin=0, vmax=1)
    ax.set_title(title)
    ax.axis("off")
  written.append(_save(fig, output))
  if not planar:
    return written

  stem = os.path.splitext(output)[0]
  box = [-extent, extent, -extent, extent]
  means = np.asarray(decode(latent_grid(extent, grid_points)))
  fig, ax = plt.subplots(figsize=(7, 7))
  ax.imshow(np.clip(tile(means, grid_points), 0, 1), cmap="gray", extent=box)
  ax.set_xlabel("z1")
  ax.set_ylabel("z2")
  ax.set_title("decoder means over the latent grid")
  written.append(_save(fig, stem + "_latent_grid.png"))
  if model is None or not posterior_examples:
    return written

  images = datasets.eval_images(
      datasets.load_images(config.dataset, "test", data_dir=config.data_dir)
      [:posterior_examples], binarization=config.binarization, seed=0)
  true, guide = posterior_on_grid(model, images, extent=extent, num_points=60)
  fig, axes = plt.subplots(len(images), 2, figsize=(6, 3 * len(images)), squeeze=False)
  # Contours at fixed fractions of each density's peak, so both read alike.
  fractions = np.array([0.05, 0.3, 0.6, 0.9])
  for i in range(len(images)):
    axes[i, 0].imshow(images[i, ..., 0], cmap="gray", vmin=0, vmax=1)
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
