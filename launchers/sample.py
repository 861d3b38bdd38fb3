r"""Writes PNG pictures of a trained model, from a workdir or an exported SavedModel.

    python launchers/sample.py --workdir=/tmp/tfp_zoo_vae --output=/tmp/samples.png
    python launchers/sample.py --saved_model=/tmp/tfp_zoo_vae_export --output=/tmp/samples.png

Always: `--output`, a grid of samples x ~ p(x) beside their decoder means
E[x | z]. For a model with one latent in R² (e.g. `vae` with
`latent_sizes=2`), also `<output stem>_latent_grid.png`, decoder means over a
grid of latent values, and (from a workdir) `<output stem>_posterior.png`:
for a few test digits, the true posterior p(z | x) ∝ p(z, x) evaluated on a
grid beside the guide q(z | x), as in the first figure of the ALWS blog post.
"""

from absl import app
from absl import flags
from absl import logging

from tfp_zoo.app import figures
from tfp_zoo.app import launch_flags
from tfp_zoo.training.launcher_configs import SampleConfig

FLAGS = flags.FLAGS
launch_flags.define_flags(SampleConfig)  # one flag per field, with its one default
flags.adopt_module_key_flags(launch_flags)  # so --helpshort lists them


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  launch_flags.run_or_exit(_sample)


def _sample():
  config = launch_flags.config_from_flags(SampleConfig)
  written = figures.write_pictures(**vars(config))
  for path in written:
    print(f"wrote {path}", flush=True)


if __name__ == "__main__":
  app.run(main, flags_parser=launch_flags.parse_flags)
