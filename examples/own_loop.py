"""Your own training loop: an estimator bound once, the package's compiled
train step, and tf.data, on the MNIST subset shipped with the package.

The loop is the launcher's step without the launcher: batch s is
`datasets.train_batches`' batch s and draws from fold_in((seed, 1), s), so the
same seed gives the same run. Swap "iwae" for any estimator name and options
(`estimators.bind` checks them); `estimator.init(model)` makes the state that
some keep between steps (nvil's baseline, alws's), whose trainable variables
train with the guide.

    python examples/own_loop.py --steps=200
"""

import argparse

import tensorflow as tf

from tfp_zoo import datasets, estimators, evaluation, models, training


def main(steps: int = 200, batch_size: int = 100, seed: int = 0) -> float:
  """Trains a small VAE for `steps` steps; returns its test log-likelihood (nats)."""
  images = datasets.load_images("mnist_small", "train")  # uint8 [10000, 28, 28, 1]
  test = datasets.eval_images(datasets.load_images("mnist_small", "test")[:100],
                              binarization="fixed")
  model = models.get("vae", input_shape=images.shape[1:], hidden_sizes=(64,),
                     latent_sizes=(8,), seed=seed)
  estimator = estimators.bind("iwae", num_samples=5)
  state = estimator.init(model)  # None for iwae
  guide = model.guide_variables + (state.trainable_variables if state else ())
  step = training.make_train_step(
      model, estimator, training.make_optimizer(1e-3, model.generative_variables),
      training.make_optimizer(1e-3, guide), config=training.StepConfig(seed=seed),
      state=state)
  batches = datasets.train_batches(images, batch_size=batch_size, seed=seed)
  for s, x in enumerate(batches.take(steps)):
    metrics = step(x, tf.constant(s, tf.int64))
    if s % 100 == 0 or s == steps - 1:
      print(f"step {s}: loss {float(metrics['generative_loss']):.2f}")
  result = evaluation.log_likelihood(model, test, seed=tf.constant([seed, 3]),
                                     num_samples=100)
  return float(tf.reduce_mean(result.log_likelihood))


if __name__ == "__main__":
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=200)
  parser.add_argument("--batch_size", type=int, default=100)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()
  print(f"test log-likelihood: {main(args.steps, args.batch_size, args.seed):.2f} nats")
