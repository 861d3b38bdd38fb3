"""The Python API is as strict as the launchers: what a user can get wrong in
a call (the model, the seed, the batch, an option's value, a learning rate, a
hyperparameter's form) is one line naming it, before any TF stack, and an
explicit value is honoured or refused, never replaced by a default."""

import math

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tfp_zoo import estimators, evaluation, models, testing, training
from tfp_zoo.evaluation import annealed_importance
from tfp_zoo.estimators import binding, option_rules

SEED = tf.constant([0, 1])


class _SkipsInit(models.LinearGaussian):
  def __init__(self):  # pylint: disable=super-init-not-called
    self.extra = 1


def _entry_points():
  """name -> call(model, x, seed) for each public entry point that takes them."""
  return {
      "iwae": lambda m, x, s: estimators.iwae(m, x, seed=s, num_samples=2),
      "vimco": lambda m, x, s: estimators.vimco(m, x, seed=s, num_samples=2),
      "log_likelihood": lambda m, x, s: evaluation.log_likelihood(m, x, seed=s,
                                                                  num_samples=2),
      "ais": lambda m, x, s: annealed_importance.ais_log_likelihood(
          m, x, seed=s, num_chains=2, num_steps=2),
  }


class ArgumentsTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters("iwae", "vimco", "log_likelihood", "ais")
  def test_what_is_not_a_model_is_one_line(self, entry):
    call = _entry_points()[entry]
    _, x = testing.linear_gaussian_problem()
    for not_a_model in (None, "vae", 3):
      with self.assertRaisesRegex(TypeError, r"expected a tfp_zoo model \(a "
                                  f"LatentVariableModel.*got {type(not_a_model).__name__}$"):
        call(not_a_model, x, SEED)
    with self.assertRaisesRegex(TypeError, "^.*: _SkipsInit was not initialised as a "
                                r"LatentVariableModel: its __init__ must call "
                                r"super\(\).__init__\(input_shape, name=name\) first$"):
      call(_SkipsInit(), x, SEED)

  @parameterized.parameters("iwae", "log_likelihood", "ais")
  def test_a_seed_of_the_wrong_dtype_or_shape_is_one_line(self, entry):
    call = _entry_points()[entry]
    model, x = testing.linear_gaussian_problem()
    for seed, got in ((tf.constant([0., 1.]), "float32 of shape (2,)"),
                      (3, "int32 of shape ()"), ([1, 2, 3], "int32 of shape (3,)"),
                      ("seed", "string of shape ()")):
      with self.assertRaisesRegex(ValueError, r"seed must be a stateless seed, two "
                                  r"integers of dtype int32 or int64 \(e.g. "
                                  rf"tf.constant\(\[0, 1\]\)\), got {re_escape(got)}$"):
        call(model, x, seed)
    call(model, x, tf.constant([0, 1], tf.int64))  # int64 seeds are seeds too

  def test_an_empty_batch_is_one_line(self):
    model, x = testing.linear_gaussian_problem()
    for call in _entry_points().values():
      with self.assertRaisesRegex(ValueError, r"^x: an empty batch \(shape \(0, 4\)\); "
                                  "give at least one example$"):
        call(model, x[:0], SEED)

  def test_ais_settings_are_checked(self):
    model, x = testing.linear_gaussian_problem()
    for options, message in (
        (dict(step_size=0.0), "step_size: ais needs a positive finite number, got 0.0"),
        (dict(step_size=-0.1), "step_size: ais needs a positive finite number"),
        (dict(step_size=math.nan), "step_size: ais needs a positive finite number"),
        (dict(step_size="big"), "step_size: ais needs a positive finite number"),
        (dict(num_steps=0), "num_steps: ais needs an integer >= 1, got 0"),
        (dict(num_leapfrog_steps=0), "num_leapfrog_steps: ais needs an integer >= 1"),
        (dict(num_leapfrog_steps=1.5), "num_leapfrog_steps: ais needs an integer >= 1")):
      with self.assertRaisesRegex(ValueError, "^" + re_escape(message)):
        annealed_importance.ais_log_likelihood(model, x, seed=SEED, **options)

  def test_trainer_refuses_a_learning_rate_that_trains_the_wrong_way(self):
    model, _ = testing.linear_gaussian_problem()
    for rate in (0.0, -1e-3, math.nan, math.inf, True, "1e-3"):
      with self.assertRaisesRegex(ValueError, r"^Trainer: learning_rate=.* must be a "
                                  "positive finite number$"):
        training.Trainer(model, estimators.bind("iwae"), learning_rate=rate)
    trainer = training.Trainer(model, "iwae", learning_rate=1e-3)  # a name binds
    self.assertEqual(trainer.estimator.name, "iwae")
    with self.assertRaisesRegex(ValueError, "set_learning_rate: learning_rate=-0.1"):
      trainer.set_learning_rate(-0.1)
    with self.assertRaisesRegex(TypeError, "^Trainer: expected a tfp_zoo model"):
      training.Trainer(None, "iwae", learning_rate=1e-3)
    with self.assertRaisesRegex(TypeError, "^Trainer: estimator must be a name"):
      training.Trainer(model, 3, learning_rate=1e-3)


def _bad_value(rule):
  """A value of the parameter's own type (so the type check passes) that the
  rule refuses, or None."""
  for value in (-1, 0, 1, 2, 1e9, -0.5, 1.5, "nonsense", "yes"):
    if rule(value) is not None:
      return value
  return None


class BindTest(tf.test.TestCase):

  def test_every_option_value_is_checked_when_binding(self):
    checked = 0
    for name in estimators.names():
      fn = estimators.get(name)
      self.assertCountEqual(option_rules.RULES[name], binding.option_names(fn), name)
      for option, rule in option_rules.RULES[name].items():
        value = _bad_value(rule)
        self.assertIsNotNone(value, (name, option))
        with self.assertRaisesRegex(ValueError, f"^(estimator '{name}'|{name}): "
                                    f"{option}={re_escape(repr(value))} must be"):
          estimators.bind(name, **{option: value})
        checked += 1
    self.assertGreater(checked, 50)

  def test_defaults_and_meaningful_values_bind(self):
    estimators.bind("hmc", target_accept_rate=0.8, adaptation_decay=0.0)
    estimators.bind("alws", bandwidth=2.0, ridge=1e-3)
    estimators.bind("alws", bandwidth="cross_median", ridge="auto")
    estimators.bind("ciwae", beta=0.0)
    estimators.bind("rws", guide_update="mixture", mixture_weight=1.0)

  def test_an_option_with_no_effect_on_this_model_is_refused(self):
    model = models.get("sigmoid_belief_net", input_shape=(2, 2, 1), layer_sizes=(3,))
    x = tf.zeros([2, 2, 2, 1])
    for name in ("vimco", "nvil"):
      with self.assertRaisesRegex(ValueError, f"^{name}: continuous_latents='reparameterize' "
                                  "has no effect here: this model's guide has no "
                                  "continuous"):
        estimators.get(name)(model, x, seed=SEED, continuous_latents="reparameterize",
                             **({"baseline": "none"} if name == "nvil" else {}))
      estimators.get(name)(model, x, seed=SEED, continuous_latents="auto",  # the default
                           **({"baseline": "none"} if name == "nvil" else {}))


class HparamsTest(tf.test.TestCase):

  def test_the_launchers_text_forms_are_accepted_from_python(self):
    model = models.get("vae", input_shape=(6, 6, 1), stochastic_layers="2",
                       latent_sizes="4-2", hidden_sizes="8")
    self.assertEqual(model.latent_sizes, (4, 2))
    self.assertEqual(models.VAE((6, 6, 1), latent_sizes="3").latent_sizes, (3,))
    self.assertEqual(models.VAE((6, 6, 1), latent_sizes=np.int64(3)).latent_sizes, (3,))
    for hparams, message in (
        (dict(stochastic_layers="two"), "model 'vae': stochastic_layers='two' must be int "
         r"\(text is read as the launcher reads it: 2, 0.5, true, 100-50\)"),
        (dict(latent_sizes="4x2"), "latent_sizes='4x2' must be"),
        (dict(latent_sizes=[4.5]), r"latent_sizes=\[4.5\]: expected positive integer sizes, "
         r"as 100, '100-50' or \(100, 50\)")):
      with self.assertRaisesRegex(ValueError, message):
        models.get("vae", input_shape=(6, 6, 1), **hparams)

  def test_an_explicit_zero_is_refused_not_replaced_by_the_default(self):
    for name, hparams in (("vae", dict(guide="iaf", flow_layers=0)),
                          ("vae", dict(guide="iaf", flow_hidden=0)),
                          ("vae", dict(prior="mixture", prior_components=0)),
                          ("vae", dict(prior="vampprior", prior_components=0)),
                          ("linear_gaussian", dict(guide="iaf", flow_layers=0))):
      option = [k for k in hparams if k not in ("guide", "prior")][0]
      with self.assertRaisesRegex(ValueError, f"^{option}=0: expected a positive integer "
                                  r"\(leave it unset for the default\)$"):
        models.get(name, input_shape=(6, 6, 1) if name == "vae" else (3,), **hparams)
    model = models.get("vae", input_shape=(6, 6, 1), prior="mixture", prior_components=3,
                       guide="iaf", flow_layers=1, hidden_sizes=(8,), latent_sizes=(2,))
    self.assertEqual(model.prior.locs.shape[0], 3)  # honoured as given

  def test_the_vampprior_message_says_where_its_components_come_from(self):
    with self.assertRaisesRegex(ValueError, "q\\(z \\| u_k\\) come from the prior's own "
                                "encoder"):
      models.get("vae", input_shape=(6, 6, 1), prior="vampprior", stochastic_layers=2)


def re_escape(text):
  import re  # pylint: disable=g-import-not-at-top
  return re.escape(text)


if __name__ == "__main__":
  tf.test.main()
