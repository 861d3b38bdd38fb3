"""Estimators: `(model, x, *, seed, **options) -> Objectives` learning algorithms."""

from __future__ import annotations

from typing import Any, Callable

from tfp_zoo.registry import Registry
from tfp_zoo.estimators.base import Objectives, importance_log_weights
from tfp_zoo.estimators.dreg import dreg, stl
from tfp_zoo.estimators.elbo import elbo
from tfp_zoo.estimators.iwae import iwae
from tfp_zoo.estimators.iwae_relatives import ciwae, miwae, piwae
from tfp_zoo.estimators.rws import rws
from tfp_zoo.estimators.vimco import vimco
from tfp_zoo.estimators.wake_sleep import wake_sleep

__all__ = ["Objectives", "elbo", "iwae", "miwae", "ciwae", "piwae", "dreg", "stl", "rws",
           "vimco", "wake_sleep", "importance_log_weights", "get", "names",
           "check_options", "Estimator"]

Estimator = Callable[..., Objectives]
_REGISTRY: Registry[Estimator] = Registry("estimator")
for _name, _fn in (("elbo", elbo), ("iwae", iwae), ("miwae", miwae), ("ciwae", ciwae),
                   ("piwae", piwae), ("dreg", dreg), ("stl", stl), ("rws", rws),
                   ("vimco", vimco), ("wake_sleep", wake_sleep)):
  _REGISTRY.register(_name, _fn)


def names() -> tuple[str, ...]:
  """Names of the registered estimators."""
  return _REGISTRY.names()


def get(name: str) -> Estimator:
  """The estimator function registered as `name` (ValueError lists the known ones)."""
  return _REGISTRY.lookup(name)


def check_options(name: str, options: dict[str, Any]) -> None:
  """Raises ValueError naming the estimator's options if `options` has others."""
  _REGISTRY.check_kwargs(name, options, skip=("model", "x", "seed"))
