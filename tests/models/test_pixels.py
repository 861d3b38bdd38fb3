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



class PixelScaleTest(tf.test.TestCase, parameterized.TestCase):
  """pixel_scale=learned|shared|fixed and pixel_scale_init for Gaussian pixels."""

  def _log_prob_and_gradient(self, model, x, z):
    with tf.GradientTape() as tape:
      log_prob = tf.reduce_sum(model.joint().log_prob(z=z, x=x))
    variables = [v for v in model.generative_variables if "pixel_raw_scale" in v.name]
    return log_prob, (tape.gradient(log_prob, variables) if variables else [])

  def test_modes_share_the_likelihood_and_the_shared_gradient_is_the_sum(self):
    hparams = dict(likelihood="gaussian", hidden_sizes=(8,), latent_sizes=(2,),
                   pixel_scale_init=0.1)
    learned, shared, fixed = (models.get("vae", input_shape=(3, 3, 1), pixel_scale=mode,
                                         **hparams) for mode in ("learned", "shared", "fixed"))
    x = tf.random.stateless_uniform([4, 3, 3, 1], seed=[0, 1])
    z = tf.random.stateless_normal([4, 2], seed=[0, 2])
    loc = tf.reshape(learned.decoders[0](z), [4, 3, 3, 1])
    expected = tf.reduce_sum(tfd_normal_log_prob(x, loc, 0.1))
    results = [self._log_prob_and_gradient(m, x, z) for m in (learned, shared, fixed)]
    prior = tf.reduce_sum(-0.5 * tf.square(z) - 0.5 * math.log(2 * math.pi))
    for log_prob, _ in results:  # same networks (same seed), scale 0.1 everywhere
      self.assertAllClose(log_prob - prior, expected, rtol=1e-5)
    (_, [per_pixel]), (_, [one]), (_, none) = results
    self.assertEqual(per_pixel.shape, [9])
    self.assertEqual(one.shape, [1])
    self.assertAllClose(one, [tf.reduce_sum(per_pixel)], rtol=1e-5)
    self.assertEmpty(none)
    self.assertEqual(len(learned.generative_variables), len(fixed.generative_variables) + 1)

  def test_the_default_scale_starts_at_a_tenth(self):
    # The old default: at 1, samples of the model on [0, 1] pixels are nearly pure noise.
    model = models.get("vae", input_shape=(3, 3, 1), likelihood="gaussian")
    self.assertAllClose(tf.nn.softplus(model.pixel_raw_scale) + 1e-3, tf.fill([9], 0.1),
                        atol=1e-6)
    self.assertEqual(models.hparam_defaults("vae")["pixel_scale_init"], 0.1)

  @parameterized.parameters(
      ("vae", {}), ("discrete_vae", dict(num_latents=3, hidden_sizes=(8,))),
      ("hyperspherical_vae", dict(latent_dim=2, hidden_sizes=(8,))),
      ("matrix_factorisation", dict(latent_size=3)))
  def test_every_gaussian_model_takes_the_options(self, name, hparams):
    if name != "matrix_factorisation":
      hparams = dict(hparams, likelihood="gaussian")
    model = models.get(name, input_shape=(3, 3, 1), pixel_scale="fixed", pixel_scale_init=0.2,
                       **hparams)
    self.assertFalse(any("pixel_raw_scale" in v.name for v in model.generative_variables))
    sample = model.joint().sample(2, seed=[1, 2])
    self.assertAllClose(model.joint().sample_distributions(value=sample, seed=[1, 2])[0][-1]
                        .distribution.stddev()[0, 0, 0, 0], 0.2, rtol=1e-5)

  def test_bad_options_are_named(self):
    for hparams, message in (
        (dict(pixel_scale="per_image"), "pixel_scale='per_image': expected one of learned, "
         "shared, fixed"),
        (dict(pixel_scale_init=0.0), "pixel_scale_init=0.0: expected a finite number above"),
        (dict(pixel_scale_init=float("nan")), "pixel_scale_init=nan"),
        (dict(likelihood="bernoulli", pixel_scale="fixed"), "pixel_scale and pixel_scale_init "
         "set the noise of likelihood='gaussian'; this model has likelihood='bernoulli'")):
      with self.assertRaisesRegex(ValueError, message):
        models.get("vae", input_shape=(3, 3, 1), **{"likelihood": "gaussian", **hparams})


def tfd_normal_log_prob(x, loc, scale):
  return -0.5 * tf.square((x - loc) / scale) - math.log(scale) - 0.5 * math.log(2 * math.pi)

if __name__ == "__main__":
  tf.test.main()
