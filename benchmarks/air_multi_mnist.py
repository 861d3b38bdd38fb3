r"""Attend-infer-repeat on multi_mnist, one estimator after another.

Each row trains `air` on `multi_mnist` (0–2 digits on a 50×50 canvas) for the
same wall-clock budget with one estimator, then scores it on test canvases:

  * count accuracy: one draw of the guide per canvas, its number of present
    steps against the true number of digits (recorded by the builder for
    evaluation only), with the confusion counts;
  * test log p(x) by importance sampling with the guide (K particles);

and draws, per row, model samples and test reconstructions with the inferred
boxes. Le et al. (2019) report that RWS (wake-φ, or with sleep) learns AIR
better than VIMCO and NVIL; the table says whether it does here.

    python benchmarks/air_multi_mnist.py --budget_seconds=1800
    python benchmarks/air_multi_mnist.py --data_dir=../shared/data/mnist  # full MNIST digits
"""

import json
import os
from typing import NamedTuple

from absl import app
from absl import flags

import common

flags.DEFINE_list("estimators", ["rws", "rws_mixture", "vimco", "nvil", "wake_sleep"],
                  "Rows: rws (wake-φ), rws_sleep, rws_mixture, vimco, nvil, wake_sleep.")
flags.DEFINE_float("budget_seconds", 1800.0, "Training wall-clock per row.")
flags.DEFINE_integer("batch_size", 32, "Canvases per step.")
flags.DEFINE_integer("num_samples", 5, "K particles per canvas (wake_sleep: 1).")
flags.DEFINE_float("learning_rate", 3e-4, "Adam learning rate.")
flags.DEFINE_string("model_hparams", "", "air hyperparameters as key=value,... (the "
                    "launcher's --model_hparams).")
flags.DEFINE_string("data_dir", None, "idx files of full MNIST to build the canvases from "
                    "(default: the shipped mnist_small digits).")
flags.DEFINE_integer("eval_examples", 1000, "Test canvases to score.")
flags.DEFINE_integer("eval_num_samples", 200, "K of the test log-likelihood.")
flags.DEFINE_integer("seed", 0, "Seed of initialisation, data order and draws.")
flags.DEFINE_string("output", "/tmp/tfp_zoo_air", "Directory of the workdirs, table and "
                    "figures.")
FLAGS = flags.FLAGS

_ROWS = {
    "rws": ("rws", {"guide_update": "wake"}),
    "rws_sleep": ("rws", {"guide_update": "sleep"}),
    "rws_mixture": ("rws", {"guide_update": "mixture"}),
    "vimco": ("vimco", {}),
    "nvil": ("nvil", {}),
    "wake_sleep": ("wake_sleep", {}),
}


class Row(NamedTuple):
  name: str
  estimator: str
  options: dict


def _config(row: Row, workdir: str):
  from tfp_zoo import estimators, training  # pylint: disable=g-import-not-at-top
  from tfp_zoo.registry import parse_key_values  # pylint: disable=g-import-not-at-top
  return training.TrainConfig(
      model="air", model_hparams=parse_key_values(FLAGS.model_hparams),
      dataset="multi_mnist", data_dir=FLAGS.data_dir, binarization="none",
      estimator=row.estimator, estimator_options=dict(row.options),
      num_samples=(FLAGS.num_samples if estimators.accepts(row.estimator, "num_samples")
                   and row.estimator != "wake_sleep" else None),
      batch_size=FLAGS.batch_size, learning_rate=FLAGS.learning_rate,
      train_steps=10**7, max_train_seconds=FLAGS.budget_seconds, seed=FLAGS.seed,
      log_every=500, checkpoint_every=5000, eval_examples=100, eval_num_samples=100,
      workdir=workdir).validate()


def score(workdir: str, *, eval_examples: int, num_samples: int, seed: int) -> dict:
  """Count accuracy and IS log-likelihood of a trained air workdir."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfp_zoo import datasets, evaluation  # pylint: disable=g-import-not-at-top
  from tfp_zoo.training import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  model, config, step = workdir_lib.restore_model(workdir)
  images = datasets.load_images("multi_mnist", "test", data_dir=config.data_dir)
  counts = datasets.load_counts("multi_mnist", "test", data_dir=config.data_dir)
  n = min(eval_examples, len(images))
  x = datasets.eval_images(images[:n], binarization="none")
  inferred = np.concatenate([
      model.infer(x[i:i + 100], seed=tf.constant([seed, i]))["count"].numpy()
      for i in range(0, n, 100)])
  truth = counts[:n]
  confusion = np.zeros((model.max_steps + 1, model.max_steps + 1), int)
  np.add.at(confusion, (truth, inferred), 1)
  ll = evaluation.dataset_log_likelihood(model, x, seed=tf.constant([seed, 1]),
                                         num_samples=num_samples, batch_size=50)
  return {"step": step, "count_accuracy": float(np.mean(inferred == truth)),
          "confusion": confusion.tolist(), "log_likelihood": ll.mean,
          "log_likelihood_stderr": ll.stderr, "mean_ess": ll.mean_ess,
          "examples": n, "eval_num_samples": num_samples}


def draw_scenes(workdir: str, path: str, title: str, *, seed: int = 0, num: int = 8) -> str:
  """Model samples (top) and test canvases with their reconstructions (below),
  each with the boxes of its present objects."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfp_zoo import datasets  # pylint: disable=g-import-not-at-top
  from tfp_zoo.evaluation import samples as samples_lib
  from tfp_zoo.training import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  model, config, _ = workdir_lib.restore_model(workdir)
  x = datasets.eval_images(
      datasets.load_images("multi_mnist", "test", data_dir=config.data_dir)[:num],
      binarization="none")
  samples = samples_lib.sample_with_means(model, num, tf.constant([seed, 2]))
  sample_boxes = np.stack([model.boxes(samples[f"where_{t}"]).numpy()
                           for t in range(model.max_steps)], 1)
  sample_present = np.stack([samples[f"present_{t}"].numpy()
                             for t in range(model.max_steps)], 1)
  scene = model.infer(x, seed=tf.constant([seed, 3]))
  latents = dict(model.guide(x).sample(seed=tf.constant([seed, 3]))._asdict())
  recon = samples_lib.decode(model, latents, tf.constant([seed, 4]))["x_mean"].numpy()
  plt = common.pyplot()
  fig, axes = plt.subplots(3, num, figsize=(1.4 * num, 4.6))
  size = model.canvas_shape[0]
  def show(ax, image, boxes, present, colour):
    ax.imshow(np.clip(image[..., 0], 0, 1), cmap="gray_r", vmin=0, vmax=1)
    for (s, tx, ty), p in zip(boxes, present):
      if p > 0.5:  # normalised box [t − s, t + s] → pixels
        left, top = (tx - s + 1) * size / 2 - 0.5, (ty - s + 1) * size / 2 - 0.5
        ax.add_patch(plt.Rectangle((left, top), s * size, s * size, fill=False,
                                   edgecolor=colour, linewidth=1.2))
    ax.set_xticks([]), ax.set_yticks([])
  for i in range(num):
    show(axes[0, i], samples["x_mean"].numpy()[i], sample_boxes[i], sample_present[i], "C1")
    show(axes[1, i], np.asarray(x)[i], scene["boxes"].numpy()[i], scene["present"].numpy()[i],
         "C3")
    show(axes[2, i], recon[i], scene["boxes"].numpy()[i], scene["present"].numpy()[i], "C3")
  for r, label in enumerate(("model\nsamples", "test\ncanvases", "recon-\nstructions")):
    axes[r, 0].set_ylabel(label)
  fig.suptitle(title)
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)
  return path


def main(argv):
  del argv
  unknown = [e for e in FLAGS.estimators if e not in _ROWS]
  if unknown:
    raise app.UsageError(f"--estimators: unknown rows {unknown}; known: {', '.join(_ROWS)}")
  rows = [Row(e, *_ROWS[e]) for e in FLAGS.estimators]
  settings = {k: FLAGS[k].value for k in ("budget_seconds", "batch_size", "num_samples",
                                          "model_hparams",
                                          "learning_rate", "data_dir", "eval_examples",
                                          "eval_num_samples", "seed")}

  def run_row(row, workdir):
    result = common.train(_config(row, workdir))
    scores = score(workdir, eval_examples=FLAGS.eval_examples,
                   num_samples=FLAGS.eval_num_samples, seed=FLAGS.seed)
    figure = draw_scenes(workdir, os.path.join(FLAGS.output, f"air_{row.name}.png"),
                         f"air trained by {row.name} ({FLAGS.budget_seconds / 60:g} min)")
    print(json.dumps(scores), flush=True)
    return {"name": row.name, "settings": settings, "train_step": result["step"],
            "figure": figure, **scores}

  results = common.run_rows(rows, FLAGS.output, settings, run_row)
  source = "full MNIST" if FLAGS.data_dir else "mnist_small"
  lines = [f"CPU: {common.cpu_model()}; {FLAGS.budget_seconds / 60:g} min per row, batch "
           f"{FLAGS.batch_size}, K={FLAGS.num_samples}, lr {FLAGS.learning_rate:g}; "
           f"multi_mnist from {source}; {FLAGS.eval_examples} test canvases, log p(x) by "
           f"IS with K={FLAGS.eval_num_samples}.", "",
           "| trained by | steps | count accuracy | test log p(x) (nats) | confusion "
           "(rows: true 0..T, columns: inferred) |", "|---|---|---|---|---|"]
  for r in results:
    lines.append(f"| {r['name']} | {r['train_step']} | {r['count_accuracy']:.3f} | "
                 f"{r['log_likelihood']:.1f} ± {r['log_likelihood_stderr']:.1f} | "
                 f"{r['confusion']} |")
  common.write_table(FLAGS.output, "\n".join(lines), results)


if __name__ == "__main__":
  app.run(main)
