"""Rank-polymorphic neural-network layers as plain `tf.Module`s.

A `JointDistribution` first runs its model with an unbatched sample, so every
network here accepts inputs with any number of leading batch dimensions.
Keras `Dense` rejects rank-1 inputs, and a `tf.Module` does not track Keras 3
variables, hence these small layers. Under `precision.using('bfloat16')` an
MLP multiplies in bfloat16 and returns float32.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import tensorflow as tf

from tfp_zoo.nn import precision

__all__ = ["Dense", "MLP", "LSTMCell", "flatten_event", "parse_sizes", "check_positive_or_unset",
           "ACTIVATIONS"]

ACTIVATIONS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "tanh": tf.tanh,
    "relu": tf.nn.relu,
    "softplus": tf.nn.softplus,
    "elu": tf.nn.elu,
}


def parse_sizes(value: int | str | Sequence[int], name: str) -> tuple[int, ...]:
  """Layer sizes from one int, a sequence, or the launcher's text ('100-50').

  Args:
    value: an int, a sequence of ints, or text of ints joined by '-'.
    name: the argument's name, for the error message.

  Returns:
    The sizes as a tuple of Python ints.

  Raises:
    ValueError: naming the argument and the accepted forms, unless every size
      is a positive int.
  """
  if isinstance(value, str):
    parts = value.strip().split("-")
    sizes = tuple(int(p) if p.strip().isdigit() else p for p in parts)
  elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
    sizes = (int(value),)
  else:
    try:
      sizes = tuple(int(s) if isinstance(s, np.integer) else s for s in value)
    except TypeError:
      sizes = ()
  if not sizes or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0
                          for s in sizes):
    raise ValueError(f"{name}={value!r}: expected positive integer sizes, as 100, "
                     "'100-50' or (100, 50)")
  return sizes


def check_positive_or_unset(name: str, value: Any) -> None:
  """A size given explicitly is honoured or refused, never replaced by a default.

  Args:
    name: the argument's name, for the error message.
    value: None (unset) or the given size.

  Raises:
    ValueError: naming the argument, unless `value` is None or a positive int.
  """
  if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                            or value < 1):
    raise ValueError(f"{name}={value!r}: expected a positive integer (leave it unset "
                     "for the default)")


def flatten_event(x: tf.Tensor, event_ndims: int) -> tf.Tensor:
  """Reshapes `[..., *event_shape]` to `[..., prod(event_shape)]`.

  Args:
    x: a tensor whose last `event_ndims` axes are the event.
    event_ndims: the number of event axes (1 returns `x` unchanged).

  Returns:
    `x` with its event axes flattened into one.
  """
  if event_ndims == 1:
    return x
  shape = tf.shape(x)
  return tf.reshape(x, tf.concat([shape[:tf.rank(x) - event_ndims], [-1]], 0))


class Dense(tf.Module):
  """An affine layer `y = x W + b` over the last axis of an input of any rank.

  Calling it maps [..., input_size] to [..., output_size], in the input's
  dtype under mixed precision.

  Args:
    input_size: the input's last dimension.
    output_size: the output's last dimension.
    seed: stateless seed of the Glorot-uniform weights (two integers); the
      bias starts at zero.
    name: the module's name (default: the class's).
  """

  def __init__(self, input_size: int, output_size: int, *, seed: Sequence[int],
               name: str | None = None):
    super().__init__(name=name)
    # Glorot-uniform weights from a stateless seed: construction is reproducible.
    limit = np.sqrt(6.0 / (input_size + output_size))
    self.kernel = tf.Variable(
        tf.random.stateless_uniform([input_size, output_size], seed=seed,
                                    minval=-limit, maxval=limit),
        name="kernel")
    self.bias = tf.Variable(tf.zeros([output_size]), name="bias")
    self.input_size = input_size
    self.output_size = output_size

  def __call__(self, x: tf.Tensor) -> tf.Tensor:
    kernel, bias = self.kernel, self.bias
    if x.dtype != kernel.dtype:  # mixed precision: multiply in x's (low) dtype
      kernel, bias = tf.cast(kernel, x.dtype), tf.cast(bias, x.dtype)
    # bias_add (not +) lets Grappler fuse MatMul+BiasAdd(+activation) on CPU.
    if x.shape.rank == 2:
      return tf.nn.bias_add(tf.matmul(x, kernel), bias)
    # Reshape to 2-D around a single matmul: faster on CPU than einsum or a
    # broadcasting batched matmul, and works for rank 1 too.
    shape = tf.shape(x)
    y = tf.nn.bias_add(tf.matmul(tf.reshape(x, [-1, self.input_size]), kernel), bias)
    return tf.reshape(y, tf.concat([shape[:-1], [self.output_size]], 0))


class MLP(tf.Module):
  """A stack of `Dense` layers with an activation between them (none at the end).

  Args:
    sizes: the input size, each hidden size, then the output size (at least
      two entries).
    activation: a key of `ACTIVATIONS` (default 'tanh').
    seed: stateless seed of the weights (two integers), split per layer.
    name: the module's name (default: the class's).

  Raises:
    ValueError: fewer than two sizes, or an unknown activation.
  """

  def __init__(self, sizes: Sequence[int], *, activation: str = "tanh",
               seed: Sequence[int], name: str | None = None):
    super().__init__(name=name)
    if len(sizes) < 2:
      raise ValueError(f"MLP needs at least input and output sizes, got {sizes}")
    if activation not in ACTIVATIONS:
      raise ValueError(f"activation={activation!r}: expected one of "
                       f"{sorted(ACTIVATIONS)}")
    seeds = tf.random.experimental.stateless_split(
        tf.constant(seed, tf.int32), len(sizes) - 1).numpy()
    self.layers = [Dense(a, b, seed=s, name=f"dense_{i}")
                   for i, (a, b, s) in enumerate(zip(sizes[:-1], sizes[1:], seeds))]
    self._activation = ACTIVATIONS[activation]

  def __call__(self, x: tf.Tensor) -> tf.Tensor:
    x = precision.cast_input(x)  # under precision.using: the hidden layers in bf16/fp16
    for layer in self.layers[:-1]:
      x = self._activation(layer(x))
    return precision.cast_output(self.layers[-1](x))


class LSTMCell(tf.Module):
  """One step of an LSTM (Hochreiter & Schmidhuber 1997) over inputs of any rank.

      i, f, o, g = split(W x + U h + b);   c' = σ(f)·c + σ(i)·tanh(g);   h' = σ(o)·tanh(c')

  The input and the state enter through separate layers, so their leading
  dimensions broadcast against each other (a guide's state [batch, n] meets
  inputs [particles, batch, m] after its first sampled step). The forget
  gate's bias starts at 1 (Jozefowicz et al. 2015).

  Args:
    input_size: the input's last dimension m.
    hidden_size: n, the size of the state h and the cell c.
    seed: stateless seed of the weights (two integers).
    name: the module's name (default: the class's).
  """

  def __init__(self, input_size: int, hidden_size: int, *, seed: Sequence[int],
               name: str | None = None):
    super().__init__(name=name)
    seeds = tf.random.experimental.stateless_split(tf.constant(seed, tf.int32), 2).numpy()
    self.hidden_size = int(hidden_size)
    self.input_layer = Dense(input_size, 4 * hidden_size, seed=seeds[0], name="input")
    self.state_layer = Dense(hidden_size, 4 * hidden_size, seed=seeds[1], name="state")
    self.input_layer.bias.assign(tf.concat([tf.zeros([hidden_size]), tf.ones([hidden_size]),
                                            tf.zeros([2 * hidden_size])], 0))

  def initial_state(self, batch_shape: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(h, c) zeros of shape [*batch_shape, hidden_size]."""
    zeros = tf.zeros(tf.concat([batch_shape, [self.hidden_size]], 0))
    return zeros, zeros

  def __call__(self, x: tf.Tensor, state: tuple[tf.Tensor, tf.Tensor]
               ) -> tuple[tf.Tensor, tuple[tf.Tensor, tf.Tensor]]:
    h, c = state
    gates = self.input_layer(x) + self.state_layer(h)
    i, f, o, g = tf.split(gates, 4, axis=-1)
    c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
    h = tf.sigmoid(o) * tf.tanh(c)
    return h, (h, c)
