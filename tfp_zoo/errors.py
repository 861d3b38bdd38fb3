"""The errors a user can cause, each meaning "stop with one clear line".

Launchers catch `UserError` (and its subclasses) and print
`FATAL <ErrorName>: <message>`; the message names the flag, argument or file
and what is allowed.
"""

from __future__ import annotations

__all__ = ["UserError", "ConfigError", "ExportError", "TrainingDivergedError",
           "DatasetError", "DatasetNotFoundError", "WorkdirLockedError", "ResourceError",
           "NonFiniteResultError"]


class UserError(Exception):
  """Base of the errors that end a launcher with one line (no traceback)."""


class ConfigError(UserError, ValueError):
  """A configuration value is not allowed; the message names the field/flag."""


class ExportError(UserError, ValueError):
  """The export target or the model cannot be exported; nothing was written."""


class TrainingDivergedError(UserError, RuntimeError):
  """A loss or a parameter became NaN or infinite; that state was not saved."""


class DatasetError(UserError, ValueError):
  """A data file is damaged or inconsistent; the message names the file."""


class DatasetNotFoundError(UserError, FileNotFoundError):
  """A dataset is not available offline where it was asked for."""


class WorkdirLockedError(UserError, RuntimeError):
  """Another live process holds the workdir's lock; the message names its PID."""


class ResourceError(UserError, RuntimeError):
  """Out of memory or disk, or a file that cannot be written: names what to change."""


class NonFiniteResultError(UserError, ArithmeticError):
  """An estimate came out NaN or infinite: it is not reported as a number."""
