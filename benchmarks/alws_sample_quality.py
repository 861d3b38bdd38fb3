r"""Sample quality over training: a VAE trained by ALWS, the ELBO, IWAE (or
RWS) and the ELBO with a flow guide (`elbo_iaf`) for the same wall-clock
budget, on continuous MNIST (Gaussian pixels) or binarised MNIST
(`--binarization=dynamic`, Bernoulli pixels).

`--architecture=conv` is the reduced version of Li et al.'s experiment: a
DCGAN-style convolutional generator with 16 latents (`--latent_size=16`,
`--conv_channels=16-32`), on 32×32 digits with `--image_size=32` (zero-padded,
as the authors do) or 28×28. `mlp` is the 784-200-200-50 VAE. Gaussian pixel
noise follows `--pixel_scale`/`--pixel_scale_init` (default here: fixed at
0.1, so that every estimator sees the same noise model).

Each estimator trains for --budget_seconds in --eval_points segments (the run
resumes exactly between them); after each, 10,000 decoder means E[x | z],
z ~ p(z), are compared with the 10,000 test digits by the Fréchet distance in
the 128 penultimate features of a small MNIST classifier
(`mnist_classifier.py`, trained here if --classifier does not hold one). The
table gives the final distances and the floor (10,000 training digits against
the test digits); the PNGs plot the distance against steps and against
training time, and show samples.

    python benchmarks/alws_sample_quality.py --data_dir=../shared/data/mnist \
        --architecture=conv --image_size=32 --estimators=alws,elbo,iwae,elbo_iaf \
        --budget_seconds=600 --eval_points=4
"""

import json
import os

from absl import app
from absl import flags

import common
import mnist_classifier

flags.DEFINE_string("workdir_root", "/tmp/tfp_zoo_sample_quality",
                    "One workdir per estimator; the JSON and PNGs go here too.")
flags.DEFINE_string("classifier", "/tmp/tfp_zoo_classifier",
                    "SavedModel of mnist_classifier.py (trained here if missing).")
flags.DEFINE_list("estimators", ["alws", "elbo"], "Estimators to compare (alws, elbo, "
                  "iwae, rws, ...; NAME_iaf trains NAME with the VAE's inverse "
                  "autoregressive flow guide, e.g. elbo_iaf).")
flags.DEFINE_integer("iwae_samples", 5, "K for the estimators that take one (elbo: 1).")
flags.DEFINE_float("budget_seconds", 600., "Wall-clock training budget per estimator.")
flags.DEFINE_integer("eval_points", 1, "Segments of the budget, each followed by a "
                     "Fréchet distance (the curve over training).")
flags.DEFINE_integer("num_samples", 10_000, "Samples (and test digits) for the distance.")
flags.DEFINE_enum("architecture", "mlp", ["mlp", "conv"], "mlp, or the DCGAN-style conv "
                  "generator.")
flags.DEFINE_string("hidden_sizes", "200-200", "MLP hidden sizes.")
flags.DEFINE_string("conv_channels", "16-32", "Conv channels per resolution.")
flags.DEFINE_integer("latent_size", None, "Latent dimension (default 50 for mlp, 16 for "
                     "conv).")
flags.DEFINE_enum("pixel_scale", "fixed", ["learned", "shared", "fixed"],
                  "Gaussian pixel noise.")
flags.DEFINE_float("pixel_scale_init", 0.1, "Initial (or fixed) pixel noise scale.")
flags.DEFINE_enum("image_size", "28", ["28", "32"], "32: digits zero-padded to 32×32 "
                  "(the authors' size; written once as an npz dataset beside the runs); "
                  "samples are cropped back to 28×28 for the classifier.")
flags.DEFINE_enum("binarization", "none", ["none", "dynamic"], "none: continuous pixels, "
                  "Gaussian noise; dynamic: binarised MNIST, Bernoulli pixels (the samples "
                  "scored are then the pixel probabilities).")
flags.DEFINE_string("alws_options", "", "ALWS options as key=value,... (e.g. "
                    "'feature_map=learned').")
FLAGS = flags.FLAGS


def _padded_dataset(root, dataset, data_dir):
  """`npz:PATH` of the digits zero-padded to 32×32 (uint8), written once."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  path = os.path.join(root, f"{dataset}_32x32.npz")
  if not os.path.exists(path):
    splits = {}
    for split in ("train", "test"):
      images, _ = mnist_classifier.read_split(dataset, data_dir, split)
      splits[split] = np.pad(np.round(images * 255).astype(np.uint8),
                             [(0, 0), (2, 2), (2, 2), (0, 0)])
    os.makedirs(root, exist_ok=True)
    np.savez(path + ".tmp.npz", **splits)
    os.replace(path + ".tmp.npz", path)
  return f"npz:{path}"


def _sample_means(model, num_samples, seed):
  """Decoder means E[x | z] for z ~ p(z), in [0, 1], [num_samples, 28, 28, 1]
  (the centre of 32×32 samples)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfp_zoo.models import base  # pylint: disable=g-import-not-at-top
  chunks = []
  for i, chunk_seed in enumerate(tf.random.experimental.stateless_split(
      tf.constant(seed), (num_samples + 999) // 1000)):
    size = min(1000, num_samples - 1000 * i)
    distributions, _ = model.joint().sample_distributions(size, seed=chunk_seed)
    chunks.append(getattr(distributions, base.OBSERVATION).mean())
  means = tf.clip_by_value(tf.concat(chunks, 0), 0., 1.).numpy()
  if means.shape[1] == 32:
    means = means[:, 2:30, 2:30]
  return means


def main(argv):
  del argv
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfp_zoo import estimators, training  # pylint: disable=g-import-not-at-top
  from tfp_zoo.evaluation import frechet
  from tfp_zoo.registry import parse_key_values  # pylint: disable=g-import-not-at-top

  data_dir = common.mnist_data_dir()
  if not os.path.isdir(FLAGS.classifier):
    print(f"training the feature classifier into {FLAGS.classifier}", flush=True)
    accuracy = mnist_classifier.train_classifier(FLAGS.dataset, data_dir, FLAGS.classifier)
    print(f"classifier test accuracy {accuracy:.4f}", flush=True)
  classifier = tf.saved_model.load(FLAGS.classifier)

  def features(images):
    return np.concatenate([classifier.features(tf.constant(images[i:i + 1000]))
                           for i in range(0, len(images), 1000)])

  test_x, _ = mnist_classifier.read_split(FLAGS.dataset, data_dir, "test")
  train_x, _ = mnist_classifier.read_split(FLAGS.dataset, data_dir, "train")
  n = min(FLAGS.num_samples, len(test_x), len(train_x))
  test_features = features(test_x[:n])
  floor = frechet.frechet_distance(features(train_x[:n]), test_features)

  rows, grids, curves = [], {}, {}
  options = parse_key_values(FLAGS.alws_options)
  conv = FLAGS.architecture == "conv"
  binary = FLAGS.binarization != "none"
  hparams = {"latent_sizes": (FLAGS.latent_size or (16 if conv else 50),)}
  if binary:
    hparams["likelihood"] = "bernoulli"
  else:
    hparams.update(likelihood="gaussian", pixel_scale=FLAGS.pixel_scale,
                   pixel_scale_init=FLAGS.pixel_scale_init)
  dataset = FLAGS.dataset
  if FLAGS.image_size == "32":
    dataset = _padded_dataset(FLAGS.workdir_root, FLAGS.dataset, data_dir)
  setting = f"{FLAGS.architecture}{'_binary' if binary else ''}_{FLAGS.image_size}"
  if conv:
    hparams.update(architecture="conv",
                   conv_channels=tuple(int(c) for c in FLAGS.conv_channels.split("-")))
  else:
    hparams.update(hidden_sizes=tuple(int(s) for s in FLAGS.hidden_sizes.split("-")))
  segment = FLAGS.budget_seconds / FLAGS.eval_points
  for estimator in FLAGS.estimators:
    name, flow_guide = (estimator[:-4], True) if estimator.endswith("_iaf") else (
        estimator, False)
    takes_k = estimators.accepts(name, "num_samples")
    curves[estimator] = []
    for point in range(1, FLAGS.eval_points + 1):
      last = point == FLAGS.eval_points
      config = training.TrainConfig(
          workdir=os.path.join(FLAGS.workdir_root, f"{setting}_{estimator}"),
          model="vae", model_hparams={**hparams, **({"guide": "iaf"} if flow_guide else {})},
          estimator=name,
          num_samples=(1 if name == "elbo" else FLAGS.iwae_samples) if takes_k else None,
          dataset=dataset,
          estimator_options=options if name == "alws" else {}, data_dir=data_dir,
          binarization=FLAGS.binarization, train_steps=10**7, max_train_seconds=segment,
          log_every=200, checkpoint_every=10**7, eval_num_samples=100 if last else 2,
          eval_examples=1000 if last else 1)
      result = common.train(config)
      model, _, steps = training.restore_model(config.workdir)
      samples = _sample_means(model, n, seed=[7, 7])
      distance = frechet.frechet_distance(features(samples), test_features)
      curves[estimator].append({"steps": steps, "seconds": point * segment,
                                "frechet": distance})
      print(f"{estimator}: {steps} steps, {point * segment:.0f} s: Fréchet distance "
            f"{distance:.2f}", flush=True)
    grids[estimator] = samples[:100]
    rows.append({"estimator": estimator, "steps": steps, "seconds": FLAGS.budget_seconds,
                 "frechet": distance, "best_frechet": min(c["frechet"] for c in
                                                         curves[estimator]),
                 "test_log_likelihood_k100": result["test"]["mean"]})

  print(f"\n{'Bernoulli-pixel' if binary else 'Gaussian-pixel'} {FLAGS.architecture} VAE "
        f"on {'binarised' if binary else 'continuous'} {FLAGS.dataset} "
        f"({FLAGS.image_size}×{FLAGS.image_size}), "
        f"{FLAGS.budget_seconds:.0f} s of training each; Fréchet distance of {n} decoder "
        f"means to {n} test digits in MNIST-classifier features (lower is better)\n")
  print("| trained by | steps | Fréchet distance (end) | best over training | "
        "test log p(x), K=100 (1000 digits) |")
  print("|---|---|---|---|---|")
  print(f"| (training digits: the floor) | - | {floor:.2f} | - | - |")
  for r in rows:
    print(f"| {r['estimator']} | {r['steps']} | {r['frechet']:.2f} | "
          f"{r['best_frechet']:.2f} | {r['test_log_likelihood_k100']:.1f} |")
  os.makedirs(FLAGS.workdir_root, exist_ok=True)
  with open(os.path.join(FLAGS.workdir_root, "sample_quality.json"), "w") as f:
    json.dump({"floor": floor, "budget_seconds": FLAGS.budget_seconds, "rows": rows,
               "curves": curves, "architecture": FLAGS.architecture,
               "image_size": int(FLAGS.image_size), "binarization": FLAGS.binarization,
               "hparams": {
                   k: list(v) if isinstance(v, tuple) else v for k, v in hparams.items()}},
              f, indent=2)

  plt = common.pyplot()
  fig, axes = plt.subplots(1, len(grids), figsize=(4.2 * len(grids), 4.6), squeeze=False)
  for ax, (estimator, images), row in zip(axes[0], grids.items(), rows):
    side = int(np.sqrt(len(images)))
    tiles = images[:side * side, ..., 0].reshape(side, side, 28, 28)
    ax.imshow(tiles.transpose(0, 2, 1, 3).reshape(side * 28, side * 28), cmap="gray",
              vmin=0, vmax=1)
    ax.set_title(f"{estimator}: {row['steps']} steps, FD {row['frechet']:.1f}")
    ax.axis("off")
  path = os.path.join(FLAGS.workdir_root, "sample_quality.png")
  fig.savefig(path, dpi=100, bbox_inches="tight")
  fig, axes = plt.subplots(1, 2, figsize=(10, 4))
  for estimator, curve in curves.items():
    for ax, key in zip(axes, ("steps", "seconds")):
      ax.plot([c[key] for c in curve], [c["frechet"] for c in curve], marker="o",
              label=estimator)
  for ax, label in zip(axes, ("training steps (equal steps)",
                              "training seconds (equal time)")):
    ax.axhline(floor, color="gray", linestyle=":", label="training digits (floor)")
    ax.set_xlabel(label)
    ax.set_ylabel("Fréchet distance to test digits")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
  axes[0].set_xscale("log")
  axes[1].legend()
  curve_path = os.path.join(FLAGS.workdir_root, "sample_quality_curve.png")
  fig.savefig(curve_path, dpi=110, bbox_inches="tight")
  print(f"\nwrote {path} and {curve_path}")


if __name__ == "__main__":
  app.run(main)
