"""Estimators: `(model, x, *, seed, **options) -> Objectives` learning algorithms."""

from __future__ import annotations

from typing import Any, Callable

from tfp_zoo.registry import Registry
from tfp_zoo.estimators.base import Objectives, importance_log_weights
from tfp_zoo.estimators.elbo import elbo
from tfp_zoo.estimators.iwae import iwae

__all__ = ["Objectives", "elbo", "iwae", "importance_log_weights", "get", "names",
           "check_options", "Estimator"]

Estimator = Callable[..., Objectives]
_REGISTRY: Registry[Estimator] = Registry("estimator")
_REGISTRY.register("elbo", elbo)
_REGISTRY.register("iwae", iwae)


def names() -> tuple[str, ...]:
  """Names of the registered estimators."""
  return _REGISTRY.names()


def get(name: str) -> Estimator:
  """The estimator function registered as `name` (ValueError lists the known ones)."""
  return _REGISTRY.lookup(name)


def check_options(name: str, options: dict[str, Any]) -> None:
  """Raises ValueError naming the estimator's options if `options` has others."""
  _REGISTRY.check_kwargs(name, options, skip=("model", "x", "seed"))
