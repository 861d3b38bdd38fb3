"""β-TC-VAE: the ELBO with its KL term split and the total correlation weighted.

Chen, Li, Grosse & Duvenaud (2018), "Isolating sources of disentanglement in
variational autoencoders". With n the index of an example, q(z) = (1/N) Σ_n
q(z | x_n) the aggregate posterior and q(z_d) its marginals, the ELBO's KL term
decomposes as

    E_{p(n)} KL(q(z | n) ‖ p(z))
        = E_q[log q(z | n) − log q(z)]              index-code MI
        + E_q[log q(z) − log Π_d q(z_d)]            total correlation (TC)
        + E_q[log Π_d q(z_d) − log p(z)]            dimension-wise KL
                                                    (Σ_d KL(q(z_d) ‖ p(z_d)) for a
                                                    factorised prior)

and the objective is E_q[log p(x | z)] − α·MI − β·TC − γ·dimension-wise KL;
α = β = γ = 1 is the ELBO (exactly: the three estimates telescope).

log q(z) and log q(z_d) at a sample z_i of example i are estimated from the
minibatch {x_j}, j = 1..M, as log Σ_j w_ij q(z_i | x_j) (and the same per
dimension), with the weights of one of Chen et al.'s two estimators
(`sampling`):

* 'mss', minibatch stratified sampling (§C.2, the default): w_ii = 1/N for
  the example's own term, w_ij = (N − M + 1)/(N (M − 1)) for one other example
  (j = i + 1 mod M) and 1/(M − 1) for the rest. The weights sum to 1 with the
  others' share (N − 1)/N, so for a minibatch drawn uniformly the density
  estimate Σ_j w_ij q(z_i | x_j) is unbiased for q(z_i) = (1/N) Σ_n q(z_i | n)
  (tested); its log is biased low only by Jensen's gap.
* 'mws', minibatch-weighted sampling (§C.1; runs saved before 'mss' keep it):
  w_ij = 1/(N M) for every j. Its density estimate averages to
  q(z_i|x_i)/(N M) + (M − 1)/(N M) · (the other examples' mean density), which is
  q(z_i)/N when the posteriors overlap and q(z_i)/M when each example's
  posterior stands alone. So log q(z) and each log q(z_d) are understated by
  between log M and log N, and TC = log q(z) − Σ_d log q(z_d) is overstated by
  about (D − 1) log N plus up to log(N/M), depending on the guide: the
  per-dimension marginals overlap more than the joint. Measured on a VAE
  whose aggregate posterior is computed exactly over its N = 256 training
  examples (D = 3, `benchmarks/beta_tc_bias.py`, docs/results/beta-tc-vae.md):
  MWS overstates TC by 12.2 nats at M = 16 and 11.8 at M = 64 (the exact TC is
  1.2; 2 log 256 = 11.1) and understates the dimension-wise KL by about 16;
  MSS's TC is off by +0.6 nats at M = 16 and −0.04 at M = 64, with the same
  or a smaller spread across minibatches. The MI and dimension-wise KL estimates
  shift by similar amounts in the other direction, and the three still sum to
  the ELBO's KL, so with α = β = γ = 1 nothing changes; with β ≠ 1 MWS's bias
  depends on the guide and so changes the φ-gradient. N is the dataset size:
  the training loop fills `dataset_size` in; from Python it is an argument.

The per-dimension marginals need a factorised guide q(z | x) = Π_d q(z_d | x)
(a diagonal Gaussian): full-covariance and IAF guides are refused, as are
models with more than one latent part.
"""

from __future__ import annotations

import math

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo.estimators import base, option_rules as rules
from tfp_zoo.estimators.spec import register
from tfp_zoo.models import base as models_base

tfd = tfp.distributions

__all__ = ["beta_tc_vae", "check_factorised_guide", "aggregate_log_density", "SAMPLINGS"]

SAMPLINGS = ("mss", "mws")


def log_sampling_weights(batch_size: int, dataset_size: int, sampling: str) -> tf.Tensor:
  """log w_ij [M, M]: the weight of q(z_i | x_j) in the estimate of q(z_i)."""
  m, n = batch_size, float(dataset_size)
  if sampling == "mws":
    return tf.fill([m, m], -math.log(n * m))
  if m == 1:
    return tf.fill([1, 1], -math.log(n))  # only the own term: unbiased only if N = 1
  others = tf.fill([m, m], -math.log(m - 1))
  own = tf.eye(m, dtype=tf.bool)
  stratum = tf.cast(tf.roll(tf.eye(m), shift=1, axis=1), tf.bool)  # j = i + 1 mod M
  strat_weight = (n - m + 1) / (n * (m - 1))
  log_strat = math.log(strat_weight) if strat_weight > 0 else -math.inf
  return tf.where(own, -math.log(n), tf.where(stratum, log_strat, others))


def aggregate_log_density(log_q_pairs: tf.Tensor, dataset_size: int,
                          sampling: str = "mss") -> tf.Tensor:
  """log q̂(z_i) from log q(z_i | x_j) [..., M(i), M(j)] over a minibatch.

  Chen et al. (2018) §C: 'mss' (stratified, unbiased for the density) or
  'mws' (minibatch-weighted). Returns [..., M].
  """
  batch_size = log_q_pairs.shape[-1]
  if batch_size is None:
    raise ValueError("beta_tc_vae needs a static batch size")
  weights = log_sampling_weights(int(batch_size), dataset_size, sampling)
  return tf.reduce_logsumexp(log_q_pairs + tf.cast(weights, log_q_pairs.dtype), axis=-1)


def check_factorised_guide(dist: tfd.Distribution,
                           estimator: str = "beta_tc_vae") -> tfd.Distribution:
  """The per-dimension distribution of a factorised guide, or ValueError.

  Duck-typed on `tfd.Independent` (TFP's non-composite Independent is not a
  subclass of the public class).
  """
  inner = getattr(dist, "distribution", None)
  ndims = getattr(dist, "reinterpreted_batch_ndims", None)
  ndims = None if ndims is None else tf.get_static_value(ndims)
  if (ndims != 1 or inner is None
      or inner.event_shape.rank != 0 or getattr(dist, "bijector", None) is not None):
    raise ValueError(
        f"{estimator} needs per-dimension marginals of the guide, i.e. a factorised "
        f"(diagonal) q(z | x); got {type(dist).__name__.lstrip('_')}, which is not a "
        "product over dimensions (e.g. a full-covariance, flow or spherical guide): "
        "use guide=diagonal")
  return inner


# Per-dimension marginals: real latents in one part with a factorised guide.
@register("beta_tc_vae", latents=("real",), supplied_by_loop=("dataset_size",),
          rules={"num_samples": rules.integer(1), "dataset_size": rules.integer(1),
                 "beta": rules.number(0), "alpha": rules.number(0), "gamma": rules.number(0),
                 "sampling": rules.one_of(*SAMPLINGS)},
          # q(z) was estimated by minibatch-weighted sampling before 'mss'.
          legacy_added_options={"sampling": "mws"},
          summary=("β-TC-VAE (Chen et al. 2018): the ELBO's KL split into index-code mutual "
                   "information + total correlation + dimension-wise KL, weighted α, β, γ; log"
                   " q(z) and log q(z_d) from the minibatch by stratified sampling "
                   "(`sampling=mss`, unbiased for the density) or minibatch-weighted sampling "
                   "(`sampling=mws`, which overstates TC by about (D−1) log N, depending on "
                   "the guide; runs saved before `mss` keep `mws`), with the dataset size N "
                   "filled in by the training loop (`dataset_size=` from Python); measured "
                   "biases under \"β-TC-VAE's estimators of q(z)\". Needs one latent part with a"
                   " diagonal guide (refuses `guide=full_covariance|iaf`)"))
def beta_tc_vae(model: models_base.LatentVariableModel, x: tf.Tensor, *, seed: tf.Tensor,
                dataset_size: int, num_samples: int = 1, beta: float = 6.0,
                alpha: float = 1.0, gamma: float = 1.0,
                sampling: str = "mss") -> base.Objectives:
  """Negative β-TC-VAE objective as both losses (reparameterised).

  Args:
    model: a model with one real latent part and a factorised guide.
    x: a batch of M observations.
    seed: stateless seed, int32[2].
    dataset_size: N, the number of training examples (N ≥ M).
    num_samples: K guide samples per example, averaged.
    beta: weight of the total correlation (the paper's β; 1 gives the ELBO).
    alpha: weight of the index-code mutual information.
    gamma: weight of the dimension-wise KL.
    sampling: how q(z) is estimated from the minibatch: 'mss' (stratified,
      unbiased for the density) or 'mws' (minibatch-weighted, which overstates
      the TC by about (D − 1) log N; see the module docstring).

  Returns:
    `Objectives` with metrics 'elbo', 'mutual_information', 'total_correlation'
    and 'dimension_kl' (minibatch estimates, batch means).

  #### References

  Chen, R. T. Q., Li, X., Grosse, R. & Duvenaud, D. (2018). Isolating sources of
  disentanglement in variational autoencoders. NeurIPS. Appendix C.
  """
  x, num_samples = base.check_particles(model, x, num_samples, "beta_tc_vae")
  batch_size = x.shape[0]
  if sampling == "mss" and batch_size is not None and not 2 <= batch_size <= dataset_size:
    raise ValueError(f"beta_tc_vae: sampling='mss' needs 2 <= batch size <= dataset_size, "
                     f"got a batch of {batch_size} and dataset_size={dataset_size}")
  guide = base.reparameterized_guide(model, x, "beta_tc_vae")
  joint = model.joint()
  names = base.latent_names(joint)
  if len(names) != 1:
    raise ValueError(f"beta_tc_vae needs a model with one latent part; "
                     f"{type(model).__name__} has {names}")
  guide_dists, latents = guide.sample_distributions(num_samples, seed=seed)
  per_dimension = check_factorised_guide(guide_dists[0])  # batch [M, D]
  z = latents[0]  # [K, M, D], reparameterised
  dists, _ = joint.sample_distributions(value=[z, x])
  log_prior = dists[0].log_prob(z)                 # [K, M]
  log_likelihood = dists[-1].log_prob(x)           # [K, M]
  # log q(z_{k,i,d} | x_j): [K, M(i), M(j), D]; its diagonal i = j is log q(z | x_i).
  log_q_pairs = per_dimension.log_prob(z[:, :, None, :])
  log_guide = tf.linalg.diag_part(tf.reduce_sum(log_q_pairs, -1))
  log_q_aggregate = aggregate_log_density(tf.reduce_sum(log_q_pairs, -1), dataset_size,
                                          sampling)                       # [K, M]
  log_q_marginals = tf.reduce_sum(aggregate_log_density(  # over [K, D, M(i), M(j)]
      tf.transpose(log_q_pairs, [0, 3, 1, 2]), dataset_size, sampling), 1)  # [K, M]

  mutual_information = log_guide - log_q_aggregate
  total_correlation = log_q_aggregate - log_q_marginals
  dimension_kl = log_q_marginals - log_prior
  objective = (log_likelihood - alpha * mutual_information - beta * total_correlation
               - gamma * dimension_kl)
  loss = -tf.reduce_mean(objective)
  mean = lambda t: tf.stop_gradient(tf.reduce_mean(t))
  return base.Objectives(loss, loss, {
      "elbo": mean(log_likelihood + log_prior - log_guide),
      "mutual_information": mean(mutual_information),
      "total_correlation": mean(total_correlation),
      "dimension_kl": mean(dimension_kl)})
