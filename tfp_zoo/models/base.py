"""The contract every model honours; estimators rely on nothing else."""

from __future__ import annotations

import abc
import math
from typing import Any, Sequence

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

__all__ = ["LatentVariableModel", "Root", "OBSERVATION", "SUPPORTS", "check_that",
           "check_values"]

Root = tfd.JointDistributionCoroutine.Root
OBSERVATION = "x"

# Where observations may lie: support name -> (low, high, what it is, hint).
SUPPORTS: dict[str, tuple[float, float, str, str]] = {
    "real": (-math.inf, math.inf, "real", ""),
    "unit_interval": (0.0, 1.0, "Bernoulli", "; divide 8-bit images by 255"),
    "nonnegative": (0.0, math.inf, "non-negative", ""),
    "eight_bit": (0.0, 255.0, "8-bit", "; pass 8-bit pixels unscaled (--binarization=none)"),
}


def check_that(condition: tf.Tensor, message: str) -> tf.Operation | None:
  """Refuses data for which `condition` (a scalar bool tensor) is false.

  Eagerly this raises `tf.errors.InvalidArgumentError(message)` at once. In a
  graph it returns an op to run first (a control dependency), which raises the
  same error when the condition is false: a `tf.debugging.Assert` whose error
  line is `assertion failed: [<message>]`, the reason in full. (CheckNumerics
  of a NaN flag, used before, appended " : Tensor had NaN values" to every
  message, NaN or not.) It is plain TensorFlow, so SavedModels that hold it
  load without this package.

  Under XLA (`tf.function(jit_compile=True)`) TensorFlow compiles Assert to
  nothing, so only the static checks of the caller apply there: check data
  before it enters a compiled step.
  """
  if tf.executing_eagerly():
    if not bool(condition):
      raise tf.errors.InvalidArgumentError(None, None, message)
    return None
  return tf.debugging.Assert(condition, [message])


def check_values(x: tf.Tensor, name: str = "x", support: str = "real",
                 what: str = "") -> tf.Tensor:
  """`x` after checking that its values are finite and inside `support`.

  Costs one pass over x for finiteness and, for a bounded support, one fused
  pass for the range: negligible next to any network.

  Args:
    x: a floating tensor.
    name: the argument's name, which starts every error message.
    support: a key of `SUPPORTS`.
    what: who expects the support (e.g. the model's class), for the message.

  Returns:
    `x` (in a graph, an identity that runs after the checks).

  Raises:
    tf.errors.InvalidArgumentError: eagerly at once, in a graph when run.
  """
  low, high, description, hint = SUPPORTS[support]
  owner = f" ({what} has {description} observations)" if what else ""
  if tf.executing_eagerly():
    finite = tf.math.is_finite(x)
    if not bool(tf.reduce_all(finite)):
      num_nan = int(tf.reduce_sum(tf.cast(tf.math.is_nan(x), tf.int32)))
      num_inf = int(tf.size(x)) - int(tf.reduce_sum(tf.cast(finite, tf.int32))) - num_nan
      raise tf.errors.InvalidArgumentError(
          None, None, f"{name}: expected finite values, got {num_nan} NaN and {num_inf} "
          "infinite values")
    if (low, high) != (-math.inf, math.inf) and int(tf.size(x)):
      lo, hi = float(tf.reduce_min(x)), float(tf.reduce_max(x))
      if lo < low or hi > high:
        raise tf.errors.InvalidArgumentError(
            None, None, f"{name}: expected values in [{low:g}, {high:g}]{owner}, got "
            f"values in [{lo:g}, {hi:g}]{hint}")
    if support == "eight_bit" and not bool(tf.reduce_all(tf.equal(x, tf.round(x)))):
      raise tf.errors.InvalidArgumentError(
          None, None, f"{name}: expected integer levels 0..255{owner}, got fractions{hint}")
    return x
  checks = [check_that(tf.reduce_all(tf.math.is_finite(x)),
                      f"{name}: expected finite values, got NaN or infinity")]
  if (low, high) != (-math.inf, math.inf):
    inside = tf.reduce_all(tf.logical_and(x >= low, x <= high))
    checks.append(check_that(inside, f"{name}: expected values in [{low:g}, {high:g}]"
                                     f"{owner}{hint}"))
  if support == "eight_bit":
    checks.append(check_that(tf.reduce_all(tf.equal(x, tf.round(x))),
                             f"{name}: expected integer levels 0..255{owner}{hint}"))
  with tf.control_dependencies(checks):
    return tf.identity(x)


class LatentVariableModel(tf.Module, abc.ABC):
  """A generative model p_θ(z, x) with an optional guide q_φ(z | x).

  Subclasses own their networks and variables and *build* distributions on
  demand (never store a JointDistribution as an attribute: it breaks
  checkpoints and SavedModels: a JointDistribution's tracked parts do not
  restore or serialise as module state).

  * `joint()` returns a `tfd.JointDistributionCoroutine` whose named parts are
    the latents, then the observation named `'x'`; its first part is wrapped in
    `Root` so it samples with any sample shape, and its `log_prob` broadcasts
    over leading sample/batch dimensions.
  * `guide(x)` returns a JointDistribution over the latent parts, with the same
    names. Its parts come in the guide's own sampling order, which for a
    hierarchical guide q(z1|x) q(z2|z1) is the reverse of the model's; the
    estimators therefore match guide and model parts by name.
  * `generative_variables` (θ) and `guide_variables` (φ) are disjoint tuples.

  Args:
    input_shape: the shape of one observation, e.g. (28, 28, 1); non-empty,
      every dimension positive.
    name: the module's name (default: the class's).

  Raises:
    ValueError: an empty `input_shape` or a dimension that is not positive.
  """

  def __getattr__(self, name: str) -> Any:
    # Only reached when normal lookup fails: a subclass that skipped
    # super().__init__ has no input_shape, and should say so, not fail later.
    if name == "input_shape":
      raise AttributeError(
          f"{type(self).__name__} was not initialised as a LatentVariableModel: its "
          "__init__ must call super().__init__(input_shape, name=name) first")
    raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

  def __init__(self, input_shape: Sequence[int], name: str | None = None):
    super().__init__(name=name)
    input_shape = tuple(int(d) for d in input_shape)
    if not input_shape or any(d <= 0 for d in input_shape):
      raise ValueError(f"input_shape must be non-empty and positive, got {input_shape}")
    self.input_shape = input_shape

  @property
  def event_ndims(self) -> int:
    return len(self.input_shape)

  @property
  def observation_support(self) -> str:
    """Where observations may lie, a key of `SUPPORTS`: 'real' (any finite
    value; the default), 'unit_interval' ([0, 1], for Bernoulli observations)
    or 'nonnegative'. `check_observations` refuses values outside it."""
    return "real"

  def check_observations(self, x: Any, name: str = "x") -> tf.Tensor:
    """`x` as a float32 tensor, checked against the model's observations.

    Accepts anything `tf.convert_to_tensor` does (NumPy arrays, uint8 images,
    lists). Checks statically that the shape is batch dimensions followed by
    `input_shape`, and at run time (eagerly at once, in a graph as ops; see
    `check_that`) that the values are finite and inside
    `observation_support`. Estimators and evaluation call it where x enters.

    Args:
      x: observations [..., *input_shape].
      name: the argument's name, which starts every error message.

    Raises:
      ValueError: wrong shape or non-numeric x (message starting `x:`).
      tf.errors.InvalidArgumentError: NaN, infinite or out-of-range values.
    """
    try:
      x = tf.convert_to_tensor(x)
    except (TypeError, ValueError) as e:
      raise ValueError(f"{name}: expected an array of numbers, got {type(x).__name__} "
                       f"({e})") from None
    if not (x.dtype.is_floating or x.dtype.is_integer or x.dtype == tf.bool):
      raise ValueError(f"{name}: expected numbers, got dtype {x.dtype.name}")
    if x.dtype != tf.float32:
      x = tf.cast(x, tf.float32)
    expected = "[..., " + ", ".join(str(d) for d in self.input_shape) + "]"
    shape = x.shape
    if shape.rank is not None:
      batch_ndims = shape.rank - self.event_ndims
      # At least one batch dimension: a single unbatched image is a mistake here.
      if batch_ndims < 1 or not shape[batch_ndims:].is_compatible_with(self.input_shape):
        raise ValueError(f"{name}: expected shape {expected} (batch dimensions, then the "
                         f"model's input_shape), got {tuple(shape.as_list())}")
      if 0 in shape[:batch_ndims].as_list():
        raise ValueError(f"{name}: an empty batch (shape {tuple(shape.as_list())}); give "
                         "at least one example")
      if not shape[batch_ndims:].is_fully_defined():  # unknown in a graph: check when run
        x = tf.ensure_shape(x, [None] * batch_ndims + list(self.input_shape))
    return check_values(x, name, self.observation_support, type(self).__name__)

  @abc.abstractmethod
  def joint(self) -> tfd.JointDistribution:
    """Returns p_θ(z, x) as a JointDistributionCoroutine (latents, then 'x')."""

  def guide(self, x: tf.Tensor) -> tfd.JointDistribution:
    """Returns q_φ(z | x); models without a recognition model raise."""
    raise NotImplementedError(f"{type(self).__name__} has no guide q(z | x)")

  @property
  def has_guide(self) -> bool:
    return bool(self.guide_variables)

  def parameter_log_prior(self) -> tf.Tensor | None:
    """log p(θ) of a prior on the generative parameters, or None (the
    default: no prior). The train step adds −log p(θ)/train_size to θ's
    per-example loss, so a dataset's worth of steps sees it once: MAP θ."""
    return None

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
