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
(`bind('hmc').init(model)`), is updated once per training step from the mean
acceptance probability over every transition of every chain, and is
checkpointed with the run, so the compiled step stays pure of Python state and
resuming is exact. The update is Robbins–Monro with a decaying gain,

    log ε_{n+1} = log ε_n + a · (1 + n / n_0)^(−κ) · (ᾱ_n − δ),

(a = `adaptation_rate`, κ = `adaptation_decay`, n_0 = 100 training steps,
δ = `target_accept_rate`; Robbins & Monro 1951, Andrieu & Thoms 2008 §4):
the gains sum to infinity, so ε keeps following the posterior as θ trains,
while the steps shrink, so ε settles instead of jittering with each batch's
acceptance. κ = 0 is a constant gain (runs saved before the decay resume with
it). Keep the
trajectory (step size × leapfrog steps) well below half the posterior's
oscillation period: a trajectory near it reflects the chain across the mode
and the marginals converge slowly (seen on the linear-Gaussian model).
"""

from __future__ import annotations

import math
from typing import Any

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo.estimators import base, option_rules as rules
from tfp_zoo.estimators.spec import register, state_of
from tfp_zoo.models import base as models_base

__all__ = ["hmc", "hmc_state", "HmcStepSize"]


# n_0: the number of training steps over which the gain stays near its start.
GAIN_DECAY_OFFSET = 100.0


class HmcStepSize(tf.Module):
  """The adapted HMC step size, log-parameterised (checkpointed with the run).

  With `decaying=True` it also counts its updates (the gain's n); a run saved
  before the decaying gain has no counter and keeps the constant gain.

  Args:
    step_size: the initial step size ε > 0 (stored as log ε).
    decaying: whether to count updates for the decaying gain (default True).
    name: the module's name (default 'hmc_step_size').
  """

  def __init__(self, step_size: float, decaying: bool = True,
               name: str = "hmc_step_size"):
    super().__init__(name=name)
    self.log_step_size = tf.Variable(math.log(step_size), trainable=False,
                                     name="log_step_size")
    self.num_updates = (tf.Variable(0., trainable=False, name="num_updates")
                        if decaying else None)

  @property
  def step_size(self) -> tf.Tensor:
    return tf.exp(self.log_step_size)

  def update(self, accept_rate: tf.Tensor, target: float, rate: float,
             decay: float = 0.) -> None:
    """Robbins–Monro on log ε: raise the step when accepting more than the target.

    The gain is `rate · (1 + n / n_0)^(−decay)` after n updates.
    """
    gain = tf.constant(rate, self.log_step_size.dtype)
    if decay:
      if self.num_updates is None:
        raise ValueError("hmc: adaptation_decay > 0 needs a state made with it "
                         "(bind('hmc', adaptation_decay=...).init(model))")
      gain *= (1. + self.num_updates / GAIN_DECAY_OFFSET) ** -decay
    if self.num_updates is not None:
      self.num_updates.assign_add(1.)
    self.log_step_size.assign_add(gain * (tf.stop_gradient(accept_rate) - target))


@state_of("hmc")
def hmc_state(model: Any, *, step_size: float = 0.1, adapt_step_size: bool = True,
              target_accept_rate: float = 0.65, adaptation_rate: float = 0.05,
              adaptation_decay: float = 0.5,
              **unused_options: Any) -> HmcStepSize | None:
  """The `HmcStepSize` that `hmc(..., adapt_step_size=True)` keeps (None otherwise).

  Args:
    model: the model to train (unused: the step size does not depend on it).
    step_size: the initial step size ε (default 0.1).
    adapt_step_size: whether `hmc` adapts ε (default True); without it there
      is no state.
    target_accept_rate: `hmc`'s option (default 0.65); not needed to build
      the state.
    adaptation_rate: `hmc`'s option (default 0.05); not needed to build the
      state.
    adaptation_decay: κ (default 0.5); κ > 0 makes the state count its
      updates for the decaying gain.
    **unused_options: the estimator's other options, ignored here.

  Returns:
    A new `HmcStepSize` at `step_size`, or None when `adapt_step_size` is
    False.
  """
  del model
  return HmcStepSize(step_size, decaying=adaptation_decay > 0) if adapt_step_size else None


_ADAPTATION = ("adapt_step_size", (True,))


# HMC moves in R^d (or an interval of it): not on the sphere, not discrete.
@register("hmc", latents=("real",), state=hmc_state,
          rules={"num_samples": rules.integer(1), "num_hmc_steps": rules.integer(0),
                 "num_leapfrog_steps": rules.integer(1), "step_size": rules.positive(),
                 "adapt_step_size": rules.boolean(),
                 "target_accept_rate": rules.number(0, 1, low_open=True, high_open=True),
                 "adaptation_rate": rules.positive(), "adaptation_decay": rules.number(0, 1)},
          used_when={"target_accept_rate": _ADAPTATION, "adaptation_rate": _ADAPTATION,
                     "adaptation_decay": _ADAPTATION},
          # The step-size gain was constant before it decayed.
          legacy_added_options={"adaptation_decay": 0.0},
          summary=("MCMC-refined inference (Hoffman 2017): guide samples refined by a few HMC "
                   "steps targeting p(z | x) (through the prior's event-space bijectors); θ "
                   "follows ∇θ log p(x, z_T), φ the ELBO; the step size adapts toward "
                   "`target_accept_rate` (the mean acceptance over every transition) by "
                   "Robbins–Monro with a gain `adaptation_rate`·(1 + "
                   "n/100)^−`adaptation_decay` after n steps, so it settles, and is "
                   "checkpointed as estimator state"))
def hmc(model: models_base.LatentVariableModel, x: tf.Tensor, *, seed: tf.Tensor,
        num_samples: int = 1, num_hmc_steps: int = 5, num_leapfrog_steps: int = 3,
        step_size: float = 0.1, adapt_step_size: bool = True,
        target_accept_rate: float = 0.65, adaptation_rate: float = 0.05,
        adaptation_decay: float = 0.5,
        state: HmcStepSize | None = None) -> base.Objectives:
  """HMC-refined θ-update with the ELBO's φ-update.

  Args:
    model: a model with real-valued latents and a reparameterisable guide.
    x: a batch of observations [batch, *input_shape].
    seed: stateless seed, int32[2].
    num_samples: K chains per example, each started from a guide sample.
    num_hmc_steps: T HMC transitions per chain (0: no refinement, the ELBO's
      samples, and no `accept_rate`; only for comparisons).
    num_leapfrog_steps: leapfrog steps per transition.
    step_size: the (initial) leapfrog step size.
    adapt_step_size: adapt the step size toward `target_accept_rate`; needs
      `state` from `bind('hmc', ...).init(model)`.
    target_accept_rate: the acceptance rate the adaptation aims at.
    adaptation_rate: the initial Robbins–Monro gain on log ε per training step.
    adaptation_decay: κ in the gain `adaptation_rate · (1 + n / 100)^(−κ)` after
      n training steps; in [0, 1], 0 keeps the gain constant.
    state: the `HmcStepSize` (with `adapt_step_size`).

  Returns:
    `Objectives` with metrics `elbo`, `log_joint_refined` (mean log p(x, z_T)),
    `step_size` and, when the chains move (`num_hmc_steps` ≥ 1), `accept_rate`:
    the mean acceptance probability over every transition of every chain.

  #### References

  Hoffman, M. D. (2017). Learning deep latent Gaussian models with Markov chain
  Monte Carlo. ICML.
  Andrieu, C. & Thoms, J. (2008). A tutorial on adaptive MCMC. Statistics and
  Computing 18.
  """
  x, num_samples = base.check_particles(model, x, num_samples, "hmc")
  num_hmc_steps, num_leapfrog_steps = int(num_hmc_steps), int(num_leapfrog_steps)
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
    # Every transition is traced (no burn-in), so the acceptance rate that
    # the step size adapts to is that of the whole refinement.
    chain, accepted = tfp.mcmc.sample_chain(
        num_results=num_hmc_steps, num_burnin_steps=0, current_state=start,
        kernel=kernel, seed=chain_seed,
        trace_fn=lambda _, results: tf.exp(tf.minimum(
            results.inner_results.log_accept_ratio, 0.)))
    refined = [tf.stop_gradient(c[-1]) for c in chain]
  else:
    refined = start
  log_joint_refined = tf.reduce_mean(target_log_prob(*refined))
  metrics = {"elbo": elbo_value, "log_joint_refined": log_joint_refined,
             "step_size": current_step}
  if num_hmc_steps:
    metrics["accept_rate"] = tf.reduce_mean(accepted)
    if state is not None:
      state.update(metrics["accept_rate"], target_accept_rate, adaptation_rate,
                   adaptation_decay)
  return base.Objectives(-log_joint_refined, -elbo_value, metrics)
