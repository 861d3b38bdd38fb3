"""Input checks where observations enter the Python API: `check_observations`
(shape, finite, the model's support), num_samples, through every estimator and
through evaluation; eagerly, in graphs, and what remains under XLA."""

import re

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tfp_zoo import estimators, evaluation, models
from tfp_zoo.models import base

SEED = tf.constant([0, 1])
SHAPE_ERROR = re.escape("x: expected shape [..., 6, 6, 1] (batch dimensions, then the "
                        "model's input_shape), got ")
RANGE_ERROR = r"^x: expected values in \[0, 1\] \(VAE has Bernoulli"
FINITE_ERROR = "^x: expected finite values"
# Options that keep every estimator's call small.
SMALL = {"alws": dict(num_sleep_samples=8, num_features=4, ridge=1e-3), "vimco": dict(num_samples=2),
         "nvil": dict(baseline="none"), "hmc": dict(adapt_step_size=False, num_hmc_steps=1),
         "beta_tc_vae": dict(dataset_size=100)}


def _bernoulli_vae():
  return models.get("vae", input_shape=(6, 6, 1), hidden_sizes=(8,), latent_sizes=(2,))


def _binary_images(n=3):
  return (np.random.default_rng(0).random((n, 6, 6, 1)) < 0.5).astype(np.float32)


def _message_line(error):
  """The failing op's own message line of a graph-mode error.

  TensorFlow frames it: either a `{{function_node …}}` tag in front, or
  "Graph execution error:" and the Python stack where the op was defined
  above it; the line ends before TF's `[[{{node …}}]]` marker.
  """
  lines = re.sub(r"\{\{function_node [^}]*\}\} ", "", error.message).splitlines()
  ends = [i for i, line in enumerate(lines) if line.startswith("\t [[")]
  line = lines[ends[0] - 1] if ends else lines[0]
  # The reason in full, from tf.debugging.Assert: never a NaN-flag's suffix.
  assert not line.endswith("Tensor had NaN values"), line
  match = re.fullmatch(r"assertion failed: \[(.*)\]", line)
  return match.group(1) if match else line


class CheckObservationsTest(tf.test.TestCase, parameterized.TestCase):

  def test_conversions(self):
    model = _bernoulli_vae()
    x = _binary_images()
    for value in (x, x.astype(np.uint8), x.astype(bool), x.astype(np.float64), x.tolist(),
                  tf.constant(x, tf.float64)):
      checked = model.check_observations(value)
      self.assertEqual(checked.dtype, tf.float32)
      self.assertAllEqual(checked, x)
    # Any number of batch dimensions.
    self.assertEqual(model.check_observations(np.zeros([2, 3, 6, 6, 1])).shape,
                     (2, 3, 6, 6, 1))

  @parameterized.parameters([(2, 6, 5, 1)], [(6, 6, 1)], [(2, 36)], [(2,)])
  def test_wrong_shapes_name_x_and_the_expected_shape(self, shape):
    with self.assertRaisesRegex(ValueError, "^" + SHAPE_ERROR + re.escape(str(shape))):
      _bernoulli_vae().check_observations(np.zeros(shape))

  def test_bad_dtypes(self):
    with self.assertRaisesRegex(ValueError, "^x: expected numbers, got dtype string"):
      _bernoulli_vae().check_observations(tf.fill([2, 6, 6, 1], "a"))

  def test_8_bit_pixels_on_bernoulli_models_are_refused_with_the_hint(self):
    x = _binary_images()
    for model in (_bernoulli_vae(), models.get("sigmoid_belief_net", input_shape=(6, 6, 1),
                                               layer_sizes=(3,))):
      for pixels in (x * 255, (x * 255).astype(np.uint8)):
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                    r"^x: expected values in \[0, 1\] .*got values in "
                                    r"\[0, 255\]; divide 8-bit images by 255$"):
          model.check_observations(pixels)
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError, r"got values in \[-0.5, 1\]"):
      _bernoulli_vae().check_observations(x - 0.5 * (x == 0))
    # Grey levels in [0, 1] are fine for Bernoulli pixels.
    _bernoulli_vae().check_observations(x * 0.3 + 0.2)

  def test_real_valued_models_accept_any_finite_value(self):
    for name, hparams in (("vae", dict(likelihood="gaussian")), ("linear_gaussian", {}),
                          ("gaussian_mixture", dict(num_components=3)),
                          ("matrix_factorisation", dict(latent_size=2))):
      model = models.get(name, input_shape=(6, 6, 1), **hparams)
      self.assertEqual(model.observation_support, "real", name)
      model.check_observations(np.full([2, 6, 6, 1], -300.0))
      model.check_observations(np.full([2, 6, 6, 1], 255, np.uint8))
      with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                  FINITE_ERROR + ", got 0 NaN and 1 infinite values$"):
        model.check_observations(np.where(np.arange(72).reshape([2, 6, 6, 1]) == 5, np.inf,
                                          0.0))

  def test_supports_of_the_registered_models(self):
    vectors = ("polynomial_regression",)  # observes a vector, not an image
    supports = {name: models.get(name, input_shape=(6,) if name in vectors else (6, 6, 1)
                                 ).observation_support
                for name in models.names()}
    self.assertEqual(supports, {"vae": "unit_interval", "discrete_vae": "unit_interval",
                                "hyperspherical_vae": "unit_interval",
                                "sigmoid_belief_net": "unit_interval", "linear_gaussian": "real",
                                "gaussian_mixture": "real", "matrix_factorisation": "real",
                                "polynomial_regression": "real", "air": "real"})
    self.assertCountEqual(base.SUPPORTS, ["real", "unit_interval", "nonnegative", "eight_bit"])
    eight_bit = models.get("vae", input_shape=(6, 6, 1), likelihood="discretized_logistic")
    self.assertEqual(eight_bit.observation_support, "eight_bit")
    check = tf.function(eight_bit.check_observations, autograph=False)
    self.assertAllEqual(check(tf.fill([1, 6, 6, 1], 255.0)), tf.fill([1, 6, 6, 1], 255.0))
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                "x: expected integer levels 0..255"):
      check(tf.fill([1, 6, 6, 1], 127.5))

  def test_nan_and_inf_are_refused(self):
    x = _binary_images()
    x[1, 2, 3, 0] = np.nan
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                FINITE_ERROR + ", got 1 NaN and 0 infinite values$"):
      _bernoulli_vae().check_observations(x)

  def test_graph_mode_raises_when_run_with_x_first_on_the_line(self):
    model = _bernoulli_vae()
    check = tf.function(model.check_observations, autograph=False)
    self.assertAllEqual(check(tf.constant(_binary_images())), _binary_images())
    for bad, message in ((_binary_images() * 255, RANGE_ERROR + ".*divide 8-bit images by 255"),
                         (_binary_images() * np.nan, FINITE_ERROR)):
      with self.assertRaises(tf.errors.InvalidArgumentError) as caught:
        check(tf.constant(bad))
      self.assertRegex(_message_line(caught.exception), message)
    # The same inside a traced estimator.
    loss = tf.function(lambda x: estimators.iwae(model, x, seed=SEED).generative_loss,
                       autograph=False)
    with self.assertRaises(tf.errors.InvalidArgumentError) as caught:
      loss(tf.constant(_binary_images() * 255))
    self.assertRegex(_message_line(caught.exception), RANGE_ERROR)
    # A graph input of unknown width is checked when run, by its static shape otherwise.
    unknown = tf.function(model.check_observations, autograph=False, input_signature=[
        tf.TensorSpec([None, 6, None, 1], tf.float32)])
    with self.assertRaises(tf.errors.InvalidArgumentError):
      unknown(tf.zeros([2, 6, 5, 1]))

  def test_under_xla_only_the_static_checks_apply(self):
    model = _bernoulli_vae()
    loss = lambda x: estimators.iwae(model, x, seed=SEED, num_samples=2).generative_loss
    compiled = tf.function(loss, autograph=False, jit_compile=True)
    self.assertTrue(np.isfinite(compiled(tf.constant(_binary_images())).numpy()))
    with self.assertRaisesRegex(ValueError, SHAPE_ERROR):
      compiled(tf.zeros([3, 6, 5, 1]))
    # XLA compiles the runtime checks away (documented in models.base.check_that).
    compiled(tf.constant(_binary_images() * 255))

  def test_check_that(self):
    base.check_that(tf.constant(True), "never")
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError, "^n: expected more$"):
      base.check_that(tf.constant(False), "n: expected more")


class PythonApiTest(tf.test.TestCase, parameterized.TestCase):
  """The errors as a user of estimators and evaluation meets them."""

  @parameterized.parameters(*estimators.names())
  def test_every_estimator_checks_x(self, name):
    model = _bernoulli_vae()
    estimator = estimators.get(name)
    options = dict(SMALL.get(name, {}))
    x = _binary_images()
    estimator(model, x, seed=SEED, **options)
    estimator(model, x.astype(np.uint8), seed=SEED, **options)  # 0/1 bytes are fine
    with self.assertRaisesRegex(ValueError, "^" + SHAPE_ERROR + re.escape("(3, 6, 5, 1)")):
      estimator(model, x[:, :, :5], seed=SEED, **options)
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                RANGE_ERROR + ".*divide 8-bit images by 255$"):
      estimator(model, x * 255, seed=SEED, **options)
    x[0, 0, 0, 0] = np.nan
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError, FINITE_ERROR):
      estimator(model, x, seed=SEED, **options)

  @parameterized.parameters(*[n for n in estimators.names() if n != "alws"])
  def test_every_estimator_checks_num_samples(self, name):
    model, x = _bernoulli_vae(), _binary_images()
    options = dict(SMALL.get(name, {}))
    options["num_samples"] = np.int64(options.get("num_samples", 3))
    objectives = estimators.get(name)(model, x, seed=SEED, **options)
    self.assertTrue(np.isfinite(objectives.generative_loss.numpy()))
    minimum = estimators.get_spec(name).options["num_samples"].rule.text
    for bad, message in ((True, "^estimator '.*': num_samples=True must be an integer"),
                         (np.bool_(True), "^estimator '.*': num_samples=True must be an int"),
                         (0, f"^{name}: num_samples=0 must be {minimum}$"),
                         (2.0, "^estimator '.*': num_samples=2.0 must be an integer"),
                         (2**40, "^num_samples: .*" + re.escape("= 3298534883328 exceeds "
                                                               "2**31 - 1")),
                         (2**31, "^num_samples: .*exceeds 2")):
      options["num_samples"] = bad
      with self.assertRaisesRegex(ValueError, message):
        estimators.get(name)(model, x, seed=SEED, **options)

  def test_num_groups_count_towards_the_limit(self):
    model, x = _bernoulli_vae(), _binary_images()
    with self.assertRaisesRegex(ValueError, r"^num_samples: 65536 particles × 196608 "
                                            r"\(batch size × groups\)"):
      estimators.miwae(model, x, seed=SEED, num_samples=2**16, num_groups=2**16)
    with self.assertRaisesRegex(ValueError, "^estimator 'miwae': num_groups=False must be an integer"):
      estimators.miwae(model, x, seed=SEED, num_groups=False)

  def test_evaluation_checks_x_and_num_samples(self):
    model, x = _bernoulli_vae(), _binary_images()
    result = evaluation.log_likelihood(model, x, seed=SEED, num_samples=np.int64(20))
    self.assertTrue(np.all(np.isfinite(result.log_likelihood.numpy())))
    with self.assertRaisesRegex(ValueError, "^" + SHAPE_ERROR):
      evaluation.log_likelihood(model, x[..., 0], seed=SEED, num_samples=20)
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                RANGE_ERROR + ".*divide 8-bit images by 255$"):
      evaluation.log_likelihood(model, (x * 255).astype(np.uint8), seed=SEED, num_samples=20)
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError, FINITE_ERROR):
      evaluation.log_likelihood(model, x * np.nan, seed=SEED, num_samples=20)
    for bad in (True, 2**40):
      with self.assertRaisesRegex(ValueError, "^num_samples: log_likelihood needs|"
                                              "^num_samples: .* exceeds 2"):
        evaluation.log_likelihood(model, x, seed=SEED, num_samples=bad)
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                r"^images: expected values in \[0, 1\]"):
      evaluation.dataset_log_likelihood(model, x * 255, seed=SEED, num_samples=5)
    with self.assertRaisesRegex(ValueError, "^images: expected shape"):
      evaluation.dataset_log_likelihood(model, x[:, 1:], seed=SEED, num_samples=5)
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError, FINITE_ERROR):
      evaluation.gradient_snr(estimators.iwae, model, x * np.nan, num_draws=2, seed=SEED)

  def test_models_from_outside_the_package_get_the_finite_check(self):
    class Outside(tf.Module):  # no LatentVariableModel, no check_observations
      def joint(self):
        raise NotImplementedError
    checked = estimators.base.check_observations(Outside(), [[1.0, 2.0]])
    self.assertAllEqual(checked, [[1.0, 2.0]])
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError, FINITE_ERROR):
      estimators.base.check_observations(Outside(), [[1.0, np.inf]])
    # ... and what is no model at all is named in one line.
    for not_a_model in (None, "vae", tf.Module()):
      with self.assertRaisesRegex(TypeError, "^iwae: expected a tfp_zoo model .* got "
                                  f"{type(not_a_model).__name__}$"):
        estimators.iwae(not_a_model, [[1.0, 2.0]], seed=SEED)


if __name__ == "__main__":
  tf.test.main()
