"""Relatives of the IWAE bound (Rainforth et al. 2018, "Tighter variational
bounds are not necessarily better").

With M groups of K samples, log-weights log w_{m,k}:

    MIWAE_{M,K} = (1/M) Σ_m log (1/K) Σ_k w_{m,k}
    CIWAE_β     = β ELBO + (1 − β) IWAE_K                  (same K samples)
    PIWAE       : θ ascends IWAE_{M·K}, φ ascends MIWAE_{M,K}

MIWAE with K=1 is the ELBO with M samples, so PIWAE with num_samples=1 gives
θ the IWAE bound and φ the ELBO.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo.estimators import base, option_rules as rules
from tfp_zoo.estimators.spec import register
from tfp_zoo.models import base as models_base

__all__ = ["miwae", "ciwae", "piwae"]


def _grouped_weights(model, x, seed, num_samples, num_groups, name):
  """Log-weights of M·K reparameterised samples: [M·K, batch] and [M, K, batch]."""
  x, num_samples = base.check_particles(model, x, num_samples, name, groups=num_groups)
  guide = base.reparameterized_guide(model, x, name)
  log_weights = base.importance_log_weights(
      model, x, seed=seed, num_samples=num_groups * num_samples, guide=guide).log_weights
  grouped = tf.reshape(log_weights, tf.concat([[num_groups, num_samples],
                                               tf.shape(log_weights)[1:]], 0))
  return log_weights, grouped


@register("miwae", latents=("real", "spherical"),
          rules={"num_samples": rules.integer(1), "num_groups": rules.integer(1)},
          summary=("MIWAE (Rainforth et al. 2018): the mean over M groups of K-sample IWAE "
                   "bounds; K=1 is the ELBO with M samples"))
def miwae(model: models_base.LatentVariableModel, x: tf.Tensor, *, seed: tf.Tensor,
          num_samples: int = 5, num_groups: int = 1) -> base.Objectives:
  """Negative MIWAE_{M,K} as both losses (metrics: 'miwae').

  Args:
    model: a `LatentVariableModel` with a reparameterisable guide.
    x: a batch of observations, shape [batch, *input_shape].
    seed: stateless seed, int32[2].
    num_samples: K, samples per group (default 5; K=1 is the ELBO with M samples).
    num_groups: M, groups of K samples per example (default 1: the IWAE bound).

  Returns:
    `Objectives` whose two losses are the same tensor, the negative batch mean
    of (1/M) Σ_m log (1/K) Σ_k w_{m,k} (nats), with `metrics['miwae']` its
    negation.
  """
  _, grouped = _grouped_weights(model, x, seed, num_samples, num_groups, "miwae")
  value = tf.reduce_mean(tfp.math.reduce_logmeanexp(grouped, axis=1), axis=0)
  loss = -tf.reduce_mean(value)
  return base.Objectives(loss, loss, {"miwae": -loss})


@register("ciwae", latents=("real", "spherical"),
          rules={"num_samples": rules.integer(1), "beta": rules.number(0, 1)},
          summary=("CIWAE (Rainforth et al. 2018): β·ELBO + (1 − β)·IWAE_K from the same K "
                   "samples"))
def ciwae(model: models_base.LatentVariableModel, x: tf.Tensor, *, seed: tf.Tensor,
          num_samples: int = 5, beta: float = 0.5) -> base.Objectives:
  """Negative β·ELBO + (1 − β)·IWAE_K as both losses (metrics: 'ciwae', 'iwae', 'elbo').

  Args:
    model: a `LatentVariableModel` with a reparameterisable guide.
    x: a batch of observations, shape [batch, *input_shape].
    seed: stateless seed, int32[2].
    num_samples: K, samples per example shared by both bounds (default 5).
    beta: β in [0, 1], the weight of the ELBO (default 0.5; 1 is the ELBO, 0
      the IWAE bound).

  Returns:
    `Objectives` whose two losses are the same tensor, the negative batch mean
    of the combined bound (nats); metrics 'ciwae' (the bound), 'iwae' and
    'elbo' (each bound alone, without gradient).
  """
  log_weights, _ = _grouped_weights(model, x, seed, num_samples, 1, "ciwae")
  elbo_value = tf.reduce_mean(tf.reduce_mean(log_weights, axis=0))
  iwae_value = tf.reduce_mean(tfp.math.reduce_logmeanexp(log_weights, axis=0))
  loss = -(beta * elbo_value + (1.0 - beta) * iwae_value)
  return base.Objectives(loss, loss, {"ciwae": -loss, "iwae": tf.stop_gradient(iwae_value),
                                      "elbo": tf.stop_gradient(elbo_value)})


@register("piwae", latents=("real", "spherical"),
          rules={"num_samples": rules.integer(1), "num_groups": rules.integer(1)},
          summary=("PIWAE (Rainforth et al. 2018): θ ascends IWAE over M·K samples, φ the "
                   "MIWAE bound of M groups of K"))
def piwae(model: models_base.LatentVariableModel, x: tf.Tensor, *, seed: tf.Tensor,
          num_samples: int = 5, num_groups: int = 1) -> base.Objectives:
  """θ: negative IWAE_{M·K}; φ: negative MIWAE_{M,K}, from the same samples.

  Args:
    model: a `LatentVariableModel` with a reparameterisable guide.
    x: a batch of observations, shape [batch, *input_shape].
    seed: stateless seed, int32[2].
    num_samples: K, samples per group (default 5; K=1 gives φ the ELBO).
    num_groups: M, groups per example (default 1); θ's bound uses all M·K.

  Returns:
    `Objectives` with `generative_loss` −IWAE_{M·K} and `guide_loss`
    −MIWAE_{M,K} (batch means, nats), and metrics 'iwae' and 'miwae'.
  """
  log_weights, grouped = _grouped_weights(model, x, seed, num_samples, num_groups, "piwae")
  iwae_value = tf.reduce_mean(tfp.math.reduce_logmeanexp(log_weights, axis=0))
  miwae_value = tf.reduce_mean(tfp.math.reduce_logmeanexp(grouped, axis=1))
  return base.Objectives(-iwae_value, -miwae_value,
                         {"iwae": tf.stop_gradient(iwae_value),
                          "miwae": tf.stop_gradient(miwae_value)})
