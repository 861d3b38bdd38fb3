"""Importance-sampled evaluation of log p(x), computed in chunks.

    log p̂(x) = log (1/K) Σ_k p_θ(x, z_k) / r(z_k | x),   z_k ~ r(· | x),

with the guide q_φ(z | x) as the proposal r, or the prior p_θ(z) when the model
has no guide or `proposal='prior'` is asked for (then the weights are
p_θ(x | z_k): unbiased too, but with a far smaller ESS on a trained model). The
K particles are drawn in chunks so that memory grows with `chunk_size`, not
with K. The effective sample size ESS = (Σ w_k)² / Σ w_k² gives, by the delta
method, the standard error of log p̂(x): sqrt(1/ESS − 1/K)
(`log_likelihood_summary`). `ais_log_likelihood` is the AIS estimate, with
the same result type.
"""

from __future__ import annotations

import math
import weakref
from typing import Any, Callable, NamedTuple

import numpy as np

import tensorflow as tf

from tfp_zoo.evaluation import annealed_importance
from tfp_zoo.nn import precision as precision_lib
from tfp_zoo.estimators import base as estimators_base
from tfp_zoo.evaluation.log_likelihood_summary import LogLikelihood, summarize_log_weights
from tfp_zoo.models import base as models_base
from tfp_zoo.models import pixels

__all__ = ["PROPOSALS", "LogLikelihood", "ais_log_likelihood", "DatasetLogLikelihood",
           "GradientSNR", "log_likelihood", "log_likelihood_weights", "summarize_log_weights",
           "dataset_log_likelihood", "gradient_snr"]

PROPOSALS = ("guide", "prior")


def log_likelihood_weights(model: models_base.LatentVariableModel, x: tf.Tensor, *,
                           seed: tf.Tensor, num_samples: int,
                           proposal: str = "guide") -> tf.Tensor:
  """Importance log-weights [num_samples, batch].

  Args:
    model: a `LatentVariableModel`.
    x: observations [batch, *input_shape].
    seed: stateless seed, int32[2].
    num_samples: K, samples per example.
    proposal: 'guide' (default; the prior for a model without one) or
      'prior'.

  Returns:
    log w_k = log p(x, z_k) − log r(z_k), z_k from the proposal r: a tensor
    [K, batch] (with the prior: log p(x | z_k)).

  Raises:
    ValueError: an unknown `proposal`.
  """
  estimators_base.check_choice(proposal, PROPOSALS, "proposal", "log_likelihood")
  if proposal == "guide" and model.guide_variables:
    return estimators_base.importance_log_weights(
        model, x, seed=seed, num_samples=num_samples).log_weights
  batch = tf.shape(x)[:1]
  pinned = model.joint().experimental_pin(**{models_base.OBSERVATION: x})
  # Prior samples of shape [K, batch]: the weights are log p(x | z).
  _, log_weights = pinned.sample_and_log_weight(
      tf.concat([[num_samples], batch], 0), seed=seed)
  return log_weights


def log_likelihood(model: models_base.LatentVariableModel, x: tf.Tensor, *,
                   seed: tf.Tensor, num_samples: int = 5000,
                   chunk_size: int = 250, proposal: str = "guide",
                   precision: str = "float32") -> LogLikelihood:
  """Importance-sampled log p(x) per example, its ESS and standard error.

  Args:
    model: a `LatentVariableModel`.
    x: observations [batch, *input_shape], checked by `model.check_observations`.
    seed: stateless seed, int32[2].
    num_samples: K, the total number of importance samples per example.
    chunk_size: particles drawn at once; peak memory is proportional to
      chunk_size × batch, so K=5000 on 100 MNIST digits fits in well under 2 GiB.
    proposal: 'guide' (q_φ(z | x); the prior for a model without a guide) or
      'prior' (p_θ(z), e.g. to show how much the guide buys).
    precision: arithmetic of the networks, one of `precision.PRECISIONS`
      ('bfloat16': bf16 matmuls; the log-weights and their log-sum-exp stay
      float32).

  Returns:
    `LogLikelihood(log_likelihood, ess, stderr)`, each of shape [batch].
  """
  # The K chunks are concatenated: K × batch must fit in int32 shapes too.
  x, num_samples = estimators_base.check_inputs(model, x, num_samples, "log_likelihood")
  chunk_size = estimators_base.check_num_samples(chunk_size, "log_likelihood",
                                                 name="chunk_size")
  estimators_base.check_choice(proposal, PROPOSALS, "proposal", "log_likelihood")
  precision_lib.check_precision(precision)
  chunk_size = min(chunk_size, num_samples)
  num_chunks = math.ceil(num_samples / chunk_size)
  seeds = tf.random.experimental.stateless_split(
      tf.cast(estimators_base.check_seed(seed, "log_likelihood"), tf.int32), num_chunks)
  chunk_fn = _chunk_function(model)
  chunks = []
  for i in range(num_chunks):
    size = min(chunk_size, num_samples - i * chunk_size)
    chunks.append(chunk_fn(x, seeds[i], size, proposal, precision))
  return summarize_log_weights(tf.concat(chunks, axis=0), num_samples)


def ais_log_likelihood(model: models_base.LatentVariableModel, x: Any, *, seed: tf.Tensor,
                       num_samples: int = 16, num_steps: int = 2000, step_size: float = 0.1,
                       num_leapfrog_steps: int = 2, proposal: str = "prior") -> LogLikelihood:
  """Annealed importance sampling estimate of log p(x), like `log_likelihood`.

  K = `num_samples` AIS chains of `num_steps` HMC transitions from the prior
  (or `proposal='guide'`) to p(z | x); returns the same `LogLikelihood`
  tuple. See `tfp_zoo.evaluation.annealed_importance.ais_log_likelihood` (which calls K
  `num_chains`) for the method and its references.

  Args:
    model: a `LatentVariableModel` with real latents.
    x: observations [batch, *input_shape].
    seed: stateless seed, int32[2].
    num_samples: K, independent AIS chains per example (default 16).
    num_steps: annealing steps, one HMC transition each (default 2000).
    step_size: the HMC step size, a positive finite number (default 0.1).
    num_leapfrog_steps: leapfrog steps per transition (default 2).
    proposal: where the chains start: 'prior' (default) or 'guide'.

  Returns:
    `LogLikelihood(log_likelihood, ess, stderr)`, each of shape [batch].
  """
  return annealed_importance.ais_log_likelihood(
      model, x, seed=seed, num_chains=num_samples, num_steps=num_steps, step_size=step_size,
      num_leapfrog_steps=num_leapfrog_steps, proposal=proposal)


class DatasetLogLikelihood(NamedTuple):
  """Averages over a dataset of `log_likelihood` results.

  Attributes:
    mean: mean over examples of log p̂(x), in nats.
    stderr: standard error of that mean over the examples (0 for one example).
    mean_ess: mean effective sample size (out of `num_samples`).
    num_examples: the number of examples averaged.
    num_samples: K, importance samples per example.
    bits_per_dim: −mean in bits per pixel, for 8-bit data only (else None).
  """
  mean: float          # mean over examples of log p̂(x)
  stderr: float        # standard error of that mean over the examples
  mean_ess: float      # mean effective sample size (out of num_samples)
  num_examples: int
  num_samples: int
  bits_per_dim: float | None = None  # −mean in bits per pixel, for 8-bit data only


def dataset_log_likelihood(
    model: models_base.LatentVariableModel, images: np.ndarray, *, seed: tf.Tensor,
    num_samples: int = 5000, batch_size: int = 100, chunk_size: int = 250,
    progress: Callable[[int, int], None] | None = None,
    estimate: Callable[[tf.Tensor, tf.Tensor], LogLikelihood] | None = None,
    proposal: str = "guide", precision: str = "float32",
) -> DatasetLogLikelihood:
  """`log_likelihood` over a whole array of observations, batch by batch.

  `progress(done, total)` is called after each batch. `images` are checked
  (shape, finite, in the model's support) before the first batch. `estimate(x,
  seed)` replaces importance sampling (e.g. `annealed_importance`'s AIS);
  otherwise `proposal` and `precision` are those of `log_likelihood`.

  Args:
    model: a `LatentVariableModel`.
    images: observations [N, *input_shape] (float, as the model takes them).
    seed: stateless seed, int32[2]; each batch gets its own split of it.
    num_samples: K, importance samples per example (default 5000).
    batch_size: examples per batch (default 100).
    chunk_size: particles drawn at once (default 250; `log_likelihood`).
    progress: `progress(done, total)` called after each batch (default None).
    estimate: `estimate(x, seed) -> LogLikelihood` to use instead of
      importance sampling (default None).
    proposal: 'guide' (default) or 'prior'.
    precision: the networks' arithmetic (default 'float32').

  Returns:
    `DatasetLogLikelihood` with the mean log p̂(x) in nats, its standard
    error, the mean ESS, and bits per dimension for 8-bit data.

  Raises:
    ValueError: `batch_size` not a positive integer, `images` of the wrong
      shape, non-finite or outside the model's support, or a bad seed.
  """
  batch_size = estimators_base.check_num_samples(batch_size, "dataset_log_likelihood",
                                                 name="batch_size")
  images = estimators_base.check_observations(model, images, name="images")
  seeds = tf.random.experimental.stateless_split(
      tf.cast(estimators_base.check_seed(seed, "dataset_log_likelihood"), tf.int32),
      max(1, math.ceil(len(images) / batch_size)))
  values, ess = [], []
  for b, start in enumerate(range(0, len(images), batch_size)):
    batch = images[start:start + batch_size]
    result = (estimate(batch, seeds[b]) if estimate is not None else log_likelihood(
        model, batch, seed=seeds[b], num_samples=num_samples, chunk_size=chunk_size,
        proposal=proposal, precision=precision))
    values.append(result.log_likelihood.numpy())
    ess.append(result.ess.numpy())
    if progress is not None:
      progress(min(start + batch_size, len(images)), len(images))
  values, ess = np.concatenate(values), np.concatenate(ess)
  mean = float(values.mean())
  eight_bit = getattr(model, "observation_support", "real") == "eight_bit"
  return DatasetLogLikelihood(
      mean=mean,
      stderr=float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0,
      mean_ess=float(ess.mean()), num_examples=len(values), num_samples=num_samples,
      bits_per_dim=pixels.bits_per_dim(mean, images.shape[1:]) if eight_bit else None)


class GradientSNR(NamedTuple):
  """Signal-to-noise ratios |E[g]| / sd[g] of an estimator's gradients.

  Attributes:
    generative: per-component SNR of the θ-gradient, flattened over θ.
    guide: per-component SNR of the φ-gradient (empty without a guide).
    generative_mean: mean of `generative` (Rainforth et al.'s summary).
    guide_mean: mean of `guide` (NaN without a guide).
    ess: the estimator's mean 'ess' metric over the draws (NaN if it has none).
  """
  generative: np.ndarray
  guide: np.ndarray
  generative_mean: float
  guide_mean: float
  ess: float


def gradient_snr(estimator: Callable[..., Any], model: models_base.LatentVariableModel,
                 x: tf.Tensor, *, num_draws: int, seed: tf.Tensor,
                 **estimator_options: Any) -> GradientSNR:
  """SNR of each gradient component over `num_draws` independent seeds.

  SNR = |mean| / standard deviation over draws, per component of θ and φ
  (Rainforth et al. 2018, "Tighter variational bounds are not necessarily
  better"); each group's gradient is that of its own loss.

  Args:
    estimator: an estimator function `(model, x, *, seed, **options)`.
    model: the `LatentVariableModel` whose gradients are measured.
    x: a batch of observations [batch, *input_shape].
    num_draws: independent gradient draws, an integer ≥ 2.
    seed: stateless seed, int32[2]; each draw gets its own split of it.
    **estimator_options: passed to `estimator`, e.g. `num_samples=10`.

  Returns:
    `GradientSNR` with the per-component SNRs of θ and φ, their means and the
    estimator's mean 'ess' metric.

  Raises:
    ValueError: `num_draws` not an integer ≥ 2, or bad observations or seed.
  """
  if not isinstance(num_draws, int) or num_draws < 2:
    raise ValueError(f"num_draws must be an integer >= 2, got {num_draws!r}")
  x = estimators_base.check_observations(model, x)
  theta, phi = tuple(model.generative_variables), tuple(model.guide_variables)

  @tf.function(autograph=False)
  def draw(seed):
    objectives, theta_grads, phi_grads = estimators_base.objectives_and_gradients(
        lambda: estimator(model, x, seed=seed, **estimator_options), theta, phi)
    flat = lambda grads, variables: tf.concat(
        [tf.reshape(tf.zeros_like(v) if g is None else g, [-1])
         for g, v in zip(grads, variables)], 0) if variables else tf.zeros([0])
    theta_grad = flat(theta_grads, theta)
    phi_grad = flat(phi_grads, phi)
    ess = objectives.metrics.get("ess", tf.constant(float("nan")))
    return theta_grad, phi_grad, tf.cast(ess, tf.float32)

  seeds = tf.random.experimental.stateless_split(
      tf.cast(estimators_base.check_seed(seed, "gradient_snr"), tf.int32), num_draws)
  draws = [draw(seeds[i]) for i in range(num_draws)]
  def snr(samples):
    samples = np.stack(samples).astype(np.float64)
    return np.abs(samples.mean(0)) / np.maximum(samples.std(0, ddof=1), 1e-30)
  generative = snr([d[0].numpy() for d in draws])
  guide = snr([d[1].numpy() for d in draws]) if phi else np.zeros([0])
  return GradientSNR(generative, guide, float(generative.mean()),
                     float(guide.mean()) if phi else float("nan"),
                     float(np.mean([d[2].numpy() for d in draws])))


# One traced chunk function per model, reused across calls and batches; the
# function holds the model weakly so that models can still be freed.
_CHUNK_FUNCTIONS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _chunk_function(model):
  if model not in _CHUNK_FUNCTIONS:
    model_ref = weakref.ref(model)

    @tf.function(autograph=False)
    def chunk(x, seed, size, proposal, precision):
      with precision_lib.using(precision):
        return log_likelihood_weights(model_ref(), x, seed=seed, num_samples=size,
                                      proposal=proposal)

    _CHUNK_FUNCTIONS[model] = chunk
  return _CHUNK_FUNCTIONS[model]
