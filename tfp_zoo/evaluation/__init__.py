"""Evaluation: importance-sampled log p(x) in chunks with its ESS and standard
error (`log_likelihood`), annealed importance sampling
(`annealed_importance`), gradient SNR, samples and pictures as arrays
(`samples`), amortised posterior inference (`inference`), the Fréchet
distance of sample quality (`frechet`) and scene models' count accuracy and
box IoU (`scenes`).
"""

import importlib

from tfp_zoo.evaluation.log_likelihood import (PROPOSALS, DatasetLogLikelihood, GradientSNR,
                                               LogLikelihood, ais_log_likelihood,
                                               dataset_log_likelihood, gradient_snr,
                                               log_likelihood, log_likelihood_weights,
                                               summarize_log_weights)
from tfp_zoo.evaluation.scenes import SceneScores, scene_scores

__all__ = ["PROPOSALS", "LogLikelihood", "ais_log_likelihood", "DatasetLogLikelihood",
           "GradientSNR", "log_likelihood", "log_likelihood_weights", "summarize_log_weights",
           "dataset_log_likelihood", "gradient_snr", "SceneScores", "scene_scores"]

_SUBMODULES = ("annealed_importance", "frechet", "inference",
               "log_likelihood", "log_likelihood_summary", "samples", "scenes")


# Submodules load on first use (`tfp_zoo.evaluation.X` works after `import tfp_zoo`).
def __getattr__(name: str) -> object:
  if name in _SUBMODULES:
    return importlib.import_module(f"{__name__}.{name}")
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
