r"""Cost of an ALWS train step against an ELBO step, and how it grows with the
number of sleep samples N, per solver (random features, Nyström, exact kernel
ridge), on the 784-200-200-50 VAE at batch 100. One process; the
configurations are timed round-robin and the best of the repeats is kept, so
background load on a shared machine hits every configuration alike.

    python benchmarks/alws_cost.py                       # table + PNG
    python benchmarks/alws_cost.py --sizes=250,1000 --repeats=2
"""

import json
import os
import time

from absl import app
from absl import flags

import common

flags.DEFINE_list("sizes", ["250", "500", "1000", "2000", "4000"], "Sleep samples N.")
flags.DEFINE_list("solvers", ["random_features", "nystrom", "exact"], "ALWS solvers.")
flags.DEFINE_integer("num_features", 1000, "D, random features or Nyström landmarks "
                     "(at most N).")
flags.DEFINE_list("ridges", ["1e-3"], "ALWS ridge values: numbers, or 'auto' (λ by "
                  "leave-one-out from an eigendecomposition each step).")
flags.DEFINE_integer("exact_max_size", 2000, "Largest N for the O(N³) exact solver.")
flags.DEFINE_integer("batch_size", 100, "Data batch.")
flags.DEFINE_integer("repeats", 3, "Round-robin repeats (best kept).")
flags.DEFINE_float("seconds", 2.0, "Length of one timing window.")
flags.DEFINE_string("output", "/tmp/tfp_zoo_alws_cost", "Directory for the JSON and PNG.")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfp_zoo import estimators, models, training  # pylint: disable=g-import-not-at-top

  x = tf.cast(tf.random.stateless_uniform([FLAGS.batch_size, 28, 28, 1], [0, 1]) < 0.3,
              tf.float32)
  configs = [("elbo", None, 0, {"num_samples": 1})]
  ridges = [r if r == "auto" else float(r) for r in FLAGS.ridges]
  for ridge in ridges:
    for solver in FLAGS.solvers:
      for n in (int(s) for s in FLAGS.sizes):
        if solver == "exact" and n > FLAGS.exact_max_size:
          continue
        options = {"num_sleep_samples": n, "solver": solver, "ridge": ridge}
        if solver != "exact":  # the exact solver takes no features (bind refuses them)
          options["num_features"] = min(FLAGS.num_features, n)
        configs.append(("alws", solver, n, options))

  steps = []
  for estimator, _, _, options in configs:
    model = models.get("vae", input_shape=(28, 28, 1))
    step = training.make_train_step(
        model, estimators.get(estimator),
        training.make_optimizer(1e-4, model.generative_variables),
        training.make_optimizer(1e-4, model.guide_variables), **options)
    start = time.perf_counter()
    step(x, tf.constant(0, tf.int64))["generative_loss"].numpy()
    steps.append((step, time.perf_counter() - start))

  best = [float("inf")] * len(configs)
  for repeat in range(FLAGS.repeats):
    for i, (step, _) in enumerate(steps):
      n, start = 0, time.perf_counter()
      while time.perf_counter() - start < FLAGS.seconds:
        step(x, tf.constant(n + 1, tf.int64))["generative_loss"].numpy()
        n += 1
      best[i] = min(best[i], (time.perf_counter() - start) / n)
    print(f"repeat {repeat + 1}/{FLAGS.repeats} done", flush=True)

  elbo_ms = best[0] * 1e3
  rows = []
  print(f"\nTrain step, 784-200-200-50 VAE, batch {FLAGS.batch_size}, {os.cpu_count()} CPU "
        f"cores (best of {FLAGS.repeats} round-robin repeats)\n")
  print("| estimator | solver | sleep samples N | features D | ridge | ms/step | vs ELBO | "
        "first call (s) |")
  print("|---|---|---|---|---|---|---|---|")
  for (estimator, solver, n, options), seconds, (_, first) in zip(configs, best, steps):
    ms = seconds * 1e3
    rows.append({"estimator": estimator, "solver": solver, "n": n,
                 "d": options.get("num_features"), "ridge": options.get("ridge"), "ms": ms,
                 "ratio": ms / elbo_ms})
    print(f"| {estimator} | {solver or '-'} | {n or '-'} | "
          f"{options.get('num_features', '-') if solver != 'exact' else '-'} | "
          f"{options.get('ridge', '-')} | {ms:.1f} | {ms / elbo_ms:.1f}x | {first:.1f} |")
  os.makedirs(FLAGS.output, exist_ok=True)
  with open(os.path.join(FLAGS.output, "alws_cost.json"), "w") as f:
    json.dump(rows, f, indent=2)

  plt = common.pyplot()
  fig, ax = plt.subplots(figsize=(6, 4))
  for ridge in ridges:
    for solver in FLAGS.solvers:
      points = [(r["n"], r["ms"]) for r in rows
                if r["solver"] == solver and r["ridge"] == ridge]
      if points:
        ax.plot(*zip(*points), marker="o", label=f"alws, {solver}, ridge={ridge}")
  ax.axhline(elbo_ms, color="gray", linestyle="--", label="elbo (K=1)")
  ax.axhline(6 * elbo_ms, color="gray", linestyle=":", label="6x elbo")
  ax.set_xscale("log")
  ax.set_yscale("log")
  ax.set_xlabel("sleep samples N")
  ax.set_ylabel("ms per train step (batch 100)")
  ax.set_title(f"ALWS step cost, D = min(N, {FLAGS.num_features})")
  ax.grid(alpha=0.3, which="both")
  ax.legend()
  path = os.path.join(FLAGS.output, "alws_cost.png")
  fig.savefig(path, dpi=120, bbox_inches="tight")
  print(f"\nwrote {path}")


if __name__ == "__main__":
  app.run(main)
