"""An estimator is one function plus its spec, registered where it is defined.

    @estimators.register("iwae", latents=("real", "spherical"),
                         rules={"num_samples": option_rules.integer(1)})
    def iwae(model, x, *, seed, num_samples: int = 5) -> Objectives: ...

The spec holds every fact about an estimator that the rest of the package
reads: its name; the latent kinds it supports; its options (from the keyword
parameters: defaults and types), each with the values it allows and the
condition under which it is meaningful; the state it keeps between steps;
what the training loop supplies (the dataset size); its default K; and the
values that rebuild runs saved before an option existed. Binding, the
launcher's validation, the refused model/estimator pairs, the cross-tests and
the docs tables all read it, and option values are checked here only.

A function from outside the package can be decorated the same way, or given
undecorated as `--estimator=package.module:function`: its options are then
its keyword-only parameters (defaults and annotations).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from typing import Any, Callable, Mapping

import tensorflow as tf

from tfp_zoo import registry
from tfp_zoo.estimators import base
from tfp_zoo.estimators import option_rules
from tfp_zoo.estimators.option_rules import Rule
from tfp_zoo.models.spec import LATENT_KINDS

__all__ = ["LATENT_KINDS", "Option", "EstimatorSpec", "register", "state_of", "get_spec",
           "names", "specs", "spec_from_function", "NOT_OPTIONS", "Estimator", "get",
           "check_options", "accepts", "default_num_samples", "make_state", "state_factory",
           "unregister"]

# Keywords of an estimator's signature that are not options.
NOT_OPTIONS = ("model", "x", "seed", "state")
_TYPES = {"int": int, "float": float, "bool": bool, "str": str, int: int, float: float,
          bool: bool, str: str}


@dataclasses.dataclass(frozen=True)
class Option:
  """One keyword option of an estimator.

  Attributes:
    name: the keyword.
    default: its default (`inspect.Parameter.empty` if it has none).
    type: the Python type a value must have (ints pass for floats), or None
      where any is allowed (e.g. alws's `bandwidth`: 'median' or 5.0).
    rule: the values it allows (`option_rules`), or None (any of its type).
    used_when: (option, values): meaningful only while that option takes one
      of those values; given otherwise, it is refused as dead.
    supplied_by_loop: the training loop fills it in from the data (not a flag).
  """
  name: str
  default: Any
  type: type | None = None
  rule: Rule | None = None
  used_when: tuple[str, tuple[Any, ...]] | None = None
  supplied_by_loop: bool = False

  @property
  def required(self) -> bool:
    return self.default is inspect.Parameter.empty

  def allowed(self) -> str:
    """What values it allows, in words (for messages and the docs tables)."""
    if self.rule is not None:
      return self.rule.text
    return registry.type_phrase(self.type) if self.type is not None else "any value"

  def check(self, estimator: str, value: Any) -> None:
    """Raises ValueError if `value` has the wrong type, is not finite, or is
    outside the rule. Tensors (a scheduled β) are not checked."""
    if hasattr(value, "dtype") and not hasattr(value, "item"):
      return
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
      value = value.item()  # NumPy scalars
    if isinstance(value, float) and not math.isfinite(value):
      raise ValueError(f"estimator {estimator!r}: {self.name}={value!r} must be finite")
    expected = self.type
    if expected is not None:
      if not registry.is_of_type(value, expected):
        default = "" if self.required else f" (default {self.default!r})"
        raise ValueError(f"estimator {estimator!r}: {self.name}={value!r} must be "
                         f"{registry.type_phrase(expected)}{default}")
    allowed = self.rule(value) if self.rule is not None else None
    if allowed is not None:
      raise ValueError(f"{estimator}: {self.name}={value!r} must be {allowed}")


@dataclasses.dataclass(frozen=True)
class EstimatorSpec:
  """Everything the package knows about one estimator (see the module docstring).

  Attributes:
    name: the registered name (for an undecorated plugin, its `module:object`).
    fn: the entry point `fn(model, x, *, seed, **options) -> Objectives`; it
      checks the model, the seed and the options before the body runs.
    options: `Option`s by keyword, in signature order.
    latents: the `LATENT_KINDS` it trains, or None where undeclared (a plugin
      function's own checks decide).
    state: `(model, **options) -> tf.Module | None`: the state it keeps
      between steps (its trainable variables train with the guide's
      optimizer; it is checkpointed), or None.
    legacy_defaults: option defaults that changed, at their old values: a run
      saved before config.json pinned every default resumes with these.
    legacy_added_options: options added after config.json began pinning every
      default, at the value that reproduces the runs saved before them.
    summary: one line for the docs tables (the docstring's first line).
    source: 'tfp_zoo', or the `module:object` path it was imported from.
  """
  name: str
  fn: Callable[..., base.Objectives]
  options: Mapping[str, Option]
  latents: tuple[str, ...] | None
  state: Callable[..., tf.Module | None] | None = None
  legacy_defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  legacy_added_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  summary: str = ""
  source: str = "tfp_zoo"

  @property
  def default_num_samples(self) -> int | None:
    """Its own default K (1 for elbo, 5 for iwae), or None if it takes no K."""
    option = self.options.get("num_samples")
    return None if option is None or option.required else option.default

  @property
  def takes_num_samples(self) -> bool:
    return "num_samples" in self.options

  @property
  def supplied_by_loop(self) -> tuple[str, ...]:
    """Options the training loop fills in from the data (e.g. dataset_size)."""
    return tuple(o.name for o in self.options.values() if o.supplied_by_loop)

  def defaults(self) -> dict[str, Any]:
    """Every option that has a default, at its default."""
    return {o.name: o.default for o in self.options.values() if not o.required}

  def supports(self, kind: str) -> bool:
    """Whether it trains a model whose latents are of `kind` (True if undeclared)."""
    return self.latents is None or kind in self.latents

  def check_names(self, options: Mapping[str, Any]) -> None:
    unknown = sorted(set(options) - set(self.options))
    if unknown:
      raise ValueError(f"estimator {self.name!r} does not take {', '.join(unknown)}; "
                       f"it takes: {', '.join(self.options)}")

  def check_values(self, options: Mapping[str, Any]) -> None:
    for key, value in options.items():
      if key in self.options:
        self.options[key].check(self.name, value)

  def ignored(self, options: Mapping[str, Any]) -> dict[str, str]:
    """The given options that the others make meaningless: option -> why."""
    ignored = {}
    for option, value in options.items():
      condition = self.options[option].used_when if option in self.options else None
      if condition is None:
        continue
      depends_on, values = condition
      current = options.get(depends_on, self.options[depends_on].default)
      if current not in values:
        allowed = " or ".join(f"{depends_on}={v!r}" for v in values)
        ignored[option] = f"only used with {allowed} (here {depends_on}={current!r})"
    return ignored

  def validate(self, options: Mapping[str, Any]) -> None:
    """The one check of an estimator's options: names, types, values, and
    options that the others make meaningless (each refused in one line)."""
    self.check_names(options)
    self.check_values(options)
    for option, why in self.ignored(options).items():
      raise ValueError(f"{self.name}: {option} is {why}; remove {option}")

  def make_state(self, model: Any, **options: Any) -> tf.Module | None:
    """The state it keeps between steps with `options`, or None."""
    return None if self.state is None else self.state(model, **options)


def _annotation_type(parameter: inspect.Parameter) -> type | None:
  annotation = parameter.annotation
  if annotation in ("Any", Any):
    return None
  if parameter.default is None or parameter.default is inspect.Parameter.empty:
    return _TYPES.get(annotation)
  return type(parameter.default)


def _options_of(fn: Callable[..., Any], rules: Mapping[str, Rule],
                used_when: Mapping[str, tuple[str, tuple[Any, ...]]],
                supplied_by_loop: tuple[str, ...]) -> dict[str, Option]:
  parameters = inspect.signature(fn).parameters
  options = {p.name: Option(p.name, p.default, _annotation_type(p), rules.get(p.name),
                            used_when.get(p.name), p.name in supplied_by_loop)
             for p in parameters.values()
             if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
             and p.name not in NOT_OPTIONS}
  for what, keys in (("rules", rules), ("used_when", used_when),
                     ("supplied_by_loop", supplied_by_loop)):
    unknown = sorted(set(keys) - set(options))
    if unknown:
      raise ValueError(f"register({fn.__name__}): {what} names {', '.join(unknown)}, "
                       f"which {fn.__name__} does not take")
  for option, (depends_on, _) in used_when.items():
    if depends_on not in options:
      raise ValueError(f"register({fn.__name__}): {option} depends on {depends_on}, which "
                       f"{fn.__name__} does not take")
  return options


def _checked(name: str, fn: Callable[..., base.Objectives],
             spec: Callable[[], EstimatorSpec]) -> Callable[..., base.Objectives]:
  """`fn` with the model, the seed and the options checked before its body, so a
  wrong one is one line naming it, never a TF stack trace."""
  @functools.wraps(fn)
  def checked(model: Any, x: Any, *, seed: Any, **options: Any) -> base.Objectives:
    base.check_model(model, name)
    seed = base.check_seed(seed, name)
    this = spec()
    given = {k: v for k, v in options.items() if k != "state"}
    # Names and values; `bind` (the launcher, `Trainer`) also refuses options
    # that the others make meaningless, which a direct call may pass (a loop
    # over solvers with one dict of options).
    this.check_names(given)
    this.check_values(given)
    for option in this.options.values():
      if option.required and option.name not in options:
        by = " (the training loop fills it in from the data)" if option.supplied_by_loop else ""
        raise ValueError(f"{name}: {option.name} is required{by}")
    return fn(model, x, seed=seed, **options)
  return checked


_SPECS: registry.Registry[EstimatorSpec] = registry.Registry("estimator")


def register(name: str, *, latents: tuple[str, ...],
             rules: Mapping[str, Rule] | None = None,
             used_when: Mapping[str, tuple[str, tuple[Any, ...]]] | None = None,
             state: Callable[..., tf.Module | None] | None = None,
             supplied_by_loop: tuple[str, ...] = (),
             legacy_defaults: Mapping[str, Any] | None = None,
             legacy_added_options: Mapping[str, Any] | None = None,
             summary: str | None = None) -> Callable[[Callable[..., base.Objectives]], Callable[..., base.Objectives]]:
  """Registers the decorated estimator function under `name` with its spec.

  Args:
    name: the registry name (`--estimator=name`); a name already taken is
      refused.
    latents: the `LATENT_KINDS` it trains.
    rules: option -> the values it allows (`option_rules`).
    used_when: option -> (another option, its values under which this one is
      meaningful).
    state: `(model, **options) -> tf.Module | None`, the state it keeps.
    supplied_by_loop: options the training loop fills in from the data.
    legacy_defaults: see `EstimatorSpec`.
    legacy_added_options: see `EstimatorSpec`.
    summary: the update in a sentence or two, with the paper, for the docs
      tables (default: the docstring's first paragraph).

  Returns:
    A decorator returning the checked entry point, with `.spec` attached.
  """
  bad = sorted(set(latents) - set(LATENT_KINDS))
  if bad or not latents:
    raise ValueError(f"register({name!r}): latents={latents!r}; each one of "
                     f"{', '.join(LATENT_KINDS)}")

  def decorate(fn: Callable[..., base.Objectives]) -> Callable[..., base.Objectives]:
    options = _options_of(fn, rules or {}, used_when or {}, tuple(supplied_by_loop))
    holder: list[EstimatorSpec] = []
    checked = _checked(name, fn, lambda: holder[0])
    spec = EstimatorSpec(name=name, fn=checked, options=options, latents=tuple(latents),
                         state=state, legacy_defaults=dict(legacy_defaults or {}),
                         legacy_added_options=dict(legacy_added_options or {}),
                         summary=summary or _first_line(fn.__doc__),
                         source="tfp_zoo" if fn.__module__.startswith("tfp_zoo.")
                         else f"{fn.__module__}:{fn.__qualname__}")
    holder.append(spec)
    _add(spec, fn)
    checked.spec = spec
    return checked
  return decorate


def _add(spec: EstimatorSpec, fn: Callable[..., Any]) -> None:
  if spec.name in _SPECS:
    existing = _SPECS.lookup(spec.name).fn
    if (getattr(existing, "__module__", None), getattr(existing, "__qualname__", None)) == (
        fn.__module__, fn.__qualname__):
      _SPECS.replace(spec.name, spec)  # the same function, its module imported again
      return
    raise ValueError(f"estimator {spec.name!r} is already registered (by "
                     f"{existing.__module__}); register yours under another name")
  _SPECS.register(spec.name, spec)


def unregister(name: str) -> None:
  """Removes estimator `name` (a test's throwaway registration); built-ins stay."""
  if name in _SPECS and _SPECS.lookup(name).source == "tfp_zoo":
    raise ValueError(f"estimator {name!r} is built in; it cannot be unregistered")
  _SPECS.unregister(name)
  _plugin_spec.cache_clear()


def state_of(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
  """Decorates estimator `name`'s state factory: its options are checked by
  the estimator's spec before the state is built.

  Args:
    name: the estimator's registered name.

  Returns:
    A decorator that wraps `factory(model, **options)` so that the options
    are validated by `name`'s spec first.
  """
  def decorate(factory: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(factory)
    def checked(model: Any, **options: Any) -> Any:
      get_spec(name).validate(options)
      return factory(model, **options)
    return checked
  return decorate


def _first_line(doc: str | None) -> str:
  return (doc or "").strip().split("\n\n")[0].replace("\n", " ").strip()


def names() -> tuple[str, ...]:
  """Names of the registered estimators (built-in, and plugins imported so far).

  Returns:
    The names, sorted.
  """
  return _SPECS.names()


def specs() -> tuple[EstimatorSpec, ...]:
  """The registered specs, by name.

  Returns:
    The `EstimatorSpec` of each registered estimator, sorted by name.
  """
  return tuple(_SPECS.lookup(n) for n in _SPECS.names())


def get_spec(estimator: str | Callable[..., Any]) -> EstimatorSpec:
  """The spec of a registered name, a `module:object` path, or a function.

  Args:
    estimator: a registered name, a `package.module:function` path, or an
      estimator function (decorated with `register`, or not: then its spec
      is read from its signature, `spec_from_function`).

  Returns:
    The `EstimatorSpec`.

  Raises:
    ValueError: an unknown name (listing the known ones), or a path that does
      not import or names no estimator (one line saying what is missing).
  """
  if callable(estimator):
    return getattr(estimator, "spec", None) or spec_from_function(estimator)
  return _SPECS.resolve(estimator, _plugin_spec, "package.module:function")


@functools.lru_cache(maxsize=None)
def _plugin_spec(path: str) -> EstimatorSpec:
  fn = registry.import_object(path, "estimator")
  spec = getattr(fn, "spec", None)
  if isinstance(spec, EstimatorSpec):
    return spec
  return spec_from_function(fn, name=path)


@functools.lru_cache(maxsize=None)
def spec_from_function(fn: Callable[..., Any], name: str | None = None) -> EstimatorSpec:
  """The spec of an undecorated estimator function (the documented protocol):
  `fn(model, x, *, seed, **options) -> Objectives`, its options its keyword
  parameters with their defaults and annotations; latents undeclared.

  Args:
    fn: the estimator function.
    name: its name in messages and the spec (default: `fn.__name__`); a
      `module:function` path when imported from one.

  Returns:
    An `EstimatorSpec` (cached per function and name) whose `fn` checks the
    options on every call.

  Raises:
    ValueError: one line naming what the function lacks.
  """
  what = name or getattr(fn, "__name__", repr(fn))
  if not callable(fn) or isinstance(fn, type):
    raise ValueError(f"estimator {what}: expected a function (model, x, *, seed, "
                     f"**options) -> Objectives, got {type(fn).__name__}")
  try:
    parameters = inspect.signature(fn).parameters
  except (TypeError, ValueError):
    raise ValueError(f"estimator {what}: its signature cannot be read") from None
  positional = [p.name for p in parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
  missing = [m for m in ("model", "x") if m not in positional[:2]]
  if missing or "seed" not in parameters:
    lacks = ", ".join(missing + ([] if "seed" in parameters else ["keyword seed"]))
    raise ValueError(f"estimator {what}: expected a function (model, x, *, seed, "
                     f"**options) -> Objectives; it lacks {lacks}")
  builtin = getattr(fn, "__name__", None)
  if name is not None and builtin in _SPECS and _SPECS.lookup(builtin).source == "tfp_zoo":
    raise ValueError(f"estimator {what}: its name {builtin!r} is a built-in estimator's; "
                     "rename it, or register it under another name")
  options = _options_of(fn, {}, {}, ())
  holder: list[EstimatorSpec] = []
  checked = _checked(what, fn, lambda: holder[0])
  spec = EstimatorSpec(name=what, fn=checked, options=options, latents=None,
                       summary=_first_line(fn.__doc__), source=name or what)
  holder.append(spec)
  checked.spec = spec
  return spec


# Lookups by name, path or function (what `tfp_zoo.estimators` exports).

Estimator = Callable[..., base.Objectives]


def get(name: str) -> Estimator:
  """The estimator function registered as `name`, or imported from a
  `module:function` path (ValueError lists the known ones).

  Args:
    name: a registered name (`names()`) or a `package.module:function` path.

  Returns:
    The estimator `(model, x, *, seed, **options) -> Objectives`, its options
    checked by its spec on every call.

  Raises:
    ValueError: an unknown name, or a path that names no estimator.
  """
  return get_spec(name).fn


def check_options(name: str, options: Mapping[str, Any]) -> None:
  """Raises ValueError naming the estimator's options if `options` has others.

  Args:
    name: a registered estimator name or `module:function` path.
    options: option names and values; only the names are checked here (the
      arguments every estimator takes, such as `seed`, are ignored).

  Raises:
    ValueError: an unknown estimator, or an option it does not take.
  """
  get_spec(name).check_names({k: v for k, v in options.items() if k not in NOT_OPTIONS})


def accepts(name: str, option: str) -> bool:
  """Whether estimator `name` takes the keyword `option` (e.g. 'num_samples').

  Args:
    name: a registered estimator name or `module:function` path.
    option: a keyword option's name.

  Returns:
    True if `option` is one of the estimator's options.
  """
  return option in get_spec(name).options


def default_num_samples(name: str) -> int | None:
  """Estimator `name`'s own default K (its `num_samples` default: 1 for elbo,
  5 for iwae), the same from Python and from the launcher; None without K.

  Args:
    name: a registered estimator name or `module:function` path.

  Returns:
    The default of its `num_samples` option, or None if it has none.
  """
  return get_spec(name).default_num_samples


def make_state(name: str, model: Any, **options: Any) -> tf.Module | None:
  """The state estimator `name` keeps between steps with `options`, or None.

  Pass it to the estimator as `state=` at every step, train its
  `trainable_variables` with the guide's, and checkpoint it.

  Args:
    name: a registered estimator name or `module:function` path.
    model: the model the estimator will train.
    **options: the estimator's options (those that shape its state are read).

  Returns:
    A new `tf.Module` of the estimator's state, or None if it keeps none.
  """
  return get_spec(name).make_state(model, **options)


def state_factory(name: str) -> Callable[..., tf.Module | None] | None:
  """The state factory of estimator `name`, or None if it keeps no state.

  Args:
    name: a registered estimator name or `module:function` path.

  Returns:
    `(model, **options) -> tf.Module | None` (see `make_state`), or None.
  """
  return get_spec(name).state


option_rules._get_spec, option_rules._names = get_spec, names  # pylint: disable=protected-access
