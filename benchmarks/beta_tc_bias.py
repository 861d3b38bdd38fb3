r"""β-TC-VAE's minibatch estimators of q(z) against the exact aggregate posterior.

A VAE with D latent dimensions is trained briefly on N digits of the shipped
`mnist_small` (so its guide is a real one). Over those N examples the
aggregate posterior q(z) = (1/N) Σ_n q(z | x_n) and its marginals are computed
exactly, which gives the mutual information, total correlation (TC) and
dimension-wise KL by Monte Carlo over z ~ q(z | x_n) (every n, `--reference_draws`
each). Then `beta_tc_vae` is called on random minibatches of M of the N
examples with `sampling=mws` and `sampling=mss`: the table gives each
estimate's bias (mean over minibatches minus the exact value) and its standard
deviation across minibatches.

    python benchmarks/beta_tc_bias.py                      # N = 256, D = 3, M = 16, 64
    python benchmarks/beta_tc_bias.py --batch_sizes=16 --minibatches=50
"""

import json
import os
import time

from absl import app
from absl import flags

import common

flags.DEFINE_integer("dataset_size", 256, "N, the training examples.")
flags.DEFINE_integer("latent_size", 3, "D, latent dimensions.")
flags.DEFINE_list("batch_sizes", ["16", "64"], "Minibatch sizes M.")
flags.DEFINE_integer("train_steps", 1000, "ELBO steps before measuring.")
flags.DEFINE_integer("minibatches", 400, "Random minibatches per estimator and M.")
flags.DEFINE_integer("reference_draws", 200, "z draws per example for the exact values.")
flags.DEFINE_string("output", "/tmp/tfp_zoo_beta_tc_bias", "Directory for the JSON.")
FLAGS = flags.FLAGS

TERMS = ("mutual_information", "total_correlation", "dimension_kl")


def main(argv):
  del argv
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfp_zoo import datasets, estimators, models, training  # pylint: disable=g-import-not-at-top

  n, d = FLAGS.dataset_size, FLAGS.latent_size
  images = datasets.load_images("mnist_small", "train")[:n]
  x = tf.constant(datasets.binarize_fixed(images, seed=0), tf.float32)
  model = models.get("vae", input_shape=(28, 28, 1), latent_sizes=(d,), hidden_sizes=(200,))
  step = training.make_train_step(model, estimators.bind("elbo"),
                                  training.make_optimizer(1e-3, model.generative_variables),
                                  training.make_optimizer(1e-3, model.guide_variables))
  rng = np.random.default_rng(0)
  start = time.time()
  for s in range(FLAGS.train_steps):
    step(tf.gather(x, rng.choice(n, 64, replace=False)), tf.constant(s, tf.int64))
  print(f"trained {FLAGS.train_steps} ELBO steps in {time.time() - start:.0f} s", flush=True)

  # The exact decomposition over all N examples.
  q = model.guide(x).sample_distributions(seed=tf.constant([0, 0]))[0][0].distribution
  z = q.sample(FLAGS.reference_draws, seed=[7, 7])  # [S, N, D]
  own = tf.reduce_sum(q.log_prob(z), -1)            # [S, N]
  exact = {term: [] for term in TERMS}
  for s in range(FLAGS.reference_draws):
    pairs = q.log_prob(z[s][:, None, :])            # [N(i), N(j), D]
    log_q = tf.reduce_logsumexp(tf.reduce_sum(pairs, -1), 1) - np.log(n)
    log_marginals = tf.reduce_sum(tf.reduce_logsumexp(pairs, 1) - np.log(n), -1)
    # The VAE's standard normal prior.
    log_prior = tf.reduce_sum(-0.5 * z[s] ** 2 - 0.5 * np.log(2 * np.pi), -1)
    exact["mutual_information"].append((own[s] - log_q).numpy())
    exact["total_correlation"].append((log_q - log_marginals).numpy())
    exact["dimension_kl"].append((log_marginals - log_prior).numpy())
  exact = {k: float(np.mean(v)) for k, v in exact.items()}
  print("exact:", {k: round(v, 3) for k, v in exact.items()}, flush=True)

  rows = []
  for m in (int(b) for b in FLAGS.batch_sizes):
    for sampling in ("mws", "mss"):
      @tf.function(autograph=False)
      def call(batch, seed, sampling=sampling):
        metrics = estimators.beta_tc_vae(model, batch, seed=seed, dataset_size=n,
                                         sampling=sampling).metrics
        return tf.stack([metrics[t] for t in TERMS])
      draws = np.array([call(tf.gather(x, rng.choice(n, m, replace=False)),
                             tf.constant([i, m])).numpy()
                        for i in range(FLAGS.minibatches)])
      row = {"M": m, "sampling": sampling}
      for j, term in enumerate(TERMS):
        row[f"{term}_bias"] = float(draws[:, j].mean() - exact[term])
        row[f"{term}_bias_se"] = float(draws[:, j].std(ddof=1) / np.sqrt(len(draws)))
        row[f"{term}_sd"] = float(draws[:, j].std(ddof=1))
      rows.append(row)
      print(row, flush=True)

  os.makedirs(FLAGS.output, exist_ok=True)
  with open(os.path.join(FLAGS.output, "beta_tc_bias.json"), "w") as f:
    json.dump({"exact": exact, "rows": rows, "N": n, "D": d, "cpu": common.cpu_model()}, f,
              indent=2)
  print(f"\nN = {n}, D = {d}; exact MI {exact['mutual_information']:.2f}, TC "
        f"{exact['total_correlation']:.2f}, dimension-wise KL {exact['dimension_kl']:.2f} "
        f"nats; (D - 1) log N = {(d - 1) * np.log(n):.2f}. Host: {common.cpu_model()}\n")
  print("| M | sampling | TC bias | TC sd | MI bias | MI sd | dim-KL bias | dim-KL sd |")
  print("|---|---|---|---|---|---|---|---|")
  for r in rows:
    print(f"| {r['M']} | {r['sampling']} | {r['total_correlation_bias']:+.2f} ± "
          f"{r['total_correlation_bias_se']:.2f} | {r['total_correlation_sd']:.2f} | "
          f"{r['mutual_information_bias']:+.2f} | {r['mutual_information_sd']:.2f} | "
          f"{r['dimension_kl_bias']:+.2f} | {r['dimension_kl_sd']:.2f} |")


if __name__ == "__main__":
  app.run(main)
