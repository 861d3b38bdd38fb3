"""Path-derivative gradients for the guide: DReG and sticking the landing.

DReG (Tucker, Lawson, Gu & Maddison 2019, "Doubly reparameterized gradient
estimators for Monte Carlo objectives"): θ ascends the IWAE bound, and φ uses

    ∇φ IWAE_K ≈ Σ_k w̃_k² ∂log w_k/∂z_k ∂z_k/∂φ,

unbiased for the IWAE φ-gradient and with a signal-to-noise ratio that does not
vanish as K grows.

STL (Roeder, Wu & Duvenaud 2017, "Sticking the landing"): the same path
derivative with weights w̃_k (IWAE) or 1/K (K=1 or `bound='elbo'`): the score
term, zero in expectation, is dropped, so the variance vanishes when q equals
the posterior.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo.estimators import base
from tfp_zoo.models import base as models_base

__all__ = ["dreg", "stl"]


def _weights(model, x, seed, num_samples, name):
  base.require_guide(model, name)
  base.check_num_samples(num_samples, name)
  guide = model.guide(x)
  base.require_reparameterized(guide, name)
  return base.importance_log_weights(model, x, seed=seed, num_samples=num_samples,
                                     guide=guide)


def dreg(model: models_base.LatentVariableModel, x: tf.Tensor, *, seed: tf.Tensor,
         num_samples: int = 5) -> base.Objectives:
  """IWAE for θ, doubly reparameterised IWAE gradient for φ.

  Returns:
    `Objectives` with metrics 'iwae' and 'ess'.
  """
  weights = _weights(model, x, seed, num_samples, "dreg")
  bound = tfp.math.reduce_logmeanexp(weights.log_weights, axis=0)
  normalized = base.self_normalized_weights(weights.log_weights)
  guide_loss = -base.path_derivative_loss(model, x, weights, normalized ** 2)
  ess = tf.exp(tfp.experimental.mcmc.log_ess_from_log_weights(
      tf.stop_gradient(weights.log_weights)))
  return base.Objectives(-tf.reduce_mean(bound), guide_loss,
                         {"iwae": tf.stop_gradient(tf.reduce_mean(bound)),
                          "ess": tf.reduce_mean(ess)})


def stl(model: models_base.LatentVariableModel, x: tf.Tensor, *, seed: tf.Tensor,
        num_samples: int = 1, bound: str = "iwae") -> base.Objectives:
  """The ELBO or IWAE bound for θ; sticking-the-landing gradient for φ.

  Args:
    bound: 'iwae' (weights w̃_k) or 'elbo' (weights 1/K).
  """
  base.check_choice(bound, ("iwae", "elbo"), "bound", "stl")
  weights = _weights(model, x, seed, num_samples, "stl")
  if bound == "iwae":
    value = tfp.math.reduce_logmeanexp(weights.log_weights, axis=0)
    coefficients = base.self_normalized_weights(weights.log_weights)
  else:
    value = tf.reduce_mean(weights.log_weights, axis=0)
    coefficients = tf.ones_like(weights.log_weights) / num_samples
  guide_loss = -base.path_derivative_loss(model, x, weights, coefficients)
  return base.Objectives(-tf.reduce_mean(value), guide_loss,
                         {bound: tf.stop_gradient(tf.reduce_mean(value))})
