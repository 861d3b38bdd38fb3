"""The evidence lower bound with reparameterised gradients.

    ELBO(x) = E_{q_φ(z|x)}[log p_θ(x, z) − log q_φ(z | x)]
            = E_q[log p_θ(x | z)] − KL(q_φ(z | x) ‖ p_θ(z))

estimated with K reparameterised samples z_k = g_φ(ε_k, x) (Kingma & Welling
2014, "Auto-Encoding Variational Bayes"; Rezende et al. 2014). Both θ and φ
ascend the same estimate, so `generative_loss is guide_loss`.

With `analytic_kl=True` the KL term is computed in closed form, which needs a
model with a single latent part and a registered `tfd.kl_divergence`.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo.estimators import base
from tfp_zoo.models import base as models_base

tfd = tfp.distributions

__all__ = ["elbo"]


def elbo(model: models_base.LatentVariableModel, x: tf.Tensor, *, seed: tf.Tensor,
         num_samples: int = 1, analytic_kl: bool = False) -> base.Objectives:
  """Negative ELBO as both losses.

  Args:
    model: a `LatentVariableModel` with a reparameterisable guide.
    x: a batch of observations, shape [batch, *input_shape].
    seed: stateless seed, int32[2].
    num_samples: K samples per example averaged inside the bound.
    analytic_kl: compute KL(q ‖ p(z)) in closed form (single latent part only).

  Returns:
    `Objectives` with `metrics['elbo']`, the mean bound over the batch.
  """
  x, num_samples = base.check_inputs(model, x, num_samples, "elbo")
  guide = base.reparameterized_guide(model, x, "elbo")
  if not analytic_kl:
    weights = base.importance_log_weights(model, x, seed=seed, num_samples=num_samples,
                                          guide=guide)
    bound = tf.reduce_mean(weights.log_weights, axis=0)
  else:
    bound = _elbo_analytic_kl(model, guide, x, seed, num_samples)
  loss = -tf.reduce_mean(bound)
  return base.Objectives(loss, loss, {"elbo": -loss})


def _elbo_analytic_kl(model, guide, x, seed, num_samples):
  joint = model.joint()
  names = base.latent_names(joint)
  if len(names) != 1:
    raise ValueError(
        f"elbo(analytic_kl=True) needs a model with one latent part; "
        f"{type(model).__name__} has {names}. Use analytic_kl=False")
  guide_dists, latents = guide.sample_distributions(num_samples, seed=seed)
  joint_dists, _ = joint.sample_distributions(value=[latents[0], x])
  log_likelihood = joint_dists[-1].log_prob(x)  # log p(x | z_k), [K, batch]
  try:
    kl = tfd.kl_divergence(guide_dists[0], joint_dists[0])
  except NotImplementedError as e:
    raise ValueError(
        "elbo(analytic_kl=True): no closed-form KL between "
        f"{type(guide_dists[0]).__name__} and {type(joint_dists[0]).__name__}; "
        "use analytic_kl=False") from e
  return tf.reduce_mean(log_likelihood, axis=0) - kl
