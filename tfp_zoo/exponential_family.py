"""Natural parameters of the observation distributions TFP builds.

An exponential family writes log p(x | η) = ηᵀT(x) − A(η) + log h(x). The
parameters are read off the TFP distribution object (its logits, loc/scale or
log-rate), so a model needs no extra code for ALWS's exponential-family form.
Factorised pixels (`tfd.Independent` of a supported scalar family) flatten
their event into the vector η.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

__all__ = ["NaturalForm", "natural_form", "family", "SUPPORTED"]

SUPPORTED = ("Bernoulli", "Normal", "Poisson")


class NaturalForm(NamedTuple):
  """log p(x) = natural_parameters · statistics(x) − log_normalizer + log h(x).

  Attributes:
    natural_parameters: η, [*batch, d] (the event flattened; d doubles for Normal).
    log_normalizer: A(η), [*batch].
    statistics: x [*batch, *event] ↦ T(x) [*batch, d].
  """
  natural_parameters: tf.Tensor
  log_normalizer: tf.Tensor
  statistics: Callable[[tf.Tensor], tf.Tensor]


def _flatten(t: tf.Tensor, ndims: int) -> tf.Tensor:
  shape = tf.shape(t)
  return tf.reshape(t, tf.concat([shape[:tf.rank(t) - ndims], [-1]], 0))


def family(dist: tfd.Distribution) -> str | None:
  """'Bernoulli', 'Normal' or 'Poisson' for a supported `dist` (under
  `tfd.Independent` or not), else None.

  Args:
    dist: a TFP distribution.

  Returns:
    The family's name (one of `SUPPORTED`), or None.
  """
  base = dist.distribution if isinstance(dist, tfd.Independent) else dist
  for name, cls in (("Bernoulli", tfd.Bernoulli), ("Normal", tfd.Normal),
                    ("Poisson", tfd.Poisson)):
    if isinstance(base, cls):
      return name
  return None


def natural_form(dist: tfd.Distribution) -> NaturalForm:
  """η, A(η) and T(·) of `dist`: a supported scalar family, or `tfd.Independent` of one.

  Args:
    dist: a `tfd.Bernoulli`, `tfd.Normal` or `tfd.Poisson`, or a
      `tfd.Independent` of one with a static `reinterpreted_batch_ndims`.

  Returns:
    `NaturalForm` with η [*batch, d], A(η) [*batch] and x ↦ T(x) [*batch, d]
    (d the event size; twice it for Normal: η = (μ/σ², −1/(2σ²))).

  Raises:
    ValueError: for other distributions (naming the supported ones).
  """
  ndims = 0
  base = dist
  if isinstance(base, tfd.Independent):
    ndims = tf.get_static_value(base.reinterpreted_batch_ndims)
    if ndims is None:
      raise ValueError("tfd.Independent needs a static reinterpreted_batch_ndims")
    ndims = int(ndims)
    base = base.distribution
  flatten = (lambda t: _flatten(t, ndims)) if ndims else (lambda t: t[..., None])
  if isinstance(base, tfd.Bernoulli):
    logits = base.logits_parameter()
    return NaturalForm(flatten(logits), tf.reduce_sum(flatten(tf.nn.softplus(logits)), -1),
                       lambda x: flatten(tf.cast(x, logits.dtype)))
  if isinstance(base, tfd.Normal):
    loc = tf.convert_to_tensor(base.loc)
    scale = tf.broadcast_to(base.scale, tf.shape(loc))
    precision = tf.math.reciprocal(tf.square(scale))
    eta = tf.concat([flatten(loc * precision), flatten(-0.5 * precision)], -1)
    log_normalizer = tf.reduce_sum(
        flatten(0.5 * tf.square(loc) * precision + tf.math.log(scale)), -1)
    return NaturalForm(eta, log_normalizer,
                       lambda x: tf.concat([flatten(x), flatten(tf.square(x))], -1))
  if isinstance(base, tfd.Poisson):
    log_rate = base.log_rate_parameter()
    return NaturalForm(flatten(log_rate), tf.reduce_sum(flatten(tf.exp(log_rate)), -1),
                       lambda x: flatten(tf.cast(x, log_rate.dtype)))
  raise ValueError(
      f"no natural parameters for {type(base).__name__}; the exponential-family form "
      f"supports {', '.join(SUPPORTED)} (optionally under tfd.Independent)")
