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
for the log joint, and a 3x larger gradient error (on the authors' Bernoulli
factorisation, whose logits stay moderate, the natural-parameter form denoised
better: 0.105 against 0.129 pixel error; docs/results/alws.md). With Gaussian pixels it is
the better form. It halves the gradient error on the linear-Gaussian model
(tests/estimators/test_alws.py). Matrix factorisation on continuous MNIST
reached −325 nats after 800 steps with it, and −756 after 3000 without.

Learned feature map (`feature_map='learned'`, with the state from
`make_state('alws', model, feature_map='learned')`): a Gaussian kernel on raw
pixels sees the posterior poorly in 784 dimensions (docs/results/alws.md: the regression
shrinks E[η(z) | x] to its mean and the dictionary gets no gradient). An MLP
ψ_ω(x) → R^F with a linear head is trained, with the guide's optimizer, to
predict the standardised regression targets of the sleep samples (squared
error; the guide loss carries it). The kernel regression then runs on the
stopped features ψ_ω(x). The prediction stays linear in the targets with
smoother weights that do not depend on θ, so the gradient identity above
still holds for any ω.

The targets are centred (an unpenalised intercept), so the ridge shrinks
predictions towards the mean log joint, not towards zero.

Held-out sleep samples (`validation_fraction` × N more, drawn apart from
the N that the regression uses) give two metrics:

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

Amortised over steps (with the `AlwsState` that `make_state('alws', model)`
returns and the trainer passes back): ridge='auto' rechooses λ by
generalised cross-validation every `ridge_every` steps and reuses it in between, solving by
a float32 Cholesky factorisation (λ ≥ 1e-6, `kernels.TPU_SAFE_MIN_RIDGE`);
the metrics are computed every `monitor_every` steps (aligned with the
launcher's logging) and repeated in between. Without a state every call
chooses λ and computes the metrics.

Cost: the networks run once over the sleep samples (each value is stopped as
it is drawn, so later distributions see it as data; `_sleep`), and without
the exponential-family form only the batch-mean smoother row is solved for,
since −mean_b Ĵ(x*_b) is linear in the rows.

If the model has a guide, `guide_update='sleep'` trains it on the same sleep
samples (−log q_φ(z_n | x_n), as in wake-sleep): ALWS does not need it, but
evaluation and encoding do.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import tensorflow as tf
from tensorflow_probability.python.distributions import joint_distribution as jd_lib

from tfp_zoo import exponential_family as expfam
from tfp_zoo import kernels, nn
from tfp_zoo.estimators import base, option_rules as rules
from tfp_zoo.estimators.spec import LATENT_KINDS, register, state_of
from tfp_zoo.models import base as models_base

__all__ = ["alws", "alws_state", "AlwsState", "AlwsFeatureMap", "SOLVERS", "FEATURE_MAPS",
           "BANDWIDTHS"]

SOLVERS = ("random_features", "nystrom", "exact")
FEATURE_MAPS = ("kernel", "learned", "pca")
# Families whose natural parameters 'auto' regresses (see the module docstring
# for why Bernoulli is not among them).
_AUTO_FAMILIES = ("Normal", "Poisson")
_BANDWIDTH_GRID = (0.25, 0.5, 1.0, 2.0, 4.0)  # multiples of the median heuristic
BANDWIDTHS = ("median", "cross_median", "heldout")


def _flat(x: tf.Tensor, event_ndims: int) -> tf.Tensor:
  return tf.reshape(x, [tf.shape(x)[0], -1]) if event_ndims else x[:, None]


def _sleep(joint: Any, num_samples: int, seed: tf.Tensor) -> tuple[list[Any], Any]:
  """(distributions, sample) of `num_samples` ancestral draws from `joint`, in
  one pass through the networks: each value is stopped as it is drawn, so a
  later distribution takes it as data (a reparameterised latent of a learned
  prior passes no gradient into the decoder), while every distribution keeps
  its θ-dependence for the log-densities. The same draws as
  `joint.sample(num_samples, seed=seed)`."""
  execute = getattr(joint, "_call_execute_model", None)
  if execute is None:  # not a TFP JointDistribution: sample, then condition on it
    sample = tf.nest.map_structure(tf.stop_gradient, joint.sample(num_samples, seed=seed))
    return list(joint.sample_distributions(value=sample, seed=seed)[0]), sample

  def stop_and_trace(dist, sample_shape, seed, value=None):
    drawn = jd_lib.trace_distributions_and_values(dist, sample_shape, seed, value)
    value = tf.nest.map_structure(tf.stop_gradient, drawn.value)
    return jd_lib.ValueWithTrace(value=value, traced=(drawn.traced[0], value))
  # pylint: disable=protected-access
  dists, values = zip(*execute(num_samples, seed=seed, sample_and_trace_fn=stop_and_trace))
  return list(dists), joint._model_unflatten(values)


class _Targets:
  """The regression targets of sleep samples: [N, T] with the log joint or,
  in the exponential-family form, [g, η] (module docstring)."""

  def __init__(self, dists: list[Any], sample: Any, exponential_family: Any):
    values = tf.nest.flatten(sample)
    log_parts = [d.log_prob(v) for d, v in zip(dists, values)]
    self.log_joint = tf.add_n(log_parts)  # [N]
    self.named = base.as_named(sample)
    self.x = self.named[models_base.OBSERVATION]
    observation = dists[-1]
    self.form = None
    if exponential_family is True or (
        exponential_family == "auto" and expfam.family(observation) in _AUTO_FAMILIES):
      self.form = expfam.natural_form(observation)
    if self.form is not None:
      # g = log p(z) − A(η) = log p(z, x) − log p(x | z) − A(η).
      scalar = self.log_joint - log_parts[-1] - self.form.log_normalizer
      self.values = tf.concat([scalar[:, None], self.form.natural_parameters], axis=-1)
    else:
      self.values = self.log_joint[:, None]

  def weights(self, x: tf.Tensor) -> tf.Tensor | None:
    """(1, T(x)) per row: predictions are scored as log p(z, x); None for ones."""
    if self.form is None:
      return None
    stats = self.form.statistics(x)
    return tf.concat([tf.ones_like(stats[:, :1]), stats], axis=-1)

  def log_joint_of(self, predicted: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
    """The log joint [Q] from predicted targets [Q, T] at observations x."""
    if self.form is None:
      return predicted[:, 0]
    return predicted[:, 0] + tf.reduce_sum(predicted[:, 1:] * self.form.statistics(x), -1)


class _Regression:
  """One step's kernel ridge regression on the sleep inputs: `represent`
  maps query inputs to what `rows` takes (features, or kernel columns for the
  exact solver); representations average like the smoother rows they give."""

  def __init__(self, solver: str, kernel: str, bandwidth: tf.Tensor, train_x: tf.Tensor,
               num_features: int, seed: tf.Tensor, projection: str):
    # The kernels are translation-invariant: centring changes no smoother, and
    # keeps a bf16 projection's rounding relative to the spread, not the offset.
    center = tf.reduce_mean(train_x, axis=0)
    train_x = train_x - center
    self.exact = solver == "exact"
    if self.exact:
      self._kernel = kernels.kernel(kernel, bandwidth)
      self._train_x = train_x
      self.train = self._kernel.matrix(train_x, train_x)  # the Gram matrix
      self.represent: Callable[[tf.Tensor], tf.Tensor] = (
          lambda q: tf.transpose(self._kernel.matrix(self._train_x, q - center)))
      return
    if solver == "nystrom":
      landmarks = train_x[:num_features]  # sleep samples are iid: the first D are random
      features = kernels.nystrom_features(landmarks, kernel, bandwidth)
    else:
      features = kernels.random_fourier_features(
          int(train_x.shape[-1]), num_features, kernel_name=kernel, bandwidth=bandwidth,
          seed=seed, projection=projection)
    self.represent = lambda q: features(q - center)
    self.train = features(train_x)

  def choose_ridge(self, targets: tf.Tensor, weights: tf.Tensor | None,
                   dtype: tf.DType | None) -> tf.Tensor:
    """λ by generalised cross-validation (`kernels.choose_*_ridge`)."""
    choose = kernels.choose_kernel_ridge if self.exact else kernels.choose_feature_ridge
    return choose(self.train, targets, weights, dtype=dtype)[0]

  def rows(self, ridge: Any, dtype: tf.DType | None) -> Callable[[tf.Tensor], tf.Tensor]:
    """`rows(representation [Q, r]) -> S [Q, N]` at penalty Nλ."""
    if self.exact:
      solve = kernels.kernel_ridge_rows(self.train, ridge, dtype)
      return lambda represented: solve(tf.transpose(represented))
    return kernels.feature_ridge_rows(self.train, ridge, dtype)


def _posterior_mean_error(train_latents: tf.Tensor, val_latents: tf.Tensor,
                          smoother_val: tf.Tensor) -> tf.Tensor:
  """Held-out ‖Ê[z | x] − z‖² / ‖z − z̄‖² with Ê from the smoother's rows."""
  mean = tf.reduce_mean(train_latents, axis=0)
  predicted = tf.matmul(smoother_val, train_latents - mean) + mean
  variance = tf.reduce_mean(tf.reduce_sum(tf.square(val_latents - mean), -1))
  return (tf.reduce_mean(tf.reduce_sum(tf.square(predicted - val_latents), -1))
          / tf.maximum(variance, 1e-12))


def _latents(named: dict[str, tf.Tensor]) -> tf.Tensor:
  """The latents as one flat float vector per sample [N, L] (no gradient)."""
  parts = [tf.reshape(tf.cast(v, tf.float32), [tf.shape(v)[0], -1])
           for n, v in named.items() if n != models_base.OBSERVATION]
  return tf.stop_gradient(tf.concat(parts, axis=-1))


class AlwsState(tf.Module):
  """What ALWS keeps between steps (`make_state('alws', model, ...)`).

  `calls` counts steps; `ridge` is the λ last chosen by cross-validation
  (ridge='auto' rechooses it every `ridge_every` steps); the two monitor
  variables hold the last held-out metrics (computed every `monitor_every`
  steps). With feature_map='learned' it also holds ψ_ω: an MLP from
  flattened x to F features (`network`), with a linear `head` that predicts
  the standardised regression targets (its training signal, `loss`).

  Args:
    input_size: the flattened observation's size for feature_map='learned'
      (default None: no learned map).
    num_targets: the number of regression targets the learned map's head
      predicts (with `input_size`).
    feature_size: F, the learned map's number of features (default 50).
    hidden_size: width of the learned map's hidden layer (default 200).
    seed: integer seed of the learned map's initial weights (default 0).
    pca: (input size, components) for feature_map='pca' (default None: no
      PCA); the projection is fitted by `fit_data`.
  """

  def __init__(self, *, input_size: int | None = None, num_targets: int | None = None,
               feature_size: int = 50, hidden_size: int = 200, seed: int = 0,
               pca: tuple[int, int] | None = None):
    super().__init__(name="alws_state")
    # Assigned inside the step: under a multi-replica strategy every replica
    # takes the first replica's value, so the copies never diverge.
    variable = lambda value, dtype, name: tf.Variable(
        value, dtype=dtype, trainable=False, name=name,
        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    self.calls = variable(0, tf.int64, "calls")
    self.ridge = variable(1e-3, tf.float32, "ridge")
    self.posterior_mean_error = variable(1.0, tf.float32, "posterior_mean_error")
    self.regression_error = variable(1.0, tf.float32, "regression_error")
    self.num_targets = num_targets
    self.learned = input_size is not None
    self.pca = pca is not None
    if self.pca:  # (input size, components): fitted by `fit_data`, then kept
      self.pca_mean = variable(tf.zeros([pca[0]]), tf.float32, "pca_mean")
      self.pca_projection = variable(tf.zeros(pca), tf.float32, "pca_projection")
      self.pca_fitted = variable(False, tf.bool, "pca_fitted")
    if self.learned:
      self.network = nn.MLP([input_size, hidden_size, feature_size], activation="relu",
                            seed=(seed, 11), name="network")
      self.head = nn.Dense(feature_size, num_targets, seed=(seed, 12), name="head")

  def fit_data(self, images: np.ndarray) -> None:
    """Fits the whitened PCA of feature_map='pca' on training images (the
    training loop calls it before the first step; a restored checkpoint then
    brings back the fitted values): u(x) = Λ_p^{-1/2} V_pᵀ (x − x̄) with the
    top-p eigenpairs of the images' covariance."""
    if not self.pca:
      return
    flat = np.asarray(images, np.float64).reshape(len(images), -1)
    mean = flat.mean(axis=0)
    covariance = np.cov(flat - mean, rowvar=False) if len(flat) > 1 else np.zeros(
        [flat.shape[1]] * 2)
    eigenvalues, vectors = np.linalg.eigh(covariance)
    size = int(self.pca_projection.shape[1])
    top = np.argsort(eigenvalues)[::-1][:size]
    # Directions without variance (size > rank) are left at zero scale.
    scale = np.where(eigenvalues[top] > 1e-8 * max(eigenvalues.max(), 1e-30),
                     1.0 / np.sqrt(np.maximum(eigenvalues[top], 1e-30)), 0.0)
    self.pca_mean.assign(mean.astype(np.float32))
    self.pca_projection.assign((vectors[:, top] * scale).astype(np.float32))
    self.pca_fitted.assign(True)

  def whiten(self, inputs: tf.Tensor) -> tf.Tensor:
    """The whitened PCA coordinates of flattened inputs [N, d]: [N, p]."""
    return tf.matmul(inputs - self.pca_mean, self.pca_projection)

  def __call__(self, inputs: tf.Tensor) -> tf.Tensor:
    """ψ_ω(x) for flattened inputs [N, input_size]: [N, F]."""
    return tf.nn.relu(self.network(inputs))

  def loss(self, features: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
    """Mean squared error of the head, on features ψ_ω(x), against the targets
    standardised per column."""
    mean, variance = tf.nn.moments(targets, axes=[0], keepdims=True)
    standard = (targets - mean) / tf.sqrt(variance + 1e-6)
    return tf.reduce_mean(tf.square(self.head(features) - standard))


AlwsFeatureMap = AlwsState  # the name of the learned-map state before it kept more


@state_of("alws")
def alws_state(model: models_base.LatentVariableModel, *, feature_map: str = "kernel",
               feature_size: int = 50, exponential_family: Any = "auto",
               **unused_options: Any) -> AlwsState:
  """The `AlwsState` that `alws` amortises its λ choice and monitor with, and
  that holds the learned map of feature_map='learned' or the whitened PCA of
  feature_map='pca' (`feature_size` components; fit it with `fit_data`).

  Args:
    model: the model to train; its observation distribution sizes the learned
      map's input and targets.
    feature_map: 'kernel' (default), 'pca' or 'learned'.
    feature_size: F, features of the learned map or PCA components (default
      50; PCA keeps at most the observation's size).
    exponential_family: whether the learned map's head also predicts the
      observation's natural parameters: True, False or 'auto' (default: for
      the families `alws` regresses).
    **unused_options: the estimator's other options, ignored here.

  Returns:
    A new `AlwsState` for `feature_map`.
  """
  if feature_map == "kernel":
    return AlwsState()
  if feature_map == "pca":
    input_size = int(np.prod(model.input_shape))
    return AlwsState(pca=(input_size, min(feature_size, input_size)))
  # The number of regression targets: 1, or 1 + the natural parameters' size.
  dists = model.joint().sample_distributions(2, seed=tf.constant([0, 0]))[0]
  observation = dists[-1]
  input_size = int(np.prod(observation.event_shape))
  num_targets = 1
  if exponential_family is True or (
      exponential_family == "auto" and expfam.family(observation) in _AUTO_FAMILIES):
    num_targets += int(expfam.natural_form(observation).natural_parameters.shape[-1])
  return AlwsState(input_size=input_size, num_targets=num_targets, feature_size=feature_size)


@register(
    "alws", latents=LATENT_KINDS, state=alws_state,
    rules={"num_sleep_samples": rules.integer(4), "num_features": rules.integer(1),
           "kernel": rules.one_of(*kernels.KERNELS),
           "bandwidth": rules.either(rules.one_of(*BANDWIDTHS), rules.positive()),
           "ridge": rules.either(rules.one_of("auto"), rules.positive()),
           "ridge_every": rules.integer(1), "solver": rules.one_of(*SOLVERS),
           "projection": rules.one_of(*kernels.PROJECTIONS),
           "exponential_family": rules.one_of(True, False, "auto"),
           "validation_fraction": rules.number(0, 1, high_open=True),
           "monitor_every": rules.integer(1), "guide_update": rules.one_of("sleep", "none"),
           "guide_sleep_samples": rules.integer(1), "feature_map": rules.one_of(*FEATURE_MAPS),
           "feature_size": rules.integer(1)},
    used_when={"feature_size": ("feature_map", ("learned", "pca")),
               "ridge_every": ("ridge", ("auto",)),
               "projection": ("solver", ("random_features",)),
               "guide_sleep_samples": ("guide_update", ("sleep",)),
               # The exact kernel solver uses every sleep sample, no features.
               "num_features": ("solver", ("random_features", "nystrom"))},
    # Defaults changed on 2026-11-27: runs saved before config.json pinned
    # every default resume with the old ones.
    legacy_defaults={"ridge": 1e-3, "projection": "dense", "guide_sleep_samples": 10**9},
    summary=("amortised learning by wake-sleep (Li et al. 2020): ridge regression of log "
             "p_θ(z, x) (or, for Normal/Poisson pixels by default and Bernoulli with "
             "`exponential_family=true`, of the natural parameters and log-normaliser) on "
             "kernel features of x over sleep samples; differentiating the prediction at the "
             "data gives ∇θ log p_θ(x). No guide needed"))
def alws(model: models_base.LatentVariableModel, x: tf.Tensor, *, seed: tf.Tensor,
         num_sleep_samples: int = 1000, num_features: int = 1000, kernel: str = "gaussian",
         bandwidth: Any = "median", ridge: Any = "auto", ridge_every: int = 100,
         solver: str = "random_features", projection: str = "bfloat16",
         exponential_family: Any = "auto",
         validation_fraction: float = 0.1, monitor_every: int = 100,
         guide_update: str = "sleep", guide_sleep_samples: int = 100,
         feature_map: str = "kernel", feature_size: int = 50,
         state: Any = None) -> base.Objectives:
  """ALWS losses: −mean Ĵ_θ(x*) for θ; the sleep loss (or 0) for φ.

  Args:
    model: any model with `joint()` (a guide is optional).
    x: a batch of observations [batch, *input_shape].
    seed: stateless seed, int32[2].
    num_sleep_samples: N, samples (z_n, x_n) ~ p_θ per step for the regression.
    num_features: D, random Fourier features or Nyström landmarks (ignored by 'exact').
    kernel: 'gaussian' or 'laplace'.
    bandwidth: 'median' (the median heuristic on the sleep samples),
      'cross_median' (the median distance between the data batch and the
      sleep samples: the regression is queried at the data, which may lie
      where sleep samples are sparse), 'heldout' (grid search by held-out
      error around 'median') or a positive number.
    ridge: λ (the penalty is NλI), or 'auto': chosen from `kernels.RIDGE_GRID`
      by generalised cross-validation of the predicted log joint on the
      sleep samples (one eigendecomposition for all λ).
    ridge_every: with a `state`, ridge='auto' rechooses λ every this many
      steps (the first step included) and reuses it in between. Without a
      state, ridge='auto' needs ridge_every=1: λ chosen at every call by a
      float64 eigendecomposition (slow; refused by default, so a pipeline
      that forgets the state learns so at once).
    solver: 'random_features' (cost linear in N), 'nystrom' or 'exact' (O(N³)).
    projection: how random features project x (`kernels.random_fourier_features`):
      'bfloat16' (bf16 operands, float32 accumulation; inputs are centred
      first), 'dense' (float32) or 'structured' (Hadamard blocks).
    exponential_family: regress natural parameters and the log-normaliser
      (True), the log joint (False), or the former for Normal and Poisson
      observations and the latter otherwise ('auto').
    validation_fraction: held-out sleep samples for the metrics, as a share
      of N (drawn in addition to the N); 0 computes no metric.
    monitor_every: with a `state`, the metrics are computed on the first step
      and every this many steps, and repeated in between.
    guide_update: 'sleep' trains a model's guide on the sleep samples; 'none'.
    guide_sleep_samples: how many of the (iid) sleep samples the guide's
      update uses: a random subset gives the same expected gradient, and the
      encoder then costs what a data batch of that size does, not N.
    feature_map: 'kernel' (the kernel on x itself), 'learned' (the kernel on
      ψ_ω(x), trained to predict the targets; needs `state`) or 'pca' (the
      kernel on the data's whitened principal components, fitted on the
      training data at the start and kept in `state`).
    feature_size: F, the output size of the learned map, or the number of
      principal components.
    state: the `AlwsState` from `make_state('alws', model, ...)` (the trainer
      makes and passes it), or None: every call then chooses λ and measures.

  Returns:
    `Objectives` with metrics 'posterior_mean_error' and 'regression_error'
    (held out, relative; see the module docstring; absent when
    validation_fraction holds out nothing), 'bandwidth', 'ridge' and
    'sleep_log_joint'.
  """
  if state is not None and not isinstance(state, AlwsState):
    raise ValueError("alws: state must be the AlwsState of tfp_zoo.estimators.make_state("
                     f"'alws', model, ...), got {type(state).__name__}")
  if feature_map == "learned" and (state is None or not state.learned):
    raise ValueError("alws: feature_map='learned' needs state=tfp_zoo.estimators.make_state("
                     "'alws', model, feature_map='learned') (the launcher makes it)")
  if feature_map == "pca" and (state is None or not state.pca):
    raise ValueError("alws: feature_map='pca' needs state=tfp_zoo.estimators.make_state("
                     "'alws', model, feature_map='pca') fitted by state.fit_data(images) "
                     "(the launcher does both)")
  if feature_map == "kernel" and state is not None and (state.learned or state.pca):
    raise ValueError("alws: this state holds a learned or PCA feature map; pass its "
                     "feature_map or make the state with feature_map='kernel'")
  num_val = int(round(num_sleep_samples * validation_fraction))
  if bandwidth == "heldout" and num_val == 0:
    raise ValueError(f"alws: bandwidth='heldout' needs held-out samples, but "
                     f"validation_fraction={validation_fraction} of {num_sleep_samples} "
                     "rounds to none")
  if state is None and ridge == "auto" and ridge_every != 1:
    # Without state λ would be re-chosen by a float64 eigendecomposition at every
    # call (1.5 s a step on a 2-core host, 170x an ELBO step), silently.
    raise ValueError("alws: ridge='auto' keeps its chosen λ in the estimator's state; bind "
                     "it once: estimator = tfp_zoo.estimators.bind('alws', ...); state = "
                     "estimator.init(model); then estimator(model, x, seed=seed, "
                     "state=state) at every step (or a fixed ridge, e.g. ridge=1e-3, or "
                     "ridge_every=1 to choose λ at every call, one eigendecomposition each)")
  x = base.check_observations(model, x)
  sleep_seed, feature_seed, val_seed = tf.unstack(tf.random.experimental.stateless_split(
      tf.convert_to_tensor(seed, tf.int32), 3))
  joint = model.joint()
  train = _Targets(*_sleep(joint, num_sleep_samples, sleep_seed), exponential_family)
  if state is not None and state.learned and int(train.values.shape[-1]) != state.num_targets:
    raise ValueError(f"alws: the feature map predicts {state.num_targets} targets but "
                     f"this model has {train.values.shape[-1]}; make the state with the same "
                     "exponential_family option")
  event_ndims = int(x.shape.rank) - 1
  flat = lambda v: _flat(tf.cast(v, tf.float32), event_ndims)
  inputs, queries = flat(train.x), flat(x)
  guide_loss = tf.constant(0.0)
  if feature_map == "learned":
    features = state(inputs)
    guide_loss += state.loss(features, tf.stop_gradient(train.values))
    inputs, queries = tf.stop_gradient(features), tf.stop_gradient(state(queries))
    flat = lambda v: tf.stop_gradient(state(_flat(tf.cast(v, tf.float32), event_ndims)))
  elif feature_map == "pca":  # the kernel on whitened principal components of the data
    inputs, queries = state.whiten(inputs), state.whiten(queries)
    flat = lambda v: state.whiten(_flat(tf.cast(v, tf.float32), event_ndims))
  # An unpenalised intercept: regress the centred targets and add their mean
  # back, so the ridge shrinks towards the mean rather than towards zero (the
  # log joint is hundreds of nats from zero). Still linear in the targets.
  target_mean = tf.reduce_mean(train.values, axis=0)  # [T]: a 1-D bias fuses with matmul
  centred = train.values - target_mean
  stopped = tf.stop_gradient(centred)

  def validation():
    """Held-out sleep samples: their targets and flat inputs (no gradient)."""
    held_out = _Targets(*_sleep(joint, num_val, val_seed), exponential_family)
    return held_out, flat(held_out.x)

  def log_joint_error(held_out, rows_val):
    """Held-out squared error of the predicted log p(z, x), over its variance."""
    predicted = tf.matmul(rows_val, stopped) + tf.stop_gradient(target_mean)
    error = (held_out.log_joint_of(predicted, held_out.x)
             - tf.stop_gradient(held_out.log_joint))
    variance = tf.math.reduce_variance(tf.stop_gradient(held_out.log_joint))
    return tf.reduce_mean(tf.square(error)) / tf.maximum(variance, 1e-12)

  # Amortised (with a state): a float32 solve, λ from the state between choices.
  amortised = state is not None and ridge == "auto"
  dtype = tf.float32 if amortised else None
  if isinstance(bandwidth, str):
    median = (kernels.median_cross_distance(queries, inputs) if bandwidth == "cross_median"
              else kernels.median_bandwidth(inputs))
  else:
    median = tf.constant(float(bandwidth))

  def regression_at(width):
    regression = _Regression(solver, kernel, width, inputs, num_features, feature_seed,
                             projection)
    if ridge != "auto":
      return regression, tf.constant(ridge, tf.float32)
    choose = lambda: regression.choose_ridge(stopped, train.weights(train.x), dtype)
    if not amortised:
      return regression, choose()
    due = tf.equal(state.calls % ridge_every, 0)
    chosen = tf.cond(due, choose, lambda: tf.identity(state.ridge))
    return regression, chosen

  held_out = None
  if bandwidth == "heldout":  # every step: the grid is scored on held-out samples
    held_out, val_inputs = validation()
    errors, ridges = [], []
    for scale in _BANDWIDTH_GRID:
      regression, chosen_ridge = regression_at(median * scale)
      rows = regression.rows(chosen_ridge, dtype)
      errors.append(log_joint_error(held_out, rows(regression.represent(val_inputs))))
      ridges.append(chosen_ridge)
    # The best grid point, picked in the graph and refitted (the same features:
    # the feature seed does not depend on the bandwidth).
    index = tf.argmin(tf.stack(errors))
    width = median * tf.gather(tf.constant(_BANDWIDTH_GRID, tf.float32), index)
    chosen_ridge = tf.gather(tf.stack(ridges), index)
    regression = _Regression(solver, kernel, width, inputs, num_features, feature_seed,
                             projection)
    rows = regression.rows(chosen_ridge, dtype)
  else:
    width = median
    regression, chosen_ridge = regression_at(width)
    rows = regression.rows(chosen_ridge, dtype)

  represented = regression.represent(queries)
  if train.form is None:
    # −mean_b Ĵ(x*_b) needs only the mean smoother row: one right-hand side.
    mean_row = rows(tf.reduce_mean(represented, axis=0, keepdims=True))  # [1, N]
    estimate = tf.matmul(mean_row, centred)[:, 0] + target_mean[0]
  else:  # ηᵀT(x*) differs per query: every row
    estimate = train.log_joint_of(tf.matmul(rows(represented), centred) + target_mean, x)
  generative_loss = -tf.reduce_mean(estimate)  # θ-gradient flows through the targets

  if guide_update == "sleep" and model.guide_variables:
    size = min(guide_sleep_samples, num_sleep_samples)
    latents = {n: v[:size] for n, v in train.named.items() if n != models_base.OBSERVATION}
    guide_loss += -tf.reduce_mean(base.guide_log_prob(model, train.x[:size], latents))
  metrics = {"bandwidth": tf.stop_gradient(width), "ridge": tf.stop_gradient(chosen_ridge),
             "sleep_log_joint": tf.stop_gradient(tf.reduce_mean(train.log_joint))}
  if num_val:
    def measure():
      if held_out is None:
        held_out_now, val_inputs = validation()
      else:
        held_out_now, val_inputs = held_out, flat(held_out.x)
      rows_val = tf.stop_gradient(rows(regression.represent(val_inputs)))
      return (_posterior_mean_error(_latents(train.named), _latents(held_out_now.named),
                                    rows_val),
              log_joint_error(held_out_now, rows_val))
    if state is None:
      latent_error, error = measure()
    else:
      due = tf.logical_or(tf.equal(state.calls, 0),
                          tf.equal((state.calls + 1) % monitor_every, 0))
      latent_error, error = tf.cond(due, measure, lambda: (
          tf.identity(state.posterior_mean_error), tf.identity(state.regression_error)))
      state.posterior_mean_error.assign(latent_error)
      state.regression_error.assign(error)
    metrics["regression_error"] = tf.stop_gradient(error)
    metrics["posterior_mean_error"] = tf.stop_gradient(latent_error)
  if state is not None:
    if ridge == "auto":
      state.ridge.assign(chosen_ridge)
    state.calls.assign_add(1)
  return base.Objectives(generative_loss, guide_loss, metrics)
