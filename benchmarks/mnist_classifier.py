r"""A small MNIST classifier whose penultimate layer is the feature space of the
Fréchet distance in `alws_sample_quality.py` (an FID with an MNIST network in
place of Inception).

784-256-128-10 ReLU MLP, Adam, trained on continuous (grey-level) digits and
saved as a SavedModel with `features(images)` (the 128 ReLU activations) and
`logits(images)`, both on float images [N, 28, 28, 1] in [0, 1].

    python benchmarks/mnist_classifier.py --data_dir=../shared/data/mnist \
        --output=/tmp/tfp_zoo_classifier
"""

import os

from absl import app
from absl import flags

import common

common.define_mnist_flags()
flags.DEFINE_string("output", "/tmp/tfp_zoo_classifier", "SavedModel directory to write.")
flags.DEFINE_integer("epochs", 5, "Passes over the training set (batch 100).")
FLAGS = flags.FLAGS


def read_split(dataset: str, data_dir: str | None, split: str):
  """(images float32 [N, 28, 28, 1] in [0, 1], labels int64 [N]) straight from
  the idx files, so images and labels stay paired."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from tfp_zoo.datasets import idx, sources  # pylint: disable=g-import-not-at-top
  directory = sources.shipped_dir() if dataset == "mnist_small" else data_dir
  images_file, labels_file = idx.IDX_FILES[split]
  images = idx.read_idx(os.path.join(directory, images_file))[..., None]
  labels = idx.read_idx(os.path.join(directory, labels_file))
  return (images / np.float32(255)).astype(np.float32), labels.astype(np.int64)


def train_classifier(dataset: str, data_dir: str | None, output: str, *,
                     epochs: int = 5, seed: int = 0) -> float:
  """Trains the classifier, saves it to `output`; returns the test accuracy."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfp_zoo import nn, training  # pylint: disable=g-import-not-at-top

  class Classifier(tf.Module):

    def __init__(self):
      super().__init__()
      self.body = nn.MLP([784, 256, 128], activation="relu", seed=[seed, 1])
      self.head = nn.Dense(128, 10, seed=[seed, 2])

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)])
    def features(self, images):
      return tf.nn.relu(self.body(tf.reshape(images, [-1, 784])))

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)])
    def logits(self, images):
      return self.head(self.features(images))

  train_x, train_y = read_split(dataset, data_dir, "train")
  test_x, test_y = read_split(dataset, data_dir, "test")
  classifier = Classifier()
  optimizer = training.make_optimizer(1e-3, tuple(classifier.trainable_variables))

  @tf.function
  def step(x, y):
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
          y, classifier.logits(x)))
    variables = classifier.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    return loss

  rng = np.random.default_rng(seed)
  for epoch in range(epochs):
    order = rng.permutation(len(train_x))
    losses = [float(step(train_x[order[i:i + 100]], train_y[order[i:i + 100]]))
              for i in range(0, len(order) - 99, 100)]
    print(f"epoch {epoch + 1}/{epochs}: train cross-entropy {np.mean(losses):.4f}", flush=True)
  predictions = np.concatenate([np.argmax(classifier.logits(test_x[i:i + 1000]), -1)
                                for i in range(0, len(test_x), 1000)])
  accuracy = float(np.mean(predictions == test_y))
  tmp = output.rstrip("/") + ".tmp"
  tf.saved_model.save(classifier, tmp)
  if os.path.exists(output):
    import shutil  # pylint: disable=g-import-not-at-top
    shutil.rmtree(output)
  os.replace(tmp, output)  # a failed save leaves no half-written classifier
  return accuracy


def main(argv):
  del argv
  accuracy = train_classifier(FLAGS.dataset, common.mnist_data_dir(), FLAGS.output,
                              epochs=FLAGS.epochs)
  print(f"test accuracy {accuracy:.4f}; wrote {FLAGS.output}")


if __name__ == "__main__":
  app.run(main)
