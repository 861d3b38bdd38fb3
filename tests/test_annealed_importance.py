"""AIS on the linear-Gaussian model: its estimate of p(x) is unbiased (the
ratio p̂(x)/p(x) averages to 1 per example, a z-test), and a version that
forgets the proposal's density fails the same test."""

from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo import annealed_importance, evaluation, models, testing

Z = 3.5  # per example, 8 examples: a wrong variant is far beyond it


def _ratios(model, x, **options):
  """exp(log p̂(x) − log p(x)) over 30 seeds: [seeds, batch]."""
  exact = model.exact_log_likelihood(x).numpy()
  estimates = np.stack([annealed_importance.ais_log_likelihood(
      model, x, seed=tf.constant([i, 7]), num_chains=16, num_steps=200, step_size=0.2,
      **options).log_likelihood.numpy() for i in range(30)])
  return np.exp(estimates - exact)


def _max_abs_z(ratios):
  mean, stderr = ratios.mean(0), ratios.std(0, ddof=1) / np.sqrt(len(ratios))
  return float(np.max(np.abs(mean - 1.0) / stderr))


class AnnealedImportanceTest(tf.test.TestCase):

  @pytest.mark.slow  # statistical, ~30-60 s: .ci/run's second step
  def test_the_estimate_of_p_x_is_unbiased(self):
    model, x = testing.linear_gaussian_problem()
    for proposal in ("prior", "guide"):
      ratios = _ratios(model, x, proposal=proposal)
      self.assertLess(_max_abs_z(ratios), Z, proposal)
      self.assertLess(float(ratios.std(0).max()), 1.0)  # tight enough to have power

  @pytest.mark.slow  # statistical, ~30-60 s: .ci/run's second step
  def test_a_version_without_the_proposal_density_fails(self):
    model, x = testing.linear_gaussian_problem()
    real = tfp.mcmc.sample_annealed_importance_chain

    def forgetful(**kwargs):
      target = kwargs["target_log_prob_fn"]
      return real(**dict(kwargs, proposal_log_prob_fn=lambda *z: tf.zeros_like(target(*z))))

    with mock.patch.object(annealed_importance.tfp.mcmc, "sample_annealed_importance_chain",
                           side_effect=forgetful):
      self.assertGreater(_max_abs_z(_ratios(model, x)), Z)

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
    # The name: tfp_zoo.evaluation.ais_log_likelihood(model, x, *, seed,
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
