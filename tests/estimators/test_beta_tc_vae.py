"""β-TC-VAE: the decomposition against a Monte Carlo reference computed from the
exact aggregate posterior of a tiny dataset (the minibatch is the whole
dataset, so q(z) = (1/N) Σ_n q(z | x_n) is a known mixture), with the
minibatch-weighted estimator's known bias; the stratified estimator's density
unbiased over random minibatches; and its refusals."""

from unittest import mock

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo import estimators, models, testing, training
from tfp_zoo.estimators import total_correlation

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
                                     sampling="mws", **options).metrics
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

  def _density_z_score(self, num_batches=20000):
    """(mean − exact)/SE of the density estimate Σ_j w_ij q(z | x_j) of q(z) at a
    fixed z, for one example i in random minibatches of M = 4 out of N = 12,
    at a random position (the joint over D = 2, and the first marginal)."""
    n, m, d = 12, 4, 2
    rng = np.random.default_rng(0)
    locs, scales = rng.normal(0, 1.5, [n, d]), rng.uniform(0.4, 1.0, [n, d])
    z, anchor = np.array([0.3, -0.2]), 0
    log_q = tfd.Normal(locs, scales).log_prob(z).numpy()  # [N, D]
    exact = np.exp(log_q.sum(-1)).mean(), np.exp(log_q[:, 0]).mean()
    batches = np.stack([rng.permutation(np.r_[anchor, rng.choice(np.arange(1, n), m - 1,
                                                                  replace=False)])
                        for _ in range(num_batches)])  # [R, M], the anchor somewhere
    position = np.argmax(batches == anchor, axis=1)
    scores = []
    for column, pairs in enumerate((log_q.sum(-1)[batches], log_q[:, 0][batches])):
      rows = tf.constant(np.repeat(pairs[:, None, :], m, axis=1), tf.float32)  # [R, M, M]
      estimate = total_correlation.aggregate_log_density(rows, n, self.sampling).numpy()
      density = np.exp(estimate[np.arange(num_batches), position])
      mean, stderr = testing.mean_and_stderr(density)
      scores.append((mean - exact[column]) / stderr)
    return scores

  def test_stratified_density_is_unbiased_and_wrong_weights_are_not(self):
    self.sampling = "mss"
    for score in self._density_z_score():
      self.assertLess(abs(score), 4.0)
    # The minibatch-weighted estimate is biased (about q/N here) ...
    self.sampling = "mws"
    for score in self._density_z_score():
      self.assertLess(score, -10.0)
    # ... and so are stratification weights with the stratum's and the other
    # examples' weights swapped (their share no longer (N − 1)/N).
    real = total_correlation.log_sampling_weights
    def swapped(batch_size, dataset_size, sampling):
      w = real(batch_size, dataset_size, sampling)
      stratum = tf.cast(tf.roll(tf.eye(batch_size), 1, axis=1), tf.bool)
      others = tf.logical_not(tf.logical_or(stratum, tf.eye(batch_size, dtype=tf.bool)))
      return tf.where(stratum, w[0, 2], tf.where(others, w[0, 1], w))
    self.sampling = "mss"
    with mock.patch.object(total_correlation, "log_sampling_weights", swapped):
      for score in self._density_z_score():
        self.assertGreater(abs(score), 6.0)

  def test_sampling_defaults_to_mss_and_older_runs_keep_mws(self):
    model, x = _problem()
    seed = tf.constant([4, 4])
    default = estimators.beta_tc_vae(model, x, seed=seed, dataset_size=100)
    mss = estimators.beta_tc_vae(model, x, seed=seed, dataset_size=100, sampling="mss")
    mws = estimators.beta_tc_vae(model, x, seed=seed, dataset_size=100, sampling="mws")
    self.assertAllClose(default.generative_loss, mss.generative_loss)
    self.assertNotAllClose(mws.metrics["total_correlation"], mss.metrics["total_correlation"])
    self.assertEqual(training.config.ADDED_OPTION_LEGACY_VALUES["beta_tc_vae"],
                     {"sampling": "mws"})
    with self.assertRaisesRegex(ValueError, "sampling='mss' needs 2 <= batch size <= "
                                "dataset_size, got a batch of 8 and dataset_size=5"):
      estimators.beta_tc_vae(model, x, seed=seed, dataset_size=5)

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
    with self.assertRaisesRegex(ValueError, "^beta_tc_vae: dataset_size=0 must be an integer >= 1$"):
      estimators.beta_tc_vae(model, x, seed=tf.constant([0, 0]), dataset_size=0)
    with self.assertRaisesRegex(ValueError, "^beta_tc_vae: beta=-1.0 must be a finite number in \\[0, inf\\]$"):
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
