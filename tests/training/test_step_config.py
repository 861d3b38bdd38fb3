"""`StepConfig`: the train step's settings, one frozen object checked once;
`Trainer` and `make_train_step` take it, and their older keywords still work."""

import dataclasses

import tensorflow as tf

from tfp_zoo import estimators, testing, training
from tfp_zoo.nn import precision
from tfp_zoo.training import step_config as step_config_lib


class StepConfigTest(tf.test.TestCase):

  def test_each_setting_is_checked_once_when_made(self):
    for fields, message in ((dict(seed=-1), "^seed=-1: must be an integer >= 0$"),
                            (dict(seed=True), "^seed=True: must be an integer"),
                            (dict(seed=2**31), r"^seed=2147483648: must be an integer in \[0, "),
                            (dict(kl_warmup_steps=1.5), "^kl_warmup_steps=1.5: must be"),
                            (dict(precision="float8"), "^precision='float8': expected one of"),
                            (dict(dataset_size=0), "^dataset_size=0: must be an integer >= 1"),
                            (dict(jit_compile="yes"), "^jit_compile='yes': must be true or")):
      with self.assertRaisesRegex(ValueError, message):
        training.StepConfig(**fields)
    config = training.StepConfig(seed=3)
    with self.assertRaises(dataclasses.FrozenInstanceError):
      config.seed = 4  # pylint: disable=assigning-non-slot

  def test_older_keywords_build_the_same_config(self):
    model, _ = testing.linear_gaussian_problem()
    old = training.Trainer(model, "iwae", learning_rate=1e-3, seed=2, tpu_safe=True,
                           train_size=50, kl_warmup_steps=0)
    new = training.Trainer(model, "iwae", learning_rate=1e-3, config=training.StepConfig(
        seed=2, float64_free=True, dataset_size=50))
    self.assertEqual(old.config, new.config)
    with self.assertRaisesRegex(ValueError, "^Trainer: give the step's settings in config="
                                r"StepConfig\(...\) or as keywords \(seed\), not both$"):
      training.Trainer(model, "iwae", learning_rate=1e-3, config=new.config, seed=1)
    with self.assertRaisesRegex(TypeError, "^Trainer: unexpected keyword sed$"):
      training.Trainer(model, "iwae", learning_rate=1e-3, sed=1)
    with self.assertRaisesRegex(ValueError, r"^Trainer: seed=-1: must be an integer >= 0$"):
      training.Trainer(model, "iwae", learning_rate=1e-3, seed=-1)

  def test_a_step_with_the_config_equals_one_with_keywords(self):
    _, x = testing.linear_gaussian_problem()
    losses = []
    for kwargs in (dict(config=training.StepConfig(seed=5)), dict(seed=5)):
      fresh, _ = testing.linear_gaussian_problem()
      bound = estimators.bind("iwae", num_samples=3)
      theta = training.make_optimizer(1e-2, fresh.generative_variables)
      phi = training.make_optimizer(1e-2, fresh.guide_variables)
      step = training.make_train_step(fresh, bound, theta, phi, **kwargs)
      losses.append([float(step(x, tf.constant(s, tf.int64))["generative_loss"])
                     for s in range(3)])
    self.assertEqual(losses[0], losses[1])

  def test_the_launcher_checks_the_steps_settings_through_step_config(self):
    """--precision and the other step settings are checked in one place: a bad
    value reaches the flag's message from StepConfig's check."""
    for fields, message in ((dict(precision="float8"), "^--precision='float8': expected one "
                             "of float32, bfloat16, mixed_float16$"),
                            (dict(seed=-1), "^--seed=-1: must be an integer >= 0$")):
      config = training.TrainConfig(workdir="/nonexistent", **fields)
      with self.assertRaisesRegex(training.ConfigError, message):
        config.validate(resources=False)
      with self.assertRaises(ValueError):
        config.step_config()

  def test_the_launchers_defaults_are_the_steps(self):
    """One default per setting: TrainConfig's flags and StepConfig agree."""
    launcher = training.TrainConfig(workdir="/nonexistent")
    step = training.StepConfig()
    for field in dataclasses.fields(training.StepConfig):
      if field.name in ("dataset_size", "float64_free"):  # from the data; from --strategy
        continue
      if field.name == "precision":  # `auto`: decided for this host, then the step's
        self.assertEqual(launcher.precision, "auto")
        continue
      self.assertEqual(getattr(launcher, field.name), getattr(step, field.name), field.name)
    decided = precision.auto_precision(**precision.host_hardware())[0]
    self.assertEqual(launcher.step_config(), dataclasses.replace(step, precision=decided))
    self.assertEqual(
        dataclasses.replace(launcher, precision="float32").step_config(), step)
    self.assertEqual(set(step_config_lib.LEGACY_KEYWORDS.values()),
                     {f.name for f in dataclasses.fields(training.StepConfig)})


if __name__ == "__main__":
  tf.test.main()
