"""Estimators: `(model, x, *, seed, **options) -> Objectives` learning algorithms.

Each function lives in a module named for its family (`iwae` in
`importance_weighted`, `rws` in `reweighted_wake_sleep`, ...), never after a
function, so `from tfp_zoo.estimators import iwae` is always the function.

Each function is registered where it is defined, with its spec
(`@register(name, latents=..., rules=...)`, `spec.py`): the one place that
says which latents it trains, which options it takes and allows, what state
it keeps and what the training loop supplies. `bind(name, **options)` checks
the options once and pairs the estimator with its state (`binding.py`).
"""

from tfp_zoo.estimators.amortised_learning import AlwsFeatureMap, AlwsState, alws, alws_state
from tfp_zoo.estimators.base import (CONTINUOUS_LATENTS, Objectives, importance_log_weights,
                                     score_function_log_weights)
from tfp_zoo.estimators.binding import BoundEstimator, bind
from tfp_zoo.estimators.spec import (LATENT_KINDS, Estimator, EstimatorSpec, Option, accepts,
                                     check_options, default_num_samples, get, get_spec,
                                     make_state, names, register, spec_from_function, specs,
                                     state_factory, state_of)
from tfp_zoo.estimators.evidence_lower_bound import elbo
from tfp_zoo.estimators.hmc_refined import HmcStepSize, hmc, hmc_state
from tfp_zoo.estimators.total_correlation import beta_tc_vae
from tfp_zoo.estimators.importance_weighted import iwae
from tfp_zoo.estimators.iwae_relatives import ciwae, miwae, piwae
from tfp_zoo.estimators.monte_carlo_objectives import vimco
from tfp_zoo.estimators.neural_variational_inference import NvilBaseline, nvil, nvil_state
from tfp_zoo.estimators.path_derivative import dreg, stl
from tfp_zoo.estimators.reweighted_wake_sleep import rws
from tfp_zoo.estimators.wake_sleep_algorithm import wake_sleep

__all__ = ["Objectives", "elbo", "iwae", "miwae", "ciwae", "piwae", "dreg", "stl", "rws",
           "vimco", "wake_sleep", "nvil", "alws", "NvilBaseline", "AlwsFeatureMap", "AlwsState",
           "importance_log_weights", "get", "names", "check_options", "make_state", "accepts",
           "default_num_samples",
           "Estimator", "bind", "BoundEstimator", "state_factory", "alws_state", "nvil_state", "hmc", "hmc_state", "HmcStepSize",
           "beta_tc_vae", "CONTINUOUS_LATENTS", "score_function_log_weights",
           "register", "state_of", "get_spec", "specs", "EstimatorSpec", "Option",
           "LATENT_KINDS", "spec_from_function"]
# Every built-in estimator is exported under its registered name: adding one
# is its module and the import line above.
__all__ += [s.name for s in specs() if s.source == "tfp_zoo" and s.name not in __all__]
