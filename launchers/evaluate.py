r"""Prints the test log-likelihood of a workdir's latest checkpoint.

    python launchers/evaluate.py --workdir=/tmp/vae --num_samples=5000
    python launchers/evaluate.py --workdir=/tmp/vae --method=ais --num_samples=16 --num_examples=100

--method=is (the default) importance-samples with the guide; --method=ais runs
annealed importance sampling from the prior (or --ais_proposal=guide) with K =
--num_samples chains of --ais_steps HMC steps, for ranking models. From the
prior it needs thousands of steps on a trained MNIST VAE: the defaults (2000
steps of size 0.1) matched or beat IS with K=5000, where 500 steps of size 0.05
were 39 nats short and 1000 steps 30 nats.
"""

import math

from absl import app
from absl import flags
from absl import logging

from tfp_zoo import launch_flags
from tfp_zoo import training

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A training workdir (holds config.json and "
                    "checkpoints/).", required=True)
flags.DEFINE_integer("num_samples", 5000, "K, importance samples (or AIS chains) per "
                     "example.", lower_bound=1)
flags.DEFINE_enum("method", "is", ["is", "ais"], "is: importance sampling with the guide; "
                  "ais: annealed importance sampling from the prior (real latents only).")
flags.DEFINE_integer("ais_steps", 2000, "AIS annealing steps (HMC transitions).",
                     lower_bound=1)
flags.DEFINE_float("ais_step_size", 0.1, "AIS HMC leapfrog step size.", lower_bound=1e-6)
flags.DEFINE_enum("ais_proposal", "prior", ["prior", "guide"], "AIS initial distribution: "
                  "the prior (the usual choice: independent of the guide, but needs "
                  "thousands of steps) or the guide q(z | x).")
flags.DEFINE_integer("num_examples", 0, "Evaluate the first N test examples "
                     "(0 = all).", lower_bound=0)
flags.DEFINE_integer("batch_size", 100, "Examples per evaluation batch.", lower_bound=1)
flags.DEFINE_integer("chunk_size", 250, "Particles drawn at once (bounds memory).",
                     lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of the importance samples (0 reproduces the "
                     "training run's final evaluation).", lower_bound=0,
                     upper_bound=2**31 - 1)
flags.DEFINE_enum("precision", "float32", ["float32", "bfloat16"], "Arithmetic of the "
                  "networks for --method=is: bfloat16 is about 1.7x faster on AVX512-BF16 "
                  "CPUs and TPUs (see benchmarks/RESULTS.md for its agreement with float32).")
flags.register_validator("ais_step_size", math.isfinite, message="must be finite")
flags.register_validator("workdir", launch_flags.is_existing_dir,
                         message="must be an existing training workdir")


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # our progress lines, not TF's INFO logs
  launch_flags.run_or_exit(_evaluate)


def _evaluate():
  result = training.evaluate_workdir(
      FLAGS.workdir, num_samples=FLAGS.num_samples, num_examples=FLAGS.num_examples,
      seed=FLAGS.seed, batch_size=FLAGS.batch_size, chunk_size=FLAGS.chunk_size,
      method=FLAGS.method, ais_steps=FLAGS.ais_steps, ais_step_size=FLAGS.ais_step_size,
      ais_proposal=FLAGS.ais_proposal, precision=FLAGS.precision)
  method = f"AIS from the {FLAGS.ais_proposal}, " if FLAGS.method == "ais" else ""
  bits = "" if result.bits_per_dim is None else f" ({result.bits_per_dim:.3f} bits/dim)"
  print(f"test log-likelihood ({method}K={result.num_samples}, "
        f"{result.num_examples} examples): "
        f"{result.mean:.3f} ± {result.stderr:.3f} nats{bits} | mean ESS "
        f"{result.mean_ess:.1f}/{result.num_samples}")


if __name__ == "__main__":
  app.run(main, flags_parser=launch_flags.parse_flags)
