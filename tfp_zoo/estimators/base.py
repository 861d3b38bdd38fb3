"""The estimator interface (`Objectives`) and helpers shared by estimators."""

from __future__ import annotations

import functools
import operator
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo.models import base as models_base
from tfp_zoo.models import flows

tfd = tfp.distributions

__all__ = ["check_model", "check_seed", "entry_point", "check_real_latents", "latent_space_bijectors", "Objectives", "LogWeights", "importance_log_weights", "as_named",
           "require_guide", "require_reparameterized", "reparameterized_guide",
           "check_num_samples", "check_observations", "check_inputs", "check_particles",
           "effective_sample_size",
           "latent_names", "dream", "guide_log_prob", "self_normalized_weights",
           "check_choice", "path_derivative_loss", "objectives_and_gradients",
           "CONTINUOUS_LATENTS", "score_function_log_weights"]

# The most particles TensorFlow indexes (int32 shapes and gathers).
_INT32_MAX = 2**31 - 1


class Objectives(NamedTuple):
  """What an estimator returns.

  Attributes:
    generative_loss: scalar whose gradient w.r.t. θ is the algorithm's θ update
      (as a descent direction).
    guide_loss: scalar whose gradient w.r.t. φ is the algorithm's φ update. For
      the bound-maximising estimators this is the same tensor as
      `generative_loss`, which lets the train step differentiate once.
    metrics: scalars to log (means over the batch).
  """
  generative_loss: tf.Tensor
  guide_loss: tf.Tensor
  metrics: Mapping[str, tf.Tensor]


def objectives_and_gradients(
    call: Callable[[], Objectives], theta: Sequence[tf.Variable], phi: Sequence[tf.Variable],
    loss_scalers: tuple[Any, Any] | None = None) -> tuple[Objectives, list, list]:
  """(objectives, ∇θ generative_loss, ∇φ guide_loss) of `call()`.

  Two non-persistent tapes, each watching only its own group, rather than one
  persistent tape: an op that one tape alone watches (an MCMC chain reading
  only θ) is then first-order for TensorFlow, which otherwise builds a backward
  function for every while loop at trace time (with a flow prior inside HMC:
  minutes and gigabytes). When both losses are one tensor, one tape suffices.

  `loss_scalers` (float16 training): the θ and φ `LossScaleOptimizer`s; each
  loss is scaled before differentiating and its gradients unscaled after, so
  small float16 gradients do not flush to zero.
  """
  with tf.GradientTape(watch_accessed_variables=False) as theta_tape, \
       tf.GradientTape(watch_accessed_variables=False) as phi_tape:
    theta_tape.watch(theta)
    phi_tape.watch(phi)
    objectives = call()
    generative_loss, guide_loss = objectives.generative_loss, objectives.guide_loss
    if loss_scalers is not None:
      generative_loss = loss_scalers[0].get_scaled_loss(generative_loss)
      guide_loss = loss_scalers[1].get_scaled_loss(guide_loss)
  theta_grads = list(theta_tape.gradient(generative_loss, theta)) if theta else []
  phi_grads = list(phi_tape.gradient(guide_loss, phi)) if phi else []
  if loss_scalers is not None:
    theta_grads = loss_scalers[0].get_unscaled_gradients(theta_grads)
    phi_grads = loss_scalers[1].get_unscaled_gradients(phi_grads)
  return objectives, list(theta_grads), list(phi_grads)


class LogWeights(NamedTuple):
  """Importance weights log p(z_k, x) - log q(z_k | x), shape [K, batch]."""
  log_weights: tf.Tensor
  log_joint: tf.Tensor
  log_guide: tf.Tensor
  latents: Mapping[str, tf.Tensor]


def as_named(value: Any) -> dict[str, tf.Tensor]:
  """A JointDistribution sample (StructTuple, namedtuple or dict) as a dict."""
  if hasattr(value, "_asdict"):
    return dict(value._asdict())
  if isinstance(value, Mapping):
    return dict(value)
  raise TypeError(
      "a guide must return named parts (a JointDistributionCoroutine with named "
      f"distributions, or a JointDistributionNamed); got {type(value).__name__}")


def latent_names(joint: tfd.JointDistribution) -> tuple[str, ...]:
  """The names of a joint's latent parts (all but the observation), in order."""
  return tuple(n for n in as_named(joint.dtype) if n != models_base.OBSERVATION)


def require_guide(model: models_base.LatentVariableModel, estimator: str) -> None:
  if not model.guide_variables:
    raise ValueError(f"estimator {estimator!r} needs a guide q(z | x), and "
                     f"{type(model).__name__} has none")


def check_num_samples(num_samples: Any, estimator: str, *, name: str = "num_samples",
                      minimum: int = 1, batch_size: int | None = None,
                      groups: int = 1) -> int:
  """`num_samples` as a Python int, refused early if it cannot work.

  Accepts Python and NumPy integers; refuses booleans (True is not one
  sample), values below `minimum`, and values for which the K × batch (× groups)
  particles would exceed 2³¹ − 1, past which TensorFlow's int32 shapes overflow.

  Args:
    num_samples: the value given.
    estimator: who asks, for the message.
    name: the option's name, which starts the message.
    minimum: the smallest allowed value.
    batch_size: the static batch size, if known.
    groups: other factors multiplying the particle count (MIWAE's groups).

  Returns:
    The value as a Python int.

  Raises:
    ValueError: with a message starting `{name}:`.
  """
  expected = f"{name}: {estimator} needs an integer >= {minimum}"
  if isinstance(num_samples, (bool, np.bool_)):
    raise ValueError(f"{expected}, got the boolean {num_samples!r}")
  try:
    value = operator.index(num_samples)
  except TypeError:
    raise ValueError(f"{expected}, got {num_samples!r}") from None
  if value < minimum:
    raise ValueError(f"{expected}, got {value}")
  copies = int(batch_size or 1) * int(groups)
  if value * copies > _INT32_MAX:
    factors = "batch size × groups" if groups > 1 else "batch size"
    raise ValueError(f"{name}: {value} particles × {copies} ({factors}) = {value * copies} "
                     "exceeds 2**31 - 1, where TensorFlow's int32 shapes overflow; "
                     f"{estimator} needs fewer")
  return value


def check_model(model: Any, what: str = "model") -> None:
  """Raises TypeError (one line) unless `model` is a model: a
  `LatentVariableModel`, initialised, or an object with `joint()`."""
  if isinstance(model, models_base.LatentVariableModel):
    if "input_shape" not in vars(model):
      raise TypeError(f"{what}: {type(model).__name__} was not initialised as a "
                      "LatentVariableModel: its __init__ must call "
                      "super().__init__(input_shape, name=name) first")
  elif not callable(getattr(model, "joint", None)):
    raise TypeError(f"{what}: expected a tfp_zoo model (a LatentVariableModel, e.g. "
                    f"tfp_zoo.models.get('vae', input_shape=...)), got {type(model).__name__}")


def check_seed(seed: Any, what: str) -> tf.Tensor:
  """A stateless seed: an integer tensor of shape [2] (one line otherwise)."""
  expected = (f"{what}: seed must be a stateless seed, two integers of dtype int32 or "
              "int64 (e.g. tf.constant([0, 1]))")
  try:
    seed = tf.convert_to_tensor(seed)
  except (TypeError, ValueError):
    raise ValueError(f"{expected}, got {type(seed).__name__}") from None
  if seed.dtype not in (tf.int32, tf.int64) or not seed.shape.is_compatible_with([2]):
    raise ValueError(f"{expected}, got {seed.dtype.name} of shape "
                     f"{tuple(seed.shape.as_list()) if seed.shape.rank is not None else '?'}")
  return tf.cast(seed, tf.int32)  # what TF's stateless ops and the code below take


def check_observations(model: Any, x: Any, name: str = "x") -> tf.Tensor:
  """`model.check_observations(x)`: x as a checked float32 tensor.

  Models that do not derive from `LatentVariableModel` (duck-typed ones) get
  x converted and, if floating, checked to be finite.
  """
  check_model(model)
  check = getattr(model, "check_observations", None)
  if check is not None:
    return check(x, name=name)
  x = tf.convert_to_tensor(x, dtype_hint=tf.float32)
  return models_base.check_values(x, name) if x.dtype.is_floating else x


def entry_point(estimator: str) -> Callable[[Callable[..., Objectives]],
                                              Callable[..., Objectives]]:
  """Decorates estimator `estimator`: the model and the seed are checked before
  its body runs, so a wrong one is one line naming it, never a TF stack trace.
  The signature (and so the options `bind` reads) is the function's own."""
  def decorate(fn: Callable[..., Objectives]) -> Callable[..., Objectives]:
    @functools.wraps(fn)
    def checked(model: Any, x: Any, *, seed: Any, **options: Any) -> Objectives:
      check_model(model, estimator)
      return fn(model, x, seed=check_seed(seed, estimator), **options)
    return checked
  return decorate


def check_inputs(model: Any, x: Any, num_samples: Any, estimator: str, *,
                 minimum: int = 1, groups: int = 1) -> tuple[tf.Tensor, int]:
  """Entry checks of a function taking K (evaluation): (checked x, num_samples
  as an int).

  x is checked by the model (`check_observations`), then num_samples against
  x's static batch size (`check_num_samples`).
  """
  x = check_observations(model, x)
  batch_size = x.shape[0] if x.shape.rank else None
  return x, check_num_samples(num_samples, estimator, minimum=minimum,
                              batch_size=batch_size, groups=groups)


def check_particles(model: Any, x: Any, num_samples: int, estimator: str, *,
                    groups: int = 1) -> tuple[tf.Tensor, int]:
  """An estimator's entry checks: (checked x, K as an int).

  x is checked by the model (`check_observations`), then the particle count
  K × batch (× groups) against TensorFlow's int32 shapes. K's own value was
  checked by the estimator's spec (`spec.register`), so it is not here.
  """
  return check_inputs(model, x, num_samples, estimator, minimum=0, groups=groups)


def require_reparameterized(guide: tfd.JointDistribution, estimator: str) -> None:
  """Raises if some part of the guide cannot be reparameterised."""
  types = as_named(guide.reparameterization_type)
  bad = [n for n, t in types.items() if t != tfd.FULLY_REPARAMETERIZED]
  if bad:
    raise ValueError(
        f"estimator {estimator!r} differentiates through guide samples, but the "
        f"latents {bad} are not reparameterisable (e.g. discrete); use an "
        "estimator for such latents (wake-sleep, RWS, score-function)")


def reparameterized_guide(model: models_base.LatentVariableModel, x: tf.Tensor,
                          estimator: str) -> tfd.JointDistribution:
  """q_φ(· | x), after checking that the model has a guide and that every part
  of it can be reparameterised (for estimators that differentiate through z)."""
  require_guide(model, estimator)
  guide = model.guide(x)
  require_reparameterized(guide, estimator)
  return guide


def effective_sample_size(log_weights: tf.Tensor) -> tf.Tensor:
  """ESS = (Σ_k w_k)² / Σ_k w_k² over particles (axis 0), per example.

  From log-weights [K, batch] in log space (`tfp.experimental.mcmc.
  log_ess_from_log_weights`: −logsumexp(2 log w̃)); between 1 and K, with no
  gradient. Rows of −inf (padding) have weight zero and do not count.
  """
  return tf.exp(tfp.experimental.mcmc.log_ess_from_log_weights(
      tf.stop_gradient(log_weights)))


def dream(model: models_base.LatentVariableModel, num_samples: int, *,
          seed: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
  """Sleep samples (z, x) ~ p_θ(z, x), with no gradient through them.

  Returns:
    (latents by name, observations), each with leading dimension num_samples.
  """
  sample = as_named(model.joint().sample(num_samples, seed=seed))
  x = tf.stop_gradient(sample.pop(models_base.OBSERVATION))
  return {n: tf.stop_gradient(z) for n, z in sample.items()}, x


def guide_log_prob(model: models_base.LatentVariableModel, x: tf.Tensor,
                   latents: Mapping[str, tf.Tensor]) -> tf.Tensor:
  """log q_φ(z | x), matching the guide's parts to `latents` by name."""
  return model.guide(x).log_prob(**latents)


def importance_log_weights(model: models_base.LatentVariableModel, x: tf.Tensor, *,
                           seed: tf.Tensor, num_samples: int,
                           guide: tfd.JointDistribution | None = None,
                           stop_latents: bool = False) -> LogWeights:
  """Draws K latents from the guide and weighs them by the joint.

  Returns log w_k = log p_θ(z_k, x) − log q_φ(z_k | x), z_k ~ q_φ(· | x), with
  reparameterised samples (gradients flow through z_k) unless `stop_latents`
  (score-function and wake-sleep estimators). Pass `guide` if the caller
  already built `model.guide(x)`, so the encoder runs once.

  Args:
    model: a `LatentVariableModel` with a guide.
    x: a batch of observations, shape [batch, *input_shape].
    seed: stateless seed, int32[2].
    num_samples: K, latents drawn per example.
    guide: `model.guide(x)` if already built (default None: built here).
    stop_latents: whether to stop gradients through the samples (default
      False: reparameterised).

  Returns:
    `LogWeights` with `log_weights`, `log_joint` and `log_guide` of shape
    [K, batch] (nats) and the named `latents`, each [K, batch, ...event].
  """
  guide = model.guide(x) if guide is None else guide
  if stop_latents:
    latents = as_named(tf.nest.map_structure(
        tf.stop_gradient, guide.sample(num_samples, seed=seed)))
    log_guide = guide.log_prob(**latents)
  else:
    latents, log_guide = guide.experimental_sample_and_log_prob(num_samples, seed=seed)
    latents = as_named(latents)
  log_joint = model.joint().log_prob(**latents, **{models_base.OBSERVATION: x})
  return LogWeights(log_joint - log_guide, log_joint, log_guide, latents)


# How score-function estimators (vimco, nvil) treat a guide's continuous latents.
CONTINUOUS_LATENTS = ("auto", "reparameterize", "score_function")


def score_function_log_weights(model: models_base.LatentVariableModel, x: tf.Tensor, *,
                               seed: tf.Tensor, num_samples: int,
                               continuous_latents: str, estimator: str
                               ) -> tuple[LogWeights, tf.Tensor]:
  """Importance weights for a score-function estimator, and the log q to score.

  With z = (c, d), c the reparameterisable latents (c = c(ε, φ)) and d the
  others, the gradient of E_q[f(z)] is

      E[ ∇φ f(c(ε, φ), d) + f · ∇φ log q_φ(d | x, c_<) ]

  (the score of d only, its total derivative through the c it depends on).
  'reparameterize' draws c with gradients and returns log q(d | ·) to score;
  'score_function' stops every latent and scores all of log q (the classic
  VIMCO/NVIL). 'auto' reparameterises exactly when the guide mixes both
  kinds, as Eslami et al. (2016) and Le et al. (2019) train AIR: a guide with
  only discrete (or only continuous) latents keeps the classic estimator.

  Assumes the scored latents' samples carry no gradient (true of TFP's
  discrete distributions, which sample by comparison or categorical draws): a
  non-reparameterised latent whose sample did depend on φ would get both a
  path and a score term.

  Args:
    model: a `LatentVariableModel` with a guide.
    x: a batch of observations, shape [batch, *input_shape].
    seed: stateless seed, int32[2].
    num_samples: K, latents drawn per example.
    continuous_latents: 'auto', 'reparameterize' or 'score_function'
      (`CONTINUOUS_LATENTS`, described above).
    estimator: the calling estimator's name, for the error message.

  Returns:
    (`LogWeights`, log q of the scored latents [K, batch]).

  Raises:
    ValueError: `continuous_latents` other than 'auto' for a guide without
      continuous latents.
  """
  guide = model.guide(x)
  types = as_named(guide.reparameterization_type)
  scored = [n for n, t in types.items() if t != tfd.FULLY_REPARAMETERIZED]
  mixed = 0 < len(scored) < len(types)
  if continuous_latents != "auto" and len(scored) == len(types):
    raise ValueError(f"{estimator}: continuous_latents={continuous_latents!r} has no effect "
                     "here: this model's guide has no continuous (reparameterisable) "
                     "latents; remove it")
  if continuous_latents == "score_function" or (continuous_latents == "auto" and not mixed):
    weights = importance_log_weights(model, x, seed=seed, num_samples=num_samples,
                                     guide=guide, stop_latents=True)
    return weights, weights.log_guide
  sample = guide.sample(num_samples, seed=seed)
  latents = as_named(sample)
  parts = as_named(guide.log_prob_parts(sample))
  log_guide = tf.add_n(list(parts.values()))
  scored_log_guide = (tf.add_n([parts[n] for n in scored]) if scored
                      else tf.zeros_like(log_guide))
  log_joint = model.joint().log_prob(**latents, **{models_base.OBSERVATION: x})
  return LogWeights(log_joint - log_guide, log_joint, log_guide, latents), scored_log_guide


def self_normalized_weights(log_weights: tf.Tensor) -> tf.Tensor:
  """w̃_k = w_k / Σ_j w_j over particles (axis 0), per example; no gradient."""
  return tf.nn.softmax(tf.stop_gradient(log_weights), axis=0)


def check_choice(value: str, allowed: tuple[str, ...], option: str, estimator: str) -> None:
  if value not in allowed:
    raise ValueError(f"{estimator}: {option}={value!r}; expected one of {', '.join(allowed)}")


def path_derivative_loss(model: models_base.LatentVariableModel, x: tf.Tensor,
                         weights: LogWeights, coefficients: tf.Tensor) -> tf.Tensor:
  """A surrogate whose φ-gradient is the weighted path derivative.

      ∇φ (surrogate) = mean_b Σ_k c_k · ∂log w_k/∂z_k · ∂z_k/∂φ

  for reparameterised z_k = z(ε_k, φ), with the score term (φ's direct
  dependence through log q_φ) removed: ∇φ log w(z(φ), φ) is the path term minus
  ∇φ log q_φ(z)|_z, and adding log q_φ(stop_gradient(z)) cancels the latter.
  This works for any guide, hierarchical ones included, without rebuilding it
  with stopped parameters. Only its φ-gradient is meaningful.

  Args:
    model: the model whose guide drew `weights.latents` (reparameterised).
    x: the observations.
    weights: `importance_log_weights(...)` with live latents.
    coefficients: c_k per particle and example [K, batch] (no gradient taken).
  """
  stopped = {n: tf.stop_gradient(z) for n, z in weights.latents.items()}
  log_guide_at_stopped = guide_log_prob(model, x, stopped)
  return tf.reduce_mean(tf.reduce_sum(
      tf.stop_gradient(coefficients) * (weights.log_weights + log_guide_at_stopped), axis=0))


def latent_space_bijectors(model: models_base.LatentVariableModel,
                           what: str = "hmc") -> list[tfp.bijectors.Bijector]:
  """Per latent, the bijector from R^d onto its support, for MCMC moves.

  Real and constrained real vectors (e.g. positive) qualify, through the
  prior's default event-space bijector; discrete latents and latents on a
  manifold (the sphere) are refused.

  Raises:
    ValueError: naming `what` and the latent.
  """
  joint = model.joint()
  dtypes = as_named(joint.dtype)
  shapes = as_named(joint.event_shape)
  priors = as_named(joint.sample_distributions(seed=tf.constant([0, 0]))[0])
  bijectors = []
  for name in latent_names(joint):
    dist = priors[name]
    if isinstance(dist, tfp.distributions.MixtureSameFamily):  # TFP gives it no bijector
      dist = dist.components_distribution
    if getattr(getattr(dist, "bijector", None), "name", None) == flows.FLOW_NAME:
      # A flow maps R^d onto R^d: move z itself, not through the flow (whose
      # sequential direction inside every leapfrog step would cost d passes).
      # (Duck-typed: TFP's non-composite TransformedDistribution is not a
      # subclass of tfd.TransformedDistribution.)
      dist = dist.distribution
    try:
      space = dist.experimental_default_event_space_bijector()
      same_shape = space is not None and space.inverse_event_shape(shapes[name]) == shapes[name]
    except (TypeError, NotImplementedError, ValueError):
      space, same_shape = None, False
    if not dtypes[name].is_floating or not same_shape:
      raise ValueError(f"{what}: latent {name!r} of {type(model).__name__} is not a real "
                       "vector (discrete, or on a manifold); HMC needs latents in R^d or "
                       "an interval of it")
    bijectors.append(space)
  return bijectors


def check_real_latents(model: models_base.LatentVariableModel, what: str = "ais") -> None:
  """Raises ValueError unless every latent can move by HMC (see
  `latent_space_bijectors`)."""
  latent_space_bijectors(model, what)
