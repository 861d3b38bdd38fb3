"""The test helpers: sampled cross-products (and the slow tier's marks), and
finished runs shared between tests."""

import dataclasses
import importlib.util
import os
from unittest import mock

import tensorflow as tf

from tfp_zoo import testing, training

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRODUCT = [dict(model=m, estimator=e, k=k) for m in ("a", "b", "c", "d", "e")
           for e in ("x", "y", "z") for k in (1, 5)]
MEETS = (("estimator", "model", 2), ("model", "estimator", 2))


class SampleProductTest(tf.test.TestCase):

  def test_the_sample_is_fixed_and_meets_its_cover(self):
    with mock.patch.dict(os.environ, {testing.FULL_PRODUCT_ENV: ""}):
      cases = testing.sample_product(PRODUCT, meets=MEETS, size=4)
      self.assertEqual(cases, testing.sample_product(PRODUCT, meets=MEETS, size=4))
    self.assertEqual(testing.sampled(cases), cases)
    for key, other, n in MEETS:
      for value in {c[key] for c in PRODUCT}:
        self.assertGreaterEqual(len({c[other] for c in cases if c[key] == value}), n)
    self.assertLess(len(cases), len(PRODUCT) / 2)
    self.assertEqual(cases[0]["testcase_name"], "_".join(
        str(cases[0][k]) for k in ("model", "estimator", "k")))
    # Without a cover, `size` cases drawn by the seed; another seed, another draw.
    with mock.patch.dict(os.environ, {testing.FULL_PRODUCT_ENV: ""}):
      drawn = testing.sample_product(PRODUCT, size=3)
      self.assertLen(drawn, 3)
      self.assertNotEqual(drawn, testing.sample_product(PRODUCT, size=3, seed=1))

  def test_the_environment_variable_adds_the_rest_marked_for_the_slow_tier(self):
    with mock.patch.dict(os.environ, {testing.FULL_PRODUCT_ENV: "1"}):
      self.assertTrue(testing.full_product())
      cases = testing.sample_product(PRODUCT, meets=MEETS, size=4)
    self.assertLen(cases, len(PRODUCT))
    rest = [c for c in cases if c not in testing.sampled(cases)]
    self.assertNotEmpty(rest)
    self.assertTrue(all(c["testcase_name"].endswith(testing.FULL_PRODUCT_SUFFIX)
                        for c in rest))
    with mock.patch.dict(os.environ, {testing.FULL_PRODUCT_ENV: "0"}):
      self.assertFalse(testing.full_product())
    # conftest.py marks those cases slow (before -m "not slow" deselects).
    spec = importlib.util.spec_from_file_location("root_conftest",
                                                  os.path.join(ROOT, "conftest.py"))
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)
    items = [mock.Mock(), mock.Mock()]
    items[0].name = "test_x_a_x_1"
    items[1].name = "test_x_a_x_5" + testing.FULL_PRODUCT_SUFFIX
    conftest.pytest_collection_modifyitems(None, items)
    items[0].add_marker.assert_not_called()
    self.assertEqual(items[1].add_marker.call_args[0][0].name, "slow")

  def test_names_must_be_unique(self):
    with self.assertRaisesRegex(ValueError, "two cases have the same name; pass name="):
      testing.sample_product(PRODUCT, name=lambda case: case["model"])


class TrainedWorkdirTest(tf.test.TestCase):

  def test_one_training_run_per_configuration_copied_where_asked(self):
    root = self.create_tempdir().full_path
    config = testing.tiny_train_config(os.path.join(root, "a"), train_steps=2,
                                       checkpoint_every=2, eval_examples=5, seed=11)
    real_train = training.train
    with mock.patch.object(training, "train", side_effect=real_train) as train:
      first = testing.trained_workdir(config)
      second = testing.trained_workdir(dataclasses.replace(config,
                                                           workdir=os.path.join(root, "b")))
    self.assertEqual(train.call_count, 1)
    self.assertEqual(first, second)
    self.assertEqual(first["step"], 2)
    self.assertFalse(os.path.exists(os.path.join(root, "b", "lock")))
    # The copy is a run of its own: it resumes where the original stopped.
    resumed = training.train(dataclasses.replace(config, workdir=os.path.join(root, "b"),
                                                 train_steps=3))
    self.assertEqual(resumed["step"], 3)
    self.assertEqual(training.restore_model(os.path.join(root, "a"))[2], 2)


if __name__ == "__main__":
  tf.test.main()
