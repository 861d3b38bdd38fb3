"""The application layer: what presents the library to a user. Launcher
plumbing (`launch_flags`: flags derived from the config dataclasses, one-line
failures), PNG figures (`figures`, matplotlib), SavedModel export (`export`)
and the docs tables generated from the registries (`catalogue`). Nothing
below it imports it (docs/architecture.md)."""

import importlib

_SUBMODULES = ("catalogue", "export", "figures", "launch_flags")


# Submodules load on first use (`tfp_zoo.app.X` works after `import tfp_zoo`).
def __getattr__(name: str) -> object:
  if name in _SUBMODULES:
    return importlib.import_module(f"{__name__}.{name}")
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
