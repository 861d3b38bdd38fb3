"""Convolutional layers: shapes at any rank, exact size round trips, and the
transposed convolution as the adjoint of the convolution."""

import tensorflow as tf
from absl.testing import parameterized

from tfp_zoo.nn import conv


class ConvTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters((), (5,), (2, 3))
  def test_any_leading_shape(self, *leading):
    layer = conv.Conv2D(3, 4, 3, stride=2, seed=[0, 1])
    x = tf.random.stateless_normal([*leading, 7, 9, 3], seed=[1, 2])
    y = layer(x)
    self.assertEqual(y.shape, (*leading, 4, 5, 4))
    folded = layer(tf.reshape(x, [-1, 7, 9, 3]))
    self.assertAllClose(tf.reshape(y, folded.shape), folded)

  def test_transpose_is_the_adjoint(self):
    # <conv(x), y> = <x, conv^T(y)> for the same kernel (no bias): what makes
    # the decoder the mirror of the encoder.
    forward = conv.Conv2D(3, 4, 4, stride=2, seed=[0, 1])
    backward = conv.Conv2DTranspose(4, 3, 4, stride=2, seed=[0, 2])
    backward.kernel.assign(forward.kernel)
    x = tf.random.stateless_normal([2, 7, 9, 3], seed=[1, 2])
    y = tf.random.stateless_normal([2, 4, 5, 4], seed=[3, 4])
    lhs = tf.reduce_sum((forward(x) - forward.bias) * y)
    rhs = tf.reduce_sum(x * (backward(y, (7, 9)) - backward.bias))
    self.assertAllClose(lhs, rhs, rtol=1e-5)
    # Broken variant: a spatially flipped kernel is not the adjoint.
    backward.kernel.assign(forward.kernel[::-1, ::-1])
    flipped = tf.reduce_sum(x * (backward(y, (7, 9)) - backward.bias))
    self.assertGreater(abs(float(flipped - lhs)), 1e-2 * abs(float(lhs)))

  def test_residual_block_starts_as_identity_and_trains(self):
    block = conv.ResidualBlock(4, seed=[0, 1])
    x = tf.random.stateless_normal([2, 5, 5, 4], seed=[1, 2])
    self.assertAllClose(block(x), x)
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(block(x) ** 2)
    grads = tape.gradient(loss, block.trainable_variables)
    self.assertLen(block.trainable_variables, 4)
    self.assertTrue(any(float(tf.reduce_sum(tf.abs(g))) > 0 for g in grads))

  @parameterized.parameters(((28, 28, 1), (16, 32, 32)), ((32, 32, 3), (32, 64)),
                            ((5, 7, 2), (4,)))
  def test_encoder_and_decoder_sizes_round_trip(self, shape, channels):
    encoder = conv.ConvEncoder(shape, channels, 6, residual_blocks=1, seed=[0, 1])
    decoder = conv.ConvDecoder(6, shape, channels, residual_blocks=1, seed=[0, 2])
    x = tf.random.stateless_uniform([3, 2, *shape], seed=[1, 2])
    h = encoder(x)
    self.assertEqual(h.shape, (3, 2, 6))
    self.assertEqual(decoder(h).shape, (3, 2, *shape))
    self.assertEqual(decoder(h[0, 0]).shape, shape)  # unbatched, as JointDistribution traces
    self.assertEqual(encoder.sizes, list(reversed(decoder.sizes)))
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(decoder(encoder(x)))
    variables = encoder.trainable_variables + decoder.trainable_variables
    grads = tape.gradient(loss, variables)
    self.assertTrue(all(g is not None for g in grads))

  def test_downsampled_sizes(self):
    self.assertEqual(conv.downsampled_sizes((28, 28), 3), [(28, 28), (14, 14), (7, 7), (4, 4)])

  def test_bad_arguments(self):
    with self.assertRaisesRegex(ValueError, "^kernel_size=0: expected a positive integer$"):
      conv.Conv2D(1, 1, 0, seed=[0, 0])
    with self.assertRaisesRegex(ValueError, "channels=\\(\\): expected positive integer"):
      conv.ConvEncoder((28, 28, 1), (), 4, seed=[0, 0])
    with self.assertRaisesRegex(ValueError, "images \\[H, W, C\\], got shape \\(784,\\)"):
      conv.ConvEncoder((784,), (8,), 4, seed=[0, 0])
    with self.assertRaisesRegex(ValueError, "activation='gelu'"):
      conv.ConvDecoder(4, (28, 28, 1), (8,), activation="gelu", seed=[0, 0])


if __name__ == "__main__":
  tf.test.main()
