r"""Trains a model with an estimator; resumes from --workdir; evaluates at the end.

    tfp-zoo-train --workdir=/tmp/vae --model=vae --estimator=iwae \
        --num_samples=5 --train_steps=2000

Every flag is a field of `tfp_zoo.training.TrainConfig`; see docs/training.md for which
ones a resumed run may change.
"""

from tfp_zoo.launch import startup

startup.import_tensorflow()  # before anything imports it: its C++ start-up lines dropped

# pylint: disable=g-import-not-at-top,wrong-import-position
import sys

from tfp_zoo import training
from tfp_zoo.app import launch_flags
from tfp_zoo.training import TrainConfig

__all__ = ["run"]


def run() -> None:
  """The `tfp-zoo-train` command: parses `sys.argv` and trains."""
  launch_flags.run_command(TrainConfig, _train)


def _train(config: TrainConfig) -> None:
  result = training.train(config)
  if result.get("stopped_by") == "SIGINT":  # checkpointed, not evaluated
    sys.exit(launch_flags.INTERRUPTED)
  if "test" in result:  # not stopped early by SIGTERM
    mean = training.finite_scalar(result["test"].get("mean"))
    shown = "not a number" if mean is None else f"{mean:.3f}"
    print(f"done: step {result['step']}, test log-likelihood {shown} "
          f"(workdir {config.workdir})")


if __name__ == "__main__":
  run()
