r"""Trains a model with an estimator; resumes from --workdir; evaluates at the end.

    tfp-zoo-train --workdir=/tmp/vae --model=vae --estimator=iwae \
        --num_samples=5 --train_steps=2000

Every flag is a field of `tfp_zoo.training.TrainConfig`; see the docs' training page for which ones a resumed run may change.
"""

from tfp_zoo.launch import startup

startup.import_tensorflow()  # before anything imports it: its C++ start-up lines dropped

# pylint: disable=g-import-not-at-top,wrong-import-position
import sys

from absl import app
from absl import flags
from absl import logging

from tfp_zoo.app import launch_flags
from tfp_zoo import training

__all__ = ["main", "run", "define_flags"]

FLAGS = flags.FLAGS


def define_flags() -> None:
  """Defines one flag per `TrainConfig` field (once per process)."""
  if "workdir" not in FLAGS:
    launch_flags.define_train_flags()
    launch_flags.list_in_helpshort()


def main(argv: list[str]) -> None:
  """Trains the run the parsed flags describe; exits with one line on a bad one.

  Args:
    argv: the arguments absl left after parsing the flags (none are used).
  """
  del argv
  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # our progress lines, not TF's INFO logs
  config = launch_flags.train_config_from_flags(FLAGS)
  result = launch_flags.run_or_exit(lambda: training.train(config))
  if result.get("stopped_by") == "SIGINT":  # checkpointed, not evaluated
    sys.exit(launch_flags.INTERRUPTED)
  if "test" in result:  # not stopped early by SIGTERM
    mean = training.finite_scalar(result["test"].get("mean"))
    shown = "not a number" if mean is None else f"{mean:.3f}"
    print(f"done: step {result['step']}, test log-likelihood {shown} "
          f"(workdir {config.workdir})")


def run() -> None:
  """The `tfp-zoo-train` command: defines the flags, parses `sys.argv`, runs `main`."""
  define_flags()
  app.run(main, flags_parser=launch_flags.parse_flags)


if __name__ == "__main__":
  run()
