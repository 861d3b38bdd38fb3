"""What makes runs comparable in TensorBoard: hparams and the config as text.

At the workdir root, each run writes its configuration to the HParams
plugin (every flag, with the model's hyperparameters and the estimator's
options one entry each) and names the metrics the dashboard should line
up: the final and periodic test log-likelihoods (`final/...`, `eval/...` in
the `eval` directory) and the training objectives (`train`). The config
also goes in as a text summary, readable beside the curves.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api

from tfp_zoo.training import config as config_lib
from tfp_zoo.training import workdir as workdir_lib

__all__ = ["hparams_of", "METRICS", "write_run_summaries"]

# (tag, directory under the workdir, what it is) of the metrics the HParams
# dashboard shows for each run.
METRICS = (("final/log_likelihood", "eval", "test log p(x), final evaluation (nats)"),
           ("final/bits_per_dim", "eval", "test bits per dimension, final evaluation"),
           ("eval/log_likelihood", "eval", "test log p(x), periodic evaluation (nats)"),
           ("air/count_accuracy", "eval", "AIR: fraction of test scenes counted right"),
           ("generative_loss", "train", "the estimator's generative loss"))


def _value(value: Any) -> bool | int | float | str:
  if isinstance(value, (bool, int, float, str)):
    return value
  return json.dumps(value, default=str) if value is not None else "default"


def hparams_of(config: config_lib.TrainConfig) -> dict[str, bool | int | float | str]:
  """The run's flags as HParams values: one entry per field, the model's
  hyperparameters and estimator options one each (`model_hparams.hidden_sizes`).

  Args:
    config: the run's config, as pinned in config.json.

  Returns:
    {name: bool, int, float or str}; unset optional values read "default".
  """
  out: dict[str, bool | int | float | str] = {}
  for field in dataclasses.fields(config):
    value = getattr(config, field.name)
    if field.name == "model_hparams":
      value = config.pinned_model_hparams()
    elif field.name == "estimator_options":
      value = config.pinned_estimator_options()
    elif field.name == "num_samples":
      value = config.effective_num_samples
    if isinstance(value, dict):
      out.update({f"{field.name}.{k}": _value(v) for k, v in sorted(value.items())})
    else:
      out[field.name] = _value(value)
  out["eval_num_samples_periodic"] = min(config.eval_num_samples, 100)
  return out


def write_run_summaries(config: config_lib.TrainConfig, step: int) -> None:
  """Writes the run's hparams (once per workdir) and its config as text.

  Args:
    config: the run's config, as pinned in config.json.
    step: the step the config text is written at (a resumed run's start).
  """
  with workdir_lib.writing(config.workdir, "TensorBoard summaries"):
    writer = tf.summary.create_file_writer(config.workdir)
    values = hparams_of(config)
    with writer.as_default(step=step):
      if not step:  # one session per run: a resumed run keeps the first
        hparams_api.hparams_config(
            hparams=[hparams_api.HParam(name) for name in values],
            metrics=[hparams_api.Metric(tag, group=group, display_name=tag, description=text)
                     for tag, group, text in METRICS])
        hparams_api.hparams(values, trial_id=os.path.basename(os.path.normpath(config.workdir)))
      text = "\n".join(f"| `{k}` | `{v}` |" for k, v in values.items())
      tf.summary.text("config", "| flag | value |\n|---|---|\n" + text)
    writer.flush()
    writer.close()
