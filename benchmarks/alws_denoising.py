r"""Denoising with matrix factorisation (Li et al. 2020, §5): train
`matrix_factorisation` by ALWS and by the ELBO for the same number of steps
(and the ELBO again for ALWS's wall-clock time), corrupt test digits, denoise
each by the MAP estimate of z under the learned model (gradient ascent on
log p(z, x_noisy)), and compare the reconstruction with the clean digits.

Two settings (`--likelihood`):

- gaussian: the package's Laplace-code factorisation on continuous MNIST,
  Gaussian noise of sd --noise added; metric: MSE per pixel.
- bernoulli: the authors' (`run_mf.py` of kevin-w-li/al-ws): uniform codes,
  100 non-negative dictionary elements with a Gamma(0.9, 0.3) prior, binary
  pixels, the first 5000 training digits binarised at ½, ALWS with N = 1500
  sleep samples and exact kernel ridge regression, the ELBO with a
  logit-normal guide; --flip of the test pixels flipped; metric: the pixel
  error rate of the MAP reconstruction (probabilities thresholded at ½).

Prints a Markdown table, writes JSON and a PNG with rows clean / noisy /
denoised by each model. `--train_steps` is the budget flag.

    python benchmarks/alws_denoising.py --data_dir=../shared/data/mnist
    python benchmarks/alws_denoising.py --likelihood=bernoulli --train_steps=1500
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
flags.DEFINE_enum("likelihood", "gaussian", ["gaussian", "bernoulli"],
                  "gaussian: continuous MNIST and added noise; bernoulli: the authors' "
                  "binary factorisation and flipped pixels.")
flags.DEFINE_integer("latent_size", None, "Dictionary size (default 50, or 100 for "
                     "bernoulli).")
flags.DEFINE_enum("prior", None, ["laplace", "exponential", "uniform"], "Prior on the "
                  "codes (default laplace, or uniform for bernoulli).")
flags.DEFINE_integer("train_examples", None, "Training digits (default all, or 5000 for "
                     "bernoulli).")
flags.DEFINE_float("flip", 0.1, "Share of test pixels flipped (bernoulli).")
flags.DEFINE_boolean("equal_time", True, "Also train the ELBO for ALWS's wall-clock time.")
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
  from tfp_zoo import datasets, training  # pylint: disable=g-import-not-at-top
  from tfp_zoo.evaluation import inference
  from tfp_zoo.registry import parse_key_values  # pylint: disable=g-import-not-at-top

  data_dir = common.mnist_data_dir()
  bernoulli = FLAGS.likelihood == "bernoulli"
  latent_size = FLAGS.latent_size or (100 if bernoulli else 50)
  prior = FLAGS.prior or ("uniform" if bernoulli else "laplace")
  train_examples = FLAGS.train_examples if FLAGS.train_examples is not None else (
      5000 if bernoulli else 0)
  images = datasets.eval_images(
      datasets.load_images(FLAGS.dataset, "test", data_dir=data_dir)[:FLAGS.num_examples],
      binarization="none")
  if bernoulli:
    clean = (images > 0.5).astype(np.float32)
    flips = tf.random.stateless_uniform(clean.shape, seed=[4, 2]).numpy() < FLAGS.flip
    noisy = np.where(flips, 1.0 - clean, clean).astype(np.float32)
    hparams = {"latent_size": latent_size, "prior": prior, "likelihood": "bernoulli",
               "dictionary": "nonnegative"}
    defaults = {"solver": "exact", "num_sleep_samples": 1500}
  else:
    clean = images
    noisy = clean + FLAGS.noise * tf.random.stateless_normal(clean.shape, seed=[4, 2]).numpy()
    hparams = {"latent_size": latent_size, "prior": prior}
    defaults = {}
  error = ((lambda r: float(np.mean((r > 0.5) != (clean > 0.5)))) if bernoulli
           else (lambda r: float(np.mean((r - clean) ** 2))))
  rows, denoised = [], {}
  options = {**defaults, **parse_key_values(FLAGS.alws_options)}
  runs = [(e, e, FLAGS.train_steps, 0.0) for e in FLAGS.estimators]
  if FLAGS.equal_time and "alws" in FLAGS.estimators:
    runs += [(f"{e}_equal_time", e, None, None) for e in FLAGS.estimators if e != "alws"]
  alws_seconds = None
  for label, estimator, steps, budget in runs:
    if steps is None:  # as long as ALWS took: many steps, stopped by the budget
      steps, budget = 100 * FLAGS.train_steps, alws_seconds
    config = training.TrainConfig(
        workdir=os.path.join(FLAGS.workdir_root, f"{FLAGS.likelihood}_{label}"),
        model="matrix_factorisation", model_hparams=hparams,
        estimator=estimator, num_samples=None if estimator == "alws" else 1,
        estimator_options=options if estimator == "alws" else {},
        dataset=FLAGS.dataset, data_dir=data_dir, train_examples=train_examples,
        binarization="fixed" if bernoulli else "none", train_steps=steps,
        max_train_seconds=budget, log_every=max(FLAGS.train_steps // 10, 1),
        checkpoint_every=steps, eval_num_samples=100, eval_examples=200)
    start = time.perf_counter()
    result = common.train(config)
    seconds = time.perf_counter() - start
    if estimator == "alws":
      alws_seconds = seconds
    model, _, _ = training.restore_model(config.workdir)
    z = inference.map_latents(model, tf.constant(noisy, tf.float32),
                              num_steps=FLAGS.map_steps)["z"]
    reconstruction = model.mean_image(z).numpy()
    denoised[label] = reconstruction
    rows.append({"estimator": label, "train_seconds": seconds, "steps": result["step"],
                 "error": error(reconstruction),
                 "test_log_likelihood_k100": result["test"]["mean"]})
  noisy_error = error(noisy)
  metric = "pixel error rate" if bernoulli else "MSE per pixel"
  corruption = (f"{FLAGS.flip:.0%} of pixels flipped" if bernoulli
                else f"noise sd {FLAGS.noise}")
  print(f"\nDenoising {FLAGS.num_examples} test digits ({corruption}) by the MAP codes of a "
        f"{latent_size}-element {prior} {FLAGS.likelihood} matrix factorisation\n")
  print(f"| trained by | steps | {metric} vs clean | train time | test log p(x), K=100 |")
  print("|---|---|---|---|---|")
  print(f"| (noisy input) | - | {noisy_error:.4f} | - | - |")
  for r in rows:
    print(f"| {r['estimator']} | {r['steps']} | {r['error']:.4f} | "
          f"{r['train_seconds'] / 60:.1f} min | {r['test_log_likelihood_k100']:.1f} |")
  os.makedirs(FLAGS.workdir_root, exist_ok=True)
  with open(os.path.join(FLAGS.workdir_root, f"denoising_{FLAGS.likelihood}.json"), "w") as f:
    json.dump({"metric": metric, "noisy_error": noisy_error, "rows": rows}, f, indent=2)

  plt = common.pyplot()
  shown = min(10, FLAGS.num_examples)
  grid = [("clean", clean), ("noisy", noisy)] + [
      (f"{label} MAP", images) for label, images in denoised.items()]
  fig, axes = plt.subplots(len(grid), shown, figsize=(shown, len(grid) + 0.3), squeeze=False)
  for row, (label, images) in enumerate(grid):
    for col in range(shown):
      ax = axes[row, col]
      ax.imshow(np.clip(images[col, ..., 0], 0, 1), cmap="gray", vmin=0, vmax=1)
      ax.set_xticks([])
      ax.set_yticks([])
    axes[row, 0].set_ylabel(label, rotation=0, ha="right", va="center")
  path = os.path.join(FLAGS.workdir_root, f"denoising_{FLAGS.likelihood}.png")
  fig.savefig(path, dpi=100, bbox_inches="tight")
  print(f"\nwrote {path}")


if __name__ == "__main__":
  app.run(main)
