"""Point estimates of latents: the MAP estimate by gradient ascent on log p(z, x)."""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tf_keras

from tfp_zoo.estimators import base
from tfp_zoo.models import base as models_base

__all__ = ["map_latents"]


def map_latents(model: Any, x: tf.Tensor, *, num_steps: int = 500,
                learning_rate: float = 0.05) -> dict[str, tf.Tensor]:
  """argmax_z log p_θ(z, x) for every example, by Adam in an unconstrained space.

  Each latent is optimised through its distribution's default event-space
  bijector (identity on R^d, softplus for positive codes, ...), so constrained
  latents stay in their support; the search starts at the bijector's image of
  zero. Continuous latents only.

  Args:
    model: any model with `joint()`.
    x: observations [batch, *input_shape].
    num_steps: Adam steps.
    learning_rate: Adam learning rate.

  Returns:
    The MAP latents by name, each [batch, *event_shape].
  """
  if not isinstance(num_steps, int) or num_steps < 1:
    raise ValueError(f"num_steps={num_steps!r} must be a positive integer")
  x = base.check_observations(model, x)
  joint = model.joint()
  dists, _ = joint.sample_distributions(seed=(0, 0))
  parts = dict(zip(base.as_named(joint.dtype), dists))
  parts.pop(models_base.OBSERVATION)
  bijectors, unconstrained = {}, {}
  for name, dist in parts.items():
    # Discrete distributions (float-valued Bernoulli included) have no bijector.
    bijectors[name] = dist.experimental_default_event_space_bijector()
    if not dist.dtype.is_floating or bijectors[name] is None:
      raise ValueError(f"map_latents: latent {name!r} is discrete; a MAP estimate by "
                       "gradient ascent needs continuous latents")
    shape = bijectors[name].inverse_event_shape(dist.event_shape)
    unconstrained[name] = tf.Variable(tf.zeros([int(x.shape[0]), *shape]), name=name)
  variables = list(unconstrained.values())
  optimizer = tf_keras.optimizers.legacy.Adam(learning_rate)
  optimizer._create_all_weights(variables)  # pylint: disable=protected-access

  def latents():
    return {n: bijectors[n].forward(v) for n, v in unconstrained.items()}

  @tf.function(autograph=False)
  def step():
    with tf.GradientTape() as tape:
      loss = -tf.reduce_sum(joint.log_prob(**latents(), **{models_base.OBSERVATION: x}))
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

  for _ in range(num_steps):
    step()
  return {n: tf.convert_to_tensor(v) for n, v in latents().items()}
