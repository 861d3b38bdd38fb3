r"""Conv nets and 8-bit pixel likelihoods on full MNIST, at one stated budget.

Five runs of the same number of steps (batch 100, Adam 1e-3, IWAE K=5), one
after another:

    row                 pixels                     networks next to x
    mlp-bernoulli       binarised (dynamic)        784-200-200 MLP (the IWAE paper's)
    conv-bernoulli      binarised (dynamic)        conv 32-64, stride 2
    mlp-dlogistic       8-bit, discretised logistic          MLP
    conv-dlogistic      8-bit, discretised logistic          conv
    conv-dlogistic-mix  8-bit, mixture of 5 discretised logistics  conv

The 28×28 digits need no padding: the decoder's transposed convolutions take
the encoder's sizes (28 → 14 → 7 and back). Each run is evaluated by
importance sampling with the guide, K=--eval_num_samples, on the first
--eval_examples test digits (binarised once with the evaluation seed, or the
raw 8-bit values): nats, and bits per dimension for the 8-bit rows. A sample
grid of every trained model is written beside the table.

Resumable like mnist_table.py (finished rows are `<workdir_root>/<row>/row.json`):

    nohup python benchmarks/image_models.py > /tmp/image_models.log 2>&1 &
"""

import dataclasses
import os
import time

from absl import app
from absl import flags
from absl import logging

import common

common.define_mnist_flags()
flags.DEFINE_string("workdir_root", "/tmp/tfp_zoo_image_models", "One workdir per row; "
                    "finished rows are skipped, unfinished ones resumed.")
flags.DEFINE_integer("train_steps", 3000, "Training steps of every row (batch 100).",
                     lower_bound=1)
flags.DEFINE_list("rows", [], "Only these rows; empty = all.")
flags.DEFINE_integer("eval_examples", 1000, "Test digits of the IS estimate.", lower_bound=1)
flags.DEFINE_integer("eval_num_samples", 1000, "K of the IS estimate.", lower_bound=1)
flags.DEFINE_string("precision", "float32", "Train-step arithmetic of every row.")
FLAGS = flags.FLAGS

TRAIN_EXAMPLES = 60000


@dataclasses.dataclass(frozen=True)
class Row:
  name: str
  architecture: str
  likelihood: str

  @property
  def eight_bit(self) -> bool:
    return self.likelihood.startswith("discretized")


ROWS = (Row("mlp-bernoulli", "mlp", "bernoulli"),
        Row("conv-bernoulli", "conv", "bernoulli"),
        Row("mlp-dlogistic", "mlp", "discretized_logistic"),
        Row("conv-dlogistic", "conv", "discretized_logistic"),
        Row("conv-dlogistic-mix", "conv", "discretized_logistic_mixture"))


def _settings() -> dict:
  return {"dataset": FLAGS.dataset, "train_steps": FLAGS.train_steps,
          "eval_examples": FLAGS.eval_examples, "eval_num_samples": FLAGS.eval_num_samples,
          "precision": FLAGS.precision}


def _run_row(row: Row, workdir: str) -> dict:
  from tfp_zoo import training  # pylint: disable=g-import-not-at-top
  from tfp_zoo.app import figures
  config = training.TrainConfig(
      workdir=workdir, model="vae",
      model_hparams={"architecture": row.architecture, "likelihood": row.likelihood},
      estimator="iwae", num_samples=5, dataset=FLAGS.dataset,
      data_dir=common.mnist_data_dir(),
      binarization="none" if row.eight_bit else "dynamic", train_steps=FLAGS.train_steps,
      precision=FLAGS.precision, log_every=max(FLAGS.train_steps // 20, 1),
      checkpoint_every=max(FLAGS.train_steps // 5, 1),
      eval_examples=FLAGS.eval_examples, eval_num_samples=FLAGS.eval_num_samples)
  print(f"\n=== {row.name}: {FLAGS.train_steps} steps ===", flush=True)
  start = time.perf_counter()
  result = common.train(config)
  seconds = time.perf_counter() - start
  picture = os.path.join(FLAGS.workdir_root, f"{row.name}_samples.png")
  figures.write_pictures(picture, workdir=workdir, num_samples=64)
  return {**dataclasses.asdict(row), "settings": _settings(), "steps": result["step"],
          "epochs": result["step"] * 100 / TRAIN_EXAMPLES, "seconds": seconds,
          "test": result["test"], "train": result["train"], "samples": picture}


def _table(results: list[dict]) -> str:
  data = "Full MNIST" if FLAGS.dataset == "mnist" else FLAGS.dataset
  lines = [f"{data}, batch 100, Adam 1e-3, IWAE K=5, {FLAGS.train_steps} steps "
           f"({FLAGS.train_steps * 100 / TRAIN_EXAMPLES:.1f} epochs) per row, "
           f"{FLAGS.precision}. Test: IS with the guide, K={FLAGS.eval_num_samples}, first "
           f"{FLAGS.eval_examples} test digits. Host: {common.cpu_model()}, "
           f"{os.cpu_count()} cores.", "",
           "| row | networks | pixels | likelihood | test log p(x) (nats) | bits/dim | "
           "minutes (train + eval) |", "|---|---|---|---|---|---|---|"]
  for r in results:
    test = r["test"]
    bits = test.get("bits_per_dim")
    lines.append(
        f"| {r['name']} | {r['architecture']} | {'8-bit' if r['likelihood'] != 'bernoulli' else 'binarised'}"
        f" | {r['likelihood']} | {test['mean']:.2f} ± {test['stderr']:.2f} | "
        f"{'' if bits is None else f'{bits:.3f}'} | {r['seconds'] / 60:.1f} |")
  return "\n".join(lines)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  by_name = {row.name: row for row in ROWS}
  unknown = [name for name in FLAGS.rows if name not in by_name]
  if unknown:
    raise app.UsageError(f"--rows: unknown {', '.join(unknown)}; one of {', '.join(by_name)}")
  rows = [by_name[name] for name in FLAGS.rows] if FLAGS.rows else ROWS
  results = common.run_rows(rows, FLAGS.workdir_root, _settings(), _run_row)
  common.write_table(FLAGS.workdir_root, _table(results), results)
  print(f"\nwrote {FLAGS.workdir_root}/table.md, table.json, <row>_samples.png")


if __name__ == "__main__":
  app.run(main)
