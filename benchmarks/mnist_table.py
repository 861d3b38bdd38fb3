r"""The IWAE paper's MNIST table (Burda et al. 2016, Table 1), reduced to one
training budget and extended with an IAF guide, a VampPrior and HMC-refined
inference: fifteen runs of the same number of steps, one after another.

    rows  1 and 2 stochastic layers × elbo, iwae × K = 1, 5, 50    (12)
          1 layer, IAF guide, iwae K=5; VampPrior, iwae K=5; hmc    (3)

Every run trains on full MNIST (--data_dir, dynamic binarisation, batch 100,
Adam 1e-3) for --train_steps steps, then is evaluated on the first
--eval_examples test digits (binarised once with the evaluation seed) by
importance sampling with the guide at K = --eval_num_samples, and on the first
--ais_examples of them by AIS (--ais_chains chains of --ais_steps HMC steps
from --ais_proposal). A K=100 estimate every train_steps/--curve_points steps
gives the learning curves.

Resumable: each finished row is `<workdir_root>/<row>/row.json`, and a rerun
skips it; a row stopped mid-training resumes from its last checkpoint. Meant to
run in the background on an otherwise idle machine (about 90 minutes on two
cores at the defaults):

    nohup python benchmarks/mnist_table.py > /tmp/mnist_table.log 2>&1 &

At the end it prints a Markdown table (also `table.md`, `table.json`), plots
the learning curves, and for one trained model (--sensitivity_row) plots the
test log-likelihood against K (10 … 5000) for IS with the guide, IS with the
prior and AIS with a fixed number of steps (`k_sensitivity.png`).
"""

import dataclasses
import os
import time

from absl import app
from absl import flags
from absl import logging

import common

common.define_mnist_flags()
flags.DEFINE_string("workdir_root", "/tmp/tfp_zoo_mnist_table", "One workdir per row goes "
                    "here; finished rows are skipped, unfinished ones resumed.")
flags.DEFINE_integer("train_steps", 5000, "Training steps of every row (batch 100): the "
                     "per-run budget.", lower_bound=1)
flags.DEFINE_list("rows", [], "Only these rows (names as in the table's first column); "
                  "empty = all fifteen.")
flags.DEFINE_integer("eval_examples", 1000, "Test digits of the IS estimate.", lower_bound=1)
flags.DEFINE_integer("eval_num_samples", 5000, "K of the IS estimate.", lower_bound=1)
flags.DEFINE_integer("ais_examples", 50, "Test digits (the first of the IS subset) of the "
                     "AIS estimate.", lower_bound=1)
flags.DEFINE_integer("ais_chains", 16, "AIS chains per digit.", lower_bound=1)
flags.DEFINE_integer("ais_steps", 2000, "AIS annealing steps (from the prior, 1000 steps "
                     "were still 30 nats short of IS on a trained model; 2000 matched it).",
                     lower_bound=1)
flags.DEFINE_float("ais_step_size", 0.1, "AIS HMC leapfrog step size.", lower_bound=1e-6)
flags.DEFINE_enum("ais_proposal", "prior", ["prior", "guide"], "AIS initial distribution.")
flags.DEFINE_integer("curve_points", 5, "K=100 test estimates along each run.", lower_bound=1)
flags.DEFINE_string("sensitivity_row", "1l-iwae-k50", "Row whose trained model gets the "
                    "K-sensitivity plot (empty: no plot).")
flags.DEFINE_list("sensitivity_ks", ["10", "30", "100", "300", "1000", "5000"],
                  "K of the sensitivity plot.")
flags.DEFINE_integer("sensitivity_examples", 10, "Test digits of the sensitivity plot.",
                     lower_bound=1)
flags.DEFINE_integer("sensitivity_ais_steps", 200, "AIS steps of the sensitivity plot.",
                     lower_bound=1)
FLAGS = flags.FLAGS

# Burda et al. 2016, Table 1: test log-likelihood on MNIST after 3280 passes.
PAPER = {("1", "elbo", 1): -86.76, ("1", "elbo", 5): -86.47, ("1", "elbo", 50): -86.35,
         ("1", "iwae", 1): -86.76, ("1", "iwae", 5): -85.54, ("1", "iwae", 50): -84.78,
         ("2", "elbo", 1): -85.33, ("2", "elbo", 5): -85.01, ("2", "elbo", 50): -84.78,
         ("2", "iwae", 1): -85.33, ("2", "iwae", 5): -83.89, ("2", "iwae", 50): -82.90}
TRAIN_EXAMPLES = 60000
CURVE_K = 100


@dataclasses.dataclass(frozen=True)
class Row:
  layers: int
  estimator: str
  num_samples: int | None
  guide: str = "diagonal"
  prior: str = "standard"

  @property
  def name(self) -> str:
    parts = [f"{self.layers}l"] + [p for p in (self.guide, self.prior)
                                   if p not in ("diagonal", "standard")]
    parts.append(self.estimator)
    if self.num_samples is not None:
      parts.append(f"k{self.num_samples}")
    return "-".join(parts)

  @property
  def hparams(self) -> dict:
    hparams = {"stochastic_layers": self.layers}
    if self.guide != "diagonal":
      hparams["guide"] = self.guide
    if self.prior != "standard":
      hparams["prior"] = self.prior
    return hparams


ROWS = ([Row(layers, estimator, k) for layers in (1, 2) for estimator in ("elbo", "iwae")
         for k in (1, 5, 50)]
        + [Row(1, "iwae", 5, guide="iaf"), Row(1, "iwae", 5, prior="vampprior"),
           Row(1, "hmc", None)])


def _settings() -> dict:
  """What a finished row must have been run with to be reused."""
  return {"dataset": FLAGS.dataset, "train_steps": FLAGS.train_steps,
          "eval_examples": FLAGS.eval_examples, "eval_num_samples": FLAGS.eval_num_samples,
          "ais_examples": FLAGS.ais_examples, "ais_chains": FLAGS.ais_chains,
          "ais_steps": FLAGS.ais_steps, "ais_step_size": FLAGS.ais_step_size,
          "ais_proposal": FLAGS.ais_proposal}


def _curve(workdir):
  """(steps, values) of the K=100 test estimates in the run's TensorBoard files."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  points = {}
  eval_dir = os.path.join(workdir, "eval")
  tag = "eval/log_likelihood"  # the periodic evaluation, K = min(eval_num_samples, 100)
  for name in sorted(os.listdir(eval_dir)) if os.path.isdir(eval_dir) else ():
    for record in tf.data.TFRecordDataset(os.path.join(eval_dir, name)):
      event = tf.compat.v1.Event.FromString(record.numpy())
      for value in event.summary.value:
        if value.tag == tag:
          points[event.step] = float(tf.make_ndarray(value.tensor))
  steps = sorted(points)
  return steps, [points[s] for s in steps]


def _ais(model, images, num_chains, num_steps, batch_size, proposal):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfp_zoo import evaluation  # pylint: disable=g-import-not-at-top
  from tfp_zoo.evaluation import annealed_importance

  def estimate(x, seed):
    return annealed_importance.ais_log_likelihood(
        model, x, seed=seed, num_chains=num_chains, num_steps=num_steps,
        step_size=FLAGS.ais_step_size, proposal=proposal)

  return evaluation.dataset_log_likelihood(model, images, seed=tf.constant([0, 3]),
                                           batch_size=batch_size, estimate=estimate,
                                           num_samples=num_chains)


def _run_row(row: Row, workdir: str) -> dict:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfp_zoo import evaluation, training  # pylint: disable=g-import-not-at-top
  from tfp_zoo.training import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  # The VampPrior's density is [particles, 500 components, d]: smaller eval batches.
  eval_batch = 20 if row.prior == "vampprior" else 100
  config = training.TrainConfig(
      workdir=workdir, model="vae", model_hparams=row.hparams, estimator=row.estimator,
      num_samples=row.num_samples, dataset=FLAGS.dataset, data_dir=common.mnist_data_dir(),
      binarization="dynamic", train_steps=FLAGS.train_steps,
      log_every=max(FLAGS.train_steps // 10, 1),
      checkpoint_every=max(FLAGS.train_steps // 5, 1),
      eval_every=max(FLAGS.train_steps // FLAGS.curve_points, 1),
      eval_examples=FLAGS.eval_examples, eval_num_samples=FLAGS.eval_num_samples,
      eval_batch_size=eval_batch)
  print(f"\n=== {row.name}: {FLAGS.train_steps} steps ===", flush=True)
  start = time.perf_counter()
  result = common.train(config)
  train_seconds = time.perf_counter() - start  # includes the IS evaluation
  model, config, step = training.restore_model(workdir)
  images = workdir_lib.test_images(config, limit=FLAGS.ais_examples)
  print(f"AIS ({FLAGS.ais_chains} chains × {FLAGS.ais_steps} steps from the "
        f"{FLAGS.ais_proposal}) on {len(images)} digits", flush=True)
  start = time.perf_counter()
  ais = _ais(model, images, FLAGS.ais_chains, FLAGS.ais_steps,
             batch_size=max(1, min(100, 25000 // FLAGS.ais_chains)),
             proposal=FLAGS.ais_proposal)
  ais_seconds = time.perf_counter() - start
  # IS on the same digits: the paired comparison (the IS column averages more digits).
  is_subset = evaluation.dataset_log_likelihood(
      model, images, seed=tf.constant([workdir_lib.EVAL_SEED, 2]),
      num_samples=FLAGS.eval_num_samples, batch_size=20)
  print(f"AIS: {ais.mean:.2f} ± {ais.stderr:.2f} nats ({ais_seconds:.0f} s); IS on the same "
        f"digits {is_subset.mean:.2f}", flush=True)
  return {"row": row.name, **dataclasses.asdict(row), "settings": _settings(),
          "steps": result["step"], "epochs": result["step"] * 100 / TRAIN_EXAMPLES,
          "train_and_is_seconds": train_seconds, "ais_seconds": ais_seconds,
          "is": result["test"], "ais": ais._asdict(), "is_on_ais_digits": is_subset._asdict(),
          "train": result["train"],
          "curve": _curve(workdir)}


def _sensitivity(row: Row, workdir: str) -> dict:
  """log p̂(x) against K: IS with the guide, IS with the prior, AIS (fixed steps)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfp_zoo import evaluation, training  # pylint: disable=g-import-not-at-top
  from tfp_zoo.training import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  path = os.path.join(FLAGS.workdir_root, "k_sensitivity.json")
  ks = [int(k) for k in FLAGS.sensitivity_ks]
  settings = {**_settings(), "row": row.name, "ks": ks,
              "examples": FLAGS.sensitivity_examples,
              "ais_steps": FLAGS.sensitivity_ais_steps}  # after _settings(): its own steps
  saved = common.read_json(path)
  if saved and saved.get("settings") == settings:
    return saved
  model, config, _ = training.restore_model(workdir)
  images = workdir_lib.test_images(config, limit=FLAGS.sensitivity_examples)
  curves = {"is_guide": [], "is_prior": [], "ais_prior": []}
  for k in ks:
    print(f"K-sensitivity of {row.name}: K={k} on {len(images)} digits", flush=True)
    for proposal in ("guide", "prior"):
      result = evaluation.dataset_log_likelihood(
          model, images, seed=tf.constant([0, 4]), num_samples=k, proposal=proposal,
          batch_size=len(images))
      curves[f"is_{proposal}"].append([result.mean, result.stderr])
    result = _ais(model, images, k, FLAGS.sensitivity_ais_steps,
                  batch_size=max(1, min(len(images), 25000 // k)), proposal="prior")
    curves["ais_prior"].append([result.mean, result.stderr])
  out = {"settings": settings, "curves": curves}
  workdir_lib.write_json(path, out, "k_sensitivity.json")
  return out


def _cell(value, stderr):
  return "n/a" if value is None else f"{value:.2f} ± {stderr:.2f}"


def _table(results: list[dict]) -> str:
  data = "Full MNIST" if FLAGS.dataset == "mnist" else FLAGS.dataset
  lines = [f"{data}, dynamic binarisation, batch 100, Adam 1e-3, "
           f"{FLAGS.train_steps} steps ({FLAGS.train_steps * 100 / TRAIN_EXAMPLES:.1f} epochs) "
           f"per row. IS: K={FLAGS.eval_num_samples} with the guide on the first "
           f"{FLAGS.eval_examples} test digits; AIS: {FLAGS.ais_chains} chains × "
           f"{FLAGS.ais_steps} HMC steps from the {FLAGS.ais_proposal} on the first "
           f"{FLAGS.ais_examples}. Host: {common.cpu_model()}, {os.cpu_count()} cores.", "",
           "| row | layers | guide | prior | estimator | K | test log p(x), IS | AIS | "
           "IS on the AIS digits | IWAE paper (converged) | behind the paper (nats) | minutes |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
  for r in results:
    paper = (PAPER.get((str(r["layers"]), r["estimator"], r["num_samples"]))
             if (r["guide"], r["prior"]) == ("diagonal", "standard") else None)
    gap = "" if paper is None else f"{paper - r['is']['mean']:.1f}"
    minutes = (r["train_and_is_seconds"] + r["ais_seconds"]) / 60
    lines.append(
        f"| {r['row']} | {r['layers']} | {r['guide']} | {r['prior']} | {r['estimator']} | "
        f"{r['num_samples'] or '-'} | {_cell(r['is']['mean'], r['is']['stderr'])} | "
        f"{_cell(r['ais']['mean'], r['ais']['stderr'])} | "
        f"{_cell(r['is_on_ais_digits']['mean'], r['is_on_ais_digits']['stderr'])} | "
        f"{'' if paper is None else f'{paper:.2f}'} | {gap} | {minutes:.1f} |")
  return "\n".join(lines)


def _plot_curves(results, path):
  plt = common.pyplot()
  fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
  for r in results:
    steps, values = r["curve"]
    steps = list(steps) + [r["steps"]]
    values = list(values) + [r["is"]["mean"]]
    ax = axes[0] if r["layers"] == 1 else axes[1]
    ax.plot(steps, values, marker="o", ms=3, label=r["row"],
            ls="--" if r["estimator"] == "elbo" else "-")
  for ax, layers in zip(axes, (1, 2)):
    ax.set_title(f"{layers} stochastic layer{'s' if layers == 2 else ''}")
    ax.set_xlabel("training step (batch 100); last point K=5000")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
  axes[0].set_ylabel(f"test log p(x), K={CURVE_K} (nats)")
  fig.savefig(path, dpi=120, bbox_inches="tight")
  plt.close(fig)


def _plot_sensitivity(sensitivity, path):
  plt = common.pyplot()
  ks = sensitivity["settings"]["ks"]
  fig, ax = plt.subplots(figsize=(6, 4))
  labels = {"is_guide": "IS, guide proposal", "is_prior": "IS, prior proposal",
            "ais_prior": f"AIS from the prior, {sensitivity['settings']['ais_steps']} steps"}
  for key, label in labels.items():
    values = [v[0] for v in sensitivity["curves"][key]]
    ax.plot(ks, values, marker="o", label=label)
  ax.set_xscale("log")
  ax.set_xlabel("K (importance samples or AIS chains)")
  ax.set_ylabel("test log p(x) estimate (nats)")
  ax.set_title(f"{sensitivity['settings']['row']}, {sensitivity['settings']['examples']} "
               "test digits")
  ax.grid(alpha=0.3)
  ax.legend()
  fig.savefig(path, dpi=120, bbox_inches="tight")
  plt.close(fig)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # progress lines, not checkpoint INFO logs
  by_name = {row.name: row for row in ROWS}
  unknown = [name for name in FLAGS.rows if name not in by_name]
  if unknown:
    raise app.UsageError(f"--rows: unknown {', '.join(unknown)}; one of "
                         f"{', '.join(by_name)}")
  rows = [by_name[name] for name in FLAGS.rows] if FLAGS.rows else ROWS
  if FLAGS.sensitivity_row and FLAGS.sensitivity_row not in by_name:
    raise app.UsageError(f"--sensitivity_row={FLAGS.sensitivity_row}: one of "
                         f"{', '.join(by_name)}")
  results = common.run_rows(rows, FLAGS.workdir_root, _settings(), _run_row)
  common.write_table(FLAGS.workdir_root, _table(results), results)
  _plot_curves(results, os.path.join(FLAGS.workdir_root, "learning_curves.png"))
  print(f"\nwrote {FLAGS.workdir_root}/table.md, table.json, learning_curves.png")
  if FLAGS.sensitivity_row:
    row = by_name[FLAGS.sensitivity_row]
    workdir = os.path.join(FLAGS.workdir_root, row.name)
    if not os.path.exists(os.path.join(workdir, "row.json")):
      print(f"K-sensitivity skipped: {row.name} has not been trained (see --rows)")
      return
    sensitivity = _sensitivity(row, workdir)
    print("\n| K | " + " | ".join(sensitivity["curves"]) + " |")
    print("|---|" + "---|" * len(sensitivity["curves"]))
    for j, k in enumerate(sensitivity["settings"]["ks"]):
      print(f"| {k} | " + " | ".join(_cell(*v[j]) for v in sensitivity["curves"].values())
            + " |")
    _plot_sensitivity(sensitivity, os.path.join(FLAGS.workdir_root, "k_sensitivity.png"))
    print(f"\nwrote {FLAGS.workdir_root}/k_sensitivity.json, k_sensitivity.png")


if __name__ == "__main__":
  app.run(main)
