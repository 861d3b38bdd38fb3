"""MCMC-refined inference: the guide proposes, HMC refines (Hoffman 2017).

Hoffman 2017, "Learning deep latent Gaussian models with Markov chain Monte
Carlo": z_0 ~ q_φ(z | x), then T steps of HMC targeting p_θ(z | x) ∝ p_θ(z, x)
give z_T, closer in law to the posterior than z_0. The updates are

    θ:  ∇θ log p_θ(x, z_T)              (z_T held fixed: Fisher's identity with
                                          approximate posterior samples)
    φ:  ∇φ ELBO(φ) = ∇φ E_q[log p_θ(x, z) − log q_φ(z | x)]   (reparameterised)

so a poor guide biases θ's gradient less than the ELBO's own θ-gradient does.
No gradient flows through the chain, which moves in R^d through the prior's
event-space bijectors (so positive latents work; discrete and spherical ones
are refused). HMC's step size is adapted toward an
acceptance rate of `target_accept_rate` (Hoffman's 0.65 is not critical):
with `adapt_step_size=True` the log step size lives in the estimator's state
(`bind('hmc').init(model)`), is updated once per training step from the
chains' mean acceptance probability, and is checkpointed with the run, so the
compiled step stays pure of Python state and resuming is exact. Keep the
trajectory (step size × leapfrog steps) well below half the posterior's
oscillation period: a trajectory near it reflects the chain across the mode
and the marginals converge slowly (seen on the linear-Gaussian model).
"""

from __future__ import annotations

import math
from typing import Any

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo.estimators import base
from tfp_zoo.models import base as models_base

__all__ = ["hmc", "hmc_state", "HmcStepSize"]


class HmcStepSize(tf.Module):
  """The adapted HMC step size, log-parameterised (checkpointed with the run)."""

  def __init__(self, step_size: float, name: str = "hmc_step_size"):
    super().__init__(name=name)
    self.log_step_size = tf.Variable(math.log(step_size), trainable=False,
                                     name="log_step_size")

  @property
  def step_size(self) -> tf.Tensor:
    return tf.exp(self.log_step_size)

  def update(self, accept_rate: tf.Tensor, target: float, rate: float) -> None:
    """Robbins–Monro on log ε: raise the step when accepting more than the target."""
    self.log_step_size.assign_add(rate * (tf.stop_gradient(accept_rate) - target))


def hmc_state(model: Any, *, step_size: float = 0.1, adapt_step_size: bool = True,
              **unused_options: Any) -> HmcStepSize | None:
  """The `HmcStepSize` that `hmc(..., adapt_step_size=True)` keeps (None otherwise)."""
  del model
  _check_step_size(step_size)
  return HmcStepSize(step_size) if adapt_step_size else None


def _check_step_size(step_size: Any) -> None:
  if isinstance(step_size, bool) or not isinstance(step_size, (int, float)) or not (
      math.isfinite(step_size) and step_size > 0):
    raise ValueError(f"hmc: step_size={step_size!r} must be a positive finite number")


def hmc(model: models_base.LatentVariableModel, x: tf.Tensor, *, seed: tf.Tensor,
        num_samples: int = 1, num_hmc_steps: int = 5, num_leapfrog_steps: int = 3,
        step_size: float = 0.1, adapt_step_size: bool = True,
        target_accept_rate: float = 0.65, adaptation_rate: float = 0.05,
        state: HmcStepSize | None = None) -> base.Objectives:
  """HMC-refined θ-update with the ELBO's φ-update.

  Args:
    model: a model with real-valued latents and a reparameterisable guide.
    x: a batch of observations [batch, *input_shape].
    seed: stateless seed, int32[2].
    num_samples: K chains per example, each started from a guide sample.
    num_hmc_steps: T HMC transitions per chain (0: no refinement, the ELBO's
      samples; only for comparisons).
    num_leapfrog_steps: leapfrog steps per transition.
    step_size: the (initial) leapfrog step size.
    adapt_step_size: adapt the step size toward `target_accept_rate`; needs
      `state` from `bind('hmc', ...).init(model)`.
    target_accept_rate: the acceptance rate the adaptation aims at.
    adaptation_rate: the Robbins–Monro gain on log ε per training step.
    state: the `HmcStepSize` (with `adapt_step_size`).

  Returns:
    `Objectives` with metrics `elbo`, `log_joint_refined` (mean log p(x, z_T)),
    `accept_rate` and `step_size`.
  """
  x, num_samples = base.check_inputs(model, x, num_samples, "hmc")
  num_hmc_steps = base.check_num_samples(num_hmc_steps, "hmc", name="num_hmc_steps",
                                         minimum=0)
  num_leapfrog_steps = base.check_num_samples(num_leapfrog_steps, "hmc",
                                              name="num_leapfrog_steps")
  _check_step_size(step_size)
  guide = base.reparameterized_guide(model, x, "hmc")
  bijectors = base.latent_space_bijectors(model, "hmc")
  if adapt_step_size and not isinstance(state, HmcStepSize):
    raise ValueError("hmc: adapt_step_size=True needs state=tfp_zoo.estimators.bind('hmc', "
                     "...).init(model) (the training loop makes it); or adapt_step_size="
                     "False")
  if not adapt_step_size and state is not None:
    raise ValueError("hmc: state is only used with adapt_step_size=True")
  guide_seed, chain_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
  weights = base.importance_log_weights(model, x, seed=guide_seed, num_samples=num_samples,
                                        guide=guide)
  elbo_value = tf.reduce_mean(weights.log_weights)
  joint = model.joint()
  names = base.latent_names(joint)

  def target_log_prob(*z):
    values = {**dict(zip(names, z)), models_base.OBSERVATION: x}
    return joint.log_prob([values[n] for n in base.as_named(joint.dtype)])

  start = [tf.stop_gradient(weights.latents[n]) for n in names]
  current_step = state.step_size if state is not None else tf.constant(float(step_size))
  if num_hmc_steps:
    kernel = tfp.mcmc.TransformedTransitionKernel(tfp.mcmc.HamiltonianMonteCarlo(
        target_log_prob, step_size=tf.stop_gradient(current_step),
        num_leapfrog_steps=num_leapfrog_steps), bijector=bijectors)
    chain, accepted = tfp.mcmc.sample_chain(
        num_results=1, num_burnin_steps=num_hmc_steps - 1, current_state=start,
        kernel=kernel, seed=chain_seed,
        trace_fn=lambda _, results: tf.exp(tf.minimum(
            results.inner_results.log_accept_ratio, 0.)))
    refined = [tf.stop_gradient(c[-1]) for c in chain]
    accept_rate = tf.reduce_mean(accepted)
  else:
    refined, accept_rate = start, tf.constant(1.0)
  log_joint_refined = tf.reduce_mean(target_log_prob(*refined))
  if state is not None and num_hmc_steps:
    state.update(accept_rate, target_accept_rate, adaptation_rate)
  return base.Objectives(-log_joint_refined, -elbo_value,
                         {"elbo": elbo_value, "log_joint_refined": log_joint_refined,
                          "accept_rate": accept_rate, "step_size": current_step})
