"""Pieces shared by the benchmark scripts: the MNIST data flags and plotting."""

import os

from absl import flags

_DEFAULT_MNIST_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                  "shared", "data", "mnist")


def define_mnist_flags() -> None:
  """--dataset (real MNIST or the shipped subset) and --data_dir (idx files)."""
  flags.DEFINE_enum("dataset", "mnist", ["mnist", "mnist_small"],
                    "mnist reads the idx files in --data_dir; mnist_small ships with "
                    "the package.")
  flags.DEFINE_string("data_dir", _DEFAULT_MNIST_DIR,
                      "Directory with the four MNIST idx .gz files (--dataset=mnist).")


def mnist_data_dir() -> str | None:
  """The data_dir to pass to tfp_zoo for the chosen --dataset."""
  return flags.FLAGS.data_dir if flags.FLAGS.dataset == "mnist" else None


def pyplot():
  """matplotlib's pyplot on the file-only Agg backend (no display needed)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def cpu_model() -> str:
  """The CPU's model name (benchmark tables record it: machines differ)."""
  import platform  # pylint: disable=g-import-not-at-top
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def train(config) -> dict:
  """`training.train(config)`, but a run stopped by SIGTERM/SIGINT (its checkpoint
  saved) ends the script with one line saying how to resume, not a KeyError."""
  import sys  # pylint: disable=g-import-not-at-top
  from tfp_zoo import training  # pylint: disable=g-import-not-at-top
  result = training.train(config)
  if "stopped_by" in result:
    sys.exit(f"{result['stopped_by']}: {config.workdir} stopped at step {result['step']} with "
             "its checkpoint saved; run the same command again to resume")
  return result


def read_json(path: str):
  """The JSON at `path`, or None if it is missing or unreadable."""
  import json  # pylint: disable=g-import-not-at-top
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def run_rows(rows, root: str, settings: dict, run_row) -> list:
  """Runs `run_row(row, workdir)` for each row (each has `.name`), one workdir
  per row under `root`; a row whose `row.json` holds the same `settings` is
  reused, so a rerun resumes where it stopped."""
  from tfp_zoo.training import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  os.makedirs(root, exist_ok=True)
  results = []
  for i, row in enumerate(rows):
    workdir = os.path.join(root, row.name)
    path = os.path.join(workdir, "row.json")
    saved = read_json(path)
    if saved and saved.get("settings") == settings:
      print(f"[{i + 1}/{len(rows)}] {row.name}: done earlier, reusing {path}", flush=True)
      results.append(saved)
      continue
    print(f"[{i + 1}/{len(rows)}] {row.name}", flush=True)
    result = run_row(row, workdir)
    workdir_lib.write_json(path, result, "row.json")
    results.append(result)
  return results


def write_table(root: str, table: str, results: list) -> None:
  """Prints the Markdown table and writes it (table.md) and the rows (table.json)."""
  from tfp_zoo.training import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  print("\n" + table)
  with open(os.path.join(root, "table.md"), "w") as f:
    f.write(table + "\n")
  workdir_lib.write_json(os.path.join(root, "table.json"), results, "table.json")
