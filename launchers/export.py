r"""Exports a training workdir's latest checkpoint as a SavedModel for sampling.

    python launchers/export.py --workdir=/tmp/tfp_zoo_vae --output=/tmp/tfp_zoo_vae_export

The SavedModel needs only TensorFlow to load and run; its functions are
`sample(num_samples, seed)`, `decode(<latents>, seed)`, `encode(x, seed)` (models
with a guide) and `log_likelihood(x, num_samples, seed)`. See tfp_zoo/export.py.
"""

from absl import app
from absl import flags
from absl import logging

from tfp_zoo import export
from tfp_zoo import launch_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A training workdir (holds config.json and "
                    "checkpoints/).", required=True)
flags.DEFINE_string("output", None, "SavedModel directory to write.", required=True)
flags.DEFINE_bool("overwrite", False, "Replace --output if it exists.")
flags.register_validator("workdir", launch_flags.is_existing_dir,
                         message="must be an existing training workdir")


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  launch_flags.run_or_exit(_export)


def _export():
  path = export.export_workdir(FLAGS.workdir, FLAGS.output, overwrite=FLAGS.overwrite)
  print(f"wrote {path}")


if __name__ == "__main__":
  app.run(main, flags_parser=launch_flags.parse_flags)
