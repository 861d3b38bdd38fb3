"""Observation distributions p(x | decoder output) shared by the VAE models."""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo import distributions
from tfp_zoo.models import base

tfd = tfp.distributions

__all__ = ["LIKELIHOODS", "check_likelihood", "initial_raw_scale", "observation",
           "support"]

LIKELIHOODS = ("bernoulli", "gaussian")
# softplus(0.5413) = 1: Gaussian pixels start at unit scale.
_UNIT_RAW_SCALE = 0.5413
_MIN_PIXEL_SCALE = 1e-3


def check_likelihood(likelihood: str) -> None:
  if likelihood not in LIKELIHOODS:
    raise ValueError(f"likelihood={likelihood!r}: expected one of {LIKELIHOODS}")


def support(likelihood: str) -> str:
  """The `observation_support` of pixels with this likelihood: Bernoulli
  pixels (binary or grey levels) lie in [0, 1], Gaussian ones anywhere."""
  return "unit_interval" if likelihood == "bernoulli" else "real"


def initial_raw_scale(data_size: int) -> tf.Variable:
  """The learned per-pixel scale of Gaussian pixels, before softplus."""
  return tf.Variable(tf.fill([data_size], _UNIT_RAW_SCALE), name="pixel_raw_scale")


def observation(params: tf.Tensor, input_shape: Sequence[int], likelihood: str,
                raw_scale: tf.Variable | None = None) -> tfd.Distribution:
  """p(x | ·) named 'x': Bernoulli logits, or Gaussian means with a per-pixel scale.

  Args:
    params: [..., prod(input_shape)] decoder outputs.
    input_shape: the shape of one observation.
    likelihood: 'bernoulli' or 'gaussian'.
    raw_scale: the per-pixel scale before softplus (Gaussian only).
  """
  shape = tf.concat([tf.shape(params)[:-1], input_shape], 0)
  if likelihood == "bernoulli":
    pixels = distributions.Bernoulli(logits=tf.reshape(params, shape), dtype=tf.float32)
  else:
    scale = tf.reshape(tf.nn.softplus(raw_scale) + _MIN_PIXEL_SCALE, input_shape)
    pixels = tfd.Normal(tf.reshape(params, shape), scale)
  return tfd.Independent(pixels, reinterpreted_batch_ndims=len(input_shape),
                         name=base.OBSERVATION)
