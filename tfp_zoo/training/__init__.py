"""Training: the compiled train step, the resumable loop, configuration, progress."""

from tfp_zoo.training.config import ConfigError, TrainConfig, load_config
from tfp_zoo.training.loop import (TrainingDivergedError, evaluate_workdir,
                                   restore_model, train)
from tfp_zoo.training.progress import Progress
from tfp_zoo.training.train_step import make_optimizer, make_train_step, step_seed

__all__ = ["ConfigError", "TrainConfig", "load_config", "TrainingDivergedError",
           "evaluate_workdir", "restore_model", "train", "Progress", "make_optimizer",
           "make_train_step", "step_seed"]
