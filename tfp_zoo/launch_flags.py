"""Flags shared by the launchers, validated before any work is done.

A bad value ends the launcher with one line naming the flag and what is
allowed (absl validators and enums, then `TrainConfig.validate`).
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

from absl import flags

from tfp_zoo import datasets, estimators, export, models, training
from tfp_zoo.registry import parse_key_values
from tfp_zoo.training import distribute

__all__ = ["define_train_flags", "train_config_from_flags", "run_or_exit", "parse_flags",
           "is_existing_dir"]



def is_existing_dir(path: str | None) -> bool:
  return path is not None and os.path.isdir(path)


def _parses(text: str) -> bool:
  try:
    parse_key_values(text)
  except ValueError:
    return False
  return True


def define_train_flags() -> None:
  """Defines the flags of launchers/train.py."""
  flags.DEFINE_string("workdir", None, "Run directory: config, checkpoints, "
                      "summaries. An existing run there is resumed.", required=True)
  flags.DEFINE_enum("model", "vae", models.names(), "Model to train.")
  flags.DEFINE_string("model_hparams", "", "Model hyperparameters as key=value,... "
                      "e.g. 'stochastic_layers=2' or 'latent_sizes=100-50'.")
  flags.DEFINE_enum("estimator", "iwae", estimators.names(), "Learning algorithm.")
  flags.DEFINE_integer("num_samples", 5, "K, samples per example for the estimator.",
                       lower_bound=1)
  flags.DEFINE_string("estimator_options", "", "Further estimator options as "
                      "key=value,... e.g. 'analytic_kl=true' for elbo.")
  flags.DEFINE_enum("dataset", "mnist_small", datasets.DATASETS,
                    "mnist_small ships with the package (10k/1k digits); mnist and "
                    "fashion_mnist read --data_dir.")
  flags.DEFINE_string("data_dir", None, "Directory with the four idx .gz files, or a "
                      "TFDS data_dir where the dataset is prepared.")
  flags.DEFINE_bool("download", False, "Allow TFDS to download the dataset (network).")
  flags.DEFINE_enum("binarization", "dynamic", datasets.BINARIZATIONS,
                    "dynamic: resampled every visit; fixed: once; none: grey levels "
                    "(Gaussian pixels).")
  flags.DEFINE_integer("batch_size", 100, "Examples per step.", lower_bound=1)
  flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.", lower_bound=0.0)
  flags.DEFINE_integer("train_steps", 2000, "Total steps (a resumed run continues "
                       "up to this).", lower_bound=1)
  flags.DEFINE_float("max_train_seconds", 0.0, "Wall-clock budget of this invocation: "
                     "checkpoint and stop when it is spent (0 = no limit).", lower_bound=0.0)
  flags.DEFINE_integer("seed", 0, "Seed of initialisation, data order and samples.",
                       lower_bound=0, upper_bound=2**31 - 1)
  flags.DEFINE_bool("jit_compile", False, "Compile the train step with XLA.")
  flags.DEFINE_enum("strategy", "default", distribute.STRATEGIES,
                    "tf.distribute strategy: default (one device), one_device, mirrored "
                    "(all local GPUs), multi_worker_mirrored (TF_CONFIG), tpu (--tpu).")
  flags.DEFINE_string("tpu", "", "TPU name or grpc:// address for --strategy=tpu.")
  flags.DEFINE_integer("log_every", 100, "Steps between progress lines and summaries.",
                       lower_bound=1)
  flags.DEFINE_integer("checkpoint_every", 1000, "Steps between checkpoints.",
                       lower_bound=1)
  flags.DEFINE_integer("eval_every", 0, "Steps between quick test evaluations "
                       "(K<=100); 0 = only at the end.", lower_bound=0)
  flags.DEFINE_integer("eval_num_samples", 5000, "K of the final test evaluation.",
                       lower_bound=1)
  flags.DEFINE_integer("eval_examples", 0, "Test examples to evaluate (0 = all).",
                       lower_bound=0)
  flags.DEFINE_integer("snr_every", 0, "Steps between gradient diagnostics in "
                       "TensorBoard: the SNR |mean|/sd of the θ- and φ-gradients over "
                       "--snr_num_draws seeds on the current batch, and the ESS; 0 = off.",
                       lower_bound=0)
  flags.DEFINE_integer("snr_num_draws", 20, "Gradient draws per SNR estimate.",
                       lower_bound=2)
  flags.register_validator("learning_rate", lambda v: v > 0, message="must be positive")
  flags.register_validator("model_hparams", _parses,
                           message="must be key=value pairs separated by commas")
  flags.register_validator("estimator_options", _parses,
                           message="must be key=value pairs separated by commas")
  flags.register_validator(
      "data_dir", lambda v: v is None or os.path.isdir(v),
      message="must be an existing directory")

  def dataset_needs_source(values: dict[str, Any]) -> bool:
    return (values["dataset"] == "mnist_small" or bool(values["data_dir"])
            or values["download"])

  flags.register_multi_flags_validator(
      ["dataset", "data_dir", "download"], dataset_needs_source,
      message="--dataset other than mnist_small needs --data_dir (idx files or "
      "prepared TFDS data) or --download")


def train_config_from_flags(values: flags.FlagValues) -> training.TrainConfig:
  """Builds and validates a `TrainConfig` (exits with one line on a bad value)."""
  fields = {name: values[name].value for name in (
      "workdir", "model", "estimator", "num_samples", "dataset", "data_dir",
      "download", "binarization", "batch_size", "learning_rate", "train_steps",
      "max_train_seconds", "strategy", "tpu",
      "seed", "jit_compile", "log_every", "checkpoint_every", "eval_every",
      "eval_num_samples", "eval_examples", "snr_every", "snr_num_draws")}
  fields["model_hparams"] = parse_key_values(values.model_hparams)
  fields["estimator_options"] = parse_key_values(values.estimator_options)
  config = training.TrainConfig(**fields)
  try:
    return config.validate()
  except training.ConfigError as e:
    sys.exit(f"FATAL Flags error: {e}")


def parse_flags(argv: list[str]) -> list[str]:
  """`app.run`'s flags parser, failing with exactly one line on a bad flag."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    sys.exit(f"FATAL Flags error: {e} (see --helpshort)")


def run_or_exit(fn: Callable[[], None]) -> None:
  """Runs `fn`; expected failures end the process with one clear line."""
  try:
    fn()
  except (training.ConfigError, datasets.DatasetNotFoundError,
          training.TrainingDivergedError, export.ExportError) as e:
    sys.exit(f"FATAL {type(e).__name__}: {e}")
