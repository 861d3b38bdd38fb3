"""The vocabulary of option rules: what values an estimator option allows.

An estimator names a rule per option where it is registered
(`tfp_zoo.estimators.register(..., rules={"num_samples": integer(1)})`); the
spec checks every given value against it, once, and the docs tables print the
rule's `text`. `RULES` and `check_option_values` read the registered specs.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable

__all__ = ["Rule", "RULES", "check_option_values", "integer", "number", "positive", "one_of",
           "either", "boolean"]


class Rule:
  """A predicate on a value and the phrase that says what it allows.

  Calling a rule returns None if the value is allowed, else the phrase (so
  a message reads `f"{option}={value!r} must be {rule(value)}"`).
  """

  def __init__(self, allowed: Callable[[Any], bool], text: str,
               choices: tuple[Any, ...] = (), open_ended: bool = False):
    self._allowed = allowed
    self.text = text
    self.choices = choices  # the named values it allows (one_of), for tables
    self.open_ended = open_ended  # choices or a number (either(one_of(...), positive()))

  def __call__(self, value: Any) -> str | None:
    return None if self._allowed(value) else self.text

  def __repr__(self) -> str:
    return f"Rule({self.text!r})"


def _is_int(value: Any) -> bool:
  return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
  return (isinstance(value, numbers.Real) and not isinstance(value, bool)
          and math.isfinite(value))


def integer(minimum: int) -> Rule:
  """Integers >= `minimum` (booleans are not integers here)."""
  return Rule(lambda v: _is_int(v) and v >= minimum, f"an integer >= {minimum}")


def number(low: float = -math.inf, high: float = math.inf, *, low_open: bool = False,
           high_open: bool = False) -> Rule:
  """Finite numbers in an interval, closed unless `low_open`/`high_open`."""
  left, right = "(" if low_open else "[", ")" if high_open else "]"
  return Rule(lambda v: _is_number(v) and (v > low if low_open else v >= low) and (
      v < high if high_open else v <= high), f"a finite number in {left}{low:g}, {high:g}{right}")


def positive() -> Rule:
  return Rule(lambda v: _is_number(v) and v > 0, "a positive finite number")


def one_of(*choices: Any) -> Rule:
  return Rule(lambda v: any(v is c or (v == c and type(v) is type(c)) for c in choices),
              "one of " + ", ".join(repr(c) for c in choices), tuple(choices))


def either(*rules: Rule) -> Rule:
  return Rule(lambda v: any(r(v) is None for r in rules), " or ".join(r.text for r in rules),
              tuple(c for r in rules for c in r.choices),
              open_ended=any(not r.choices for r in rules))


def boolean() -> Rule:
  return Rule(lambda v: isinstance(v, bool), "true or false")


# name -> spec lookup, set by `spec.py` when it loads (this module is below it).
_get_spec: Callable[[str], Any] | None = None
_names: Callable[[], tuple[str, ...]] = tuple


def check_option_values(name: str, options: dict[str, Any]) -> None:
  """Raises ValueError naming the first option whose value estimator `name`
  does not allow (the registered spec's check)."""
  _get_spec(name).check_values(options)


def __getattr__(name: str) -> Any:
  if name == "RULES":  # read from the specs, so it can never disagree with them
    return {n: {o: opt.rule for o, opt in _get_spec(n).options.items() if opt.rule is not None}
            for n in _names()}
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
