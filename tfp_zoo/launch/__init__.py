"""The command-line launchers, installed as the `tfp-zoo-*` commands.

    tfp-zoo-train --workdir=/tmp/vae --train_steps=2000     # or python -m tfp_zoo.launch.train
    tfp-zoo-evaluate --workdir=/tmp/vae --output=/tmp/vae_eval.json
    tfp-zoo-sample --workdir=/tmp/vae --output=/tmp/samples.png
    tfp-zoo-export --workdir=/tmp/vae --output=/tmp/vae_export

Each module defines its flags from a config dataclass (`training.TrainConfig`,
`EvaluateConfig`, `SampleConfig`, `ExportConfig`) and makes one call into the
package; `python -m tfp_zoo` lists them. Importing this package imports no
TensorFlow (the modules do, quietly: `startup`).
"""

from __future__ import annotations

__all__ = ["COMMANDS", "describe_commands"]

# command -> (module, what it does)
COMMANDS: dict[str, tuple[str, str]] = {
    "tfp-zoo-train": ("tfp_zoo.launch.train",
                      "train a model with an estimator (resumes a workdir; evaluates at the end)"),
    "tfp-zoo-evaluate": ("tfp_zoo.launch.evaluate",
                         "test log-likelihood of a workdir's checkpoint (IS or AIS)"),
    "tfp-zoo-sample": ("tfp_zoo.launch.sample",
                       "PNG pictures of samples from a workdir or a SavedModel"),
    "tfp-zoo-export": ("tfp_zoo.launch.export",
                       "a SavedModel that samples with TensorFlow alone"),
}


def describe_commands() -> str:
  """The text `python -m tfp_zoo` prints: each command, its module and what it does.

  Returns:
    Several lines, one per command, then how to get each one's flags.
  """
  width = max(map(len, COMMANDS))
  lines = ["tfp-zoo commands (each also runs as `python -m <module>`):", ""]
  for command, (module, summary) in COMMANDS.items():
    lines.append(f"  {command:<{width}}  {summary}  [{module}]")
  lines += ["", "Flags of one: tfp-zoo-train --helpshort (or --helpfull)."]
  return "\n".join(lines)
