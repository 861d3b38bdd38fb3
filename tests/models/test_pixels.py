"""Pixel likelihoods: the discretised logistic (and its mixture) against a
direct float64 computation, normalised over 0..255, finite at the extremes."""

import math

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tfp_zoo import models
from tfp_zoo.models import pixels


def _sigmoid(t):
  return 1.0 / (1.0 + np.exp(-t))


def _reference_log_pmf(x, raw_loc, raw_scale):
  """PixelCNN++'s discretised logistic, in float64, from the same raw outputs."""
  loc = 127.5 + 1.5 * 127.5 * np.tanh(raw_loc)
  scale = 127.5 * np.log1p(np.exp(raw_scale)) + 0.01
  upper = np.where(x >= 255, 1.0, _sigmoid((x + 0.5 - loc) / scale))
  lower = np.where(x <= 0, 0.0, _sigmoid((x - 0.5 - loc) / scale))
  return np.log(upper - lower)


LEVELS = tf.reshape(tf.range(256.0), [256, 1, 1])


class DiscretizedLogisticTest(tf.test.TestCase, parameterized.TestCase):

  def _params(self, likelihood, seed=(1, 2)):
    return tf.random.stateless_normal([3, 4 * pixels.params_per_pixel(likelihood)], seed=seed)

  @parameterized.parameters(*pixels.DISCRETIZED)
  def test_normalised_over_the_256_levels(self, likelihood):
    dist = pixels.observation(self._params(likelihood), (4,), likelihood)
    per_pixel = dist.distribution  # Independent's per-pixel distribution, batch [3, 4]
    total = tf.reduce_sum(tf.exp(per_pixel.log_prob(LEVELS)), axis=0)
    self.assertAllClose(total, tf.ones([3, 4]), atol=1e-5)

  def test_matches_the_direct_computation_including_the_edge_bins(self):
    raw = tf.random.stateless_normal([2, 5, 2], seed=[3, 4])
    x = tf.constant([[0.0, 1.0, 128.0, 254.0, 255.0], [17.0, 200.0, 0.0, 255.0, 99.0]])
    dist = pixels.observation(tf.reshape(raw, [2, 10]), (5,), "discretized_logistic")
    expected = _reference_log_pmf(x.numpy().astype(np.float64),
                                  raw[..., 0].numpy().astype(np.float64),
                                  raw[..., 1].numpy().astype(np.float64))
    self.assertAllClose(dist.distribution.log_prob(x), expected, atol=2e-4)
    self.assertAllClose(dist.log_prob(x), expected.sum(-1), atol=1e-3)
    # Broken variant: the continuous logistic density at x (no bins, no edge mass).
    loc = 127.5 + 1.5 * 127.5 * np.tanh(raw[..., 0].numpy())
    scale = 127.5 * np.log1p(np.exp(raw[..., 1].numpy())) + 0.01
    t = (x.numpy() - loc) / scale
    density = -t - 2 * np.log1p(np.exp(-t)) - np.log(scale)
    self.assertGreater(np.max(np.abs(density - expected)), 0.05)

  def test_mixture_is_the_weighted_sum_of_its_components(self):
    m = pixels.MIXTURE_COMPONENTS
    raw = tf.random.stateless_normal([1, 3, 3, m], seed=[5, 6])
    x = tf.constant([[0.0, 77.0, 255.0]])
    dist = pixels.observation(tf.reshape(raw, [1, 9 * m]), (3,),
                              "discretized_logistic_mixture")
    r = raw.numpy().astype(np.float64)
    log_w = r[..., 0, :] - np.log(np.exp(r[..., 0, :]).sum(-1, keepdims=True))
    comps = _reference_log_pmf(x.numpy()[..., None].astype(np.float64), r[..., 1, :],
                               r[..., 2, :])
    expected = np.log(np.exp(log_w + comps).sum(-1))
    self.assertAllClose(dist.distribution.log_prob(x), expected, atol=2e-4)

  @parameterized.parameters(*pixels.DISCRETIZED)
  def test_mean_is_the_sum_over_levels(self, likelihood):
    per_pixel = pixels.observation(self._params(likelihood), (4,), likelihood).distribution
    probs = tf.exp(per_pixel.log_prob(LEVELS))
    self.assertAllClose(per_pixel.mean(), tf.reduce_sum(LEVELS * probs, 0), rtol=1e-5)

  @parameterized.parameters(*pixels.DISCRETIZED)
  def test_saturated_outputs_stay_finite(self, likelihood):
    params = tf.constant([[1e4], [-1e4]]) * tf.ones([2, 3 * pixels.params_per_pixel(likelihood)])
    x = tf.constant([[0.0, 128.0, 255.0], [255.0, 0.0, 1.0]])
    with tf.GradientTape() as tape:
      tape.watch(params)
      log_prob = pixels.observation(params, (3,), likelihood).log_prob(x)
    self.assertTrue(bool(tf.reduce_all(tf.math.is_finite(log_prob))))
    self.assertTrue(bool(tf.reduce_all(tf.math.is_finite(tape.gradient(log_prob, params)))))

  def test_bits_per_dim(self):
    self.assertAllClose(pixels.bits_per_dim(-784 * math.log(2.0), (28, 28, 1)), 1.0)


class EightBitModelsTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(
      ("vae", dict(likelihood="discretized_logistic", hidden_sizes=(8,), latent_sizes=(2,))),
      ("vae", dict(likelihood="discretized_logistic_mixture", architecture="conv",
                   conv_channels=(4,), latent_sizes=(2,))),
      ("discrete_vae", dict(likelihood="discretized_logistic", num_latents=3,
                            hidden_sizes=(8,))))
  def test_samples_are_levels_and_the_checks_say_so(self, name, hparams):
    model = models.get(name, input_shape=(4, 4, 3), **hparams)
    self.assertEqual(model.observation_support, "eight_bit")
    x = model.joint().sample(2, seed=[1, 2]).x
    self.assertAllInRange(x, 0.0, 255.0)
    self.assertAllEqual(x, tf.round(x))
    log_joint = model.joint().log_prob(**model.guide(x).sample(seed=[2, 3])._asdict(), x=x)
    self.assertTrue(bool(tf.reduce_all(tf.math.is_finite(log_joint))))
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                "x: expected integer levels 0..255 .*got fractions"):
      model.check_observations(tf.fill([1, 4, 4, 3], 0.5))
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                "x: expected values in \\[0, 255\\].*got values in \\[256, 256\\]"):
      model.check_observations(tf.fill([1, 4, 4, 3], 256.0))

  def test_unknown_likelihood_names_the_choices(self):
    with self.assertRaisesRegex(ValueError, "likelihood='logistic'.*discretized_logistic"):
      models.get("vae", input_shape=(4, 4, 1), likelihood="logistic")


if __name__ == "__main__":
  tf.test.main()
