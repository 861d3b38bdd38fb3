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
minibatch {x_j}, j = 1..M, by minibatch-weighted sampling (the paper's MWS,
§C.1):

    log q(z_i) ≈ logsumexp_j log q(z_i | x_j) − log(N M),

and the same per dimension. Its known bias: with the minibatch the whole
dataset (M = N), logsumexp_j log q(z_i | x_j) − log N is exact, so MWS
understates log q(z) and each log q(z_d) by log M: the MI estimate is the true
MI plus log M, the TC estimate the true TC plus (D − 1) log M (D latent
dimensions), and the dimension-wise KL the true one minus D log M; the sum
stays exact (tested). N is the
dataset size: the training loop fills `dataset_size` in; from Python it is an
argument.

The per-dimension marginals need a factorised guide q(z | x) = Π_d q(z_d | x)
(a diagonal Gaussian): full-covariance and IAF guides are refused, as are
models with more than one latent part.
"""

from __future__ import annotations

import math

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_zoo.estimators import base
from tfp_zoo.models import base as models_base

tfd = tfp.distributions

__all__ = ["beta_tc_vae", "check_factorised_guide"]


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


@base.entry_point("beta_tc_vae")
def beta_tc_vae(model: models_base.LatentVariableModel, x: tf.Tensor, *, seed: tf.Tensor,
                dataset_size: int, num_samples: int = 1, beta: float = 6.0,
                alpha: float = 1.0, gamma: float = 1.0) -> base.Objectives:
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

  Returns:
    `Objectives` with metrics 'elbo', 'mutual_information', 'total_correlation'
    and 'dimension_kl' (MWS estimates, batch means).
  """
  x, num_samples = base.check_inputs(model, x, num_samples, "beta_tc_vae")
  for name, value in (("beta", beta), ("alpha", alpha), ("gamma", gamma)):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        math.isfinite(value) and value >= 0):
      raise ValueError(f"beta_tc_vae: {name}={value!r}; expected a finite number >= 0")
  if isinstance(dataset_size, bool) or not isinstance(dataset_size, int) or dataset_size < 1:
    raise ValueError(f"beta_tc_vae: dataset_size={dataset_size!r}; expected the number of "
                     "training examples (a positive integer)")
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
  batch = tf.cast(tf.shape(x)[0], tf.float32)
  log_nm = tf.math.log(float(dataset_size) * batch)
  log_q_aggregate = tf.reduce_logsumexp(tf.reduce_sum(log_q_pairs, -1), axis=2) - log_nm
  log_q_marginals = tf.reduce_sum(tf.reduce_logsumexp(log_q_pairs, axis=2) - log_nm, -1)

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
