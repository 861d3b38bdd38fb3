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
# The launcher lives in the package (`tfp_zoo.launch.sample`, the `tfp-zoo-sample`
# command); this file keeps `python launchers/sample.py` working in a checkout.

from tfp_zoo.launch import sample

if __name__ == "__main__":
  sample.run()
