"""Lookups of registered estimators (kept for imports of this module's old
path); the registry and each estimator's spec live in `spec.py`."""

from tfp_zoo.estimators.spec import (Estimator, accepts, check_options, default_num_samples,
                                     get, make_state, names, state_factory)

__all__ = ["Estimator", "get", "names", "check_options", "accepts", "make_state",
           "state_factory", "default_num_samples"]
