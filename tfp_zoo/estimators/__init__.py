"""Estimators: `(model, x, *, seed, **options) -> Objectives` learning algorithms.

`bind(name, **options)` checks the options once and pairs the estimator with
the state it keeps (see `binding.py`); the functions themselves stay plain.
"""

from tfp_zoo.estimators.alws import AlwsFeatureMap, alws, alws_state
from tfp_zoo.estimators.base import Objectives, importance_log_weights
from tfp_zoo.estimators.binding import BoundEstimator, bind
from tfp_zoo.estimators.catalog import (Estimator, accepts, check_options, get, make_state,
                                        names, state_factory)
from tfp_zoo.estimators.dreg import dreg, stl
from tfp_zoo.estimators.elbo import elbo
from tfp_zoo.estimators.iwae import iwae
from tfp_zoo.estimators.iwae_relatives import ciwae, miwae, piwae
from tfp_zoo.estimators.nvil import NvilBaseline, nvil, nvil_state
from tfp_zoo.estimators.rws import rws
from tfp_zoo.estimators.vimco import vimco
from tfp_zoo.estimators.wake_sleep import wake_sleep

__all__ = ["Objectives", "elbo", "iwae", "miwae", "ciwae", "piwae", "dreg", "stl", "rws",
           "vimco", "wake_sleep", "nvil", "alws", "NvilBaseline", "AlwsFeatureMap",
           "importance_log_weights", "get", "names", "check_options", "make_state", "accepts",
           "Estimator", "bind", "BoundEstimator", "state_factory"]
