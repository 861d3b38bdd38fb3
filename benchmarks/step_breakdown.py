r"""Where the IWAE train step's time goes, at each precision: the measured
breakdown behind the bf16-vs-PyTorch ratio in RESULTS.md.

On the 784-200-200-50 VAE, batch 100, K = --k, each part is its own
`tf.function`, timed best-of-windows in one process:

    step           the whole train step (training.make_train_step)
    networks       encoder on x and decoder on the K·batch latents, forward and
                   backward with dense upstream gradients (matmuls, tanh, casts)
    likelihood     Bernoulli log p(x | z) over [K, batch, 784] from fixed
                   float32 logits, forward and gradient (always float32; the
                   model's `distributions.Bernoulli`)
    adam           one Adam update of every variable

The remainder (step − the three parts) is sampling, log q, log p(z), the
log-sum-exp weights and graph overhead.

    python benchmarks/step_breakdown.py --k=50
"""

import os
import time

from absl import app
from absl import flags

flags.DEFINE_integer("k", 50, "K of the IWAE bound.", lower_bound=1)
flags.DEFINE_integer("batch_size", 100, "Batch size.", lower_bound=1)
flags.DEFINE_list("precisions", ["float32", "bfloat16"], "Precisions to break down.")
flags.DEFINE_float("seconds", 2.0, "Length of one timing window (best of three).")
FLAGS = flags.FLAGS


def _ms(fn):
  fn()
  for _ in range(5):
    fn()
  best = float("inf")
  for _ in range(3):
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < FLAGS.seconds:
      fn()
      n += 1
    best = min(best, (time.perf_counter() - start) / n)
  return 1000 * best


def _breakdown(precision_name):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_probability as tfp  # pylint: disable=g-import-not-at-top
  from tfp_zoo import distributions, estimators, models, training  # pylint: disable=g-import-not-at-top
  from tfp_zoo.nn import precision
  model = models.get("vae", input_shape=(28, 28, 1))
  k, b = FLAGS.k, FLAGS.batch_size
  x = tf.cast(tf.random.stateless_uniform([b, 28, 28, 1], [0, 1]) < 0.3, tf.float32)
  generative = training.make_optimizer(1e-4, model.generative_variables)
  guide = training.make_optimizer(1e-4, model.guide_variables)
  step_fn = training.make_train_step(model, estimators.get("iwae"), generative, guide,
                                     precision=precision_name, num_samples=k)
  counter = [0]

  def step():
    counter[0] += 1
    step_fn(x, tf.constant(counter[0], tf.int64))["generative_loss"].numpy()

  encoder, decoder = model.encoders[0], model.decoders[0]
  z = tf.random.stateless_normal([k, b, 50], [1, 2])
  variables = tuple(encoder.trainable_variables) + tuple(decoder.trainable_variables)

  # Dense upstream gradients, as the likelihood sends them (a Σ-loss would
  # send ones, which Grappler simplifies).
  upstream_decoder = tf.random.stateless_normal([k, b, 784], [5, 6])
  upstream_encoder = tf.random.stateless_normal([b, 100], [5, 7])

  @tf.function(autograph=False)
  def networks():
    with precision.using(precision_name), tf.GradientTape() as tape:
      loss = (tf.reduce_sum(encoder(tf.reshape(x, [b, 784])) * upstream_encoder)
              + tf.reduce_sum(decoder(z) * upstream_decoder))
    return tape.gradient(loss, variables)

  logits = tf.Variable(tf.random.stateless_normal([k, b, 28, 28, 1], [3, 4]))

  @tf.function(autograph=False)
  def likelihood():
    with tf.GradientTape() as tape:
      log_px = tfp.distributions.Independent(
          distributions.Bernoulli(logits=logits, dtype=tf.float32), 3).log_prob(x)
      loss = -tf.reduce_sum(log_px)
    return tape.gradient(loss, logits)

  all_variables = tuple(model.generative_variables) + tuple(model.guide_variables)
  zeros = [tf.zeros_like(v) + 1e-3 for v in all_variables]
  adam = training.make_optimizer(1e-4, all_variables)

  @tf.function(autograph=False)
  def adam_update():
    adam.apply_gradients(zip(zeros, all_variables))

  parts = {"step": _ms(step),
           "networks": _ms(lambda: [g.numpy() for g in networks()][0]),
           "likelihood": _ms(lambda: likelihood().numpy()),
           "adam": _ms(lambda: adam_update())}
  parts["remainder"] = parts["step"] - parts["networks"] - parts["likelihood"] - parts["adam"]
  return parts


def main(argv):
  del argv
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  import common  # pylint: disable=g-import-not-at-top
  results = {p: _breakdown(p) for p in FLAGS.precisions}
  print(f"\nIWAE step, 784-200-200-50 VAE, batch {FLAGS.batch_size}, K={FLAGS.k}; "
        f"{os.cpu_count()} cores ({common.cpu_model()}); ms, best of three windows\n")
  keys = list(next(iter(results.values())))
  print("| part | " + " | ".join(results) + " |")
  print("|---|" + "---|" * len(results))
  for key in keys:
    print(f"| {key} | " + " | ".join(f"{r[key]:.1f}" for r in results.values()) + " |")


if __name__ == "__main__":
  app.run(main)
