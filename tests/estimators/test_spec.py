"""Estimator specs: registered beside the function, the one place that checks
options, read by binding, the launcher and the cross-tests; an estimator
registered from outside the package trains like a built-in."""

import inspect
import os
import traceback

import tensorflow as tf
from absl.testing import parameterized

from tfp_zoo import estimators, testing, training
from tfp_zoo.estimators import option_rules, spec as spec_lib

SEED = tf.constant([0, 1])


def tempered_iwae(model, x, *, seed, num_samples: int = 3,
                  temperature: float = 0.5) -> estimators.Objectives:
  """IWAE on tempered weights w^T (registered by this test file)."""
  weights = estimators.importance_log_weights(model, x, seed=seed,
                                              num_samples=num_samples).log_weights
  loss = -tf.reduce_mean(tf.reduce_logsumexp(temperature * weights, axis=0)) / temperature
  return estimators.Objectives(loss, loss, {"tempered_iwae": -loss})


def _bad_value(rule):
  for value in (-1, 0, 1, 2, 1e9, -0.5, 1.5, "nonsense", "yes"):
    if rule(value) is not None:
      return value
  return None


def _raised_in(error):
  """(file name, function) of the frame that raised `error`."""
  frame = traceback.extract_tb(error.__traceback__)[-1]
  return os.path.basename(frame.filename), frame.name


class SpecTest(tf.test.TestCase, parameterized.TestCase):

  def test_every_builtin_spec_is_complete(self):
    for spec in estimators.specs():
      if spec.source != "tfp_zoo":
        continue
      self.assertNotEmpty(spec.latents, spec.name)
      self.assertContainsSubset(spec.latents, estimators.LATENT_KINDS, spec.name)
      self.assertNotEmpty(spec.summary, spec.name)
      fn_parameters = inspect.signature(spec.fn).parameters
      for option in spec.options.values():
        self.assertIsNotNone(option.rule, (spec.name, option.name))
        self.assertEqual(option.default, fn_parameters[option.name].default)
        if not option.required:  # every default is a value its own rule allows
          self.assertIsNone(option.rule(option.default), (spec.name, option.name))
      k = fn_parameters.get("num_samples")
      self.assertEqual(spec.default_num_samples, None if k is None else k.default)

  @parameterized.parameters(*estimators.names())
  def test_a_bad_option_is_refused_by_the_spec_alone(self, name):
    """Called directly, bound, or through its state factory: each bad value
    is refused by the spec's check, before the function's body runs."""
    model, x = testing.linear_gaussian_problem()
    spec = estimators.get_spec(name)
    for option in spec.options.values():
      value = _bad_value(option.rule)
      given = {option.name: value}
      calls = [lambda: estimators.get(name)(model, x, seed=SEED, **given),
               lambda: estimators.bind(name, **given)]
      if spec.state is not None:
        calls.append(lambda: estimators.make_state(name, model, **given))
      for call in calls:
        try:
          call()
        except ValueError as e:  # (assertRaises drops the traceback)
          self.assertEqual(_raised_in(e), ("spec.py", "check"), (name, option.name, str(e)))
          self.assertRegex(str(e), f"^(estimator '{name}'|{name}): {option.name}=.* must be ")
        else:
          self.fail(f"{name}: {option.name}={value!r} was accepted")

  def _register(self):
    """Registers `tempered_iwae` for this test only (other tests enumerate the
    registry)."""
    registered = estimators.register(
        "test_tempered_iwae", latents=("real", "spherical"),
        rules={"num_samples": option_rules.integer(1),
               "temperature": option_rules.number(0, 1)})(tempered_iwae)
    self.addCleanup(spec_lib.unregister, "test_tempered_iwae")
    return registered

  def test_an_estimator_registered_here_trains_through_the_launcher(self):
    registered = self._register()
    spec = estimators.get_spec("test_tempered_iwae")
    self.assertIs(spec.fn, registered)
    self.assertEqual(spec.default_num_samples, 3)
    with self.assertRaisesRegex(ValueError, r"^test_tempered_iwae: temperature=2.0 must be "
                                r"a finite number in \[0, 1\]$"):
      estimators.bind("test_tempered_iwae", temperature=2.0)
    config = testing.tiny_train_config(os.path.join(self.get_temp_dir(), "run"),
                                       estimator="test_tempered_iwae", num_samples=None,
                                       estimator_options={"temperature": 0.7}, train_steps=4,
                                       log_every=2, checkpoint_every=4)
    result = training.train(config.validate())
    self.assertEqual(result["step"], 4)
    self.assertTrue(tf.math.is_finite(result["test"]["mean"]))
    saved = training.load_config(config.workdir)
    self.assertEqual((saved.estimator, saved.num_samples, saved.estimator_options),
                     ("test_tempered_iwae", 3, {"temperature": 0.7}))

  def test_the_launcher_refuses_a_pair_the_specs_exclude(self):
    self._register()
    config = testing.tiny_train_config("/nonexistent", model="sigmoid_belief_net",
                                       model_hparams={}, estimator="test_tempered_iwae")
    with self.assertRaisesRegex(training.ConfigError, "^--estimator=test_tempered_iwae trains "
                                "models with real or spherical latents, and "
                                "--model=sigmoid_belief_net has discrete ones; use one of "
                                "alws, nvil, rws, vimco, wake_sleep$"):
      config.validate(resources=False)

  def test_a_taken_name_is_refused(self):
    def iwae(model, x, *, seed):
      del model, x, seed
    with self.assertRaisesRegex(ValueError, r"^estimator 'iwae' is already registered \(by "
                                r"tfp_zoo.estimators.importance_weighted\); register yours "
                                "under another name$"):
      estimators.register("iwae", latents=("real",))(iwae)
    self.assertIs(estimators.get("iwae"), estimators.iwae)
    with self.assertRaisesRegex(ValueError, "its name 'iwae' is a built-in estimator's"):
      spec_lib.spec_from_function(iwae, name="my.module:iwae")

  def test_registration_mistakes_are_one_line(self):
    def fn(model, x, *, seed, k: int = 1):
      del model, x, seed, k
    for kwargs, message in (
        (dict(latents=("continuous",)), r"latents=\('continuous',\); each one of real"),
        (dict(latents=("real",), rules={"K": option_rules.integer(1)}),
         "rules names K, which fn does not take"),
        (dict(latents=("real",), used_when={"k": ("mode", ("a",))}),
         "k depends on mode, which fn does not take")):
      with self.assertRaisesRegex(ValueError, message):
        estimators.register("test_never", **kwargs)(fn)
    self.assertNotIn("test_never", estimators.names())
    with self.assertRaisesRegex(ValueError, "'iwae' is built in; it cannot be unregistered"):
      spec_lib.unregister("iwae")

  def test_an_undecorated_function_follows_the_protocol(self):
    def scaled_elbo(model, x, *, seed, scale: float = 1.0, num_samples: int = 1):
      objectives = estimators.elbo(model, x, seed=seed, num_samples=num_samples)
      return objectives._replace(generative_loss=scale * objectives.generative_loss)
    spec = estimators.get_spec(scaled_elbo)
    self.assertIsNone(spec.latents)
    self.assertEqual(spec.defaults(), {"scale": 1.0, "num_samples": 1})
    self.assertEqual(spec.default_num_samples, 1)
    model, x = testing.linear_gaussian_problem()
    bound = estimators.bind(scaled_elbo, scale=2.0)
    self.assertTrue(tf.math.is_finite(bound(model, x, seed=SEED).generative_loss))
    with self.assertRaisesRegex(ValueError, r"scale='2' must be a number \(default 1.0\)$"):
      estimators.bind(scaled_elbo, scale="2")
    with self.assertRaisesRegex(ValueError, "does not take sacle; it takes: scale, num_samples"):
      estimators.bind(scaled_elbo, sacle=2.0)

    def no_seed(model, x, num_samples=1):
      del model, x, num_samples
    with self.assertRaisesRegex(ValueError, r"^estimator no_seed: expected a function \(model, "
                                r"x, \*, seed, \*\*options\) -> Objectives; it lacks keyword "
                                "seed$"):
      estimators.get_spec(no_seed)

  def test_object_paths_resolve_or_say_what_is_missing(self):
    self.assertIs(estimators.get_spec("tfp_zoo.estimators:iwae"), estimators.get_spec("iwae"))
    for path, message in (
        ("no_such_package.module:fn", r"cannot import no_such_package.module \(no module named "
                                      "'no_such_package'; is its directory on PYTHONPATH"),
        ("tfp_zoo.estimators:no_such_fn", "tfp_zoo.estimators has no 'no_such_fn'"),
        ("tfp_zoo.estimators:NvilBaseline", "expected a function"),
        ("tfp zoo:iwae", r"unknown estimator 'tfp zoo:iwae'; known: .*package.module:function")):
      with self.assertRaisesRegex(ValueError, message):
        estimators.get_spec(path)

  def test_the_tables_derived_from_the_specs(self):
    from tfp_zoo.estimators import binding  # pylint: disable=g-import-not-at-top
    self.assertEqual(binding.IGNORED_UNLESS["rws"]["mixture_weight"],
                     ("guide_update", ("mixture",)))
    self.assertIs(option_rules.RULES["vimco"]["num_samples"],
                  estimators.get_spec("vimco").options["num_samples"].rule)
    self.assertEqual(training.config.ADDED_OPTION_LEGACY_VALUES["hmc"],
                     {"adaptation_decay": 0.0})
    self.assertEqual(estimators.get_spec("beta_tc_vae").supplied_by_loop, ("dataset_size",))


if __name__ == "__main__":
  tf.test.main()
