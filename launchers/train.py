r"""Trains a model with an estimator; resumes from --workdir; evaluates at the end.

    python launchers/train.py --workdir=/tmp/vae --model=vae --estimator=iwae \
        --num_samples=5 --train_steps=2000
"""

from absl import app
from absl import flags
from absl import logging

from tfp_zoo import launch_flags
from tfp_zoo import training

FLAGS = flags.FLAGS
launch_flags.define_train_flags()
flags.adopt_module_key_flags(launch_flags)  # so --helpshort lists them


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # our progress lines, not TF's INFO logs
  config = launch_flags.train_config_from_flags(FLAGS)
  launch_flags.run_or_exit(lambda: _train(config))


def _train(config):
  result = training.train(config)
  if "test" not in result:  # stopped early by SIGTERM: checkpointed, not evaluated
    return
  print(f"done: step {result['step']}, test log-likelihood {result['test']['mean']:.3f} "
        f"(workdir {config.workdir})")


if __name__ == "__main__":
  app.run(main, flags_parser=launch_flags.parse_flags)
