"""The networks next to x: an MLP on flattened pixels, or a conv net on images.

`architecture=mlp|conv|auto` is a model hparam of `vae`, `discrete_vae` and
`hyperspherical_vae`; 'auto' picks the conv net for colour images [H, W, 3]
and the MLP otherwise (the IWAE paper's networks for the MNIST family). The
MLPs are built exactly as before, so checkpoints of MLP models are unchanged;
the conv nets draw their initial weights from seeds of their own.

`encode(net, x)` and `decode(net, z)` hide the difference: an encoder takes
observations [..., *input_shape] and a decoder returns flat per-pixel
parameters [..., prod(input_shape)], as `pixels.observation` expects.
"""

from __future__ import annotations

from typing import Any, Sequence

import tensorflow as tf

from tfp_zoo import nn
from tfp_zoo.nn import conv

__all__ = ["ARCHITECTURES", "DEFAULT_CONV_CHANNELS", "resolve", "encoder", "decoder",
           "encode", "decode"]

ARCHITECTURES = ("auto", "mlp", "conv")
DEFAULT_CONV_CHANNELS = (32, 64)


def resolve(architecture: str, input_shape: Sequence[int], conv_channels: Any = None,
            residual_blocks: Any = 0) -> str:
  """'mlp' or 'conv' for these hparams, or a ValueError naming the bad one."""
  if architecture not in ARCHITECTURES:
    raise ValueError(f"architecture={architecture!r}: expected one of "
                     f"{', '.join(ARCHITECTURES)}")
  image = len(input_shape) == 3
  if architecture == "auto":
    architecture = "conv" if image and input_shape[-1] == 3 else "mlp"
  if architecture == "mlp":
    if conv_channels is not None or residual_blocks:
      raise ValueError("conv_channels and residual_blocks are only used with "
                       "architecture=conv")
    return architecture
  if not image:
    raise ValueError(f"architecture=conv needs images [H, W, C], got input shape "
                     f"{tuple(input_shape)}")
  nn.parse_sizes(DEFAULT_CONV_CHANNELS if conv_channels is None else conv_channels,
                 "conv_channels")
  if isinstance(residual_blocks, bool) or not isinstance(residual_blocks, int) or (
      residual_blocks < 0):
    raise ValueError(f"residual_blocks={residual_blocks!r}: expected an integer >= 0")
  return architecture


def _conv_seed(seed: Any, i: int):
  return tf.random.experimental.stateless_fold_in(
      tf.constant(seed, tf.int32), 3000 + i).numpy()


def encoder(architecture: str, input_shape: Sequence[int], hidden: Sequence[int],
            output_size: int, *, activation: str, seed: Any, conv_channels: Any = None,
            residual_blocks: int = 0, name: str) -> tf.Module:
  """x → [..., output_size]; `seed` is the MLP's (the conv net's derives from it)."""
  if architecture == "conv":
    return conv.ConvEncoder(input_shape, conv_channels or DEFAULT_CONV_CHANNELS, output_size,
                            residual_blocks=residual_blocks, activation=activation,
                            seed=_conv_seed(seed, 0), name=name)
  size = 1
  for d in input_shape:
    size *= int(d)
  return nn.MLP([size, *hidden, output_size], activation=activation, seed=seed, name=name)


def decoder(architecture: str, input_size: int, output_shape: Sequence[int],
            hidden: Sequence[int], *, activation: str, seed: Any, conv_channels: Any = None,
            residual_blocks: int = 0, params_per_pixel: int = 1, name: str) -> tf.Module:
  """[..., input_size] → `params_per_pixel` parameters per pixel (flatten with
  `decode`: each pixel's parameters are adjacent, last)."""
  if architecture == "conv":
    *spatial, channels = output_shape
    return conv.ConvDecoder(input_size, (*spatial, channels * params_per_pixel),
                            conv_channels or DEFAULT_CONV_CHANNELS,
                            residual_blocks=residual_blocks, activation=activation,
                            seed=_conv_seed(seed, 1), name=name)
  size = params_per_pixel
  for d in output_shape:
    size *= int(d)
  return nn.MLP([input_size, *hidden, size], activation=activation, seed=seed, name=name)


def encode(net: tf.Module, x: Any, event_ndims: int) -> tf.Tensor:
  """The encoder on observations [..., *input_shape] (flattened for an MLP)."""
  x = tf.convert_to_tensor(x, tf.float32)
  if isinstance(net, conv.ConvEncoder):
    return net(x)
  return net(nn.flatten_event(x, event_ndims))


def decode(net: tf.Module, z: tf.Tensor) -> tf.Tensor:
  """The decoder's per-pixel parameters, flat: [..., prod(output_shape)]."""
  params = net(z)
  return nn.flatten_event(params, 3) if isinstance(net, conv.ConvDecoder) else params
