"""A generic, compiled train step: one optimizer for θ, one for φ."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import tensorflow as tf
import tf_keras

from tfp_zoo.estimators.base import Objectives
from tfp_zoo.training.distribute import replica_seed
from tfp_zoo.models.base import LatentVariableModel

__all__ = ["make_optimizer", "make_train_step", "step_seed"]

TrainStep = Callable[[tf.Tensor, tf.Tensor], Mapping[str, tf.Tensor]]


Optimizer = tf_keras.optimizers.legacy.Optimizer


def make_optimizer(learning_rate: float, variables: tuple[tf.Variable, ...]) -> Optimizer:
  """Adam with its slots created now, not lazily inside a traced function.

  tf_keras's `legacy.Adam` applies each update with one fused
  `ResourceApplyAdam` kernel; Keras 3's Adam builds ~10 ops per variable and
  made the whole VAE train step 4-10% slower on CPU (benchmarks/throughput.py).
  """
  optimizer = tf_keras.optimizers.legacy.Adam(learning_rate)
  if variables:
    optimizer._create_all_weights(list(variables))  # pylint: disable=protected-access
  return optimizer


def step_seed(seed: int | tf.Tensor, step: tf.Tensor) -> tf.Tensor:
  """The stateless seed of training step `step`: a pure function of (seed, step)."""
  base = tf.stack([tf.cast(seed, tf.int32), tf.constant(1, tf.int32)])
  return tf.random.experimental.stateless_fold_in(base, tf.cast(step, tf.int32))


def make_train_step(model: LatentVariableModel, estimator: Callable[..., Objectives],
                    generative_optimizer: Optimizer,
                    guide_optimizer: Optimizer | None = None, *,
                    seed: int = 0, jit_compile: bool = False,
                    state: tf.Module | None = None,
                    strategy: tf.distribute.Strategy | None = None,
                    **estimator_options: Any) -> TrainStep:
  """Returns `step(x, step_number) -> metrics`, compiled with `tf.function`.

  The step applies grad(generative_loss, θ) with `generative_optimizer` and
  grad(guide_loss, φ) with `guide_optimizer`; when the estimator returns the
  same tensor for both losses (ELBO, IWAE) one backward pass serves both.
  An estimator's `state` (`estimators.make_state`) is passed as `state=`, and
  its trainable variables (e.g. NVIL's baseline network) join φ: build the
  guide optimizer over `model.guide_variables + state.trainable_variables`.

  With a `strategy` (model and optimizers built in its scope), `x` is a
  distributed batch (`distribute.distribute_batches`): each replica runs the
  estimator on its slice with its own seed, gradients are scaled by 1/R and
  summed by the optimizers, and the metrics are averaged over replicas
  (see `tfp_zoo/training/distribute.py`).
  """
  theta = tuple(model.generative_variables)
  phi = tuple(model.guide_variables)
  if state is not None:
    phi += tuple(state.trainable_variables)
    estimator_options = dict(estimator_options, state=state)
  if not theta:
    raise ValueError(f"{type(model).__name__} has no generative variables")
  if phi and guide_optimizer is None:
    raise ValueError("the model has guide variables: pass a guide_optimizer")

  replicas = strategy.num_replicas_in_sync if strategy is not None else 1
  if replicas > 1 and state is not None and state.variables:
    raise ValueError("an estimator with state (e.g. nvil's baseline) is not supported "
                     "with more than one replica yet")

  def replica_step(x: tf.Tensor, step_number: tf.Tensor) -> dict[str, tf.Tensor]:
    with tf.GradientTape(persistent=True) as tape:
      objectives = estimator(model, x, seed=replica_seed(step_seed(seed, step_number)),
                             **estimator_options)
    if objectives.generative_loss is objectives.guide_loss:
      grads = tape.gradient(objectives.generative_loss, theta + phi)
      theta_grads, phi_grads = grads[:len(theta)], grads[len(theta):]
    else:
      theta_grads = tape.gradient(objectives.generative_loss, theta)
      phi_grads = tape.gradient(objectives.guide_loss, phi) if phi else []
    del tape
    if replicas > 1:  # the optimizers sum over replicas: make that the mean
      theta_grads = [None if g is None else g / replicas for g in theta_grads]
      phi_grads = [None if g is None else g / replicas for g in phi_grads]
    generative_optimizer.apply_gradients(zip(theta_grads, theta))
    # An estimator may leave φ alone (alws with guide_update='none'): skip the
    # variables it gives no gradient, rather than failing in the optimizer.
    phi_pairs = [(g, v) for g, v in zip(phi_grads, phi) if g is not None]
    if phi_pairs:
      guide_optimizer.apply_gradients(phi_pairs)
    metrics = {"generative_loss": objectives.generative_loss,
               "guide_loss": objectives.guide_loss}
    metrics.update(objectives.metrics)
    return metrics

  compiled = tf.function(replica_step, jit_compile=jit_compile, autograph=False)
  if strategy is None:
    return compiled

  @tf.function(autograph=False)
  def step(x: Any, step_number: tf.Tensor) -> dict[str, tf.Tensor]:
    metrics = strategy.run(compiled, args=(x, step_number))
    return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
            for k, v in metrics.items()}

  return step
