"""The model and estimator tables of the README (and the docs), generated
from the registered specs, so that they cannot disagree with the code.

    python scripts/generate_tables.py   # rewrites the README's generated blocks

A test fails when the committed tables are stale.
"""

from __future__ import annotations

import re
from typing import Any

from tfp_zoo import estimators, models

__all__ = ["estimator_table", "model_table", "render", "BLOCKS", "update_text"]

_ANY = set(models.LATENT_KINDS)


def _value(value: Any) -> str:
  if isinstance(value, bool):
    return str(value).lower()
  if isinstance(value, tuple):
    return "-".join(str(v) for v in value)
  return "" if value is None else str(value)


def _cell(text: str) -> str:
  return text.replace("|", "\\|").replace("\n", " ")


def _option(option: estimators.Option) -> str:
  choices = option.rule.choices if option.rule is not None else ()
  if choices and not all(isinstance(c, bool) for c in choices):
    ordered = [option.default] + [c for c in choices if c != option.default]
    shown = "|".join(_value(c) for c in ordered)
    if option.rule.open_ended:
      shown += "|<x>"  # or a number (e.g. bandwidth=median|cross_median|heldout|<x>)
    return f"`{option.name}={shown}`"
  return f"`{option.name}={_value(option.default)}`"


def estimator_table() -> str:
  """| estimator | update | latents | K | options | for every built-in estimator.

  Returns:
    A Markdown table, one row per built-in estimator sorted by name, with its
    summary, latents, default K and options with their defaults.
  """
  rows = ["| estimator | update | latents | default K | `--estimator_options` (defaults) |",
          "|---|---|---|---|---|"]
  for spec in estimators.specs():
    if spec.source != "tfp_zoo":
      continue
    latents = "any" if set(spec.latents) == _ANY else ", ".join(spec.latents)
    options = ", ".join(_option(o) for o in spec.options.values()
                        if o.name != "num_samples" and not o.supplied_by_loop)
    k = "—" if spec.default_num_samples is None else str(spec.default_num_samples)
    rows.append(f"| `{spec.name}` | {_cell(spec.summary)} | {latents} | {k} | "
                f"{_cell(options) or '—'} |")
  return "\n".join(rows)


def model_table() -> str:
  """| model | what | latents | hyperparameters | for every built-in model.

  Returns:
    A Markdown table, one row per built-in model sorted by name, with its
    summary, latent kind and hyperparameters with their defaults.
  """
  rows = ["| model | what | latents | `--model_hparams` (defaults; empty: derived) |",
          "|---|---|---|---|"]
  for spec in models.specs():
    if spec.source != "tfp_zoo":
      continue
    hparams = ", ".join(f"`{n}={_value(v)}`" for n, v in spec.hparam_defaults().items()
                        if n != "seed")
    rows.append(f"| `{spec.name}` | {_cell(spec.summary)} | {spec.latents} | "
                f"{_cell(hparams)} |")
  return "\n".join(rows)


# The generated blocks: marker name -> renderer.
BLOCKS = {"models": model_table, "estimators": estimator_table}


def render(name: str) -> str:
  """The generated block `name` of the docs.

  Args:
    name: a key of `BLOCKS`: 'models' or 'estimators'.

  Returns:
    The block's Markdown.
  """
  return BLOCKS[name]()


def update_text(text: str) -> str:
  """`text` with every generated block re-rendered (between
  `<!-- generated: NAME -->` and `<!-- end generated -->`).

  Args:
    text: a Markdown document, e.g. README.md's contents.

  Returns:
    The document with each block's content replaced by `render(NAME)`; the
    rest unchanged.
  """
  def replace(match: re.Match) -> str:
    return f"{match.group(1)}\n{render(match.group(2))}\n{match.group(4)}"
  return re.sub(r"(<!-- generated: (\w+)[^>]*-->)(.*?)(<!-- end generated -->)", replace,
                text, flags=re.S)
