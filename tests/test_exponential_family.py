"""Natural parameters read off TFP distributions reproduce their log-densities:
log p₁(x) − log p₂(x) = (η₁ − η₂)ᵀT(x) − (A₁ − A₂) for any two members."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from absl.testing import parameterized

from tfp_zoo import distributions, exponential_family

tfd = tfp.distributions


def _members(family):
  """Two members of `family` with event shape [2, 3] and a point x."""
  a = tf.random.stateless_normal([4, 2, 3], seed=[1, 1])
  b = tf.random.stateless_normal([4, 2, 3], seed=[2, 1])
  if family == "bernoulli":
    make = lambda p: tfd.Bernoulli(logits=p, dtype=tf.float32)
    x = tf.cast(tf.random.stateless_uniform([4, 2, 3], seed=[3, 1]) < 0.5, tf.float32)
  elif family == "fast_bernoulli":
    make = lambda p: distributions.Bernoulli(logits=p, dtype=tf.float32)
    x = tf.cast(tf.random.stateless_uniform([4, 2, 3], seed=[3, 1]) < 0.5, tf.float32)
  elif family == "normal":
    make = lambda p: tfd.Normal(p, tf.exp(0.3 * p[0]))  # broadcast scale, as in the VAE
    x = tf.random.stateless_normal([4, 2, 3], seed=[3, 1])
  else:
    make = lambda p: tfd.Poisson(log_rate=p)
    x = tf.random.stateless_poisson([4, 2, 3], seed=[3, 1], lam=2.0, dtype=tf.float32)
  return (tfd.Independent(make(a), 2), tfd.Independent(make(b), 2), x)


class ExponentialFamilyTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters("bernoulli", "fast_bernoulli", "normal", "poisson")
  def test_natural_form_reproduces_log_prob_differences(self, family):
    first, second, x = _members(family)
    f1, f2 = exponential_family.natural_form(first), exponential_family.natural_form(second)
    self.assertEqual(f1.natural_parameters.shape[0], 4)
    self.assertEqual(f1.log_normalizer.shape, (4,))
    predicted = (tf.reduce_sum((f1.natural_parameters - f2.natural_parameters)
                               * f1.statistics(x), -1)
                 - (f1.log_normalizer - f2.log_normalizer))
    self.assertAllClose(predicted, first.log_prob(x) - second.log_prob(x), rtol=1e-4,
                        atol=1e-4)

  def test_normal_statistics_double_the_dimension(self):
    first, _, x = _members("normal")
    form = exponential_family.natural_form(first)
    self.assertEqual(form.natural_parameters.shape, (4, 12))
    self.assertAllClose(form.statistics(x)[:, 6:], tf.reshape(x, [4, 6]) ** 2)

  def test_scalar_distribution(self):
    form = exponential_family.natural_form(tfd.Bernoulli(logits=[0.5, -1.0]))
    self.assertAllClose(form.natural_parameters, [[0.5], [-1.0]])
    self.assertAllClose(form.log_normalizer, np.log1p(np.exp([0.5, -1.0])))

  def test_family(self):
    self.assertEqual(exponential_family.family(_members("fast_bernoulli")[0]), "Bernoulli")
    self.assertEqual(exponential_family.family(_members("normal")[0]), "Normal")
    self.assertEqual(exponential_family.family(tfd.Poisson(log_rate=0.0)), "Poisson")
    self.assertIsNone(exponential_family.family(tfd.Categorical(logits=[0.0, 1.0])))

  def test_unsupported_family_is_named(self):
    with self.assertRaisesRegex(ValueError, "no natural parameters for Categorical; .*"
                                "supports Bernoulli, Normal, Poisson"):
      exponential_family.natural_form(tfd.Categorical(logits=[0.0, 1.0]))


if __name__ == "__main__":
  tf.test.main()
