"""A run's directory: paths, the saved config, the lock, the resume contract,
restore with fallback, and what reads a finished run (`restore_model`,
`evaluate_workdir`).

A workdir holds `config.json` (the run's configuration and its data digest),
`checkpoints/` (`tf.train.CheckpointManager`: step, model, both optimizers,
the estimator's state), `train/` and `eval/` TensorBoard summaries,
`results.json` (the final evaluation) and `lock` (who is training it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import functools
import json
import math
import os
import socket
from typing import Any, Iterator

import numpy as np
import tensorflow as tf

from tfp_zoo import annealed_importance, datasets, estimators, evaluation, models, registry
from tfp_zoo import precision as precision_lib
from tfp_zoo.errors import (ConfigError, NonFiniteResultError, ResourceError,
                            WorkdirLockedError)
from tfp_zoo.progress import Progress
from tfp_zoo.training import config as config_lib

__all__ = ["CONFIG_FILE", "CHECKPOINT_DIR", "RESULTS_FILE", "LOCK_FILE", "EVAL_SEED",
           "Lock", "save_config", "load_config", "load_saved_run", "has_checkpoint", "check_resume", "checkpoint_candidates",
           "restore", "init_model_from", "build_model", "test_images", "restore_model",
           "evaluate_workdir",
           "write_json", "read_results", "writing"]

CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
RESULTS_FILE = "results.json"
LOCK_FILE = "lock"
DIGEST_KEY = "data_digest"  # beside the TrainConfig fields in config.json
# The model's input shape, so that reading a run (export, sample) needs no data.
INPUT_SHAPE_KEY = "input_shape"
# True when model_hparams and estimator_options hold every default (pinned).
PINNED_KEY = "defaults_pinned"
# Evaluation draws (test binarisation, importance samples) do not depend on the
# run's --seed, so runs with different seeds are compared on the same test set,
# and launchers/evaluate.py with its default seed reproduces results.json.
EVAL_SEED = 0
METHODS = ("is", "ais")  # how evaluate_workdir estimates log p(x)


@contextlib.contextmanager
def writing(path: str, what: str) -> Iterator[None]:
  """Turns a failed write (read-only, full disk, ...) into one clear line."""
  try:
    yield
  except OSError as e:
    raise ResourceError(_write_failure(path, what, e.errno, e.strerror)) from None
  except (tf.errors.PermissionDeniedError, tf.errors.ResourceExhaustedError,
          tf.errors.FailedPreconditionError, tf.errors.UnknownError) as e:
    reason = str(e.message).strip().splitlines()[0][:160]
    raise ResourceError(f"cannot write {what} at {path} ({reason}); check that the "
                        "directory is writable and the disk has space") from None


def _write_failure(path: str, what: str, code: int | None, reason: str | None) -> str:
  hint = {errno.ENOSPC: "the disk is full: free space or choose another --workdir",
          errno.EDQUOT: "the disk quota is exceeded: free space or choose another --workdir",
          errno.EACCES: "permission denied: make it writable or choose another --workdir",
          errno.EROFS: "the file system is read-only: choose another --workdir",
          errno.EPERM: "not permitted: make it writable or choose another --workdir"}.get(
              code, "check that the directory is writable and the disk has space")
  return f"cannot write {what} at {path} ({reason or code}): {hint}"


def _finite_json(value: Any) -> Any:
  """NaN and infinities become None: results.json is always valid JSON."""
  if isinstance(value, dict):
    return {k: _finite_json(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_finite_json(v) for v in value]
  if isinstance(value, (float, np.floating)):
    return float(value) if math.isfinite(value) else None
  if isinstance(value, np.integer):
    return int(value)
  return value


def write_json(path: str, value: Any, what: str) -> None:
  """Writes `value` atomically (a temporary sibling, then a rename)."""
  tmp = path + ".tmp"
  with writing(path, what):
    try:
      with open(tmp, "w") as f:
        json.dump(_finite_json(value), f, indent=2, sort_keys=True, allow_nan=False)
      os.replace(tmp, path)
    finally:
      if os.path.exists(tmp):
        os.remove(tmp)


def read_results(workdir: str) -> dict[str, Any] | None:
  """The previous results.json, or None if there is none (or it is unreadable)."""
  try:
    with open(os.path.join(workdir, RESULTS_FILE)) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


class Lock:
  """An exclusive `fcntl.flock` on `<workdir>/lock`, which records host and PID.

  A second process stops at once, naming the holder. The kernel drops a flock
  when its process dies, so a lock file naming a dead PID on this host is
  stale and is taken over (and said so); one naming another host is refused,
  since flock may not be shared across hosts on a network file system.
  """

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, LOCK_FILE)
    self._file = None

  def _holder(self) -> dict[str, Any]:
    try:
      with open(self.path) as f:
        return json.load(f)
    except (OSError, ValueError):
      return {}

  def acquire(self) -> "Lock":
    with writing(self.path, "the workdir lock"):
      self._file = open(self.path, "a+")  # pylint: disable=consider-using-with
    try:
      fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
      holder = self._holder()
      self._file.close()
      raise WorkdirLockedError(
          f"--workdir={os.path.dirname(self.path)} is in use by PID {holder.get('pid', '?')} "
          f"on {holder.get('host', '?')}; wait for it to finish or use another "
          "--workdir") from None
    holder, host = self._holder(), socket.gethostname()
    if holder.get("pid") and holder.get("pid") != os.getpid():
      if holder.get("host") != host or _alive(holder["pid"]):
        self._file.close()
        raise WorkdirLockedError(
            f"--workdir={os.path.dirname(self.path)}: its lock names PID {holder['pid']} on "
            f"{holder.get('host')}, which may still be running; if it is not, delete "
            f"{self.path}")
      print(f"Took over the stale lock of PID {holder['pid']} (no longer running) on "
            f"{os.path.dirname(self.path)}", flush=True)
    with writing(self.path, "the workdir lock"):
      self._file.seek(0)
      self._file.truncate()
      json.dump({"host": host, "pid": os.getpid()}, self._file)
      self._file.flush()
    return self

  def release(self) -> None:
    if self._file is None:
      return
    try:
      self._file.seek(0)
      self._file.truncate()  # an empty lock file: released cleanly
    except OSError:
      pass
    fcntl.flock(self._file, fcntl.LOCK_UN)
    self._file.close()
    self._file = None

  def __enter__(self) -> "Lock":
    return self.acquire()

  def __exit__(self, *exc) -> None:
    self.release()


def _alive(pid: int) -> bool:
  try:
    os.kill(int(pid), 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


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
  """Reads the config a run saved in `workdir`."""
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


def checkpoint_candidates(directory: str) -> list[str]:
  """Checkpoint prefixes in `directory`, newest first, found from the files
  themselves: a lost or damaged `checkpoint` state file must not hide them."""
  steps = []
  for path in tf.io.gfile.glob(os.path.join(directory, "ckpt-*.index")):
    suffix = os.path.basename(path)[len("ckpt-"):-len(".index")]
    if suffix.isdigit():
      steps.append(int(suffix))
  return [os.path.join(directory, f"ckpt-{n}") for n in sorted(steps, reverse=True)]


def has_checkpoint(workdir: str) -> bool:
  return bool(checkpoint_candidates(os.path.join(workdir, CHECKPOINT_DIR)))


def restore(checkpoint: tf.train.Checkpoint, directory: str, *,
            partial: bool = False) -> str | None:
  """Restores the newest readable checkpoint; returns its path (None if none).

  An unreadable newest checkpoint is reported and skipped; if every one is
  unreadable, ConfigError refuses to restart from step 0. `partial` restores
  only the objects `checkpoint` holds (e.g. the model without optimizers).
  """
  candidates = checkpoint_candidates(directory)
  failures = []
  for path in candidates:
    try:
      status = checkpoint.restore(path)
      if partial:
        status.expect_partial()
      status.assert_existing_objects_matched()
    except Exception as e:  # pylint: disable=broad-except
      # A damaged file surfaces as whatever the reader trips on (DataLossError,
      # IndexError "read less bytes", ValueError, ...): all mean "unreadable".
      reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
      failures.append(f"{os.path.basename(path)} ({type(e).__name__}: {reason})")
      print(f"WARNING: checkpoint {path} is unreadable ({type(e).__name__}); trying an "
            "older one", flush=True)
      continue
    if failures:
      print(f"Fell back to {path}: skipped unreadable {', '.join(failures)}", flush=True)
    return path
  if candidates:
    raise ConfigError(
        f"--workdir={os.path.dirname(directory)}: no readable checkpoint in {directory} "
        f"({'; '.join(failures)}). Refusing to restart from step 0; move the workdir "
        "away to start a new run")
  return None


# Hyperparameters that --init_from lets differ: the guide's, and the seed of
# the initial values that the source's weights replace.
_INIT_FROM_FREE = ("guide", "flow_layers", "flow_hidden", "iaf_context", "seed")


def init_model_from(model: models.LatentVariableModel, config: config_lib.TrainConfig) -> str:
  """Loads the newest checkpoint of run `config.init_from` into a new run's
  `model`: θ (whose hyperparameters must match) and φ where the guide is the
  same. Returns the line to print; ConfigError names what does not fit."""
  source = config.init_from
  if not os.path.isdir(source):
    raise ConfigError(f"--init_from={source}: not a directory (a training workdir)")
  saved = load_config(source)
  if saved.model != config.model:
    raise ConfigError(f"--init_from={source}: a {saved.model} run, and this run trains "
                      f"--model={config.model}")
  theirs, mine = saved.pinned_model_hparams(), config.pinned_model_hparams()
  differ = sorted(k for k in set(theirs) | set(mine)
                  if k not in _INIT_FROM_FREE and theirs.get(k) != mine.get(k))
  if differ:
    raise ConfigError(f"--init_from={source}: its model has " + ", ".join(
        f"{k}={theirs.get(k)!r}" for k in differ) + " (this run: " + ", ".join(
            f"{k}={mine.get(k)!r}" for k in differ) + "); θ must have the same shape")
  directory = os.path.join(source, CHECKPOINT_DIR)
  candidates = checkpoint_candidates(directory)
  if not candidates:
    raise ConfigError(f"--init_from={source}: no checkpoint in {directory}")
  same_guide = all(theirs.get(k) == mine.get(k) for k in _INIT_FROM_FREE[:4])
  try:
    # The source run's own model takes its checkpoint whole; θ (and φ for the
    # same guide) is copied from it, so a different guide, whose networks may
    # differ in shape (an IAF's encoder also emits a context), never meets
    # the source's guide variables.
    source_model = build_model(saved, model.input_shape)
    status = tf.train.Checkpoint(model=source_model).restore(candidates[0])
    status.expect_partial()  # the source's optimizers and step stay behind
    status.assert_existing_objects_matched()
    pairs = [(model.generative_variables, source_model.generative_variables)]
    if same_guide:
      pairs.append((model.guide_variables, source_model.guide_variables))
    for targets, values in pairs:
      if [v.shape for v in targets] != [v.shape for v in values]:
        raise ValueError("its variables have other shapes")
      for target, value in zip(targets, values):
        target.assign(value)
  except (AssertionError, ValueError, tf.errors.OpError) as e:
    reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
    raise ConfigError(f"--init_from={source}: {os.path.basename(candidates[0])} does not "
                      f"fit this model ({reason})") from None
  return (f"Initialised from {candidates[0]} (θ and "
          f"{'φ' if same_guide else 'not φ: the guide differs'})")


def build_model(config: config_lib.TrainConfig, input_shape) -> models.LatentVariableModel:
  try:
    return models.get(config.model, input_shape=input_shape,
                      **config.resolved_model_hparams())
  except (ValueError, TypeError, tf.errors.InvalidArgumentError) as e:
    raise ConfigError(f"--model_hparams: {e}") from None


def test_images(config: config_lib.TrainConfig, *, limit: int | None = None) -> np.ndarray:
  """The test split as the run evaluates it (`limit`: default --eval_examples; 0 = all)."""
  images = datasets.load_images(config.dataset, "test", data_dir=config.data_dir,
                                download=config.download)
  images = datasets.eval_images(images, binarization=config.binarization, seed=EVAL_SEED,
                                eight_bit=config.eight_bit)
  limit = config.eval_examples if limit is None else limit
  return images[:limit] if limit else images


def restore_model(workdir: str) -> tuple[models.LatentVariableModel, config_lib.TrainConfig, int]:
  """Rebuilds a workdir's model and loads its latest checkpoint (read only).

  Returns:
    (model, config, step).
  """
  config = load_config(workdir)
  directory = os.path.join(workdir, CHECKPOINT_DIR)
  if not checkpoint_candidates(directory):
    raise ConfigError(f"--workdir={workdir}: no checkpoint in {directory}")
  input_shape = _saved_input_shape(workdir)
  if input_shape is None:  # saved before the shape was: read it from the data
    input_shape = datasets.load_images(config.dataset, "test", data_dir=config.data_dir,
                                       download=config.download).shape[1:]
  model = build_model(config, input_shape)
  step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
  restore(tf.train.Checkpoint(step=step, model=model), directory, partial=True)
  return model, config, int(step.numpy())


def _saved_input_shape(workdir: str) -> tuple[int, ...] | None:
  with open(os.path.join(workdir, CONFIG_FILE)) as f:  # load_config has read it
    shape = json.load(f).get(INPUT_SHAPE_KEY)
  if (isinstance(shape, list) and shape
      and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)):
    return tuple(shape)
  return None


def evaluate_workdir(workdir: str, *, num_samples: int = 5000, num_examples: int = 0,
                     seed: int = EVAL_SEED, batch_size: int = 100, chunk_size: int = 250,
                     method: str = "is", ais_steps: int = 2000, ais_step_size: float = 0.1,
                     ais_proposal: str = "prior",
                     precision: str = "float32") -> evaluation.DatasetLogLikelihood:
  """Test log-likelihood of a workdir's latest checkpoint.

  `method`: 'is' (importance sampling with the guide, K = num_samples) or
  'ais' (annealed importance sampling from `ais_proposal`, 'prior' or 'guide',
  with K = num_samples chains of `ais_steps` HMC steps). `num_examples`: the first N test examples
  (0 = the whole test split, whatever the training run's --eval_examples was).
  `precision`: the networks' arithmetic for importance sampling ('bfloat16'
  is faster on TPUs and AVX512-BF16 CPUs; `benchmarks/RESULTS.md` measures
  its agreement with float32).
  """
  if method not in METHODS:
    raise ConfigError(f"--method={method!r}: one of {', '.join(METHODS)}")
  if ais_proposal not in annealed_importance.PROPOSALS:
    raise ConfigError(f"--ais_proposal={ais_proposal!r}: one of "
                      f"{', '.join(annealed_importance.PROPOSALS)}")
  if precision not in precision_lib.PRECISIONS:
    raise ConfigError(f"--precision={precision!r}: one of {', '.join(precision_lib.PRECISIONS)}")
  if precision != "float32" and method == "ais":
    raise ConfigError("--precision: AIS runs in float32 (its HMC moves need gradients "
                      "accurate to more than bf16's 8 bits); use --method=is")
  model, config, step = restore_model(workdir)
  estimate = None
  if method == "ais":
    try:
      annealed_importance.check_real_latents(model)
    except ValueError as e:
      raise ConfigError(f"--method=ais: {e}") from None
    estimate = functools.partial(
        _ais, model, num_chains=num_samples, num_steps=ais_steps, step_size=ais_step_size,
        proposal=ais_proposal)
  images = test_images(config, limit=num_examples)
  label = f"{method.upper()}, K={num_samples}" + (
      f", {ais_steps} steps from the {ais_proposal}" if estimate else "") + (
      f", {precision}" if precision != "float32" else "")
  print(f"Evaluating {workdir} at step {step} on {len(images)} test examples ({label})",
        flush=True)
  progress = Progress(f"eval ({label})", len(images), unit="examples")
  result = evaluation.dataset_log_likelihood(
      model, images, seed=tf.constant([seed, 2]), num_samples=num_samples,
      batch_size=batch_size, chunk_size=chunk_size,
      progress=lambda done, total: progress.update(done), estimate=estimate,
      precision=precision)
  check_finite_result(result, f"the {label} estimate of {workdir}")
  return result


def check_finite_result(result: evaluation.DatasetLogLikelihood, what: str) -> None:
  """Raises NonFiniteResultError (one line) unless the mean, its standard error
  and the ESS are finite numbers: a NaN is never reported as a result."""
  values = {"mean": result.mean, "standard error": result.stderr, "mean ESS": result.mean_ess}
  bad = {k: v for k, v in values.items() if not math.isfinite(v)}
  if bad:
    shown = ", ".join(f"{k} {v}" for k, v in bad.items())
    raise NonFiniteResultError(
        f"{what} is not a number ({shown} over {result.num_examples} examples): the "
        "log-weights overflow in float32; the checkpoint may have diverged, or the model "
        "assigns extreme densities to this data")


def _ais(model, x, seed, **options):
  return annealed_importance.ais_log_likelihood(model, x, seed=seed, **options)
