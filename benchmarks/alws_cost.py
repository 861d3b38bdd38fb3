r"""Cost of an ALWS train step against an ELBO step, and how it grows with the
number of sleep samples N, per solver (random features, Nyström, exact kernel
ridge), on the 784-200-200-50 VAE at batch 100 (Bernoulli and Gaussian
pixels). One process; the configurations are timed round-robin and the best
of the repeats is kept, so background load on a shared machine hits every
configuration alike. Each ALWS step runs as training does, with its
`AlwsState` (λ rechosen every 100 steps, the monitor every 100).

Beside each cost, its accuracy: the relative error of the same configuration's
θ-gradient against the exact gradient of a 20-d linear-Gaussian model
(5 seeds; `--accuracy=false` skips it).

    python benchmarks/alws_cost.py                       # table + PNG
    python benchmarks/alws_cost.py --sizes=1000 --solvers=random_features --repeats=2
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
flags.DEFINE_list("ridges", ["auto", "1e-3"], "ALWS ridge values: numbers, or 'auto' "
                  "(the default: λ by generalised cross-validation, rechosen every 100 steps).")
flags.DEFINE_list("likelihoods", ["bernoulli", "gaussian"], "VAE pixel likelihoods.")
flags.DEFINE_list("projections", ["bfloat16"], "Random-feature projections "
                  "(kernels.PROJECTIONS; the default bfloat16, dense, structured).")
flags.DEFINE_boolean("breakdown", True, "Also time the parts of the default N = D = "
                     "--num_features step (Bernoulli VAE).")
flags.DEFINE_boolean("accuracy", True, "Measure each configuration's gradient error on a "
                     "linear-Gaussian model.")
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

  uniform = tf.random.stateless_uniform([FLAGS.batch_size, 28, 28, 1], [0, 1])
  data = {"bernoulli": tf.cast(uniform < 0.3, tf.float32), "gaussian": uniform}
  configs = [("elbo", likelihood, None, 0, {"num_samples": 1})
             for likelihood in FLAGS.likelihoods]
  ridges = [r if r == "auto" else float(r) for r in FLAGS.ridges]
  for likelihood in FLAGS.likelihoods:
    for ridge in ridges:
      for solver in FLAGS.solvers:
        for projection in (FLAGS.projections if solver == "random_features" else [None]):
          for n in (int(s) for s in FLAGS.sizes):
            if solver == "exact" and n > FLAGS.exact_max_size:
              continue
            options = {"num_sleep_samples": n, "solver": solver, "ridge": ridge}
            if solver != "exact":  # the exact solver takes no features (bind refuses them)
              options["num_features"] = min(FLAGS.num_features, n)
            if projection:
              options["projection"] = projection
            configs.append(("alws", likelihood, solver, n, options))

  steps = []
  for estimator, likelihood, _, _, options in configs:
    model = models.get("vae", input_shape=(28, 28, 1), likelihood=likelihood)
    bound = estimators.bind(estimator, **options)
    step = training.make_train_step(
        model, bound, training.make_optimizer(1e-4, model.generative_variables),
        training.make_optimizer(1e-4, model.guide_variables), state=bound.init(model))
    x = data[likelihood]
    start = time.perf_counter()
    step(x, tf.constant(0, tf.int64))["generative_loss"].numpy()
    steps.append((step, time.perf_counter() - start, x))

  best = [float("inf")] * len(configs)
  for repeat in range(FLAGS.repeats):
    for i, (step, _, x) in enumerate(steps):
      n, start = 0, time.perf_counter()
      while time.perf_counter() - start < FLAGS.seconds:
        step(x, tf.constant(n + 1, tf.int64))["generative_loss"].numpy()
        n += 1
      best[i] = min(best[i], (time.perf_counter() - start) / n)
    print(f"repeat {repeat + 1}/{FLAGS.repeats} done", flush=True)

  errors = [_gradient_error(options) if FLAGS.accuracy and estimator == "alws" else None
            for estimator, _, _, _, options in configs]
  elbo_ms = {c[1]: t * 1e3 for c, t in zip(configs, best) if c[0] == "elbo"}
  rows = []
  print(f"\nTrain step, 784-200-200-50 VAE, batch {FLAGS.batch_size}, {common.cpu_model()} "
        f"({os.cpu_count()} cores; best of {FLAGS.repeats} round-robin repeats)\n")
  print("| pixels | estimator | solver | projection | N | D | ridge | ms/step | vs ELBO | "
        "gradient error (linear-Gaussian) | first call (s) |")
  print("|---|---|---|---|---|---|---|---|---|---|---|")
  for (estimator, likelihood, solver, n, options), seconds, (_, first, _), error in zip(
      configs, best, steps, errors):
    ms = seconds * 1e3
    ratio = ms / elbo_ms[likelihood]
    rows.append({"likelihood": likelihood, "estimator": estimator, "solver": solver, "n": n,
                 "d": options.get("num_features"), "ridge": options.get("ridge"),
                 "projection": options.get("projection"), "ms": ms, "ratio": ratio,
                 "gradient_error": error})
    print(f"| {likelihood} | {estimator} | {solver or '-'} | {options.get('projection', '-')} "
          f"| {n or '-'} | {options.get('num_features', '-') if solver != 'exact' else '-'} | "
          f"{options.get('ridge', '-')} | {ms:.1f} | {ratio:.1f}x | "
          f"{'-' if error is None else f'{error:.3f}'} | {first:.1f} |")
  os.makedirs(FLAGS.output, exist_ok=True)
  with open(os.path.join(FLAGS.output, "alws_cost.json"), "w") as f:
    json.dump(rows, f, indent=2)
  if FLAGS.breakdown:
    _breakdown(FLAGS.num_features, elbo_ms[FLAGS.likelihoods[0]])

  plt = common.pyplot()
  fig, ax = plt.subplots(figsize=(6, 4))
  for ridge in ridges:
    for solver in FLAGS.solvers:
      points = [(r["n"], r["ratio"]) for r in rows
                if r["solver"] == solver and r["ridge"] == ridge
                and r["likelihood"] == FLAGS.likelihoods[0]]
      if points:
        ax.plot(*zip(*points), marker="o", label=f"alws, {solver}, ridge={ridge}")
  ax.axhline(1, color="gray", linestyle="--", label="elbo (K=1)")
  ax.axhline(6, color="gray", linestyle=":", label="6x elbo (the target)")
  ax.set_xscale("log")
  ax.set_yscale("log")
  ax.set_xlabel("sleep samples N")
  ax.set_ylabel(f"step time / ELBO step ({FLAGS.likelihoods[0]} pixels, batch 100)")
  ax.set_title(f"ALWS step cost, D = min(N, {FLAGS.num_features})")
  ax.grid(alpha=0.3, which="both")
  ax.legend()
  path = os.path.join(FLAGS.output, "alws_cost.png")
  fig.savefig(path, dpi=120, bbox_inches="tight")
  print(f"\nwrote {path}")


def _breakdown(size: int, elbo_ms: float) -> None:
  """Times the parts of a default ALWS step with N = D = `size`, each as its
  own compiled function (best of 5 windows), against the ELBO step."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfp_zoo import kernels, models  # pylint: disable=g-import-not-at-top
  from tfp_zoo.estimators import amortised_learning as al  # pylint: disable=g-import-not-at-top
  model = models.get("vae", input_shape=(28, 28, 1))
  seed = tf.constant([1, 2])
  sample = al._sleep(model.joint(), size, seed)[1]  # pylint: disable=protected-access
  inputs = tf.reshape(sample.x, [size, -1])
  features = kernels.random_fourier_features(784, size, kernel_name="gaussian",
                                             bandwidth=10.0, seed=seed,
                                             projection="bfloat16")
  phi = features(inputs)
  gram = tf.matmul(phi, phi, transpose_a=True) + float(size) * 1e-3 * tf.eye(size)

  def sleep_pass():
    with tf.GradientTape() as tape:
      dists, drawn = al._sleep(model.joint(), size, seed)  # pylint: disable=protected-access
      total = tf.reduce_sum(tf.add_n([d.log_prob(v) for d, v in
                                      zip(dists, tf.nest.flatten(drawn))]))
    return tape.gradient(total, model.generative_variables)

  def guide_update():
    with tf.GradientTape() as tape:
      loss = -tf.reduce_mean(model.guide(sample.x[:100]).log_prob(z=sample.z[:100]))
    return tape.gradient(loss, model.guide_variables)
  parts = [
      ("sleep samples and log-densities, forward and backward", sleep_pass),
      ("random features (bf16 projection, cos)", lambda: features(inputs)),
      ("Gram matrix ΦᵀΦ (float32)", lambda: tf.matmul(phi, phi, transpose_a=True)),
      ("Cholesky factorisation (float32)", lambda: tf.linalg.cholesky(gram)),
      ("λ choice: eigendecomposition (float32, LAPACK) / 100 steps",
       lambda: kernels.symmetric_eigh(gram)[0]),
      ("guide's sleep update (100 samples)", guide_update),
  ]
  print(f"\nParts of the default ALWS step, N = D = {size} (ms; ELBO step {elbo_ms:.1f})\n")
  print("| part | ms | vs ELBO |")
  print("|---|---|---|")
  for name, fn in parts:
    compiled = tf.function(fn, autograph=False)
    tf.nest.map_structure(lambda t: t.numpy(), compiled())
    best = float("inf")
    for _ in range(5):
      start, n = time.perf_counter(), 0
      while time.perf_counter() - start < 0.5:
        tf.nest.map_structure(lambda t: t.numpy(), compiled())
        n += 1
      best = min(best, (time.perf_counter() - start) / n)
    ms = best * 1e3 / (100 if "/ 100 steps" in name else 1)
    print(f"| {name} | {ms:.1f} | {ms / elbo_ms:.2f}x |")


def _gradient_error(options, seeds: int = 5) -> float:
  """Mean ‖ĝ − g‖/‖g‖ of ALWS with `options` on a 20-d linear-Gaussian model."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfp_zoo import estimators, models  # pylint: disable=g-import-not-at-top
  model = models.LinearGaussian((20,), latent_size=3, seed=7)
  x = model.joint().sample(16, seed=[1, 2]).x
  flat = lambda grads: tf.concat([tf.reshape(g, [-1]) for g in grads], 0)
  with tf.GradientTape() as tape:
    loss = -tf.reduce_mean(model.exact_log_likelihood(x))
  exact = flat(tape.gradient(loss, model.generative_variables)).numpy()
  state = estimators.make_state("alws", model)

  @tf.function(autograph=False)
  def gradient(seed):
    with tf.GradientTape() as tape:
      loss = estimators.alws(model, x, seed=seed, state=state, ridge_every=1,
                             **options).generative_loss
    return flat(tape.gradient(loss, model.generative_variables))
  return float(np.mean([np.linalg.norm(gradient(tf.constant([i, 9])).numpy() - exact)
                        for i in range(seeds)]) / np.linalg.norm(exact))


if __name__ == "__main__":
  app.run(main)
