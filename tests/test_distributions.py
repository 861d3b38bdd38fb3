"""The fast Bernoulli agrees with TFP's, values and gradients, at any logit."""

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo import distributions

tfd = tfp.distributions


class BernoulliTest(tf.test.TestCase):

  def test_log_prob_and_gradient_match_tfp(self):
    logits = tf.constant([[-100.0, -3.0, 0.0, 2.0, 90.0]] * 2)
    x = tf.constant([[0.0, 1.0, 1.0, 0.0, 1.0], [1.0, 0.0, 0.0, 1.0, 0.0]])
    with tf.GradientTape(persistent=True) as tape:
      tape.watch(logits)
      ours = distributions.Bernoulli(logits=logits, dtype=tf.float32).log_prob(x)
      theirs = tfd.Bernoulli(logits=logits, dtype=tf.float32).log_prob(x)
    self.assertAllClose(ours, theirs, atol=1e-5)
    self.assertAllClose(tape.gradient(ours, logits), tape.gradient(theirs, logits), atol=1e-6)
    self.assertAllClose(ours[1], [-100.0, -0.04858735, -0.6931472, -0.126928, -90.0], atol=1e-5)

  def test_broadcasts_observations_against_particles(self):
    logits = tf.random.stateless_normal([5, 3, 4], seed=[0, 1])
    x = tf.cast(tf.random.stateless_uniform([3, 4], seed=[2, 3]) < 0.5, tf.float32)
    ours = distributions.Bernoulli(logits=logits, dtype=tf.float32).log_prob(x)
    self.assertAllClose(ours, tfd.Bernoulli(logits=logits).log_prob(x), atol=1e-5)

  def test_gradients_under_broadcasting(self):
    logits = tf.random.stateless_normal([5, 3, 4], seed=[0, 1])
    x = tf.random.stateless_uniform([3, 4], seed=[2, 3])
    def both(fn):
      with tf.GradientTape() as tape:
        tape.watch([logits, x])
        value = tf.reduce_sum(tf.sin(fn(logits=logits).log_prob(x)))
      return tape.gradient(value, [logits, x])
    for ours, theirs in zip(both(lambda **k: distributions.Bernoulli(**k, dtype=tf.float32)),
                            both(lambda **k: tfd.Bernoulli(**k, dtype=tf.float32))):
      self.assertEqual(ours.shape, theirs.shape)
      self.assertAllClose(ours, theirs, atol=1e-4)

  def test_probs_parameterisation_falls_back_to_tfp(self):
    d = distributions.Bernoulli(probs=[0.25, 0.5], dtype=tf.float32)
    self.assertAllClose(d.log_prob([1.0, 0.0]), tf.math.log([0.25, 0.5]))


if __name__ == "__main__":
  tf.test.main()
