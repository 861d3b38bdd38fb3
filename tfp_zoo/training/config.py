"""The run configuration: validated once, saved in the workdir, checked on resume."""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
from typing import Any

from tfp_zoo import datasets, estimators, models
from tfp_zoo.errors import ConfigError
from tfp_zoo.training import distribute

__all__ = ["TrainConfig", "ConfigError", "save_config", "load_config",
           "check_resume_compatible"]

CONFIG_FILE = "config.json"
# Fields that fix the shape of the checkpoint: a resumed run must not change them.
_IDENTITY = ("model", "model_hparams", "dataset", "binarization", "seed")




@dataclasses.dataclass
class TrainConfig:
  """Everything a training run needs. Field names match the launcher's flags."""
  workdir: str
  model: str = "vae"
  model_hparams: dict[str, Any] = dataclasses.field(default_factory=dict)
  estimator: str = "iwae"
  num_samples: int = 5
  estimator_options: dict[str, Any] = dataclasses.field(default_factory=dict)
  dataset: str = "mnist_small"
  data_dir: str | None = None
  download: bool = False
  binarization: str = "dynamic"
  batch_size: int = 100
  learning_rate: float = 1e-3
  train_steps: int = 2000
  max_train_seconds: float = 0.0
  seed: int = 0
  jit_compile: bool = False
  strategy: str = "default"
  tpu: str = ""
  log_every: int = 100
  checkpoint_every: int = 1000
  eval_every: int = 0
  eval_num_samples: int = 5000
  eval_examples: int = 0
  eval_batch_size: int = 100
  snr_every: int = 0
  snr_num_draws: int = 20

  def validate(self) -> "TrainConfig":
    """Checks every field; raises ConfigError naming the first bad one."""
    def need(ok: bool, field: str, allowed: str) -> None:
      if not ok:
        raise ConfigError(f"--{field}={getattr(self, field)!r}: {allowed}")

    need(bool(self.workdir), "workdir", "a directory is required")
    need(self.model in models.names(), "model", f"one of {', '.join(models.names())}")
    need(self.estimator in estimators.names(), "estimator",
         f"one of {', '.join(estimators.names())}")
    need(self.dataset in datasets.DATASETS, "dataset",
         f"one of {', '.join(datasets.DATASETS)}")
    need(self.strategy in distribute.STRATEGIES, "strategy",
         f"one of {', '.join(distribute.STRATEGIES)}")
    need(self.binarization in datasets.BINARIZATIONS, "binarization",
         f"one of {', '.join(datasets.BINARIZATIONS)}")
    for field in ("num_samples", "batch_size", "train_steps", "log_every",
                  "checkpoint_every", "eval_num_samples", "eval_batch_size"):
      need(isinstance(getattr(self, field), int) and getattr(self, field) >= 1, field,
           "must be a positive integer")
    need(isinstance(self.snr_num_draws, int) and self.snr_num_draws >= 2, "snr_num_draws",
         "must be an integer >= 2 (a standard deviation needs two draws)")
    for field in ("eval_every", "eval_examples", "snr_every"):
      need(isinstance(getattr(self, field), int) and getattr(self, field) >= 0, field,
           "must be a non-negative integer (0 = off / all)")
    need(self.learning_rate > 0, "learning_rate", "must be positive")
    need(isinstance(self.max_train_seconds, (int, float)) and self.max_train_seconds >= 0,
         "max_train_seconds", "must be a non-negative number of seconds (0 = no limit)")
    need(isinstance(self.seed, int) and 0 <= self.seed < 2**31, "seed",
         "must be an integer in [0, 2^31)")
    try:
      models.check_hparams(self.model, self.model_hparams)
    except ValueError as e:
      raise ConfigError(f"--model_hparams: {e}") from None
    if "num_samples" in self.estimator_options:
      raise ConfigError("--estimator_options: set num_samples with --num_samples")
    try:
      estimators.check_options(self.estimator, self.all_estimator_options())
    except ValueError as e:
      raise ConfigError(f"--estimator_options: {e}") from None
    _check_types("--estimator_options", estimators.get(self.estimator),
                 self.estimator_options)
    _check_types("--model_hparams", models.get_class(self.model), self.model_hparams)
    return self

  def all_estimator_options(self) -> dict[str, Any]:
    """The estimator's keyword options: --num_samples (if it takes K) and the rest."""
    if self.estimator in estimators.names() and not estimators.accepts(
        self.estimator, "num_samples"):
      return dict(self.estimator_options)  # e.g. alws: num_sleep_samples instead
    return {"num_samples": self.num_samples, **self.estimator_options}

  def resolved_model_hparams(self) -> dict[str, Any]:
    """Model hyperparameters with data-dependent defaults filled in."""
    hparams = dict(self.model_hparams)
    accepted = models.hparam_names(self.model)
    if "likelihood" in accepted and "likelihood" not in hparams:
      hparams["likelihood"] = "gaussian" if self.binarization == "none" else "bernoulli"
    if "seed" in accepted and "seed" not in hparams:
      hparams["seed"] = self.seed
    return hparams


def _check_types(flag: str, factory, values: dict[str, Any]) -> None:
  """Each value must have the type of the parameter's default (ints pass for floats)."""
  parameters = inspect.signature(factory).parameters
  for key, value in values.items():
    default = parameters[key].default
    if (default is None or default is inspect.Parameter.empty
        or parameters[key].annotation in ("Any", Any)):  # e.g. alws(bandwidth='median' or 5.0)
      continue
    expected = type(default)
    ok = (isinstance(value, expected) and not (expected is int and isinstance(value, bool))
          or (expected is float and isinstance(value, int) and not isinstance(value, bool)))
    if not ok:
      raise ConfigError(f"{flag}: {key}={value!r} must be a {expected.__name__} "
                        f"(default {default!r})")


def save_config(config: TrainConfig, path: str) -> None:
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(dataclasses.asdict(config), f, indent=2, sort_keys=True)
  os.replace(tmp, path)


def load_config(workdir: str) -> TrainConfig:
  """Reads the config a run saved in `workdir`."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.isfile(path):
    raise ConfigError(f"--workdir={workdir}: no {CONFIG_FILE} there; is it a "
                      "training workdir?")
  with open(path) as f:
    fields = json.load(f)
  known = {f.name for f in dataclasses.fields(TrainConfig)}
  config = TrainConfig(**{k: v for k, v in fields.items() if k in known})
  for key in ("model_hparams", "estimator_options"):  # JSON turns tuples into lists
    setattr(config, key, {k: tuple(v) if isinstance(v, list) else v
                          for k, v in getattr(config, key).items()})
  return config


def check_resume_compatible(saved: TrainConfig, config: TrainConfig) -> None:
  """Raises ConfigError if `config` cannot continue the run saved in the workdir."""
  for field in _IDENTITY:
    if getattr(saved, field) != getattr(config, field):
      raise ConfigError(
          f"--{field}={getattr(config, field)!r} differs from the run in "
          f"--workdir={config.workdir} ({getattr(saved, field)!r}); use a new "
          "workdir or the same value")
