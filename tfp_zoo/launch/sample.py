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
from tfp_zoo.app import figures
from tfp_zoo.app import launch_flags
from tfp_zoo.training.launcher_configs import SampleConfig

__all__ = ["run"]


def run() -> None:
  """The `tfp-zoo-sample` command: parses `sys.argv` and writes the pictures."""
  launch_flags.run_command(SampleConfig, _sample)


def _sample(config: SampleConfig) -> None:
  written = figures.write_pictures(**vars(config))
  for path in written:
    print(f"wrote {path}", flush=True)


if __name__ == "__main__":
  run()
