r"""Exports a training workdir's latest checkpoint as a SavedModel for sampling.

    python launchers/export.py --workdir=/tmp/tfp_zoo_vae --output=/tmp/tfp_zoo_vae_export

The SavedModel needs only TensorFlow to load and run; its functions are
`sample(num_samples, seed)`, `decode(<latents>, seed)`, `encode(x, seed)` (models
with a guide) and `log_likelihood(x, num_samples, seed)`. See tfp_zoo/export.py.
"""

from absl import app
from absl import flags
from absl import logging

from tfp_zoo.app import export
from tfp_zoo.app import launch_flags
from tfp_zoo.training.launcher_configs import ExportConfig

FLAGS = flags.FLAGS
launch_flags.define_flags(ExportConfig)  # one flag per field, with its one default
flags.adopt_module_key_flags(launch_flags)  # so --helpshort lists them


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  launch_flags.run_or_exit(_export)


def _export():
  config = launch_flags.config_from_flags(ExportConfig)
  path = export.export_workdir(config.workdir, config.output, overwrite=config.overwrite)
  print(f"wrote {path}")


if __name__ == "__main__":
  app.run(main, flags_parser=launch_flags.parse_flags)
