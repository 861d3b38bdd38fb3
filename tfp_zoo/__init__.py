"""tfp-zoo: deep latent-variable models as TFP JointDistributions, and their
learning algorithms as interchangeable estimators.

Submodules load on first use, so `import tfp_zoo.models` does not pay for
TensorFlow Datasets or the training loop.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = ("annealed_importance", "conv", "datasets", "errors", "estimators", "evaluation", "exponential_family", "export",
               "figures", "frechet", "inference", "kernels", "models", "nn", "pictures", "precision",
               "sampling", "spatial_transformer", "training")
# Names re-exported from submodules: name -> module.
_NAMES = {"Objectives": "estimators", "elbo": "estimators", "iwae": "estimators",
          "LogLikelihood": "evaluation", "log_likelihood": "evaluation",
          "LatentVariableModel": "models", "LinearGaussian": "models", "VAE": "models",
          "AIR": "models"}

__all__ = [*_SUBMODULES, *_NAMES, "__version__"]


def __getattr__(name: str) -> Any:
  if name in _SUBMODULES:
    return importlib.import_module(f"tfp_zoo.{name}")
  if name in _NAMES:
    return getattr(importlib.import_module(f"tfp_zoo.{_NAMES[name]}"), name)
  raise AttributeError(f"module 'tfp_zoo' has no attribute {name!r}")


def __dir__() -> list[str]:
  return sorted(__all__)
