"""Gradient SNR reproduces Rainforth et al.: the IWAE guide SNR falls with K, DReG's does not."""

import numpy as np
import tensorflow as tf

from tfp_zoo import estimators, evaluation, testing


class GradientSnrTest(tf.test.TestCase):

  def test_iwae_guide_snr_falls_with_k_and_dreg_does_not(self):
    model, x = testing.linear_gaussian_problem()
    snr = lambda e, k: evaluation.gradient_snr(e, model, x, num_draws=200,
                                               seed=tf.constant([k, 1]), num_samples=k)
    iwae = {k: snr(estimators.iwae, k) for k in (1, 100)}
    dreg = {k: snr(estimators.dreg, k) for k in (1, 100)}
    # Measured: IWAE 1.25 -> 0.10, DReG 1.42 -> 0.98 (200 draws each).
    self.assertLess(iwae[100].guide_mean, 0.25 * iwae[1].guide_mean)
    self.assertGreater(dreg[100].guide_mean, 5 * iwae[100].guide_mean)
    self.assertGreater(dreg[100].guide_mean, 0.5 * dreg[1].guide_mean)
    # θ's SNR grows with K for IWAE (the other half of the finding).
    self.assertGreater(iwae[100].generative_mean, iwae[1].generative_mean)
    self.assertBetween(iwae[100].ess, 1.0, 100.0)
    self.assertEqual(iwae[1].generative.shape, (4 * 2 + 4 + 4,))

  def test_snr_of_a_known_distribution(self):
    # An "estimator" whose gradient is 2 + N(0, 1) noise: SNR ≈ 2 per component.
    model, x = testing.linear_gaussian_problem()

    def noisy(model, x, *, seed):
      noise = tf.random.stateless_normal([1], seed=seed)[0]
      loss = tf.reduce_sum((2.0 + noise) * model.bias) + 0.0 * tf.reduce_sum(
          model.weight) + 0.0 * tf.reduce_sum(model.raw_scale)
      return estimators.Objectives(loss, loss * 0.0, {})

    result = evaluation.gradient_snr(noisy, model, x, num_draws=400, seed=tf.constant([0, 0]))
    bias_snr = result.generative[4 * 2:4 * 2 + 4]
    self.assertAllClose(bias_snr, [2.0] * 4, rtol=0.15)
    self.assertTrue(np.isnan(result.ess))

  def test_bad_num_draws(self):
    model, x = testing.linear_gaussian_problem()
    with self.assertRaisesRegex(ValueError, "num_draws must be an integer >= 2"):
      evaluation.gradient_snr(estimators.iwae, model, x, num_draws=1, seed=tf.constant([0, 0]))


if __name__ == "__main__":
  tf.test.main()
