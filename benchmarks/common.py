"""Pieces shared by the benchmark scripts: the MNIST data flags and plotting."""

import os

from absl import flags

_DEFAULT_MNIST_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                  "shared", "data", "mnist")


def define_mnist_flags() -> None:
  """--dataset (real MNIST or the shipped subset) and --data_dir (idx files)."""
  flags.DEFINE_enum("dataset", "mnist", ["mnist", "mnist_small"],
                    "mnist reads the idx files in --data_dir; mnist_small ships with "
                    "the package.")
  flags.DEFINE_string("data_dir", _DEFAULT_MNIST_DIR,
                      "Directory with the four MNIST idx .gz files (--dataset=mnist).")


def mnist_data_dir() -> str | None:
  """The data_dir to pass to tfp_zoo for the chosen --dataset."""
  return flags.FLAGS.data_dir if flags.FLAGS.dataset == "mnist" else None


def pyplot():
  """matplotlib's pyplot on the file-only Agg backend (no display needed)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def cpu_model() -> str:
  """The CPU's model name (benchmark tables record it: machines differ)."""
  import platform  # pylint: disable=g-import-not-at-top
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def train(config) -> dict:
  """`training.train(config)`, but a run stopped by SIGTERM/SIGINT (its checkpoint
  saved) ends the script with one line saying how to resume, not a KeyError."""
  import sys  # pylint: disable=g-import-not-at-top
  from tfp_zoo import training  # pylint: disable=g-import-not-at-top
  result = training.train(config)
  if "stopped_by" in result:
    sys.exit(f"{result['stopped_by']}: {config.workdir} stopped at step {result['step']} with "
             "its checkpoint saved; run the same command again to resume")
  return result
