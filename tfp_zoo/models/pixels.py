"""Observation distributions p(x | decoder output) shared by the VAE models."""

from __future__ import annotations

import math
from typing import Sequence

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo import distributions
from tfp_zoo.models import base

tfd = tfp.distributions

__all__ = ["LIKELIHOODS", "DEFAULT_PIXEL_SCALE_INIT", "DISCRETIZED", "MIXTURE_COMPONENTS", "DiscretizedLogistic",
           "check_likelihood", "initial_raw_scale", "network_input", "observation",
           "params_per_pixel",
           "support", "bits_per_dim"]

LIKELIHOODS = ("bernoulli", "gaussian", "discretized_logistic", "discretized_logistic_mixture")
DISCRETIZED = ("discretized_logistic", "discretized_logistic_mixture")  # 8-bit pixels
MIXTURE_COMPONENTS = 5  # logistics per pixel of discretized_logistic_mixture
_LEVELS = 256
_HALF_RANGE = 127.5
_MIN_LEVEL_SCALE = 0.01  # in grey levels: keeps adjacent bins distinct in float32
# softplus(0.5413) = 1: Gaussian pixels start at unit scale.
_UNIT_RAW_SCALE = 0.5413
_MIN_PIXEL_SCALE = 1e-3
# The Gaussian pixel noise scale at initialisation. 0.1, not 1: on [0, 1]
# pixels a scale of 1 makes the first samples of the model nearly pure noise,
# which stalls ALWS (its sleep samples then say nothing about the posterior)
# and slows the ELBO too. Measured on continuous MNIST, 784-200-200-50 VAE,
# 150 s each (docs/results/alws.md): Fréchet distance 525 → 84 for ALWS and
# 119 → 42 for the ELBO, test log p(x) 1159 → 1233 nats for the ELBO.
DEFAULT_PIXEL_SCALE_INIT = 0.1
# The default before 2026-11-27: runs saved with it keep it (`LEGACY_MODEL_HPARAMS`),
# and non-Gaussian models saved with it still load.
_OLD_PIXEL_SCALE_INIT = 1.0


def check_likelihood(likelihood: str) -> None:
  if likelihood not in LIKELIHOODS:
    raise ValueError(f"likelihood={likelihood!r}: expected one of {LIKELIHOODS}")


def support(likelihood: str) -> str:
  """The `observation_support` of pixels with this likelihood: Bernoulli
  pixels (binary or grey levels) lie in [0, 1], Gaussian ones anywhere,
  discretised ones are the integers 0..255."""
  if likelihood in DISCRETIZED:
    return "eight_bit"
  return "unit_interval" if likelihood == "bernoulli" else "real"


def network_input(x: tf.Tensor, likelihood: str) -> tf.Tensor:
  """x as the encoder sees it: 8-bit levels rescaled to [0, 1] (a tanh network
  fed 0..255 saturates and gets no gradient); other pixels as they are."""
  x = tf.convert_to_tensor(x, tf.float32)
  return x / (_LEVELS - 1.0) if likelihood in DISCRETIZED else x


def params_per_pixel(likelihood: str) -> int:
  """Decoder outputs per pixel: 1 (Bernoulli logit, Gaussian mean), 2 (the
  discretised logistic's location and scale) or 3 per mixture component."""
  return {"discretized_logistic": 2,
          "discretized_logistic_mixture": 3 * MIXTURE_COMPONENTS}.get(likelihood, 1)


def bits_per_dim(log_likelihood: float, input_shape: Sequence[int]) -> float:
  """−log p(x) in bits per pixel channel (for discretised 8-bit likelihoods)."""
  size = 1
  for d in input_shape:
    size *= int(d)
  return -log_likelihood / (size * math.log(2.0))


class DiscretizedLogistic(tfd.QuantizedDistribution):
  """A logistic discretised to the integers 0..255 (Salimans et al. 2017,
  PixelCNN++): P(x) = F(x + ½) − F(x − ½), with the tails in the edge bins
  0 and 255. Built as `QuantizedDistribution(Logistic(μ − ½, s), 0, 255)`,
  whose log-probability is a difference of log-CDFs (stable in the tails),
  with the mean Σ_k k P(k) that TFP does not provide."""

  def _mean(self, **kwargs):
    levels = tf.reshape(tf.range(_LEVELS, dtype=self.dtype),
                        [_LEVELS] + [1] * self.batch_shape.rank)
    return tf.reduce_sum(levels * tf.exp(self.log_prob(levels)), axis=0)


def _discretized_logistic(raw_loc: tf.Tensor, raw_scale: tf.Tensor) -> DiscretizedLogistic:
  # Bounded location (−64 … 319 levels) and a scale ≥ 0.01 levels: the
  # standardised bin edges stay distinct in float32, so log P is finite.
  loc = _HALF_RANGE + 1.5 * _HALF_RANGE * tf.tanh(raw_loc)
  scale = _HALF_RANGE * tf.nn.softplus(raw_scale) + _MIN_LEVEL_SCALE
  return DiscretizedLogistic(tfd.Logistic(loc - 0.5, scale), low=0.0, high=_LEVELS - 1.0)


PIXEL_SCALES = ("learned", "shared", "fixed")


def check_pixel_scale(pixel_scale: str, pixel_scale_init: float, likelihood: str) -> None:
  """Refuses unknown modes, a non-positive scale, and a scale for non-Gaussian pixels."""
  if pixel_scale not in PIXEL_SCALES:
    raise ValueError(f"pixel_scale={pixel_scale!r}: expected one of {', '.join(PIXEL_SCALES)}")
  if (isinstance(pixel_scale_init, bool) or not isinstance(pixel_scale_init, (int, float))
      or not pixel_scale_init > _MIN_PIXEL_SCALE or not math.isfinite(pixel_scale_init)):
    raise ValueError(f"pixel_scale_init={pixel_scale_init!r}: expected a finite number "
                     f"above {_MIN_PIXEL_SCALE} (the scale's floor)")
  if likelihood != "gaussian" and (pixel_scale != "learned" or pixel_scale_init not in (
      DEFAULT_PIXEL_SCALE_INIT, _OLD_PIXEL_SCALE_INIT)):
    raise ValueError(f"pixel_scale and pixel_scale_init set the noise of "
                     f"likelihood='gaussian'; this model has likelihood={likelihood!r}")


def initial_raw_scale(data_size: int, pixel_scale: str = "learned",
                      pixel_scale_init: float = DEFAULT_PIXEL_SCALE_INIT
                      ) -> tf.Variable | tf.Tensor:
  """The scale of Gaussian pixels before softplus: one learned value per pixel
  ('learned'), one learned value for all ('shared'), or a constant ('fixed'),
  each starting at `pixel_scale_init`."""
  raw = (_UNIT_RAW_SCALE if pixel_scale_init == 1.0 else
         float(tfp.math.softplus_inverse(
             tf.constant(pixel_scale_init - _MIN_PIXEL_SCALE, tf.float32))))
  if pixel_scale == "fixed":
    return tf.constant([raw], tf.float32)
  size = data_size if pixel_scale == "learned" else 1
  return tf.Variable(tf.fill([size], raw), name="pixel_raw_scale")


def scale_variables(raw_scale: tf.Variable | tf.Tensor | None) -> tuple[tf.Variable, ...]:
  """The trainable part of a Gaussian pixel scale (none when fixed or absent)."""
  return (raw_scale,) if isinstance(raw_scale, tf.Variable) else ()


def observation(params: tf.Tensor, input_shape: Sequence[int], likelihood: str,
                raw_scale: tf.Variable | None = None) -> tfd.Distribution:
  """p(x | ·) named 'x': Bernoulli logits, Gaussian means with a per-pixel
  scale, or a discretised logistic (mixture) over 8-bit levels.

  Args:
    params: [..., prod(input_shape) · params_per_pixel(likelihood)] decoder
      outputs (per pixel: its parameters last).
    input_shape: the shape of one observation.
    likelihood: one of `LIKELIHOODS`.
    raw_scale: the per-pixel scale before softplus (Gaussian only).
  """
  shape = tf.concat([tf.shape(params)[:-1], input_shape], 0)
  if likelihood == "discretized_logistic":
    raw = tf.reshape(params, tf.concat([shape, [2]], 0))
    pixels = _discretized_logistic(raw[..., 0], raw[..., 1])
  elif likelihood == "discretized_logistic_mixture":
    raw = tf.reshape(params, tf.concat([shape, [3, MIXTURE_COMPONENTS]], 0))
    pixels = tfd.MixtureSameFamily(tfd.Categorical(logits=raw[..., 0, :]),
                                   _discretized_logistic(raw[..., 1, :], raw[..., 2, :]))
  elif likelihood == "bernoulli":
    pixels = distributions.Bernoulli(logits=tf.reshape(params, shape), dtype=tf.float32)
  else:
    scale = tf.nn.softplus(raw_scale) + _MIN_PIXEL_SCALE  # [pixels] or [1] (shared, fixed)
    scale = tf.reshape(tf.broadcast_to(scale, [math.prod(int(d) for d in input_shape)]), input_shape)
    pixels = tfd.Normal(tf.reshape(params, shape), scale)
  return tfd.Independent(pixels, reinterpreted_batch_ndims=len(input_shape),
                         name=base.OBSERVATION)
