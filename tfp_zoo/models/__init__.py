"""Models: generative JointDistributions p(z, x) with optional guides q(z | x)."""

from __future__ import annotations

import inspect
from typing import Any, Sequence

from tfp_zoo.registry import Registry, parse_value
from tfp_zoo.models.air import AIR
from tfp_zoo.models.base import LatentVariableModel, OBSERVATION, Root
from tfp_zoo.models.discrete_vae import DiscreteVAE
from tfp_zoo.models.gaussian_mixture import GaussianMixture
from tfp_zoo.models.hyperspherical_vae import HypersphericalVAE
from tfp_zoo.models.linear_gaussian import LinearGaussian
from tfp_zoo.models.matrix_factorisation import MatrixFactorisation
from tfp_zoo.models.polynomial_regression import PolynomialRegression
from tfp_zoo.models.sigmoid_belief_net import SigmoidBeliefNet
from tfp_zoo.models.vae import VAE

__all__ = ["LatentVariableModel", "AIR", "DiscreteVAE", "GaussianMixture", "HypersphericalVAE",
           "MatrixFactorisation", "LinearGaussian", "PolynomialRegression", "SigmoidBeliefNet",
           "VAE", "OBSERVATION", "Root",
           "get", "get_class", "names", "check_hparams", "hparam_names"]

_REGISTRY: Registry[type[LatentVariableModel]] = Registry("model")
_REGISTRY.register("vae", VAE)
_REGISTRY.register("linear_gaussian", LinearGaussian)
_REGISTRY.register("gaussian_mixture", GaussianMixture)
_REGISTRY.register("sigmoid_belief_net", SigmoidBeliefNet)
_REGISTRY.register("discrete_vae", DiscreteVAE)
_REGISTRY.register("hyperspherical_vae", HypersphericalVAE)
_REGISTRY.register("matrix_factorisation", MatrixFactorisation)
_REGISTRY.register("polynomial_regression", PolynomialRegression)
_REGISTRY.register("air", AIR)


def names() -> tuple[str, ...]:
  """Names of the registered models."""
  return _REGISTRY.names()


def check_hparams(name: str, hparams: dict[str, Any]) -> None:
  """Raises ValueError naming the model's hyperparameters if `hparams` has others."""
  _REGISTRY.check_kwargs(name, hparams, skip=("self", "name", "input_shape"))


def hparam_names(name: str) -> tuple[str, ...]:
  """The hyperparameters model `name` accepts (keyword arguments of its class)."""
  return tuple(p for p in inspect.signature(_REGISTRY.lookup(name)).parameters
               if p not in ("self", "name", "input_shape"))


def hparam_defaults(name: str) -> dict[str, Any]:
  """Model `name`'s hyperparameters with their default values (None where the
  model derives the value from others)."""
  parameters = inspect.signature(_REGISTRY.lookup(name)).parameters
  return {p: parameters[p].default for p in hparam_names(name)
          if parameters[p].default is not inspect.Parameter.empty}


def get_class(name: str) -> type[LatentVariableModel]:
  """The class registered as `name` (ValueError lists the known ones)."""
  return _REGISTRY.lookup(name)


def get(name: str, *, input_shape: Sequence[int], **hparams: Any) -> LatentVariableModel:
  """Builds model `name` for observations of `input_shape` with `hparams`.

  Raises:
    ValueError: for an unknown name (listing the known ones) or hyperparameter.
  """
  check_hparams(name, hparams)
  return _REGISTRY.lookup(name)(input_shape, **_from_text(name, hparams))


def _from_text(name: str, hparams: dict[str, Any]) -> dict[str, Any]:
  """Text values as the launcher reads them ('2' -> 2, '100-50' -> (100, 50),
  'true' -> True) for hyperparameters that do not take text, so Python accepts
  the launcher's forms; text that reads as no number is refused here."""
  parameters = inspect.signature(_REGISTRY.lookup(name)).parameters
  out = dict(hparams)
  for key, value in hparams.items():
    annotation = str(parameters[key].annotation)
    if not isinstance(value, str) or "str" in annotation or annotation == "Any":
      continue
    parsed = parse_value(value)
    if isinstance(parsed, str):
      raise ValueError(f"model {name!r}: {key}={value!r} must be {annotation} (text is "
                       "read as the launcher reads it: 2, 0.5, true, 100-50)")
    out[key] = parsed
  return out
