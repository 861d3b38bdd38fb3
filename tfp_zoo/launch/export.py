r"""Exports a training workdir's latest checkpoint as a SavedModel for sampling.

    tfp-zoo-export --workdir=/tmp/tfp_zoo_vae --output=/tmp/tfp_zoo_vae_export

The SavedModel needs only TensorFlow to load and run; its functions are
`sample(num_samples, seed)`, `decode(<latents>, seed)`, `encode(x, seed)` (models
with a guide) and `log_likelihood(x, num_samples, seed)`. See `tfp_zoo.app.export`.
"""

from tfp_zoo.launch import startup

startup.import_tensorflow()  # before anything imports it: its C++ start-up lines dropped

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
from absl import logging

from tfp_zoo.app import export
from tfp_zoo.app import launch_flags
from tfp_zoo.training.launcher_configs import ExportConfig

__all__ = ["main", "run", "define_flags"]

FLAGS = flags.FLAGS


def define_flags() -> None:
  """Defines one flag per `ExportConfig` field, with its one default (once per process)."""
  if "workdir" not in FLAGS:
    launch_flags.define_flags(ExportConfig)
    launch_flags.list_in_helpshort()


def main(argv: list[str]) -> None:
  """Runs the command the parsed flags describe; exits with one line on a bad one.

  Args:
    argv: the arguments absl left after parsing the flags (none are used).
  """
  del argv
  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # our progress lines, not TF's INFO logs
  launch_flags.run_or_exit(_export)


def _export() -> None:
  config = launch_flags.config_from_flags(ExportConfig)
  path = export.export_workdir(config.workdir, config.output, overwrite=config.overwrite)
  print(f"wrote {path}")


def run() -> None:
  """The `tfp-zoo-export` command: defines the flags, parses `sys.argv`, runs `main`."""
  define_flags()
  app.run(main, flags_parser=launch_flags.parse_flags)


if __name__ == "__main__":
  run()
