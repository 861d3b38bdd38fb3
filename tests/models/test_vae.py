"""VAE and the model contract: shapes, names, variables, registry errors."""

import tensorflow as tf
from absl.testing import parameterized

from tfp_zoo import models

CONFIGS = (
    dict(stochastic_layers=1, likelihood="bernoulli"),
    dict(stochastic_layers=2, likelihood="bernoulli"),
    dict(stochastic_layers=1, likelihood="gaussian"),
    dict(stochastic_layers=2, likelihood="gaussian"),
    dict(stochastic_layers=1, guide="full_covariance", latent_sizes=(4,)),
    dict(stochastic_layers=2, guide="iaf", prior="flow", latent_sizes=(5, 3)),
    dict(stochastic_layers=1, guide="iaf", prior="vampprior", prior_components=3),
    dict(architecture="conv", conv_channels=(4, 8), latent_sizes=(3,)),
    dict(stochastic_layers=2, architecture="conv", conv_channels=4, residual_blocks=1,
         likelihood="gaussian", prior="mixture", latent_sizes=(4, 2), hidden_sizes=8),
)


class VAETest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(*CONFIGS)
  def test_joint_samples_and_scores_any_shape(self, **hparams):
    model = models.get("vae", input_shape=(28, 28, 1), **hparams)
    joint = model.joint()
    self.assertIsInstance(joint, models.base.tfd.JointDistributionCoroutine)
    self.assertEqual(joint.dtype._fields[-1], "x")
    for shape in ((), (3,), (2, 3)):
      sample = joint.sample(shape, seed=[1, 2])
      self.assertEqual(sample.x.shape, shape + (28, 28, 1))
      self.assertEqual(joint.log_prob(sample).shape, shape)

  @parameterized.parameters(*CONFIGS)
  def test_guide_covers_latents_by_name(self, **hparams):
    model = models.get("vae", input_shape=(28, 28, 1), **hparams)
    x = tf.zeros([5, 28, 28, 1])
    z = model.guide(x).sample(4, seed=[3, 4])
    self.assertCountEqual(z._fields, model.latent_names)
    log_joint = model.joint().log_prob(**z._asdict(), x=x)
    self.assertEqual(log_joint.shape, (4, 5))
    self.assertAllInRange(tf.cast(tf.math.is_finite(log_joint), tf.int32), 1, 1)

  @parameterized.parameters(*CONFIGS)
  def test_variable_groups_are_disjoint_and_complete(self, **hparams):
    model = models.get("vae", input_shape=(28, 28, 1), **hparams)
    theta = {v.ref() for v in model.generative_variables}
    phi = {v.ref() for v in model.guide_variables}
    self.assertNotEmpty(theta)
    self.assertNotEmpty(phi)
    self.assertEmpty(theta & phi)
    self.assertEqual(theta | phi, {v.ref() for v in model.trainable_variables})

  def test_iwae_paper_architecture(self):
    model = models.get("vae", input_shape=(28, 28, 1))
    sizes = [(l.input_size, l.output_size) for l in model.decoders[0].layers]
    self.assertEqual(sizes, [(50, 200), (200, 200), (200, 784)])
    sizes = [(l.input_size, l.output_size) for l in model.encoders[0].layers]
    self.assertEqual(sizes, [(784, 200), (200, 200), (200, 100)])
    two = models.get("vae", input_shape=(28, 28, 1), stochastic_layers=2)
    self.assertEqual(two.latent_names, ("z2", "z1"))
    self.assertEqual(two.latent_sizes, (100, 50))

  def test_conv_architecture(self):
    model = models.get("vae", input_shape=(28, 28, 1), architecture="conv",
                       conv_channels=(8, 16), latent_sizes=(5,))
    self.assertEqual(model.encoders[0].sizes, [(28, 28), (14, 14), (7, 7)])
    self.assertEqual(model.decoders[0](tf.zeros([2, 3, 5])).shape, (2, 3, 28, 28, 1))
    self.assertEqual(model.architecture, "conv")
    # auto: colour images get the conv net, grey ones keep the IWAE paper's MLP.
    self.assertEqual(models.get("vae", input_shape=(8, 8, 3)).architecture, "conv")
    self.assertEqual(models.get("vae", input_shape=(28, 28, 1)).architecture, "mlp")
    self.assertEqual(models.get("vae", input_shape=(784,)).architecture, "mlp")
    # The same seed builds the same network.
    again = models.get("vae", input_shape=(28, 28, 1), architecture="conv",
                       conv_channels=(8, 16), latent_sizes=(5,))
    for a, b in zip(model.trainable_variables, again.trainable_variables):
      self.assertAllEqual(a, b)

  def test_conv_refusals(self):
    with self.assertRaisesRegex(ValueError, "^architecture='resnet': expected one of auto, "
                                "mlp, conv$"):
      models.get("vae", input_shape=(28, 28, 1), architecture="resnet")
    with self.assertRaisesRegex(ValueError, "architecture=conv needs images \\[H, W, C\\], "
                                "got input shape \\(784,\\)"):
      models.get("vae", input_shape=(784,), architecture="conv")
    with self.assertRaisesRegex(ValueError, "only used with architecture=conv"):
      models.get("vae", input_shape=(28, 28, 1), residual_blocks=2)
    with self.assertRaisesRegex(ValueError, "only used with architecture=conv"):
      models.get("vae", input_shape=(28, 28, 1), conv_channels=(32, 64))
    with self.assertRaisesRegex(ValueError, "residual_blocks=-1"):
      models.get("vae", input_shape=(28, 28, 1), architecture="conv", residual_blocks=-1)
    with self.assertRaisesRegex(ValueError, "prior=vampprior is built for architecture=mlp"):
      models.get("vae", input_shape=(28, 28, 1), architecture="conv", prior="vampprior")

  def test_registry_errors_name_the_choices(self):
    with self.assertRaisesRegex(ValueError, "unknown model 'nope'; known: .*vae"):
      models.get("nope", input_shape=(2,))
    with self.assertRaisesRegex(ValueError, "does not take depth; it takes: .*stochastic_layers"):
      models.get("vae", input_shape=(2,), depth=3)
    with self.assertRaisesRegex(ValueError, "stochastic_layers=3"):
      models.get("vae", input_shape=(2,), stochastic_layers=3)
    with self.assertRaisesRegex(ValueError, "likelihood='poisson'"):
      models.get("vae", input_shape=(2,), likelihood="poisson")
    self.assertIn("linear_gaussian", models.names())
    self.assertIn("stochastic_layers", models.hparam_names("vae"))


if __name__ == "__main__":
  tf.test.main()
