r"""Denoising with matrix factorisation (Li et al. 2020, §5): train
`matrix_factorisation` on continuous MNIST by ALWS and by the ELBO for the same
number of steps, add Gaussian noise to test digits, denoise each by the MAP
estimate of z under the learned model (gradient ascent on log p(z, x_noisy)),
and compare W ẑ + b with the clean digits.

Prints a Markdown table (MSE per pixel against the clean digits), writes JSON
and a PNG with rows clean / noisy / denoised by each model.

    python benchmarks/alws_denoising.py --data_dir=../shared/data/mnist
"""

import json
import os
import time

from absl import app
from absl import flags

import common

common.define_mnist_flags()
flags.DEFINE_string("workdir_root", "/tmp/tfp_zoo_denoising", "One workdir per estimator "
                    "(resumed if there); the JSON and PNG go here too.")
flags.DEFINE_list("estimators", ["alws", "elbo"], "Estimators to compare.")
flags.DEFINE_integer("latent_size", 50, "Dictionary size.")
flags.DEFINE_enum("prior", "laplace", ["laplace", "exponential"], "Prior on the codes.")
flags.DEFINE_integer("train_steps", 3000, "Steps per estimator (batch 100).")
flags.DEFINE_integer("num_examples", 1000, "Noisy test digits.")
flags.DEFINE_float("noise", 0.3, "Standard deviation of the added Gaussian noise.")
flags.DEFINE_integer("map_steps", 500, "Adam steps of the MAP search.")
flags.DEFINE_string("alws_options", "", "ALWS options as key=value,... (e.g. "
                    "'bandwidth=heldout,ridge=1e-4').")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfp_zoo import datasets, inference, training  # pylint: disable=g-import-not-at-top
  from tfp_zoo.registry import parse_key_values  # pylint: disable=g-import-not-at-top

  data_dir = common.mnist_data_dir()
  clean = datasets.eval_images(
      datasets.load_images(FLAGS.dataset, "test", data_dir=data_dir)[:FLAGS.num_examples],
      binarization="none")
  noisy = clean + FLAGS.noise * tf.random.stateless_normal(clean.shape, seed=[4, 2]).numpy()
  rows, denoised = [], {}
  options = parse_key_values(FLAGS.alws_options)
  for estimator in FLAGS.estimators:
    config = training.TrainConfig(
        workdir=os.path.join(FLAGS.workdir_root, estimator), model="matrix_factorisation",
        model_hparams={"latent_size": FLAGS.latent_size, "prior": FLAGS.prior},
        estimator=estimator, num_samples=None if estimator == "alws" else 1,
        estimator_options=options if estimator == "alws" else {},
        dataset=FLAGS.dataset, data_dir=data_dir,
        binarization="none", train_steps=FLAGS.train_steps,
        log_every=max(FLAGS.train_steps // 10, 1), checkpoint_every=FLAGS.train_steps,
        eval_num_samples=100, eval_examples=200)
    start = time.perf_counter()
    result = common.train(config)
    seconds = time.perf_counter() - start
    model, _, _ = training.restore_model(config.workdir)
    z = inference.map_latents(model, tf.constant(noisy, tf.float32),
                              num_steps=FLAGS.map_steps)["z"]
    reconstruction = tf.reshape(model.dictionary(z), clean.shape).numpy()
    denoised[estimator] = reconstruction
    rows.append({"estimator": estimator, "train_seconds": seconds,
                 "mse": float(np.mean((reconstruction - clean) ** 2)),
                 "test_log_likelihood_k100": result["test"]["mean"]})
  noisy_mse = float(np.mean((noisy - clean) ** 2))

  print(f"\nDenoising {FLAGS.num_examples} test digits (noise sd {FLAGS.noise}) by the MAP "
        f"codes of a {FLAGS.latent_size}-element {FLAGS.prior} matrix factorisation, "
        f"{FLAGS.train_steps} training steps each\n")
  print("| trained by | MSE per pixel vs clean | train time | test log p(x), K=100 |")
  print("|---|---|---|---|")
  print(f"| (noisy input) | {noisy_mse:.4f} | - | - |")
  for r in rows:
    print(f"| {r['estimator']} | {r['mse']:.4f} | {r['train_seconds'] / 60:.1f} min | "
          f"{r['test_log_likelihood_k100']:.1f} |")
  os.makedirs(FLAGS.workdir_root, exist_ok=True)
  with open(os.path.join(FLAGS.workdir_root, "denoising.json"), "w") as f:
    json.dump({"noisy_mse": noisy_mse, "rows": rows}, f, indent=2)

  plt = common.pyplot()
  shown = min(10, FLAGS.num_examples)
  grid = [("clean", clean), ("noisy", noisy)] + [
      (f"{e} MAP", denoised[e]) for e in FLAGS.estimators]
  fig, axes = plt.subplots(len(grid), shown, figsize=(shown, len(grid) + 0.3), squeeze=False)
  for row, (label, images) in enumerate(grid):
    for col in range(shown):
      ax = axes[row, col]
      ax.imshow(np.clip(images[col, ..., 0], 0, 1), cmap="gray", vmin=0, vmax=1)
      ax.set_xticks([])
      ax.set_yticks([])
    axes[row, 0].set_ylabel(label, rotation=0, ha="right", va="center")
  path = os.path.join(FLAGS.workdir_root, "denoising.png")
  fig.savefig(path, dpi=100, bbox_inches="tight")
  print(f"\nwrote {path}")


if __name__ == "__main__":
  app.run(main)
