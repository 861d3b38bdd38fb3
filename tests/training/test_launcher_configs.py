"""One default per option: every launcher's flags come from a config
dataclass whose defaults are the Python functions' defaults, and each config
is validated in one place."""

import dataclasses
import inspect

from absl import flags
import tensorflow as tf

from tfp_zoo import estimators, models, training
from tfp_zoo.app import export
from tfp_zoo.app import figures
from tfp_zoo.app import launch_flags
from tfp_zoo.training import launcher_configs


def _flag_defaults(config_class):
  values = flags.FlagValues()
  launch_flags.define_flags(config_class, values)
  return {name: values[name].default for name in values}


def _keyword_defaults(fn):
  return {name: p.default for name, p in inspect.signature(fn).parameters.items()
          if p.default is not inspect.Parameter.empty}


class LauncherConfigsTest(tf.test.TestCase):

  def test_flags_python_functions_and_configs_share_each_default(self):
    for config_class, fn, skip in (
        (launcher_configs.EvaluateConfig, training.evaluate_workdir, ()),
        (launcher_configs.SampleConfig, figures.write_pictures, ()),
        (launcher_configs.ExportConfig, export.export_workdir, ()),
        # The launch's precision is `auto`, which TrainConfig decides for the host
        # (test_step_config); StepConfig takes the decided value.
        (training.TrainConfig, training.StepConfig,
         ("dataset_size", "float64_free", "precision"))):
      flag_defaults = _flag_defaults(config_class)
      python_defaults = _keyword_defaults(fn)
      shared = (set(flag_defaults) & set(python_defaults)) - set(skip)
      self.assertNotEmpty(shared, config_class.__name__)
      for name in shared:
        self.assertEqual(flag_defaults[name], python_defaults[name],
                         f"{config_class.__name__}.{name}")

  def test_train_defaults_left_unset_are_the_registered_ones(self):
    config = training.TrainConfig(workdir="/nonexistent", estimator="rws")
    spec = estimators.get_spec("rws")
    self.assertEqual(config.effective_num_samples, spec.default_num_samples)
    self.assertEqual(config.pinned_estimator_options(),
                     {k: v for k, v in spec.defaults().items()
                      if k != "num_samples" and k not in ("mixture_weight",
                                                          "num_sleep_samples")})
    self.assertEqual(config.pinned_model_hparams()["hidden_sizes"],
                     models.get_spec("vae").hparam_defaults()["hidden_sizes"])

  def test_each_config_refuses_in_one_line(self):
    workdir = self.get_temp_dir()
    for config, message in (
        (launcher_configs.EvaluateConfig(workdir=workdir, method="mcmc"),
         "^--method='mcmc': one of is, ais$"),
        (launcher_configs.EvaluateConfig(workdir=workdir, method="ais", precision="bfloat16"),
         "^--precision: AIS runs in float32"),
        (launcher_configs.EvaluateConfig(workdir=workdir + "/none"),
         "must be an existing training workdir$"),
        (launcher_configs.SampleConfig(output="x.png"), "give exactly one of --workdir"),
        (launcher_configs.SampleConfig(output="x.jpg", workdir=workdir), "a .png file name"),
        (launcher_configs.ExportConfig(workdir=workdir, output=None), "^--output=None: required$")):
      with self.assertRaisesRegex(training.ConfigError, message):
        config.validate()
    with self.assertRaisesRegex(training.ConfigError, "^--method='mcmc': one of is, ais$"):
      training.evaluate_workdir(workdir, method="mcmc")  # the same check from Python
    self.assertEqual([f.name for f in dataclasses.fields(launcher_configs.ExportConfig)],
                     ["workdir", "output", "overwrite"])


if __name__ == "__main__":
  tf.test.main()
