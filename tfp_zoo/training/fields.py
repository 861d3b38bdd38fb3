"""Configuration fields that become launcher flags: each field's metadata says
how it becomes a flag (`help`, bounds, choices) and how it may change when a
run resumes (`resume`); `check_field` is the one check of a field's value.
`TrainConfig` and the other launchers' configs (`app.launcher_configs`) use
it, and `launch_flags` derives the flags from it.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import numbers
from typing import Any, Callable

from tfp_zoo import registry
from tfp_zoo.errors import ConfigError

__all__ = ["field", "check_field", "check_fields", "default_of"]


def default_of(fn: Callable[..., Any], name: str) -> Any:
  """The default of `fn`'s keyword `name`: a launcher flag feeding a Python
  function takes the function's default, so each option has one."""
  return inspect.signature(fn).parameters[name].default


def field(default: Any, help: str, *, resume: str = "same", lower: float | None = None,
          upper: float | None = None, choices: Any = None, factory: Any = None,
          required: bool = False, plugin: bool = False, lower_open: bool = False,
          allowed: str | None = None, checked_by: type | None = None) -> Any:
  """A config field that is also a flag.

  Args:
    default: its default (the one default of the option).
    help: the flag's help.
    resume: how a resumed run may change it (`config.RESUME_RULES`).
    lower, upper: bounds (`lower_open`: strictly above `lower`).
    choices: `() -> allowed values` (an enum flag).
    factory: a default factory (dicts).
    required: the flag must be given.
    plugin: besides `choices`, a `package.module:object` path is allowed.
    allowed: what the message says is allowed when a bound fails.
    checked_by: the class whose construction checks the value (`StepConfig`
      for the train step's settings): `check_field` leaves it alone, so each
      value is checked in one place.
  """
  metadata = dict(help=help, resume=resume, lower=lower, upper=upper, choices=choices,
                  required=required, plugin=plugin, lower_open=lower_open, allowed=allowed,
                  checked_by=checked_by)
  if factory is not None:
    return dataclasses.field(default_factory=factory, metadata=metadata)
  return dataclasses.field(default=default, metadata=metadata)


def check_field(config: Any, field: dataclasses.Field) -> None:
  value, meta, name = getattr(config, field.name), field.metadata, field.name
  if meta.get("checked_by") is not None:
    return
  def need(ok: bool, allowed: str) -> None:
    if not ok:
      raise ConfigError(f"--{name}={value!r}: {allowed}")

  kind = field.type.split(" |")[0] if isinstance(field.type, str) else field.type
  if meta["required"]:
    need(bool(value), "required")
  if value is None:
    need(field.default is None and not meta["required"], "required")
    return
  if meta["choices"] is not None and not (meta["plugin"] and registry.is_object_path(value)):
    need(value in meta["choices"](), f"one of {', '.join(meta['choices']())}"
         + (", or package.module:object (your own)" if meta["plugin"] else ""))
  if kind == "int":
    need(isinstance(value, numbers.Integral) and not isinstance(value, bool),
         "must be an integer")
  elif kind == "float":
    need(isinstance(value, (int, float)) and not isinstance(value, bool), "must be a number")
    need(math.isfinite(value), "must be finite")
  elif kind == "bool":
    need(isinstance(value, bool), "must be true or false")
  elif kind == "str":
    need(isinstance(value, str), "must be a string")
  elif kind.startswith("dict"):
    need(isinstance(value, dict), "must be key=value pairs")
  lower, upper = meta["lower"], meta["upper"]
  if lower is not None or upper is not None:
    need((lower is None or (value > lower if meta["lower_open"] else value >= lower))
         and (upper is None or value <= upper),
         meta["allowed"] or _range_text(kind, lower, upper))


def _range_text(kind: str, lower: float | None, upper: float | None) -> str:
  if upper is not None:
    return f"must be an integer in [{int(lower)}, {int(upper) + 1})"
  if kind == "float":
    return "must be a non-negative number (0 = no limit)"
  return ("must be a positive integer" if lower == 1
          else "must be a non-negative integer (0 = off / all)")


def check_fields(config: Any) -> None:
  """`check_field` for every field of a config dataclass (ConfigError on the first bad one)."""
  for item in dataclasses.fields(config):
    check_field(config, item)
