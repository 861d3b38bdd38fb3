"""`bind`: an estimator with its options checked once, paired with its state.

Like optax's `(init, update)` pairs, the object that uses an estimator's state
is the one that creates it:

    estimator = tfp_zoo.estimators.bind("nvil", num_samples=5, baseline="learned")
    state = estimator.init(model)            # NvilBaseline, or None
    objectives = estimator(model, x, seed=seed, state=state)

Binding runs the estimator's spec check (`spec.EstimatorSpec.validate`):
option names, types, allowed values and options that the other options make
meaningless (`feature_size` without `feature_map='learned'`), so a typo or a
dead option fails before any model is built rather than being silently dropped.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable, Mapping

import tensorflow as tf

from tfp_zoo import registry
from tfp_zoo.estimators import spec as spec_lib
from tfp_zoo.estimators.base import Objectives

__all__ = ["BoundEstimator", "bind", "IGNORED_UNLESS", "check_option_types", "option_names",
           "ignored_options"]


@dataclasses.dataclass(frozen=True)
class BoundEstimator:
  """An estimator function with validated options.

  Attributes:
    name: the registry name (or the function's name for unregistered ones).
    fn: `fn(model, x, *, seed, **options) -> Objectives`.
    options: the validated keyword options (only those given).
    state_factory: `(model, **options) -> tf.Module | None`, or None if the
      estimator keeps no state between steps.
    spec: the estimator's `EstimatorSpec`.
  """
  name: str
  fn: Callable[..., Objectives]
  options: Mapping[str, Any]
  state_factory: Callable[..., tf.Module | None] | None = None
  spec: spec_lib.EstimatorSpec | None = None

  def init(self, model: Any) -> tf.Module | None:
    """The state this estimator keeps between steps for `model` (or None).

    Its `trainable_variables` are trained with the guide's optimizer, and it
    is checkpointed with the model.
    """
    if self.state_factory is None:
      return None
    return self.state_factory(model, **self.options)

  def __call__(self, model: Any, x: Any, *, seed: tf.Tensor,
               state: tf.Module | None = None, **overrides: Any) -> Objectives:
    """The estimator on (model, x); `overrides` replace options for this call
    only (e.g. a scheduled `beta` tensor)."""
    options = {**self.options, **overrides}
    if state is not None:
      options["state"] = state
    return self.fn(model, x, seed=seed, **options)

  @property
  def takes_num_samples(self) -> bool:
    return "num_samples" in option_names(self.fn)


def option_names(fn: Callable[..., Any]) -> tuple[str, ...]:
  """The keyword options of an estimator function."""
  return tuple(spec_lib.get_spec(fn).options)


def check_option_types(what: str, fn: Callable[..., Any], values: Mapping[str, Any]) -> None:
  """Each value must have the type of the parameter's default (ints pass for
  floats; NumPy scalars pass as their Python type); floats must be finite.
  For keyword arguments of any callable (a model class's hyperparameters).

  Raises:
    ValueError: naming `what`, the key, the value and the expected type.
  """
  registry.check_keyword_types(what, inspect.signature(fn).parameters, values)


def ignored_options(name: str, fn: Callable[..., Any] | None,
                    options: Mapping[str, Any]) -> dict[str, str]:
  """The given options that the others make meaningless: option -> why."""
  return spec_lib.get_spec(fn if fn is not None else name).ignored(options)


def bind(estimator: str | Callable[..., Objectives], **options: Any) -> BoundEstimator:
  """Binds an estimator (a registered name, a `module:function` path, or a
  function) to its options, checked once by its spec.

  Args:
    estimator: a registered name, a `package.module:function` path, or an
      estimator function.
    **options: the estimator's options, e.g. `num_samples=5`.

  Returns:
    A `BoundEstimator` with the spec's name, the function, the options and
    the state factory.

  Raises:
    ValueError: unknown estimator, unknown option, an option of the wrong type,
      non-finite or outside its allowed values, or an option that the other
      options make meaningless.
  """
  spec = spec_lib.get_spec(estimator)
  spec.validate(options)
  return BoundEstimator(name=spec.name, fn=spec.fn, options=dict(options),
                        state_factory=spec.state, spec=spec)


def __getattr__(name: str) -> Any:
  if name == "IGNORED_UNLESS":  # option -> (the option it depends on, its values)
    return {s.name: {o.name: o.used_when for o in s.options.values() if o.used_when}
            for s in spec_lib.specs() if any(o.used_when for o in s.options.values())}
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
