"""Sigmoid belief net: shapes and names, exact log p(x) by enumeration on a tiny
net, and discrete-latent estimators that learn it."""

import itertools

import numpy as np
import pytest
import tensorflow as tf
from absl.testing import parameterized

from tfp_zoo import estimators, evaluation, models, testing, training


def _exact_log_likelihood(model, x):
  """log p(x) by summing p(h, x) over every binary state of every latent layer."""
  sizes = dict(zip(model.latent_names, model.layer_sizes))
  states = []
  for bits in itertools.product([0.0, 1.0], repeat=sum(sizes.values())):
    bits, latents = list(bits), {}
    for name, size in sizes.items():
      latents[name] = tf.fill([x.shape[0], size], 0.0) + tf.constant(bits[:size])
      bits = bits[size:]
    states.append(model.joint().log_prob(**latents, x=x))
  return tf.reduce_logsumexp(tf.stack(states), axis=0)


def _tiny():
  model = models.SigmoidBeliefNet((6,), layer_sizes=(2, 3), seed=1)
  for v in model.generative_variables:  # sharper conditionals than at initialisation
    v.assign(3.0 * v)
  return model


class SigmoidBeliefNetTest(tf.test.TestCase, parameterized.TestCase):

  def test_shapes_names_and_variables(self):
    model = models.get("sigmoid_belief_net", input_shape=(28, 28, 1),
                       layer_sizes=(10, 100, 200))
    self.assertEqual(model.latent_names, ("h3", "h2", "h1"))
    sample = model.joint().sample((2, 3), seed=[1, 2])
    self.assertEqual([t.shape for t in sample],
                     [(2, 3, 10), (2, 3, 100), (2, 3, 200), (2, 3, 28, 28, 1)])
    self.assertAllInSet(sample.h2, [0.0, 1.0])
    z = model.guide(tf.zeros([4, 28, 28, 1])).sample(5, seed=[1, 2])
    self.assertCountEqual(z._fields, model.latent_names)
    theta = {v.ref() for v in model.generative_variables}
    phi = {v.ref() for v in model.guide_variables}
    self.assertEmpty(theta & phi)
    self.assertEqual(theta | phi, {v.ref() for v in model.trainable_variables})
    with self.assertRaisesRegex(ValueError, "layer_sizes=\\(0,\\)"):
      models.get("sigmoid_belief_net", input_shape=(4,), layer_sizes=(0,))

  @pytest.mark.slow
  def test_k5000_estimate_matches_enumeration(self):
    model = _tiny()
    x = model.joint().sample(16, seed=[3, 4]).x
    exact = _exact_log_likelihood(model, x).numpy()
    result = evaluation.log_likelihood(model, x, seed=tf.constant([5, 6]), num_samples=5000)
    stderr = np.sqrt(np.sum(result.stderr.numpy() ** 2)) / 16
    self.assertLess(stderr, 0.05)
    self.assertLess(abs(np.mean(result.log_likelihood.numpy() - exact)), 3 * stderr + 1e-3)
    # Power: an estimate off by 0.1 nats per example would be caught.
    self.assertLess(3 * stderr, 0.1)

  @parameterized.parameters("rws", "wake_sleep", "vimco")
  @pytest.mark.slow  # 300 training steps each
  def test_discrete_estimators_learn_it(self, estimator):
    truth = _tiny()
    x = truth.joint().sample(256, seed=[7, 8]).x
    model = models.SigmoidBeliefNet((6,), layer_sizes=(2, 3), seed=9)
    before = float(tf.reduce_mean(_exact_log_likelihood(model, x)))
    step = training.make_train_step(
        model, estimators.get(estimator), training.make_optimizer(0.03, model.generative_variables),
        training.make_optimizer(0.03, model.guide_variables), num_samples=5)
    for i in range(300):
      step(x, tf.constant(i, tf.int64))
    after = float(tf.reduce_mean(_exact_log_likelihood(model, x)))
    self.assertGreater(after, before + 0.3)

  @parameterized.parameters("rws", "wake_sleep", "vimco")
  def test_every_variable_gets_a_gradient(self, estimator):
    model = models.SigmoidBeliefNet((6,), layer_sizes=(2, 3), seed=1)
    x = _tiny().joint().sample(8, seed=[1, 2]).x
    _, theta_grads, phi_grads = testing.estimator_gradients(
        estimators.get(estimator), model, x, seed=tf.constant([0, 1]), num_samples=3)
    self.assertEmpty(testing.gradient_problems(model, theta_grads, phi_grads))

  def test_reparameterised_estimators_refuse_it(self):
    model = models.SigmoidBeliefNet((6,), layer_sizes=(2,))
    with self.assertRaisesRegex(ValueError, "not reparameterisable"):
      estimators.elbo(model, tf.zeros([2, 6]), seed=tf.constant([0, 0]))


if __name__ == "__main__":
  tf.test.main()
