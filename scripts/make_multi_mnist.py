"""Writes a multi_mnist variant as one .npz file: arrays train, test (uint8
[N, size, size, 1]) and train_counts, test_counts (int32 [N]), e.g. a small
one for tests in a second, or one with other canvas sizes or digit counts.

The launchers build the default multi_mnist themselves (--dataset=multi_mnist);
the file this writes trains as --dataset=npz:PATH.

    python scripts/make_multi_mnist.py --output=/tmp/multi_mnist.npz --num_train=1000
"""

import argparse
import os
import sys

import numpy as np

from tfp_zoo import datasets
from tfp_zoo.datasets import multi_mnist


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--output", required=True, help="the .npz file to write")
  parser.add_argument("--data_dir", default=None, help="idx files of full MNIST "
                      "(default: the shipped mnist_small digits)")
  parser.add_argument("--num_train", type=int, default=10000)
  parser.add_argument("--num_test", type=int, default=1000)
  parser.add_argument("--canvas_size", type=int, default=multi_mnist.CANVAS_SIZE)
  parser.add_argument("--max_digits", type=int, default=multi_mnist.MAX_DIGITS)
  args = parser.parse_args()
  if os.path.isdir(args.output):
    sys.exit(f"--output={args.output} is a directory; give a .npz file path")
  source = multi_mnist.source_name(args.data_dir)
  arrays = {}
  try:
    for split, seed, num in (("train", 0, args.num_train), ("test", 1, args.num_test)):
      digits = datasets.load_images(source, split, data_dir=args.data_dir)
      built = multi_mnist.from_digits(np.asarray(digits), num, seed=seed,
                                      canvas_size=args.canvas_size,
                                      max_digits=args.max_digits)
      arrays[split], arrays[f"{split}_counts"] = built.images, built.counts
  except (ValueError, datasets.DatasetError) as e:
    sys.exit(f"make_multi_mnist: {e}")
  temporary = args.output + ".partial.npz"  # np.savez appends .npz to other names
  np.savez_compressed(temporary, **arrays)
  os.replace(temporary, args.output)
  print(f"wrote {args.output}: train {arrays['train'].shape}, test {arrays['test'].shape}")


if __name__ == "__main__":
  main()
