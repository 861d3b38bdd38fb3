"""The values each estimator option allows, checked when an estimator is bound.

`bind` (and through it the launcher's `--estimator_options` and `Trainer`)
refuses a value here in one line naming the estimator, the option and what is
allowed, before any model is built. The estimator functions check the same
values again when called directly, so these rules add no new meaning; they
only move the error to the moment the options are given.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable

from tfp_zoo import kernels
from tfp_zoo.estimators.amortised_learning import BANDWIDTHS, FEATURE_MAPS, SOLVERS
from tfp_zoo.estimators.base import CONTINUOUS_LATENTS
from tfp_zoo.estimators.neural_variational_inference import BASELINES, BOUNDS
from tfp_zoo.estimators.reweighted_wake_sleep import GUIDE_UPDATES
from tfp_zoo.estimators.total_correlation import SAMPLINGS

__all__ = ["RULES", "check_option_values"]

# A rule: value -> None if allowed, else a phrase saying what is.
Rule = Callable[[Any], "str | None"]


def _is_int(value: Any) -> bool:
  return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
  return (isinstance(value, numbers.Real) and not isinstance(value, bool)
          and math.isfinite(value))


def integer(minimum: int) -> Rule:
  return lambda v: None if _is_int(v) and v >= minimum else f"an integer >= {minimum}"


def number(low: float = -math.inf, high: float = math.inf, *, low_open: bool = False,
           high_open: bool = False) -> Rule:
  left, right = "(" if low_open else "[", ")" if high_open else "]"
  text = f"a finite number in {left}{low:g}, {high:g}{right}"
  def rule(v: Any) -> str | None:
    ok = _is_number(v) and (v > low if low_open else v >= low) and (
        v < high if high_open else v <= high)
    return None if ok else text
  return rule


def positive() -> Rule:
  return lambda v: None if _is_number(v) and v > 0 else "a positive finite number"


def one_of(*choices: Any) -> Rule:
  text = "one of " + ", ".join(repr(c) for c in choices)
  return lambda v: None if any(v is c or (v == c and type(v) is type(c))
                               for c in choices) else text


def either(*rules: Rule) -> Rule:
  def rule(v: Any) -> str | None:
    reasons = [r(v) for r in rules]
    return None if None in reasons else " or ".join(reasons)
  return rule


def boolean() -> Rule:
  return lambda v: None if isinstance(v, bool) else "true or false"


_K = integer(1)
RULES: dict[str, dict[str, Rule]] = {
    "elbo": {"num_samples": _K, "analytic_kl": boolean(), "beta": number(0)},
    "iwae": {"num_samples": _K},
    "miwae": {"num_samples": _K, "num_groups": integer(1)},
    "piwae": {"num_samples": _K, "num_groups": integer(1)},
    "ciwae": {"num_samples": _K, "beta": number(0, 1)},
    "dreg": {"num_samples": _K},
    "stl": {"num_samples": _K, "bound": one_of("iwae", "elbo")},
    "rws": {"num_samples": _K, "guide_update": one_of(*GUIDE_UPDATES),
            "mixture_weight": number(0, 1), "num_sleep_samples": integer(0),
            "dreg": boolean()},
    "vimco": {"num_samples": integer(2), "continuous_latents": one_of(*CONTINUOUS_LATENTS)},
    "wake_sleep": {"num_samples": _K, "num_sleep_samples": integer(0)},
    "nvil": {"num_samples": _K, "bound": one_of(*BOUNDS), "baseline": one_of(*BASELINES),
             "continuous_latents": one_of(*CONTINUOUS_LATENTS)},
    "alws": {"num_sleep_samples": integer(4), "num_features": integer(1),
             "kernel": one_of(*kernels.KERNELS),
             "bandwidth": either(one_of(*BANDWIDTHS), positive()),
             "ridge": either(one_of("auto"), positive()), "ridge_every": integer(1),
             "solver": one_of(*SOLVERS), "projection": one_of(*kernels.PROJECTIONS),
             "exponential_family": one_of(True, False, "auto"),
             "validation_fraction": number(0, 1, high_open=True),
             "monitor_every": integer(1), "guide_update": one_of("sleep", "none"),
             "guide_sleep_samples": integer(1), "feature_map": one_of(*FEATURE_MAPS),
             "feature_size": integer(1)},
    "hmc": {"num_samples": _K, "num_hmc_steps": integer(0), "num_leapfrog_steps": integer(1),
            "step_size": positive(), "adapt_step_size": boolean(),
            "target_accept_rate": number(0, 1, low_open=True, high_open=True),
            "adaptation_rate": positive(), "adaptation_decay": number(0, 1)},
    "beta_tc_vae": {"num_samples": _K, "dataset_size": integer(1), "beta": number(0),
                    "alpha": number(0), "gamma": number(0),
                    "sampling": one_of(*SAMPLINGS)},
}


def check_option_values(name: str, options: dict[str, Any]) -> None:
  """Raises ValueError naming the first option whose value `name` does not allow.

  Tensors (a scheduled β passed at call time) are not checked here.
  """
  for option, value in options.items():
    rule = RULES.get(name, {}).get(option)
    if rule is None or hasattr(value, "dtype") and not hasattr(value, "item"):
      continue
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
      value = value.item()  # NumPy scalars
    allowed = rule(value)
    if allowed is not None:
      raise ValueError(f"{name}: {option}={value!r} must be {allowed}")
