r"""Your own model, estimator and data, trained by tfp-zoo's launchers.

Nothing here is registered with tfp-zoo: each object follows the documented
protocol, and the launcher imports it from its `module:object` path:

    PYTHONPATH=examples python launchers/train.py --workdir=/tmp/own \
        --model=zoo_plugins:LogisticFactorModel \
        --estimator=zoo_plugins:tempered_iwae --dataset=zoo_plugins:stripes \
        --model_hparams=latent_size=3 --estimator_options=temperature=0.5

config.json keeps the three paths, so resuming, `evaluate.py`, `sample.py` and
`export.py` import them again (with this directory on PYTHONPATH).

* A model is a class built as `Class(input_shape, **hparams)`: its keyword
  parameters are the hyperparameters (`--model_hparams`). Subclass
  `tfp_zoo.models.LatentVariableModel` and give `joint()`, `guide(x)` and the
  two variable groups.
* An estimator is a function `(model, x, *, seed, **options) -> Objectives`:
  its keyword parameters, with their defaults and annotations, are the
  options (`--estimator_options`, `--num_samples` for `num_samples`).
* A data source has `load(split, data_dir=None)` returning uint8 images
  [N, H, W, C]; `digest(data_dir)` (so a resumed run refuses other data) and
  `needs_data_dir` are optional.

Decorating them instead (`@tfp_zoo.models.register(name, latents=...)`,
`@tfp_zoo.estimators.register(name, latents=..., rules=...)`) adds what a
plain object cannot say: the latent kinds an estimator trains (so a launcher
refuses a pair before building anything) and the values each option allows.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

import tfp_zoo

tfd = tfp.distributions
Root = tfd.JointDistributionCoroutine.Root


class LogisticFactorModel(tfp_zoo.models.LatentVariableModel):
  """z ~ N(0, I); each pixel ~ Bernoulli(sigmoid(w·z + b)); a linear guide."""

  def __init__(self, input_shape: Sequence[int], *, latent_size: int = 2,
               name: str | None = None):
    super().__init__(input_shape, name=name)
    size = int(np.prod(self.input_shape))
    self.latent_size = latent_size
    self.weight = tf.Variable(tf.random.stateless_normal([size, latent_size], [0, 1]) * 0.1,
                              name="weight")
    self.bias = tf.Variable(tf.zeros([size]), name="bias")
    self.encoder = tf.Variable(tf.zeros([latent_size, size]), name="encoder")
    self.encoder_bias = tf.Variable(tf.zeros([latent_size]), name="encoder_bias")
    self.raw_scale = tf.Variable(tf.zeros([latent_size]), name="raw_scale")

  def joint(self) -> tfd.JointDistribution:
    def model():
      z = yield Root(tfd.MultivariateNormalDiag(tf.zeros([self.latent_size]), name="z"))
      logits = tf.linalg.matvec(self.weight, z) + self.bias
      logits = tf.reshape(logits, tf.concat([tf.shape(z)[:-1], self.input_shape], 0))
      yield tfd.Independent(tfd.Bernoulli(logits=logits, dtype=tf.float32),
                            reinterpreted_batch_ndims=self.event_ndims, name="x")
    return tfd.JointDistributionCoroutine(model)

  def guide(self, x: tf.Tensor) -> tfd.JointDistribution:
    flat = tf.reshape(x, tf.concat([tf.shape(x)[:-self.event_ndims], [-1]], 0))
    loc = tf.linalg.matvec(self.encoder, flat) + self.encoder_bias
    def model():
      yield Root(tfd.MultivariateNormalDiag(loc, tf.nn.softplus(self.raw_scale) + 1e-3,
                                            name="z"))
    return tfd.JointDistributionCoroutine(model)

  @property
  def generative_variables(self) -> tuple[tf.Variable, ...]:
    return (self.weight, self.bias)

  @property
  def guide_variables(self) -> tuple[tf.Variable, ...]:
    return (self.encoder, self.encoder_bias, self.raw_scale)


def tempered_iwae(model, x, *, seed, num_samples: int = 3,
                  temperature: float = 1.0) -> tfp_zoo.estimators.Objectives:
  """The IWAE bound on tempered weights w^T: T < 1 flattens them (T = 0 is the
  ELBO's average, T = 1 the IWAE bound)."""
  weights = tfp_zoo.estimators.importance_log_weights(
      model, x, seed=seed, num_samples=num_samples).log_weights
  tempered = tfp.math.reduce_logmeanexp(temperature * weights, axis=0) / max(temperature,
                                                                             1e-6)
  bound = tempered if temperature > 0 else tf.reduce_mean(weights, axis=0)
  loss = -tf.reduce_mean(bound)
  return tfp_zoo.estimators.Objectives(loss, loss, {"tempered_iwae": -loss})


class Stripes:
  """8x8 images of one horizontal or vertical stripe, drawn once from a fixed seed."""

  def load(self, split: str, data_dir: str | None = None) -> np.ndarray:
    del data_dir  # needs none
    rng = np.random.default_rng({"train": 0, "test": 1}[split])
    count = 400 if split == "train" else 100
    images = np.zeros([count, 8, 8, 1], np.uint8)
    rows = rng.integers(0, 8, count)
    vertical = rng.random(count) < 0.5
    for i in range(count):
      if vertical[i]:
        images[i, :, rows[i]] = 255
      else:
        images[i, rows[i], :] = 255
    return images

  def digest(self, data_dir: str | None = None) -> str:
    del data_dir
    return "stripes-v1"


stripes = Stripes()
