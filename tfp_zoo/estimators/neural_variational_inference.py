"""NVIL: score-function gradients of the ELBO or IWAE bound with baselines
(Mnih & Gregor 2014, "Neural variational inference and learning in belief
networks"), for guides that cannot be reparameterised (discrete latents).

With z_k ~ q_φ(· | x) drawn without gradient and log w_k = log p_θ(x, z_k) −
log q_φ(z_k | x), the bound L and the learning signal ℓ_k are

    bound='elbo':  L = (1/K) Σ_k log w_k,          ℓ_k = log w_k,  a_k = 1/K
    bound='iwae':  L = log (1/K) Σ_k w_k,          ℓ_k = L,        a_k = 1

and the gradients (unbiased for any baseline b(x) that does not depend on z):

    ∇θ L  (direct: log q carries no θ)
    ∇φ L = Σ_k a_k (ℓ_k − b(x)) ∇φ log q_φ(z_k | x) + ∇φ L|_z  (the direct term)

The baseline b(x) = c + b_ψ(x) is the sum of a moving average c of ℓ − b_ψ(x)
(decay α, debiased as in Adam) and, for baseline='learned', an MLP b_ψ(x)
trained to minimise E[(ℓ − c − b_ψ(x))²]. NVIL's variance normalisation is left
out: Adam already rescales each parameter's step, and for the IWAE signal
dividing only the score term by a running scale would bias the direction.

With both discrete and continuous latents (attend-infer-repeat) the continuous
ones are reparameterised and only the discrete ones scored, as Eslami et al.
(2016) train AIR (`continuous_latents`, `base.score_function_log_weights`).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo import nn
from tfp_zoo.estimators import base, option_rules as rules
from tfp_zoo.estimators.spec import LATENT_KINDS, register, state_of
from tfp_zoo.models import base as models_base

__all__ = ["nvil", "NvilBaseline", "nvil_state", "BASELINES", "BOUNDS"]

BASELINES = ("learned", "moving_average", "none")
BOUNDS = ("elbo", "iwae")


class NvilBaseline(tf.Module):
  """NVIL's control variate b(x) = c + b_ψ(x), kept between training steps.

  `trainable_variables` (ψ, empty without the learned part) are trained with
  the guide's optimizer; the moving average is updated by `nvil` itself.

  Args:
    input_shape: the observation's event shape (b_ψ reads x flattened).
    learned: whether to add the learned part b_ψ, an MLP with one hidden
      layer (default True; False keeps only the moving average c).
    hidden_size: width of b_ψ's hidden layer (default 100).
    decay: α in [0, 1), the moving average's decay (default 0.9).
    seed: integer seed of b_ψ's initial weights (default 0).
    name: the module's name (default: the class's).

  Raises:
    ValueError: `decay` outside [0, 1).
  """

  def __init__(self, input_shape: Sequence[int], *, learned: bool = True,
               hidden_size: int = 100, decay: float = 0.9, seed: int = 0,
               name: str | None = None):
    super().__init__(name=name)
    if not 0.0 <= decay < 1.0:
      raise ValueError(f"decay={decay}: must be in [0, 1)")
    self.input_shape = tuple(int(d) for d in input_shape)
    self.decay = float(decay)
    # MEAN aggregation: replicas of a distributed run assign the same average.
    self.moving_mean = tf.Variable(0.0, trainable=False, name="moving_mean",
                                   aggregation=tf.VariableAggregation.MEAN)
    self.num_updates = tf.Variable(0.0, trainable=False, name="num_updates",
                                   aggregation=tf.VariableAggregation.MEAN)
    self.network = None
    if learned:
      self.network = nn.MLP([int(np.prod(self.input_shape)), hidden_size, 1],
                            seed=(seed, 6), name="baseline_network")

  def learned_part(self, x: tf.Tensor) -> tf.Tensor:
    """b_ψ(x), shape [batch] (zeros without a network)."""
    if self.network is None:
      return tf.zeros(tf.shape(x)[:1])
    h = nn.flatten_event(tf.convert_to_tensor(x, tf.float32), len(self.input_shape))
    return self.network(h)[..., 0]

  def centre(self, residual: tf.Tensor) -> tf.Tensor:
    """c, the debiased moving average of `residual` = ℓ − b_ψ(x) (no gradient).

    Reads the average before this batch updates it; the first batch, with no
    average yet, is centred by its own mean.
    """
    residual = tf.stop_gradient(residual)
    debiased = self.moving_mean / (1.0 - self.decay ** tf.maximum(self.num_updates, 1.0))
    c = tf.identity(tf.where(self.num_updates > 0, debiased, tf.reduce_mean(residual)))
    with tf.control_dependencies([c]):  # read before the update
      self.moving_mean.assign(self.decay * self.moving_mean
                              + (1.0 - self.decay) * tf.reduce_mean(residual))
      self.num_updates.assign_add(1.0)
    return c


@state_of("nvil")
def nvil_state(model: models_base.LatentVariableModel, *, baseline: str = "learned",
               **unused_options: Any) -> NvilBaseline | None:
  """The `NvilBaseline` that `nvil(..., baseline=baseline)` needs (None for 'none').

  Args:
    model: the model to train; its joint gives the observation's event shape.
    baseline: 'learned' (default: moving average plus b_ψ), 'moving_average'
      or 'none'.
    **unused_options: the estimator's other options, ignored here (checked by
      its spec like `baseline`).

  Returns:
    A new `NvilBaseline`, or None for baseline='none'.
  """
  if baseline == "none":
    return None
  # The observation's event shape, from the joint: any model honouring the contract.
  input_shape = base.as_named(model.joint().event_shape)[models_base.OBSERVATION]
  return NvilBaseline(input_shape, learned=baseline == "learned")


@register("nvil", latents=LATENT_KINDS, state=nvil_state,
          rules={"num_samples": rules.integer(1), "bound": rules.one_of(*BOUNDS),
                 "baseline": rules.one_of(*BASELINES),
                 "continuous_latents": rules.one_of(*base.CONTINUOUS_LATENTS)},
          summary=("score-function ELBO or IWAE gradient with an input-dependent learned "
                   "baseline plus a moving average (Mnih & Gregor 2014); the baseline is "
                   "checkpointed with the run"))
def nvil(model: models_base.LatentVariableModel, x: tf.Tensor, *, seed: tf.Tensor,
         num_samples: int = 1, bound: str = "elbo", baseline: str = "learned",
         state: NvilBaseline | None = None,
         continuous_latents: str = "auto") -> base.Objectives:
  """Score-function (NVIL) surrogate of the ELBO or IWAE bound, as both losses.

  Args:
    model: a `LatentVariableModel` with a guide (any latent type).
    x: a batch of observations [batch, *input_shape].
    seed: stateless seed, int32[2].
    num_samples: K particles per example.
    bound: 'elbo' (per-particle signals) or 'iwae' (the K-sample bound).
    baseline: 'learned' (c + b_ψ(x)), 'moving_average' (c) or 'none'.
    state: the `NvilBaseline` from `nvil_state(model, baseline=...)`, kept
      across steps (`tfp_zoo.training` creates and checkpoints it).
    continuous_latents: 'auto' (reparameterise them when the guide also has
      discrete latents), 'reparameterize' or 'score_function' (score all).

  Returns:
    `Objectives` whose one loss also trains ψ (the baseline's squared error);
    metrics: the bound ('elbo' or 'iwae'), 'ess' and, with a baseline,
    'baseline_mse'.
  """
  x, num_samples = base.check_particles(model, x, num_samples, "nvil")
  base.require_guide(model, "nvil")
  if baseline != "none":
    if state is None:
      raise ValueError(
          f"nvil(baseline={baseline!r}) keeps its baseline between steps: pass "
          f"state=tfp_zoo.estimators.make_state('nvil', model, baseline={baseline!r}) "
          "(the training loop does this), or use baseline='none'")
    if (state.network is not None) != (baseline == "learned"):
      raise ValueError(f"nvil: state was made for another baseline than {baseline!r}")
  weights, scored_log_guide = base.score_function_log_weights(
      model, x, seed=seed, num_samples=num_samples, continuous_latents=continuous_latents,
      estimator="nvil")
  log_w = weights.log_weights
  if bound == "elbo":
    value = tf.reduce_mean(log_w, axis=0)
    signal, coefficient = tf.stop_gradient(log_w), 1.0 / num_samples
  else:
    value = tfp.math.reduce_logmeanexp(log_w, axis=0)
    signal, coefficient = tf.stop_gradient(value)[None], 1.0
  metrics = {}
  baseline_loss = 0.0
  centred = signal
  if state is not None:
    learned = state.learned_part(x)  # [batch]
    residual = tf.reduce_mean(signal, axis=0) - tf.stop_gradient(learned)
    c = state.centre(residual)
    centred = signal - c - tf.stop_gradient(learned)
    # ψ's regression onto the signal; its gradient reaches only ψ.
    baseline_error = tf.reduce_mean(tf.stop_gradient(signal - c), axis=0) - learned
    baseline_loss = 0.5 * tf.reduce_mean(tf.square(baseline_error))
    metrics["baseline_mse"] = tf.stop_gradient(2.0 * baseline_loss)
  surrogate = value + coefficient * tf.reduce_sum(
      tf.stop_gradient(centred) * scored_log_guide, axis=0)
  loss = -tf.reduce_mean(surrogate) + baseline_loss
  metrics[bound] = tf.stop_gradient(tf.reduce_mean(value))
  metrics["ess"] = tf.reduce_mean(base.effective_sample_size(log_w))
  return base.Objectives(loss, loss, metrics)
