"""A log-likelihood estimate per example from K log-weights, with its ESS and
standard error: what importance sampling (`evaluation`) and AIS
(`annealed_importance`) both return.

The effective sample size ESS = (Σ w_k)² / Σ w_k² gives, by the delta method,
the standard error of log p̂(x): sqrt(1/ESS − 1/K).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import tensorflow as tf

from tfp_zoo.estimators import base as estimators_base

__all__ = ["LogLikelihood", "summarize_log_weights"]


class LogLikelihood(NamedTuple):
  """Per-example results of `log_likelihood`, each of shape [batch].

  Attributes:
    log_likelihood: the estimate log p̂(x) = log (1/K) Σ_k w_k, in nats (a
      lower bound on log p(x) in expectation).
    ess: the effective sample size (Σ w_k)² / Σ w_k², between 1 and K.
    stderr: the delta-method standard error of log p̂(x), sqrt(1/ESS − 1/K).
  """
  log_likelihood: tf.Tensor
  ess: tf.Tensor
  stderr: tf.Tensor


def summarize_log_weights(log_weights: tf.Tensor, num_samples: Any) -> LogLikelihood:
  """log p̂(x), ESS and standard error from log-weights [K', batch].

  `num_samples` is K, which may be a tensor; rows beyond it must be −inf
  (padding: weight zero, so they change neither the sums nor the ESS).

  Args:
    log_weights: log w_k [K', batch] with K' ≥ K, rows beyond K −inf.
    num_samples: K, the number of real weights (int or scalar tensor).

  Returns:
    `LogLikelihood(log_likelihood, ess, stderr)`, each of shape [batch].
  """
  k = tf.cast(num_samples, log_weights.dtype)
  estimate = tf.reduce_logsumexp(log_weights, axis=0) - tf.math.log(k)
  ess = estimators_base.effective_sample_size(log_weights)
  stderr = tf.sqrt(tf.maximum(1.0 / ess - 1.0 / k, 0.0))
  return LogLikelihood(estimate, ess, stderr)
