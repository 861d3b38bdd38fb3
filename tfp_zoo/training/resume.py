"""The saved config and the resume contract: what `config.json` holds, how a
run saved by an older version reads (its defaults of the time), and which
flags a resumed run may change (`config.RESUME_RULES`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any


from tfp_zoo import datasets, estimators, models, registry
from tfp_zoo.errors import ConfigError
from tfp_zoo.training import config as config_lib
from tfp_zoo.training.workdir import (CONFIG_FILE, DIGEST_KEY, INPUT_SHAPE_KEY, PINNED_KEY,
                                      write_json)

__all__ = ["save_config", "load_config", "load_saved_run", "check_resume"]


def save_config(config: config_lib.TrainConfig, workdir: str, data_digest: str | None,
                input_shape: tuple[int, ...] | None = None) -> None:
  fields = dataclasses.asdict(config)
  # Every default written out: the run rebuilds the same model and estimator
  # after a default changes in the code.
  fields["model_hparams"] = config.pinned_model_hparams()
  fields["estimator_options"] = config.pinned_estimator_options()
  fields["num_samples"] = config.effective_num_samples  # K itself, not "the default"
  fields[DIGEST_KEY] = data_digest
  if input_shape is not None:
    fields[INPUT_SHAPE_KEY] = [int(d) for d in input_shape]
  fields[PINNED_KEY] = True
  write_json(os.path.join(workdir, CONFIG_FILE), fields, CONFIG_FILE)


def _check_plugins_import(fields: dict[str, Any], path: str) -> None:
  """A run of your own model, estimator or data (a `module:object` path in
  config.json) needs that module again: say so in one line if it does not
  import now."""
  for key, resolve in (("model", lambda v: models.get_spec(v)),
                       ("estimator", lambda v: estimators.get_spec(v)),
                       ("dataset", lambda v: datasets.source(v))):
    value = fields.get(key)
    if registry.is_object_path(value):
      try:
        resolve(value)
      except ValueError as e:
        raise ConfigError(f"{path}: this run's --{key}={value} does not resolve now "
                          f"({e}); put its module back on PYTHONPATH to read the run"
                          ) from None


def _resolves(get_spec: Any, name: str) -> bool:
  """Whether a saved model or estimator name (or `module:object` path) resolves;
  `validate` says in one line why one does not."""
  try:
    get_spec(name)
  except ValueError:
    return False
  return True


def load_config(workdir: str) -> config_lib.TrainConfig:
  """Reads the config a run saved in `workdir`.

  Args:
    workdir: a training run's directory.

  Returns:
    The run's `TrainConfig`, as it saved it in config.json.

  Raises:
    ConfigError: no config.json, or one that is not a valid run configuration.
  """
  return load_saved_run(workdir)[0]


def load_saved_run(workdir: str) -> tuple[config_lib.TrainConfig, str | None]:
  """Reads the config a run saved in `workdir`, and its data digest.

  Raises:
    ConfigError: no config.json, or one that is not a valid run configuration.
  """
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.isfile(path):
    raise ConfigError(f"--workdir={workdir}: no {CONFIG_FILE} there; is it a "
                      "training workdir?")
  try:
    with open(path) as f:
      fields = json.load(f)
  except (OSError, UnicodeDecodeError, ValueError) as e:
    reason = str(e).splitlines()[0]
    raise ConfigError(f"{path} is not valid JSON ({reason}); restore it, or move the "
                      "workdir away to start a new run") from None
  if not isinstance(fields, dict):
    raise ConfigError(f"{path}: expected a JSON object of run settings")
  known = {f.name for f in dataclasses.fields(config_lib.TrainConfig)}
  _check_plugins_import(fields, path)
  try:
    config = config_lib.TrainConfig(**{k: v for k, v in fields.items() if k in known})
    for key in ("model_hparams", "estimator_options"):  # JSON turns tuples into lists
      setattr(config, key, {k: tuple(v) if isinstance(v, list) else v
                            for k, v in getattr(config, key).items()})
    if _resolves(estimators.get_spec, config.estimator) and not (
        estimators.accepts(config.estimator, "num_samples")):
      config.num_samples = None  # older runs saved K even for estimators without one
    elif _resolves(estimators.get_spec, config.estimator) and config.num_samples is None:
      config.num_samples = config_lib.LEGACY_NUM_SAMPLES  # K was 5 for every estimator
    if not fields.get(PINNED_KEY) and _resolves(estimators.get_spec, config.estimator):
      # Saved before every default was written out: the defaults of its time.
      config.estimator_options = {
          **config_lib.LEGACY_ESTIMATOR_DEFAULTS.get(config.estimator, {}),
          **config.estimator_options}
    config.estimator_options = {  # options newer than the run: their old behaviour
        **config_lib.ADDED_OPTION_LEGACY_VALUES.get(config.estimator, {}),
        **config.estimator_options}
    config.model_hparams = {k: None if k in config_lib.LEGACY_ZERO_MEANS_DEFAULT and v == 0
                            else v for k, v in config.model_hparams.items()}
    if _resolves(models.get_spec, config.model):  # hyperparameters newer than the run
      accepted = models.hparam_names(config.model)
      for name, (when, value) in config_lib.ADDED_HPARAM_LEGACY_VALUES.items():
        if (name in accepted and name not in config.model_hparams
            and all(config.model_hparams.get(k) == v for k, v in when.items())):
          config.model_hparams = {**config.model_hparams, name: value}
    if not fields.get(PINNED_KEY) and _resolves(models.get_spec, config.model):
      accepted = models.hparam_names(config.model)
      config.model_hparams = {
          **{k: v for k, v in config_lib.LEGACY_MODEL_HPARAMS.items() if k in accepted},
          **config.model_hparams}
    if _resolves(estimators.get_spec, config.estimator):  # older runs could save options with no
      # effect; dropping them changes nothing
      dead = estimators.get_spec(config.estimator).ignored(config.estimator_options)
      config.estimator_options = {k: v for k, v in config.estimator_options.items()
                                  if k not in dead}
    config.validate(resources=False)  # reading a run needs no room for its training step
  except (TypeError, AttributeError, ConfigError) as e:
    raise ConfigError(f"{path} is not a valid run configuration ({e}); restore it, or "
                      "move the workdir away to start a new run") from None
  return config, fields.get(DIGEST_KEY)


def _shown(config: config_lib.TrainConfig, name: str) -> Any:
  if name == "num_samples":
    return config.effective_num_samples
  # Compared with every default filled in: a value given explicitly equals
  # the same value left to its default.
  if name == "model_hparams" and _resolves(models.get_spec, config.model):
    return config.pinned_model_hparams()
  if name == "estimator_options" and _resolves(estimators.get_spec, config.estimator):
    return config.pinned_estimator_options()
  return getattr(config, name)


def check_resume(saved: config_lib.TrainConfig, saved_digest: str | None,
                 config: config_lib.TrainConfig, digest: str | None,
                 restored_step: int) -> list[str]:
  """Applies the resume contract (`config.RESUME_RULES`).

  Returns:
    Lines describing the accepted changes that take effect (the learning rate).

  Raises:
    ConfigError: listing every refused difference, with both values.
  """
  refused, applied = [], []
  for name, rule in config_lib.RESUME_RULES.items():
    old, new = _shown(saved, name), _shown(config, name)
    if rule == "same" and old != new:
      if isinstance(old, dict) and isinstance(new, dict):  # name the keys that differ
        shown = lambda d, k: repr(d[k]) if k in d else "unset"
        changed = [f"{k} {shown(old, k)} in the run, now {shown(new, k)}"
                   for k in sorted(set(old) | set(new)) if shown(old, k) != shown(new, k)]
        refused.append(f"--{name}: " + ", ".join(changed))
      else:
        refused.append(f"--{name}: run {old!r}, now {new!r}")
    elif rule == "applied" and old != new:
      applied.append(f"--{name} changed from {old!r} to {new!r}: applied from step "
                     f"{restored_step}")
  if saved_digest and digest and saved_digest != digest:
    if datasets.source(config.dataset).digest_is_the_files:  # the file itself changed
      source = (f"--dataset={config.dataset}: its content changed since the run began "
                "(a file was edited or replaced)")
    elif config.data_dir:
      source = f"--data_dir={config.data_dir}: the data differ from the run's"
    else:
      source = f"--dataset={config.dataset}: the data differ from the run's"
    refused.append(f"{source} (content digest {saved_digest} in the run, {digest} now)")
  if config.train_steps < restored_step:
    refused.append(f"--train_steps: {config.train_steps} is below the restored step "
                   f"{restored_step}")
  if refused:
    raise ConfigError(
        f"--workdir={config.workdir} holds a run that these flags cannot continue: "
        + "; ".join(refused) + ". Use the run's values or a new --workdir")
  return applied
