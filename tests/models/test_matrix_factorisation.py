"""Matrix factorisation: sparse or non-negative codes, and two unbiased
estimators of log p(x) (guide and prior proposals) that agree."""

import math

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tfp_zoo import evaluation, models


class PriorProposal(models.MatrixFactorisation):
  """The same model, evaluated with the prior as proposal."""
  guide_variables = ()


def _grid(prior, size=500):
  """A square grid over the two codes' support, and the area of one cell."""
  low, high = {"laplace": (-12.0, 12.0), "exponential": (0.0, 16.0),
               "uniform": (0.0, 1.0)}[prior]
  axis = tf.linspace(low, high, size + 1)
  axis = (axis[1:] + axis[:-1]) / 2  # midpoints
  a, b = tf.meshgrid(axis, axis)
  return tf.stack([tf.reshape(a, [-1]), tf.reshape(b, [-1])], -1), ((high - low) / size) ** 2


class MatrixFactorisationTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters("laplace", "exponential")
  def test_shapes_support_and_variables(self, prior):
    model = models.get("matrix_factorisation", input_shape=(6, 6, 1), latent_size=7,
                       prior=prior)
    sample = model.joint().sample(5, seed=[1, 2])
    self.assertEqual(sample.z.shape, (5, 7))
    self.assertEqual(sample.x.shape, (5, 6, 6, 1))
    z = model.guide(sample.x).sample(3, seed=[2, 3]).z
    self.assertEqual(z.shape, (3, 5, 7))
    if prior == "exponential":
      self.assertAllGreater(sample.z, 0.0)
      self.assertAllGreater(z, 0.0)
    theta = {v.ref() for v in model.generative_variables}
    phi = {v.ref() for v in model.guide_variables}
    self.assertEmpty(theta & phi)
    self.assertEqual(theta | phi, {v.ref() for v in model.trainable_variables})

  @parameterized.parameters(("laplace", {}), ("exponential", {}),
                            ("uniform", dict(likelihood="bernoulli", dictionary="nonnegative")))
  def test_log_likelihood_matches_quadrature(self, prior, options):
    # Two codes: log p(x) = log ∫∫ p(z) p(x | z) dz on a fine grid is exact
    # to far below the Monte Carlo error.
    # Gaussian noise 1: the prior proposal and the grid resolve the posterior.
    noise = {} if options else {"pixel_scale_init": 1.0}
    model = PriorProposal((5,), latent_size=2, prior=prior, seed=1, **options, **noise)
    if options:  # a dictionary that the binary pixels depend on strongly
      model.log_dictionary.assign(tf.math.log(tf.random.stateless_uniform(
          [2, 5], seed=[1, 1], minval=0.5, maxval=3.0)))
    x = model.joint().sample(8, seed=[3, 4]).x
    grid, cell = _grid(prior)
    log_joint = model.joint().log_prob(z=grid[:, None, :], x=x)  # [G, 8]
    exact = tf.reduce_logsumexp(log_joint, axis=0).numpy() + np.log(cell)
    result = evaluation.log_likelihood(model, x, seed=tf.constant([7, 8]), num_samples=20000,
                                       chunk_size=5000)
    stderr = result.stderr.numpy()
    self.assertLess(np.max(np.abs(result.log_likelihood.numpy() - exact) / stderr), 4.0)
    mean_stderr = np.sqrt(np.sum(stderr ** 2)) / len(stderr)
    self.assertLess(abs(np.mean(result.log_likelihood.numpy() - exact)), 3 * mean_stderr)
    self.assertLess(3 * mean_stderr, 0.1)  # power: 0.1 nats off on average would show

  @parameterized.parameters("laplace", "exponential", "uniform")
  def test_guide_density_integrates_to_one(self, prior):
    model = models.MatrixFactorisation((5,), latent_size=2, prior=prior, seed=1,
                                       guide_hidden_size=16)
    x = model.joint().sample(4, seed=[3, 4]).x
    grid, cell = _grid(prior)
    density = tf.exp(model.guide(x).log_prob(z=grid[:, None, :]))
    self.assertAllClose(tf.reduce_sum(density, axis=0) * cell, tf.ones([4]), atol=0.02)

  def test_authors_bernoulli_factorisation(self):
    # Uniform codes, binary pixels σ(W logit z + b), W = exp(log W) ≥ 0 with a
    # Gamma(0.9, 0.3) prior (Li et al.'s run_mf.py).
    model = models.get("matrix_factorisation", input_shape=(6, 6, 1), latent_size=4,
                       prior="uniform", likelihood="bernoulli", dictionary="nonnegative")
    sample = model.joint().sample(50, seed=[1, 2])
    self.assertAllInRange(sample.z, 0.0, 1.0)
    self.assertAllInSet(sample.x, [0.0, 1.0])
    self.assertAllInRange(model.guide(sample.x).sample(seed=[3, 3]).z, 0.0, 1.0)
    # Codes drawn as exactly 0 or 1 keep a finite guide density (sleep updates).
    edges = tf.constant([[0.0, 1.0, 0.5, 1e-30]])
    self.assertAllInRange(model.guide(sample.x[:1]).log_prob(z=edges), -1e4, 1e4)
    w = np.exp(model.log_dictionary.numpy())
    a, b = 0.9, 0.3
    expected = np.sum(a * np.log(b) - math.lgamma(a) + (a - 1) * np.log(w) - b * w)
    self.assertAllClose(model.parameter_log_prior(), expected, rtol=1e-5)
    self.assertIsNone(models.get("matrix_factorisation", input_shape=(4,))
                      .parameter_log_prior())
    logits = model.decode(tf.fill([1, 4], 0.5))  # logit ½ = 0: only the bias is left
    self.assertAllClose(logits, tf.fill([1, 36], 0.1))
    self.assertEqual(model.observation_support, "unit_interval")

  def test_bad_hyperparameters_are_named(self):
    with self.assertRaisesRegex(ValueError, "prior='gaussian'"):
      models.get("matrix_factorisation", input_shape=(4,), prior="gaussian")
    with self.assertRaisesRegex(ValueError, "latent_size=0"):
      models.get("matrix_factorisation", input_shape=(4,), latent_size=0)


if __name__ == "__main__":
  tf.test.main()
