"""Launcher plumbing: train.py's flags derived from `TrainConfig`, and one-line failures.

Every flag of launchers/train.py is a `TrainConfig` field, with its default,
help and bounds (field metadata); adding a training flag is one field. A bad
value ends the launcher with one line, `FATAL <ErrorName>: ...`, naming the
flag and what is allowed; so does every other failure a user can cause.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading
from typing import Any, Callable

from absl import app
from absl import flags
from absl import logging
import tensorflow as tf

from tfp_zoo import datasets
from tfp_zoo.errors import ConfigError, UserError
from tfp_zoo.registry import parse_key_values
from tfp_zoo.training import config as config_lib

__all__ = ["define_train_flags", "train_config_from_flags", "run_or_exit", "parse_flags",
           "is_existing_dir", "INTERRUPTED", "define_flags", "config_from_flags",
           "list_in_helpshort", "run_command"]

INTERRUPTED = 130  # the shell's status for Ctrl-C


def is_existing_dir(path: str | None) -> bool:
  """Whether `path` is given and is an existing directory.

  Args:
    path: a directory, or None.

  Returns:
    True if `path` is not None and a directory exists there.
  """
  return path is not None and os.path.isdir(path)


def _parses(text: str) -> bool:
  try:
    parse_key_values(text)
  except ValueError:
    return False
  return True


def define_flags(config_class: type, flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """Defines one flag per field of a config dataclass (`TrainConfig`,
  `EvaluateConfig`, ...): its default, help, bounds and choices (dicts as
  'key=value,...' strings). The values are checked by the config's
  `validate()` (`config_from_flags`), absl's bounds only repeat them early.

  Args:
    config_class: a config dataclass whose fields are made with
      `fields.field`.
    flag_values: where to define them (default: absl's global `flags.FLAGS`).
  """
  for field in dataclasses.fields(config_class):
    meta, name = field.metadata, field.name
    kind = field.type.split(" |")[0]
    default = field.default if field.default is not dataclasses.MISSING else None
    common = dict(name=name, help=meta["help"], flag_values=flag_values)
    bounds = dict(lower_bound=meta["lower"], upper_bound=meta["upper"])
    if meta["choices"] is not None and meta["plugin"]:  # a name, or module:object
      flags.DEFINE_string(default=default, **{
          **common, "help": f"{meta['help']} Registered: {', '.join(meta['choices']())}."})
    elif meta["choices"] is not None:
      flags.DEFINE_enum(default=default, enum_values=list(meta["choices"]()), **common)
    elif kind == "int":
      flags.DEFINE_integer(default=default, **bounds, **common)
    elif kind == "float":
      flags.DEFINE_float(default=default, **bounds, **common)
    elif kind == "bool":
      flags.DEFINE_bool(default=default, **common)
    elif kind.startswith("dict"):
      flags.DEFINE_string(default="", **common)
      flags.register_validator(name, _parses, flag_values=flag_values,
                               message="must be key=value pairs separated by commas, "
                               "each key once")
    else:
      flags.DEFINE_string(default=default, **common)
    if meta["required"]:
      flags.mark_flag_as_required(name, flag_values=flag_values)


def list_in_helpshort(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """Makes the flags defined here key flags of the program being run, so that
  `--helpshort` lists them whether it runs as a script, a command or `-m`.

  Args:
    flag_values: the registry the flags were defined in.
  """
  for flag in flag_values.get_flags_for_module(__name__):
    flag_values.register_key_flag_for_module(sys.argv[0], flag)


def config_from_flags(config_class: type, values: flags.FlagValues = flags.FLAGS) -> Any:
  """The config dataclass built from the flags and validated (exits with one
  line on a bad value).

  Args:
    config_class: the config dataclass whose flags `define_flags` defined.
    values: the parsed flags (default: absl's global `flags.FLAGS`).

  Returns:
    The validated config, an instance of `config_class`.
  """
  fields = {}
  for field in dataclasses.fields(config_class):
    value = values[field.name].value
    fields[field.name] = (parse_key_values(value) if str(field.type).startswith("dict")
                          else value)
  try:
    return config_class(**fields).validate()
  except ConfigError as e:
    _fatal("Flags error", str(e))


def define_train_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """Defines one flag per `TrainConfig` field, and the data-flag check.

  Args:
    flag_values: where to define them (default: absl's global `flags.FLAGS`).
  """
  define_flags(config_lib.TrainConfig, flag_values)
  flags.register_validator("data_dir", lambda v: v is None or os.path.isdir(v),
                           message="must be an existing directory", flag_values=flag_values)
  flags.register_multi_flags_validator(
      ["dataset", "data_dir", "download"],
      lambda v: (not datasets.needs_data_dir(v["dataset"]) or bool(v["data_dir"])
                 or v["download"]),
      message="--dataset: this dataset needs --data_dir (idx files or prepared TFDS data) "
      "or --download; mnist_small, multi_mnist, npz:PATH and folder:PATH do not",
      flag_values=flag_values)


def train_config_from_flags(values: flags.FlagValues) -> config_lib.TrainConfig:
  """Builds and validates a `TrainConfig` (exits with one line on a bad value).

  Args:
    values: the parsed flags (`define_train_flags`).

  Returns:
    The validated `TrainConfig`.
  """
  return config_from_flags(config_lib.TrainConfig, values)


def parse_flags(argv: list[str]) -> list[str]:
  """`app.run`'s flags parser, failing with exactly one line on a bad flag.

  Args:
    argv: the command line, the program's name first.

  Returns:
    The arguments left after the flags (the program's name first).
  """
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    _fatal("Flags error", f"{e} (see --helpshort)")


def _fatal(name: str, message: str, status: int = 1) -> None:
  line = " ".join(str(message).split())  # one line, whatever the message held
  print(f"FATAL {name}: {line}", file=sys.stderr, flush=True)
  sys.exit(status)


def run_or_exit(fn: Callable[[], Any]) -> Any:
  """Runs `fn`; every failure a user can cause ends the process with one line.

  Ctrl-C exits with status 130; `UserError`s, out-of-memory and failed writes
  with status 1.

  Args:
    fn: the launcher's work, called with no arguments.

  Returns:
    What `fn` returned.
  """
  if threading.current_thread() is threading.main_thread():
    # A process started in the background by a non-interactive shell inherits
    # SIGINT ignored, and Python then never raises KeyboardInterrupt: kill -INT
    # would stop training (its own handler) but not an evaluation or export.
    signal.signal(signal.SIGINT, signal.default_int_handler)
  try:
    return fn()
  except UserError as e:
    _fatal(type(e).__name__, str(e))
  except KeyboardInterrupt:
    _fatal("Interrupted", "stopped by Ctrl-C (the checkpoints on disk are untouched)",
           INTERRUPTED)
  except (tf.errors.ResourceExhaustedError, MemoryError) as e:
    _fatal("ResourceError", f"out of memory ({type(e).__name__}): lower --num_samples, "
           "--batch_size or the layer sizes")
  except OSError as e:
    _fatal("ResourceError", f"{e.filename or ''}: {e.strerror or e}")


def run_command(config_class: type, action: Callable[[Any], Any]) -> None:
  """A command's whole life: its flags, `sys.argv` parsed, `action(config)`.

  Defines one flag per field of `config_class` (`TrainConfig` with its data
  checks), lists them under `--helpshort`, parses the command line with
  one-line failures, turns absl's INFO logs off unless `--verbosity` was
  given, builds and validates the config, and runs `action` under
  `run_or_exit` (every failure a user can cause is one line).

  Args:
    config_class: the command's config dataclass (`TrainConfig`,
      `EvaluateConfig`, `SampleConfig`, `ExportConfig`).
    action: `(config) -> Any`, the command's work.
  """
  if config_class is config_lib.TrainConfig:
    define_train_flags()
  else:
    define_flags(config_class)
  list_in_helpshort()

  def main(argv: list[str]) -> None:
    del argv
    if not flags.FLAGS["verbosity"].present:
      logging.set_verbosity(logging.WARNING)  # our progress lines, not TF's INFO logs
    config = config_from_flags(config_class)
    run_or_exit(lambda: action(config))

  app.run(main, flags_parser=parse_flags)
