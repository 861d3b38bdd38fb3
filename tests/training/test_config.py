"""TrainConfig: the one source of the launcher's flags; validate() refuses bad,
non-finite and ignored values up front, in-process (no launcher needed)."""

import dataclasses
import inspect
import os

from absl import flags
from absl.testing import parameterized
import tensorflow as tf

from tfp_zoo import estimators, training
from tfp_zoo.app import launch_flags
from tfp_zoo.registry import parse_key_values
from tfp_zoo.training import config as config_lib


def _config(**overrides):
  fields = dict(workdir="/tmp/never_written", model_hparams={"hidden_sizes": (8,)})
  fields.update(overrides)
  return training.TrainConfig(**fields)


class FlagsFromConfigTest(tf.test.TestCase):

  def test_the_flags_are_the_config_fields_with_the_same_defaults(self):
    values = flags.FlagValues()
    launch_flags.define_train_flags(values)
    fields = {f.name: f for f in dataclasses.fields(training.TrainConfig)}
    self.assertEqual(set(values), set(fields))
    for name, field in fields.items():
      default = field.default if field.default is not dataclasses.MISSING else {}
      flag_default = values[name].default
      if isinstance(default, dict):
        self.assertEqual(parse_key_values(flag_default), default, name)
      else:
        self.assertEqual(flag_default, default, name)
      self.assertIn(field.metadata["help"], values[name].help, name)

  def test_flags_build_the_config(self):
    values = flags.FlagValues()
    launch_flags.define_train_flags(values)
    values(["train.py", "--workdir=/tmp/w", "--estimator=rws",
            "--estimator_options=guide_update=mixture,mixture_weight=0.25",
            "--model_hparams=latent_sizes=100-50,stochastic_layers=2", "--num_samples=7"])
    config = launch_flags.train_config_from_flags(values)
    self.assertEqual(config.estimator_options, {"guide_update": "mixture",
                                                "mixture_weight": 0.25})
    self.assertEqual(config.model_hparams["latent_sizes"], (100, 50))
    self.assertEqual(config.all_estimator_options()["num_samples"], 7)

  def test_every_field_has_a_resume_rule(self):
    self.assertEqual(set(config_lib.RESUME_RULES.values()) - {"same", "applied", "upwards",
                                                              "free"}, set())
    self.assertEqual(config_lib.RESUME_RULES["learning_rate"], "applied")
    self.assertEqual(config_lib.RESUME_RULES["train_steps"], "upwards")
    self.assertEqual(config_lib.RESUME_RULES["jit_compile"], "same")


class ValidateTest(parameterized.TestCase):

  @parameterized.parameters(
      (dict(learning_rate=float("inf")), "--learning_rate=inf: must be finite"),
      (dict(learning_rate=float("nan")), "--learning_rate=nan: must be finite"),
      (dict(max_train_seconds=float("nan")), "--max_train_seconds=nan: must be finite"),
      (dict(learning_rate=0.0), "--learning_rate=0.0: must be positive"),
      (dict(num_samples=0), "--num_samples=0: must be a positive integer"),
      (dict(num_samples=True), "--num_samples=True: must be an integer"),
      (dict(seed=2**31), "--seed=2147483648: must be an integer in \\[0, 2147483648\\)"),
      (dict(train_steps=2.5), "--train_steps=2.5: must be an integer"),
      (dict(jit_compile="yes"), "--jit_compile='yes': must be true or false"),
      (dict(workdir=""), "--workdir='': required"),
      (dict(model="gaussian_mixture", model_hparams={"scale": float("nan")}),
       "--model_hparams: model 'gaussian_mixture': scale=nan must be finite"),
      (dict(estimator="alws", num_samples=5),
       "--num_samples=5: --estimator=alws takes no K and would ignore it"),
      (dict(estimator="alws", estimator_options={"feature_size": 8}),
       "feature_size is only used with feature_map='learned'"),
      (dict(estimator="rws", estimator_options={"mixture_weight": 0.3}),
       "mixture_weight is only used with guide_update='mixture'"),
      (dict(estimator="iwae", estimator_options={"num_sleep_samples": 3}),
       "estimator 'iwae' does not take num_sleep_samples"),
      (dict(estimator_options={"num_samples": 3}), "set num_samples with --num_samples"),
      (dict(kl_warmup_steps=100), "--kl_warmup_steps=100: --estimator=iwae has no KL weight"),
      (dict(kl_warmup_steps=-1), "--kl_warmup_steps=-1: must be an integer >= 0"),
      (dict(model_hparams={"likelihood": "discretized_logistic"}),
       "^--binarization=dynamic: likelihood=discretized_logistic models 8-bit levels 0..255; "
       "use --binarization=none$"),
      (dict(num_samples=10**6, batch_size=10**4),
       "out of memory: a step needs about .* GiB .*lower --num_samples or --batch_size"),
      (dict(model_hparams={"hidden_sizes": (10**6, 10**6)}),
       "out of memory: .*or the --model_hparams layer sizes"),
      (dict(estimator="alws", estimator_options={"num_sleep_samples": 10**7}),
       "out of memory: .*num_sleep_samples"),
  )
  def test_refused_with_the_flag_named(self, overrides, pattern):
    with self.assertRaisesRegex(training.ConfigError, pattern):
      _config(**overrides).validate()

  def test_defaults_and_conditional_options_that_are_used_pass(self):
    _config().validate()
    _config(estimator="alws").validate()  # no --num_samples: fine
    _config(estimator="alws", estimator_options={"feature_map": "learned",
                                                 "feature_size": 8}).validate()
    _config(estimator="rws", estimator_options={"guide_update": "mixture",
                                                "mixture_weight": 0.3}).validate()
    # Each estimator's own default K, as from Python.
    for name, k in (("elbo", 1), ("iwae", 5), ("hmc", 1), ("vimco", 5)):
      self.assertEqual(_config(estimator=name).all_estimator_options().get("num_samples"), k)
      self.assertEqual(inspect.signature(estimators.get(name)).parameters["num_samples"].default,
                       k)
      self.assertEqual(estimators.default_num_samples(name), k)
    self.assertIsNone(estimators.default_num_samples("alws"))  # takes no K
    self.assertEqual(_config(estimator="alws").all_estimator_options(), {})

  def test_a_repeated_key_is_refused(self):
    with self.assertRaisesRegex(ValueError, "num_groups is given twice"):
      parse_key_values("num_groups=2,num_groups=3")

  def test_validate_touches_nothing(self):
    path = os.path.join(self.create_tempdir().full_path, "run")
    _config(workdir=path).validate()
    self.assertFalse(os.path.exists(path))


if __name__ == "__main__":
  tf.test.main()
