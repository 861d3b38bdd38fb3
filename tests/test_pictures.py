"""Pictures: tiling, the latent grid, and the posterior on a grid against the
exact linear-Gaussian posterior."""

import numpy as np
import tensorflow as tf

from tfp_zoo import models
from tfp_zoo.app import figures
from tfp_zoo.evaluation import samples


class PicturesTest(tf.test.TestCase):

  def test_tile_places_images_row_major(self):
    images = np.arange(5, dtype=np.float32)[:, None, None, None] * np.ones([5, 2, 3, 1])
    canvas = samples.tile(images, columns=3)
    self.assertEqual(canvas.shape, (4, 9))
    self.assertAllEqual(canvas[0, ::3], [0, 1, 2])
    self.assertAllEqual(canvas[2, ::3], [3, 4, 0])  # the missing cell stays black
    self.assertEqual(samples.tile(np.zeros([10, 4, 4])).shape, (12, 16))  # 4 columns
    with self.assertRaisesRegex(ValueError, "images: need"):
      samples.tile(np.zeros([4, 4]))
    with self.assertRaisesRegex(ValueError, "images: need"):
      samples.tile(np.zeros([2, 4, 4, 2]))

  def test_colour_tiles_and_8_bit_display(self):
    images = np.zeros([3, 2, 2, 3], np.float32)
    images[1, ..., 0] = 255.0  # the second image is pure red
    images[2, ..., 2] = 510.0  # out of range: clipped
    canvas = samples.for_display(images, maximum=255.0)
    self.assertEqual(canvas.shape, (4, 4, 3))
    self.assertAllEqual(canvas[0, 2], [1.0, 0.0, 0.0])
    self.assertAllEqual(canvas[2, 0], [0.0, 0.0, 1.0])
    self.assertAllEqual(canvas[2, 2], [0.0, 0.0, 0.0])  # the missing cell
    eight_bit = models.get("vae", input_shape=(4, 4, 3), likelihood="discretized_logistic")
    self.assertEqual(samples.pixel_max(eight_bit), 255.0)
    self.assertEqual(samples.pixel_max(models.get("vae", input_shape=(4, 4, 1))), 1.0)

  def test_latent_grid_orientation(self):
    grid = samples.latent_grid(2.0, 3)
    self.assertAllClose(grid[0], [-2.0, 2.0])   # top left: z1 low, z2 high
    self.assertAllClose(grid[2], [2.0, 2.0])
    self.assertAllClose(grid[-1], [2.0, -2.0])

  def test_planar_latent_detection(self):
    cases = (("vae", dict(latent_sizes=(2,), hidden_sizes=(4,)), True),
             ("vae", dict(latent_sizes=(3,), hidden_sizes=(4,)), False),
             ("linear_gaussian", dict(latent_size=2), True),
             ("hyperspherical_vae", dict(latent_dim=2, hidden_sizes=(4,)), False),  # circle
             ("gaussian_mixture", dict(num_components=3), False))
    for name, hparams, expected in cases:
      model = models.get(name, input_shape=(4, 4, 1), **hparams)
      self.assertEqual(samples.has_planar_latent(model), expected, name)
    with self.assertRaisesRegex(ValueError, "no single latent in R²"):
      samples.posterior_on_grid(models.get("gaussian_mixture", input_shape=(4, 4, 1)),
                                 np.zeros([1, 4, 4, 1]))

  def test_posterior_grid_matches_the_exact_posterior(self):
    model = models.get("linear_gaussian", input_shape=(5,), latent_size=2, seed=1)
    x = model.joint().sample(3, seed=tf.constant([1, 1])).x
    true, guide = samples.posterior_on_grid(model, x, extent=5.0, num_points=80)
    self.assertAllClose(true.sum((1, 2)), np.ones(3), rtol=1e-5)
    self.assertAllClose(guide.sum((1, 2)), np.ones(3), rtol=1e-5)
    grid = samples.latent_grid(5.0, 80)
    posterior = model.exact_posterior(x)
    grid_mean = np.einsum("bg,gd->bd", true.reshape(3, -1), grid)
    self.assertAllClose(grid_mean, posterior.mean(), atol=0.01)
    centred = grid[None] - grid_mean[:, None]
    grid_cov = np.einsum("bg,bgd,bge->bde", true.reshape(3, -1), centred, centred)
    self.assertAllClose(grid_cov, posterior.covariance(), atol=0.01)
    # The prior alone (what a bug dropping log p(x | z) would give) is far off.
    prior_mean = np.zeros(2)
    self.assertGreater(np.abs(posterior.mean().numpy() - prior_mean).max(), 0.2)

  def test_write_pictures_needs_exactly_one_source(self):
    from tfp_zoo import training  # pylint: disable=g-import-not-at-top
    with self.assertRaisesRegex(training.ConfigError, "exactly one of --workdir and"):
      figures.write_pictures("/tmp/x.png")
    with self.assertRaisesRegex(training.ConfigError, "exactly one of --workdir and"):
      figures.write_pictures("/tmp/x.png", workdir="/a", saved_model="/b")
    with self.assertRaisesRegex(training.ConfigError, "is not a SavedModel directory"):
      figures.write_pictures("/tmp/x.png", saved_model=self.get_temp_dir())


if __name__ == "__main__":
  tf.test.main()
