"""What the training loop does besides stepping: periodic actions (log,
checkpoint with image summaries, gradient SNR, quick evaluation) and the
conditions that stop it (signals, time budget, last step), each a small object.

An action is called after every step as `action(step, metrics, x, stopping)`
and decides itself whether it is due; `stopping` is true on the last step of
this invocation, whatever ended it.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import sys
import threading
import time
from typing import Any, Iterator, Mapping

import numpy as np
import tensorflow as tf

from tfp_zoo import evaluation
from tfp_zoo.evaluation import samples
from tfp_zoo.errors import TrainingDivergedError
from tfp_zoo.training.progress import Progress
from tfp_zoo.training import config as config_lib
from tfp_zoo.training import workdir as workdir_lib
from tfp_zoo.training.train_step import Trainer

__all__ = ["write_scalars", "finite_scalar", "diagnostic", "LogMetrics", "SaveCheckpoint", "GradientSnr", "QuickEval",
           "StopConditions", "evaluate_to_summary", "score_scenes", "scene_scalars", "PERIODIC_EVAL",
           "FINAL_EVAL"]


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def finite_scalar(value: Any) -> float | None:
  """`value` as a float if it is a finite number in float32 (the dtype summaries
  are written in: 1e300 is finite in float64, inf in float32), else None.

  Args:
    value: anything `float()` takes (a Python or NumPy number, a scalar
      tensor), or anything else.

  Returns:
    The float, or None if `value` is not a number or not finite in float32.
  """
  try:
    value = float(value)
  except (TypeError, ValueError, OverflowError):
    return None
  return value if math.isfinite(value) and abs(value) <= _FLOAT32_MAX else None


def write_scalars(writer, step: int, scalars: Mapping[str, Any]) -> list[str]:
  """Writes the scalars finite in float32; returns the names of those left out."""
  skipped = []
  with writer.as_default(step=step):
    for name, value in scalars.items():
      finite = finite_scalar(value)
      if finite is not None:
        tf.summary.scalar(name, finite)
      else:
        skipped.append(name)
  return skipped


@contextlib.contextmanager
def diagnostic(what: str, step: int) -> Iterator[None]:
  """A diagnostic never ends a run: its failure is one line, and training goes on.

  Only numerical and TensorFlow errors are caught (a diagnostic may meet a
  state training tolerates); bugs of other kinds still surface.
  """
  try:
    yield
  except (tf.errors.OpError, ValueError, ArithmeticError) as e:
    reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
    print(f"step {step}: {what} skipped ({reason}); training goes on", file=sys.stderr,
          flush=True)


def _due(every: int, step: int) -> bool:
  return bool(every) and step % every == 0


class LogMetrics:
  """Every `every` steps (and at the end): summaries and a progress line."""

  def __init__(self, writer, progress: Progress, every: int, batch_size: int,
               learning_rate: Any = None):
    """Args:
      writer: the train summary writer.
      progress: prints the progress line.
      every: steps between lines (and summaries).
      batch_size: the global batch, for examples per second.
      learning_rate: `() -> float`, the optimizers' current rate (a scalar
        summary), or None.
    """
    self.writer, self.progress, self.every, self.batch_size = (writer, progress, every,
                                                               batch_size)
    self.learning_rate = learning_rate
    self.last: dict[str, float] = {}

  def __call__(self, step: int, metrics: dict[str, float], x: Any, stopping: bool) -> None:
    self.last = metrics
    if not (_due(self.every, step) or stopping):
      return
    rate = self.progress.rate(step)
    extra = {"examples_per_second": rate * self.batch_size}
    if self.learning_rate is not None:
      extra["learning_rate"] = self.learning_rate()
    skipped = write_scalars(self.writer, step, {**metrics, **extra})
    shown = " | ".join(f"{k} {_shown(v)}" for k, v in metrics.items() if k != "guide_loss")
    if skipped:
      shown += f" | not summarised (non-finite): {', '.join(skipped)}"
    self.progress.update(step, shown)


def _shown(value: float) -> str:
  """Three decimals, or three significant digits for small values (ALWS's λ
  of 1e-5 would read 0.000)."""
  return f"{value:.3g}" if value and abs(value) < 0.01 else f"{value:.3f}"


class SaveCheckpoint:
  """Every `every` steps, at the last step and when stopping: checks every
  checkpointed variable is finite, saves, and writes sample image summaries
  (samples, their means, test reconstructions; weight histograms if asked)."""

  def __init__(self, trainer: Trainer, workdir: str, *, every: int, last_step: int,
               chief: bool, writer, seed: int, saved_step: int,
               reconstruct: Any = None, histograms: bool = False):
    # Every worker of a multi-worker run must save (saving is collective); only
    # the chief's copy is kept, the others write to a scratch directory.
    directory = (workdir_lib.CHECKPOINT_DIR if chief
                 else f"{workdir_lib.CHECKPOINT_DIR}_scratch_worker_{os.getpid()}")
    self.directory = os.path.join(workdir, directory)
    self.manager = tf.train.CheckpointManager(trainer.checkpoint(), self.directory,
                                              max_to_keep=3)
    self.trainer, self.every, self.last_step, self.chief = trainer, every, last_step, chief
    self.writer, self.seed, self.saved_step = writer, seed, saved_step
    # Test images to reconstruct beside the samples (None: none), and whether
    # to write weight histograms with them.
    self.reconstruct, self.histograms = reconstruct, histograms

  def __call__(self, step: int, metrics: Any, x: Any, stopping: bool) -> None:
    if _due(self.every, step) or step == self.last_step or stopping:
      self.save(step)

  def save(self, step: int) -> None:
    if step == self.saved_step:
      return
    if not self.trainer.all_finite():
      raise TrainingDivergedError(
          f"step {step}: an optimizer slot or estimator state is not finite; stopped "
          "without saving it; try a lower --learning_rate")
    with workdir_lib.writing(self.directory, "a checkpoint"):
      self.manager.save(checkpoint_number=step)
    self.saved_step = step
    if not self.chief:
      shutil.rmtree(self.directory, ignore_errors=True)
    elif len(self.trainer.model.input_shape) == 3:  # image data: sample grids
      with diagnostic("the sample images", step):
        self._write_samples(step)

  def _write_samples(self, step: int) -> None:
    model = self.trainer.model
    out = samples.sample_with_means(model, 64, tf.constant([self.seed, 7], tf.int32))
    pictures = {f"samples/{name}": out[name].numpy() for name in ("x_mean", "x")}
    if self.reconstruct is not None and model.has_guide:
      # Test images (top row of each pair) above E[x | z], z ~ q(z | x).
      x = self.reconstruct
      latents = dict(model.guide(x).sample(seed=tf.constant([self.seed, 8]))._asdict())
      means = samples.decode(model, latents, tf.constant([self.seed, 9]))["x_mean"].numpy()
      pairs = np.stack([np.asarray(x, np.float32), means], 1)  # [n, 2, ...]
      pictures["reconstructions"] = pairs.reshape((-1,) + pairs.shape[2:])
    with self.writer.as_default(step=step):
      for tag, images in pictures.items():
        grid = samples.for_display(images, samples.pixel_max(model))
        tf.summary.image(tag, grid[None] if grid.ndim == 3 else grid[None, :, :, None])
      if self.histograms:
        for variable in model.trainable_variables:
          tf.summary.histogram(f"weights/{variable.name.replace(':', '_')}", variable)


class GradientSnr:
  """Rainforth et al.'s gradient SNR (θ and φ) and the ESS on the current batch.

  The draws run on a copy of the estimator's state, so asking for diagnostics
  never changes the training run (e.g. NVIL's moving average).
  """

  def __init__(self, trainer: Trainer, writer, every: int, num_draws: int, seed: int):
    self.trainer, self.writer, self.every = trainer, writer, every
    self.num_draws, self.seed = num_draws, seed

  def __call__(self, step: int, metrics: Any, x: Any, stopping: bool) -> None:
    if not _due(self.every, step):
      return
    trainer, options = self.trainer, dict(self.trainer.estimator.options)
    if trainer.state is not None:
      copy = trainer.estimator.init(trainer.model)
      for target, source in zip(copy.variables, trainer.state.variables):
        target.assign(source)
      options["state"] = copy
    seed = tf.random.experimental.stateless_fold_in(tf.constant([self.seed, 7]), step)
    with diagnostic("the gradient SNR", step):
      snr = evaluation.gradient_snr(trainer.estimator.fn, trainer.model, x,
                                    num_draws=self.num_draws, seed=seed, **options)
      scalars = {"gradient_snr/generative": snr.generative_mean, "gradient_snr/ess": snr.ess}
      if trainer.model.guide_variables:
        scalars["gradient_snr/guide"] = snr.guide_mean
      write_scalars(self.writer, step, scalars)


PERIODIC_EVAL, FINAL_EVAL = "eval", "final"  # the evaluations' tag prefixes


def evaluate_to_summary(model, images, config: config_lib.TrainConfig, writer, step: int, *,
                        num_samples: int, verbose: bool = False, tag: str = FINAL_EVAL):
  """The importance-sampled test log-likelihood, to TensorBoard (if finite).

  The tags carry no K, so runs evaluated at different K overlay: `eval/...`
  for the periodic evaluation (K ≤ 100) and `final/...` for the final one
  (K = --eval_num_samples); K itself is in the run's hparams.

  Args:
    model: the model to evaluate.
    images: test images, as the model sees them.
    config: the run's config (evaluation batch size).
    writer: the eval summary writer.
    step: the training step the summaries are written at.
    num_samples: K, importance samples per example.
    verbose: print progress lines and the result line.
    tag: the tag prefix, `PERIODIC_EVAL` or `FINAL_EVAL`.

  Returns:
    The `evaluation.DatasetLogLikelihood`.
  """
  progress = Progress(f"eval (K={num_samples})", len(images), unit="examples")
  report = (lambda done, total: progress.update(done)) if verbose else None
  result = evaluation.dataset_log_likelihood(
      model, images, seed=tf.constant([workdir_lib.EVAL_SEED, 2]), num_samples=num_samples,
      batch_size=config.eval_batch_size, progress=report)
  scalars = {f"{tag}/log_likelihood": result.mean, f"{tag}/ess": result.mean_ess}
  bits = ""
  if result.bits_per_dim is not None:  # discretised 8-bit pixels
    scalars[f"{tag}/bits_per_dim"] = result.bits_per_dim
    bits = f" ({result.bits_per_dim:.3f} bits/dim)"
  write_scalars(writer, step, scalars)
  writer.flush()
  if verbose and not all(finite_scalar(v) is not None
                         for v in (result.mean, result.stderr, result.mean_ess)):
    print(f"test log-likelihood (K={num_samples}, {result.num_examples} examples): not a "
          f"number (mean {result.mean}, standard error {result.stderr}): the log-weights "
          "overflow; results.json records null", flush=True)
  elif verbose:
    print(f"test log-likelihood (K={num_samples}, {result.num_examples} examples): "
          f"{result.mean:.3f} ± {result.stderr:.3f} nats{bits} | mean ESS "
          f"{result.mean_ess:.1f}/{num_samples}", flush=True)
  return result


class QuickEval:
  """Every `every` steps: test log-likelihood with K ≤ 100, to TensorBoard."""

  def __init__(self, model, images, config: config_lib.TrainConfig, writer,
               scenes: tuple[Any, Any, Any] | None = None):
    """Args:
      model: the model being trained.
      images: test images, as the model sees them.
      config: the run's config (`eval_every`, `eval_num_samples`).
      writer: the eval summary writer.
      scenes: (images, counts, boxes) of a dataset that records its objects
        (multi_mnist), for the count accuracy and box IoU; else None.
    """
    self.model, self.images, self.config, self.writer = model, images, config, writer
    self.scenes = scenes

  def __call__(self, step: int, metrics: Any, x: Any, stopping: bool) -> None:
    if _due(self.config.eval_every, step):
      with diagnostic("the periodic evaluation", step):
        evaluate_to_summary(self.model, self.images, self.config, self.writer, step,
                            num_samples=min(self.config.eval_num_samples, 100),
                            tag=PERIODIC_EVAL)
      if self.scenes is not None:
        with diagnostic("the scene scores", step):
          write_scalars(self.writer, step, scene_scalars(
              score_scenes(self.model, self.scenes, self.config.seed)))


def score_scenes(model, scenes: tuple[Any, Any, Any], seed: int) -> evaluation.SceneScores:
  """A scene model's (AIR's) count accuracy and box IoU, drawn the same way at
  every evaluation of a run.

  Args:
    model: a model with `infer` (AIR).
    scenes: (test images as the model sees them, true counts, true boxes or
      None), as `datasets.load_counts`/`load_boxes` give them.
    seed: the run's seed.

  Returns:
    The `evaluation.SceneScores`.
  """
  return evaluation.scene_scores(model, *scenes, seed=tf.constant([seed, 11]))


def scene_scalars(scores: evaluation.SceneScores) -> dict[str, float]:
  """Scene scores as summary scalars.

  Args:
    scores: `score_scenes`'s result.

  Returns:
    `{"air/count_accuracy": ..., "air/box_iou": ...}` (IoU only with boxes).
  """
  out = {"air/count_accuracy": scores.count_accuracy}
  if scores.box_iou is not None:
    out["air/box_iou"] = scores.box_iou
  return out


class StopConditions:
  """Why the loop stops: the last step, the time budget, SIGTERM or Ctrl-C.

  While active, SIGTERM (e.g. preemption) and the first Ctrl-C ask the loop to
  checkpoint and stop after the current step; a second Ctrl-C aborts at once.
  The budget counts tracing too: wall-clock comparisons of estimators pay it alike.
  """

  def __init__(self, train_steps: int, max_seconds: float):
    self.train_steps = train_steps
    self.deadline = time.monotonic() + max_seconds if max_seconds else math.inf
    self.signal: str | None = None
    self._previous: dict[int, Any] = {}

  def _handle(self, signum, frame) -> None:
    del frame
    if signum == signal.SIGINT and self.signal == "SIGINT":
      raise KeyboardInterrupt  # the second Ctrl-C: abort now
    self.signal = signal.Signals(signum).name

  def reason(self, step: int) -> str | None:
    """Read once per step, so a signal arriving later is handled at the next step."""
    if self.signal:
      return self.signal
    if step >= self.train_steps:
      return "train_steps"
    if time.monotonic() >= self.deadline:
      return "time budget"
    return None

  def __enter__(self) -> "StopConditions":
    if threading.current_thread() is threading.main_thread():  # signals need the main thread
      for sig in (signal.SIGTERM, signal.SIGINT):
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
