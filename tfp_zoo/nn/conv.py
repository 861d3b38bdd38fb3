"""Rank-polymorphic convolutional layers as plain `tf.Module`s.

Like `nn.Dense`, every layer here takes images `[..., H, W, C]` with any
number of leading batch dimensions (none, when a `JointDistribution` traces its
model with an unbatched sample; two, for K particles of a batch): they are
folded into one batch axis around each convolution and restored after.

`ConvEncoder` halves the spatial size with each stride-2 convolution and ends
in a dense layer; `ConvDecoder` mirrors it, with transposed convolutions whose
output sizes are those the encoder saw, so odd sizes (28 → 14 → 7 → 4) come
back exactly (4 → 7 → 14 → 28).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import tensorflow as tf

from tfp_zoo.nn import layers as nn
from tfp_zoo.nn import precision

__all__ = ["Conv2D", "Conv2DTranspose", "ResidualBlock", "ConvEncoder", "ConvDecoder",
           "downsampled_sizes"]


def _glorot(shape: Sequence[int], fan_in: int, fan_out: int, seed) -> tf.Tensor:
  limit = np.sqrt(6.0 / (fan_in + fan_out))
  return tf.random.stateless_uniform(shape, seed=seed, minval=-limit, maxval=limit)


def _fold(x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
  """[..., H, W, C] → ([N, H, W, C], the leading shape)."""
  shape = tf.shape(x)
  leading = shape[:tf.rank(x) - 3]
  return tf.reshape(x, tf.concat([[-1], shape[-3:]], 0)), leading


def _unfold(y: tf.Tensor, leading: tf.Tensor) -> tf.Tensor:
  return tf.reshape(y, tf.concat([leading, tf.shape(y)[1:]], 0))


def _in_dtype(x: tf.Tensor, *variables: tf.Variable) -> tuple[tf.Tensor, ...]:
  """The weights in x's dtype (mixed precision multiplies in bf16/fp16)."""
  return tuple(v if v.dtype == x.dtype else tf.cast(v, x.dtype) for v in variables)


def _check_positive(name: str, value) -> None:
  if isinstance(value, bool) or not isinstance(value, int) or value < 1:
    raise ValueError(f"{name}={value!r}: expected a positive integer")


class _Convolution(tf.Module):
  """Kernel [k, k, in, out] (or [k, k, out, in] transposed) and bias, checked."""

  def __init__(self, input_channels: int, output_channels: int, kernel_size: int,
               stride: int, seed: Sequence[int], name: str | None, transposed: bool):
    super().__init__(name=name)
    for arg, value in (("input_channels", input_channels),
                       ("output_channels", output_channels),
                       ("kernel_size", kernel_size), ("stride", stride)):
      _check_positive(arg, value)
    k = kernel_size
    # conv2d_transpose's filter is [k, k, output_channels, input_channels].
    channels = [output_channels, input_channels] if transposed else [input_channels,
                                                                     output_channels]
    self.kernel = tf.Variable(_glorot([k, k, *channels], k * k * input_channels,
                                      k * k * output_channels, seed), name="kernel")
    self.bias = tf.Variable(tf.zeros([output_channels]), name="bias")
    self.stride = stride
    self.output_channels = output_channels


class Conv2D(_Convolution):
  """A 2-D convolution (SAME padding) with a bias, over `[..., H, W, C]`."""

  def __init__(self, input_channels: int, output_channels: int, kernel_size: int = 3, *,
               stride: int = 1, seed: Sequence[int], name: str | None = None):
    super().__init__(input_channels, output_channels, kernel_size, stride, seed, name,
                     transposed=False)

  def __call__(self, x: tf.Tensor) -> tf.Tensor:
    folded, leading = _fold(x)
    kernel, bias = _in_dtype(x, self.kernel, self.bias)
    y = tf.nn.bias_add(tf.nn.conv2d(folded, kernel, self.stride, "SAME"), bias)
    return _unfold(y, leading)


class Conv2DTranspose(_Convolution):
  """The transpose of a SAME, stride-s `Conv2D`, to a given output size."""

  def __init__(self, input_channels: int, output_channels: int, kernel_size: int = 3, *,
               stride: int = 2, seed: Sequence[int], name: str | None = None):
    super().__init__(input_channels, output_channels, kernel_size, stride, seed, name,
                     transposed=True)

  def __call__(self, x: tf.Tensor, output_size: Sequence[int]) -> tf.Tensor:
    """`output_size` = (H, W): the size the matching `Conv2D` was given."""
    folded, leading = _fold(x)
    out_shape = tf.stack([tf.shape(folded)[0], output_size[0], output_size[1],
                          self.output_channels])
    kernel, bias = _in_dtype(x, self.kernel, self.bias)
    y = tf.nn.conv2d_transpose(folded, kernel, out_shape, self.stride, "SAME")
    y = tf.nn.bias_add(tf.ensure_shape(y, [None, output_size[0], output_size[1],
                                           self.output_channels]), bias)
    return _unfold(y, leading)


class ResidualBlock(tf.Module):
  """x + conv(act(conv(act(x)))) (pre-activation, He et al. 2016); the second
  convolution starts at zero, so the block starts as the identity."""

  def __init__(self, channels: int, *, activation: str = "relu", seed: Sequence[int],
               name: str | None = None):
    super().__init__(name=name)
    if activation not in nn.ACTIVATIONS:
      raise ValueError(f"activation={activation!r}: expected one of {sorted(nn.ACTIVATIONS)}")
    seeds = tf.random.experimental.stateless_split(tf.constant(seed, tf.int32), 2).numpy()
    self.first = Conv2D(channels, channels, 3, seed=seeds[0], name="conv_0")
    self.second = Conv2D(channels, channels, 3, seed=seeds[1], name="conv_1")
    self.second.kernel.assign(tf.zeros_like(self.second.kernel))
    self._activation = nn.ACTIVATIONS[activation]

  def __call__(self, x: tf.Tensor) -> tf.Tensor:
    return x + self.second(self._activation(self.first(self._activation(x))))


def downsampled_sizes(size: Sequence[int], steps: int) -> list[tuple[int, int]]:
  """[(H, W), (⌈H/2⌉, ⌈W/2⌉), …]: the sizes a stack of stride-2 SAME convs sees."""
  sizes = [(int(size[0]), int(size[1]))]
  for _ in range(steps):
    sizes.append((math.ceil(sizes[-1][0] / 2), math.ceil(sizes[-1][1] / 2)))
  return sizes


class ConvEncoder(tf.Module):
  """Images [..., H, W, C] → vectors [..., output_size]: stride-2 convolutions
  (one per entry of `channels`), each followed by `residual_blocks` residual
  blocks, then a dense layer on the flattened features."""

  def __init__(self, input_shape: Sequence[int], channels: Sequence[int], output_size: int,
               *, residual_blocks: int = 0, activation: str = "relu", seed: Sequence[int],
               name: str | None = None):
    super().__init__(name=name)
    channels = nn.parse_sizes(channels, "channels")
    _check_positive("output_size", output_size)
    if len(input_shape) != 3:
      raise ValueError(f"ConvEncoder needs images [H, W, C], got shape {tuple(input_shape)}")
    if activation not in nn.ACTIVATIONS:
      raise ValueError(f"activation={activation!r}: expected one of {sorted(nn.ACTIVATIONS)}")
    seeds = tf.random.experimental.stateless_split(
        tf.constant(seed, tf.int32), len(channels) * (1 + residual_blocks) + 1).numpy()
    seeds = iter(seeds)
    self.convs, self.blocks = [], []
    below = int(input_shape[-1])
    for i, c in enumerate(channels):
      self.convs.append(Conv2D(below, c, 4 if i else 3, stride=2, seed=next(seeds),
                               name=f"conv_{i}"))
      self.blocks.append([ResidualBlock(c, activation=activation, seed=next(seeds),
                                        name=f"residual_{i}_{j}")
                          for j in range(residual_blocks)])
      below = c
    self.sizes = downsampled_sizes(input_shape[:2], len(channels))
    h, w = self.sizes[-1]
    self.dense = nn.Dense(h * w * below, output_size, seed=next(seeds), name="dense")
    self._activation = nn.ACTIVATIONS[activation]

  def __call__(self, x: tf.Tensor) -> tf.Tensor:
    x = precision.cast_input(x)
    for conv, blocks in zip(self.convs, self.blocks):
      x = self._activation(conv(x))
      for block in blocks:
        x = block(x)
    return precision.cast_output(self.dense(nn.flatten_event(x, 3)))


class ConvDecoder(tf.Module):
  """Vectors [..., input_size] → images [..., H, W, output_channels]: a dense
  layer to the smallest feature map, then transposed stride-2 convolutions
  mirroring a `ConvEncoder` of the same `channels`, and a last 3×3 conv."""

  def __init__(self, input_size: int, output_shape: Sequence[int], channels: Sequence[int],
               *, residual_blocks: int = 0, activation: str = "relu", seed: Sequence[int],
               name: str | None = None):
    super().__init__(name=name)
    channels = tuple(reversed(nn.parse_sizes(channels, "channels")))
    _check_positive("input_size", input_size)
    if len(output_shape) != 3:
      raise ValueError(f"ConvDecoder makes images [H, W, C], got shape {tuple(output_shape)}")
    if activation not in nn.ACTIVATIONS:
      raise ValueError(f"activation={activation!r}: expected one of {sorted(nn.ACTIVATIONS)}")
    seeds = iter(tf.random.experimental.stateless_split(
        tf.constant(seed, tf.int32), len(channels) * (1 + residual_blocks) + 2).numpy())
    self.sizes = list(reversed(downsampled_sizes(output_shape[:2], len(channels))))
    h, w = self.sizes[0]
    self.dense = nn.Dense(input_size, h * w * channels[0], seed=next(seeds), name="dense")
    self.blocks, self.deconvs = [], []
    for i, c in enumerate(channels):
      self.blocks.append([ResidualBlock(c, activation=activation, seed=next(seeds),
                                        name=f"residual_{i}_{j}")
                          for j in range(residual_blocks)])
      out = channels[i + 1] if i + 1 < len(channels) else channels[-1]
      self.deconvs.append(Conv2DTranspose(c, out, 4, stride=2, seed=next(seeds),
                                          name=f"deconv_{i}"))
    self.out = Conv2D(channels[-1], int(output_shape[-1]), 3, seed=next(seeds), name="out")
    self._first = (h, w, channels[0])
    self._activation = nn.ACTIVATIONS[activation]

  def __call__(self, z: tf.Tensor) -> tf.Tensor:
    x = self._activation(self.dense(precision.cast_input(z)))
    x = tf.reshape(x, tf.concat([tf.shape(x)[:-1], self._first], 0))
    for i, (blocks, deconv) in enumerate(zip(self.blocks, self.deconvs)):
      for block in blocks:
        x = block(x)
      x = self._activation(deconv(x, self.sizes[i + 1]))
    return precision.cast_output(self.out(x))
