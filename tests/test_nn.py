"""Rank-polymorphic layers: same answer per row whatever the leading dimensions."""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tfp_zoo import nn


class NNTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(((),), ((3,),), ((2, 3),), ((2, 1, 3),))
  def test_mlp_any_leading_shape(self, leading):
    mlp = nn.MLP([4, 8, 5], seed=[1, 2])
    x = tf.random.stateless_normal(leading + (4,), seed=[3, 4])
    y = mlp(x)
    self.assertEqual(y.shape, leading + (5,))
    rows = tf.reshape(x, [-1, 4])
    expected = tf.reshape(mlp(rows), leading + (5,))
    self.assertAllClose(y, expected, atol=1e-6)

  def test_dense_is_affine(self):
    layer = nn.Dense(3, 2, seed=[0, 1])
    x = tf.constant([1.0, -2.0, 0.5])
    self.assertAllClose(layer(x), tf.linalg.matvec(tf.transpose(layer.kernel), x)
                        + layer.bias)

  def test_initialisation_is_reproducible_and_seed_dependent(self):
    a, b, c = (nn.MLP([3, 4, 2], seed=s) for s in ([1, 2], [1, 2], [1, 3]))
    self.assertAllEqual(a.layers[0].kernel, b.layers[0].kernel)
    self.assertNotAllClose(a.layers[0].kernel, c.layers[0].kernel)
    self.assertLen(a.trainable_variables, 4)

  def test_flatten_event(self):
    x = tf.zeros([5, 2, 28, 28, 1])
    self.assertEqual(nn.flatten_event(x, 3).shape, (5, 2, 784))
    self.assertEqual(nn.flatten_event(tf.zeros([784]), 1).shape, (784,))

  def test_bad_arguments(self):
    with self.assertRaisesRegex(ValueError, "activation='nope'"):
      nn.MLP([2, 2], activation="nope", seed=[0, 0])
    with self.assertRaisesRegex(ValueError, "at least"):
      nn.MLP([2], seed=[0, 0])


class ParseSizesTest(tf.test.TestCase):

  def test_parse_sizes(self):
    self.assertEqual(nn.parse_sizes(5, "hidden_sizes"), (5,))
    self.assertEqual(nn.parse_sizes([200, 100], "hidden_sizes"), (200, 100))
    for bad in ((), (0,), (3, -1), (2.5,)):
      with self.assertRaisesRegex(ValueError, "hidden_sizes=.*positive integer sizes"):
        nn.parse_sizes(bad, "hidden_sizes")


class LSTMCellTest(tf.test.TestCase):

  def test_matches_the_lstm_equations_and_broadcasts_state_against_inputs(self):
    cell = nn.LSTMCell(3, 4, seed=(1, 2))
    x = tf.random.stateless_normal([5, 2, 3], [0, 1])  # [particles, batch, input]
    h0, c0 = tf.random.stateless_normal([2, 4], [0, 2]), tf.random.stateless_normal([2, 4],
                                                                                    [0, 3])
    out, (h, c) = cell(x, (h0, c0))
    self.assertEqual(out.shape, (5, 2, 4))
    gates = (np.einsum("pbi,ig->pbg", x.numpy(), cell.input_layer.kernel.numpy())
             + cell.input_layer.bias.numpy() + h0.numpy() @ cell.state_layer.kernel.numpy()
             + cell.state_layer.bias.numpy())
    i, f, o, g = np.split(gates, 4, axis=-1)
    sigmoid = lambda v: 1 / (1 + np.exp(-v))
    c_expected = sigmoid(f) * c0.numpy() + sigmoid(i) * np.tanh(g)
    self.assertAllClose(c, c_expected, atol=1e-5)
    self.assertAllClose(h, sigmoid(o) * np.tanh(c_expected), atol=1e-5)
    self.assertAllEqual(out, h)
    # The forget gate starts open (bias 1), the others at 0.
    self.assertAllEqual(cell.input_layer.bias.numpy()[4:8], np.ones(4))
    zeros = cell.initial_state(tf.constant([2]))
    self.assertEqual(zeros[0].shape, (2, 4))


if __name__ == "__main__":
  tf.test.main()
