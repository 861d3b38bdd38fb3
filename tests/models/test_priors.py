"""Learned priors of the VAE: the mixture and the VampPrior, checked against a
direct computation of their densities and normalised on a grid."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from absl.testing import parameterized

from tfp_zoo import estimators, models

tfd = tfp.distributions


def _vae(prior, **hparams):
  return models.get("vae", input_shape=(6, 6, 1), hidden_sizes=(8,), latent_sizes=(2,),
                    prior=prior, prior_components=4, seed=3, **hparams)


def _prior(model):
  return model.joint().sample_distributions(seed=tf.constant([0, 0]))[0][0]


def _vampprior_direct(model, z, *, normalise=True, encoder=None):
  """log (1/K) Σ_k N(z; μ(u_k), σ(u_k)²) from the encoder's outputs, by hand."""
  encoder = encoder or model.prior.encoder
  loc, raw = np.split(encoder(model.prior.pseudo_inputs).numpy(), 2, axis=-1)  # [K, d]
  scale = np.log1p(np.exp(raw)) + 1e-4
  log_n = (-0.5 * ((z[:, None, :] - loc) / scale) ** 2 - np.log(scale)
           - 0.5 * np.log(2 * np.pi)).sum(-1)  # [N, K]
  top = log_n.max(-1, keepdims=True)
  value = top[:, 0] + np.log(np.exp(log_n - top).sum(-1))
  return value - np.log(len(loc)) if normalise else value


class PriorsTest(tf.test.TestCase, parameterized.TestCase):

  def test_vampprior_density_is_the_mixture_of_posteriors_at_the_pseudo_inputs(self):
    model = _vae("vampprior")
    z = np.random.default_rng(0).normal(size=[50, 2]).astype(np.float32)
    got = _prior(model).log_prob(z).numpy()
    self.assertAllClose(got, _vampprior_direct(model, z), atol=1e-4)
    # Power: the wrong normalisation, or the guide's encoder once it differs, is caught.
    self.assertGreater(np.abs(got - _vampprior_direct(model, z, normalise=False)).min(), 1.)
    for v in model.encoders[0].trainable_variables:
      v.assign_add(0.3 * tf.ones_like(v))
    self.assertGreater(np.abs(got - _vampprior_direct(
        model, z, encoder=model.encoders[0])).max(), 0.1)

  def test_mixture_density_matches_a_direct_computation(self):
    model = _vae("mixture")
    z = np.random.default_rng(1).normal(size=[30, 2]).astype(np.float32)
    prior = model.prior
    weights = tf.nn.log_softmax(prior.logits).numpy()
    scale = tf.nn.softplus(prior.raw_scales).numpy()
    log_n = tfd.Normal(prior.locs.numpy(), scale).log_prob(z[:, None, :]).numpy().sum(-1)
    direct = tf.reduce_logsumexp(log_n + weights, axis=-1).numpy()
    self.assertAllClose(_prior(model).log_prob(z), direct, atol=1e-4)

  @parameterized.parameters("mixture", "vampprior")
  def test_learned_priors_integrate_to_one(self, prior):
    model = _vae(prior)
    grid = np.linspace(-8, 8, 401, dtype=np.float32)
    z1, z2 = np.meshgrid(grid, grid)
    density = np.exp(_prior(model).log_prob(np.stack([z1.ravel(), z2.ravel()], -1)).numpy())
    self.assertNear(density.sum() * (grid[1] - grid[0]) ** 2, 1.0, 2e-3)

  @parameterized.parameters("mixture", "vampprior")
  def test_prior_parameters_are_generative_and_learn(self, prior):
    model = _vae(prior)
    theta, phi = model.generative_variables, model.guide_variables
    self.assertEmpty({v.ref() for v in theta} & {v.ref() for v in phi})
    self.assertContainsSubset({v.ref() for v in model.prior.trainable_variables},
                              {v.ref() for v in theta})
    x = tf.cast(tf.random.stateless_uniform([8, 6, 6, 1], seed=[0, 1]) < 0.5, tf.float32)
    with tf.GradientTape() as tape:
      loss = estimators.iwae(model, x, seed=tf.constant([0, 2]), num_samples=3).generative_loss
    for v, g in zip(theta, tape.gradient(loss, theta)):
      self.assertIsNotNone(g, v.name)
      self.assertGreater(float(tf.reduce_max(tf.abs(g))), 0.0, v.name)

  def test_vampprior_encoder_starts_as_the_guides(self):
    model = _vae("vampprior")
    for a, b in zip(model.prior.encoder.trainable_variables,
                    model.encoders[0].trainable_variables):
      self.assertAllEqual(a, b)

  def test_refusals_name_the_hparam(self):
    with self.assertRaisesRegex(ValueError, "prior='vampprior' is for one stochastic layer"):
      models.get("vae", input_shape=(6, 6, 1), stochastic_layers=2, prior="vampprior")
    with self.assertRaisesRegex(ValueError, "prior_components is only used with"):
      models.get("vae", input_shape=(6, 6, 1), prior_components=3)
    with self.assertRaisesRegex(ValueError, "prior='flat': expected one of standard"):
      models.get("vae", input_shape=(6, 6, 1), prior="flat")
    with self.assertRaisesRegex(ValueError, "no closed-form KL .*MixtureSameFamily"):
      estimators.elbo(_vae("mixture"), tf.zeros([2, 6, 6, 1]), seed=tf.constant([0, 0]),
                      analytic_kl=True)


if __name__ == "__main__":
  tf.test.main()
