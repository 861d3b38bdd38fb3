"""Sigmoid belief networks / Helmholtz machines with binary latent layers
(Neal 1992; Dayan, Hinton, Neal & Zemel 1995; Bornschein & Bengio 2015).

    p(h_L) = Π Bernoulli(σ(b)),  p(h_l | h_{l+1}) = Π Bernoulli(σ(W_l h_{l+1} + c_l)),
    p(x | h_1) = Π Bernoulli(σ(W_0 h_1 + c_0)),

with the recognition model q(h_1 | x) q(h_2 | h_1) ... q(h_L | h_{L-1}), each a
factorised Bernoulli of an affine function of the layer below. The latents
are discrete: train it with wake-sleep, RWS or VIMCO.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo import distributions, nn
from tfp_zoo.models import base
from tfp_zoo.models.spec import register

tfd = tfp.distributions

__all__ = ["SigmoidBeliefNet"]


def _bernoulli(logits: tf.Tensor, name: str) -> tfd.Distribution:
  return tfd.Independent(distributions.Bernoulli(logits=logits, dtype=tf.float32),
                         reinterpreted_batch_ndims=1, name=name)


@register("sigmoid_belief_net", latents="discrete",
          summary=("Helmholtz machine: binary latent layers (sizes top-down, e.g. the RWS "
                   "paper's 10-100-200-300-400), learned factorised top prior, reverse-chain "
                   "guide"))
class SigmoidBeliefNet(base.LatentVariableModel):
  """L binary latent layers; `layer_sizes` lists them from the top down.

  Latent names: 'h{L}' (top) ... 'h1' (next to x), in the joint's order.

  Args:
    input_shape: the shape of one observation (Bernoulli pixels).
    layer_sizes: the latent layers' sizes from the top down, an int for one
      layer (default (200, 200)).
    seed: integer seed of the initial weights (default 0).
    name: the module's name (default: the class's).

  Raises:
    ValueError: `layer_sizes` empty or not positive integers.
  """

  def __init__(self, input_shape: Sequence[int], *,
               layer_sizes: int | Sequence[int] = (200, 200), seed: int = 0,
               name: str | None = None):
    super().__init__(input_shape, name=name)
    sizes = (layer_sizes,) if isinstance(layer_sizes, int) else tuple(layer_sizes)
    if not sizes or not all(isinstance(s, int) and s > 0 for s in sizes):
      raise ValueError(f"layer_sizes={layer_sizes!r}: expected positive integer sizes")
    self.layer_sizes = sizes
    data_size = int(np.prod(self.input_shape))
    # below[i]: the size of the layer under latent layer i (counted from x up).
    up = list(reversed(sizes))  # h1 ... hL
    below = [data_size] + up[:-1]
    seeds = iter(tf.random.experimental.stateless_split(
        tf.constant([seed, 3], tf.int32), 2 * len(up)).numpy())
    self.top_logits = tf.Variable(tf.zeros([up[-1]]), name="top_logits")
    self.generative_layers = [nn.Dense(up[i], below[i], seed=next(seeds), name=f"p_{i}")
                              for i in range(len(up))]
    self.recognition_layers = [nn.Dense(below[i], up[i], seed=next(seeds), name=f"q_{i}")
                               for i in range(len(up))]

  @property
  def observation_support(self) -> str:
    return "unit_interval"  # Bernoulli pixels

  @property
  def latent_names(self) -> tuple[str, ...]:
    return tuple(f"h{i}" for i in range(len(self.layer_sizes), 0, -1))

  def joint(self) -> tfd.JointDistributionCoroutine:
    num_layers = len(self.layer_sizes)

    def model():
      h = yield base.Root(_bernoulli(self.top_logits, f"h{num_layers}"))
      for i in range(num_layers - 1, 0, -1):
        h = yield _bernoulli(self.generative_layers[i](h), f"h{i}")
      logits = self.generative_layers[0](h)
      yield tfd.Independent(
          distributions.Bernoulli(
              logits=tf.reshape(logits, tf.concat([tf.shape(logits)[:-1],
                                                   self.input_shape], 0)),
              dtype=tf.float32),
          reinterpreted_batch_ndims=self.event_ndims, name=base.OBSERVATION)

    return tfd.JointDistributionCoroutine(model, name="joint")

  def guide(self, x: tf.Tensor) -> tfd.JointDistributionCoroutine:
    h = nn.flatten_event(tf.convert_to_tensor(x, tf.float32), self.event_ndims)

    def model():
      z = yield base.Root(_bernoulli(self.recognition_layers[0](h), "h1"))
      for i in range(1, len(self.layer_sizes)):
        z = yield _bernoulli(self.recognition_layers[i](z), f"h{i + 1}")

    return tfd.JointDistributionCoroutine(model, name="guide")

  @property
  def generative_variables(self) -> tuple[tf.Variable, ...]:
    return (self.top_logits,) + sum((l.trainable_variables for l in self.generative_layers), ())

  @property
  def guide_variables(self) -> tuple[tf.Variable, ...]:
    return sum((l.trainable_variables for l in self.recognition_layers), ())
