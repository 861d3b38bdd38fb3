"""Attend-infer-repeat (Eslami et al. 2016): a scene of a random number of objects.

For steps t = 0 … T−1 (T = max_steps), with present_{−1} = 1:

    present_t ~ Bernoulli(present_{t−1} · σ(ρ_t))            (stop at the first 0)
    where_t   ~ N(0, diag(σ_where²))      if present_t       (box scale and shift)
    what_t    ~ N(0, I)                   if present_t       (the object's code)
    a_t = present_t · place(decode_θ(what_t), box(where_t))  (spatial transformer)
    x ~ N(1 − Π_t (1 − a_t), pixel_noise²)   or   Bernoulli(same mean)

with ρ learned with θ (or fixed: `learn_present_prior`).
The count is n = Σ_t present_t. Once one present_t is 0, every later one is 0
(its probability is 0), and an absent step's where and what are masked out of
the density (`tfd.Masked`: log-probability 0, on both sides of every weight),
so p(x) = Σ_n p(n) ∫ p(x | n objects) is a sum over n ≤ T. Objects combine by
noisy-OR (a pixel is dark only if no object covers it), which keeps the mean
in [0, 1] for any overlap; for one object it is a_0 itself. box(where) =
(s₀·exp(where[0]), where[1], where[2]) is the box [t − s, t + s] of
`spatial_transformer`, with s₀ = window_size / canvas size (an object at
its natural size).

The guide q_φ(z | x) is recurrent, as in the paper: an LSTM reads an embedding
of x and the previous step's latents and proposes present_t, then where_t;
what_t comes from an encoder of the window that where_t cuts out of x.

Its presence variables are discrete and decide how many where/what latents
exist, the "stochastic control flow" for which Le et al. (2019, "Revisiting
reweighted wake-sleep for models with stochastic control flow") find RWS
better than VIMCO/NVIL. Train it with rws, wake_sleep, vimco or nvil (the
last two reparameterise where/what and use score functions only for the
presence variables); the reparameterised estimators refuse it.

`fixed_position=True` drops where: each object fills the box (s₀, 0, 0).
With max_steps=1 and decoder='linear' the model is linear-Gaussian given
present_0, so log p(x) is exact by enumerating present_0 (`exact_log_likelihood`).
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo import distributions, nn
from tfp_zoo.nn import spatial_transformer
from tfp_zoo.models import base
from tfp_zoo.models.spec import register

tfd = tfp.distributions

__all__ = ["AIR", "DECODERS", "LIKELIHOODS", "WHERE_PRIOR_SCALE"]

DECODERS = ("mlp", "linear")
LIKELIHOODS = ("gaussian", "bernoulli")
# Prior sd of where = (log-scale, shift x, shift y): objects within about ±10%
# of their natural size (Pyro's AIR: ±7%), centres anywhere on the canvas. A
# loose scale prior (0.2) let one window grow over both digits of a canvas.
WHERE_PRIOR_SCALE = (0.05, 0.5, 0.5)
_MAX_LOG_SCALE = 3.0  # |where[0]| is clipped here: s stays positive and finite
_MIN_SCALE = 1e-3
_BERNOULLI_FLOOR = 1e-3  # Bernoulli pixel probabilities in [floor, 1 − floor]
_STOPPED_LOGIT = -1e4  # the presence logit after a stop (see `_present`)


def _present(logits: tf.Tensor, previous: tf.Tensor, name: str) -> tfd.Distribution:
  """Bernoulli(σ(logits)) where the previous step was present, else certainly 0.

  The "else" is a logit of −10⁴ rather than probability 0: σ(−10⁴) is 0 in
  float32 (samples are 0, and log-probability 0 at 0), and the gradients stay
  finite, where TFP's probability-parameterised Bernoulli takes log(0).
  """
  logits = tf.where(previous > 0.5, logits, _STOPPED_LOGIT)
  return distributions.Bernoulli(logits=logits, dtype=tf.float32, name=name)


def _masked_normal(loc: tf.Tensor, scale: tf.Tensor, present: tf.Tensor,
                   name: str) -> tfd.Distribution:
  """N(loc, scale²) over the last axis where present, log-probability 0 elsewhere."""
  normal = tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=1)
  return tfd.Masked(normal, validity_mask=present > 0.5, name=name)


def _named(value) -> dict[str, tf.Tensor]:
  return dict(value._asdict())


def _concat(tensors: Sequence[tf.Tensor]) -> tf.Tensor:
  """Concatenates along the last axis after broadcasting the leading ones."""
  shape = tf.shape(tensors[0])[:-1]
  for t in tensors[1:]:
    shape = tf.broadcast_dynamic_shape(shape, tf.shape(t)[:-1])
  return tf.concat([tf.broadcast_to(t, tf.concat([shape, tf.shape(t)[-1:]], 0))
                    for t in tensors], -1)


@register("air", latents="mixed",
          summary=("attend-infer-repeat (Eslami et al. 2016) for `multi_mnist`: up to "
                   "`max_steps` objects, each with a presence variable (once one is absent, "
                   "all later ones are; learned prior probabilities), a where latent (box "
                   "scale and shift) and a what code decoded by an MLP into a window that a "
                   "differentiable spatial transformer (`tfp_zoo.nn.spatial_transformer`, written"
                   " in TF) places on the canvas; objects combine by noisy-OR; Gaussian pixels"
                   " with a fixed scale. Its recurrent guide (an LSTM over an embedding of x "
                   "and the previous step's latents) proposes presence and where, then what "
                   "from the window where cuts out of x. Discrete control flow (presence), so "
                   "the score-function and wake-sleep estimators train it. `model.infer(x, "
                   "seed=)` reads counts and boxes. With `max_steps=1`, `fixed_position=true` "
                   "and `decoder=linear`, `exact_log_likelihood(x)` enumerates presence"))
class AIR(base.LatentVariableModel):
  """Attend-infer-repeat on single-channel images (e.g. multi_mnist's 50×50)."""

  def __init__(self, input_shape: Sequence[int], *, max_steps: int = 2,
               what_size: int = 50, window_size: int = 28, decoder: str = "mlp",
               hidden_size: int = 200, rnn_size: int = 256, likelihood: str = "gaussian",
               pixel_noise: float = 0.3, present_prior: float = 0.5,
               learn_present_prior: bool = True, fixed_position: bool = False,
               seed: int = 0, name: str | None = None):
    """Builds the networks.

    Args:
      input_shape: (height, width, 1): one channel.
      max_steps: T, the most objects per image.
      what_size: dimension of each object's code.
      window_size: side of the decoded object window, in pixels.
      decoder: 'mlp' (code → hidden → window, sigmoid) or 'linear' (affine,
        for exact tests).
      hidden_size: hidden units of the decoder MLP and the window encoder.
      rnn_size: LSTM units of the guide.
      likelihood: 'gaussian' (pixel_noise) or 'bernoulli' pixels.
      pixel_noise: the Gaussian pixels' fixed standard deviation.
      present_prior: the prior presence probability σ(ρ_t) of every step (at
        initialisation, if learned).
      learn_present_prior: learn ρ with θ (the default). Fixed and small (e.g.
        0.01, a geometric prior on the count) it makes every object pay
        log(1/0.01) ≈ 4.6 nats, against splitting one digit into two windows;
        but then sleep samples (wake_sleep, rws with guide_update=sleep or
        mixture) are nearly all empty canvases and teach the guide nothing.
      fixed_position: no where latents: each object fills the box (s₀, 0, 0).
      seed: integer seed of the initialisation.
      name: module name.
    """
    super().__init__(input_shape, name=name)
    if (len(self.input_shape) != 3 or self.input_shape[-1] != 1
        or self.input_shape[0] != self.input_shape[1]):
      raise ValueError(f"input_shape={self.input_shape}: air models square one-channel "
                       "images [size, size, 1] (e.g. --dataset=multi_mnist)")
    for option, value in (("max_steps", max_steps), ("what_size", what_size),
                          ("window_size", window_size), ("hidden_size", hidden_size),
                          ("rnn_size", rnn_size)):
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{option}={value!r}: expected a positive integer")
    if decoder not in DECODERS:
      raise ValueError(f"decoder={decoder!r}: expected one of {DECODERS}")
    if likelihood not in LIKELIHOODS:
      raise ValueError(f"likelihood={likelihood!r}: air supports {LIKELIHOODS}")
    if not (isinstance(pixel_noise, (int, float)) and pixel_noise > 0
            and math.isfinite(pixel_noise)):
      raise ValueError(f"pixel_noise={pixel_noise!r}: expected a positive number")
    if not (isinstance(present_prior, (int, float)) and 0 < present_prior < 1):
      raise ValueError(f"present_prior={present_prior!r}: expected a probability in (0, 1)")
    self.max_steps = max_steps
    self.what_size = what_size
    self.window_shape = (window_size, window_size)
    self.canvas_shape = self.input_shape[:2]
    self.decoder_kind = decoder
    self.likelihood = likelihood
    self.pixel_noise = float(pixel_noise)
    self.fixed_position = bool(fixed_position)
    self.learn_present_prior = bool(learn_present_prior)
    # s₀: the box of an object at its natural size (window pixels = canvas pixels).
    self.natural_scale = window_size / self.canvas_shape[0]
    seeds = tf.random.experimental.stateless_split(tf.constant([seed, 14]), 7).numpy()
    window_pixels = window_size * window_size
    logit = math.log(present_prior / (1.0 - present_prior))
    self.present_logits = tf.Variable(tf.fill([max_steps], logit), name="present_logits",
                                      trainable=self.learn_present_prior)
    sizes = ([what_size, window_pixels] if decoder == "linear"
             else [what_size, hidden_size, window_pixels])
    self.decoder = nn.MLP(sizes, activation="relu", seed=seeds[0], name="decoder")
    if decoder == "mlp":  # objects start faint, not a grey square over the canvas
      self.decoder.layers[-1].bias.assign(tf.fill([window_pixels], -2.0))
    # The guide.
    pixels = int(np.prod(self.input_shape))
    where_size = 0 if self.fixed_position else 3
    # A linear projection of x, computed once per image (the LSTM's input layer
    # is linear too: this saves a pixels-wide matmul per step, as in Pyro's AIR).
    self.embedding = nn.MLP([pixels, rnn_size], seed=seeds[1], name="embedding")
    self.rnn = nn.LSTMCell(rnn_size + where_size + what_size + 1, rnn_size,
                           seed=seeds[2], name="rnn")
    self.present_head = nn.Dense(rnn_size, 1, seed=seeds[3], name="present_head")
    self.present_head.bias.assign([1.0])  # propose objects at first: counts fall, not rise
    if not self.fixed_position:
      self.where_head = nn.Dense(rnn_size, 6, seed=seeds[4], name="where_head")
      self.where_head.bias.assign([0.0, 0.0, 0.0, -2.0, -2.0, -2.0])
    self.what_encoder = nn.MLP([window_pixels, hidden_size, 2 * what_size],
                               activation="relu", seed=seeds[5], name="what_encoder")

  @property
  def observation_support(self) -> str:
    return "unit_interval" if self.likelihood == "bernoulli" else "real"

  @property
  def latent_names(self) -> tuple[str, ...]:
    names = []
    for t in range(self.max_steps):
      names += [f"present_{t}"] + ([] if self.fixed_position else [f"where_{t}"]) + [
          f"what_{t}"]
    return tuple(names)

  # The generative model.

  def boxes(self, where: tf.Tensor | None) -> tf.Tensor:
    """The spatial transformer's boxes [..., 3] = (s, t_x, t_y) of where
    latents: s = s₀·exp(where[0]), or the natural box (s₀, 0, 0) for None
    (fixed_position)."""
    if where is None:
      return tf.constant([self.natural_scale, 0.0, 0.0])
    log_scale = tf.clip_by_value(where[..., :1], -_MAX_LOG_SCALE, _MAX_LOG_SCALE)
    scale = self.natural_scale * tf.exp(log_scale)
    return tf.concat([scale, where[..., 1:]], -1)

  def object_window(self, what: tf.Tensor) -> tf.Tensor:
    """decode_θ(what): the object's window [..., h, w] (in [0, 1] for 'mlp')."""
    out = self.decoder(what)
    if self.decoder_kind == "mlp":
      out = tf.sigmoid(out)
    return tf.reshape(out, tf.concat([tf.shape(out)[:-1], self.window_shape], 0))

  def _observation(self, one_minus: tf.Tensor) -> tfd.Distribution:
    mean = (1.0 - one_minus)[..., None]
    if self.likelihood == "bernoulli":
      probs = tf.clip_by_value(mean, _BERNOULLI_FLOOR, 1.0 - _BERNOULLI_FLOOR)
      pixels = tfd.Bernoulli(probs=probs, dtype=tf.float32)
    else:
      pixels = tfd.Normal(mean, self.pixel_noise)
    return tfd.Independent(pixels, reinterpreted_batch_ndims=3, name=base.OBSERVATION)

  def joint(self) -> tfd.JointDistributionCoroutine:
    where_scale = tf.constant(WHERE_PRIOR_SCALE)

    def model():
      previous = tf.constant(1.0)
      one_minus = tf.constant(1.0)  # Π_t (1 − a_t)
      for t in range(self.max_steps):
        present = yield (base.Root if t == 0 else (lambda d: d))(
            _present(self.present_logits[t], previous, f"present_{t}"))
        where = None
        if not self.fixed_position:
          where = yield _masked_normal(tf.zeros(3), where_scale, present, f"where_{t}")
        what = yield _masked_normal(tf.zeros(self.what_size), tf.ones(self.what_size),
                                    present, f"what_{t}")
        placed = spatial_transformer.place_window(self.object_window(what),
                                                  self.boxes(where), self.canvas_shape)
        one_minus = one_minus * (1.0 - present[..., None, None] * placed)
        previous = present
      yield self._observation(one_minus * tf.ones(self.canvas_shape))
    return tfd.JointDistributionCoroutine(model, name="joint")

  # The guide.

  def guide(self, x: tf.Tensor) -> tfd.JointDistributionCoroutine:
    x = tf.convert_to_tensor(x, tf.float32)
    image = x[..., 0]  # [batch, H, W]
    features = self.embedding(nn.flatten_event(x, 3))
    batch_shape = tf.shape(features)[:-1]

    def model():
      state = self.rnn.initial_state(batch_shape)
      previous = tf.ones(tf.concat([batch_shape, [1]], 0))
      where = tf.zeros(tf.concat([batch_shape, [0 if self.fixed_position else 3]], 0))
      what = tf.zeros(tf.concat([batch_shape, [self.what_size]], 0))
      for t in range(self.max_steps):
        hidden, state = self.rnn(_concat([features, where, what, previous]), state)
        present = yield (base.Root if t == 0 else (lambda d: d))(
            _present(self.present_head(hidden)[..., 0], previous[..., 0], f"present_{t}"))
        box = self.boxes(None)
        if not self.fixed_position:
          loc, raw_scale = tf.split(self.where_head(hidden), 2, axis=-1)
          where = yield _masked_normal(loc, tf.nn.softplus(raw_scale) + _MIN_SCALE, present,
                                       f"where_{t}")
          box = self.boxes(where)
        window = spatial_transformer.extract_window(image, box, self.window_shape)
        loc, raw_scale = tf.split(self.what_encoder(nn.flatten_event(window, 2)), 2, axis=-1)
        what = yield _masked_normal(loc, tf.nn.softplus(raw_scale) + _MIN_SCALE, present,
                                    f"what_{t}")
        previous = present[..., None]
    return tfd.JointDistributionCoroutine(model, name="guide")

  @staticmethod
  def count(latents: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """The number of objects n = Σ_t present_t of a sample (joint or guide)."""
    present = [v for k, v in latents.items() if k.startswith("present_")]
    return tf.cast(tf.add_n(present), tf.int32)

  def infer(self, x: tf.Tensor, *, seed: tf.Tensor) -> dict[str, tf.Tensor]:
    """One draw of the guide per image, read as a scene.

    Returns:
      'count' int32 [batch] (n = Σ_t present_t), 'present' [batch, T] and
      'boxes' [batch, T, 3] = (s, t_x, t_y) in normalised coordinates (the
      object at step t covers [t − s, t + s]; boxes of absent steps are
      meaningless).
    """
    latents = _named(self.guide(x).sample(seed=seed))
    present = tf.stack([latents[f"present_{t}"] for t in range(self.max_steps)], -1)
    if self.fixed_position:
      boxes = tf.broadcast_to(self.boxes(None), tf.concat([tf.shape(present), [3]], 0))
    else:
      boxes = tf.stack([self.boxes(latents[f"where_{t}"]) for t in range(self.max_steps)], -2)
    return {"count": self.count(latents), "present": present, "boxes": boxes}

  def exact_log_likelihood(self, x: tf.Tensor) -> tf.Tensor:
    """log p(x) by enumerating present_0, for max_steps=1, fixed_position and
    decoder='linear' with Gaussian pixels, where x | present_0 = 1 is Gaussian
    with mean W·0 + b placed on the canvas and covariance (PW)(PW)ᵀ + σ²I.

    Returns:
      [batch] exact log-likelihoods.
    """
    if not (self.max_steps == 1 and self.fixed_position and self.decoder_kind == "linear"
            and self.likelihood == "gaussian"):
      raise ValueError("exact_log_likelihood needs max_steps=1, fixed_position=True, "
                       "decoder='linear' and likelihood='gaussian'")
    x = tf.reshape(tf.convert_to_tensor(x, tf.float32), [-1, int(np.prod(self.input_shape))])
    box = self.boxes(None)
    layer = self.decoder.layers[0]
    def place(windows):  # [n, h*w] -> [n, H*W]
      windows = tf.reshape(windows, [-1, *self.window_shape])
      placed = spatial_transformer.place_window(windows, box, self.canvas_shape)
      return tf.reshape(placed, [tf.shape(windows)[0], -1])
    mean = place(layer.bias[None])[0]
    factor = tf.transpose(place(layer.kernel))  # [H*W, what_size]
    pixels = int(np.prod(self.input_shape))
    covariance = (tf.matmul(factor, factor, transpose_b=True)
                  + self.pixel_noise ** 2 * tf.eye(pixels))
    present = tfd.MultivariateNormalTriL(mean, tf.linalg.cholesky(covariance)).log_prob(x)
    absent = tfd.Independent(tfd.Normal(tf.zeros(pixels), self.pixel_noise), 1).log_prob(x)
    rho = self.present_logits[0]
    return tf.reduce_logsumexp(tf.stack([absent + tf.math.log_sigmoid(-rho),
                                         present + tf.math.log_sigmoid(rho)]), axis=0)

  @property
  def generative_variables(self) -> tuple[tf.Variable, ...]:
    prior = (self.present_logits,) if self.learn_present_prior else ()
    return prior + self.decoder.trainable_variables

  @property
  def guide_variables(self) -> tuple[tf.Variable, ...]:
    variables = (self.embedding.trainable_variables + self.rnn.trainable_variables
                 + self.present_head.trainable_variables
                 + self.what_encoder.trainable_variables)
    if not self.fixed_position:
      variables += self.where_head.trainable_variables
    return variables
