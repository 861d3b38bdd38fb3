"""Distributions that TFP has, with hot paths rewritten where TFP is slow for us."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

__all__ = ["Bernoulli"]


class Bernoulli(tfd.Bernoulli):
  """`tfd.Bernoulli` with a cheaper `log_prob` for logits.

  log p(x) = x·ℓ − softplus(ℓ) for x ∈ {0, 1} (exact and stable for any logit ℓ).
  TFP computes −(x·softplus(−ℓ) + (1−x)·softplus(ℓ)) with two softplus, two
  multiply_no_nan and an explicit broadcast of x; in a 784-pixel VAE step that
  was about a third of the step's time on CPU. Here the observation broadcasts
  implicitly against the particles, and the gradient x − sigmoid(ℓ) is given
  directly (three elementwise ops instead of six and a Tile).
  """

  def _log_prob(self, event):
    if self._logits is None:
      return super()._log_prob(event)
    logits = tf.convert_to_tensor(self._logits)
    return _log_prob_from_logits(logits, tf.cast(event, logits.dtype))


def _sum_to_shape(value: tf.Tensor, shape: tf.Tensor) -> tf.Tensor:
  """Sums a broadcast result back to `shape` (the gradient of broadcasting)."""
  axes, _ = tf.raw_ops.BroadcastGradientArgs(s0=shape, s1=tf.shape(value))
  return tf.reshape(tf.reduce_sum(value, axes), shape)


@tf.custom_gradient
def _log_prob_from_logits(logits: tf.Tensor, event: tf.Tensor) -> tf.Tensor:
  """x·ℓ − softplus(ℓ), broadcasting x against ℓ."""
  def gradient(upstream):
    d_logits = _sum_to_shape(upstream * (event - tf.sigmoid(logits)), tf.shape(logits))
    d_event = _sum_to_shape(upstream * logits, tf.shape(event))
    return d_logits, d_event
  return event * logits - tf.nn.softplus(logits), gradient
