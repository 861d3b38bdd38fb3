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

import math

from absl import app
from absl import flags
from absl import logging

from tfp_zoo import figures
from tfp_zoo import launch_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A training workdir (its latest checkpoint).")
flags.DEFINE_string("saved_model", None, "A SavedModel written by launchers/export.py.")
flags.DEFINE_string("output", None, "PNG file to write.", required=True)
flags.DEFINE_integer("num_samples", 64, "Samples in the grid.", lower_bound=1,
                     upper_bound=10_000)
flags.DEFINE_integer("seed", 0, "Seed of the samples.", lower_bound=0, upper_bound=2**31 - 1)
flags.DEFINE_integer("grid_points", 15, "Latent grid points per axis (2-D latents).",
                     lower_bound=2, upper_bound=100)
flags.DEFINE_float("extent", 3.0, "The latent grid spans [-extent, extent]^2.",
                   lower_bound=0.01)
flags.register_validator("extent", lambda v: math.isfinite(v),
                         message="must be a finite number >= 0.01")
flags.DEFINE_integer("posterior_examples", 4, "Test digits in the posterior figure.",
                     lower_bound=0, upper_bound=20)
flags.register_multi_flags_validator(
    ["workdir", "saved_model"], lambda v: (v["workdir"] is None) != (v["saved_model"] is None),
    message="give exactly one of --workdir and --saved_model")
flags.register_validator("output", lambda p: p is None or p.lower().endswith(".png"),
                         message="must be a .png file name")


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  launch_flags.run_or_exit(_sample)


def _sample():
  written = figures.write_pictures(
      FLAGS.output, workdir=FLAGS.workdir, saved_model=FLAGS.saved_model,
      num_samples=FLAGS.num_samples, seed=FLAGS.seed, grid_points=FLAGS.grid_points,
      extent=FLAGS.extent, posterior_examples=FLAGS.posterior_examples)
  for path in written:
    print(f"wrote {path}", flush=True)


if __name__ == "__main__":
  app.run(main, flags_parser=launch_flags.parse_flags)
