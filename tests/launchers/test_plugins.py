"""Your own model, estimator and data from a module outside the package, given
to the launchers as module:object paths: train, resume, evaluate, export and
sample, and one-line errors for paths that do not resolve."""

import json
import os
import shutil

import pytest
import tensorflow as tf

from tfp_zoo import testing

pytestmark = pytest.mark.slow  # launcher processes: .ci/run's second step

_EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "zoo_plugins.py")
_OWN = ["--model=zoo_plugins:LogisticFactorModel", "--estimator=zoo_plugins:tempered_iwae",
        "--dataset=zoo_plugins:stripes", "--model_hparams=latent_size=3",
        "--estimator_options=temperature=0.5", "--batch_size=20", "--log_every=10",
        "--checkpoint_every=10", "--eval_num_samples=10", "--eval_examples=20"]


_REGISTERED = '''"""An estimator registered with its spec, outside the package."""
import tfp_zoo
from tfp_zoo.estimators import option_rules


@tfp_zoo.estimators.register("my_scaled_elbo", latents=("real",),
                             rules={"num_samples": option_rules.integer(1),
                                    "scale": option_rules.number(0, 1, low_open=True)})
def scaled_elbo(model, x, *, seed, num_samples: int = 2, scale: float = 1.0):
  """The ELBO's losses times a scale in (0, 1] (a smaller step)."""
  objectives = tfp_zoo.estimators.elbo(model, x, seed=seed, num_samples=num_samples)
  loss = scale * objectives.generative_loss
  return tfp_zoo.estimators.Objectives(loss, loss, {"scaled_elbo": -loss})
'''


def _run(launcher, *args, env):
  process = testing.start_launcher(launcher, *args, env=env)
  stdout, stderr = process.communicate(timeout=300)
  return process.returncode, stdout, stderr


class PluginLaunchTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    # The module lives outside the checkout: a fresh directory on PYTHONPATH.
    self.outside = os.path.join(self.get_temp_dir(), "outside")
    os.makedirs(self.outside, exist_ok=True)
    shutil.copy(_EXAMPLE, self.outside)
    base = testing.launcher_env()
    self.env = dict(base, PYTHONPATH=os.pathsep.join([self.outside, base["PYTHONPATH"]]))

  def test_train_resume_evaluate_export_sample(self):
    workdir = os.path.join(self.get_temp_dir(), "own")
    code, stdout, stderr = _run("train.py", f"--workdir={workdir}", "--train_steps=20", *_OWN,
                                env=self.env)
    self.assertEqual(code, 0, stderr[-3000:])
    self.assertIn("tempered_iwae", stdout)
    with open(os.path.join(workdir, "config.json")) as f:
      saved = json.load(f)
    self.assertEqual((saved["model"], saved["estimator"], saved["dataset"]),
                     ("zoo_plugins:LogisticFactorModel", "zoo_plugins:tempered_iwae",
                      "zoo_plugins:stripes"))
    self.assertEqual(saved["estimator_options"], {"temperature": 0.5})  # from the signature
    self.assertEqual((saved["num_samples"], saved["data_digest"]), (3, "stripes-v1"))

    code, stdout, stderr = _run("train.py", f"--workdir={workdir}", "--train_steps=30", *_OWN,
                                env=self.env)
    self.assertEqual(code, 0, stderr[-3000:])
    self.assertIn("Resuming from step 20", stdout)
    code, stdout, stderr = _run("evaluate.py", f"--workdir={workdir}", "--num_samples=5",
                                "--num_examples=10", env=self.env)
    self.assertEqual(code, 0, stderr[-3000:])
    self.assertRegex(stdout, r"test log-likelihood \(K=5, 10 examples\): -\d+\.\d+ ±")
    export = os.path.join(self.get_temp_dir(), "export")
    code, _, stderr = _run("export.py", f"--workdir={workdir}", f"--output={export}",
                           env=self.env)
    self.assertEqual(code, 0, stderr[-3000:])
    sample = tf.saved_model.load(export).signatures["sample"](
        num_samples=tf.constant(2), seed=tf.constant([0, 1]))
    self.assertEqual(sample["x"].shape, (2, 8, 8, 1))
    code, _, stderr = _run("sample.py", f"--workdir={workdir}",
                           f"--output={os.path.join(self.get_temp_dir(), 's.png')}",
                           env=self.env)
    self.assertEqual(code, 0, stderr[-3000:])

    # Without the module, the readers say so in one line.
    code, _, stderr = _run("evaluate.py", f"--workdir={workdir}", env=testing.launcher_env())
    self.assertEqual(code, 1)
    self.assertRegex(stderr.strip().splitlines()[-1],
                     r"^FATAL ConfigError: .*config.json: this run's "
                     r"--model=zoo_plugins:LogisticFactorModel does not resolve now \(.*cannot "
                     r"import zoo_plugins.*\); put its module back on PYTHONPATH")

  def test_a_registered_estimator_from_outside_trains_through_the_launcher(self):
    """A decorated estimator in the user's module: its spec checks options and
    refuses models it cannot train, in one line, before anything is built."""
    with open(os.path.join(self.outside, "my_estimators.py"), "w") as f:
      f.write(_REGISTERED)
    workdir = os.path.join(self.get_temp_dir(), "registered")
    tiny = ["--model_hparams=hidden_sizes=16,latent_sizes=2", "--batch_size=20",
            "--log_every=5", "--checkpoint_every=10", "--eval_num_samples=5",
            "--eval_examples=20"]
    code, stdout, stderr = _run("train.py", f"--workdir={workdir}", "--train_steps=10",
                                "--estimator=my_estimators:scaled_elbo",
                                "--estimator_options=scale=0.5", *tiny, env=self.env)
    self.assertEqual(code, 0, stderr[-3000:])
    self.assertIn("scaled_elbo", stdout)
    with open(os.path.join(workdir, "config.json")) as f:
      saved = json.load(f)
    self.assertEqual((saved["estimator"], saved["num_samples"], saved["estimator_options"]),
                     ("my_estimators:scaled_elbo", 2, {"scale": 0.5}))
    for flags, message in (
        (["--estimator_options=scale=2.0"], "FATAL Flags error: --estimator_options: "
         "my_scaled_elbo: scale=2.0 must be a finite number in (0, 1]"),
        (["--model=sigmoid_belief_net", "--model_hparams="], "FATAL Flags error: "
         "--estimator=my_estimators:scaled_elbo trains models with real latents, and "
         "--model=sigmoid_belief_net has discrete ones")):
      code, _, stderr = _run("train.py", f"--workdir={workdir}_refused",
                             "--estimator=my_estimators:scaled_elbo", *tiny, *flags,
                             env=self.env)
      self.assertEqual(code, 1, flags)
      self.assertIn(message, stderr.strip().splitlines()[-1])
      self.assertFalse(os.path.exists(f"{workdir}_refused"))

  def test_paths_that_do_not_resolve_are_one_line(self):
    workdir = os.path.join(self.get_temp_dir(), "never")
    for flag, message in (
        ("--model=zoo_plugins:stripes", "--model=zoo_plugins:stripes: model "
         "'zoo_plugins:stripes': expected a class built as Class(input_shape, **hparams)"),
        ("--estimator=zoo_plugins:Stripes", "--estimator=zoo_plugins:Stripes: estimator "
         "zoo_plugins:Stripes: expected a function"),
        ("--estimator=zoo_plugins:missing", "zoo_plugins has no 'missing'"),
        ("--dataset=zoo_plugins:LogisticFactorModel", "expected a data source"),
        ("--model=no_such_module:Model", "cannot import no_such_module (no module named "
         "'no_such_module'; is its directory on PYTHONPATH?)")):
      code, _, stderr = _run("train.py", f"--workdir={workdir}", flag, env=self.env)
      self.assertEqual(code, 1, flag)
      lines = stderr.strip().splitlines()
      self.assertIn(message, lines[-1], flag)
      self.assertTrue(lines[-1].startswith("FATAL Flags error: "), lines[-1])
      self.assertFalse(os.path.exists(workdir))


if __name__ == "__main__":
  tf.test.main()
