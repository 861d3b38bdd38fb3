"""The importance-weighted bound (Burda, Grosse & Salakhutdinov 2016).

    IWAE_K(x) = E_{z_1..K ~ q_φ(·|x)} [ log (1/K) Σ_k p_θ(x, z_k) / q_φ(z_k | x) ]

which increases with K towards log p_θ(x). Gradients are reparameterised and
computed in log space (`tfp.math.reduce_logmeanexp`); θ and φ both ascend the
bound, so `generative_loss is guide_loss`.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo.estimators import base, option_rules as rules
from tfp_zoo.estimators.spec import register
from tfp_zoo.models import base as models_base

__all__ = ["iwae"]


@register("iwae", latents=("real", "spherical"), rules={"num_samples": rules.integer(1)},
          summary=("importance-weighted bound log (1/K) Σ w_k (Burda et al. 2016)"))
def iwae(model: models_base.LatentVariableModel, x: tf.Tensor, *, seed: tf.Tensor,
         num_samples: int = 5) -> base.Objectives:
  """Negative IWAE bound as both losses.

  Args:
    model: a `LatentVariableModel` with a reparameterisable guide.
    x: a batch of observations, shape [batch, *input_shape].
    seed: stateless seed, int32[2].
    num_samples: K importance samples per example (K=1 is the ELBO).

  Returns:
    `Objectives` with `metrics['iwae']` (mean bound) and `metrics['ess']` (mean
    effective sample size of the K weights, between 1 and K).
  """
  x, num_samples = base.check_particles(model, x, num_samples, "iwae")
  guide = base.reparameterized_guide(model, x, "iwae")
  log_weights = base.importance_log_weights(
      model, x, seed=seed, num_samples=num_samples, guide=guide).log_weights
  bound = tfp.math.reduce_logmeanexp(log_weights, axis=0)
  loss = -tf.reduce_mean(bound)
  ess = base.effective_sample_size(log_weights)
  return base.Objectives(loss, loss, {"iwae": -loss, "ess": tf.reduce_mean(ess)})
