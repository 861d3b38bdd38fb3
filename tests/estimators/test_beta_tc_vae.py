"""β-TC-VAE: the decomposition against a Monte Carlo reference computed from the
exact aggregate posterior of a tiny dataset (the minibatch is the whole
dataset, so q(z) = (1/N) Σ_n q(z | x_n) is a known mixture), with the
minibatch-weighted estimator's known bias; and its refusals."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo import estimators, models, testing, training

tfd = tfp.distributions
N, D = 8, 2


def _problem():
  model = models.get("vae", input_shape=(4, 4, 1), latent_sizes=(D,), hidden_sizes=(8,),
                     seed=5)
  x = tf.cast(tf.random.stateless_uniform([N, 4, 4, 1], seed=[3, 4]) < 0.5, tf.float32)
  # Spread the codes (larger encoder weights) so the aggregate posterior is a
  # clearly non-factorised mixture: the total correlation to detect is not ~0.
  for layer in model.encoders[0].layers:
    layer.kernel.assign(3.0 * layer.kernel)
  return model, x


def _reference(model, x, num_samples=4000):
  """Per-sample MI and TC terms with the exact aggregate posterior (log N)."""
  q = model.guide(x).sample_distributions(seed=tf.constant([0, 0]))[0][0].distribution
  z = q.sample(num_samples // N, seed=[7, 7]).numpy().reshape(-1, 1, D)  # n balanced
  n = np.tile(np.arange(N), num_samples // N)
  pairs = q.log_prob(z).numpy()  # [S, N, D]: log q(z_s,d | x_j)
  own = pairs[np.arange(len(n)), n].sum(-1)
  log_q = tf.reduce_logsumexp(pairs.sum(-1), 1).numpy() - np.log(N)
  log_marginals = (tf.reduce_logsumexp(pairs, 1).numpy() - np.log(N)).sum(-1)
  return own - log_q, log_q - log_marginals


def _metrics(model, x, replicates=40, **options):
  def call(seed):
    metrics = estimators.beta_tc_vae(model, x, seed=seed, dataset_size=N, num_samples=50,
                                     **options).metrics
    return tf.stack([metrics["mutual_information"], metrics["total_correlation"]])
  return testing.replicate(call, replicates, seed=(2, 2))


class BetaTcVaeTest(tf.test.TestCase):

  def test_mws_estimates_match_the_exact_aggregate_posterior_up_to_the_known_bias(self):
    model, x = _problem()
    mi_ref, tc_ref = _reference(model, x)
    draws = _metrics(model, x)
    log_m = np.log(N)  # the minibatch is the dataset
    for column, reference, bias in ((0, mi_ref, log_m), (1, tc_ref, (D - 1) * log_m)):
      mean, stderr = testing.mean_and_stderr(draws[:, column])
      stderr = np.sqrt(stderr ** 2 + reference.var(ddof=1) / len(reference))
      self.assertLess(abs(mean - bias - reference.mean()) / stderr, 4.0, column)
      # Power: the same estimate read without its bias is refused.
      self.assertGreater(abs(mean - reference.mean()) / stderr, 10.0, column)
    self.assertGreater(tc_ref.mean(), 0.1)  # the latents are dependent: a real test

  def test_unit_weights_give_the_elbo_and_the_terms_sum_to_its_kl(self):
    model, x = _problem()
    seed = tf.constant([4, 4])
    tc = estimators.beta_tc_vae(model, x, seed=seed, dataset_size=100, num_samples=3,
                                beta=1.0)
    elbo = estimators.elbo(model, x, seed=seed, num_samples=3)
    self.assertAllClose(tc.generative_loss, elbo.generative_loss, rtol=1e-6)
    self.assertAllClose(tc.metrics["elbo"], elbo.metrics["elbo"], rtol=1e-6)
    # β > 1 penalises the (positive) total correlation further.
    heavy = estimators.beta_tc_vae(model, x, seed=seed, dataset_size=100, num_samples=3,
                                   beta=6.0)
    extra = 5.0 * heavy.metrics["total_correlation"]
    self.assertAllClose(heavy.generative_loss, tc.generative_loss + extra, rtol=1e-5)

  def test_refusals_name_the_cause(self):
    x = tf.zeros([3, 4, 4, 1])
    for hparams, message in ((dict(guide="iaf"), "per-dimension marginals"),
                             (dict(guide="full_covariance"), "per-dimension marginals"),
                             (dict(stochastic_layers=2, latent_sizes=(3, 2)),
                              "one latent part")):
      model = models.get("vae", input_shape=(4, 4, 1), hidden_sizes=(8,),
                         **{"latent_sizes": (3,), **hparams})
      with self.assertRaisesRegex(ValueError, message):
        estimators.beta_tc_vae(model, x, seed=tf.constant([0, 0]), dataset_size=10)
    model, _ = _problem()
    with self.assertRaisesRegex(ValueError, "dataset_size=0; expected the number"):
      estimators.beta_tc_vae(model, x, seed=tf.constant([0, 0]), dataset_size=0)
    with self.assertRaisesRegex(ValueError, "beta=-1.0; expected a finite number >= 0"):
      estimators.beta_tc_vae(model, x, seed=tf.constant([0, 0]), dataset_size=9, beta=-1.0)

  def test_the_training_loop_fills_in_the_dataset_size(self):
    config = training.TrainConfig(workdir="/nonexistent", estimator="beta_tc_vae")
    self.assertEqual(config.bind_estimator(dataset_size=123).options["dataset_size"], 123)
    self.assertNotIn("dataset_size", config.bind_estimator().options)
    with self.assertRaisesRegex(ValueError, "filled in by the training loop"):
      training.TrainConfig(workdir="/nonexistent", estimator="beta_tc_vae",
                           estimator_options={"dataset_size": 5}).bind_estimator()


if __name__ == "__main__":
  tf.test.main()
