"""The contract every model honours; estimators rely on nothing else."""

from __future__ import annotations

import abc
from typing import Sequence

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

__all__ = ["LatentVariableModel", "Root", "OBSERVATION"]

Root = tfd.JointDistributionCoroutine.Root
OBSERVATION = "x"


class LatentVariableModel(tf.Module, abc.ABC):
  """A generative model p_θ(z, x) with an optional guide q_φ(z | x).

  Subclasses own their networks and variables and *build* distributions on
  demand (never store a JointDistribution as an attribute: it breaks
  checkpoints and SavedModels, TFP issue 1681).

  * `joint()` returns a `tfd.JointDistributionCoroutine` whose named parts are
    the latents, then the observation named `'x'`; its first part is wrapped in
    `Root` so it samples with any sample shape, and its `log_prob` broadcasts
    over leading sample/batch dimensions.
  * `guide(x)` returns a JointDistribution over the latent parts, with the same
    names. Its parts come in the guide's own sampling order, which for a
    hierarchical guide q(z1|x) q(z2|z1) is the reverse of the model's; the
    estimators therefore match guide and model parts by name.
  * `generative_variables` (θ) and `guide_variables` (φ) are disjoint tuples.
  """

  def __init__(self, input_shape: Sequence[int], name: str | None = None):
    super().__init__(name=name)
    input_shape = tuple(int(d) for d in input_shape)
    if not input_shape or any(d <= 0 for d in input_shape):
      raise ValueError(f"input_shape must be non-empty and positive, got {input_shape}")
    self.input_shape = input_shape

  @property
  def event_ndims(self) -> int:
    return len(self.input_shape)

  @abc.abstractmethod
  def joint(self) -> tfd.JointDistribution:
    """Returns p_θ(z, x) as a JointDistributionCoroutine (latents, then 'x')."""

  def guide(self, x: tf.Tensor) -> tfd.JointDistribution:
    """Returns q_φ(z | x); models without a recognition model raise."""
    raise NotImplementedError(f"{type(self).__name__} has no guide q(z | x)")

  @property
  def has_guide(self) -> bool:
    return bool(self.guide_variables)

  @property
  @abc.abstractmethod
  def generative_variables(self) -> tuple[tf.Variable, ...]:
    """θ: the variables of p_θ(z, x)."""

  @property
  def guide_variables(self) -> tuple[tf.Variable, ...]:
    """φ: the variables of q_φ(z | x) (empty for models without a guide)."""
    return ()

  @property
  def latent_names(self) -> tuple[str, ...]:
    """Names of the joint's latent parts, in the joint's order."""
    return tuple(n for n in self.joint().dtype._fields if n != OBSERVATION)
