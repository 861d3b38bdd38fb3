"""Variational autoencoders with Gaussian latents (Kingma & Welling 2014).

One stochastic layer: p(z) = N(0, I), p(x | z) from a 2-hidden-layer MLP
(784-200-200-50 with tanh, as in Burda, Grosse & Salakhutdinov 2016, "Importance
Weighted Autoencoders"). Two stochastic layers (IWAE paper): p(z2) p(z1 | z2)
p(x | z1) with 100 then 50 latent units, and the guide q(z1 | x) q(z2 | z1).

Pixels are Bernoulli (binary data) or Gaussian with a learned per-pixel scale
(continuous data). The prior of the top layer is N(0, I) by default, or a
learned mixture, VampPrior or MAF flow (`prior=`, see `priors.py`). Each guide
layer q(z_i | ·) is a diagonal Gaussian by default, a full-covariance Gaussian,
or a diagonal Gaussian followed by an inverse autoregressive flow (`guide=`,
see `flows.py`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo import nn
from tfp_zoo.models import architectures, base, flows, pixels, priors
from tfp_zoo.models.spec import register

tfb = tfp.bijectors
tfd = tfp.distributions

__all__ = ["VAE", "LIKELIHOODS", "GUIDES", "ARCHITECTURES"]

GUIDES = ("diagonal", "full_covariance", "iaf")
ARCHITECTURES = architectures.ARCHITECTURES
_DEFAULT_FLOW_LAYERS = 2

LIKELIHOODS = pixels.LIKELIHOODS
# IWAE paper architectures, keyed by the number of stochastic layers:
# (latent sizes from x upwards, deterministic hidden sizes of each layer).
_ARCHITECTURES = {
    1: ((50,), ((200, 200),)),
    2: ((100, 50), ((200, 200), (100, 100))),
}
_MIN_SCALE = 1e-4


def _diag_normal(params: tf.Tensor, name: str) -> tfd.Distribution:
  loc, raw_scale = tf.split(params, 2, axis=-1)
  return tfd.Independent(
      tfd.Normal(loc, tf.nn.softplus(raw_scale) + _MIN_SCALE),
      reinterpreted_batch_ndims=1, name=name)


def _full_covariance_normal(params: tf.Tensor, size: int, name: str) -> tfd.Distribution:
  return tfd.MultivariateNormalTriL(
      params[..., :size], tfb.FillScaleTriL(diag_shift=_MIN_SCALE)(params[..., size:]),
      name=name)


def _guide_params_size(guide: str, size: int) -> int:
  return size + size * (size + 1) // 2 if guide == "full_covariance" else 2 * size


def _check_guide(guide: str, prior: str, flow_layers: int | None,
                 flow_hidden: int | None) -> None:
  if guide not in GUIDES:
    raise ValueError(f"guide={guide!r}: expected one of {', '.join(GUIDES)}")
  for name, value in (("flow_layers", flow_layers), ("flow_hidden", flow_hidden)):
    nn.check_positive_or_unset(name, value)
    if value is not None and guide != "iaf" and prior != "flow":
      raise ValueError(f"{name} is only used with guide=iaf or prior=flow")


def _check_prior(prior: str, components: int | None, stochastic_layers: int) -> None:
  if prior not in priors.PRIORS:
    raise ValueError(f"prior={prior!r}: expected one of {', '.join(priors.PRIORS)}")
  nn.check_positive_or_unset("prior_components", components)
  if components is not None and prior not in ("mixture", "vampprior"):
    raise ValueError("prior_components is only used with prior=mixture or prior=vampprior")
  if prior == "vampprior" and stochastic_layers != 1:
    raise ValueError("prior='vampprior' is for one stochastic layer (its components "
                     "q(z | u_k) come from the prior's own encoder of the top layer's "
                     "pseudo-inputs); use prior=mixture with stochastic_layers=2")


@register("vae", latents="real",
          summary=("Gaussian latents, Bernoulli pixels (binary data) or Gaussian pixels with a"
                   " learned scale (`--binarization=none`); one stochastic layer "
                   "(784-200-200-50) or two (100 then 50 latents, IWAE paper)"))
class VAE(base.LatentVariableModel):
  """A VAE with one or two Gaussian stochastic layers.

  Latent names: `'z'` for one layer; `'z2'` (top) and `'z1'` (next to x) for two.
  """

  def __init__(self, input_shape: Sequence[int], *, stochastic_layers: int = 1,
               likelihood: str = "bernoulli", latent_sizes: int | Sequence[int] | None = None,
               hidden_sizes: int | Sequence[int] | None = None, activation: str = "tanh",
               prior: str = "standard", prior_components: int | None = None,
               guide: str = "diagonal", flow_layers: int | None = None,
               flow_hidden: int | None = None, iaf_context: bool | None = None,
               architecture: str = "auto", conv_channels: int | Sequence[int] | None = None,
               residual_blocks: int = 0, pixel_scale: str = "learned",
               pixel_scale_init: float = pixels.DEFAULT_PIXEL_SCALE_INIT, seed: int = 0, name: str | None = None):
    """Builds the networks.

    Args:
      input_shape: shape of one observation, e.g. (28, 28, 1).
      stochastic_layers: 1 or 2 (IWAE-paper architectures).
      likelihood: 'bernoulli' (binary pixels) or 'gaussian' (continuous pixels,
        learned per-pixel scale).
      latent_sizes: overrides the latent sizes (from x upwards).
      hidden_sizes: overrides the deterministic hidden sizes (used by every layer).
      activation: hidden activation, one of `nn.ACTIVATIONS`.
      prior: the top layer's prior, one of `priors.PRIORS`: 'standard' N(0, I),
        'mixture' (learned Gaussian mixture), 'vampprior' (one stochastic
        layer only) or 'flow' (a MAF, `flows.py`).
      prior_components: components of a learned prior (unset: 10 for the
        mixture, 500 pseudo-inputs for the VampPrior).
      guide: each guide layer, one of `GUIDES`: 'diagonal' N(μ(·), diag σ(·)²),
        'full_covariance' N(μ(·), L(·)L(·)ᵀ) or 'iaf' (the diagonal Gaussian
        followed by an inverse autoregressive flow shared across inputs).
      flow_layers: MADE layers of the IAF guide and of the flow prior (unset: 2).
      flow_hidden: hidden units of each MADE (unset: twice the latent size).
      iaf_context: with guide='iaf', each layer's encoder also emits a context
        vector h (as many units as a MADE's hidden layer) that every MADE of its
        flow takes, so the flow depends on x, as Kingma et al. (2016) define the
        IAF (unset: true; runs saved before it had a flow shared across inputs
        and keep it: false).
      architecture: the networks next to x, one of `ARCHITECTURES`: 'mlp'
        (as in the IWAE paper), 'conv' (`conv.ConvEncoder`/`ConvDecoder`:
        stride-2 convolutions of `conv_channels`, with `residual_blocks`
        after each) or 'auto' (conv for colour images [H, W, 3], else mlp).
        Layers above the first stochastic layer stay MLPs.
      conv_channels: channels of the stride-2 convolutions (architecture=conv;
        default 32-64).
      residual_blocks: residual blocks after each of them (architecture=conv).
      pixel_scale: the noise of likelihood='gaussian': 'learned' (one scale per
        pixel), 'shared' (one learned scale) or 'fixed'.
      pixel_scale_init: that scale at initialisation (default 0.1; 1 in runs saved before 2026-11-27).
      seed: integer seed of the initialisation.
      name: module name.
    """
    super().__init__(input_shape, name=name)
    if stochastic_layers not in _ARCHITECTURES:
      raise ValueError(f"stochastic_layers={stochastic_layers}: expected 1 or 2")
    pixels.check_likelihood(likelihood)
    pixels.check_pixel_scale(pixel_scale, pixel_scale_init, likelihood)
    _check_prior(prior, prior_components, stochastic_layers)
    _check_guide(guide, prior, flow_layers, flow_hidden)
    if iaf_context is not None and (not isinstance(iaf_context, bool) or guide != "iaf"):
      raise ValueError(f"iaf_context={iaf_context!r}: true or false, and only used with "
                       "guide=iaf")
    self.iaf_context = guide == "iaf" and iaf_context is not False
    architecture = architectures.resolve(architecture, self.input_shape, conv_channels,
                                         residual_blocks)
    if architecture == "conv" and prior == "vampprior":
      raise ValueError("prior=vampprior is built for architecture=mlp (its pseudo-inputs "
                       "meet an MLP encoder); use prior=mixture or prior=flow with conv")
    default_latents, default_hidden = _ARCHITECTURES[stochastic_layers]
    hidden_sizes = None if hidden_sizes is None else nn.parse_sizes(hidden_sizes,
                                                                    "hidden_sizes")
    latent_sizes = (default_latents if latent_sizes is None
                    else nn.parse_sizes(latent_sizes, "latent_sizes"))
    if len(latent_sizes) != stochastic_layers:
      raise ValueError(f"latent_sizes={latent_sizes}: expected {stochastic_layers} sizes")
    hidden = ([tuple(hidden_sizes)] * stochastic_layers if hidden_sizes
              else list(default_hidden))
    self.likelihood = likelihood
    self.latent_sizes = latent_sizes
    # The IAF's MADE width, and the context h each layer's encoder adds for it.
    flow_width = [2 * size if flow_hidden is None else flow_hidden for size in latent_sizes]
    self._context_sizes = flow_width if self.iaf_context else [0] * stochastic_layers
    params_size = lambda i: _guide_params_size(guide, latent_sizes[i]) + self._context_sizes[i]
    self.stochastic_layers = stochastic_layers
    data_size = int(np.prod(self.input_shape))
    seed_list = tf.random.experimental.stateless_split(
        tf.constant([seed, 0], tf.int32), 2 * stochastic_layers + 1).numpy()
    seeds = seed_list[:2 * stochastic_layers]  # encoders, then decoders
    below = [data_size] + list(latent_sizes[:-1])
    self.architecture = architecture
    nets = dict(activation=activation, conv_channels=conv_channels,
                residual_blocks=residual_blocks)
    # Encoders: layer i maps (x or z_i) to the parameters of z_{i+1}.
    self.encoders = [
        architectures.encoder(architecture, self.input_shape, hidden[0],
                              params_size(0), seed=seeds[0],
                              name="encoder_1", **nets)] + [
        nn.MLP([below[i], *hidden[i], params_size(i)],
               activation=activation, seed=seeds[i], name=f"encoder_{i + 1}")
        for i in range(1, stochastic_layers)]
    # Decoders: layer i maps z_{i+1} to the parameters of (x or z_i).
    self.decoders = [
        architectures.decoder(architecture, latent_sizes[0], self.input_shape,
                              tuple(reversed(hidden[0])), seed=seeds[stochastic_layers],
                              name="decoder_1",
                              params_per_pixel=pixels.params_per_pixel(likelihood), **nets)] + [
        nn.MLP([latent_sizes[i], *reversed(hidden[i]), 2 * below[i]],
               activation=activation, seed=seeds[stochastic_layers + i],
               name=f"decoder_{i + 1}")
        for i in range(1, stochastic_layers)]
    if likelihood == "gaussian":
      self.pixel_raw_scale = pixels.initial_raw_scale(data_size, pixel_scale, pixel_scale_init)
    self.prior_kind = prior
    components = (priors.DEFAULT_COMPONENTS.get(prior, 0) if prior_components is None
                  else prior_components)
    # Own seeds for the prior, so the default model's initialisation is unchanged.
    prior_seed = tf.random.experimental.stateless_fold_in(
        tf.constant([seed, 0], tf.int32), 1000).numpy()
    flow_layers = _DEFAULT_FLOW_LAYERS if flow_layers is None else flow_layers

    def flow(i, kind, seed, context_size=0):
      return flows.AutoregressiveFlow(
          latent_sizes[i], kind=kind, num_layers=flow_layers, hidden_size=flow_width[i],
          seed=seed, context_size=context_size, name=f"{kind}_{i + 1}")

    self.guide_kind = guide
    if guide == "iaf":
      self.guide_flows = [
          flow(i, "iaf", tf.random.experimental.stateless_fold_in(
              tf.constant([seed, 0], tf.int32), 2000 + i).numpy(), self._context_sizes[i])
          for i in range(stochastic_layers)]
    if prior == "flow":
      self.prior = priors.FlowPrior(
          flow(stochastic_layers - 1, "maf", prior_seed))
    elif prior == "mixture":
      self.prior = priors.MixturePrior(latent_sizes[-1], components, seed=prior_seed)
    elif prior == "vampprior":
      # The prior's encoder starts as a copy of the guide's (same seed).
      encoder = nn.MLP([data_size, *hidden[0], 2 * latent_sizes[0]], activation=activation,
                       seed=seed_list[0], name="prior_encoder")
      self.prior = priors.VampPrior(encoder, data_size, components, _diag_normal,
                                    seed=prior_seed)
    self._latent_names = (("z",) if stochastic_layers == 1
                          else tuple(f"z{i}" for i in range(stochastic_layers, 0, -1)))

  @property
  def observation_support(self) -> str:
    return pixels.support(self.likelihood)

  @property
  def latent_names(self) -> tuple[str, ...]:
    return self._latent_names

  def _layer_name(self, i: int) -> str:
    """Name of latent layer i (0 = next to x)."""
    return "z" if self.stochastic_layers == 1 else f"z{i + 1}"

  def _observation(self, params: tf.Tensor) -> tfd.Distribution:
    return pixels.observation(params, self.input_shape, self.likelihood,
                              getattr(self, "pixel_raw_scale", None))

  def joint(self) -> tfd.JointDistributionCoroutine:
    top = self.stochastic_layers - 1

    def model():
      z = yield base.Root(self._prior(self._layer_name(top)))
      for i in range(top, 0, -1):
        z = yield _diag_normal(self.decoders[i](z), self._layer_name(i - 1))
      yield self._observation(architectures.decode(self.decoders[0], z))

    return tfd.JointDistributionCoroutine(model, name="joint")

  def _prior(self, name: str) -> tfd.Distribution:
    if self.prior_kind == "standard":
      return priors.standard_normal(self.latent_sizes[-1], name)
    return self.prior(name)

  def _guide_layer(self, i: int, below: tf.Tensor) -> tfd.Distribution:
    """q(z_{i+1} | below): the chosen family, from the encoder's parameters."""
    params = (architectures.encode(self.encoders[0],
                                   pixels.network_input(below, self.likelihood),
                                   self.event_ndims) if i == 0
              else self.encoders[i](below))
    name = self._layer_name(i)
    if self.guide_kind == "full_covariance":
      return _full_covariance_normal(params, self.latent_sizes[i], name)
    if self.guide_kind == "iaf":
      size = 2 * self.latent_sizes[i]
      context = params[..., size:] if self._context_sizes[i] else None
      return tfd.TransformedDistribution(_diag_normal(params[..., :size], None),
                                         self.guide_flows[i].bijector(context), name=name)
    return _diag_normal(params, name)

  def guide(self, x: tf.Tensor) -> tfd.JointDistributionCoroutine:

    def model():
      z = yield base.Root(self._guide_layer(0, x))
      for i in range(1, self.stochastic_layers):
        z = yield self._guide_layer(i, z)

    return tfd.JointDistributionCoroutine(model, name="guide")

  @property
  def generative_variables(self) -> tuple[tf.Variable, ...]:
    variables = sum((d.trainable_variables for d in self.decoders), ())
    if self.likelihood == "gaussian":
      variables += pixels.scale_variables(self.pixel_raw_scale)
    if self.prior_kind != "standard":
      variables += self.prior.trainable_variables
    return variables

  @property
  def guide_variables(self) -> tuple[tf.Variable, ...]:
    variables = sum((e.trainable_variables for e in self.encoders), ())
    if self.guide_kind == "iaf":
      variables += sum((f.trainable_variables for f in self.guide_flows), ())
    return variables
