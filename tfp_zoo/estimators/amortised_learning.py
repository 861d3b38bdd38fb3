"""Amortised learning by wake-sleep (Li, Moskovitz, Kanagawa & Sahani 2020).

By Fisher's identity the model gradient is a posterior expectation,

    ∇θ log p_θ(x*) = E_{p_θ(z|x*)}[∇θ log p_θ(z, x*)],

and a conditional expectation is what least squares on joint samples learns.
Draw sleep samples (z_n, x_n) ~ p_θ (no gradient through them) and regress
f_n = log p_θ(z_n, x_n) on features φ(x_n) by ridge regression. Its
prediction at x* is linear in the targets, Ĵ(x*) = s(x*)ᵀ f with the smoother
row s(x*) = φ(x*)ᵀ(ΦᵀΦ + NλI)⁻¹Φᵀ (or the exact kernel version
k(x*, X)(K + NλI)⁻¹), which depends on no parameter; so

    ∇θ Ĵ(x*) = Σ_n s_n(x*) ∇θ log p_θ(z_n, x_n)  ≈  ∇θ log p_θ(x*),

and autodiff of −mean_b Ĵ(x*_b) gives the update. No guide and no
reparameterisation: the latents can be continuous, binary or on a sphere.

Exponential-family form (`exponential_family=True`; 'auto', the default,
uses it for Normal and Poisson observations, possibly under `Independent`):

    log p(x | z) = η_θ(z)ᵀT(x) − A(η_θ(z)) + log h(x), so
    E[log p_θ(z, x) | x*] = E[log p_θ(z) − A(η_θ(z)) | x*] + E[η_θ(z) | x*]ᵀ T(x*),

and one regresses the scalar log p_θ(z) − A(η) and the vector η_θ(z) on
φ(x) instead: the x-dependence through T(x) is then exact, not learned.
'auto' leaves it out for Bernoulli pixels, for a measured reason. On an
IWAE-trained MNIST VAE with saturated logits (|η| ~ 10), the separate
regressions of η_i and of −Σ softplus(η_i) each err by more than their
nearly cancelling sum: held-out error 4–110x the variance against 0.3–0.5
for the log joint, and a 3x larger gradient error. With Gaussian pixels it is
the better form. It halves the gradient error on the linear-Gaussian model
(tests/estimators/test_alws.py). Matrix factorisation on continuous MNIST
reached −325 nats after 800 steps with it, and −756 after 3000 without.

Learned feature map (`feature_map='learned'`, with the state from
`make_state('alws', model, feature_map='learned')`): a Gaussian kernel on raw
pixels sees the posterior poorly in 784 dimensions (README: the regression
shrinks E[η(z) | x] to its mean and the dictionary gets no gradient). An MLP
ψ_ω(x) → R^F with a linear head is trained, with the guide's optimizer, to
predict the standardised regression targets of the sleep samples (squared
error; the guide loss carries it). The kernel regression then runs on the
stopped features ψ_ω(x). The prediction stays linear in the targets with
smoother weights that do not depend on θ, so the gradient identity above
still holds for any ω.

The targets are centred (an unpenalised intercept), so the ridge shrinks
predictions towards the mean log joint, not towards zero.

A `validation_fraction` of the sleep samples is held out, for two metrics:

- 'posterior_mean_error', the gradient-quality monitor: the same smoother
  predicts the held-out latents from their x (an estimate of E[z | x]), and
  the metric is the squared error over the latents' variance. Its floor is
  E[Var(z | x)]/Var(z), how much of z the data cannot pin down; it sits near
  1 when the regression sees nothing of the posterior (sleep samples unlike
  the data, a bandwidth far off), which is when the gradient is poor.
  Latents are taken as flat float vectors (one-hot categorical latents give
  class probabilities; spherical ones, the mean direction).
- 'regression_error', the held-out squared error of the predicted
  log p(z, x) relative to the variance of log p(z, x) over the sleep
  samples. That variance can be far smaller than the prediction's error
  (the log joint of prior samples varies by a few nats while its x-dependent
  part is hard to learn in high dimensions), so values of hundreds occur in
  runs that train well: compare it between settings, not with 1.
  `bandwidth='heldout'` picks the kernel bandwidth from a grid around the
  median heuristic by it.

If the model has a guide, `guide_update='sleep'` trains it on the same sleep
samples (−log q_φ(z_n | x_n), as in wake-sleep): ALWS does not need it, but
evaluation and encoding do.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from tfp_zoo import exponential_family as expfam
from tfp_zoo import kernels, nn
from tfp_zoo.estimators import base
from tfp_zoo.models import base as models_base

__all__ = ["alws", "alws_state", "AlwsFeatureMap", "SOLVERS", "FEATURE_MAPS", "BANDWIDTHS"]

SOLVERS = ("random_features", "nystrom", "exact")
FEATURE_MAPS = ("kernel", "learned")
# Families whose natural parameters 'auto' regresses (see the module docstring
# for why Bernoulli is not among them).
_AUTO_FAMILIES = ("Normal", "Poisson")
_BANDWIDTH_GRID = (0.25, 0.5, 1.0, 2.0, 4.0)  # multiples of the median heuristic
BANDWIDTHS = ("median", "cross_median", "heldout")


def _check(num_sleep_samples, num_features, kernel, bandwidth, ridge, solver,
           validation_fraction, guide_update, exponential_family_option):
  base.check_choice(solver, SOLVERS, "solver", "alws")
  base.check_choice(kernel, kernels.KERNELS, "kernel", "alws")
  base.check_choice(guide_update, ("sleep", "none"), "guide_update", "alws")
  base.check_num_samples(num_sleep_samples, "alws", name="num_sleep_samples", minimum=4)
  base.check_num_samples(num_features, "alws", name="num_features")
  if isinstance(bandwidth, str):
    base.check_choice(bandwidth, BANDWIDTHS, "bandwidth", "alws")
  elif not (isinstance(bandwidth, (int, float)) and bandwidth > 0):
    raise ValueError(f"alws: bandwidth={bandwidth!r}; expected 'median', 'cross_median', "
                     "'heldout' or a "
                     "positive number")
  if ridge != "auto" and not (isinstance(ridge, (int, float)) and not isinstance(ridge, bool)
                              and ridge > 0):
    raise ValueError(f"alws: ridge={ridge!r}; expected 'auto' or a positive number")
  if not 0.0 <= validation_fraction < 1.0:
    raise ValueError(f"alws: validation_fraction={validation_fraction} must be in [0, 1)")
  if exponential_family_option not in (True, False, "auto"):
    raise ValueError(f"alws: exponential_family={exponential_family_option!r}; expected "
                     "True, False or 'auto'")


def _flat(x: tf.Tensor, event_ndims: int) -> tf.Tensor:
  return tf.reshape(x, [tf.shape(x)[0], -1]) if event_ndims else x[:, None]


def _smoother(solver, kernel, bandwidth, train_x, query_x, ridge, num_features, seed,
              targets, weights):
  """(S [queries, N_train], λ) of the chosen ridge regression (no gradient);
  ridge='auto' picks λ by leave-one-out error on `targets` seen through `weights`."""
  auto = ridge == "auto"
  if solver == "exact":
    if auto:
      choice = kernels.loo_kernel_ridge_smoother(kernel, bandwidth, train_x, query_x,
                                                 targets, weights)
      return choice.smoother, choice.ridge
    return (kernels.kernel_ridge_smoother(kernel, bandwidth, train_x, query_x, ridge),
            tf.constant(ridge, tf.float32))
  if solver == "nystrom":
    landmarks = train_x[:num_features]  # sleep samples are iid: the first D are random
    features = kernels.nystrom_features(landmarks, kernel, bandwidth)
  else:
    features = kernels.random_fourier_features(
        int(train_x.shape[-1]), num_features, kernel_name=kernel, bandwidth=bandwidth,
        seed=seed)
  if auto:
    choice = kernels.loo_feature_ridge_smoother(features(train_x), features(query_x),
                                                targets, weights)
    return choice.smoother, choice.ridge
  return (kernels.feature_ridge_smoother(features(train_x), features(query_x), ridge),
          tf.constant(ridge, tf.float32))


def _posterior_mean_error(named: dict[str, tf.Tensor], num_train: int,
                          smoother_val: tf.Tensor) -> tf.Tensor:
  """Held-out ‖Ê[z | x] − z‖² / ‖z − z̄‖² with Ê from the smoother's rows."""
  latents = [tf.reshape(tf.cast(v, tf.float32), [tf.shape(v)[0], -1])
             for n, v in named.items() if n != models_base.OBSERVATION]
  z = tf.stop_gradient(tf.concat(latents, axis=-1))
  z_train, z_val = z[:num_train], z[num_train:]
  mean = tf.reduce_mean(z_train, axis=0, keepdims=True)
  predicted = mean + tf.matmul(smoother_val, z_train - mean)
  variance = tf.reduce_mean(tf.reduce_sum(tf.square(z_val - mean), -1))
  return (tf.reduce_mean(tf.reduce_sum(tf.square(predicted - z_val), -1))
          / tf.maximum(variance, 1e-12))


class AlwsFeatureMap(tf.Module):
  """ψ_ω: an MLP from flattened x to F features, with a linear head that
  predicts the standardised regression targets (its training signal)."""

  def __init__(self, input_size: int, num_targets: int, *, feature_size: int = 50,
               hidden_size: int = 200, seed: int = 0):
    super().__init__(name="alws_feature_map")
    self.num_targets = num_targets
    self.network = nn.MLP([input_size, hidden_size, feature_size], activation="relu",
                          seed=(seed, 11), name="network")
    self.head = nn.Dense(feature_size, num_targets, seed=(seed, 12), name="head")

  def __call__(self, inputs: tf.Tensor) -> tf.Tensor:
    """ψ_ω(x) for flattened inputs [N, input_size]: [N, F]."""
    return tf.nn.relu(self.network(inputs))

  def loss(self, features: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
    """Mean squared error of the head, on features ψ_ω(x), against the targets
    standardised per column."""
    mean, variance = tf.nn.moments(targets, axes=[0], keepdims=True)
    standard = (targets - mean) / tf.sqrt(variance + 1e-6)
    return tf.reduce_mean(tf.square(self.head(features) - standard))


def alws_state(model: models_base.LatentVariableModel, *, feature_map: str = "kernel",
               feature_size: int = 50, exponential_family: Any = "auto",
               **unused_options) -> AlwsFeatureMap | None:
  """The `AlwsFeatureMap` that `alws(..., feature_map='learned')` needs (None
  for the plain kernel)."""
  base.check_choice(feature_map, FEATURE_MAPS, "feature_map", "alws")
  if feature_map == "kernel":
    return None
  if not isinstance(feature_size, int) or feature_size < 1:
    raise ValueError(f"alws: feature_size={feature_size!r} must be a positive integer")
  # The number of regression targets: 1, or 1 + the natural parameters' size.
  dists = model.joint().sample_distributions(2, seed=tf.constant([0, 0]))[0]
  observation = dists[-1]
  input_size = int(np.prod(observation.event_shape))
  num_targets = 1
  if exponential_family is True or (
      exponential_family == "auto" and expfam.family(observation) in _AUTO_FAMILIES):
    num_targets += int(expfam.natural_form(observation).natural_parameters.shape[-1])
  return AlwsFeatureMap(input_size, num_targets, feature_size=feature_size)


def alws(model: models_base.LatentVariableModel, x: tf.Tensor, *, seed: tf.Tensor,
         num_sleep_samples: int = 1000, num_features: int = 1000, kernel: str = "gaussian",
         bandwidth: Any = "median", ridge: Any = 1e-3, solver: str = "random_features",
         exponential_family: Any = "auto", validation_fraction: float = 0.1,
         guide_update: str = "sleep", feature_map: str = "kernel",
         feature_size: int = 50, state: Any = None) -> base.Objectives:
  """ALWS losses: −mean Ĵ_θ(x*) for θ; the sleep loss (or 0) for φ.

  Args:
    model: any model with `joint()` (a guide is optional).
    x: a batch of observations [batch, *input_shape].
    seed: stateless seed, int32[2].
    num_sleep_samples: N, samples (z_n, x_n) ~ p_θ per step.
    num_features: D, random Fourier features or Nyström landmarks (ignored by 'exact').
    kernel: 'gaussian' or 'laplace'.
    bandwidth: 'median' (the median heuristic on the sleep samples),
      'cross_median' (the median distance between the data batch and the
      sleep samples: the regression is queried at the data, which may lie
      where sleep samples are sparse), 'heldout' (grid search by held-out
      error around 'median') or a positive number.
    ridge: λ (the penalty is NλI), or 'auto': chosen every step from
      `kernels.RIDGE_GRID` by the exact leave-one-out error of the predicted
      log joint on the sleep samples (one eigendecomposition for all λ).
    solver: 'random_features' (cost linear in N), 'nystrom' or 'exact' (O(N³)).
    exponential_family: regress natural parameters and the log-normaliser
      (True), the log joint (False), or the former for Normal and Poisson
      observations and the latter otherwise ('auto').
    validation_fraction: share of sleep samples held out for the error metric.
    guide_update: 'sleep' trains a model's guide on the sleep samples; 'none'.
    feature_map: 'kernel' (the kernel on x itself) or 'learned' (the kernel on
      ψ_ω(x), trained to predict the targets; needs `state`).
    feature_size: F, the output size of the learned map.
    state: the `AlwsFeatureMap` from `make_state('alws', model,
      feature_map='learned', ...)`; None for feature_map='kernel'.

  Returns:
    `Objectives` with metrics 'posterior_mean_error' and 'regression_error'
    (held out, relative; see the module docstring; absent when
    validation_fraction holds out nothing), 'bandwidth', 'ridge' and
    'sleep_log_joint'.
  """
  _check(num_sleep_samples, num_features, kernel, bandwidth, ridge, solver,
         validation_fraction, guide_update, exponential_family)
  base.check_choice(feature_map, FEATURE_MAPS, "feature_map", "alws")
  if feature_map == "learned" and not isinstance(state, AlwsFeatureMap):
    raise ValueError("alws: feature_map='learned' needs state=tfp_zoo.estimators.make_state("
                     "'alws', model, feature_map='learned') (the launcher makes it)")
  if feature_map == "kernel" and state is not None:
    raise ValueError("alws: state is only used with feature_map='learned'")
  x = base.check_observations(model, x)
  sleep_seed, feature_seed = tf.unstack(tf.random.experimental.stateless_split(
      tf.convert_to_tensor(seed, tf.int32), 2))
  joint = model.joint()
  sample = tf.nest.map_structure(tf.stop_gradient,
                                 joint.sample(num_sleep_samples, seed=sleep_seed))
  named = base.as_named(sample)
  # One pass through the networks for every log-density (with gradient):
  # the distributions conditioned on the stopped sample, in the joint's order.
  dists = joint.sample_distributions(value=sample, seed=sleep_seed)[0]
  log_parts = [d.log_prob(v) for d, v in zip(dists, tf.nest.flatten(sample))]
  observation_dist = dists[-1]
  log_joint = tf.add_n(log_parts)  # [N]
  x_sleep = named[models_base.OBSERVATION]
  event_ndims = int(x.shape.rank) - 1
  form = None
  if exponential_family is True or (
      exponential_family == "auto" and expfam.family(observation_dist) in _AUTO_FAMILIES):
    form = expfam.natural_form(observation_dist)
  if form is not None:
    # g = log p(z) − A(η) = log p(z, x) − log p(x | z) − A(η).
    scalar = log_joint - log_parts[-1] - form.log_normalizer
    targets = tf.concat([scalar[:, None], form.natural_parameters], axis=-1)
  else:
    targets = log_joint[:, None]

  num_val = int(round(num_sleep_samples * validation_fraction))
  num_train = num_sleep_samples - num_val
  if bandwidth == "heldout" and num_val == 0:
    raise ValueError(f"alws: bandwidth='heldout' needs held-out samples, but "
                     f"validation_fraction={validation_fraction} of {num_sleep_samples} "
                     "rounds to none")
  inputs = _flat(tf.cast(x_sleep, tf.float32), event_ndims)
  queries = _flat(tf.cast(x, tf.float32), event_ndims)
  train_targets, val_targets = targets[:num_train], targets[num_train:]
  feature_loss = None
  if feature_map == "learned":
    if int(targets.shape[-1]) != state.num_targets:
      raise ValueError(f"alws: the feature map predicts {state.num_targets} targets but "
                       f"this model has {targets.shape[-1]}; make the state with the same "
                       "exponential_family option")
    features = state(inputs)
    feature_loss = state.loss(features[:num_train], tf.stop_gradient(train_targets))
    inputs, queries = tf.stop_gradient(features), tf.stop_gradient(state(queries))
  train_x, val_x = inputs[:num_train], inputs[num_train:]
  # An unpenalised intercept: regress the centred targets and add their mean
  # back, so the ridge shrinks towards the mean rather than towards zero (the
  # log joint is hundreds of nats from zero). Still linear in the targets.
  target_mean = tf.reduce_mean(train_targets, axis=0, keepdims=True)

  def smooth(smoother, values, mean):
    return mean + tf.matmul(smoother, values - mean)
  val_stats = form.statistics(x_sleep[num_train:]) if form is not None else None

  def predicted_log_joint_error(smoother_val):
    """Held-out squared error of the predicted log p(z, x), over its variance."""
    predicted = smooth(smoother_val, tf.stop_gradient(train_targets),
                       tf.stop_gradient(target_mean))
    error = predicted - tf.stop_gradient(val_targets)
    if form is not None:  # log h(x) is exact, so only g and ηᵀT(x) err
      error = error[:, 0] + tf.reduce_sum(error[:, 1:] * val_stats, axis=-1)
    else:
      error = error[:, 0]
    variance = tf.math.reduce_variance(tf.stop_gradient(log_joint[num_train:]))
    return tf.reduce_mean(tf.square(error)) / tf.maximum(variance, 1e-12)

  all_queries = tf.concat([queries, val_x], axis=0)
  if isinstance(bandwidth, str):
    median = (kernels.median_cross_distance(queries, train_x) if bandwidth == "cross_median"
              else kernels.median_bandwidth(train_x))
    scales = _BANDWIDTH_GRID if bandwidth == "heldout" else (1.0,)
  else:
    median, scales = tf.constant(float(bandwidth)), (1.0,)
  # What ridge='auto' scores: the centred targets, seen through (1, T(x)) in
  # the exponential-family form, i.e. the leave-one-out error of log p(z, x).
  choice_targets = choice_weights = None
  if ridge == "auto":
    choice_targets = tf.stop_gradient(train_targets - target_mean)
    if form is not None:
      stats = form.statistics(x_sleep[:num_train])
      choice_weights = tf.concat([tf.ones_like(stats[:, :1]), stats], axis=-1)
  candidates = []
  for scale in scales:
    smoother, chosen_ridge = _smoother(solver, kernel, median * scale, train_x, all_queries,
                                       ridge, num_features, feature_seed, choice_targets,
                                       choice_weights)
    error = predicted_log_joint_error(smoother[tf.shape(queries)[0]:]) if num_val else None
    candidates.append((error, smoother, median * scale, chosen_ridge))
  if len(candidates) > 1:
    errors = tf.stack([c[0] for c in candidates])
    best = tf.argmin(errors)
    smoother = tf.gather(tf.stack([c[1] for c in candidates]), best)
    error, chosen = errors[best], tf.gather(tf.stack([c[2] for c in candidates]), best)
    chosen_ridge = tf.gather(tf.stack([c[3] for c in candidates]), best)
  else:
    error, smoother, chosen, chosen_ridge = candidates[0]
  smoother_queries = smoother[:tf.shape(queries)[0]]  # [B, N_train]
  if num_val:
    latent_error = _posterior_mean_error(
        named, num_train, tf.stop_gradient(smoother[tf.shape(queries)[0]:]))

  predicted = smooth(smoother_queries, train_targets, target_mean)  # θ-gradient flows
  if form is not None:
    estimate = predicted[:, 0] + tf.reduce_sum(predicted[:, 1:] * form.statistics(x), -1)
  else:
    estimate = predicted[:, 0]
  generative_loss = -tf.reduce_mean(estimate)

  guide_loss = tf.constant(0.0)
  if guide_update == "sleep" and model.guide_variables:
    latents = {n: v for n, v in named.items() if n != models_base.OBSERVATION}
    guide_loss = -tf.reduce_mean(base.guide_log_prob(model, x_sleep, latents))
  if feature_loss is not None:
    guide_loss = guide_loss + feature_loss
  metrics = {"bandwidth": tf.stop_gradient(chosen), "ridge": tf.stop_gradient(chosen_ridge),
             "sleep_log_joint": tf.stop_gradient(tf.reduce_mean(log_joint))}
  if error is not None:  # nothing held out, nothing to report
    metrics["regression_error"] = tf.stop_gradient(error)
    metrics["posterior_mean_error"] = latent_error
  return base.Objectives(generative_loss, guide_loss, metrics)

