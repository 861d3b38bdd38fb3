"""--train_generative=false and --init_from: a new guide for a trained model,
θ frozen; refusals name the flag."""

import functools
import os

import numpy as np
import pytest
import tensorflow as tf

from tfp_zoo import testing, training

TINY = testing.TINY_VAE
_config = functools.partial(testing.tiny_train_config, train_steps=4, log_every=2,
                            checkpoint_every=4, eval_num_samples=3, eval_examples=10)


def _values(variables):
  return [v.numpy().copy() for v in variables]


class GuideOnlyRunTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    root = self.create_tempdir().full_path
    self.source = os.path.join(root, "vae")
    testing.trained_workdir(_config(self.source, seed=1))
    self.root = root

  def test_a_new_guide_for_a_trained_model_keeps_theta(self):
    source, _, _ = training.restore_model(self.source)
    guide_run = os.path.join(self.root, "guide")
    training.train(_config(guide_run, init_from=self.source, train_generative=False,
                           estimator="wake_sleep", num_samples=None, seed=2,
                           learning_rate=1e-2))
    trained, config, step = training.restore_model(guide_run)
    self.assertEqual(step, 4)
    self.assertFalse(config.train_generative)
    for a, b in zip(_values(source.generative_variables), trained.generative_variables):
      self.assertAllEqual(a, b.numpy())  # θ: the source's, untouched by 4 steps
    self.assertTrue(any(not np.array_equal(a, b.numpy()) for a, b in zip(
        _values(source.guide_variables), trained.guide_variables)))  # φ: trained on
    # The contract: θ's freezing cannot change within the run.
    with self.assertRaisesRegex(training.ConfigError, "train_generative"):
      training.train(_config(guide_run, init_from=self.source, train_generative=True,
                             estimator="wake_sleep", num_samples=None, seed=2,
                             train_steps=8, learning_rate=1e-2))

  @pytest.mark.slow  # a third run; the fast tier keeps θ with the same guide (above)
  def test_a_different_guide_takes_theta_only(self):
    source, _, _ = training.restore_model(self.source)
    run = os.path.join(self.root, "iaf")
    training.train(_config(run, init_from=self.source, train_generative=False,
                           model_hparams={**TINY, "guide": "iaf"}, train_steps=2,
                           checkpoint_every=2))
    trained, _, _ = training.restore_model(run)
    for a, b in zip(_values(source.generative_variables), trained.generative_variables):
      self.assertAllEqual(a, b.numpy())

  def test_refusals_name_the_flag(self):
    run = os.path.join(self.root, "bad")
    with self.assertRaisesRegex(training.ConfigError, r"--init_from=.*: its model has "
                                r"latent_sizes=\(4,\) \(this run: latent_sizes=\(6,\)\)"):
      training.train(_config(run, init_from=self.source,
                             model_hparams={**TINY, "latent_sizes": (6,)}))
    with self.assertRaisesRegex(training.ConfigError, "--init_from=/nonexistent: not a "
                                "directory"):
      training.train(_config(run, init_from="/nonexistent"))
    with self.assertRaisesRegex(training.ConfigError, "--train_generative=false trains only "
                                "the guide, and --estimator=alws gives --model=vae's guide "
                                "no gradient"):
      training.train(_config(run, estimator="alws", num_samples=None,
                             train_generative=False, estimator_options={
                                 "guide_update": "none", "num_sleep_samples": 16,
                                 "num_features": 8}))
    self.assertFalse(os.path.exists(os.path.join(run, "checkpoints")))


if __name__ == "__main__":
  tf.test.main()
