r"""Sample quality on continuous MNIST: the Gaussian-pixel VAE (784-200-200-50
decoder) trained by ALWS and by the ELBO for the same wall-clock budget.

Each estimator trains for --budget_seconds (tracing included). Then 10,000
decoder means E[x | z], z ~ p(z), are compared with the 10,000 test digits by
the Fréchet distance in the 128 penultimate features of a small MNIST
classifier (`mnist_classifier.py`, trained here if --classifier does not hold
one). The table also gives the floor: the distance of 10,000 training digits
to the test digits. Writes a PNG grid of samples per estimator and the JSON.

    python benchmarks/alws_sample_quality.py --data_dir=../shared/data/mnist
"""

import json
import os
import time

from absl import app
from absl import flags

import common
import mnist_classifier

flags.DEFINE_string("workdir_root", "/tmp/tfp_zoo_sample_quality",
                    "One workdir per estimator; the JSON and PNGs go here too.")
flags.DEFINE_string("classifier", "/tmp/tfp_zoo_classifier",
                    "SavedModel of mnist_classifier.py (trained here if missing).")
flags.DEFINE_list("estimators", ["alws", "elbo"], "Estimators to compare.")
flags.DEFINE_float("budget_seconds", 600., "Wall-clock training budget per estimator.")
flags.DEFINE_integer("num_samples", 10_000, "Samples (and test digits) for the distance.")
flags.DEFINE_string("hidden_sizes", "200-200", "Decoder/encoder hidden sizes.")
flags.DEFINE_integer("latent_size", 50, "Latent dimension.")
flags.DEFINE_string("alws_options", "", "ALWS options as key=value,... (e.g. "
                    "'feature_map=learned').")
FLAGS = flags.FLAGS


def _sample_means(model, num_samples, seed):
  """Decoder means E[x | z] for z ~ p(z), in [0, 1], [num_samples, 28, 28, 1]."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfp_zoo.models import base  # pylint: disable=g-import-not-at-top
  chunks = []
  for i, chunk_seed in enumerate(tf.random.experimental.stateless_split(
      tf.constant(seed), (num_samples + 999) // 1000)):
    size = min(1000, num_samples - 1000 * i)
    distributions, _ = model.joint().sample_distributions(size, seed=chunk_seed)
    chunks.append(getattr(distributions, base.OBSERVATION).mean())
  return tf.clip_by_value(tf.concat(chunks, 0), 0., 1.).numpy()


def main(argv):
  del argv
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfp_zoo import frechet, training  # pylint: disable=g-import-not-at-top
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

  rows, grids = [], {}
  options = parse_key_values(FLAGS.alws_options)
  for estimator in FLAGS.estimators:
    config = training.TrainConfig(
        workdir=os.path.join(FLAGS.workdir_root, estimator), model="vae",
        model_hparams={"hidden_sizes": tuple(int(s) for s in FLAGS.hidden_sizes.split("-")),
                       "latent_sizes": (FLAGS.latent_size,), "likelihood": "gaussian"},
        estimator=estimator, num_samples=None if estimator == "alws" else 1,
        dataset=FLAGS.dataset,
        estimator_options=options if estimator == "alws" else {},
        data_dir=data_dir,
        binarization="none", train_steps=10**7, max_train_seconds=FLAGS.budget_seconds,
        log_every=200, checkpoint_every=10**7, eval_num_samples=100, eval_examples=1000)
    start = time.perf_counter()
    result = common.train(config)
    seconds = time.perf_counter() - start
    model, _, steps = training.restore_model(config.workdir)
    samples = _sample_means(model, n, seed=[7, 7])
    grids[estimator] = samples[:100]
    rows.append({"estimator": estimator, "steps": steps, "seconds": seconds,
                 "frechet": frechet.frechet_distance(features(samples), test_features),
                 "test_log_likelihood_k100": result["test"]["mean"]})

  print(f"\nGaussian-pixel VAE on continuous {FLAGS.dataset}, {FLAGS.budget_seconds:.0f} s "
        f"of training each; Fréchet distance of {n} decoder means to {n} test digits "
        "in MNIST-classifier features (lower is better)\n")
  print("| trained by | steps | Fréchet distance | test log p(x), K=100 (1000 digits) |")
  print("|---|---|---|---|")
  print(f"| (training digits: the floor) | - | {floor:.2f} | - |")
  for r in rows:
    print(f"| {r['estimator']} | {r['steps']} | {r['frechet']:.2f} | "
          f"{r['test_log_likelihood_k100']:.1f} |")
  os.makedirs(FLAGS.workdir_root, exist_ok=True)
  with open(os.path.join(FLAGS.workdir_root, "sample_quality.json"), "w") as f:
    json.dump({"floor": floor, "budget_seconds": FLAGS.budget_seconds, "rows": rows}, f,
              indent=2)

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
  print(f"\nwrote {path}")


if __name__ == "__main__":
  app.run(main)
