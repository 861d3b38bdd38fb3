"""Builds the small MNIST subset shipped in tfp_zoo/datasets/data/mnist_small/.

Reproducible: a class-stratified subset drawn with a fixed NumPy seed from the
original MNIST idx files (LeCun, Cortes & Burges; CC BY-SA 3.0).

    python scripts/make_mnist_small.py --mnist_dir ../shared/data/mnist
"""

import argparse
import os

import numpy as np

from tfp_zoo.datasets import idx

SIZES = {"train": 10000, "test": 1000}
OUT = os.path.join(os.path.dirname(__file__), "..", "tfp_zoo", "datasets", "data",
                   "mnist_small")


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--mnist_dir", default="../shared/data/mnist")
  parser.add_argument("--out", default=OUT)
  args = parser.parse_args()
  os.makedirs(args.out, exist_ok=True)
  rng = np.random.default_rng(20261121)
  for split, (images_file, labels_file) in idx.IDX_FILES.items():
    images = idx.read_idx(os.path.join(args.mnist_dir, images_file))
    labels = idx.read_idx(os.path.join(args.mnist_dir, labels_file))
    per_class = SIZES[split] // 10
    chosen = np.concatenate([
        rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
        for c in range(10)])
    chosen = rng.permutation(chosen)
    idx.write_idx(os.path.join(args.out, images_file), images[chosen])
    idx.write_idx(os.path.join(args.out, labels_file), labels[chosen])
    print(f"{split}: {len(chosen)} digits -> {args.out}")


if __name__ == "__main__":
  main()
