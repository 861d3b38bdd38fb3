"""Autoregressive flows for guides and priors: MADE, IAF and MAF stacks.

* `MADE` (Germain et al. 2015, "MADE: Masked autoencoder for distribution
  estimation") maps u ∈ R^d to a shift s(u) and log-scale l(u) in which output
  i sees only u_{<i}. It has the paper's direct (masked linear) connections, so
  an affine autoregressive map is exactly representable (the linear-Gaussian
  tests need that), and a zero-initialised output layer, so every flow starts
  at the identity (Kingma et al. 2016, §4).
* `AutoregressiveFlow` stacks L of them with reversals between layers and
  builds the TFP bijector on each call (a bijector or distribution held as a
  module attribute breaks checkpoints and SavedModels):
  - `kind='iaf'` (Kingma et al. 2016, "Improved variational inference with
    inverse autoregressive flow"): `tfb.Invert(tfb.MaskedAutoregressiveFlow)`,
    z = (ε − s(ε)) e^{−l(ε)}. Sampling and log q at the sample are one pass per
    layer; log q at any other point needs the sequential inverse, d passes
    (`path_derivative_loss` and wake-φ updates pay this, see the throughput
    table in docs/results/speed.md).
  - `kind='maf'` (Papamakarios et al. 2017): `tfb.MaskedAutoregressiveFlow`,
    the density in one pass and sampling in d passes: the right way round for a
    prior, whose density the estimators evaluate at guide samples.

Both map R^d onto R^d (finite scales), so MCMC moves the latent in z directly.
"""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo import nn

tfb = tfp.bijectors

__all__ = ["MADE", "AutoregressiveFlow", "FLOW_NAME"]

# The log-scale is soft-clipped to ±_MAX_LOG_SCALE per layer: a saturated
# network cannot produce an infinite density.
_MAX_LOG_SCALE = 5.0
FLOW_NAME = "autoregressive_flow"


def _degrees(size: int, hidden: int) -> tuple[np.ndarray, np.ndarray]:
  """MADE degrees: inputs 1..d, hidden units cycling over 1..d−1 (Germain §4)."""
  inputs = np.arange(1, size + 1)
  hidden_degrees = np.arange(hidden) % max(size - 1, 1) + 1
  return inputs, hidden_degrees


class MADE(tf.Module):
  """(shift, log_scale) of u ∈ R^d, output i depending on u_{<i} only.

  With `context_size` > 0 the hidden layer also sees a context vector h
  (unmasked: every output may depend on all of h), as the IAF of Kingma et
  al. (2016) takes the encoder's h so that the flow depends on x.
  """

  def __init__(self, size: int, hidden_size: int, *, seed: Sequence[int],
               activation: str = "tanh", context_size: int = 0, name: str | None = None):
    super().__init__(name=name)
    if activation not in nn.ACTIVATIONS:
      raise ValueError(f"activation={activation!r}: expected one of {sorted(nn.ACTIVATIONS)}")
    self.size = size
    inputs, hidden = _degrees(size, hidden_size)
    outputs = np.concatenate([inputs, inputs])  # shift then log-scale, degrees 1..d each
    self._hidden_mask = tf.constant(hidden[None, :] >= inputs[:, None], tf.float32)
    self._output_mask = tf.constant(outputs[None, :] > hidden[:, None], tf.float32)
    self._direct_mask = tf.constant(outputs[None, :] > inputs[:, None], tf.float32)
    self.hidden = nn.Dense(size, hidden_size, seed=seed, name="hidden")
    self.output_kernel = tf.Variable(tf.zeros([hidden_size, 2 * size]), name="output_kernel")
    self.direct_kernel = tf.Variable(tf.zeros([size, 2 * size]), name="direct_kernel")
    self.output_bias = tf.Variable(tf.zeros([2 * size]), name="output_bias")
    self._activation = nn.ACTIVATIONS[activation]
    self.context_size = context_size
    if context_size:
      self.context = nn.Dense(context_size, hidden_size, seed=tf.random.experimental.
                              stateless_fold_in(tf.constant(seed, tf.int32), 1).numpy(),
                              name="context")

  def __call__(self, u: tf.Tensor,
               context: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor]:
    if (context is None) != (not self.context_size):
      raise ValueError(f"MADE: built with context_size={self.context_size}, called "
                       f"{'without' if context is None else 'with'} a context")
    shape = tf.shape(u)
    flat = tf.reshape(u, [-1, self.size])
    pre = tf.nn.bias_add(tf.matmul(flat, self.hidden.kernel * self._hidden_mask),
                         self.hidden.bias)
    if context is not None:
      # h W_c is [..., batch, hidden]; u may carry more leading (sample) axes
      # than the context: broadcast, then flatten like u.
      unflat = tf.reshape(pre, tf.concat([shape[:-1], [-1]], 0)) + self.context(context)
      pre = tf.reshape(unflat, [-1, tf.shape(pre)[-1]])
    h = self._activation(pre)
    out = tf.nn.bias_add(tf.matmul(h, self.output_kernel * self._output_mask)
                         + tf.matmul(flat, self.direct_kernel * self._direct_mask),
                         self.output_bias)
    out = tf.reshape(out, tf.concat([shape[:-1], [2 * self.size]], 0))
    shift, raw_log_scale = tf.split(out, 2, axis=-1)
    return shift, _MAX_LOG_SCALE * tf.tanh(raw_log_scale / _MAX_LOG_SCALE)

  def set_affine(self, shift_matrix: tf.Tensor, log_scale: tf.Tensor) -> None:
    """Makes the map exactly affine: s(u) = M u (M strictly lower), l(u) = log_scale."""
    self.output_kernel.assign(tf.zeros_like(self.output_kernel))
    self.direct_kernel.assign(tf.concat(
        [tf.transpose(shift_matrix), tf.zeros([self.size, self.size])], axis=1))
    raw = _MAX_LOG_SCALE * tf.atanh(tf.convert_to_tensor(log_scale, tf.float32)
                                    / _MAX_LOG_SCALE)
    self.output_bias.assign(tf.concat([tf.zeros([self.size]), raw], 0))


class AutoregressiveFlow(tf.Module):
  """L MADE layers with reversals between them, as an IAF or a MAF bijector."""

  def __init__(self, size: int, *, kind: str, num_layers: int, hidden_size: int,
               seed: Sequence[int], activation: str = "tanh", context_size: int = 0,
               name: str | None = None):
    super().__init__(name=name)
    if kind not in ("iaf", "maf"):
      raise ValueError(f"kind={kind!r}: expected 'iaf' or 'maf'")
    if not isinstance(num_layers, int) or num_layers < 1:
      raise ValueError(f"flow_layers={num_layers!r}: expected a positive integer")
    if not isinstance(hidden_size, int) or hidden_size < 1:
      raise ValueError(f"flow_hidden={hidden_size!r}: expected a positive integer")
    seeds = tf.random.experimental.stateless_split(tf.constant(seed, tf.int32),
                                                   num_layers).numpy()
    self.kind = kind
    self.size = size
    self.context_size = context_size
    self.layers = [MADE(size, hidden_size, seed=s, activation=activation,
                        context_size=context_size, name=f"made_{i}")
                   for i, s in enumerate(seeds)]

  def bijector(self, context: tf.Tensor | None = None) -> tfb.Bijector:
    """The flow from base noise to the latent (ε ↦ z); `context` [..., batch, c]
    (the encoder's h) conditions every layer when the flow was built with one."""
    steps = []
    for i, made in enumerate(self.layers):
      if i:
        steps.append(tfb.Permute(list(range(self.size - 1, -1, -1))))
      fn = made if context is None else functools.partial(made, context=context)
      maf = tfb.MaskedAutoregressiveFlow(shift_and_log_scale_fn=fn)
      steps.append(tfb.Invert(maf) if self.kind == "iaf" else maf)
    # tfb.Chain applies its list last-to-first.
    return tfb.Chain(list(reversed(steps)), name=FLOW_NAME)
