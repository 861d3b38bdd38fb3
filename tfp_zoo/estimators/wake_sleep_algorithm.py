"""Wake-sleep (Hinton, Dayan, Frey & Neal 1995).

    wake-θ:  ∇θ E_{q_φ(z|x)} [log p_θ(x, z)]        (z sampled, no gradient through it)
    sleep-φ: ∇φ E_{p_θ(z, x')} [log q_φ(z | x')]     (dreamt pairs from the model)

Each update maximises its own objective, so the two losses differ. Needs no
reparameterisation: works for discrete latents.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo.estimators import base, option_rules as rules
from tfp_zoo.estimators.spec import LATENT_KINDS, register
from tfp_zoo.models import base as models_base

__all__ = ["wake_sleep", "sleep_guide_loss"]


def sleep_guide_loss(model: models_base.LatentVariableModel, x: tf.Tensor,
                     num_sleep_samples: int, estimator: str, *,
                     seed: tf.Tensor) -> tf.Tensor:
  """−E_{p_θ(z, x')}[log q_φ(z | x')] over dreams (no gradient to θ).

  Draws `num_sleep_samples` dreams, or as many as the batch x has if it is 0.
  """
  del estimator  # num_sleep_samples was checked by the estimator's spec
  num_dreams = int(num_sleep_samples) or int(x.shape[0] or 0) or tf.shape(x)[0]
  latents, dreams = base.dream(model, num_dreams, seed=seed)
  return -tf.reduce_mean(base.guide_log_prob(model, dreams, latents))


@register("wake_sleep", latents=LATENT_KINDS,
          rules={"num_samples": rules.integer(1), "num_sleep_samples": rules.integer(0)},
          summary=("wake-θ with guide samples, sleep-φ on dreams (Hinton et al. 1995)"))
def wake_sleep(model: models_base.LatentVariableModel, x: tf.Tensor, *, seed: tf.Tensor,
               num_samples: int = 1, num_sleep_samples: int = 0) -> base.Objectives:
  """Wake-θ and sleep-φ losses.

  Args:
    model: a `LatentVariableModel` with a guide (any latent type).
    x: a batch of observations [batch, *input_shape].
    seed: stateless seed, int32[2].
    num_samples: guide samples per example for the wake-θ update.
    num_sleep_samples: dreams for the sleep-φ update (0: the batch size).

  Returns:
    `Objectives` with metrics 'iwae' (the K-sample bound, for monitoring) and
    'sleep_loss'.
  """
  x, num_samples = base.check_particles(model, x, num_samples, "wake_sleep")
  base.require_guide(model, "wake_sleep")
  wake_seed, sleep_seed = tfp.random.split_seed(seed)
  weights = base.importance_log_weights(model, x, seed=wake_seed, num_samples=num_samples,
                                        stop_latents=True)
  generative_loss = -tf.reduce_mean(weights.log_joint)
  guide_loss = sleep_guide_loss(model, x, num_sleep_samples, "wake_sleep", seed=sleep_seed)
  bound = tf.reduce_mean(tfp.math.reduce_logmeanexp(weights.log_weights, axis=0))
  return base.Objectives(generative_loss, guide_loss,
                         {"iwae": tf.stop_gradient(bound),
                          "sleep_loss": tf.stop_gradient(guide_loss)})
