"""Progress lines for long work: rate and time left, on one line each."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


def _duration(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
  """Prints 'label done/total (pct) | rate | eta | extra' lines."""

  def __init__(self, label: str, total: int, *, start: int = 0, unit: str = "step",
               stream: TextIO | None = None, max_seconds: float = 0.0,
               enabled: bool = True):
    """`max_seconds` > 0: the work also stops after that long (eta is the
    sooner end, and the line says which).

    Args:
      label: the line's first word, e.g. 'train'.
      total: the amount of work, in `unit`s.
      start: the amount already done when timing starts (default 0; a resumed
        run's step), so the rate counts only this process's work.
      unit: what is counted, for the rate (default 'step').
      stream: where lines go (default: standard output).
      max_seconds: a time budget in seconds (default 0: none).
      enabled: False prints nothing (a multi-worker run's non-chief workers).
    """
    self.enabled = enabled
    self.label, self.total, self.unit = label, total, unit
    self._start, self._t0 = start, time.monotonic()
    self._stream = stream or sys.stdout
    self._max_seconds = max_seconds

  def rate(self, done: int) -> float:
    elapsed = time.monotonic() - self._t0
    return (done - self._start) / elapsed if elapsed > 0 else 0.0

  def update(self, done: int, extra: str = "") -> None:
    if not self.enabled:
      return
    rate = self.rate(done)
    eta = (self.total - done) / rate if rate > 0 else 0.0
    pct = 100.0 * done / self.total if self.total else 100.0
    budget = ""
    if self._max_seconds:
      left = self._max_seconds - (time.monotonic() - self._t0)
      if left < eta:
        eta, budget = left, " (time budget)"
        pct = 100.0 * (1.0 - left / self._max_seconds)
    line = (f"{self.label} {done}/{self.total} ({pct:.0f}%) | {rate:.1f} {self.unit}/s"
            f" | eta {_duration(eta)}{budget}")
    print(line + (f" | {extra}" if extra else ""), file=self._stream, flush=True)
