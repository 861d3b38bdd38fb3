"""Discrete-latent VAE: shapes, a normalised guide and prior, exact log p(x) by
enumeration on a tiny latent space, and discrete-latent estimators that learn it."""

import itertools

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tfp_zoo import estimators, evaluation, models, testing, training


def _all_latents(model):
  """Every value of 'z' in a tiny model: [num_states, *latent_event_shape]."""
  if model.latent == "bernoulli":
    return tf.constant(list(itertools.product([0.0, 1.0], repeat=model.num_latents)))
  categories = model.latent_event_shape[1]
  eye = np.eye(categories, dtype=np.float32)
  return tf.constant([[eye[c] for c in cs] for cs in
                      itertools.product(range(categories), repeat=model.num_latents)])


def _exact_log_likelihood(model, x):
  states = _all_latents(model)  # [S, ...]
  z = tf.broadcast_to(states[:, None], [states.shape[0], x.shape[0], *states.shape[1:]])
  return tf.reduce_logsumexp(model.joint().log_prob(z=z, x=x), axis=0)


def _tiny(latent, likelihood="bernoulli", seed=1):
  model = models.DiscreteVAE((6,), latent=latent, num_latents=3 if latent == "bernoulli" else 2,
                             num_categories=3, hidden_sizes=(8,), likelihood=likelihood,
                             seed=seed)
  if seed == 1:  # sharper conditionals than at initialisation
    for v in model.generative_variables:
      v.assign(3.0 * v)
    model.prior_logits.assign(tf.random.stateless_normal(model.latent_event_shape, [0, 1]))
  return model


class DiscreteVAETest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(("bernoulli", (200,), {}), ("categorical", (20, 10), {}),
                            ("categorical", (20, 10), dict(architecture="conv",
                                                           conv_channels=(4, 8))))
  def test_shapes_defaults_and_variables(self, latent, event_shape, nets):
    model = models.get("discrete_vae", input_shape=(28, 28, 1), latent=latent, **nets)
    sample = model.joint().sample((2, 3), seed=[1, 2])
    self.assertEqual(sample.z.shape, (2, 3, *event_shape))
    self.assertEqual(sample.x.shape, (2, 3, 28, 28, 1))
    self.assertAllInSet(sample.z, [0.0, 1.0])
    if latent == "categorical":
      self.assertAllEqual(tf.reduce_sum(sample.z, -1), tf.ones([2, 3, 20]))
    z = model.guide(sample.x[0]).sample(5, seed=[1, 2]).z
    self.assertEqual(z.shape, (5, 3, *event_shape))
    theta = {v.ref() for v in model.generative_variables}
    phi = {v.ref() for v in model.guide_variables}
    self.assertEmpty(theta & phi)
    self.assertEqual(theta | phi, {v.ref() for v in model.trainable_variables})

  def test_bad_hyperparameters_are_named(self):
    for kwargs, message in ((dict(latent="gumbel"), "latent='gumbel'"),
                            (dict(latent="categorical", num_categories=1), "num_categories=1"),
                            (dict(num_latents=-2), "num_latents=-2"),
                            (dict(likelihood="poisson"), "likelihood='poisson'"),
                            (dict(architecture="conv"), "architecture=conv needs images")):
      with self.assertRaisesRegex(ValueError, message):
        models.get("discrete_vae", input_shape=(4,), **kwargs)

  @parameterized.parameters("bernoulli", "categorical")
  def test_guide_and_prior_are_normalised(self, latent):
    model = _tiny(latent)
    states = _all_latents(model)
    x = tf.random.stateless_uniform([4, 6], seed=[2, 3])
    z = tf.broadcast_to(states[:, None], [states.shape[0], 4, *states.shape[1:]])
    total_guide = tf.reduce_logsumexp(model.guide(x).log_prob(z=z), axis=0)
    self.assertAllClose(total_guide, tf.zeros([4]), atol=1e-5)
    prior = model.joint().sample_distributions(seed=[0, 0])[0][0]
    self.assertAllClose(tf.reduce_logsumexp(prior.log_prob(states)), 0.0, atol=1e-5)

  @parameterized.parameters(("bernoulli", "bernoulli"), ("categorical", "bernoulli"),
                            ("bernoulli", "gaussian"))
  def test_k5000_estimate_matches_enumeration(self, latent, likelihood):
    model = _tiny(latent, likelihood)
    x = model.joint().sample(16, seed=[3, 4]).x
    exact = _exact_log_likelihood(model, x).numpy()
    result = evaluation.log_likelihood(model, x, seed=tf.constant([5, 6]), num_samples=5000)
    stderr = np.sqrt(np.sum(result.stderr.numpy() ** 2)) / 16
    self.assertLess(3 * stderr, 0.1)  # power: 0.1 nats per example would be caught
    self.assertLess(abs(np.mean(result.log_likelihood.numpy() - exact)), 3 * stderr + 1e-3)

  # 200 steps each: the fast tier trains each latent once, TFP_ZOO_FULL_PRODUCT=1 all six.
  @parameterized.named_parameters(*testing.sample_product(
      [dict(latent=l, estimator=e) for l in ("bernoulli", "categorical")
       for e in ("rws", "vimco", "nvil")], meets=(("latent", "estimator", 1),), size=2))
  def test_discrete_estimators_learn_it(self, latent, estimator):
    x = _tiny(latent).joint().sample(256, seed=[7, 8]).x
    model = _tiny(latent, seed=9)
    before = float(tf.reduce_mean(_exact_log_likelihood(model, x)))
    state = estimators.make_state(estimator, model)
    phi = model.guide_variables + (state.trainable_variables if state is not None else ())
    step = training.make_train_step(
        model, estimators.get(estimator), training.make_optimizer(0.03, model.generative_variables),
        training.make_optimizer(0.03, phi), state=state, num_samples=5)
    for i in range(200):
      step(x, tf.constant(i, tf.int64))
    after = float(tf.reduce_mean(_exact_log_likelihood(model, x)))
    self.assertGreater(after, before + 0.3)


if __name__ == "__main__":
  tf.test.main()
