"""Hyperspherical VAE: latents on the unit sphere, a normalised guide, and two
unbiased estimators of log p(x) (guide and prior proposals) that agree."""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tfp_zoo import evaluation, models


class NoGuide(models.HypersphericalVAE):
  """The same model, evaluated with the prior as proposal."""
  guide_variables = ()


class HypersphericalVAETest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters((2, {}), (3, {}), (3, dict(architecture="conv", conv_channels=4,
                                                       residual_blocks=1)))
  def test_latents_lie_on_the_sphere(self, latent_dim, nets):
    model = models.get("hyperspherical_vae", input_shape=(6, 6, 1), latent_dim=latent_dim,
                       **nets)
    sample = model.joint().sample(5, seed=[1, 2])
    self.assertEqual(sample.z.shape, (5, latent_dim))
    self.assertAllClose(tf.norm(sample.z, axis=-1), tf.ones([5]), atol=1e-5)
    z = model.guide(sample.x).sample(3, seed=[2, 3]).z
    self.assertEqual(z.shape, (3, 5, latent_dim))
    self.assertAllClose(tf.norm(z, axis=-1), tf.ones([3, 5]), atol=1e-5)
    theta = {v.ref() for v in model.generative_variables}
    phi = {v.ref() for v in model.guide_variables}
    self.assertEmpty(theta & phi)
    self.assertEqual(theta | phi, {v.ref() for v in model.trainable_variables})

  def test_guide_is_normalised_on_the_circle(self):
    model = models.get("hyperspherical_vae", input_shape=(4,), latent_dim=2)
    angles = tf.linspace(0.0, 2 * np.pi, 4001)[:-1]
    z = tf.stack([tf.cos(angles), tf.sin(angles)], -1)[:, None]  # [4000, 1, 2]
    density = tf.exp(model.guide(tf.ones([1, 4])).log_prob(z=z))
    # ∫ q(z) dz over the circle, by the rectangle rule in the angle.
    self.assertAllClose(tf.reduce_sum(density) * 2 * np.pi / 4000, 1.0, atol=1e-3)

  def test_guide_and_prior_proposals_agree(self):
    model = models.HypersphericalVAE((6, 6, 1), latent_dim=2, hidden_sizes=(16,), seed=1)
    prior_only = NoGuide((6, 6, 1), latent_dim=2, hidden_sizes=(16,), seed=1)
    x = model.joint().sample(8, seed=[3, 4]).x
    a = evaluation.log_likelihood(model, x, seed=tf.constant([5, 6]), num_samples=5000)
    b = evaluation.log_likelihood(prior_only, x, seed=tf.constant([7, 8]), num_samples=5000)
    difference = a.log_likelihood.numpy() - b.log_likelihood.numpy()
    stderr = np.sqrt(a.stderr.numpy() ** 2 + b.stderr.numpy() ** 2)
    self.assertLess(np.max(np.abs(difference) / stderr), 4.0)
    mean_stderr = np.sqrt(np.sum(stderr ** 2)) / len(stderr)
    self.assertLess(abs(np.mean(difference)), 3 * mean_stderr)
    self.assertLess(3 * mean_stderr, 0.2)  # power: a 0.2-nat disagreement would show

  def test_bad_hyperparameters_are_named(self):
    with self.assertRaisesRegex(ValueError, "latent_dim=1"):
      models.get("hyperspherical_vae", input_shape=(4,), latent_dim=1)
    with self.assertRaisesRegex(ValueError, "^architecture='vit': expected one of auto, mlp, "
                                "conv$"):
      models.get("hyperspherical_vae", input_shape=(4, 4, 1), architecture="vit")


if __name__ == "__main__":
  tf.test.main()
