"""Samples of a model as arrays: draws with their decoder means, tiled sample
grids, decoder means over a 2-D latent grid, and the true posterior
p(z | x) beside the guide q(z | x) on a grid.

The arrays need only numpy and TensorFlow: they feed TensorBoard image
summaries and the SavedModel's `sample`/`decode`; `tfp_zoo.app.figures`
(behind `launchers/sample.py`) renders them to PNG with matplotlib.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo.estimators.base import as_named
from tfp_zoo.models import base

__all__ = ["tile", "has_planar_latent", "latent_grid", "posterior_on_grid", "pixel_max",
           "for_display", "sample_with_means", "decode"]


def tile(images: np.ndarray, columns: int | None = None) -> np.ndarray:
  """Tiles [N, H, W], [N, H, W, 1] or colour [N, H, W, 3] images into one
  [rows·H, columns·W] (or [rows·H, columns·W, 3]) array.

  Missing cells of the last row are left black.
  """
  images = np.asarray(images, np.float32)
  if images.ndim == 4 and images.shape[-1] == 1:
    images = images[..., 0]
  if images.ndim not in (3, 4) or len(images) == 0 or (
      images.ndim == 4 and images.shape[-1] != 3):
    raise ValueError(f"images: need [N, H, W], [N, H, W, 1] or [N, H, W, 3] with N >= 1, "
                     f"got shape {images.shape}")
  n, height, width = images.shape[:3]
  channels = images.shape[3:]
  columns = columns or int(np.ceil(np.sqrt(n)))
  rows = int(np.ceil(n / columns))
  canvas = np.zeros([rows * columns, height, width, *channels], np.float32)
  canvas[:n] = images
  order = (0, 2, 1, 3, 4) if channels else (0, 2, 1, 3)
  return canvas.reshape(rows, columns, height, width, *channels).transpose(order).reshape(
      rows * height, columns * width, *channels)


def pixel_max(model: base.LatentVariableModel) -> float:
  """255 for a model of 8-bit levels (discretised likelihoods), else 1."""
  return 255.0 if model.observation_support == "eight_bit" else 1.0


def for_display(images: np.ndarray, maximum: float = 1.0) -> np.ndarray:
  """Tiled images scaled to [0, 1] (8-bit levels divided by 255), NaN-free."""
  return np.nan_to_num(np.clip(tile(images) / maximum, 0.0, 1.0))


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
  if isinstance(prior, tfp.distributions.MixtureSameFamily):  # TFP gives it no bijector
    prior = prior.components_distribution
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


def _observation_mean(dist: Any) -> tf.Tensor:
  try:
    return tf.cast(dist.mean(), tf.float32)
  except NotImplementedError:
    return tf.cast(dist.sample(seed=[0, 0]), tf.float32)  # no closed-form mean


def sample_with_means(model: base.LatentVariableModel, num_samples: int | tf.Tensor,
                      seed: tf.Tensor) -> dict[str, tf.Tensor]:
  """`model.joint().sample(num_samples, seed)` as a dict, with 'x' as float32
  and 'x_mean' = E[x | z] of the same draws.

  Args:
    model: a `LatentVariableModel`.
    num_samples: N, draws from the joint (int or scalar tensor).
    seed: stateless seed, int32[2].

  Returns:
    A dict with each latent's draws [N, ...event], 'x' (float32 [N,
    *input_shape]) and 'x_mean' (float32, the shape of 'x'; a draw where the
    observation has no closed-form mean).
  """
  joint = model.joint()
  values = joint.sample(num_samples, seed=seed)
  # The same draws, with their distributions: x's distribution gives its mean.
  dists, _ = joint.sample_distributions(value=values, seed=seed)
  out = as_named(values)
  out[base.OBSERVATION] = tf.cast(out[base.OBSERVATION], tf.float32)
  out["x_mean"] = _observation_mean(as_named(dists)[base.OBSERVATION])
  return out


def decode(model: base.LatentVariableModel, latents: dict[str, tf.Tensor],
           seed: tf.Tensor) -> dict[str, tf.Tensor]:
  """'x_mean' = E[x | z] and one draw 'x' given every latent of the joint.

  Args:
    model: a `LatentVariableModel`.
    latents: a value for every latent of the joint, by name, each
      [N, ...event].
    seed: stateless seed, int32[2], of the draw of x.

  Returns:
    A dict with 'x_mean' and 'x', float32 [N, *input_shape].
  """
  joint = model.joint()
  value = [latents[n] for n in as_named(joint.dtype) if n != base.OBSERVATION] + [None]
  dists, values = joint.sample_distributions(value=value, seed=seed)
  return {"x_mean": _observation_mean(as_named(dists)[base.OBSERVATION]),
          base.OBSERVATION: tf.cast(as_named(values)[base.OBSERVATION], tf.float32)}
