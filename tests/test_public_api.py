"""The public API is re-exported and typed; the registries agree with the flags."""

import importlib
import inspect
import pkgutil

import tensorflow as tf

import tfp_zoo
from tfp_zoo import datasets, estimators, models, testing


class PublicApiTest(tf.test.TestCase):

  def test_all_names_exist(self):
    for module in (tfp_zoo, models, estimators, datasets, tfp_zoo.training,
                   tfp_zoo.evaluation, tfp_zoo.nn, tfp_zoo.nn.conv, testing, tfp_zoo.kernels,
                   tfp_zoo.exponential_family, tfp_zoo.evaluation.frechet, tfp_zoo.app.export,
                   tfp_zoo.nn.spatial_transformer, tfp_zoo.keras):
      for name in module.__all__:
        self.assertTrue(hasattr(module, name), f"{module.__name__}.{name}")

  def test_public_functions_are_typed(self):
    for module in (models, estimators, tfp_zoo.evaluation, tfp_zoo.training, testing, tfp_zoo.nn.conv,
                   tfp_zoo.kernels, tfp_zoo.exponential_family, tfp_zoo.evaluation.inference,
                   tfp_zoo.evaluation.frechet, tfp_zoo.app.export, tfp_zoo.nn.spatial_transformer,
                   tfp_zoo.keras):
      for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isfunction(obj):
          signature = inspect.signature(obj)
          self.assertIsNot(signature.return_annotation, inspect.Signature.empty,
                           f"{module.__name__}.{name} has no return type")

  def test_estimator_contract_signature(self):
    for name in estimators.names():
      parameters = inspect.signature(estimators.get(name)).parameters
      self.assertEqual(list(parameters)[:2], ["model", "x"])
      self.assertEqual(parameters["seed"].kind, inspect.Parameter.KEYWORD_ONLY)

  def test_estimator_names_are_functions_not_modules(self):
    # A module named like its function would shadow it or be shadowed by it
    # (`from tfp_zoo.estimators import wake_sleep` gave the function, never
    # the module): modules are named for their family instead.
    for name in estimators.names():
      self.assertTrue(inspect.isfunction(getattr(estimators, name)), name)
      self.assertIs(getattr(estimators, name), estimators.get(name))
    functions = {n for n in estimators.__all__ if inspect.isfunction(getattr(estimators, n))}
    self.assertContainsSubset(set(estimators.names()), functions)
    submodules = {m.name for m in pkgutil.iter_modules(estimators.__path__)}
    self.assertContainsSubset({"base", "importance_weighted", "wake_sleep_algorithm"},
                              submodules)  # the check sees the modules
    self.assertEmpty(submodules & functions)
    for module in submodules:  # each still imports under its own name
      self.assertTrue(inspect.ismodule(importlib.import_module(f"tfp_zoo.estimators.{module}")))
    from tfp_zoo.estimators import wake_sleep  # pylint: disable=g-import-not-at-top
    self.assertTrue(inspect.isfunction(wake_sleep))

  def test_testing_helpers(self):
    values = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    mean, stderr = testing.mean_and_stderr(values)
    self.assertAllClose(mean, [3.0, 4.0])
    self.assertAllClose(stderr, [2.0 / 3 ** 0.5] * 2)
    self.assertAllClose(testing.max_abs_z_score(values, [3.0, 4.0 + 2.0 / 3 ** 0.5]), 1.0)
    with self.assertRaisesRegex(ValueError, "two replicates"):
      testing.mean_and_stderr([1.0])
    draws = testing.replicate(lambda s: tf.random.stateless_normal([2], seed=s), 3)
    self.assertEqual(draws.shape, (3, 2))
    self.assertNotAllClose(draws[0], draws[1])

  def test_gradient_problems_reports_bad_gradients(self):
    model, x = testing.linear_gaussian_problem()
    _, theta, phi = testing.estimator_gradients(tfp_zoo.estimators.iwae, model, x,
                                                seed=tf.constant([0, 1]), num_samples=2)
    self.assertEmpty(testing.gradient_problems(model, theta, phi))
    theta = [None, tf.zeros_like(theta[1]), theta[2] * float("nan")]
    self.assertLen(testing.gradient_problems(model, theta, phi), 3)

  def test_key_value_parsing(self):
    from tfp_zoo.registry import parse_key_values
    self.assertEqual(parse_key_values("a=1,b=0.5,c=true,d=100-50,e=tanh"),
                     {"a": 1, "b": 0.5, "c": True, "d": (100, 50), "e": "tanh"})
    self.assertEqual(parse_key_values(""), {})
    with self.assertRaisesRegex(ValueError, "expected key=value"):
      parse_key_values("a")


if __name__ == "__main__":
  tf.test.main()
