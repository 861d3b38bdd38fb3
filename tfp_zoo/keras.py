"""Keras 3 training for tfp_zoo models: `EstimatorModel`, a `keras.Model` whose
`fit` trains θ and φ with any estimator's two losses.

    model = tfp_zoo.models.get("vae", input_shape=(28, 28, 1))
    trainer = tfp_zoo.keras.EstimatorModel(model, "iwae", num_samples=5)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3))  # one Adam per group
    trainer.fit(images.batch(100), epochs=10, callbacks=[...])

The step is the package's (`training.train_step.make_replica_step`): batch s
draws from fold_in((seed, 1), s), grad(generative_loss) updates θ with one
optimizer and grad(guide_loss) updates φ (and the estimator state's trainable
variables) with the other, so a `Trainer` with the same seed and Adam makes the
same first update.

How Keras sees the variables: Keras 3 tracks only its own variables, and the
package's layers are `tf.Module`s holding `tf.Variable`s. `EstimatorModel`
overrides the public `variables`/`weights` properties (from which Keras derives
`trainable_variables` and the rest) and `save_own_variables`/
`load_own_variables` (what `save_weights`, `ModelCheckpoint` and
`BackupAndRestore` write): no private Keras hook. Keras 3's TensorFlow
optimizers apply gradients to plain `tf.Variable`s, mirrored ones included.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfp_zoo import estimators, models
from tfp_zoo.estimators import base as estimators_base
from tfp_zoo.estimators.binding import BoundEstimator, bind
from tfp_zoo.models.base import LatentVariableModel
from tfp_zoo.training.config import TrainConfig
from tfp_zoo.training.distribute import replica_seed
from tfp_zoo.training.step_config import StepConfig
from tfp_zoo.training.train_step import FINITE, make_objectives, make_replica_step

__all__ = ["EstimatorModel", "DEFAULT_LEARNING_RATE", "EVALUATION_STREAM"]

# Adam's learning rate when compile() is given no optimizer: the launcher's.
DEFAULT_LEARNING_RATE: float = TrainConfig.learning_rate
# Evaluation batch b draws from fold_in((seed, EVALUATION_STREAM), b) (training
# uses stream 1), so `evaluate` on the same data gives the same numbers.
EVALUATION_STREAM = 2
# compile() keywords of keras.Model that have no meaning here.
_NOT_COMPILE_OPTIONS = ("loss", "loss_weights", "metrics", "weighted_metrics")


class _Means(keras.metrics.Metric):
  """Means over the examples of an epoch (or an evaluation) of named scalars,
  each batch weighted by its size, and the number of batches seen (the
  evaluation's seed index). One metric whose result is a dict: Keras logs its
  entries under their names."""

  def __init__(self, names: Sequence[str]):
    super().__init__(name="objectives")
    self.names = tuple(names)
    self.totals = self.add_variable(shape=(len(self.names),), initializer="zeros",
                                    name="totals")
    self.count = self.add_variable(shape=(), initializer="zeros", name="count")
    self.batches = self.add_variable(shape=(), initializer="zeros", dtype="int64",
                                     name="batches")

  def update_state(self, values: dict[str, tf.Tensor], batch_size: tf.Tensor) -> None:
    size = tf.cast(batch_size, tf.float32)
    self.totals.assign_add(tf.stack([tf.cast(values[n], tf.float32) for n in self.names])
                           * size)
    self.count.assign_add(size)
    self.batches.assign_add(1)

  def result(self) -> dict[str, tf.Tensor]:
    means = tf.math.divide_no_nan(tf.convert_to_tensor(self.totals),
                                  tf.convert_to_tensor(self.count))
    return {name: means[i] for i, name in enumerate(self.names)}


class EstimatorModel(keras.Model):
  """A tfp_zoo model and an estimator as a Keras model: `fit`, `evaluate`,
  `save_weights`/`load_weights` and the standard callbacks, under any
  `tf.distribute` strategy whose scope built it.

  `fit(data)` takes batches of observations x (or (x, y) or (x, y, w) tuples:
  y and w are ignored).
  Its logs, and `evaluate`'s, are per-example means over the epoch of
  'generative_loss', 'guide_loss', the estimator's metrics (e.g. 'iwae',
  'ess') and 'loss' (= generative_loss, the name Keras's callbacks monitor by
  default: `val_loss`). `evaluate` runs the estimator with batch b's seed
  fold_in((seed, EVALUATION_STREAM), b), updating nothing (the estimator's
  state is put back after each batch).

  Refused, in one line (`ValueError`): an estimator that does not train the
  model's kind of latents; an estimator that needs the number of training
  examples (beta_tc_vae) or a model with a prior on θ, without
  `dataset_size=`; options given beside a bound estimator; with more than one
  replica, an estimator whose state is assigned by the step itself (nvil's
  moving average; at `compile`). State fitted to the data (alws with
  feature_map='pca') must be fitted with `fit_estimator_state(images)`
  before `fit`.

  Attributes:
    model: the tfp_zoo model (θ: `model.generative_variables`, φ:
      `model.guide_variables`).
    estimator: the `BoundEstimator`.
    state: the estimator's state (`estimator.init(model)`), or None.
    step: the number of training steps taken (int64 variable; saved).
    step_config: the step's `StepConfig` (seed, dataset_size).
    generative_optimizer: θ's optimizer (after `compile`; `optimizer` is the
      same one, for callbacks that read it).
    guide_optimizer: φ's optimizer (after `compile`).
  """

  def __init__(self, model: LatentVariableModel,
               estimator: str | Callable[..., Any] | BoundEstimator, *, seed: int = 0,
               dataset_size: int | None = None, **options: Any):
    """Args:
      model: a tfp_zoo model, built in the strategy's scope if there is one.
      estimator: a registered name ('iwae'), an estimator function, or
        `tfp_zoo.estimators.bind(...)`.
      seed: step s draws from fold_in((seed, 1), s) (`training.step_seed`).
      dataset_size: the number of training examples, for estimators that
        need it (beta_tc_vae) and models with a prior on θ.
      **options: the estimator's options, checked by its spec (`bind`).

    Raises:
      ValueError: a refused combination (see the class docstring), or an
        option the estimator's spec refuses.
      TypeError: `model` is not a tfp_zoo model.
    """
    super().__init__(name="estimator_model")
    estimators_base.check_model(model, "EstimatorModel")
    self.step_config = StepConfig.from_keywords(None, "EstimatorModel", seed=seed,
                                                dataset_size=dataset_size)
    self.estimator = _bind(estimator, options, dataset_size)
    _check_latents(model, self.estimator)
    if model.parameter_log_prior() is not None and dataset_size is None:
      raise ValueError(f"EstimatorModel: {type(model).__name__} has a prior on its "
                       "parameters: give dataset_size= (the number of training examples) "
                       "to weigh it")
    self.model = model
    self.state = self.estimator.init(model)
    # Assigned in the step: under several replicas, every one takes the first's.
    self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step",
                            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    self.generative_optimizer = self.guide_optimizer = None
    self._means: _Means | None = None
    self._replica_step: Callable[..., dict[str, tf.Tensor]] | None = None
    self._objectives: Callable[..., Any] | None = None
    self.built = True  # its variables exist: nothing for Keras to build

  # --- what Keras sees -----------------------------------------------------

  def _own_variables(self) -> list[tf.Variable]:
    """The model's variables, the estimator state's, then the step counter."""
    own = list(self.model.variables) + (list(self.state.variables)
                                        if self.state is not None else [])
    return _unique(own + [self.step])

  @property
  def variables(self) -> list[Any]:
    return _unique(self._own_variables() + list(super().variables))

  @property
  def weights(self) -> list[Any]:
    return _unique(self._own_variables() + list(super().weights))

  @property
  def metrics(self) -> list[keras.metrics.Metric]:
    return [self._means] if self._means is not None else []

  def save_own_variables(self, store: Any) -> None:
    """Writes the model's, the state's and the step's variables (the optimizers'
    are written by Keras under their own names)."""
    for i, variable in enumerate(self._own_variables()):
      store[str(i)] = variable

  def load_own_variables(self, store: Any) -> None:
    """Reads what `save_own_variables` wrote, into the same variables."""
    variables = self._own_variables()
    if len(store.keys()) != len(variables):
      raise ValueError(f"EstimatorModel.load_weights: the file holds {len(store.keys())} "
                       f"variables of the model, its state and step, and this one has "
                       f"{len(variables)}: build the same model and estimator")
    for i, variable in enumerate(variables):
      variable.assign(store[str(i)])

  def load_weights(self, filepath: Any, *args: Any, **kwargs: Any) -> None:
    """`keras.Model.load_weights`; a file of another model is refused in one line."""
    try:
      super().load_weights(filepath, *args, **kwargs)
    except ValueError as e:  # Keras wraps the reason in a list of failed objects
      reason = [l for l in str(e).splitlines() if l.startswith("EstimatorModel.load_weights")]
      if not reason:
        raise
      raise ValueError(reason[0]) from None

  # --- compile, fit, evaluate ----------------------------------------------

  def compile(self, optimizer: Any = None, *, generative_optimizer: Any = None,
              guide_optimizer: Any = None, run_eagerly: bool = False,
              steps_per_execution: int = 1, jit_compile: bool = False,
              **unsupported: Any) -> None:
    """Sets the two optimizers and builds the step.

    Args:
      optimizer: one optimizer's settings for both groups (an instance, a
        name or a config, as `keras.optimizers.get` takes): θ gets it and φ a
        copy made with `from_config(get_config())` (each optimizer keeps
        slots for its own variables).
      generative_optimizer: θ's optimizer, instead; left out, it is
        Adam(DEFAULT_LEARNING_RATE), the launcher's default.
      guide_optimizer: φ's optimizer (and the estimator state's trainable
        variables'), instead; left out, as `generative_optimizer`.
      run_eagerly: as for `keras.Model.compile`.
      steps_per_execution: as for `keras.Model.compile`.
      jit_compile: compile the step with XLA (False, as the launcher's).
      **unsupported: anything else `keras.Model.compile` takes (`loss`,
        `metrics`, ...): refused, since the estimator gives them.

    Raises:
      ValueError: `loss` or `metrics` (the estimator gives them), `optimizer`
        with either of the two, or one instance for both.
    """
    if unsupported:
      raise ValueError(f"EstimatorModel.compile: {', '.join(sorted(unsupported))} is not "
                       "an option here (the estimator gives the losses and metrics); give "
                       "optimizer= or generative_optimizer= and guide_optimizer=")
    with self.distribute_strategy.scope():
      generative, guide = _two_optimizers(optimizer, generative_optimizer, guide_optimizer)
      theta = list(self.model.generative_variables)
      phi = list(self.model.guide_variables) + (
          list(self.state.trainable_variables) if self.state is not None else [])
      for opt, variables in ((generative, theta), (guide, phi)):
        if not opt.built:
          opt.build(variables)
      super().compile(optimizer=generative, run_eagerly=run_eagerly,
                      steps_per_execution=steps_per_execution, jit_compile=jit_compile,
                      auto_scale_loss=False)
      self.generative_optimizer, self.guide_optimizer = generative, guide
      self._replica_step = make_replica_step(
          self.model, self.estimator, generative, guide, config=self.step_config,
          state=self.state, replicas=self.distribute_strategy.num_replicas_in_sync)
      self._objectives = make_objectives(self.model, self.estimator,
                                         config=self.step_config, state=self.state)
      self._means = _Means(self._metric_names())

  def _metric_names(self) -> tuple[str, ...]:
    """The names the step logs: the losses and the estimator's metrics (read
    by tracing the objectives once, without running them)."""
    spec = tf.TensorSpec([2, *self.model.input_shape], tf.float32)
    seed = tf.constant([0, 0], tf.int32)
    traced = tf.function(
        lambda x: self._objectives(x, seed, tf.constant(0, tf.int64)).metrics,
        autograph=False).get_concrete_function(spec)
    names = [n for n in traced.structured_outputs if n != FINITE]
    return ("loss", "generative_loss", "guide_loss", *names)

  def _record(self, metrics: dict[str, tf.Tensor], x: tf.Tensor) -> dict[str, tf.Tensor]:
    values = {**metrics, "loss": metrics["generative_loss"]}
    self._means.update_state(values, tf.shape(x)[0])
    return self._means.result()

  def train_step(self, data: Any) -> dict[str, tf.Tensor]:
    """One step of the package's train step (`make_replica_step`) on one replica."""
    x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
    step_number = self.step.read_value()
    metrics = self._replica_step(x, step_number)
    with tf.control_dependencies([metrics[FINITE]]):
      self.step.assign_add(1)
    return self._record({k: v for k, v in metrics.items() if k != FINITE}, x)

  def test_step(self, data: Any) -> dict[str, tf.Tensor]:
    """The estimator's losses and metrics on a batch; nothing changes."""
    x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
    stream = tf.constant([self.step_config.seed, EVALUATION_STREAM], tf.int32)
    seed = tf.random.experimental.stateless_fold_in(
        stream, tf.cast(self._means.batches, tf.int32))
    # The estimator assigns its state as it runs (nvil's moving average, hmc's
    # step size): evaluating must not, so each batch puts it back.
    assigned = [v for v in (self.state.variables if self.state is not None else ())
                if not v.trainable]
    saved = [tf.identity(v.read_value()) for v in assigned]
    with tf.control_dependencies(saved):
      objectives = self._objectives(x, replica_seed(seed), self.step.read_value())
    values = {"generative_loss": objectives.generative_loss,
              "guide_loss": objectives.guide_loss, **objectives.metrics}
    with tf.control_dependencies(list(values.values())):
      restores = [v.assign(value) for v, value in zip(assigned, saved)]
    with tf.control_dependencies(restores):
      values = {k: tf.identity(v) for k, v in values.items()}
    return self._record(values, x)

  def call(self, inputs: Any, training: bool = False) -> Any:
    del inputs, training
    raise NotImplementedError("EstimatorModel has no forward pass: train with fit, "
                              "measure with evaluate, and sample or score its .model "
                              "(tfp_zoo.evaluation)")

  def fit(self, *args: Any, **kwargs: Any) -> keras.callbacks.History:
    """`keras.Model.fit`, after checking that state fitted to the data is fitted."""
    if _unfitted(self.state):
      raise ValueError(f"EstimatorModel.fit: estimator {self.estimator.name!r} fits its "
                       "features to the data first: call fit_estimator_state(images) "
                       "(training images as the model sees them) before fit")
    return super().fit(*args, **kwargs)

  def fit_estimator_state(self, images: Any) -> None:
    """Fits the estimator state that is fitted to training data before the
    first step (alws with feature_map='pca': a whitened PCA), as the
    launcher does with its first 10,000 training images; a no-op otherwise.

    Args:
      images: training observations [N, *model.input_shape], as the model
        sees them (e.g. binarised).
    """
    fit = getattr(self.state, "fit_data", None)
    if fit is not None:
      fit(np.asarray(images))


def _unique(variables: list[Any]) -> list[Any]:
  seen, unique = set(), []
  for v in variables:
    if id(v) not in seen:
      seen.add(id(v))
      unique.append(v)
  return unique


def _unfitted(state: Any) -> bool:
  """True for state that `fit_estimator_state` has still to fit (ALWS's PCA)."""
  return bool(getattr(state, "pca", False)) and not bool(state.pca_fitted.numpy())


def _bind(estimator: Any, options: dict[str, Any], dataset_size: int | None) -> BoundEstimator:
  """The bound estimator, given the number of training examples where its spec
  says that the training loop supplies it."""
  if isinstance(estimator, BoundEstimator):
    if options:
      raise ValueError("EstimatorModel: options belong to the bound estimator: pass "
                       f"bind({estimator.name!r}, **options), or its name with the options")
    bound = estimator
  elif isinstance(estimator, str) or callable(estimator):
    bound = bind(estimator, **options)
  else:
    raise TypeError("EstimatorModel: estimator must be a name, an estimator function or "
                    f"tfp_zoo.estimators.bind(name, ...), got {type(estimator).__name__}")
  spec = bound.spec
  missing = [n for n in (spec.supplied_by_loop if spec is not None else ())
             if n not in bound.options]
  if not missing:
    return bound
  if missing != ["dataset_size"]:
    raise ValueError(f"EstimatorModel: estimator {spec.name!r} needs {', '.join(missing)}, "
                     "which the launcher supplies from the data; bind them yourself: "
                     "tfp_zoo.estimators.bind(name, ...)")
  if dataset_size is None:
    raise ValueError(f"EstimatorModel: estimator {spec.name!r} needs dataset_size= (the "
                     "number of training examples, an integer >= 1)")
  options = {**bound.options, "dataset_size": dataset_size}
  spec.validate(options)
  return dataclasses.replace(bound, options=options)


def _check_latents(model: LatentVariableModel, estimator: BoundEstimator) -> None:
  """Refuses an estimator whose spec excludes the model's kind of latents."""
  try:
    kind = models.get_spec(type(model)).latents
  except ValueError:  # an unregistered class that the spec cannot read: its own checks
    return
  spec = estimator.spec
  if kind is not None and spec is not None and not spec.supports(kind):
    able = [s.name for s in estimators.specs()
            if s.source == "tfp_zoo" and s.supports(kind)]
    raise ValueError(f"EstimatorModel: estimator {spec.name!r} trains models with "
                     f"{' or '.join(spec.latents)} latents, and {type(model).__name__} has "
                     f"{kind} ones; use one of {', '.join(able)}")


def _two_optimizers(optimizer: Any, generative: Any,
                    guide: Any) -> tuple[keras.optimizers.Optimizer, keras.optimizers.Optimizer]:
  """θ's and φ's optimizers: two instances, since each keeps its own slots."""
  if optimizer is not None:
    if generative is not None or guide is not None:
      raise ValueError("EstimatorModel.compile: give optimizer= (both groups) or "
                       "generative_optimizer= and guide_optimizer=, not both")
    first = keras.optimizers.get(optimizer)
    return first, type(first).from_config(first.get_config())
  default = lambda: keras.optimizers.Adam(DEFAULT_LEARNING_RATE)
  generative = default() if generative is None else keras.optimizers.get(generative)
  guide = default() if guide is None else keras.optimizers.get(guide)
  if generative is guide:
    raise ValueError("EstimatorModel.compile: generative_optimizer and guide_optimizer "
                     "are one instance; give two (each keeps slots for its own "
                     "variables), or optimizer= to copy one")
  return generative, guide
