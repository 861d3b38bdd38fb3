"""Priors p_θ(z) over a real latent vector: standard, mixture, VampPrior, flow.

* `standard`: N(0, I).
* `mixture`: Σ_k π_k N(μ_k, diag σ_k²), all learned (as in e.g. Dilokthanakul
  et al. 2016; Tomczak & Welling 2018, §3, "mixture of Gaussians" baseline).
* `vampprior`: the variational mixture of posteriors (Tomczak & Welling 2018,
  "VAE with a VampPrior"), p(z) = (1/K) Σ_k q_ψ(z | u_k), with K learned
  pseudo-inputs u_k. The paper evaluates the guide's own encoder at the
  pseudo-inputs; here the prior has its own encoder ψ (part of θ, initialised
  like the guide's) so that θ and φ stay disjoint: every estimator here trains
  θ and φ with separate losses (wake-sleep, RWS, DReG), and a shared encoder
  would receive both updates. Pseudo-inputs are σ(raw) so they stay in [0, 1],
  the paper's hard-tanh clipping in smooth form.
* `flow`: N(0, I) pushed through a masked autoregressive flow (Papamakarios
  et al. 2017; as a VAE prior e.g. Chen et al. 2017, "Variational lossy
  autoencoder", whose autoregressive-flow prior is this with the MAF's
  one-pass density): log p(z) costs one MADE pass per layer, sampling d.

None of these but `standard` has a closed-form KL to a Gaussian guide, so
`elbo(analytic_kl=True)` refuses them with a message.
"""

from __future__ import annotations

from typing import Callable, Sequence

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo import nn
from tfp_zoo.models import flows

tfd = tfp.distributions

__all__ = ["PRIORS", "DEFAULT_COMPONENTS", "MixturePrior", "VampPrior", "FlowPrior",
           "standard_normal"]

PRIORS = ("standard", "mixture", "vampprior", "flow")
# The VampPrior paper's MNIST setting uses 500 pseudo-inputs.
DEFAULT_COMPONENTS = {"mixture": 10, "vampprior": 500}


def standard_normal(size: int, name: str) -> tfd.Distribution:
  return tfd.Independent(tfd.Normal(tf.zeros([size]), 1.0), reinterpreted_batch_ndims=1,
                         name=name)


class MixturePrior(tf.Module):
  """A learned mixture of K diagonal Gaussians over R^d."""

  def __init__(self, size: int, num_components: int, *, seed: Sequence[int],
               name: str = "mixture_prior"):
    super().__init__(name=name)
    # Spread the means so the components start distinct (a symmetric start
    # would keep them identical under the gradient).
    self.locs = tf.Variable(tf.random.stateless_normal([num_components, size], seed=seed),
                            name="locs")
    self.raw_scales = tf.Variable(tf.fill([num_components, size], 0.5413), name="raw_scales")
    self.logits = tf.Variable(tf.zeros([num_components]), name="logits")

  def __call__(self, name: str) -> tfd.Distribution:
    components = tfd.Independent(tfd.Normal(self.locs, tf.nn.softplus(self.raw_scales)),
                                 reinterpreted_batch_ndims=1)
    return tfd.MixtureSameFamily(tfd.Categorical(logits=self.logits), components, name=name)


class VampPrior(tf.Module):
  """p(z) = (1/K) Σ_k q_ψ(z | u_k) with learned pseudo-inputs u_k = σ(raw_k)."""

  def __init__(self, encoder: nn.MLP, input_size: int, num_components: int,
               make_posterior: Callable[[tf.Tensor, str], tfd.Distribution], *,
               seed: Sequence[int], name: str = "vampprior"):
    super().__init__(name=name)
    self.encoder = encoder
    # σ(raw) ≈ uniform on [0.27, 0.73] at the start: mid-grey pseudo-images.
    self.raw_pseudo_inputs = tf.Variable(
        tf.random.stateless_uniform([num_components, input_size], seed=seed, minval=-1.,
                                    maxval=1.), name="raw_pseudo_inputs")
    self._make_posterior = make_posterior
    self.num_components = num_components

  @property
  def pseudo_inputs(self) -> tf.Tensor:
    return tf.sigmoid(self.raw_pseudo_inputs)

  def __call__(self, name: str) -> tfd.Distribution:
    components = self._make_posterior(self.encoder(self.pseudo_inputs), None)  # [K] × d
    return tfd.MixtureSameFamily(
        tfd.Categorical(logits=tf.zeros([self.num_components])), components, name=name)


class FlowPrior(tf.Module):
  """p(z) = N(0, I) pushed forward by a MAF (`flows.AutoregressiveFlow`, kind='maf')."""

  def __init__(self, flow: flows.AutoregressiveFlow, name: str = "flow_prior"):
    super().__init__(name=name)
    if flow.kind != "maf":
      raise ValueError("FlowPrior needs a 'maf' flow (one-pass density)")
    self.flow = flow

  def __call__(self, name: str) -> tfd.Distribution:
    return tfd.TransformedDistribution(standard_normal(self.flow.size, None),
                                       self.flow.bijector(), name=name)
