"""Training: configuration, the compiled train step, the resumable loop, the workdir."""

from tfp_zoo.errors import (ConfigError, NonFiniteResultError, ResourceError,
                            TrainingDivergedError, WorkdirLockedError)
from tfp_zoo.training.progress import Progress
from tfp_zoo.training.actions import finite_scalar
from tfp_zoo.training.config import TrainConfig
from tfp_zoo.training.loop import train
from tfp_zoo.training.step_config import StepConfig
from tfp_zoo.training.train_step import Trainer, make_optimizer, make_train_step, step_seed
from tfp_zoo.training.readers import evaluate_workdir, restore_model
from tfp_zoo.training.resume import load_config

__all__ = ["ConfigError", "NonFiniteResultError", "finite_scalar", "ResourceError",
           "TrainingDivergedError", "WorkdirLockedError",
           "TrainConfig", "load_config", "evaluate_workdir", "restore_model", "train", "Progress",
           "Trainer", "make_optimizer", "make_train_step", "step_seed", "StepConfig"]
