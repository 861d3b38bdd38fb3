r"""Writes PNG pictures of a trained model, from a workdir or an exported SavedModel.

    tfp-zoo-sample --workdir=/tmp/tfp_zoo_vae --output=/tmp/samples.png
    tfp-zoo-sample --saved_model=/tmp/tfp_zoo_vae_export --output=/tmp/samples.png

Always: `--output`, a grid of samples x ~ p(x) beside their decoder means
E[x | z]. For a model with one latent in R² (e.g. `vae` with
`latent_sizes=2`), also `<output stem>_latent_grid.png`, decoder means over a
grid of latent values, and (from a workdir) `<output stem>_posterior.png`:
for a few test digits, the true posterior p(z | x) ∝ p(z, x) evaluated on a
grid beside the guide q(z | x), as in the first figure of the ALWS blog post.
"""

from tfp_zoo.launch import startup

startup.import_tensorflow()  # before anything imports it: its C++ start-up lines dropped

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
from absl import logging

from tfp_zoo.app import figures
from tfp_zoo.app import launch_flags
from tfp_zoo.training.launcher_configs import SampleConfig

__all__ = ["main", "run", "define_flags"]

FLAGS = flags.FLAGS


def define_flags() -> None:
  """Defines one flag per `SampleConfig` field, with its one default (once per process)."""
  if "workdir" not in FLAGS:
    launch_flags.define_flags(SampleConfig)
    launch_flags.list_in_helpshort()


def main(argv: list[str]) -> None:
  """Runs the command the parsed flags describe; exits with one line on a bad one.

  Args:
    argv: the arguments absl left after parsing the flags (none are used).
  """
  del argv
  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # our progress lines, not TF's INFO logs
  launch_flags.run_or_exit(_sample)


def _sample() -> None:
  config = launch_flags.config_from_flags(SampleConfig)
  written = figures.write_pictures(**vars(config))
  for path in written:
    print(f"wrote {path}", flush=True)


def run() -> None:
  """The `tfp-zoo-sample` command: defines the flags, parses `sys.argv`, runs `main`."""
  define_flags()
  app.run(main, flags_parser=launch_flags.parse_flags)


if __name__ == "__main__":
  run()
