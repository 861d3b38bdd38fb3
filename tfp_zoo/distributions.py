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
  implicitly against the particles, and the gradient is x − sigmoid(ℓ).
  """

  def _log_prob(self, event):
    if self._logits is None:
      return super()._log_prob(event)
    logits = tf.convert_to_tensor(self._logits)
    event = tf.cast(event, logits.dtype)
    return event * logits - tf.nn.softplus(logits)
