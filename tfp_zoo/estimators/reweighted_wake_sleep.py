"""Reweighted wake-sleep (Bornschein & Bengio 2015; Le et al. 2019).

With K samples z_k ~ q_φ(· | x) and self-normalised weights
w̃_k = w_k / Σ_j w_j, w_k = p_θ(x, z_k) / q_φ(z_k | x), normalised per example
over its own particles (never across the minibatch):

    wake-θ:  Σ_k w̃_k ∇θ log p_θ(x, z_k)       → ∇θ log p_θ(x) as K → ∞
    wake-φ:  Σ_k w̃_k ∇φ log q_φ(z_k | x)      → −∇φ KL(p_θ(z|x) ‖ q_φ(z|x))
    sleep-φ: ∇φ log q_φ(z | x'), (z, x') ~ p_θ
    mixture: α·wake-φ + (1 − α)·sleep-φ  (Pyro's "insomnia")

`dreg=True` replaces the wake-φ score-function update by its doubly
reparameterised form Σ_k (w̃_k − w̃_k²) ∂log w_k/∂z_k ∂z_k/∂φ (Tucker et al.
2019, "Doubly reparameterized gradient estimators"), for reparameterisable
guides.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo.estimators import base, option_rules as rules
from tfp_zoo.estimators.spec import LATENT_KINDS, register
from tfp_zoo.estimators.wake_sleep_algorithm import sleep_guide_loss
from tfp_zoo.models import base as models_base

__all__ = ["rws", "GUIDE_UPDATES"]

GUIDE_UPDATES = ("wake", "sleep", "mixture")


@register("rws", latents=LATENT_KINDS,
          rules={"num_samples": rules.integer(1), "guide_update": rules.one_of(*GUIDE_UPDATES),
                 "mixture_weight": rules.number(0, 1), "num_sleep_samples": rules.integer(0),
                 "dreg": rules.boolean()},
          used_when={"mixture_weight": ("guide_update", ("mixture",)),
                     "num_sleep_samples": ("guide_update", ("sleep", "mixture")),
                     # dreg changes only the wake-φ update (θ's gradient is the same).
                     "dreg": ("guide_update", ("wake", "mixture"))},
          summary=("reweighted wake-sleep (Bornschein & Bengio 2015): self-normalised wake-θ; "
                   "wake, sleep or mixed φ"))
def rws(model: models_base.LatentVariableModel, x: tf.Tensor, *, seed: tf.Tensor,
        num_samples: int = 5, guide_update: str = "wake", mixture_weight: float = 0.5,
        num_sleep_samples: int = 0, dreg: bool = False) -> base.Objectives:
  """Reweighted wake-sleep losses.

  Args:
    model: a `LatentVariableModel` with a guide (any latent type).
    x: a batch of observations [batch, *input_shape].
    seed: stateless seed, int32[2].
    num_samples: K particles per example.
    guide_update: 'wake', 'sleep' or 'mixture'.
    mixture_weight: α, the weight of wake-φ in the mixture.
    num_sleep_samples: dreams for sleep-φ (0: the batch size).
    dreg: doubly reparameterised wake-φ (reparameterisable guides only).

  Returns:
    `Objectives` with metrics 'iwae' (the K-sample bound) and 'ess'.
  """
  x, num_samples = base.check_particles(model, x, num_samples, "rws")
  base.require_guide(model, "rws")
  wake_seed, sleep_seed = tfp.random.split_seed(seed)
  guide = model.guide(x)
  if dreg:
    base.require_reparameterized(guide, "rws(dreg=True)")
  weights = base.importance_log_weights(model, x, seed=wake_seed, num_samples=num_samples,
                                        guide=guide, stop_latents=not dreg)
  normalized = base.self_normalized_weights(weights.log_weights)
  # Only θ's gradient of this loss is used, so live (dreg) latents do no harm.
  generative_loss = -tf.reduce_mean(tf.reduce_sum(normalized * weights.log_joint, axis=0))

  guide_loss = 0.0
  if guide_update in ("wake", "mixture"):
    if dreg:
      wake = -base.path_derivative_loss(model, x, weights, normalized - normalized ** 2)
    else:
      wake = -tf.reduce_mean(tf.reduce_sum(normalized * weights.log_guide, axis=0))
    guide_loss += (mixture_weight if guide_update == "mixture" else 1.0) * wake
  if guide_update in ("sleep", "mixture"):
    sleep = sleep_guide_loss(model, x, num_sleep_samples, "rws", seed=sleep_seed)
    guide_loss += (1.0 - mixture_weight if guide_update == "mixture" else 1.0) * sleep

  bound = tfp.math.reduce_logmeanexp(weights.log_weights, axis=0)
  ess = base.effective_sample_size(weights.log_weights)
  return base.Objectives(generative_loss, guide_loss,
                         {"iwae": tf.stop_gradient(tf.reduce_mean(bound)),
                          "ess": tf.reduce_mean(ess)})
