"""A model is a class plus its spec, registered where it is defined.

    @models.register("vae", latents="real")
    class VAE(LatentVariableModel):
      def __init__(self, input_shape, *, latent_sizes: Sequence[int] = (50,), ...): ...

The spec reads the hyperparameters from the constructor's keyword
parameters (their defaults, types and annotations) and says what kind of
latents the model has, so that a launcher refuses an estimator that cannot
train it before anything is built. The constructor checks the values it
allows (with one-line errors); the spec checks names and types and reads the
launcher's text forms ('100-50', 'true').

A class from outside the package can be decorated the same way, or given
undecorated as `--model=package.module:Class`: any class built as
`Class(input_shape, **hparams)` whose instances have `joint()` (and
`guide(x)`, `generative_variables`, `guide_variables` where an estimator
needs them; see `LatentVariableModel`).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any, Callable, Mapping

from tfp_zoo import registry

__all__ = ["LATENT_KINDS", "ModelSpec", "register", "get_spec", "names", "specs",
           "spec_from_class"]

# What a model's latents are, as estimators see them: reparameterisable real
# vectors (or intervals of R^d), discrete ones, both in one guide, or points on
# a sphere (reparameterisable, but no HMC move or per-dimension marginal).
LATENT_KINDS = ("real", "discrete", "mixed", "spherical")
# Constructor parameters that are not hyperparameters.
_NOT_HPARAMS = ("self", "name", "input_shape")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """Everything the package knows about one model class before building it.

  Attributes:
    name: the registry name (for an undecorated plugin, its `module:Class`).
    cls: the class, built as `cls(input_shape, **hparams)`.
    latents: one of `LATENT_KINDS`, or None where undeclared.
    summary: one line for the docs tables (the docstring's first line).
    source: 'tfp_zoo', or the `module:Class` path it was imported from.
  """
  name: str
  cls: Callable[..., Any]
  latents: str | None
  summary: str = ""
  source: str = "tfp_zoo"

  @functools.cached_property
  def parameters(self) -> Mapping[str, inspect.Parameter]:
    """The hyperparameters: the constructor's keyword parameters."""
    return {n: p for n, p in inspect.signature(self.cls).parameters.items()
            if n not in _NOT_HPARAMS
            and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}

  def hparam_names(self) -> tuple[str, ...]:
    return tuple(self.parameters)

  def hparam_defaults(self) -> dict[str, Any]:
    """Hyperparameters with their default values (None where the model
    derives the value from others)."""
    return {n: p.default for n, p in self.parameters.items()
            if p.default is not inspect.Parameter.empty}

  def check_names(self, hparams: Mapping[str, Any]) -> None:
    unknown = sorted(set(hparams) - set(self.parameters))
    if unknown:
      raise ValueError(f"model {self.name!r} does not take {', '.join(unknown)}; "
                       f"it takes: {', '.join(self.parameters)}")

  def check_types(self, hparams: Mapping[str, Any]) -> None:
    """Each value must have the type of the parameter's default (ints pass for
    floats; NumPy scalars as their Python type); floats must be finite."""
    registry.check_keyword_types(f"model {self.name!r}", self.parameters, hparams)

  def parse(self, hparams: Mapping[str, Any]) -> dict[str, Any]:
    """Text values as the launcher reads them ('2' -> 2, '100-50' -> (100, 50),
    'true' -> True) for hyperparameters that do not take text, so Python
    accepts the launcher's forms; text that reads as no number is refused."""
    out = dict(hparams)
    for key, value in hparams.items():
      annotation = str(self.parameters[key].annotation)
      if not isinstance(value, str) or "str" in annotation or annotation == "Any":
        continue
      parsed = registry.parse_value(value)
      if isinstance(parsed, str):
        raise ValueError(f"model {self.name!r}: {key}={value!r} must be {annotation} (text "
                         "is read as the launcher reads it: 2, 0.5, true, 100-50)")
      out[key] = parsed
    return out

  def build(self, input_shape: Any, **hparams: Any) -> Any:
    """The model for observations of `input_shape` with `hparams` (checked)."""
    self.check_names(hparams)
    return self.cls(input_shape, **self.parse(hparams))


_SPECS: registry.Registry[ModelSpec] = registry.Registry("model")


def _first_line(doc: str | None) -> str:
  return (doc or "").strip().split("\n\n")[0].replace("\n", " ").strip()


def register(name: str, *, latents: str, summary: str | None = None
             ) -> Callable[[type], type]:
  """Registers the decorated model class under `name` (`--model=name`).

  Args:
    name: the registry name; a name already taken is refused.
    latents: one of `LATENT_KINDS`: what its guide's latents are.
    summary: what it is, for the docs tables (default: the docstring's first
      paragraph).

  Returns:
    A class decorator that registers the class, sets its `spec` and returns
    it unchanged otherwise.

  Raises:
    ValueError: `latents` not one of `LATENT_KINDS`; (when decorating) `name`
      already registered by another class.
  """
  if latents not in LATENT_KINDS:
    raise ValueError(f"register({name!r}): latents={latents!r}; one of "
                     f"{', '.join(LATENT_KINDS)}")

  def decorate(cls: type) -> type:
    source = ("tfp_zoo" if cls.__module__.startswith("tfp_zoo.")
              else f"{cls.__module__}:{cls.__qualname__}")
    spec = ModelSpec(name=name, cls=cls, latents=latents,
                     summary=summary or _first_line(cls.__doc__), source=source)
    if name in _SPECS:
      existing = _SPECS.lookup(name).cls
      if (existing.__module__, existing.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"model {name!r} is already registered (by {existing.__module__}); "
                         "register yours under another name")
      _SPECS.replace(name, spec)
    else:
      _SPECS.register(name, spec)
    cls.spec = spec
    return cls
  return decorate


def names() -> tuple[str, ...]:
  """Names of the registered models (built-in, and plugins imported so far).

  Returns:
    The names, sorted.
  """
  return _SPECS.names()


def specs() -> tuple[ModelSpec, ...]:
  """The registered specs, by name.

  Returns:
    The `ModelSpec` of each registered model, sorted by name.
  """
  return tuple(_SPECS.lookup(n) for n in _SPECS.names())


def get_spec(model: str | type) -> ModelSpec:
  """The spec of a registered name, a `module:Class` path, or a class.

  Args:
    model: a registered name, a `package.module:Class` path, or a
      `LatentVariableModel` subclass (registered or not: then its spec is
      read from its constructor).

  Returns:
    The `ModelSpec`.

  Raises:
    ValueError: an unknown name (listing the known ones), or a path that does
      not import or names no model class (one line saying what is missing).
  """
  if isinstance(model, type):
    spec = model.__dict__.get("spec")
    return spec if isinstance(spec, ModelSpec) else spec_from_class(model)
  return _SPECS.resolve(model, _plugin_spec, "package.module:Class")


@functools.lru_cache(maxsize=None)
def _plugin_spec(path: str) -> ModelSpec:
  cls = registry.import_object(path, "model")
  if not isinstance(cls, type):
    raise ValueError(f"model {path!r}: expected a class built as Class(input_shape, "
                     f"**hparams), got {type(cls).__name__}")
  spec = cls.__dict__.get("spec")
  return spec if isinstance(spec, ModelSpec) else spec_from_class(cls, name=path)


@functools.lru_cache(maxsize=None)
def spec_from_class(cls: type, name: str | None = None) -> ModelSpec:
  """The spec of an undecorated model class (the documented protocol).

  Raises:
    ValueError: one line naming what the class lacks.
  """
  what = name or cls.__name__
  if not callable(getattr(cls, "joint", None)):
    raise ValueError(f"model {what}: {cls.__name__} has no joint() method; a model "
                     "returns its JointDistribution p(z, x) from joint() (see "
                     "tfp_zoo.models.LatentVariableModel)")
  try:
    parameters = list(inspect.signature(cls).parameters)
  except (TypeError, ValueError):
    raise ValueError(f"model {what}: its constructor's signature cannot be read") from None
  if "input_shape" not in parameters[:1]:
    raise ValueError(f"model {what}: its constructor must take input_shape first "
                     f"(Class(input_shape, **hparams)); it takes ({', '.join(parameters)})")
  builtins = {s.cls.__name__ for s in specs() if s.source == "tfp_zoo"} | set(names())
  if name is not None and cls.__name__ in builtins:
    raise ValueError(f"model {what}: its name {cls.__name__!r} is a built-in model's; "
                     "rename it, or register it under another name")
  return ModelSpec(name=what, cls=cls, latents=None, summary=_first_line(cls.__doc__),
                   source=name or what)
