"""The spatial transformer: identity, pixel shifts against tf.roll, round trips,
gradients, broadcasting and XLA."""

import numpy as np
import tensorflow as tf

from tfp_zoo.nn import spatial_transformer as st


def _image(size=12, seed=0):
  return tf.constant(np.random.default_rng(seed).uniform(size=(2, size, size)), tf.float32)


class SpatialTransformerTest(tf.test.TestCase):

  def test_identity_reproduces_the_input_with_finite_gradients(self):
    images = _image()
    where = tf.constant([[1.0, 0.0, 0.0]] * 2)
    with tf.GradientTape() as tape:
      tape.watch(where)
      window = st.extract_window(images, where, (12, 12))
      placed = st.place_window(images, where, (12, 12))
      loss = tf.reduce_sum(window * images) + tf.reduce_sum(placed ** 2)
    self.assertAllClose(window, images, atol=1e-6)
    self.assertAllClose(placed, images, atol=1e-6)
    grad = tape.gradient(loss, where)
    self.assertTrue(np.all(np.isfinite(grad.numpy())))
    self.assertGreater(np.abs(grad.numpy()).sum(), 0.0)  # shifts and scale do matter

  def test_one_pixel_shift_matches_tf_roll(self):
    images, size = _image(), 12
    for axis, where in ((2, [1.0, 2.0 / size, 0.0]), (1, [1.0, 0.0, 2.0 / size]),
                        (2, [1.0, -2.0 / size, 0.0])):
      shift = -1 if where[1] + where[2] > 0 else 1
      window = st.extract_window(images, tf.constant([where] * 2), (size, size))
      rolled = tf.roll(images, shift, axis=axis).numpy()
      # tf.roll wraps around; the transformer reads zeros outside the image.
      edge = [slice(None)] * 3
      edge[axis] = size - 1 if shift == -1 else 0
      rolled[tuple(edge)] = 0.0
      self.assertAllClose(window, rolled, atol=1e-6)
    # Power: a shift of two pixels is not the one-pixel roll.
    window = st.extract_window(images, tf.constant([[1.0, 4.0 / size, 0.0]] * 2), (size, size))
    self.assertGreater(np.abs(window[:, :, :-2] - tf.roll(images, -1, 2)[:, :, :-2]).max(), 0.1)

  def test_placing_a_window_then_extracting_it_is_the_identity(self):
    windows = _image(8, seed=1)
    where = tf.constant([[0.4, 0.3, -0.2], [0.4, -0.5, 0.5]])  # 8 px window, 20 px canvas
    canvas = st.place_window(windows, where, (20, 20))
    self.assertAllClose(st.extract_window(canvas, where, (8, 8)), windows, atol=1e-5)
    # Outside the box the canvas is empty; the box holds the window's mass.
    self.assertAllClose(tf.reduce_sum(canvas, [1, 2]),
                        tf.reduce_sum(windows, [1, 2]) * (0.4 * 20 / 8) ** 2, rtol=1e-5)

  def test_gradients_match_finite_differences_off_the_pixel_grid(self):
    images = _image(12, seed=2)
    windows = _image(5, seed=3)
    where = tf.constant([[0.43, 0.137, -0.071], [0.61, -0.213, 0.094]], tf.float64)
    def loss(w):
      w = tf.cast(w, tf.float32)
      return (tf.reduce_sum(st.extract_window(images, w, (5, 5)) * windows)
              + tf.reduce_sum(st.place_window(windows, w, (12, 12)) * images))
    with tf.GradientTape() as tape:
      tape.watch(where)
      value = loss(where)
    grad = tape.gradient(value, where).numpy()
    h = 1e-3
    numeric = np.zeros_like(grad)
    for i in range(2):
      for j in range(3):
        step = np.zeros((2, 3))
        step[i, j] = h
        numeric[i, j] = (float(loss(where + step)) - float(loss(where - step))) / (2 * h)
    # Piecewise linear in each position: central differences are exact unless a
    # kink lies within h, which these boxes avoid; float32 rounding remains.
    self.assertAllClose(grad, numeric, rtol=1e-2, atol=1e-2)
    self.assertGreater(np.abs(grad).min(), 1e-3)

  def test_broadcasts_particles_against_a_batch_of_images(self):
    images = _image()  # [2, 12, 12]
    where = tf.random.stateless_uniform([5, 2, 3], seed=[0, 1], minval=0.3, maxval=0.6)
    windows = st.extract_window(images, where, (4, 4))
    self.assertEqual(windows.shape, (5, 2, 4, 4))
    self.assertAllClose(windows[3, 1], st.extract_window(images[1], where[3, 1], (4, 4)))

  def test_compiles_with_xla(self):
    images, where = _image(), tf.constant([[0.5, 0.1, -0.1]] * 2)
    compiled = tf.function(lambda i, w: st.place_window(st.extract_window(i, w, (6, 6)), w,
                                                        (12, 12)), jit_compile=True)
    self.assertAllClose(compiled(images, where),
                        st.place_window(st.extract_window(images, where, (6, 6)), where,
                                        (12, 12)), atol=1e-5)


if __name__ == "__main__":
  tf.test.main()
