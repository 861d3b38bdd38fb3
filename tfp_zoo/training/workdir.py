"""A run's directory: its paths, atomic writes, the lock, and restoring its
checkpoints with fallback. The saved config and the resume contract are in
`resume.py`; what reads a finished run (`restore_model`, `evaluate_workdir`)
in `readers.py` (their names still import from here).

A workdir holds `config.json` (the run's configuration and its data digest),
`checkpoints/` (`tf.train.CheckpointManager`: step, model, both optimizers,
the estimator's state), `train/` and `eval/` TensorBoard summaries,
`results.json` (the final evaluation) and `lock` (who is training it).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import importlib
import json
import math
import os
import socket
from typing import Any, Iterator

import numpy as np
import tensorflow as tf

from tfp_zoo.errors import (ConfigError, ResourceError,
                            WorkdirLockedError)
from tfp_zoo.training import launcher_configs

__all__ = ["CONFIG_FILE", "CHECKPOINT_DIR", "RESULTS_FILE", "LOCK_FILE", "EVAL_SEED",
           "Lock", "save_config", "load_config", "load_saved_run", "check_resume",
           "checkpoint_candidates", "restore", "init_model_from", "build_model", "test_images",
           "restore_model", "evaluate_workdir", "write_json", "read_results", "writing"]

# Names that moved to the modules of the resume contract and of the readers.
_MOVED = {"save_config": "resume", "load_config": "resume", "load_saved_run": "resume",
          "check_resume": "resume", "init_model_from": "readers", "build_model": "readers",
          "test_images": "readers", "restore_model": "readers",
          "evaluate_workdir": "readers", "check_finite_result": "readers"}


def __getattr__(name: str) -> Any:
  if name in _MOVED:
    return getattr(importlib.import_module(f"tfp_zoo.training.{_MOVED[name]}"), name)
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

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
EVAL_SEED = launcher_configs.EvaluateConfig.seed  # evaluate.py's default reproduces it
METHODS = launcher_configs.METHODS  # how evaluate_workdir estimates log p(x)


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


def checkpoint_candidates(directory: str) -> list[str]:
  """Checkpoint prefixes in `directory`, newest first, found from the files
  themselves: a lost or damaged `checkpoint` state file must not hide them."""
  steps = []
  for path in tf.io.gfile.glob(os.path.join(directory, "ckpt-*.index")):
    suffix = os.path.basename(path)[len("ckpt-"):-len(".index")]
    if suffix.isdigit():
      steps.append(int(suffix))
  return [os.path.join(directory, f"ckpt-{n}") for n in sorted(steps, reverse=True)]


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


