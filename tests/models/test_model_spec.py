"""Model specs: registered beside the class (hyperparameters from the
constructor, the latent kind), and classes from outside the package."""

import tensorflow as tf

from tfp_zoo import models
from tfp_zoo.models import spec as spec_lib


class ModelSpecTest(tf.test.TestCase):

  def test_every_builtin_model_declares_its_latents(self):
    for spec in models.specs():
      if spec.source == "tfp_zoo":
        self.assertIn(spec.latents, models.LATENT_KINDS, spec.name)
        self.assertNotEmpty(spec.summary, spec.name)
        self.assertIs(models.get_spec(spec.cls), spec)
    self.assertEqual(models.get_spec("sigmoid_belief_net").latents, "discrete")
    self.assertEqual(models.get_spec("air").latents, "mixed")

  def test_hyperparameters_come_from_the_constructor(self):
    spec = models.get_spec("linear_gaussian")
    self.assertEqual(spec.hparam_defaults()["latent_size"], 2)
    self.assertEqual(spec.parse({"latent_size": "3", "guide": "iaf"}),
                     {"latent_size": 3, "guide": "iaf"})
    with self.assertRaisesRegex(ValueError, "^model 'linear_gaussian' does not take "
                                "latent_sizes; it takes: latent_size, guide"):
      models.get("linear_gaussian", input_shape=(4,), latent_sizes=(3,))
    with self.assertRaisesRegex(ValueError, r"latent_size=2.5 must be an integer \(default 2\)"):
      spec.check_types({"latent_size": 2.5})

  def test_a_taken_name_is_refused(self):
    class VAE(models.LinearGaussian):
      pass
    with self.assertRaisesRegex(ValueError, r"^model 'vae' is already registered \(by "
                                r"tfp_zoo.models.vae\); register yours under another name$"):
      models.register("vae", latents="real")(VAE)
    self.assertIs(models.get_class("vae"), models.VAE)
    with self.assertRaisesRegex(ValueError, "its name 'VAE' is a built-in model's"):
      spec_lib.spec_from_class(VAE, name="my.module:VAE")
    with self.assertRaisesRegex(ValueError, r"latents='continuous'; one of real"):
      models.register("test_never", latents="continuous")

  def test_a_class_from_outside_follows_the_protocol(self):
    class Shifted(models.LinearGaussian):
      """A linear-Gaussian model under another name."""
    spec = models.get_spec(Shifted)
    self.assertIsNone(spec.latents)
    self.assertEqual(spec.hparam_names(), models.get_spec("linear_gaussian").hparam_names())
    self.assertIsInstance(spec.build((4,), latent_size="3"), Shifted)

    class NoJoint:
      def __init__(self, input_shape):
        del input_shape
    with self.assertRaisesRegex(ValueError, "^model NoJoint: NoJoint has no joint"):
      models.get_spec(NoJoint)

    class NoShape(models.LinearGaussian):
      def __init__(self, size: int = 2):  # pylint: disable=super-init-not-called
        del size
    with self.assertRaisesRegex(ValueError, r"must take input_shape first .*it takes \(size\)"):
      models.get_spec(NoShape)

  def test_object_paths_resolve_or_say_what_is_missing(self):
    self.assertIs(models.get_spec("tfp_zoo.models:VAE"), models.get_spec("vae"))
    for path, message in (("no_such_package:Model", "cannot import no_such_package"),
                          ("tfp_zoo.models:NoSuchModel", "tfp_zoo.models has no 'NoSuchModel'"),
                          ("tfp_zoo.models:get", "expected a class"),
                          ("resnet", r"unknown model 'resnet'; known: air, .*package.module:Class")):
      with self.assertRaisesRegex(ValueError, message):
        models.get_spec(path)


if __name__ == "__main__":
  tf.test.main()
