"""Samples of a model with their decoder means: used by export, pictures and summaries."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfp_zoo.estimators.base import as_named
from tfp_zoo.models import base

__all__ = ["sample_with_means", "decode"]


def _observation_mean(dist: Any) -> tf.Tensor:
  try:
    return tf.cast(dist.mean(), tf.float32)
  except NotImplementedError:
    return tf.cast(dist.sample(seed=[0, 0]), tf.float32)  # no closed-form mean


def sample_with_means(model: base.LatentVariableModel, num_samples: int | tf.Tensor,
                      seed: tf.Tensor) -> dict[str, tf.Tensor]:
  """`model.joint().sample(num_samples, seed)` as a dict, with 'x' as float32
  and 'x_mean' = E[x | z] of the same draws."""
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
  """'x_mean' = E[x | z] and one draw 'x' given every latent of the joint."""
  joint = model.joint()
  value = [latents[n] for n in as_named(joint.dtype) if n != base.OBSERVATION] + [None]
  dists, values = joint.sample_distributions(value=value, seed=seed)
  return {"x_mean": _observation_mean(as_named(dists)[base.OBSERVATION]),
          base.OBSERVATION: tf.cast(as_named(values)[base.OBSERVATION], tf.float32)}
