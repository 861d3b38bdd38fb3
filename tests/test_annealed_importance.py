"""AIS on the linear-Gaussian model: its estimate of p(x) is unbiased (the
ratio p̂(x)/p(x) averages to 1 per example, a z-test), and a version that
forgets the proposal's density, or whose HMC steps target the previous
temperature, fails the same test."""

from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
from absl.testing import parameterized

from tfp_zoo import evaluation, models, testing
from tfp_zoo.evaluation import annealed_importance

Z = 3.5  # per example, 8 examples: a wrong variant is far beyond it


def _z_scores(model, x, *, seed, num_chains=4000, **options):
  """(p̂/p − 1)/SE(p̂/p) per example, from K = num_chains independent chains:
  SE(p̂/p) = (p̂/p)·SE(log p̂), the delta method (`LogLikelihood.stderr`)."""
  result = annealed_importance.ais_log_likelihood(model, x, seed=tf.constant(seed),
                                                  num_chains=num_chains, **options)
  ratio = np.exp(result.log_likelihood.numpy() - model.exact_log_likelihood(x).numpy())
  return (ratio - 1.0) / (ratio * result.stderr.numpy())


def _sharp_problem():
  """A sharp posterior (latent 3, weights doubled, noise sd 0.5), and a guide
  that is the exact posterior with its mean shifted by 0.2."""
  model = models.LinearGaussian((4,), latent_size=3, seed=3)
  model.weight.assign(2.0 * model.weight)
  model.raw_scale.assign(tf.fill([4], float(np.log(np.expm1(0.5)))))  # noise sd 0.5
  model.set_guide_to_exact_posterior()
  model.guide_bias.assign_add(tf.fill([3], 0.2))
  return model, model.joint().sample(4, seed=[1, 2]).x


class AnnealedImportanceTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters("prior", "guide")
  @pytest.mark.slow  # 4000 chains of 200 steps per example
  def test_the_estimate_of_p_x_is_unbiased(self, proposal):
    # p̂/p averages to 1 over 4000 independent chains per example (8 examples).
    model, x = testing.linear_gaussian_problem()
    z = _z_scores(model, x, seed=[1, 7], num_steps=200, step_size=0.2, proposal=proposal)
    self.assertLess(np.max(np.abs(z)), Z, z)

  @pytest.mark.slow  # 4000 chains of 200 steps per example
  def test_a_version_without_the_proposal_density_fails(self):
    model, x = testing.linear_gaussian_problem()
    real = annealed_importance._start  # pylint: disable=protected-access

    def forgetful(*args):
      state, log_densities = real(*args)
      return state, lambda *z: (tf.zeros_like(log_densities(*z)[0]), log_densities(*z)[1])

    with mock.patch.object(annealed_importance, "_start", forgetful):
      z = _z_scores(model, x, seed=[1, 7], num_steps=200, step_size=0.2)
    self.assertGreater(np.max(np.abs(z)), 2 * Z, z)

  @parameterized.parameters(10, 100)
  @pytest.mark.slow  # 4000 chains of T steps, twice
  def test_each_transition_targets_its_own_temperature(self, num_steps):
    # From the shifted posterior, p̂/p averages to 1 over 4000 independent
    # chains per example. Carrying HMC's cached target from one temperature to
    # the next unchanged, as tfp.mcmc.sample_annealed_importance_chain does,
    # biases it low (measured with that chain here: 0.11 at T = 10, 0.88 at
    # T = 100; with ours, without `_retarget`: 0.07 and 0.87).
    model, x = _sharp_problem()
    options = dict(seed=[num_steps, 7], num_steps=num_steps, proposal="guide")
    z = _z_scores(model, x, **options)
    self.assertLess(np.max(np.abs(z)), 3.0, z)
    model, x = _sharp_problem()  # a new model: a new trace
    with mock.patch.object(annealed_importance, "_retarget", lambda results, *_: results):
      stale = _z_scores(model, x, **options)
    self.assertGreater(np.max(np.abs(stale)), 5.0, stale)

  def test_refuses_latents_that_are_not_real_vectors(self):
    x = tf.zeros([2, 6, 6, 1])
    for name, hparams in (("discrete_vae", {"num_latents": 3, "hidden_sizes": (4,)}),
                          ("hyperspherical_vae", {"latent_dim": 3, "hidden_sizes": (4,)}),
                          ("gaussian_mixture", {"num_components": 3})):
      model = models.get(name, input_shape=(6, 6, 1), **hparams)
      with self.assertRaisesRegex(ValueError, "ais: latent .* is not a real vector"):
        annealed_importance.ais_log_likelihood(model, x, seed=tf.constant([0, 0]))

  @pytest.mark.slow  # two more models' AIS traces; the fast tier runs the linear-Gaussian one
  def test_two_stochastic_layers_and_learned_priors_run(self):
    x = tf.cast(tf.random.stateless_uniform([3, 6, 6, 1], seed=[1, 2]) < 0.5, tf.float32)
    for hparams in ({"stochastic_layers": 2, "latent_sizes": (3, 2)},
                    {"prior": "vampprior", "prior_components": 3}):
      model = models.get("vae", input_shape=(6, 6, 1), hidden_sizes=(8,), **hparams)
      result = annealed_importance.ais_log_likelihood(model, x, seed=tf.constant([0, 1]),
                                                      num_chains=4, num_steps=5)
      self.assertAllEqual(result.log_likelihood.shape, [3])
      self.assertTrue(np.all(np.isfinite(result.log_likelihood.numpy())))

  def test_evaluation_ais_log_likelihood_is_the_same_estimate(self):
    # The public name: tfp_zoo.evaluation.ais_log_likelihood(model, x, *, seed,
    # num_samples, num_steps, ...), K = num_samples chains.
    model, x = testing.linear_gaussian_problem()
    ours = evaluation.ais_log_likelihood(model, x, seed=tf.constant([3, 4]), num_samples=8,
                                         num_steps=20, step_size=0.2)
    direct = annealed_importance.ais_log_likelihood(model, x, seed=tf.constant([3, 4]),
                                                    num_chains=8, num_steps=20, step_size=0.2)
    self.assertIsInstance(ours, evaluation.LogLikelihood)
    for a, b in zip(ours, direct):
      self.assertAllClose(a, b)
    other = evaluation.ais_log_likelihood(model, x, seed=tf.constant([3, 5]), num_samples=8,
                                          num_steps=20, step_size=0.2)
    self.assertNotAllClose(ours.log_likelihood, other.log_likelihood)


if __name__ == "__main__":
  tf.test.main()
