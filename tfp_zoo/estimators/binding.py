"""`bind`: an estimator with its options checked once, paired with its state.

Like optax's `(init, update)` pairs, the object that uses an estimator's state
is the one that creates it:

    estimator = tfp_zoo.estimators.bind("nvil", num_samples=5, baseline="learned")
    state = estimator.init(model)            # NvilBaseline, or None
    objectives = estimator(model, x, seed=seed, state=state)

Binding checks option names, option types (against the defaults of the
estimator's signature) and options that the other options make meaningless
(`feature_size` without `feature_map='learned'`), so a typo or a dead option
fails before any model is built rather than being silently dropped.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Any, Callable, Mapping

import tensorflow as tf

from tfp_zoo.estimators import catalog as registry
from tfp_zoo.estimators import option_rules
from tfp_zoo.estimators.base import Objectives

__all__ = ["BoundEstimator", "bind", "IGNORED_UNLESS", "check_option_types", "option_names",
           "ignored_options"]

# option -> (the option it depends on, the values of that option that use it).
# An option given explicitly while its condition is false would be ignored: an error.
# Audited for every estimator; conditions on K (stl's and nvil's `bound` make
# no difference at num_samples=1) are not expressible as a tuple of values.
IGNORED_UNLESS: dict[str, dict[str, tuple[str, tuple[Any, ...]]]] = {
    "alws": {"feature_size": ("feature_map", ("learned", "pca")),
             "ridge_every": ("ridge", ("auto",)),
             "projection": ("solver", ("random_features",)),
             "guide_sleep_samples": ("guide_update", ("sleep",)),
             # The exact kernel solver uses every sleep sample, no features.
             "num_features": ("solver", ("random_features", "nystrom"))},
    "hmc": {"target_accept_rate": ("adapt_step_size", (True,)),
            "adaptation_rate": ("adapt_step_size", (True,)),
            "adaptation_decay": ("adapt_step_size", (True,))},
    "rws": {"mixture_weight": ("guide_update", ("mixture",)),
            "num_sleep_samples": ("guide_update", ("sleep", "mixture")),
            # dreg changes only the wake-φ update (θ's gradient is the same).
            "dreg": ("guide_update", ("wake", "mixture"))},
}
# Keywords of the estimator signature that are not options.
_NOT_OPTIONS = ("model", "x", "seed", "state")


@dataclasses.dataclass(frozen=True)
class BoundEstimator:
  """An estimator function with validated options.

  Attributes:
    name: the registry name (or the function's name for unregistered ones).
    fn: `fn(model, x, *, seed, **options) -> Objectives`.
    options: the validated keyword options (only those given).
    state_factory: `(model, **options) -> tf.Module | None`, or None if the
      estimator keeps no state between steps.
  """
  name: str
  fn: Callable[..., Objectives]
  options: Mapping[str, Any]
  state_factory: Callable[..., tf.Module | None] | None = None

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
    only (e.g. a scheduled `beta` tensor), unchecked."""
    options = {**self.options, **overrides}
    if state is not None:
      options["state"] = state
    return self.fn(model, x, seed=seed, **options)

  @property
  def takes_num_samples(self) -> bool:
    return "num_samples" in option_names(self.fn)


def option_names(fn: Callable[..., Any]) -> tuple[str, ...]:
  """The keyword options of an estimator function."""
  return tuple(p.name for p in inspect.signature(fn).parameters.values()
               if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
               and p.name not in _NOT_OPTIONS)


def check_option_types(what: str, fn: Callable[..., Any], values: Mapping[str, Any]) -> None:
  """Each value must have the type of the parameter's default (ints pass for
  floats; NumPy scalars pass as their Python type); floats must be finite.

  Raises:
    ValueError: naming `what`, the key, the value and the expected type.
  """
  parameters = inspect.signature(fn).parameters
  for key, value in values.items():
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
      value = value.item()  # numpy scalars
    if isinstance(value, float) and not math.isfinite(value):
      raise ValueError(f"{what}: {key}={value!r} must be finite")
    default = parameters[key].default
    if (default is None or default is inspect.Parameter.empty
        or parameters[key].annotation in ("Any", Any)):  # e.g. alws(bandwidth='median' or 5.0)
      continue
    expected = type(default)
    ok = (isinstance(value, expected) and not (expected is int and isinstance(value, bool))
          or (expected is float and isinstance(value, int) and not isinstance(value, bool)))
    if not ok:
      raise ValueError(f"{what}: {key}={value!r} must be a {expected.__name__} "
                       f"(default {default!r})")


def ignored_options(name: str, fn: Callable[..., Any],
                    options: Mapping[str, Any]) -> dict[str, str]:
  """The given options that the others make meaningless: option -> why."""
  defaults = {p.name: p.default for p in inspect.signature(fn).parameters.values()}
  ignored = {}
  for option, (depends_on, values) in IGNORED_UNLESS.get(name, {}).items():
    if option in options:
      current = options.get(depends_on, defaults.get(depends_on))
      if current not in values:
        allowed = " or ".join(f"{depends_on}={v!r}" for v in values)
        ignored[option] = f"only used with {allowed} (here {depends_on}={current!r})"
  return ignored


def check_not_ignored(name: str, fn: Callable[..., Any], options: Mapping[str, Any]) -> None:
  """Raises ValueError if a given option would be ignored given the others."""
  for option, why in ignored_options(name, fn, options).items():
    raise ValueError(f"{name}: {option} is {why}; remove {option}")


def bind(estimator: str | Callable[..., Objectives], **options: Any) -> BoundEstimator:
  """Binds an estimator (a registered name, or a function) to its options.

  Raises:
    ValueError: unknown estimator, unknown option, an option of the wrong type,
      non-finite or outside its allowed values (`option_rules.RULES`), or an
      option that the other options make meaningless.
  """
  if isinstance(estimator, str):
    name, fn = estimator, registry.get(estimator)
  else:
    fn = estimator
    name = next((n for n in registry.names() if registry.get(n) is fn),
                getattr(fn, "__name__", "estimator"))
  accepted = option_names(fn)
  unknown = sorted(set(options) - set(accepted))
  if unknown:
    raise ValueError(f"estimator {name!r} does not take {', '.join(unknown)}; "
                     f"it takes: {', '.join(accepted)}")
  check_option_types(f"estimator {name!r}", fn, options)
  option_rules.check_option_values(name, options)
  check_not_ignored(name, fn, options)
  return BoundEstimator(name=name, fn=fn, options=dict(options),
                        state_factory=registry.state_factory(name))
