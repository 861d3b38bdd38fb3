"""Path-derivative gradients for the guide: DReG and sticking the landing.

DReG (Tucker, Lawson, Gu & Maddison 2019, "Doubly reparameterized gradient
estimators for Monte Carlo objectives"): θ ascends the IWAE bound, and φ uses

    ∇φ IWAE_K ≈ Σ_k w̃_k² ∂log w_k/∂z_k ∂z_k/∂φ,

unbiased for the IWAE φ-gradient and with a signal-to-noise ratio that does not
vanish as K grows.

STL (Roeder, Wu & Duvenaud 2017, "Sticking the landing"): the path derivative
alone, Σ_k c_k ∂log w_k/∂z_k ∂z_k/∂φ, dropping the score term Σ_k c_k ∇φ log
q_φ(z_k | x) (φ's direct dependence). Its variance vanishes when q equals the
posterior (every log w_k is then log p(x), whatever z_k).

* `bound='elbo'` (c_k = 1/K): the dropped term has expectation
  E_q[∇φ log q_φ(z | x)] = 0, so STL is unbiased for ∇φ ELBO.
* `bound='iwae'` (c_k = w̃_k): for K > 1 the dropped term Σ_k w̃_k ∇φ log
  q_φ(z_k | x) does not have expectation zero (the weights depend on the
  samples), so STL is a *biased* estimator of ∇φ IWAE_K (unbiased again at
  the exact posterior, where w̃_k = 1/K). Tucker et al. (2019) show this and
  derive DReG (w̃_k² instead of w̃_k) as the unbiased path-derivative
  estimator. K = 1 is the ELBO case, unbiased.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo.estimators import base, option_rules as rules
from tfp_zoo.estimators.spec import register
from tfp_zoo.models import base as models_base

__all__ = ["dreg", "stl"]


def _weights(model, x, seed, num_samples, name):
  """(checked x, K, reparameterised log-weights)."""
  x, num_samples = base.check_particles(model, x, num_samples, name)
  guide = base.reparameterized_guide(model, x, name)
  return x, num_samples, base.importance_log_weights(
      model, x, seed=seed, num_samples=num_samples, guide=guide)


@register("dreg", latents=("real", "spherical"), rules={"num_samples": rules.integer(1)},
          summary=("IWAE for θ, doubly reparameterised φ-gradient Σ w̃² ∂log w/∂z ∂z/∂φ "
                   "(Tucker et al. 2019)"))
def dreg(model: models_base.LatentVariableModel, x: tf.Tensor, *, seed: tf.Tensor,
         num_samples: int = 5) -> base.Objectives:
  """IWAE for θ, doubly reparameterised IWAE gradient for φ.

  Args:
    model: a `LatentVariableModel` with a reparameterisable guide.
    x: a batch of observations, shape [batch, *input_shape].
    seed: stateless seed, int32[2].
    num_samples: K importance samples per example (default 5).

  Returns:
    `Objectives` with `generative_loss` the negative mean IWAE_K bound, a
    `guide_loss` whose φ-gradient is the DReG estimator, and metrics 'iwae'
    (the bound, nats) and 'ess' (mean effective sample size, 1 to K).
  """
  x, _, weights = _weights(model, x, seed, num_samples, "dreg")
  bound = tfp.math.reduce_logmeanexp(weights.log_weights, axis=0)
  normalized = base.self_normalized_weights(weights.log_weights)
  guide_loss = -base.path_derivative_loss(model, x, weights, normalized ** 2)
  ess = base.effective_sample_size(weights.log_weights)
  return base.Objectives(-tf.reduce_mean(bound), guide_loss,
                         {"iwae": tf.stop_gradient(tf.reduce_mean(bound)),
                          "ess": tf.reduce_mean(ess)})


@register("stl", latents=("real", "spherical"),
          rules={"num_samples": rules.integer(1), "bound": rules.one_of("iwae", "elbo")},
          summary=("sticking-the-landing φ-gradient (Roeder et al. 2017)"))
def stl(model: models_base.LatentVariableModel, x: tf.Tensor, *, seed: tf.Tensor,
        num_samples: int = 1, bound: str = "iwae") -> base.Objectives:
  """The ELBO or IWAE bound for θ; sticking-the-landing gradient for φ.

  Args:
    model: a `LatentVariableModel` with a reparameterisable guide.
    x: a batch of observations, shape [batch, *input_shape].
    seed: stateless seed, int32[2].
    num_samples: K samples per example (default 1).
    bound: 'elbo' (weights 1/K: unbiased for ∇φ ELBO) or 'iwae' (weights w̃_k:
      biased for ∇φ IWAE_K when K > 1, Tucker et al. 2019; use `dreg` for an
      unbiased path derivative of the IWAE bound).

  Returns:
    `Objectives` with `generative_loss` the negative mean bound, a
    `guide_loss` whose φ-gradient is the path derivative alone, and the
    metric named by `bound` (the bound, nats).
  """
  x, num_samples, weights = _weights(model, x, seed, num_samples, "stl")
  if bound == "iwae":
    value = tfp.math.reduce_logmeanexp(weights.log_weights, axis=0)
    coefficients = base.self_normalized_weights(weights.log_weights)
  else:
    value = tf.reduce_mean(weights.log_weights, axis=0)
    coefficients = tf.ones_like(weights.log_weights) / num_samples
  guide_loss = -base.path_derivative_loss(model, x, weights, coefficients)
  return base.Objectives(-tf.reduce_mean(value), guide_loss,
                         {bound: tf.stop_gradient(tf.reduce_mean(value))})
