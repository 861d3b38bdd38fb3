"""A tiny name -> factory registry with clear errors, shared by models and estimators."""

from __future__ import annotations

import importlib
import inspect
import math
import re
from typing import Any, Callable, Generic, Mapping, TypeVar

__all__ = ["Registry", "parse_key_values", "parse_value", "is_object_path", "import_object", "type_phrase",
           "check_keyword_types", "is_of_type",
           "RESERVED_PREFIXES"]

# Prefixes of --dataset values that name files, never a module to import.
RESERVED_PREFIXES = ("npz:", "folder:", "tfds:")
_OBJECT_PATH = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")

T = TypeVar("T")


class Registry(Generic[T]):
  """Maps names to factories; unknown names and keyword arguments fail clearly.

  Args:
    kind: what the entries are, for messages (e.g. 'model', 'estimator').
  """

  def __init__(self, kind: str):
    self._kind = kind
    self._entries: dict[str, T] = {}

  def register(self, name: str, entry: T) -> T:
    if name in self._entries:
      raise ValueError(f"{self._kind} {name!r} is already registered")
    self._entries[name] = entry
    return entry

  def unregister(self, name: str) -> T:
    """Removes `name` (tests that register a throwaway entry clean up)."""
    return self._entries.pop(name)

  def replace(self, name: str, entry: T) -> T:
    """Registers `entry` under a name it already holds (a module imported again)."""
    self._entries[name] = entry
    return entry

  def names(self) -> tuple[str, ...]:
    return tuple(sorted(self._entries))

  def __contains__(self, name: str) -> bool:
    return name in self._entries

  def lookup(self, name: str) -> T:
    if name not in self._entries:
      raise ValueError(f"unknown {self._kind} {name!r}; known: {', '.join(self.names())}")
    return self._entries[name]

  def resolve(self, name: Any, from_path: Callable[[str], T], path_form: str) -> T:
    """The entry registered as `name`, or `from_path(name)` for a
    `package.module:object` path (a user's own); ValueError otherwise,
    listing the known names and the path form."""
    if not isinstance(name, str):
      raise ValueError(f"{self._kind} must be a name or {path_form}, got "
                       f"{type(name).__name__}")
    if name in self._entries:
      return self._entries[name]
    if is_object_path(name):
      return from_path(name)
    raise ValueError(f"unknown {self._kind} {name!r}; known: {', '.join(self.names())}, or "
                     f"{path_form}")

  def check_kwargs(self, name: str, kwargs: Mapping[str, Any],
                   skip: tuple[str, ...] = ()) -> None:
    """Raises if `kwargs` names a keyword-only/keyword argument the entry lacks."""
    signature = inspect.signature(self.lookup(name))
    accepted = [p.name for p in signature.parameters.values()
                if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
                and p.name not in skip]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
      raise ValueError(f"{self._kind} {name!r} does not take {', '.join(unknown)}; "
                       f"it takes: {', '.join(accepted)}")


def parse_key_values(text: str) -> dict[str, Any]:
  """Parses 'a=1,b=tanh,c=100-50,d=true' into typed Python values.

  Values are ints, floats, booleans, '-'-separated int tuples, or strings.

  Args:
    text: comma-separated `key=value` items (may be empty).

  Returns:
    A dict from each key to its value as `parse_value` reads it.

  Raises:
    ValueError: an item without '=', a key that is not an identifier, or a
      key given twice.
  """
  result: dict[str, Any] = {}
  for item in filter(None, (t.strip() for t in text.split(","))):
    if "=" not in item:
      raise ValueError(f"expected key=value, got {item!r}")
    key, value = (s.strip() for s in item.split("=", 1))
    if not key.isidentifier():
      raise ValueError(f"{key!r} is not a valid name")
    if key in result:
      raise ValueError(f"{key} is given twice")
    result[key] = parse_value(value)
  return result


def parse_value(value: str) -> Any:
  """One value as the launcher reads it: bool, int, float, '100-50' tuple or str.

  Args:
    value: the text, e.g. 'true', '2', '0.5', '100-50' or 'tanh'.

  Returns:
    The first reading that fits, in that order: a bool ('true'/'false', any
    case), an int, a float, a tuple of ints, else `value` unchanged.
  """
  lowered = value.lower()
  if lowered in ("true", "false"):
    return lowered == "true"
  for cast in (int, float):
    try:
      return cast(value)
    except ValueError:
      pass
  parts = value.split("-")
  if len(parts) > 1 and all(p.isdigit() for p in parts):
    return tuple(int(p) for p in parts)
  return value




def check_keyword_types(what: str, parameters: Mapping[str, inspect.Parameter],
                        values: Mapping[str, Any]) -> None:
  """Each value must have the type of its parameter's default (ints pass for
  floats; NumPy scalars as their Python type); floats must be finite.
  Parameters without a default, defaulting to None or annotated Any take any.

  Args:
    what: who is checking, the messages' prefix (e.g. "model 'vae'").
    parameters: the callee's parameters by name (`inspect.signature`).
    values: the given keyword values; every key must be in `parameters`.

  Raises:
    ValueError: naming `what`, the key, the value and the expected type.
  """
  for key, value in values.items():
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
      value = value.item()  # NumPy scalars
    if isinstance(value, float) and not math.isfinite(value):
      raise ValueError(f"{what}: {key}={value!r} must be finite")
    default = parameters[key].default
    if (default is None or default is inspect.Parameter.empty
        or parameters[key].annotation in ("Any", Any)):
      continue
    expected = type(default)
    if not is_of_type(value, expected):
      raise ValueError(f"{what}: {key}={value!r} must be {type_phrase(expected)} "
                       f"(default {default!r})")


def is_of_type(value: Any, expected: type) -> bool:
  """isinstance, except that booleans are no integers and integers are numbers.

  Args:
    value: the value to test.
    expected: the type it should have.

  Returns:
    True if `value` counts as an `expected`.
  """
  return (isinstance(value, expected) and not (expected is int and isinstance(value, bool))
          or (expected is float and isinstance(value, int) and not isinstance(value, bool)))


def type_phrase(kind: type) -> str:
  """How a message names a value's expected type: 'an integer', 'a number'.

  Args:
    kind: the expected type.

  Returns:
    The phrase ('a <name>' for types other than int, float, bool and str).
  """
  return {int: "an integer", float: "a number", bool: "true or false",
          str: "a string"}.get(kind, f"a {kind.__name__}")


def is_object_path(text: Any) -> bool:
  """Whether `text` reads as `package.module:object` (not a reserved prefix).

  Args:
    text: any value; only a string can be a path.

  Returns:
    True for a string of the form `package.module:object` that does not
    start with a reserved prefix such as 'npz:'.
  """
  return (isinstance(text, str) and not text.startswith(RESERVED_PREFIXES)
          and bool(_OBJECT_PATH.match(text)))


def import_object(path: str, kind: str) -> Any:
  """The object `package.module:object` names: a user's model, estimator or
  data source given to the launcher.

  Args:
    path: `package.module:object` (the object may be dotted, `module:A.b`).
    kind: what the object is, for messages (e.g. 'model').

  Returns:
    The object, after importing its module.

  Raises:
    ValueError: one line naming the path and what is missing (the module does
      not import, or has no such attribute).
  """
  if not is_object_path(path):
    raise ValueError(f"{kind} {path!r}: expected package.module:object")
  module_name, attribute = path.split(":", 1)
  try:
    module = importlib.import_module(module_name)
  except ImportError as e:
    missing = getattr(e, "name", None)
    why = (f"no module named {missing!r}" if isinstance(e, ModuleNotFoundError) and missing
           else _first_line(e))
    raise ValueError(f"{kind} {path!r}: cannot import {module_name} ({why}; is its "
                     "directory on PYTHONPATH?)") from None
  except Exception as e:  # pylint: disable=broad-except
    raise ValueError(f"{kind} {path!r}: importing {module_name} failed "
                     f"({type(e).__name__}: {_first_line(e)})") from None
  value: Any = module
  for part in attribute.split("."):
    if not hasattr(value, part):
      raise ValueError(f"{kind} {path!r}: {module_name} has no {attribute!r}")
    value = getattr(value, part)
  return value


def _first_line(error: BaseException) -> str:
  lines = str(error).strip().splitlines()
  return lines[0][:300] if lines else type(error).__name__
