"""Models: generative JointDistributions p(z, x) with optional guides q(z | x)."""

from __future__ import annotations

from typing import Any, Sequence

from tfp_zoo.models.air import AIR
from tfp_zoo.models.base import LatentVariableModel, OBSERVATION, Root
from tfp_zoo.models.discrete_vae import DiscreteVAE
from tfp_zoo.models.gaussian_mixture import GaussianMixture
from tfp_zoo.models.hyperspherical_vae import HypersphericalVAE
from tfp_zoo.models.linear_gaussian import LinearGaussian
from tfp_zoo.models.matrix_factorisation import MatrixFactorisation
from tfp_zoo.models.polynomial_regression import PolynomialRegression
from tfp_zoo.models.sigmoid_belief_net import SigmoidBeliefNet
from tfp_zoo.models.spec import LATENT_KINDS, ModelSpec, get_spec, names, register, specs
from tfp_zoo.models.vae import VAE

__all__ = ["LatentVariableModel", "AIR", "DiscreteVAE", "GaussianMixture", "HypersphericalVAE",
           "MatrixFactorisation", "LinearGaussian", "PolynomialRegression", "SigmoidBeliefNet",
           "VAE", "OBSERVATION", "Root",
           "get", "get_class", "names", "check_hparams", "hparam_names", "hparam_defaults",
           "register", "get_spec", "specs", "ModelSpec", "LATENT_KINDS"]


def check_hparams(name: str, hparams: dict[str, Any]) -> None:
  """Raises ValueError naming the model's hyperparameters if `hparams` has others.

  Args:
    name: a registered model name or `package.module:Class` path.
    hparams: hyperparameter names and values; only the names are checked.

  Raises:
    ValueError: an unknown model, or a name its class does not take.
  """
  get_spec(name).check_names(hparams)


def hparam_names(name: str) -> tuple[str, ...]:
  """The hyperparameters model `name` accepts (keyword arguments of its class).

  Args:
    name: a registered model name or `package.module:Class` path.

  Returns:
    The names of its constructor's keyword parameters (not `input_shape`,
    `name`).
  """
  return get_spec(name).hparam_names()


def hparam_defaults(name: str) -> dict[str, Any]:
  """Model `name`'s hyperparameters with their default values (None where the
  model derives the value from others).

  Args:
    name: a registered model name or `package.module:Class` path.

  Returns:
    A dict from each hyperparameter that has a default to that default.
  """
  return get_spec(name).hparam_defaults()


def get_class(name: str) -> type[LatentVariableModel]:
  """The class registered as `name`, or imported from a `module:Class` path
  (ValueError lists the known ones).

  Args:
    name: a registered model name or `package.module:Class` path.

  Returns:
    The `LatentVariableModel` subclass.
  """
  return get_spec(name).cls


def get(name: str, *, input_shape: Sequence[int], **hparams: Any) -> LatentVariableModel:
  """Builds model `name` for observations of `input_shape` with `hparams`.

  Args:
    name: a registered model name (`names()`) or `package.module:Class` path.
    input_shape: the shape of one observation, e.g. (28, 28, 1).
    **hparams: the class's keyword arguments; text values are read as the
      launcher reads them ('2' -> 2, '100-50' -> (100, 50)).

  Returns:
    The new model.

  Raises:
    ValueError: for an unknown name (listing the known ones) or hyperparameter.
  """
  return get_spec(name).build(input_shape, **hparams)
