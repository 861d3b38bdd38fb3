"""The training loop behind `launchers/train.py`, and workdir evaluation.

A workdir holds `config.json` (the run's configuration), `checkpoints/`
(`tf.train.CheckpointManager`: step, model, both optimizers), `train/` and
`eval/` TensorBoard summaries, and `results.json` (the final test evaluation).
A restarted run resumes from the latest checkpoint; because the step's seed and
batch are pure functions of (seed, step), it continues exactly as an
uninterrupted run would.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import threading
import time
from typing import Any

import numpy as np
import tensorflow as tf

from tfp_zoo import datasets, estimators, evaluation, export, models, pictures
from tfp_zoo.errors import TrainingDivergedError
from tfp_zoo.training import config as config_lib
from tfp_zoo.training import distribute
from tfp_zoo.training.progress import Progress
from tfp_zoo.training.train_step import make_optimizer, make_train_step

__all__ = ["train", "evaluate_workdir", "restore_model", "TrainingDivergedError"]

CHECKPOINT_DIR = "checkpoints"
_SCRATCH_DIR = f"{CHECKPOINT_DIR}_scratch_worker_{os.getpid()}"
RESULTS_FILE = "results.json"
# Evaluation draws (test binarisation, importance samples) do not depend on the
# run's --seed, so runs with different seeds are compared on the same test set,
# and launchers/evaluate.py with its default seed reproduces results.json.
EVAL_SEED = 0




def _model(config: config_lib.TrainConfig, input_shape) -> models.LatentVariableModel:
  try:
    return models.get(config.model, input_shape=input_shape,
                      **config.resolved_model_hparams())
  except (ValueError, TypeError, tf.errors.InvalidArgumentError) as e:
    raise config_lib.ConfigError(f"--model_hparams: {e}") from None


def _estimator_state(config: config_lib.TrainConfig, model) -> tf.Module | None:
  try:
    return estimators.make_state(config.estimator, model, **config.all_estimator_options())
  except (ValueError, TypeError) as e:
    raise config_lib.ConfigError(f"--estimator_options: {e}") from None


def _build(config: config_lib.TrainConfig, input_shape, *, chief: bool = True):
  model = _model(config, input_shape)
  state = _estimator_state(config, model)
  guide_variables = model.guide_variables + (state.trainable_variables if state is not None else ())
  generative_optimizer = make_optimizer(config.learning_rate, model.generative_variables)
  guide_optimizer = make_optimizer(config.learning_rate, guide_variables)
  step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
  parts = dict(step=step, model=model, generative_optimizer=generative_optimizer,
               guide_optimizer=guide_optimizer)
  if state is not None:
    parts["estimator_state"] = state
  checkpoint = tf.train.Checkpoint(**parts)
  # Every worker of a multi-worker run must save (saving is collective); only
  # the chief's copy is kept, the others write to a scratch directory.
  directory = os.path.join(config.workdir, CHECKPOINT_DIR if chief else _SCRATCH_DIR)
  manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=3)
  return model, state, generative_optimizer, guide_optimizer, step, manager, checkpoint


def _parameter_checksum(model) -> float:
  """Σ over θ and φ of Σ v + Σ v², in float64: equal on every worker of a
  multi-worker run that stayed in sync (each reads its own copy)."""
  return float(sum(np.sum(v.numpy().astype(np.float64)) + np.sum(
      np.square(v.numpy().astype(np.float64))) for v in model.trainable_variables))


def _save(manager: tf.train.CheckpointManager, step: int, chief: bool) -> None:
  manager.save(checkpoint_number=step)
  if not chief:
    shutil.rmtree(manager.directory, ignore_errors=True)


class _PartialCheckpoint(tf.train.Checkpoint):
  """Restores only the objects it was given (the model and step, not the
  optimizers), without warnings about the rest."""

  def restore(self, save_path, options=None):
    return super().restore(save_path, options).expect_partial()


def _checkpoint_candidates(directory: str) -> list[str]:
  """Checkpoint prefixes in `directory`, newest first, found from the files
  themselves: a lost or damaged `checkpoint` state file must not hide them."""
  steps = []
  for path in tf.io.gfile.glob(os.path.join(directory, "ckpt-*.index")):
    suffix = os.path.basename(path)[len("ckpt-"):-len(".index")]
    if suffix.isdigit():
      steps.append(int(suffix))
  return [os.path.join(directory, f"ckpt-{n}") for n in sorted(steps, reverse=True)]


def _restore(checkpoint: tf.train.Checkpoint, directory: str) -> str | None:
  """Restores the newest readable checkpoint; returns its path (None if there
  is none). An unreadable newest checkpoint is reported and skipped; if every
  one is unreadable the run refuses to start, rather than silently restarting
  from step 0."""
  candidates = _checkpoint_candidates(directory)
  failures = []
  for path in candidates:
    try:
      checkpoint.restore(path).assert_existing_objects_matched()
    except Exception as e:  # pylint: disable=broad-except
      # A damaged file surfaces as whatever the reader trips on (DataLossError,
      # IndexError "read less bytes", ValueError, ...): all mean "unreadable".
      reason = str(e).strip().splitlines()[0][:200]
      failures.append(f"{os.path.basename(path)} ({type(e).__name__}: {reason})")
      print(f"WARNING: checkpoint {path} is unreadable ({type(e).__name__}); trying an "
            "older one", flush=True)
      continue
    if failures:
      print(f"Fell back to {path}: skipped unreadable {', '.join(failures)}", flush=True)
    return path
  if candidates:
    raise config_lib.ConfigError(
        f"--workdir={os.path.dirname(directory)}: no readable checkpoint in {directory} "
        f"({'; '.join(failures)}). Refusing to restart from step 0; move the workdir "
        "away to start a new run")
  return None


def _prepare_workdir(config: config_lib.TrainConfig) -> None:
  if os.path.exists(config.workdir) and not os.path.isdir(config.workdir):
    raise config_lib.ConfigError(f"--workdir={config.workdir} exists and is not a directory")
  os.makedirs(config.workdir, exist_ok=True)
  path = os.path.join(config.workdir, config_lib.CONFIG_FILE)
  # Only a run with a checkpoint constrains the next one; a run that failed
  # before its first checkpoint can be retried with other flags.
  if os.path.exists(path) and _checkpoint_candidates(
      os.path.join(config.workdir, CHECKPOINT_DIR)):
    config_lib.check_resume_compatible(config_lib.load_config(config.workdir), config)
  config_lib.save_config(config, path)
  stale = os.path.join(config.workdir, RESULTS_FILE)
  if os.path.exists(stale):
    os.remove(stale)  # rewritten at the end of this run


def _dry_run(model, estimator, config, x) -> None:
  """Traces the estimator once, so an unsupported model/estimator/option
  combination fails with one clear line before the workdir is touched."""
  options = config.all_estimator_options()
  state = _estimator_state(config, model)  # a throwaway: the dry run changes nothing
  if state is not None:
    options["state"] = state
  try:
    objectives = estimator(model, x, seed=tf.constant([0, 0]), **options)
  except (ValueError, TypeError, tf.errors.InvalidArgumentError) as e:
    raise config_lib.ConfigError(
        f"--estimator={config.estimator} with --model={config.model}: {e}") from None
  for name, value in (("generative_loss", objectives.generative_loss),
                      ("guide_loss", objectives.guide_loss)):
    if tf.convert_to_tensor(value).shape.rank != 0:
      raise config_lib.ConfigError(
          f"--estimator={config.estimator}: {name} must be a scalar, got shape "
          f"{tf.convert_to_tensor(value).shape}")


def _test_images(config: config_lib.TrainConfig) -> np.ndarray:
  images = datasets.load_images(config.dataset, "test", data_dir=config.data_dir,
                                download=config.download)
  images = datasets.eval_images(images, binarization=config.binarization, seed=EVAL_SEED)
  return images[:config.eval_examples] if config.eval_examples else images


def train(config: config_lib.TrainConfig) -> dict[str, Any]:
  """Trains (or resumes) the run described by `config`; returns final metrics.

  Raises:
    ConfigError: bad configuration or a workdir from an incompatible run.
    DatasetNotFoundError: the dataset is not available offline.
    TrainingDivergedError: a non-finite loss (names the step).
  """
  config.validate()
  # The strategy first: multi-worker collectives must be set up before any op runs.
  try:
    strategy = distribute.make_strategy(config.strategy, tpu=config.tpu)
  except distribute.StrategyError as e:
    raise config_lib.ConfigError(str(e)) from None
  # Then data: a missing dataset fails before anything is written.
  train_images = datasets.load_images(config.dataset, "train", data_dir=config.data_dir,
                                      download=config.download)
  test_images = _test_images(config)
  if config.batch_size > len(train_images):
    raise config_lib.ConfigError(
        f"--batch_size={config.batch_size}: must be at most the number of training "
        f"examples ({len(train_images)})")
  distributed = config.strategy != "default"
  replicas = strategy.num_replicas_in_sync
  if config.batch_size % replicas:
    raise config_lib.ConfigError(f"--batch_size={config.batch_size}: must be divisible by "
                                 f"the number of replicas ({replicas})")
  if distributed and config.snr_every:
    raise config_lib.ConfigError("--snr_every: gradient diagnostics run with "
                                 "--strategy=default only")
  chief = distribute.is_chief(strategy)
  with strategy.scope():  # variables, optimizer slots and checkpoint are the strategy's
    model, state, generative_optimizer, guide_optimizer, step, manager, checkpoint = _build(
        config, train_images.shape[1:], chief=chief)
  estimator = estimators.get(config.estimator)
  _dry_run(model, estimator, config,
           datasets.eval_images(train_images[:2], binarization=config.binarization))
  if chief:
    _prepare_workdir(config)
  restored = _restore(checkpoint, os.path.join(config.workdir, CHECKPOINT_DIR))
  start = int(step.numpy())
  if restored:
    print(f"Resuming from step {start} ({restored})", flush=True)
  try:
    train_step = make_train_step(
        model, estimator, generative_optimizer, guide_optimizer, seed=config.seed,
        jit_compile=config.jit_compile, state=state,
        strategy=strategy if distributed else None, **config.all_estimator_options())
  except ValueError as e:
    raise config_lib.ConfigError(f"--strategy={config.strategy}: {e}") from None
  batches = datasets.train_batches(train_images, batch_size=config.batch_size,
                                   seed=config.seed, start_step=start,
                                   binarization=config.binarization)
  if distributed:
    batches = distribute.distribute_batches(strategy, batches, config.batch_size)
  if chief:
    writer = tf.summary.create_file_writer(os.path.join(config.workdir, "train"))
    eval_writer = tf.summary.create_file_writer(os.path.join(config.workdir, "eval"))
  else:  # one set of summaries per run: the chief's
    writer = eval_writer = tf.summary.create_noop_writer()
  progress = Progress("train", config.train_steps, start=start,
                      max_seconds=config.max_train_seconds)
  last_saved = start if restored else -1
  # The budget counts tracing too: wall-clock comparisons of estimators pay it alike.
  deadline = (time.monotonic() + config.max_train_seconds if config.max_train_seconds
              else math.inf)
  with _StopOnSigterm() as sigterm:
    metrics: dict[str, float] = {}
    current = start
    for x in batches:
      if current >= config.train_steps:
        break
      outputs = train_step(x, tf.constant(current, tf.int64))
      current += 1
      step.assign(current)
      out_of_time = time.monotonic() >= deadline
      # Read the flag once: a signal arriving later in this iteration is handled
      # at the next step, so "saved" below is never claimed for an unsaved step.
      terminated = sigterm.received
      stop = out_of_time or terminated
      boundary = (current % config.checkpoint_every == 0 or current == config.train_steps
                  or stop)
      if current % config.log_every == 0 or boundary:
        metrics = {k: float(v) for k, v in outputs.items()}
        _check_finite(metrics, current)
        with writer.as_default(step=current):
          for name, value in metrics.items():
            tf.summary.scalar(name, value)
          tf.summary.scalar("examples_per_second",
                            progress.rate(current) * config.batch_size)
        progress.update(current, " | ".join(f"{k} {v:.3f}" for k, v in metrics.items()
                                            if k != "guide_loss"))
      if boundary:
        _save(manager, current, chief)
        last_saved = current
        if chief:
          _sample_summary(model, writer, current, config.seed)
      if config.snr_every and current % config.snr_every == 0:
        _log_gradient_snr(model, estimator, state, config, x, current, writer)
      if config.eval_every and current % config.eval_every == 0:
        _evaluate_to_summary(model, test_images, config, eval_writer, current,
                             num_samples=min(config.eval_num_samples, 100))
      if terminated:
        writer.flush()
        print(f"SIGTERM: saved the checkpoint of step {current} and stopped (run again with "
              "the same flags to resume)", flush=True)
        return {"step": current, "train": metrics, "stopped_by": "SIGTERM"}
      if out_of_time:
        print(f"Stopping at step {current}: --max_train_seconds={config.max_train_seconds:g} "
              "reached (run again to continue)", flush=True)
        break
  if last_saved != current:
    _save(manager, current, chief)
  writer.flush()
  checksum = _parameter_checksum(model)
  if not chief:  # the chief evaluates and writes results.json
    return {"step": current, "train": metrics, "parameter_checksum": checksum}
  result = _evaluate_to_summary(model, test_images, config, eval_writer, current,
                                num_samples=config.eval_num_samples, verbose=True)
  final = {"step": current, "train": metrics, "test": result._asdict(),
           "parameter_checksum": checksum}
  path = os.path.join(config.workdir, RESULTS_FILE)
  with open(path + ".tmp", "w") as f:
    json.dump(final, f, indent=2)
  os.replace(path + ".tmp", path)
  return final


class _StopOnSigterm:
  """While active, SIGTERM (e.g. preemption) asks the loop to checkpoint and
  stop after the current step instead of killing the process mid-step."""

  def __init__(self):
    self.received = False
    self._previous = None

  def _handle(self, signum, frame) -> None:
    del signum, frame
    self.received = True

  def __enter__(self) -> "_StopOnSigterm":
    if threading.current_thread() is threading.main_thread():  # signals need the main thread
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


def _sample_summary(model, writer, step: int, seed: int) -> None:
  """Image summaries of 64 samples and their decoder means (image data only)."""
  if len(model.input_shape) != 3:
    return
  out = export.sample_with_means(model, 64, tf.constant([seed, 7], tf.int32))
  with writer.as_default(step=step):
    for name in ("x_mean", "x"):
      grid = np.clip(pictures.tile(out[name].numpy()), 0., 1.)
      tf.summary.image(f"samples/{name}", grid[None, :, :, None])


def _log_gradient_snr(model, estimator, state, config, x, step, writer) -> None:
  """Writes Rainforth et al.'s gradient SNR (θ and φ) and the ESS on batch `x`.

  The draws run on a copy of the estimator's state, so asking for diagnostics
  never changes the training run (e.g. NVIL's moving average).
  """
  options = config.all_estimator_options()
  if state is not None:
    copy = _estimator_state(config, model)
    for target, source in zip(copy.variables, state.variables):
      target.assign(source)
    options["state"] = copy
  seed = tf.random.experimental.stateless_fold_in(tf.constant([config.seed, 7]), step)
  snr = evaluation.gradient_snr(estimator, model, x, num_draws=config.snr_num_draws,
                                seed=seed, **options)
  with writer.as_default(step=step):
    tf.summary.scalar("gradient_snr/generative", snr.generative_mean)
    if model.guide_variables:
      tf.summary.scalar("gradient_snr/guide", snr.guide_mean)
    if math.isfinite(snr.ess):
      tf.summary.scalar("gradient_snr/ess", snr.ess)


def _check_finite(metrics: dict[str, float], step: int) -> None:
  bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
  if bad:
    raise TrainingDivergedError(
        f"non-finite loss at step {step}: {bad}; stopping without checkpointing "
        "this state (try a lower --learning_rate)")


def _evaluate_to_summary(model, images, config, writer, step, *, num_samples,
                         verbose=False) -> evaluation.DatasetLogLikelihood:
  progress = Progress(f"eval (K={num_samples})", len(images), unit="examples")
  report = (lambda done, total: progress.update(done)) if verbose else None
  result = evaluation.dataset_log_likelihood(
      model, images, seed=tf.constant([EVAL_SEED, 2]), num_samples=num_samples,
      batch_size=config.eval_batch_size, progress=report)
  with writer.as_default(step=step):
    tf.summary.scalar(f"test_log_likelihood_k{num_samples}", result.mean)
    tf.summary.scalar(f"test_ess_k{num_samples}", result.mean_ess)
  writer.flush()
  if verbose:
    print(f"test log-likelihood (K={num_samples}, {result.num_examples} examples): "
          f"{result.mean:.3f} ± {result.stderr:.3f} nats | mean ESS "
          f"{result.mean_ess:.1f}/{num_samples}", flush=True)
  return result


def restore_model(workdir: str) -> tuple[models.LatentVariableModel, config_lib.TrainConfig, int]:
  """Rebuilds a workdir's model and loads its latest checkpoint.

  Returns:
    (model, config, step).
  """
  config = config_lib.load_config(workdir)
  directory = os.path.join(workdir, CHECKPOINT_DIR)
  if not _checkpoint_candidates(directory):
    raise config_lib.ConfigError(f"--workdir={workdir}: no checkpoint in {directory}")
  test_images = datasets.load_images(config.dataset, "test", data_dir=config.data_dir,
                                     download=config.download)
  model = _model(config, test_images.shape[1:])
  step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
  _restore(_PartialCheckpoint(step=step, model=model), directory)
  return model, config, int(step.numpy())


def evaluate_workdir(workdir: str, *, num_samples: int = 5000, num_examples: int = 0,
                     seed: int = EVAL_SEED, batch_size: int = 100,
                     chunk_size: int = 250) -> evaluation.DatasetLogLikelihood:
  """Importance-sampled test log-likelihood of a workdir's latest checkpoint."""
  model, config, step = restore_model(workdir)
  images = _test_images(config)
  if num_examples:
    images = images[:num_examples]
  print(f"Evaluating {workdir} at step {step} on {len(images)} test examples, "
        f"K={num_samples}", flush=True)
  progress = Progress(f"eval (K={num_samples})", len(images), unit="examples")
  return evaluation.dataset_log_likelihood(
      model, images, seed=tf.constant([seed, 2]), num_samples=num_samples,
      batch_size=batch_size, chunk_size=chunk_size,
      progress=lambda done, total: progress.update(done))
