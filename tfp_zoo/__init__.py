"""tfp-zoo: deep latent-variable models as TFP JointDistributions, and their
learning algorithms as interchangeable estimators.

Submodules load on first use, so `import tfp_zoo.models` does not pay for
TensorFlow Datasets or the training loop.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from typing import Any

__version__ = "0.2.0"

_SUBMODULES = ("app", "datasets", "distributions", "errors", "estimators", "evaluation",
               "exponential_family", "keras", "kernels", "launch", "models", "nn", "registry",
               "testing", "training")
# Modules that moved into subpackages: their old paths import the same module.
_MOVED = {"conv": "nn.conv", "precision": "nn.precision",
          "spatial_transformer": "nn.spatial_transformer",
          "annealed_importance": "evaluation.annealed_importance",
          "log_likelihood_summary": "evaluation.log_likelihood_summary",
          "inference": "evaluation.inference", "frechet": "evaluation.frechet",
          "pictures": "evaluation.samples", "sampling": "evaluation.samples",
          "progress": "training.progress", "launch_flags": "app.launch_flags",
          "figures": "app.figures", "export": "app.export"}
# Names re-exported from submodules: name -> module.
_NAMES = {"Objectives": "estimators", "elbo": "estimators", "iwae": "estimators",
          "LogLikelihood": "evaluation", "log_likelihood": "evaluation",
          "LatentVariableModel": "models", "LinearGaussian": "models", "VAE": "models",
          "AIR": "models"}

__all__ = [*_SUBMODULES, *_MOVED, *_NAMES, "__version__"]


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
  """`import tfp_zoo.conv` (an old path) gives the module `tfp_zoo.nn.conv` itself."""

  def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
    del path, target
    package, _, name = fullname.partition(".")
    if package == __name__ and name in _MOVED:
      return importlib.util.spec_from_loader(fullname, self)
    return None

  def create_module(self, spec: Any) -> Any:
    module = importlib.import_module(f"{__name__}.{_MOVED[spec.name.partition('.')[2]]}")
    self._spec = module.__spec__  # importlib sets the alias's spec on it: put it back
    return module

  def exec_module(self, module: Any) -> None:
    module.__spec__ = self._spec


if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
  sys.meta_path.append(_MovedModules())


def __getattr__(name: str) -> Any:
  if name in _SUBMODULES or name in _MOVED:
    return importlib.import_module(f"tfp_zoo.{name}")
  if name in _NAMES:
    return getattr(importlib.import_module(f"tfp_zoo.{_NAMES[name]}"), name)
  raise AttributeError(f"module 'tfp_zoo' has no attribute {name!r}")


def __dir__() -> list[str]:
  return sorted(__all__)
