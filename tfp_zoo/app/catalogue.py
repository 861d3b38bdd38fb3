"""The model and estimator catalogue of the README and the docs, generated
from the registered specs, so that it cannot disagree with the code.

    python scripts/generate_tables.py   # rewrites every generated block

The README holds the short table (`catalogue`: name and a one-line summary);
docs/models.md and docs/estimators.md hold the tables with every
hyperparameter and option (`models`, `estimators`) and a section per entry
(`model_details`, `estimator_details`). A test fails when a committed block
is stale.
"""

from __future__ import annotations

import re
from typing import Any

from tfp_zoo import estimators, models

__all__ = ["estimator_table", "model_table", "catalogue_table", "model_details",
           "estimator_details", "one_line", "render", "BLOCKS", "FILES", "update_text"]

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


def one_line(summary: str) -> str:
  """The summary's first clause: up to the first ':', ';' or '. ' outside
  brackets and code (the whole summary when it is short).

  Args:
    summary: a model's or estimator's registered summary.

  Returns:
    The clause, without a final period.
  """
  if len(summary) <= 100:
    return summary.rstrip(".")
  depth, code = 0, False
  for i, char in enumerate(summary):
    if char == "`":
      code = not code
    elif code:
      continue
    elif char in "([{":
      depth += 1
    elif char in ")]}":
      depth -= 1
    elif depth == 0 and (char in ":;" or summary.startswith(". ", i)):
      return summary[:i].rstrip()
  return summary.rstrip(".")


def _latents(spec) -> str:
  return "any" if set(spec.latents) == _ANY else ", ".join(spec.latents)


def _builtin(specs):
  return [spec for spec in specs if spec.source == "tfp_zoo"]


def _options(spec) -> list[str]:
  return [_option(o) for o in spec.options.values()
          if o.name != "num_samples" and not o.supplied_by_loop]


def _hparams(spec) -> list[str]:
  return [f"`{n}={_value(v)}`" for n, v in spec.hparam_defaults().items() if n != "seed"]


def _k(spec) -> str:
  return "—" if spec.default_num_samples is None else str(spec.default_num_samples)


def estimator_table() -> str:
  """| estimator | update | latents | K | for every built-in estimator (the
  summary's first clause; `estimator_details` has the rest and the options).

  Returns:
    A Markdown table, one row per built-in estimator, sorted by name.
  """
  rows = ["| estimator | update | latents | default K |", "|---|---|---|---|"]
  for spec in _builtin(estimators.specs()):
    rows.append(f"| [`{spec.name}`](#{spec.name}) | {_cell(one_line(spec.summary))} | "
                f"{_latents(spec)} | {_k(spec)} |")
  return "\n".join(rows)


def model_table() -> str:
  """| model | what | latents | for every built-in model (the summary's first
  clause; `model_details` has the rest and the hyperparameters).

  Returns:
    A Markdown table, one row per built-in model, sorted by name.
  """
  rows = ["| model | what | latents |", "|---|---|---|"]
  for spec in _builtin(models.specs()):
    rows.append(f"| [`{spec.name}`](#{spec.name}) | {_cell(one_line(spec.summary))} | "
                f"{spec.latents} |")
  return "\n".join(rows)


def catalogue_table() -> str:
  """The README's table: every built-in model and estimator, one line each.

  Returns:
    A Markdown table: kind, name and the summary's first clause.
  """
  rows = ["| | name | what |", "|---|---|---|"]
  for kind, specs in (("model", models.specs()), ("estimator", estimators.specs())):
    for spec in _builtin(specs):
      rows.append(f"| {kind} | `{spec.name}` | {_cell(one_line(spec.summary))} |")
  return "\n".join(rows)


def model_details() -> str:
  """A section per built-in model: its summary, latents and hyperparameters.

  Returns:
    Markdown, a `###` section per built-in model.
  """
  parts = []
  for spec in _builtin(models.specs()):
    parts.append(f"### {spec.name}\n\n{spec.summary.rstrip('.')}.\n\n"
                 f"- latents: {spec.latents}\n"
                 f"- `--model_hparams` (defaults; empty: derived): "
                 f"{', '.join(_hparams(spec)) or '—'}\n")
  return "\n".join(parts).rstrip("\n")


def estimator_details() -> str:
  """An item per built-in estimator: its summary, latents, K and options.

  Returns:
    A Markdown list, an item per built-in estimator.
  """
  items = []
  for spec in _builtin(estimators.specs()):
    items.append(f"- **`{spec.name}`**: {spec.summary.rstrip('.')}. Latents: "
                 f"{_latents(spec)}; default K: {_k(spec)}; `--estimator_options` "
                 f"(defaults): {', '.join(_options(spec)) or '—'}.")
  return "\n".join(items)


# The generated blocks: marker name -> renderer.
BLOCKS = {"catalogue": catalogue_table, "models": model_table, "estimators": estimator_table,
          "model_details": model_details, "estimator_details": estimator_details}
# The files that hold generated blocks (relative to the repository's root) and
# the blocks each must hold.
FILES = {"README.md": ("catalogue",),
         "docs/models.md": ("models", "model_details"),
         "docs/estimators.md": ("estimators", "estimator_details")}


def render(name: str) -> str:
  """One generated block's current text.

  Args:
    name: a key of `BLOCKS` (the `<!-- generated: NAME -->` marker's name).

  Returns:
    The Markdown the block holds when fresh.
  """
  return BLOCKS[name]()


def update_text(text: str) -> str:
  """`text` with every generated block re-rendered (between
  `<!-- generated: NAME -->` and `<!-- end generated -->`).

  Args:
    text: a page holding generated blocks.

  Returns:
    The page with each block's current text.
  """
  def replace(match: re.Match) -> str:
    return f"{match.group(1)}\n{render(match.group(2))}\n{match.group(4)}"
  return re.sub(r"(<!-- generated: (\w+)[^>]*-->)(.*?)(<!-- end generated -->)", replace,
                text, flags=re.S)
