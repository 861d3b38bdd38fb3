"""TensorFlow's C++ start-up lines, kept off a launcher's terminal.

Importing TensorFlow (and TFP, TFDS) and finding its devices print lines
such as "oneDNN custom operations are on", "Could not find cuda drivers" and,
on a CPU machine, "failed call to cuInit: ... CUDA error". Log-level
variables leave some of them, so the launchers point the stderr file
descriptor at a buffer around the import and then drop the lines in
TensorFlow's C++ log format. Anything else written meanwhile (a Python
warning) is written back; if the import fails, everything is replayed before the
error. `--verbosity=0` (INFO) or higher shows them all, as TensorFlow prints
them.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from typing import Iterator, Sequence

__all__ = ["verbosity_from_argv", "is_startup_noise", "quiet_stderr", "import_tensorflow"]

# glog/absl C++ lines ("I0000 00:00:1796460215.787772   24161 port.cc:153] ..."),
# the preamble absl prints before them, and the cpu_feature_guard continuation.
_NOISE = re.compile(r"^([IWEF]\d{4} [\d:.]+\s+\d+ \S+:\d+\]|"
                    r"WARNING: All log messages before absl::InitializeLog\(\)|"
                    r"To enable the following instructions: )")


def verbosity_from_argv(argv: Sequence[str]) -> int:
  """The absl `--verbosity` (or `-v`) value in `argv`, read before flags parse.

  Args:
    argv: the command line, `sys.argv`.

  Returns:
    The last value given (0 = INFO, 1 = DEBUG), or -1 (absl's default, WARNING)
    if there is none or it is not an integer.
  """
  value = None
  args = list(argv[1:])
  for i, arg in enumerate(args):
    name, eq, text = arg.partition("=")
    if name in ("--verbosity", "-v", "--v"):
      value = text if eq else (args[i + 1] if i + 1 < len(args) else None)
  try:
    return int(value) if value is not None else -1
  except ValueError:
    return -1


def is_startup_noise(line: str) -> bool:
  """True for a line of TensorFlow's C++ log (or absl's preamble to it).

  Args:
    line: one line of stderr text.

  Returns:
    Whether the launchers drop it at start-up.
  """
  return bool(_NOISE.match(line))


@contextlib.contextmanager
def quiet_stderr(enabled: bool = True) -> Iterator[None]:
  """Sends file descriptor 2 to a buffer; afterwards writes back all but TF's C++ lines.

  Python's own `sys.stderr` writes to the same descriptor, so its messages
  (a warning raised during an import) are held and written back too, in
  order. `sys.stderr` itself is left alone: a logging handler created
  meanwhile keeps a stream that stays open. If the body raises, the whole
  buffer is written back first, so a failed import shows everything
  TensorFlow said.

  Args:
    enabled: False makes this a no-op (`--verbosity` asked for the lines).

  Yields:
    Nothing; the redirect lasts for the body.
  """
  if not enabled:
    yield
    return
  try:
    sys.stderr.flush()
    saved = os.dup(2)
  except (OSError, ValueError, AttributeError):  # no real stderr (e.g. a captured one)
    yield
    return
  failed = False
  with tempfile.TemporaryFile(mode="w+b") as buffer:
    os.dup2(buffer.fileno(), 2)
    try:
      yield
    except BaseException:
      failed = True
      raise
    finally:
      try:
        sys.stderr.flush()
      except (OSError, ValueError):
        pass
      os.dup2(saved, 2)
      os.close(saved)
      buffer.seek(0)
      text = buffer.read().decode("utf-8", "replace")
      kept = text if failed else "".join(
          line for line in text.splitlines(keepends=True) if not is_startup_noise(line))
      if kept:
        sys.stderr.write(kept)
        sys.stderr.flush()


def _quiet(argv: Sequence[str] | None) -> bool:
  return verbosity_from_argv(sys.argv if argv is None else argv) < 0


def import_tensorflow(argv: Sequence[str] | None = None) -> None:
  """Imports TensorFlow, TFP and TFDS with their C++ start-up lines dropped.

  Does nothing beyond the imports if TensorFlow is already imported.

  Args:
    argv: the command line (default `sys.argv`), read for `--verbosity`.
  """
  already = "tensorflow" in sys.modules
  with quiet_stderr(enabled=not already and _quiet(argv)):
    import tensorflow  # pylint: disable=g-import-not-at-top,unused-import
    import tensorflow_probability  # pylint: disable=g-import-not-at-top,unused-import
    import tensorflow_datasets  # pylint: disable=g-import-not-at-top,unused-import
    # Finding the GPUs (CUDA's cuInit) prints the rest; it starts no runtime, so
    # strategies that must come first (multi-worker, TPU) can still be built.
    tensorflow.config.list_physical_devices()

