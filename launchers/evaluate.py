r"""Prints the importance-sampled test log-likelihood of a workdir's latest checkpoint.

    python launchers/evaluate.py --workdir=/tmp/vae --num_samples=5000
"""

from absl import app
from absl import flags
from absl import logging

from tfp_zoo import launch_flags
from tfp_zoo import training

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A training workdir (holds config.json and "
                    "checkpoints/).", required=True)
flags.DEFINE_integer("num_samples", 5000, "K, importance samples per example.",
                     lower_bound=1)
flags.DEFINE_integer("num_examples", 0, "Evaluate the first N test examples "
                     "(0 = all).", lower_bound=0)
flags.DEFINE_integer("batch_size", 100, "Examples per evaluation batch.", lower_bound=1)
flags.DEFINE_integer("chunk_size", 250, "Particles drawn at once (bounds memory).",
                     lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of the importance samples (0 reproduces the "
                     "training run's final evaluation).", lower_bound=0,
                     upper_bound=2**31 - 1)
flags.register_validator("workdir", launch_flags.is_existing_dir,
                         message="must be an existing training workdir")


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # our progress lines, not TF's INFO logs
  launch_flags.run_or_exit(_evaluate)


def _evaluate():
  result = training.evaluate_workdir(
      FLAGS.workdir, num_samples=FLAGS.num_samples, num_examples=FLAGS.num_examples,
      seed=FLAGS.seed, batch_size=FLAGS.batch_size, chunk_size=FLAGS.chunk_size)
  print(f"test log-likelihood (K={result.num_samples}, {result.num_examples} examples): "
        f"{result.mean:.3f} ± {result.stderr:.3f} nats | mean ESS "
        f"{result.mean_ess:.1f}/{result.num_samples}")


if __name__ == "__main__":
  app.run(main, flags_parser=launch_flags.parse_flags)
