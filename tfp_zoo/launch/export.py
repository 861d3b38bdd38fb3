r"""Exports a training workdir's latest checkpoint as a SavedModel for sampling.

    tfp-zoo-export --workdir=/tmp/tfp_zoo_vae --output=/tmp/tfp_zoo_vae_export

The SavedModel needs only TensorFlow to load and run; its functions are
`sample(num_samples, seed)`, `decode(<latents>, seed)`, `encode(x, seed)` (models
with a guide) and `log_likelihood(x, num_samples, seed)`. See `tfp_zoo.app.export`.
"""

from tfp_zoo.launch import startup

startup.import_tensorflow()  # before anything imports it: its C++ start-up lines dropped

# pylint: disable=g-import-not-at-top,wrong-import-position
from tfp_zoo.app import export
from tfp_zoo.app import launch_flags
from tfp_zoo.training.launcher_configs import ExportConfig

__all__ = ["run"]


def run() -> None:
  """The `tfp-zoo-export` command: parses `sys.argv` and exports."""
  launch_flags.run_command(ExportConfig, _export)


def _export(config: ExportConfig) -> None:
  path = export.export_workdir(config.workdir, config.output, overwrite=config.overwrite)
  print(f"wrote {path}")


if __name__ == "__main__":
  run()
