"""`estimators.bind`: options checked once (names, types, finiteness, options
that other options make dead) and state paired with its estimator."""

import inspect

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tfp_zoo import estimators, models, testing
from tfp_zoo.estimators import amortised_learning, binding, reweighted_wake_sleep

# Every value the condition options of `IGNORED_UNLESS` can take, so each
# entry is tried with every value that makes its option dead.
CHOICES = {
    ("alws", "feature_map"): amortised_learning.FEATURE_MAPS,
    ("hmc", "adapt_step_size"): (False, True),
    ("alws", "solver"): amortised_learning.SOLVERS,
    ("alws", "ridge"): ("auto", 1e-3),
    ("alws", "guide_update"): ("sleep", "none"),
    ("rws", "guide_update"): reweighted_wake_sleep.GUIDE_UPDATES,
}
IGNORED = [dict(testcase_name=f"{name}_{option}", name=name, option=option,
                depends_on=depends_on, values=values)
           for name, table in binding.IGNORED_UNLESS.items()
           for option, (depends_on, values) in table.items()]


def _default(name, option):
  return inspect.signature(estimators.get(name)).parameters[option].default


def _vae():
  return models.get("vae", input_shape=(6, 6, 1), hidden_sizes=(8,), latent_sizes=(2,))


class IgnoredOptionsTest(tf.test.TestCase, parameterized.TestCase):

  def test_every_condition_lists_its_choices(self):
    for case in IGNORED:
      self.assertIn((case["name"], case["depends_on"]), CHOICES)

  @parameterized.named_parameters(*IGNORED)
  def test_a_dead_option_is_refused_and_a_live_one_accepted(self, name, option, depends_on,
                                                            values):
    value = _default(name, option)  # even the default, given explicitly, would be dead
    dead = [v for v in CHOICES[(name, depends_on)] if v not in values]
    self.assertNotEmpty(dead)
    for other in dead:
      with self.assertRaisesRegex(
          ValueError, f"^{name}: {option} is only used with {depends_on}=.*"
                      f"\\(here {depends_on}={other!r}\\); remove {option}$"):
        estimators.bind(name, **{option: value, depends_on: other})
    if _default(name, depends_on) in dead:  # the condition's default makes it dead too
      with self.assertRaisesRegex(ValueError, f"{option} is only used with"):
        estimators.bind(name, **{option: value})
    for live in values:
      bound = estimators.bind(name, **{option: value, depends_on: live})
      self.assertEqual(bound.options, {option: value, depends_on: live})


class BindTest(tf.test.TestCase, parameterized.TestCase):

  def test_unknown_estimator_and_option(self):
    with self.assertRaisesRegex(ValueError, "unknown estimator 'reinforce'"):
      estimators.bind("reinforce")
    with self.assertRaisesRegex(ValueError, "estimator 'iwae' does not take analytic_kl; "
                                            "it takes: num_samples"):
      estimators.bind("iwae", analytic_kl=True)

  @parameterized.parameters(
      ("iwae", dict(num_samples=2.5), "num_samples=2.5 must be an integer"),
      ("iwae", dict(num_samples=True), "num_samples=True must be an integer"),
      ("iwae", dict(num_samples="5"), "num_samples='5' must be an integer"),
      ("elbo", dict(analytic_kl="yes"), "analytic_kl='yes' must be true or false"),
      ("stl", dict(bound=1), "bound=1 must be a string"))
  def test_wrong_types(self, name, options, message):
    with self.assertRaisesRegex(ValueError, f"estimator '{name}': {message}"):
      estimators.bind(name, **options)

  @parameterized.parameters(float("nan"), float("inf"), -float("inf"), np.float32("nan"))
  def test_non_finite_floats(self, value):
    with self.assertRaisesRegex(ValueError, "estimator 'ciwae': beta=.* must be finite"):
      estimators.bind("ciwae", beta=value)

  def test_numpy_scalars_and_ints_for_floats_are_accepted(self):
    self.assertEqual(estimators.bind("iwae", num_samples=np.int64(5)).options["num_samples"],
                     5)
    estimators.bind("ciwae", beta=1)
    estimators.bind("rws", guide_update="mixture", mixture_weight=np.float32(0.25))

  def test_init_returns_the_state_it_needs(self):
    model = _vae()
    self.assertIsNone(estimators.bind("iwae", num_samples=3).init(model))
    self.assertIsNone(estimators.bind("nvil", baseline="none").init(model))
    alws = estimators.bind("alws").init(model)  # λ, the step count and the monitor
    self.assertIsInstance(alws, estimators.AlwsState)
    self.assertEmpty(alws.trainable_variables)
    nvil = estimators.bind("nvil", baseline="learned").init(model)
    self.assertIsInstance(nvil, estimators.NvilBaseline)
    self.assertNotEmpty(nvil.trainable_variables)
    moving = estimators.bind("nvil", baseline="moving_average").init(model)
    self.assertIsInstance(moving, estimators.NvilBaseline)
    self.assertEmpty(moving.trainable_variables)
    alws = estimators.bind("alws", feature_map="learned", feature_size=7).init(model)
    self.assertIsInstance(alws, estimators.AlwsFeatureMap)
    self.assertEqual(alws(tf.zeros([2, 36])).shape, (2, 7))

  @parameterized.named_parameters(
      ("iwae", "iwae", dict(num_samples=3)),
      ("rws_mixture", "rws", dict(num_samples=3, guide_update="mixture", mixture_weight=0.3,
                                  num_sleep_samples=5)),
      ("nvil_learned", "nvil", dict(num_samples=2, bound="iwae", baseline="learned")),
      ("alws_learned", "alws", dict(num_sleep_samples=16, num_features=8,
                                    feature_map="learned", feature_size=4)))
  def test_a_bound_call_is_the_function_call(self, name, options):
    model = _vae()
    x = tf.cast(tf.random.stateless_uniform([3, 6, 6, 1], seed=[0, 1]) < 0.5, tf.float32)
    seed = tf.constant([4, 2])
    bound = estimators.bind(name, **options)
    # Fresh states made alike, since a call updates its state (nvil's average).
    state_a, state_b = bound.init(model), estimators.make_state(name, model, **options)
    state_option = {} if state_b is None else {"state": state_b}
    a = bound(model, x, seed=seed, state=state_a)
    b = estimators.get(name)(model, x, seed=seed, **options, **state_option)
    self.assertAllClose(a.generative_loss, b.generative_loss)
    self.assertAllClose(a.guide_loss, b.guide_loss)
    self.assertAllClose(a.metrics, b.metrics)
    # Power: another seed gives another value.
    c = bound(model, x, seed=tf.constant([4, 3]), state=bound.init(model))
    self.assertNotAllClose(a.generative_loss, c.generative_loss)

  def test_a_function_binds_under_its_registered_name(self):
    bound = estimators.bind(estimators.rws, guide_update="wake")
    self.assertEqual(bound.name, "rws")
    with self.assertRaisesRegex(ValueError, "rws: mixture_weight is only used with"):
      estimators.bind(estimators.rws, mixture_weight=0.5)
    model, x = testing.linear_gaussian_problem()
    self.assertTrue(bound.takes_num_samples)
    self.assertFalse(estimators.bind("alws").takes_num_samples)
    self.assertAllClose(bound(model, x, seed=tf.constant([1, 1])).guide_loss,
                        estimators.rws(model, x, seed=tf.constant([1, 1])).guide_loss)


if __name__ == "__main__":
  tf.test.main()
