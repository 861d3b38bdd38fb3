"""MAP latents: exact on a linear-Gaussian model (the posterior mean), inside
the support for non-negative codes, and refused for discrete latents."""

import tensorflow as tf

from tfp_zoo import models, testing
from tfp_zoo.evaluation import inference


class MapLatentsTest(tf.test.TestCase):

  def test_linear_gaussian_map_is_the_posterior_mean(self):
    model, x = testing.linear_gaussian_problem(batch_size=6)
    estimate = inference.map_latents(model, x, num_steps=800, learning_rate=0.05)["z"]
    self.assertAllClose(estimate, model.exact_posterior(x).mean(), atol=2e-3)
    # Power: the prior mode (zero) is far from it.
    self.assertGreater(float(tf.reduce_max(tf.abs(model.exact_posterior(x).mean()))), 0.1)

  def test_non_negative_codes_stay_non_negative_and_raise_the_joint(self):
    model = models.MatrixFactorisation((6,), latent_size=4, prior="exponential", seed=2)
    x = model.joint().sample(5, seed=[1, 2]).x
    z = inference.map_latents(model, x, num_steps=300)["z"]
    self.assertAllGreaterEqual(z, 0.0)
    start = tf.nn.softplus(tf.zeros_like(z))  # where the search begins
    self.assertAllGreater(model.joint().log_prob(z=z, x=x) - model.joint().log_prob(z=start, x=x),
                          0.0)

  def test_discrete_latents_are_refused(self):
    model = models.SigmoidBeliefNet((4,), layer_sizes=(2,))
    with self.assertRaisesRegex(ValueError, "latent 'h1' is discrete"):
      inference.map_latents(model, tf.zeros([2, 4]))
    with self.assertRaisesRegex(ValueError, "num_steps=0"):
      inference.map_latents(model, tf.zeros([2, 4]), num_steps=0)


if __name__ == "__main__":
  tf.test.main()
