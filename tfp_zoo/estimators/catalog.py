"""The estimator registry: names, lookup, options and state factories."""

from __future__ import annotations

import inspect
from typing import Any, Callable

import tensorflow as tf

from tfp_zoo.registry import Registry
from tfp_zoo.estimators.amortised_learning import alws, alws_state
from tfp_zoo.estimators.base import Objectives
from tfp_zoo.estimators.path_derivative import dreg, stl
from tfp_zoo.estimators.evidence_lower_bound import elbo
from tfp_zoo.estimators.hmc_refined import hmc, hmc_state
from tfp_zoo.estimators.importance_weighted import iwae
from tfp_zoo.estimators.iwae_relatives import ciwae, miwae, piwae
from tfp_zoo.estimators.neural_variational_inference import nvil, nvil_state
from tfp_zoo.estimators.reweighted_wake_sleep import rws
from tfp_zoo.estimators.total_correlation import beta_tc_vae
from tfp_zoo.estimators.monte_carlo_objectives import vimco
from tfp_zoo.estimators.wake_sleep_algorithm import wake_sleep

__all__ = ["Estimator", "get", "names", "check_options", "accepts", "make_state",
           "state_factory", "default_num_samples"]

Estimator = Callable[..., Objectives]
_REGISTRY: Registry[Estimator] = Registry("estimator")
for _name, _fn in (("elbo", elbo), ("iwae", iwae), ("miwae", miwae), ("ciwae", ciwae),
                   ("piwae", piwae), ("dreg", dreg), ("stl", stl), ("rws", rws),
                   ("vimco", vimco), ("wake_sleep", wake_sleep), ("nvil", nvil),
                   ("alws", alws), ("hmc", hmc), ("beta_tc_vae", beta_tc_vae)):
  _REGISTRY.register(_name, _fn)
# Estimators that keep state between steps (e.g. NVIL's baseline): a factory
# `(model, **options) -> tf.Module | None`; the module's trainable variables are
# trained with the guide's optimizer and it is passed back as `state=`.
_STATE_FACTORIES: dict[str, Callable[..., tf.Module | None]] = {"nvil": nvil_state,
                                                                "alws": alws_state,
                                                                "hmc": hmc_state}


def names() -> tuple[str, ...]:
  """Names of the registered estimators."""
  return _REGISTRY.names()


def get(name: str) -> Estimator:
  """The estimator function registered as `name` (ValueError lists the known ones)."""
  return _REGISTRY.lookup(name)


def check_options(name: str, options: dict[str, Any]) -> None:
  """Raises ValueError naming the estimator's options if `options` has others."""
  _REGISTRY.check_kwargs(name, options, skip=("model", "x", "seed", "state"))


def accepts(name: str, option: str) -> bool:
  """Whether estimator `name` takes the keyword `option` (e.g. 'num_samples')."""
  return option in inspect.signature(_REGISTRY.lookup(name)).parameters


def default_num_samples(name: str) -> int | None:
  """Estimator `name`'s own default K (its `num_samples` default: 1 for elbo,
  5 for iwae), the same from Python and from the launcher; None without K."""
  parameter = inspect.signature(_REGISTRY.lookup(name)).parameters.get("num_samples")
  return None if parameter is None else parameter.default


def make_state(name: str, model: Any, **options: Any) -> tf.Module | None:
  """The state estimator `name` keeps between steps with `options`, or None.

  Pass it to the estimator as `state=` at every step, train its
  `trainable_variables` with the guide's, and checkpoint it.
  """
  factory = _STATE_FACTORIES.get(name)
  return None if factory is None else factory(model, **options)


def state_factory(name: str) -> Callable[..., tf.Module | None] | None:
  """The state factory of estimator `name`, or None if it keeps no state."""
  return _STATE_FACTORIES.get(name)
