"""The evidence lower bound with reparameterised gradients.

    ELBO(x) = E_{q_φ(z|x)}[log p_θ(x, z) − log q_φ(z | x)]
            = E_q[log p_θ(x | z)] − KL(q_φ(z | x) ‖ p_θ(z))

estimated with K reparameterised samples z_k = g_φ(ε_k, x) (Kingma & Welling
2014, "Auto-Encoding Variational Bayes"; Rezende et al. 2014). Both θ and φ
ascend the same estimate, so `generative_loss is guide_loss`.

With `analytic_kl=True` the KL term is computed in closed form, which needs a
model with a single latent part and a registered `tfd.kl_divergence`.

β-VAE (Higgins et al. 2017, "β-VAE: Learning basic visual concepts with a
constrained variational framework") weighs the KL term:

    L_β(x) = E_q[log p_θ(x | z)] − β · KL(q_φ(z | x) ‖ p_θ(z)),

estimated from the same samples as log p(x | z_k) + β (log p(z_k) − log q(z_k | x)).
β = 1 is the ELBO (and takes the plain path, so it reproduces it exactly);
β > 1 favours axis-aligned codes, β < 1 (e.g. a KL warm-up, `--kl_warmup_steps`,
which the train step passes as a tensor) a better reconstruction. The metric
`elbo` is always the β = 1 bound of the same samples.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo.estimators import base, option_rules as rules
from tfp_zoo.estimators.spec import register
from tfp_zoo.models import base as models_base

tfd = tfp.distributions

__all__ = ["elbo"]


@register("elbo", latents=("real", "spherical"),
          rules={"num_samples": rules.integer(1), "analytic_kl": rules.boolean(),
                 "beta": rules.number(0)},
          summary=("reparameterised ELBO, K samples averaged (Kingma & Welling 2014); β-VAE: "
                   "log p(x|z) − β·KL (Higgins et al. 2017), with an optional linear KL "
                   "warm-up over `--kl_warmup_steps` steps (a function of the step, so "
                   "resuming is exact)"))
def elbo(model: models_base.LatentVariableModel, x: tf.Tensor, *, seed: tf.Tensor,
         num_samples: int = 1, analytic_kl: bool = False,
         beta: float = 1.0) -> base.Objectives:
  """Negative ELBO (or β-weighted ELBO) as both losses.

  Args:
    model: a `LatentVariableModel` with a reparameterisable guide.
    x: a batch of observations, shape [batch, *input_shape].
    seed: stateless seed, int32[2].
    num_samples: K samples per example averaged inside the bound.
    analytic_kl: compute KL(q ‖ p(z)) in closed form (single latent part only).
    beta: β ≥ 0, the weight of the KL term (a float, or a scalar tensor for a
      schedule).

  Returns:
    `Objectives` with `metrics['elbo']`, the mean bound over the batch; with
    β ≠ 1 also `beta_elbo` (the objective), `kl` and `beta`.
  """
  x, num_samples = base.check_particles(model, x, num_samples, "elbo")
  beta = _check_beta(beta)
  guide = base.reparameterized_guide(model, x, "elbo")
  if beta is not None:
    return _beta_elbo(model, guide, x, seed, num_samples, analytic_kl, beta)
  if not analytic_kl:
    weights = base.importance_log_weights(model, x, seed=seed, num_samples=num_samples,
                                          guide=guide)
    bound = tf.reduce_mean(weights.log_weights, axis=0)
  else:
    bound = _elbo_analytic_kl(model, guide, x, seed, num_samples)
  loss = -tf.reduce_mean(bound)
  return base.Objectives(loss, loss, {"elbo": -loss})


def _check_beta(beta) -> tf.Tensor | None:
  """None for the plain ELBO (β = 1 as a number), else β as a float32 tensor
  (its value was checked by the spec; a scheduled tensor is the caller's)."""
  if isinstance(beta, (int, float)) and beta == 1:
    return None
  return tf.cast(beta, tf.float32)


def _beta_elbo(model, guide, x, seed, num_samples, analytic_kl, beta):
  """log p(x | z) − β·KL per example, from the same draws as the ELBO."""
  if analytic_kl:
    log_likelihood, kl = _likelihood_and_analytic_kl(model, guide, x, seed, num_samples)
  else:
    latents, log_guide = guide.experimental_sample_and_log_prob(num_samples, seed=seed)
    joint = model.joint()
    values = {**base.as_named(latents), models_base.OBSERVATION: x}
    parts = base.as_named(joint.log_prob_parts([values[n] for n in base.as_named(joint.dtype)]))
    log_likelihood = tf.reduce_mean(parts.pop(models_base.OBSERVATION), axis=0)
    kl = tf.reduce_mean(log_guide - tf.add_n(list(parts.values())), axis=0)
  objective = tf.reduce_mean(log_likelihood - beta * kl)
  elbo_value = tf.reduce_mean(log_likelihood - kl)
  return base.Objectives(-objective, -objective,
                         {"elbo": elbo_value, "beta_elbo": objective,
                          "kl": tf.reduce_mean(kl), "beta": beta})


def _elbo_analytic_kl(model, guide, x, seed, num_samples):
  log_likelihood, kl = _likelihood_and_analytic_kl(model, guide, x, seed, num_samples)
  return log_likelihood - kl


def _likelihood_and_analytic_kl(model, guide, x, seed, num_samples):
  """(mean over K of log p(x | z_k), closed-form KL(q ‖ p(z))), per example."""
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
  return tf.reduce_mean(log_likelihood, axis=0), kl
