"""A tiny name -> factory registry with clear errors, shared by models and estimators."""

from __future__ import annotations

import inspect
from typing import Any, Generic, Mapping, TypeVar

__all__ = ["Registry", "parse_key_values", "parse_value"]

T = TypeVar("T")


class Registry(Generic[T]):
  """Maps names to factories; unknown names and keyword arguments fail clearly."""

  def __init__(self, kind: str):
    self._kind = kind
    self._entries: dict[str, T] = {}

  def register(self, name: str, entry: T) -> T:
    if name in self._entries:
      raise ValueError(f"{self._kind} {name!r} is already registered")
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
  """One value as the launcher reads it: bool, int, float, '100-50' tuple or str."""
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


