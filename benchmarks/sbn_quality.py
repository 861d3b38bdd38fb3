r"""Quality after a fixed budget: a 200-200 sigmoid belief net on real MNIST,
trained by wake-sleep and by reweighted wake-sleep (K=5) for the same number
of steps, then evaluated by importance sampling (K=5000) on a fixed subset of
1000 test digits (the first 1000, binarised once with the evaluation seed).

Prints a Markdown table, writes `<workdir_root>/sbn_quality.json` and a PNG of
the test log-likelihood (K=100) along training.

    python benchmarks/sbn_quality.py --data_dir=../shared/data/mnist --train_steps=20000
"""

import json
import os
import time

from absl import app
from absl import flags

import common

common.define_mnist_flags()
flags.DEFINE_string("workdir_root", "/tmp/tfp_zoo_sbn_quality", "One workdir per estimator "
                    "goes here (an existing run is resumed).")
flags.DEFINE_list("estimators", ["wake_sleep", "rws"], "Estimators to compare.")
flags.DEFINE_string("layer_sizes", "200-200", "SBN latent layer sizes, top-down.")
flags.DEFINE_integer("num_samples", 5, "K of the estimators that take it.")
flags.DEFINE_integer("train_steps", 20000, "Steps per estimator (batch 100).")
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.")
flags.DEFINE_integer("eval_examples", 1000, "Test digits in the fixed subset.")
flags.DEFINE_integer("eval_num_samples", 5000, "K of the final evaluation.")
flags.DEFINE_integer("curve_points", 10, "Quick (K=100) evaluations along training.")
flags.DEFINE_string("plot", "sbn_quality.png", "PNG of the curves (under workdir_root); "
                    "empty to skip.")
FLAGS = flags.FLAGS


def _curve(workdir):
  """(steps, values) of the quick (K <= 100) test evaluations in TensorBoard."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  points = {}
  eval_dir = os.path.join(workdir, "eval")
  for name in sorted(os.listdir(eval_dir)):
    for record in tf.data.TFRecordDataset(os.path.join(eval_dir, name)):
      event = tf.compat.v1.Event.FromString(record.numpy())
      for value in event.summary.value:
        if value.tag == "eval/log_likelihood":  # the periodic evaluation
          points[event.step] = float(tf.make_ndarray(value.tensor))
  steps = sorted(points)
  return steps, [points[s] for s in steps]


def main(argv):
  del argv
  from tfp_zoo import training  # pylint: disable=g-import-not-at-top
  rows = []
  for estimator in FLAGS.estimators:
    config = training.TrainConfig(
        workdir=os.path.join(FLAGS.workdir_root, estimator), model="sigmoid_belief_net",
        model_hparams={"layer_sizes": tuple(int(s) for s in FLAGS.layer_sizes.split("-"))},
        estimator=estimator, num_samples=FLAGS.num_samples, dataset=FLAGS.dataset,
        data_dir=common.mnist_data_dir(), binarization="dynamic",
        learning_rate=FLAGS.learning_rate, train_steps=FLAGS.train_steps,
        log_every=max(FLAGS.train_steps // 20, 1),
        checkpoint_every=max(FLAGS.train_steps // 4, 1),
        eval_every=max(FLAGS.train_steps // FLAGS.curve_points, 1),
        eval_examples=FLAGS.eval_examples, eval_num_samples=FLAGS.eval_num_samples)
    start = time.perf_counter()
    result = common.train(config)
    seconds = time.perf_counter() - start
    test = result["test"]
    rows.append({"estimator": estimator, "steps": result["step"], "seconds": seconds,
                 "log_likelihood": test["mean"], "stderr": test["stderr"],
                 "mean_ess": test["mean_ess"], "curve": _curve(config.workdir)})

  print(f"\n{FLAGS.layer_sizes} SBN on {FLAGS.dataset}, batch 100, {FLAGS.train_steps} steps, test "
        f"log-likelihood K={FLAGS.eval_num_samples} on {FLAGS.eval_examples} digits\n")
  print("| estimator | steps | wall time | test log p(x) (nats) | mean ESS |")
  print("|---|---|---|---|---|")
  for r in rows:
    print(f"| {r['estimator']} | {r['steps']} | {r['seconds'] / 60:.1f} min | "
          f"{r['log_likelihood']:.2f} ± {r['stderr']:.2f} | {r['mean_ess']:.0f} |")
  os.makedirs(FLAGS.workdir_root, exist_ok=True)
  with open(os.path.join(FLAGS.workdir_root, "sbn_quality.json"), "w") as f:
    json.dump(rows, f, indent=2)
  if FLAGS.plot:
    plt = common.pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in rows:
      ax.plot(*r["curve"], marker="o", label=r["estimator"])
    ax.set_xlabel("training step (batch 100)")
    ax.set_ylabel("test log p(x), K=100 (nats)")
    ax.set_title(f"SBN {FLAGS.layer_sizes} on MNIST")
    ax.grid(alpha=0.3)
    ax.legend()
    path = os.path.join(FLAGS.workdir_root, FLAGS.plot)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    print(f"\nwrote {path}")


if __name__ == "__main__":
  app.run(main)
