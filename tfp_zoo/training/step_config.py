"""`StepConfig`: what a training step needs besides the model, the estimator
and the optimizers, as one frozen object validated once when it is made.

The launcher's `TrainConfig.step_config(dataset_size)` builds it; `Trainer`
and `make_train_step` take it (their older keywords build one).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tfp_zoo.nn import precision as precision_lib

__all__ = ["StepConfig", "LEGACY_KEYWORDS"]

# Keywords `Trainer` and `make_train_step` took before the StepConfig, and the
# field each fills (two were renamed to the names used everywhere else).
LEGACY_KEYWORDS = {"seed": "seed", "jit_compile": "jit_compile",
                   "kl_warmup_steps": "kl_warmup_steps", "precision": "precision",
                   "tpu_safe": "float64_free", "train_size": "dataset_size",
                   "train_generative": "train_generative"}
# What a keyword may be: a field's name or its older name.
_KEYWORD_FIELD = {**LEGACY_KEYWORDS, "float64_free": "float64_free",
                  "dataset_size": "dataset_size"}


def _int(value: Any) -> bool:
  return isinstance(value, int) and not isinstance(value, bool) or (
      hasattr(value, "dtype") and getattr(value, "shape", None) == ()
      and str(value.dtype).startswith("int"))


@dataclasses.dataclass(frozen=True)
class StepConfig:
  """The settings of a training step.

  Attributes:
    seed: batch s draws from the stateless seed fold_in((seed, 1), s): a pure
      function of (seed, s), so a resumed run continues exactly.
    precision: the networks' arithmetic, one of `precision.PRECISIONS`
      ('mixed_float16' needs optimizers made with loss scaling).
    jit_compile: compile the step with XLA.
    kl_warmup_steps: > 0 passes β_s = β · min(1, (s + 1) / kl_warmup_steps) to
      an estimator with a KL weight `beta` (elbo).
    train_generative: False freezes θ and trains only the guide (and the
      estimator's trainable state).
    dataset_size: the number of training examples; a model with a prior on θ
      adds −log p(θ) / dataset_size to θ's loss (an epoch sees it once).
    float64_free: build no float64 op (TPUs have none): ALWS's float32 solves.
  """
  seed: int = 0
  precision: str = "float32"
  jit_compile: bool = False
  kl_warmup_steps: int = 0
  train_generative: bool = True
  dataset_size: int | None = None
  float64_free: bool = False

  def __post_init__(self) -> None:
    """The one check of these settings (ValueError naming the first bad one)."""
    for name, minimum in (("seed", 0), ("kl_warmup_steps", 0)):
      value = getattr(self, name)
      if not _int(value) or value < minimum:
        raise ValueError(f"{name}={value!r}: must be an integer >= {minimum}")
    if self.seed >= 2**31:
      raise ValueError(f"seed={self.seed!r}: must be an integer in [0, 2147483648) (an "
                       "int32 stateless seed)")
    if self.dataset_size is not None and (not _int(self.dataset_size)
                                          or self.dataset_size < 1):
      raise ValueError(f"dataset_size={self.dataset_size!r}: must be an integer >= 1 (the "
                       "number of training examples) or None")
    for name in ("jit_compile", "train_generative", "float64_free"):
      if not isinstance(getattr(self, name), bool):
        raise ValueError(f"{name}={getattr(self, name)!r}: must be true or false")
    precision_lib.check_precision(self.precision)

  @classmethod
  def from_keywords(cls, config: "StepConfig | None", what: str,
                    **keywords: Any) -> "StepConfig":
    """`config`, or one built from keywords (field names, or the older names
    of `LEGACY_KEYWORDS`), refusing both at once or an unknown keyword."""
    unknown = sorted(set(keywords) - set(_KEYWORD_FIELD))
    if unknown:
      raise TypeError(f"{what}: unexpected keyword {', '.join(unknown)}")
    if config is not None:
      if keywords:
        raise ValueError(f"{what}: give the step's settings in config=StepConfig(...) or "
                         f"as keywords ({', '.join(sorted(keywords))}), not both")
      if not isinstance(config, StepConfig):
        raise TypeError(f"{what}: config must be a StepConfig, got {type(config).__name__}")
      return config
    try:
      return cls(**{_KEYWORD_FIELD[k]: v for k, v in keywords.items()})
    except ValueError as e:
      raise ValueError(f"{what}: {e}") from None
