r"""Train-step throughput, compile time and peak memory, printed as a table.

Each configuration runs in its own process (clean peak-memory numbers) on the
784-200-200-50 tanh VAE with Bernoulli pixels (IWAE paper), batch 100, on a
fixed binary batch (the input pipeline is excluded; it costs ~0.6 ms a batch
and runs in parallel). If PyTorch is importable, a hand-written PyTorch IWAE
step of the same network is measured in the same run, alternating with the
TF runs, as the reference.

    python benchmarks/throughput.py                    # every estimator x K in {1,5,50} x jit
    python benchmarks/throughput.py --ks=5 --jit=off --repeats=3
    # guides and priors beside the diagonal-Gaussian IWAE step:
    python benchmarks/throughput.py --estimators=iwae,dreg --ks=5,50 --jit=off \
        --variant= --variant=guide=iaf --variant=prior=flow
    # bf16 beside float32 and PyTorch (fp32 and bf16 autocast, 1 and 2 threads),
    # and the conv VAE on 32×32×3 batches:
    python benchmarks/throughput.py --estimators=iwae --ks=5,50 --jit=off \
        --precisions=float32,bfloat16 --torch_bf16 --torch_threads=1,2 --conv

The PyTorch reference ("vs PyTorch") is the fastest of its float32 runs over
--torch_threads: its OpenMP threads slow badly when another process shares the
cores, so run this on an otherwise idle machine. `--conv` adds the conv VAE
(`architecture=conv`, channels 32-64, latent 50, Bernoulli pixels on random
binary 32×32×3 batches: CIFAR-10's shape) and the same network in PyTorch.
"""

import json
import os
import resource
import subprocess
import sys
import time

from absl import app
from absl import flags

flags.DEFINE_list("estimators", ["all"], "Estimators to measure ('all': every "
                  "registered estimator).")
flags.DEFINE_list("ks", ["1", "5", "50"], "Numbers of samples K.")
flags.DEFINE_enum("jit", "both", ["both", "on", "off"], "jit_compile settings.")
flags.DEFINE_integer("batch_size", 100, "Batch size.")
flags.DEFINE_float("seconds", 2.0, "Length of one timing window.")
flags.DEFINE_integer("repeats", 1, "Runs of each configuration (best is reported).")
flags.DEFINE_multi_string("variant", [""], "Model hparams of the VAE to measure, e.g. "
                          "'guide=iaf,prior=vampprior'; repeat the flag for several "
                          "('' is the default diagonal guide and standard prior).")
flags.DEFINE_list("precisions", ["float32"], "Train-step precisions (float32, bfloat16, "
                  "mixed_float16); rows other than float32 show it in the model column.")
flags.DEFINE_bool("torch", True, "Also time a PyTorch IWAE step if torch is installed.")
flags.DEFINE_list("torch_threads", ["1", "2"], "torch.set_num_threads values to time "
                  "(the fastest float32 one is the reference).")
flags.DEFINE_bool("torch_bf16", False, "Also time PyTorch with bf16 autocast.")
flags.DEFINE_bool("conv", False, "Also time the conv VAE on 32x32x3 batches (iwae only), "
                  "beside the same network in PyTorch.")
flags.DEFINE_list("conv_ks", ["5"], "K of the conv VAE rows (its step is ~40x the MLP's).")
flags.DEFINE_bool("eval_memory", True, "Also measure log_likelihood with K=5000 on 100 "
                  "images (chunked).")
flags.DEFINE_string("worker", None, "Internal: run one configuration (JSON) and print "
                    "its result.")
FLAGS = flags.FLAGS


def _peak_rss_mb():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _time_windows(step, seconds):
  """Best examples/s over three windows of about `seconds` each."""
  best = 0.0
  for _ in range(3):
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
      step()
      n += 1
    best = max(best, n / (time.perf_counter() - start))
  return best


def _measure(step, config):
  """First-call time, then the best throughput, and memory, of `step()`."""
  base_rss = _peak_rss_mb()
  start = time.perf_counter()
  step()
  compile_seconds = time.perf_counter() - start
  for _ in range(10):
    step()
  steps_per_second = _time_windows(step, config["seconds"])
  return {"examples_per_second": steps_per_second * config["batch_size"],
          "compile_seconds": compile_seconds, "peak_rss_mb": _peak_rss_mb(),
          "step_rss_mb": _peak_rss_mb() - base_rss}


def _tf_worker(config):
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfp_zoo import estimators, models, registry, training  # pylint: disable=g-import-not-at-top
  conv = config.get("network") == "conv"
  shape = (32, 32, 3) if conv else (28, 28, 1)
  hparams = registry.parse_key_values(config.get("variant", ""))
  if conv:
    hparams["architecture"] = "conv"
  model = models.get("vae", input_shape=shape, **hparams)
  x = tf.cast(tf.random.stateless_uniform([config["batch_size"], *shape], [0, 1]) < 0.3,
              tf.float32)
  options = {"num_samples": config["k"]} if config["k"] else {}
  if estimators.accepts(config["estimator"], "dataset_size"):
    options["dataset_size"] = 60000  # beta_tc_vae: MNIST's training set
  state = estimators.make_state(config["estimator"], model)  # nvil's baseline
  guide_variables = model.guide_variables + (
      state.trainable_variables if state is not None else ())
  precision = config.get("precision", "float32")
  loss_scale = precision == "mixed_float16"
  step_fn = training.make_train_step(
      model, estimators.get(config["estimator"]),
      training.make_optimizer(1e-4, model.generative_variables, loss_scale=loss_scale),
      training.make_optimizer(1e-4, guide_variables, loss_scale=loss_scale),
      jit_compile=config["jit"], state=state, precision=precision, **options)
  counter = [0]

  def step():
    counter[0] += 1
    return step_fn(x, tf.constant(counter[0], tf.int64))["generative_loss"].numpy()

  return _measure(step, config)


def _estimators_worker(config):
  """{estimator name: whether it takes num_samples} of the registry."""
  del config
  from tfp_zoo import estimators  # pylint: disable=g-import-not-at-top
  return {name: estimators.accepts(name, "num_samples") for name in estimators.names()}


def _torch_networks(torch, conv):
  """Encoder (x -> 2x50 Gaussian parameters) and decoder (z -> logits), as ours."""
  if not conv:
    def mlp(sizes):
      layers = []
      for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.Tanh()]
      return torch.nn.Sequential(*layers[:-1])
    return mlp([784, 200, 200, 100]), mlp([50, 200, 200, 784]), (784,)
  nn = torch.nn
  # tfp_zoo.nn.conv with channels 32-64 on 32x32x3: the same layers and FLOPs
  # (PyTorch pads stride-2 convolutions symmetrically, TF's SAME asymmetrically).
  encoder = nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1), nn.Tanh(), nn.Conv2d(32, 64, 4, 2, 1),
                          nn.Tanh(), nn.Flatten(), nn.Linear(8 * 8 * 64, 100))
  decoder = nn.Sequential(nn.Linear(50, 8 * 8 * 64), nn.Tanh(), nn.Unflatten(-1, (64, 8, 8)),
                          nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.Tanh(),
                          nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.Tanh(),
                          nn.Conv2d(32, 3, 3, 1, 1))
  return encoder, decoder, (3, 32, 32)


def _torch_worker(config):
  import math  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  torch.manual_seed(0)
  torch.set_num_threads(config.get("threads", torch.get_num_threads()))
  encoder, decoder, shape = _torch_networks(torch, config.get("network") == "conv")
  optimizer = torch.optim.Adam(list(encoder.parameters()) + list(decoder.parameters()), 1e-4)
  x = (torch.rand(config["batch_size"], *shape) < 0.3).float()
  k = config["k"]
  autocast = config.get("autocast", False)

  def step():
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
      loc, raw = encoder(x).float().chunk(2, -1)
      scale = torch.nn.functional.softplus(raw) + 1e-4
      eps = torch.randn(k, *loc.shape)
      z = loc + scale * eps
      log_q = (-0.5 * eps ** 2 - scale.log() - 0.5 * math.log(2 * math.pi)).sum(-1)
      log_pz = (-0.5 * z ** 2 - 0.5 * math.log(2 * math.pi)).sum(-1)
      logits = decoder(z.reshape(-1, z.shape[-1])).float().reshape(k, *x.shape)
    log_px = -torch.nn.functional.binary_cross_entropy_with_logits(
        logits, x.expand_as(logits), reduction="none").flatten(2).sum(-1)
    loss = -(torch.logsumexp(log_pz + log_px - log_q, 0) - math.log(k)).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()

  return _measure(step, config)


def _eval_worker(config):
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfp_zoo import evaluation, models  # pylint: disable=g-import-not-at-top
  model = models.get("vae", input_shape=(28, 28, 1))
  x = tf.cast(tf.random.stateless_uniform([100, 28, 28, 1], [0, 1]) < 0.3, tf.float32)
  base_rss = _peak_rss_mb()
  start = time.perf_counter()
  result = evaluation.log_likelihood(model, x, seed=tf.constant([0, 1]),
                                     num_samples=config["k"], chunk_size=config["chunk"])
  assert bool(tf.reduce_all(tf.math.is_finite(result.log_likelihood)))
  return {"seconds": time.perf_counter() - start, "peak_rss_mb": _peak_rss_mb(),
          "step_rss_mb": _peak_rss_mb() - base_rss}


def _run(config):
  command = [sys.executable, os.path.abspath(__file__), f"--worker={json.dumps(config)}"]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
             PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  process = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
  lines = [l for l in process.stdout.splitlines() if l.startswith("RESULT ")]
  if process.returncode or not lines:
    raise RuntimeError(f"worker {config} failed:\n{process.stderr[-3000:]}")
  return json.loads(lines[-1][len("RESULT "):])


def _faster(a, b):
  """The better of two results of one configuration (None counts as worse)."""
  if a is None or "error" in a:
    return b
  if "error" in b:
    return a
  key = "examples_per_second" if "examples_per_second" in a else "seconds"
  better = a[key] > b[key] if key == "examples_per_second" else a[key] < b[key]
  return a if better else b


def _cpu_model():
  sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
  import common  # pylint: disable=g-import-not-at-top
  return common.cpu_model()


def _label(variant, precision):
  """The model column: the hparams, then the precision unless float32."""
  if precision == "float32":
    return variant or "-"
  return ",".join(filter(None, [variant, f"precision={precision}"]))


def _torch_available():
  try:
    import torch  # pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    return False
  return True


def main(argv):
  del argv
  if FLAGS.worker:
    config = json.loads(FLAGS.worker)
    worker = {"tf": _tf_worker, "torch": _torch_worker, "eval": _eval_worker,
              "estimators": _estimators_worker}[config["kind"]]
    try:
      result = worker(config)
    except ValueError as e:  # a configuration the estimator refuses (vimco with K=1)
      result = {"error": str(e)}
    print("RESULT " + json.dumps(result), flush=True)
    return
  jits = {"both": [False, True], "on": [True], "off": [False]}[FLAGS.jit]
  use_torch = FLAGS.torch and _torch_available()
  # The parent never imports TensorFlow: Linux carries a process's peak RSS
  # over fork+exec, so a heavy parent would inflate every worker's figure.
  registered = _run(dict(kind="estimators"))
  names = list(registered) if FLAGS.estimators == ["all"] else FLAGS.estimators
  unknown = sorted(set(names) - set(registered))
  if unknown:
    raise app.UsageError(f"--estimators: unknown {', '.join(unknown)}; known: "
                         f"{', '.join(registered)}")
  plan = []  # (implementation, network, estimator, variant, K, jit label, worker config)
  without_k = [e for e in names if not registered[e]]
  names = [e for e in names if registered[e]]
  common_config = dict(batch_size=FLAGS.batch_size, seconds=FLAGS.seconds)
  for network in ["mlp"] + (["conv"] if FLAGS.conv else []):
    for k in (int(k) for k in (FLAGS.ks if network == "mlp" else FLAGS.conv_ks)):
      if use_torch:
        for autocast in [False] + ([True] if FLAGS.torch_bf16 else []):
          for threads in (int(t) for t in FLAGS.torch_threads):
            plan.append((f"pytorch, {threads} thread{'s' if threads > 1 else ''}", network,
                         "iwae", "bf16 autocast" if autocast else "-", k, "-",
                         dict(kind="torch", network=network, k=k, threads=threads,
                              autocast=autocast, **common_config)))
      for variant in FLAGS.variant if network == "mlp" else [""]:
        for precision in FLAGS.precisions:
          for estimator in names if network == "mlp" else ["iwae"]:
            for jit in jits:
              plan.append(("tfp_zoo", network, estimator, _label(variant, precision), k,
                           "on" if jit else "off",
                           dict(kind="tf", network=network, estimator=estimator, k=k, jit=jit,
                                variant=variant, precision=precision, **common_config)))
  # Estimators without K (alws: its own num_sleep_samples) run once, as K "-".
  for estimator in without_k:
    for variant in FLAGS.variant:
      for jit in jits:
        plan.append(("tfp_zoo", "mlp", estimator, variant or "-", 0, "on" if jit else "off",
                     dict(kind="tf", estimator=estimator, k=0, jit=jit, variant=variant,
                          **common_config)))
  # Repeats go round the whole plan, so that load on this shared machine hits
  # every configuration alike; the best run of each is reported.
  best = [None] * len(plan)
  for repeat in range(FLAGS.repeats):
    for i, (*label, config) in enumerate(plan):
      best[i] = _faster(best[i], _run(config))
      print(f"measured {label} (repeat {repeat + 1})", file=sys.stderr, flush=True)
  rows = [(*label, result) for (*label, _), result in zip(plan, best)]
  print(f"\nTrain step, batch {FLAGS.batch_size}: mlp = the 784-200-200-50 VAE on 28x28x1, "
        f"conv = the conv VAE on 32x32x3; {os.cpu_count()} CPU cores ({_cpu_model()})\n")
  print("| implementation | network | estimator | model hparams | K | jit_compile | examples/s "
        "| ms/step | vs PyTorch | first call (s) | peak RSS (MiB) | step RSS (MiB) |")
  print("|---|---|---|---|---|---|---|---|---|---|---|---|")
  # The reference: PyTorch's fastest float32 run (over thread counts) per network and K.
  reference = {}
  for impl, network, _, variant, k, _, r in rows:
    if impl.startswith("pytorch") and variant == "-" and "error" not in r:
      reference[network, k] = max(reference.get((network, k), 0.0), r["examples_per_second"])
  for impl, network, estimator, variant, k, jit, r in rows:
    if "error" in r:
      print(f"| {impl} | {network} | {estimator} | {variant} | {k or '-'} | {jit} | "
            f"n/a: {r['error']} | | | | | |")
      continue
    comparable = estimator == "iwae" and (
        impl.startswith("pytorch") or variant.split(",")[0] in (
            "-", "precision=bfloat16", "precision=mixed_float16"))
    ratio = (f"{r['examples_per_second'] / reference[network, k]:.2f}x"
             if (network, k) in reference and comparable else "-")
    step_ms = 1000 * FLAGS.batch_size / r["examples_per_second"]
    print(f"| {impl} | {network} | {estimator} | {variant} | {k or '-'} | {jit} "
          f"| {r['examples_per_second']:.0f} | {step_ms:.1f} | {ratio} "
          f"| {r['compile_seconds']:.2f} | {r['peak_rss_mb']:.0f} | {r['step_rss_mb']:.0f} |")
  if FLAGS.eval_memory:
    print("\nEvaluation: log_likelihood, K=5000, 100 images, chunk 250\n")
    r = _run(dict(kind="eval", k=5000, chunk=250))
    print("| seconds | peak RSS (MiB) | RSS added by evaluation (MiB) |")
    print("|---|---|---|")
    print(f"| {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} | {r['step_rss_mb']:.0f} |")


if __name__ == "__main__":
  app.run(main)
