r"""Does bfloat16 cost accuracy? Paired float32 / bfloat16 runs on full MNIST.

Two runs of the 784-200-200-50 VAE trained by IWAE (K = --num_samples) for
--train_steps steps of batch 100 from the same initialisation and the same
batches, one with `--precision=float32` and one with `--precision=bfloat16`;
then both are evaluated (float32 arithmetic) on the same first
--eval_examples test digits with the same K=--eval_num_samples importance
seeds. The per-digit differences d_i = log p̂_bf16(x_i) − log p̂_fp32(x_i)
give the paired standard error sd(d)/√n; the acceptance is |mean d| ≤ 3 SE.

The float32 model is also evaluated with bfloat16 arithmetic (paired in the
same way): the claim that K=5000 evaluation may run in bf16.

With --timing_examples > 0, the float32 model's evaluation of that many test
digits at K=--eval_num_samples is timed in float32 and in bfloat16, one after
the other in this process (run it on an otherwise idle machine).

Resumable: trained runs are reused from <workdir_root>/<precision>.

    nohup python benchmarks/precision_accuracy.py > /tmp/precision_accuracy.log 2>&1 &
"""

import json
import os
import time

from absl import app
from absl import flags
from absl import logging

import numpy as np

import common

common.define_mnist_flags()
flags.DEFINE_string("workdir_root", "/tmp/tfp_zoo_precision_accuracy", "One workdir per "
                    "precision; finished runs are reused.")
flags.DEFINE_integer("train_steps", 3000, "Training steps of both runs (batch 100).",
                     lower_bound=1)
flags.DEFINE_integer("num_samples", 50, "K of the IWAE bound used for training.",
                     lower_bound=1)
flags.DEFINE_integer("eval_examples", 1000, "Test digits of the paired comparison.",
                     lower_bound=2)
flags.DEFINE_integer("eval_num_samples", 5000, "K of the importance-sampled evaluation.",
                     lower_bound=1)
flags.DEFINE_integer("timing_examples", 0, "Test digits of the float32-vs-bfloat16 "
                     "evaluation timing (0: no timing; 10000: the whole test set).",
                     lower_bound=0)
FLAGS = flags.FLAGS

PRECISIONS = ("float32", "bfloat16")


def _train(precision: str) -> str:
  from tfp_zoo import training  # pylint: disable=g-import-not-at-top
  workdir = os.path.join(FLAGS.workdir_root, precision)
  config = training.TrainConfig(
      workdir=workdir, model="vae", estimator="iwae", num_samples=FLAGS.num_samples,
      dataset=FLAGS.dataset, data_dir=common.mnist_data_dir(), binarization="dynamic",
      train_steps=FLAGS.train_steps, precision=precision,
      log_every=max(FLAGS.train_steps // 10, 1),
      checkpoint_every=max(FLAGS.train_steps // 3, 1),
      eval_examples=100, eval_num_samples=100)  # the real evaluation is paired, below
  done = os.path.join(workdir, "trained.json")
  if os.path.exists(done):
    with open(done) as f:
      if json.load(f).get("train_steps") == FLAGS.train_steps:
        print(f"{precision}: trained earlier, reusing {workdir}", flush=True)
        return workdir
  print(f"\n=== training in {precision}: {FLAGS.train_steps} steps ===", flush=True)
  start = time.perf_counter()
  training.train(config)
  with open(done, "w") as f:
    json.dump({"train_steps": FLAGS.train_steps,
               "seconds": time.perf_counter() - start}, f)
  return workdir


def _per_digit(model, images, precision: str) -> np.ndarray:
  """log p̂(x_i), batch by batch, with seeds that depend only on the batch index."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfp_zoo import evaluation  # pylint: disable=g-import-not-at-top
  batch = 100
  seeds = tf.random.experimental.stateless_split(tf.constant([7, 11]),
                                                 -(-len(images) // batch))
  values = []
  for b, start in enumerate(range(0, len(images), batch)):
    values.append(evaluation.log_likelihood(
        model, images[start:start + batch], seed=seeds[b],
        num_samples=FLAGS.eval_num_samples, precision=precision).log_likelihood.numpy())
  return np.concatenate(values).astype(np.float64)


def _paired(a: np.ndarray, b: np.ndarray) -> dict:
  d = b - a
  stderr = float(d.std(ddof=1) / np.sqrt(len(d)))
  return {"mean_a": float(a.mean()), "mean_b": float(b.mean()), "difference": float(d.mean()),
          "paired_stderr": stderr, "in_se": abs(float(d.mean())) / stderr if stderr else 0.0}


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  from tfp_zoo import training  # pylint: disable=g-import-not-at-top
  from tfp_zoo.training import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  os.makedirs(FLAGS.workdir_root, exist_ok=True)
  models = {}
  for precision in PRECISIONS:
    workdir = _train(precision)
    models[precision], config, _ = training.restore_model(workdir)
  images = workdir_lib.test_images(config, limit=FLAGS.eval_examples)
  print(f"\nevaluating on {len(images)} test digits, K={FLAGS.eval_num_samples}", flush=True)
  fp32 = _per_digit(models["float32"], images, "float32")
  bf16_trained = _per_digit(models["bfloat16"], images, "float32")
  bf16_eval = _per_digit(models["float32"], images, "bfloat16")
  results = {"host": common.cpu_model(), "train_steps": FLAGS.train_steps,
             "num_samples": FLAGS.num_samples, "eval_examples": len(images),
             "eval_num_samples": FLAGS.eval_num_samples,
             "bf16_training": _paired(fp32, bf16_trained),
             "bf16_evaluation": _paired(fp32, bf16_eval)}
  if FLAGS.timing_examples:
    from tfp_zoo import evaluation  # pylint: disable=g-import-not-at-top
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    all_images = workdir_lib.test_images(config, limit=FLAGS.timing_examples)
    timing = {}
    for precision in ("float32", "bfloat16"):
      # Trace outside the clock: one small call first.
      evaluation.dataset_log_likelihood(models["float32"], all_images[:100],
                                        seed=tf.constant([0, 9]), num_samples=250,
                                        precision=precision)
      start = time.perf_counter()
      result = evaluation.dataset_log_likelihood(
          models["float32"], all_images, seed=tf.constant([0, 9]),
          num_samples=FLAGS.eval_num_samples, precision=precision)
      seconds = time.perf_counter() - start
      timing[precision] = {"seconds": seconds, "mean": result.mean, "stderr": result.stderr}
      print(f"evaluation of {len(all_images)} digits at K={FLAGS.eval_num_samples} in "
            f"{precision}: {seconds:.0f} s, {result.mean:.3f} ± {result.stderr:.3f}", flush=True)
    timing["speedup"] = timing["float32"]["seconds"] / timing["bfloat16"]["seconds"]
    results["evaluation_timing"] = {"examples": len(all_images), **timing}
  workdir_lib.write_json(os.path.join(FLAGS.workdir_root, "results.json"), results,
                         "results.json")
  for key, label in (("bf16_training", "trained in bf16 (evaluated in fp32)"),
                     ("bf16_evaluation", "fp32 model evaluated in bf16")):
    r = results[key]
    print(f"{label}: {r['mean_b']:.3f} against fp32 {r['mean_a']:.3f}; paired difference "
          f"{r['difference']:+.3f} ± {r['paired_stderr']:.3f} ({r['in_se']:.1f} SE)")
  print(json.dumps(results, indent=1))


if __name__ == "__main__":
  app.run(main)
