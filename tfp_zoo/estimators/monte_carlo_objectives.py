"""VIMCO (Mnih & Rezende 2016, "Variational inference for Monte Carlo objectives").

A score-function estimator of the IWAE bound L = log (1/K) Σ_k w_k for guides
that cannot be reparameterised (discrete latents). With z_k sampled without
gradient, the φ-gradient is

    Σ_k (L − L̂_{−k}) ∇φ log q_φ(z_k | x) + Σ_k w̃_k ∇φ log w_k,

where the baseline L̂_{−k} replaces w_k in L by the geometric mean of the other
weights (`tfp.stats.log_soomean_exp`, the swap-one-out average that TFP's
`csiszar_vimco` uses), which does not depend on z_k. θ's gradient is Σ_k w̃_k ∇θ log p_θ(x, z_k).

For a guide with both discrete and continuous latents (attend-infer-repeat's
presence and where/what), the continuous ones are reparameterised and only the
discrete ones scored (`continuous_latents`, `base.score_function_log_weights`):
the first sum then runs over ∇φ log q_φ(d_k | x, c_k) and the second
differentiates log w_k through c_k too.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo.estimators import base, option_rules as rules
from tfp_zoo.estimators.spec import LATENT_KINDS, register
from tfp_zoo.models import base as models_base

__all__ = ["vimco"]


# K >= 2: each particle's baseline averages the other K - 1.
@register("vimco", latents=LATENT_KINDS,
          rules={"num_samples": rules.integer(2),
                 "continuous_latents": rules.one_of(*base.CONTINUOUS_LATENTS)},
          summary=("multi-sample score function with leave-one-out baselines (Mnih & Rezende "
                   "2016), K ≥ 2. A guide with both discrete and continuous latents (`air`) "
                   "has its continuous ones reparameterised and only the discrete ones scored,"
                   " as Eslami et al. and Le et al. train AIR"))
def vimco(model: models_base.LatentVariableModel, x: tf.Tensor, *, seed: tf.Tensor,
          num_samples: int = 5, continuous_latents: str = "auto") -> base.Objectives:
  """VIMCO surrogate as both losses; needs K ≥ 2 (metrics: 'iwae', 'ess').

  Args:
    model: a `LatentVariableModel` with a guide (discrete, continuous or both).
    x: a batch of observations, shape [batch, *input_shape].
    seed: stateless seed, int32[2].
    num_samples: K ≥ 2 samples per example (default 5), each one's baseline
      the other K − 1.
    continuous_latents: 'auto' (default: reparameterise them when the guide
      also has discrete latents), 'reparameterize' or 'score_function' (score
      every latent).

  Returns:
    `Objectives` whose two losses are the same surrogate: its value is the
    negative mean IWAE_K bound, its φ-gradient VIMCO's; metrics 'iwae' (the
    bound, nats) and 'ess' (mean effective sample size).

  Raises:
    ValueError: `continuous_latents` other than 'auto' for a guide without
      continuous latents.
  """
  x, num_samples = base.check_particles(model, x, num_samples, "vimco")
  base.require_guide(model, "vimco")
  weights, scored_log_guide = base.score_function_log_weights(
      model, x, seed=seed, num_samples=num_samples, continuous_latents=continuous_latents,
      estimator="vimco")
  log_leave_one_out, log_avg = tfp.stats.log_soomean_exp(
      tf.stop_gradient(weights.log_weights), axis=0)
  learning_signal = tf.stop_gradient(log_avg - log_leave_one_out)  # [K, batch]
  bound = tfp.math.reduce_logmeanexp(weights.log_weights, axis=0)
  surrogate = bound + tf.reduce_sum(learning_signal * scored_log_guide, axis=0)
  loss = -tf.reduce_mean(surrogate)
  ess = base.effective_sample_size(weights.log_weights)
  return base.Objectives(loss, loss, {"iwae": tf.stop_gradient(tf.reduce_mean(bound)),
                                      "ess": tf.reduce_mean(ess)})
