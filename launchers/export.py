r"""Exports a training workdir's latest checkpoint as a SavedModel for sampling.

    python launchers/export.py --workdir=/tmp/tfp_zoo_vae --output=/tmp/tfp_zoo_vae_export

The SavedModel needs only TensorFlow to load and run; its functions are
`sample(num_samples, seed)`, `decode(<latents>, seed)`, `encode(x, seed)` (models
with a guide) and `log_likelihood(x, num_samples, seed)`. See `tfp_zoo.app.export`.
"""
# The launcher lives in the package (`tfp_zoo.launch.export`, the `tfp-zoo-export`
# command); this file keeps `python launchers/export.py` working in a checkout.

from tfp_zoo.launch import export

if __name__ == "__main__":
  export.run()
