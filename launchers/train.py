r"""Trains a model with an estimator; resumes from --workdir; evaluates at the end.

    python launchers/train.py --workdir=/tmp/vae --model=vae --estimator=iwae \
        --num_samples=5 --train_steps=2000

Every flag is a field of `tfp_zoo.training.TrainConfig`; see the README's
"Launching" section for which ones a resumed run may change.
"""

import sys

from absl import app
from absl import flags
from absl import logging

from tfp_zoo.app import launch_flags
from tfp_zoo import training

FLAGS = flags.FLAGS
launch_flags.define_train_flags()
flags.adopt_module_key_flags(launch_flags)  # so --helpshort lists them


def main(argv):
  del argv
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


if __name__ == "__main__":
  app.run(main, flags_parser=launch_flags.parse_flags)
