"""TFDS downloads that fail fast without a network.

TFDS has no timeout of its own: without a network (or behind a proxy that
never answers) `download_and_prepare` can hang for many minutes. Before it
starts, one request to the host TFDS fetches from must answer within
`PROBE_SECONDS`, through the same proxy settings TFDS uses (the `*_proxy`
environment variables); and while it runs, every socket gives up after
`SOCKET_SECONDS` of silence.
"""

from __future__ import annotations

import contextlib
import socket
import urllib.error
import urllib.request
from typing import Any, Iterator

from tfp_zoo.errors import DatasetNotFoundError

__all__ = ["download_and_prepare", "PROBE_URL", "PROBE_SECONDS"]

# TFDS's own mirror and most of its datasets' sources are here.
PROBE_URL = "https://storage.googleapis.com/"
PROBE_SECONDS = 10.0
SOCKET_SECONDS = 20.0


def _probe(dataset: str) -> None:
  try:
    urllib.request.urlopen(urllib.request.Request(PROBE_URL, method="HEAD"),
                           timeout=PROBE_SECONDS).close()
  except urllib.error.HTTPError:
    return  # the host answered (any status): there is a network
  except (OSError, ValueError) as e:  # URLError, timeouts, refused connections
    reason = getattr(e, "reason", e)
    raise DatasetNotFoundError(
        f"--download: {dataset} cannot be fetched: {PROBE_URL} could not be reached within "
        f"{PROBE_SECONDS:.0f} s ({str(reason).strip() or type(reason).__name__}). Without a "
        "network, give --data_dir with the dataset's files, or use --dataset=mnist_small "
        "(shipped)") from None


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
  previous = socket.getdefaulttimeout()
  socket.setdefaulttimeout(seconds)
  try:
    yield
  finally:
    socket.setdefaulttimeout(previous)


def download_and_prepare(builder: Any, dataset: str) -> None:
  """`builder.download_and_prepare()`, refused in one line within seconds when
  the network does not answer."""
  _probe(dataset)
  try:
    with _socket_timeout(SOCKET_SECONDS):
      builder.download_and_prepare()
  except (socket.timeout, TimeoutError, ConnectionError, urllib.error.URLError) as e:
    raise DatasetNotFoundError(
        f"--download: fetching {dataset} stopped: the network went silent for "
        f"{SOCKET_SECONDS:.0f} s ({e}); run again to resume, or work offline with "
        "--data_dir") from None
