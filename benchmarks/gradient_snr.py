r"""Gradient signal-to-noise ratio against the number of samples (Rainforth et
al. 2018, "Tighter variational bounds are not necessarily better", Fig. 1-3).

On the 784-200-200-50 MNIST VAE, after a short IWAE warm-up run, measures
SNR = |mean| / sd of every gradient component over independent draws, averaged
over components, for the guide (φ) and the model (θ), for

    iwae    K = T samples                     (φ-SNR falls as O(1/√K))
    miwae   M = √T groups of K = √T           (φ-SNR holds)
    piwae   θ: IWAE over T; φ: MIWAE √T × √T
    rws     wake-θ and wake-φ with K = T
    dreg    doubly reparameterised φ, K = T   (φ-SNR rises)

where T is the number of samples per example. Prints a Markdown table and
writes a JSON file and a PNG plot.

    python benchmarks/gradient_snr.py --data_dir=../shared/data/mnist
"""

import json
import math
import os
import time

from absl import app
from absl import flags

import common

common.define_mnist_flags()
flags.DEFINE_string("workdir", "/tmp/tfp_zoo_snr_vae", "Warm-up run (resumed if there).")
flags.DEFINE_integer("warmup_steps", 2000, "IWAE (K=5) steps before measuring.")
flags.DEFINE_list("estimators", ["iwae", "miwae", "piwae", "rws", "dreg"], "Estimators.")
flags.DEFINE_list("budgets", ["1", "4", "16", "64", "256"], "Samples per example T "
                  "(perfect squares, for the M = K = √T groups).")
flags.DEFINE_integer("batch_size", 20, "Test digits in the gradient batch.")
flags.DEFINE_integer("num_draws", 100, "Independent gradient draws per point.")
flags.DEFINE_string("output", "/tmp/tfp_zoo_snr", "Directory for the JSON and PNG.")
FLAGS = flags.FLAGS


def _options(estimator, budget):
  root = math.isqrt(budget)
  if root * root != budget:
    raise app.UsageError(f"--budgets: {budget} is not a perfect square")
  if estimator in ("miwae", "piwae"):
    return {"num_samples": root, "num_groups": root}
  return {"num_samples": budget}


def main(argv):
  del argv
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfp_zoo import datasets, estimators, evaluation, training  # pylint: disable=g-import-not-at-top

  budgets = [int(b) for b in FLAGS.budgets]
  for e in FLAGS.estimators:
    estimators.get(e)
    for b in budgets:
      _options(e, b)
  config = training.TrainConfig(
      workdir=FLAGS.workdir, model="vae", estimator="iwae", num_samples=5,
      dataset=FLAGS.dataset, data_dir=common.mnist_data_dir(),
      train_steps=FLAGS.warmup_steps, log_every=500, checkpoint_every=FLAGS.warmup_steps,
      eval_num_samples=100, eval_examples=500)
  warmup = training.train(config)
  model, _, step = training.restore_model(FLAGS.workdir)
  images = datasets.load_images(config.dataset, "test", data_dir=config.data_dir)
  x = tf.constant(datasets.eval_images(images[:FLAGS.batch_size],
                                       binarization="dynamic", seed=0))
  rows = []
  for estimator in FLAGS.estimators:
    for budget in budgets:
      start = time.perf_counter()
      snr = evaluation.gradient_snr(
          estimators.get(estimator), model, x, num_draws=FLAGS.num_draws,
          seed=tf.constant([budget, 17]), **_options(estimator, budget))
      rows.append({"estimator": estimator, "T": budget, **_options(estimator, budget),
                   "guide_snr": snr.guide_mean, "model_snr": snr.generative_mean,
                   "ess": snr.ess, "seconds": time.perf_counter() - start})
      print(f"{estimator:6s} T={budget:4d}: guide SNR {snr.guide_mean:.4f}, model SNR "
            f"{snr.generative_mean:.4f} ({rows[-1]['seconds']:.1f} s)", flush=True)

  print(f"\nGradient SNR (mean over components of |mean|/sd over {FLAGS.num_draws} draws), "
        f"784-200-200-50 VAE after {step} IWAE steps (test log p(x) "
        f"{warmup['test']['mean']:.1f} at K=100), batch of {FLAGS.batch_size} test digits\n")
  header = " | ".join(f"T={b}" for b in budgets)
  for key, title in (("guide_snr", "guide (φ) SNR"), ("model_snr", "model (θ) SNR")):
    print(f"| {title} | {header} |")
    print("|---" * (len(budgets) + 1) + "|")
    for estimator in FLAGS.estimators:
      values = [r[key] for r in rows if r["estimator"] == estimator]
      print(f"| {estimator} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
    print()
  os.makedirs(FLAGS.output, exist_ok=True)
  with open(os.path.join(FLAGS.output, "gradient_snr.json"), "w") as f:
    json.dump({"step": step, "rows": rows}, f, indent=2)

  plt = common.pyplot()
  fig, axes = plt.subplots(1, 2, figsize=(10, 4))
  for ax, key, title in zip(axes, ("guide_snr", "model_snr"),
                            ("guide (inference network) φ", "model (generative network) θ")):
    for estimator in FLAGS.estimators:
      values = [r[key] for r in rows if r["estimator"] == estimator]
      ax.plot(budgets, values, marker="o", label=estimator)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("samples per example T (K = T; M = K = √T for miwae/piwae)")
    ax.set_ylabel("mean gradient SNR")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
  axes[0].legend()
  fig.suptitle(f"Gradient SNR vs samples, MNIST VAE after {step} IWAE steps")
  path = os.path.join(FLAGS.output, "gradient_snr.png")
  fig.savefig(path, dpi=120, bbox_inches="tight")
  print(f"wrote {path}")


if __name__ == "__main__":
  app.run(main)
