"""The configurations of evaluate.py, sample.py and export.py, as `TrainConfig`
is train.py's: each field is a flag (`launch_flags.define_flags`) with the
option's one default, and `validate()` is the one check of the values. The
Python functions the launchers call (`evaluate_workdir`, `write_pictures`,
`export_workdir`) take their defaults from these classes and validate through
them.
"""

from __future__ import annotations

import dataclasses
import os

from tfp_zoo.nn import precision as precision_lib
from tfp_zoo.errors import ConfigError
from tfp_zoo.training.fields import check_fields, field

__all__ = ["EvaluateConfig", "SampleConfig", "ExportConfig", "METHODS", "AIS_PROPOSALS"]

METHODS = ("is", "ais")  # how evaluate_workdir estimates log p(x)
AIS_PROPOSALS = ("prior", "guide")  # annealed_importance.PROPOSALS
_WORKDIR = "A training workdir (holds config.json and checkpoints/)."


def _existing_workdir(workdir: str | None) -> None:
  if workdir is not None and not os.path.isdir(workdir):
    raise ConfigError(f"--workdir={workdir}: must be an existing training workdir")


@dataclasses.dataclass
class EvaluateConfig:
  """evaluate.py: the test log-likelihood of a workdir's latest checkpoint."""
  workdir: str = field(None, _WORKDIR, required=True)
  num_samples: int = field(5000, "K, importance samples (or AIS chains) per example.",
                           lower=1)
  method: str = field("is", "is: importance sampling with the guide; ais: annealed "
                      "importance sampling from the prior (real latents only).",
                      choices=lambda: METHODS)
  ais_steps: int = field(2000, "AIS annealing steps (HMC transitions).", lower=1)
  ais_step_size: float = field(0.1, "AIS HMC leapfrog step size.", lower=0.0,
                               lower_open=True, allowed="must be a positive number")
  ais_proposal: str = field("prior", "AIS initial distribution: the prior (the usual "
                            "choice: independent of the guide, but needs thousands of "
                            "steps) or the guide q(z | x).", choices=lambda: AIS_PROPOSALS)
  num_examples: int = field(0, "Evaluate the first N test examples (0 = all).", lower=0)
  batch_size: int = field(100, "Examples per evaluation batch.", lower=1)
  chunk_size: int = field(250, "Particles drawn at once (bounds memory).", lower=1)
  seed: int = field(0, "Seed of the importance samples (0 reproduces the training run's "
                    "final evaluation).", lower=0, upper=2**31 - 1)
  precision: str = field("float32", "Arithmetic of the networks for --method=is: bfloat16 "
                         "is about 1.7x faster on AVX512-BF16 CPUs and TPUs (see "
                         "docs/results/precision.md for its agreement with float32).",
                         choices=lambda: precision_lib.PRECISIONS[:2])
  output: str | None = field(None, "Also write the result to this JSON file: the fields "
                             "of the 'test' block of the run's results.json.")

  def validate(self) -> "EvaluateConfig":
    check_fields(self)
    _existing_workdir(self.workdir)
    if self.output is not None:
      parent = os.path.dirname(os.path.abspath(self.output))
      if os.path.isdir(self.output) or not os.path.isdir(parent):
        raise ConfigError(f"--output={self.output}: must be a file name in an existing "
                          "directory")
    if self.precision != "float32" and self.method == "ais":
      raise ConfigError("--precision: AIS runs in float32 (its HMC moves need gradients "
                        "accurate to more than bf16's 8 bits); use --method=is")
    return self


@dataclasses.dataclass
class SampleConfig:
  """sample.py: PNG pictures of a trained model, from a workdir or a SavedModel."""
  output: str = field(None, "PNG file to write.", required=True)
  workdir: str | None = field(None, "A training workdir (its latest checkpoint).")
  saved_model: str | None = field(None, "A SavedModel written by launchers/export.py.")
  num_samples: int = field(64, "Samples in the grid.", lower=1, upper=10_000,
                           allowed="must be an integer in [1, 10000]")
  seed: int = field(0, "Seed of the samples.", lower=0, upper=2**31 - 1)
  grid_points: int = field(15, "Latent grid points per axis (2-D latents).", lower=2,
                           upper=100, allowed="must be an integer in [2, 100]")
  extent: float = field(3.0, "The latent grid spans [-extent, extent]^2.", lower=0.01,
                        allowed="must be a finite number >= 0.01")
  posterior_examples: int = field(4, "Test digits in the posterior figure.", lower=0,
                                  upper=20, allowed="must be an integer in [0, 20]")

  def validate(self) -> "SampleConfig":
    check_fields(self)
    if (self.workdir is None) == (self.saved_model is None):
      raise ConfigError("give exactly one of --workdir and --saved_model")
    if not self.output.lower().endswith(".png"):
      raise ConfigError(f"--output={self.output}: must be a .png file name")
    _existing_workdir(self.workdir)
    return self


@dataclasses.dataclass
class ExportConfig:
  """export.py: a workdir's latest checkpoint as a SavedModel for sampling."""
  workdir: str = field(None, _WORKDIR, required=True)
  output: str = field(None, "SavedModel directory to write.", required=True)
  overwrite: bool = field(False, "Replace --output if it exists.")

  def validate(self) -> "ExportConfig":
    check_fields(self)
    _existing_workdir(self.workdir)
    return self
