"""A generic, compiled train step (one optimizer for θ, one for φ), and the
`Trainer` that owns everything a step changes: θ, φ, the estimator's state,
both optimizers and the step counter."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping

import numpy as np
import tensorflow as tf
import tf_keras

from tfp_zoo.nn import precision as precision_lib
from tfp_zoo.errors import TrainingDivergedError
from tfp_zoo.estimators import base as estimators_base
from tfp_zoo.estimators.base import Objectives, objectives_and_gradients
from tfp_zoo.estimators.binding import BoundEstimator, bind, option_names
from tfp_zoo.models.base import LatentVariableModel
from tfp_zoo.training.distribute import replica_seed
from tfp_zoo.training.step_config import LEGACY_KEYWORDS, StepConfig

__all__ = ["make_optimizer", "make_train_step", "make_replica_step", "make_objectives",
           "step_seed", "Trainer", "FINITE", "StepConfig"]

# The step's settings as make_train_step keywords (dataset_size stays
# beta_tc_vae's option there: the step's is config.dataset_size).
_STEP_KEYWORDS = (set(LEGACY_KEYWORDS) | {f.name for f in dataclasses.fields(StepConfig)}) - {
    "dataset_size"}

TrainStep = Callable[[tf.Tensor, tf.Tensor], Mapping[str, tf.Tensor]]
Optimizer = tf_keras.optimizers.legacy.Optimizer
LossScaleOptimizer = tf_keras.mixed_precision.LossScaleOptimizer
# The key of the step's metrics that says whether the losses and the updated
# variables are all finite (checked inside the compiled step, at every step).
FINITE = "finite"


def make_optimizer(learning_rate: float, variables: tuple[tf.Variable, ...], *,
                   loss_scale: bool = False) -> Optimizer:
  """Adam with its slots created now, not lazily inside a traced function.

  tf_keras's `legacy.Adam` applies each update with one fused
  `ResourceApplyAdam` kernel; Keras 3's Adam builds ~10 ops per variable and
  made the whole VAE train step 4-10% slower on CPU (benchmarks/throughput.py).
  `loss_scale` wraps it in a dynamic `LossScaleOptimizer` (float16 training):
  it skips a step whose gradients overflow and lowers the scale.

  Args:
    learning_rate: Adam's learning rate.
    variables: the variables it will update (its slots are created for
      them); may be empty.
    loss_scale: wrap it in a `LossScaleOptimizer` (default False).

  Returns:
    A `tf_keras.optimizers.legacy.Adam`, or a `LossScaleOptimizer` around
    one.
  """
  optimizer = tf_keras.optimizers.legacy.Adam(learning_rate)
  if variables:
    optimizer._create_all_weights(list(variables))  # pylint: disable=protected-access
  return LossScaleOptimizer(optimizer) if loss_scale else optimizer


def step_seed(seed: int | tf.Tensor, step: tf.Tensor) -> tf.Tensor:
  """The stateless seed of training step `step`: a pure function of (seed, step).

  Args:
    seed: the run's integer seed.
    step: the step number (integer scalar).

  Returns:
    int32[2], `fold_in((seed, 1), step)`.
  """
  base = tf.stack([tf.cast(seed, tf.int32), tf.constant(1, tf.int32)])
  return tf.random.experimental.stateless_fold_in(base, tf.cast(step, tf.int32))


def _all_finite(tensors: list[tf.Tensor]) -> tf.Tensor:
  """One reduction: a NaN or infinity anywhere makes the sum non-finite."""
  sums = [tf.reduce_sum(tf.cast(t, tf.float32)) for t in tensors if t.dtype.is_floating]
  return tf.math.is_finite(tf.add_n(sums)) if sums else tf.constant(True)


def make_train_step(model: LatentVariableModel,
                    estimator: BoundEstimator | Callable[..., Objectives],
                    generative_optimizer: Optimizer,
                    guide_optimizer: Optimizer | None = None, *,
                    config: StepConfig | None = None,
                    state: tf.Module | None = None,
                    strategy: tf.distribute.Strategy | None = None,
                    **options: Any) -> TrainStep:
  """Returns `step(x, step_number) -> metrics`, compiled with `tf.function`.

  `config` holds the step's settings (`StepConfig`: seed, precision, jit,
  KL warm-up, train_generative, dataset size, float64_free); its fields as
  keywords (and the older names `tpu_safe`, `train_size`) build one.
  Other keywords are the options of an unbound estimator function (so
  `dataset_size=` is beta_tc_vae's; the step's is `config.dataset_size`).

  The step applies grad(generative_loss, θ) with `generative_optimizer` and
  grad(guide_loss, φ) with `guide_optimizer`; when the estimator returns the
  same tensor for both losses (ELBO, IWAE) one backward pass serves both. An
  estimator's `state` is passed as `state=`, and its trainable variables join
  φ. `estimator` is a `BoundEstimator` (`estimators.bind`) or a plain function
  with its `estimator_options`. `Trainer` builds all of this from one bound
  estimator; this function is for custom loops and tests.

  The metrics hold both losses, the estimator's metrics and `FINITE`: whether
  both losses and every updated variable are finite after this step.

  `config.kl_warmup_steps` > 0 (estimators with a KL weight `beta`, e.g. elbo) passes
  β_s = β · min(1, (s + 1) / kl_warmup_steps) at step s: a pure function of
  the step, so a resumed run continues the schedule exactly.

  With a `strategy` (model and optimizers built in its scope), `x` is a
  distributed batch (`distribute.distribute_batches`): each replica runs the
  estimator on its slice with its own seed, gradients are scaled by 1/R and
  summed by the optimizers, and the metrics are averaged over replicas.

  `config.precision` ('float32', 'bfloat16', 'mixed_float16';
  `tfp_zoo.nn.precision`) is the arithmetic of the networks in the step; with
  'mixed_float16' both optimizers must be `make_optimizer(..., loss_scale=True)`.
  `config.float64_free` builds no float64 op (`precision.tpu_safe`; TPUs have
  none).

  A model with a prior on θ (`parameter_log_prior()` not None) needs
  `config.dataset_size`, the number of training examples: θ's loss gains
  −log p(θ)/dataset_size (metric 'parameter_log_prior'), so an epoch of steps
  sees the prior once.

  `config.train_generative=False` freezes θ at its current value and trains only
  the guide (and the estimator's trainable state) by the estimator's guide
  loss: amortised inference for a fixed model (`polynomial_regression`, whose
  θ is empty), or a new guide for a trained one. With wake_sleep that is the
  sleep update alone, E_{p(z, x)}[−∇φ log q_φ(z | x)] (forward KL from the
  model's own samples); with elbo and iwae, their φ-gradients on the data
  (reverse KL, or its K-sample tightening); with rws, wake-φ. A step in which
  nothing would train is refused.

  Args:
    model: the model to train.
    estimator: a `BoundEstimator`, or an estimator function whose options
      are `**options`.
    generative_optimizer: the optimizer of θ.
    guide_optimizer: the optimizer of φ and the state's trainable variables
      (default None: nothing to train there).
    config: the step's settings (`StepConfig`; default: built from the
      keywords).
    state: the estimator's state (default None).
    strategy: the `tf.distribute.Strategy` the model was built under
      (default None).
    **options: `StepConfig` fields (or their older names), then the options
      of an unbound estimator function.

  Returns:
    `step(x, step_number) -> metrics`: a `tf.function` that updates the
    variables and returns a dict of scalar metrics (both losses, the
    estimator's metrics, `FINITE`).
  """
  settings = {k: options.pop(k) for k in list(options) if k in _STEP_KEYWORDS}
  config = StepConfig.from_keywords(config, "make_train_step", **settings)
  replicas = strategy.num_replicas_in_sync if strategy is not None else 1
  replica_step = make_replica_step(model, estimator, generative_optimizer, guide_optimizer,
                                   config=config, state=state, replicas=replicas, **options)
  compiled = tf.function(replica_step, jit_compile=config.jit_compile, autograph=False)
  if strategy is None:
    return compiled

  @tf.function(autograph=False)
  def step(x: Any, step_number: tf.Tensor) -> dict[str, tf.Tensor]:
    metrics = strategy.run(compiled, args=(x, step_number))
    # FINITE's mean is 1 only if every replica is finite.
    return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
            for k, v in metrics.items()}

  return step


def make_replica_step(model: LatentVariableModel,
                      estimator: BoundEstimator | Callable[..., Objectives],
                      generative_optimizer: Any,
                      guide_optimizer: Any | None = None, *,
                      config: StepConfig | None = None,
                      state: tf.Module | None = None,
                      replicas: int = 1,
                      **options: Any) -> TrainStep:
  """`make_train_step`'s step as one replica runs it, not compiled: for a loop
  that compiles and distributes the step itself (`tfp_zoo.keras.EstimatorModel`
  under Keras's `fit`).

  Args and checks are `make_train_step`'s; `replicas` is the number of
  replicas whose gradients the optimizers sum (each replica's gradients are
  scaled by 1/replicas). The optimizers are anything with
  `apply_gradients(pairs)`: tf_keras's, or Keras 3's.

  Returns:
    `replica_step(x, step_number) -> metrics` (`make_train_step`'s metrics).
  """
  settings = {k: options.pop(k) for k in list(options) if k in _STEP_KEYWORDS}
  config = StepConfig.from_keywords(config, "make_train_step", **settings)
  seed, precision = config.seed, config.precision
  train_generative = config.train_generative
  if not isinstance(estimator, BoundEstimator):
    estimator = bind(estimator, **options)
  elif options:
    raise ValueError("options belong to the bound estimator: bind(name, **options)")
  theta = tuple(model.generative_variables) if train_generative else ()
  phi = tuple(model.guide_variables)
  if state is not None:
    phi += tuple(state.trainable_variables)
  if train_generative and not theta:
    raise ValueError(f"{type(model).__name__} has no generative variables: train only "
                     "its guide with train_generative=False")
  if not train_generative and not phi:
    raise ValueError(f"train_generative=False trains only the guide, and "
                     f"{type(model).__name__} has none: nothing would train")
  if phi and guide_optimizer is None:
    raise ValueError("the model has guide variables: pass a guide_optimizer")
  # The warm-up's and the parameter prior's checks, before the replicas'.
  objectives_at = make_objectives(model, estimator, config=config, state=state)
  checked = list(theta + phi) + (list(state.variables) if state is not None else [])

  # State the step assigns itself (not through an optimizer) must say how the
  # replicas agree; only first-replica assignment (AlwsState) is tested.
  unsynced = [v.name for v in (state.variables if state is not None else ())
              if not v.trainable
              and v.aggregation != tf.VariableAggregation.ONLY_FIRST_REPLICA]
  if replicas > 1 and unsynced:
    raise ValueError("an estimator with state it assigns itself (e.g. nvil's moving "
                     f"averages: {', '.join(unsynced)}) is not supported with more than "
                     "one replica yet")

  scalers = None
  if precision == "mixed_float16":
    scalers = (generative_optimizer, guide_optimizer)
    if not all(isinstance(o, LossScaleOptimizer) for o in scalers if o is not None):
      raise ValueError("precision='mixed_float16' needs loss scaling: build the optimizers "
                       "with make_optimizer(..., loss_scale=True)")

  def replica_step(x: tf.Tensor, step_number: tf.Tensor) -> dict[str, tf.Tensor]:
    # Both are read while tracing: the graph's matmul dtype, and no float64 on TPUs.
    with precision_lib.using(precision), precision_lib.tpu_safe(config.float64_free):
      objectives, theta_grads, phi_grads = objectives_and_gradients(
          lambda: objectives_at(x, replica_seed(step_seed(seed, step_number)), step_number),
          theta, phi, loss_scalers=scalers)
    if replicas > 1:  # the optimizers sum over replicas: make that the mean
      theta_grads = [None if g is None else g / replicas for g in theta_grads]
      phi_grads = [None if g is None else g / replicas for g in phi_grads]
    if theta:
      generative_optimizer.apply_gradients(zip(theta_grads, theta))
    # An estimator may leave φ alone (alws with guide_update='none'): skip the
    # variables it gives no gradient, rather than failing in the optimizer.
    phi_pairs = [(g, v) for g, v in zip(phi_grads, phi) if g is not None]
    if not theta and not phi_pairs:  # seen while tracing, before any update
      raise ValueError(f"train_generative=False, and estimator {estimator.name!r} gives "
                       "the guide no gradient with these options: nothing would train")
    if phi_pairs:
      guide_optimizer.apply_gradients(phi_pairs)
    metrics = {"generative_loss": objectives.generative_loss,
               "guide_loss": objectives.guide_loss}
    metrics.update(objectives.metrics)
    finite = _all_finite([objectives.generative_loss, objectives.guide_loss]
                         + [v.read_value() for v in checked])
    metrics[FINITE] = tf.cast(finite, tf.float32)
    return metrics

  return replica_step


def make_objectives(model: LatentVariableModel, estimator: BoundEstimator, *,
                    config: StepConfig,
                    state: tf.Module | None = None) -> Callable[..., Objectives]:
  """`objectives(x, seed, step_number)`: the estimator's `Objectives` on batch
  `x` as the train step differentiates them at step `step_number`.

  That is the estimator with its state, β of the KL warm-up at that step
  (`config.kl_warmup_steps`), and, for a model with a prior on θ (and
  `config.train_generative`), −log p(θ)/`config.dataset_size` added to θ's loss
  (metric 'parameter_log_prior'). `seed` is the stateless seed of the draws.
  """
  warmup = _warmup(estimator, config.kl_warmup_steps)
  has_prior = config.train_generative and model.parameter_log_prior() is not None
  if has_prior and not config.dataset_size:
    raise ValueError(f"{type(model).__name__} has a prior on its parameters: give "
                     "StepConfig(dataset_size=...) (the number of training examples) to "
                     "weigh it")

  def objectives(x: tf.Tensor, seed: tf.Tensor, step_number: tf.Tensor) -> Objectives:
    result = estimator(model, x, seed=seed, state=state, **warmup(step_number))
    if not has_prior:
      return result
    log_prior = model.parameter_log_prior()
    loss = result.generative_loss - log_prior / float(config.dataset_size)
    same = result.generative_loss is result.guide_loss
    return Objectives(loss, loss if same else result.guide_loss,
                      {**result.metrics, "parameter_log_prior": log_prior})

  return objectives


def _warmup(estimator: BoundEstimator,
            steps: int) -> Callable[[tf.Tensor], dict[str, tf.Tensor]]:
  """step -> the scheduled options ({} without a warm-up)."""
  if not steps:
    return lambda step_number: {}
  if "beta" not in option_names(estimator.fn):
    raise ValueError(f"kl_warmup_steps: estimator {estimator.name!r} has no KL weight "
                     "(beta); use elbo")
  target = float(estimator.options.get("beta", 1.0))
  return lambda step_number: {"beta": target * tf.minimum(
      1.0, tf.cast(step_number + 1, tf.float32) / float(steps))}


def check_learning_rate(learning_rate: Any, what: str) -> None:
  """A positive finite number: a negative rate would train in the wrong direction."""
  if (isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float, np.number))
      or not (math.isfinite(learning_rate) and learning_rate > 0)):
    raise ValueError(f"{what}: learning_rate={learning_rate!r} must be a positive finite "
                     "number")


class Trainer:
  """Owns what a training step changes: the model (θ, φ), the estimator's
  state, one Adam per group and the step counter; `trainer(x)` runs one step.

  Build it inside `strategy.scope()` when training with a strategy.
  """

  def __init__(self, model: LatentVariableModel, estimator: BoundEstimator, *,
               learning_rate: float, config: StepConfig | None = None,
               strategy: tf.distribute.Strategy | None = None, **keywords: Any):
    """Builds the optimizers and the estimator's state for `model`.

    Args:
      model: the model to train.
      estimator: a name, an estimator function, or `estimators.bind(...)`.
      learning_rate: Adam's, for both groups; a positive finite number.
      config: the step's settings (`StepConfig`); its fields as keywords (and
        the older names `tpu_safe`, `train_size`) build one.
      strategy: a `tf.distribute.Strategy` whose scope built the model.
      **keywords: `StepConfig` fields (or their older names) when `config`
        is not given.

    Raises:
      TypeError: `model` is not a model, or `estimator` not a name, function
        or bound estimator.
      ValueError: a bad learning rate or step setting, or a KL warm-up for an
        estimator without a KL weight.
    """
    estimators_base.check_model(model, "Trainer")
    if isinstance(estimator, str) or (callable(estimator)
                                      and not isinstance(estimator, BoundEstimator)):
      estimator = bind(estimator)  # a name or a function: its default options
    if not isinstance(estimator, BoundEstimator):
      raise TypeError("Trainer: estimator must be a name, an estimator function or "
                      f"tfp_zoo.estimators.bind(name, ...), got {type(estimator).__name__}")
    check_learning_rate(learning_rate, "Trainer")
    config = StepConfig.from_keywords(config, "Trainer", **keywords)
    self.config = config
    self.model, self.estimator = model, estimator
    self.train_generative = config.train_generative
    self.state = estimator.init(model)
    self.guide_variables = tuple(model.guide_variables) + (
        tuple(self.state.trainable_variables) if self.state is not None else ())
    loss_scale = config.precision == "mixed_float16"
    self.generative_optimizer = make_optimizer(learning_rate, model.generative_variables,
                                               loss_scale=loss_scale)
    self.guide_optimizer = make_optimizer(learning_rate, self.guide_variables,
                                          loss_scale=loss_scale)
    self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    self._strategy = strategy
    _warmup(estimator, config.kl_warmup_steps)  # refuse now, not at the first step
    self._step_fn: TrainStep | None = None

  def checkpoint(self) -> tf.train.Checkpoint:
    """Everything that resumes the run exactly (names kept from earlier runs)."""
    parts = dict(step=self.step, model=self.model,
                 generative_optimizer=self.generative_optimizer,
                 guide_optimizer=self.guide_optimizer)
    if self.state is not None:
      parts["estimator_state"] = self.state
    return tf.train.Checkpoint(**parts)

  def set_learning_rate(self, learning_rate: float) -> None:
    check_learning_rate(learning_rate, "Trainer.set_learning_rate")
    for optimizer in (self.generative_optimizer, self.guide_optimizer):
      optimizer.learning_rate = learning_rate

  def all_finite(self) -> bool:
    """Host check of every checkpointed variable, optimizer slots included."""
    variables = (list(self.model.variables) + list(self.generative_optimizer.variables())
                 + list(self.guide_optimizer.variables())
                 + (list(self.state.variables) if self.state is not None else []))
    return all(np.all(np.isfinite(v.numpy())) for v in variables if v.dtype.is_floating)

  def __call__(self, x: Any) -> dict[str, float]:
    """One step on batch `x`; returns its metrics as floats.

    Raises:
      TrainingDivergedError: a loss or an updated variable is not finite; the
        run must stop without saving this state.
    """
    if self._step_fn is None:
      self._step_fn = make_train_step(
          self.model, self.estimator, self.generative_optimizer, self.guide_optimizer,
          config=self.config, state=self.state, strategy=self._strategy)
    current = int(self.step.numpy())
    outputs = self._step_fn(x, tf.constant(current, tf.int64))
    metrics = {k: float(v) for k, v in outputs.items()}
    if metrics.pop(FINITE) < 1.0:
      bad = {k: v for k, v in metrics.items() if not np.isfinite(v)}
      raise TrainingDivergedError(
          f"step {current + 1} made the " + (f"loss non-finite ({bad})" if bad else
                                            "parameters non-finite")
          + "; stopped without saving that state (the last checkpoint is the last "
          "finite one); try a lower --learning_rate")
    self.step.assign(current + 1)
    return metrics
