"""`train(config)`: validate, build, restore, loop, finalize.

A restarted run resumes from the latest checkpoint; because the step's seed and
batch are pure functions of (seed, step), it continues exactly as an
uninterrupted run would. See `workdir.py` for what a workdir holds and
`config.py` for which settings may change on resume.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import Any, Iterator, NamedTuple

import numpy as np
import tensorflow as tf

from tfp_zoo import datasets
from tfp_zoo.errors import ConfigError, ResourceError
from tfp_zoo.training.progress import Progress
from tfp_zoo.training import actions as actions_lib
from tfp_zoo.training import config as config_lib
from tfp_zoo.training import distribute
from tfp_zoo.training import workdir as workdir_lib
from tfp_zoo.training import readers as readers_lib
from tfp_zoo.training import resume as resume_lib
from tfp_zoo.training import run_summaries
from tfp_zoo.training.train_step import Trainer

__all__ = ["train"]


def train(config: config_lib.TrainConfig) -> dict[str, Any]:
  """Trains (or resumes) the run described by `config`; returns final metrics.

  Args:
    config: the run's `TrainConfig` (validated here).

  Returns:
    A dict with 'step' (the last step), 'train' (the last logged training
    metrics) and, for a run that reached its end, 'parameter_checksum' and,
    on the chief, 'test' (the final evaluation's `DatasetLogLikelihood`
    fields, also written to results.json); a run stopped by a signal has
    'stopped_by' instead.

  Raises:
    ConfigError: a bad configuration, or flags the workdir's run cannot take.
    DatasetNotFoundError, DatasetError: data missing offline, or damaged.
    WorkdirLockedError: another process is training in the workdir.
    TrainingDivergedError: a non-finite loss or parameter (names the step).
    ResourceError: out of memory or disk, or an unwritable workdir.
  """
  config, precision_note = _pinned_precision(_with_run_defaults(config.validate()))
  strategy = _strategy(config)  # first: collectives must be set up before any op runs
  chief = distribute.is_chief(strategy)
  # A missing dataset fails before anything is written.
  config, data, batch_note = _load_data(config, strategy)
  for line in (distribute.describe(strategy, config.strategy), precision_note, batch_note):
    if chief and line:  # what this run is, once
      print(line, flush=True)
  with strategy.scope(), _out_of_memory_is_one_line(config):
    trainer = _trainer(config, data.train.shape, strategy)
    _fit_state(trainer.state, config, data.train)
  _dry_run(trainer, config, data.train[:2])
  with _open_run(config, trainer, data.digest, chief) as (start, previous):
    writers = _writers(config, chief)
    if chief:
      run_summaries.write_run_summaries(config, start)
    stop = actions_lib.StopConditions(config.train_steps, config.max_train_seconds)
    log, checkpoint, periodic, scenes = _actions(config, trainer, data, writers, chief, start)
    step, reason = start, ("train_steps" if start >= config.train_steps else None)
    with stop, _out_of_memory_is_one_line(config):
      for x in _batches(config, strategy, data.train, start) if not reason else ():
        metrics = trainer(x)
        step, reason = step + 1, stop.reason(step + 1)
        for action in periodic:
          action(step, metrics, x, stopping=reason is not None)
        if reason:
          break
    checkpoint.save(step)
    writers[0].flush()
    train_metrics = log.last or (previous or {}).get("train", {})
    if reason in ("SIGTERM", "SIGINT"):
      print(f"{reason}: saved the checkpoint of step {step} and stopped (run again with "
            "the same flags to resume)", flush=True)
      return {"step": step, "train": train_metrics, "stopped_by": reason}
    if reason == "time budget":
      print(f"Stopping at step {step}: --max_train_seconds={config.max_train_seconds:g} "
            "reached (run again to continue)", flush=True)
    return _finalize(config, trainer, data, writers, step, train_metrics, chief, scenes)


def _actions(config: config_lib.TrainConfig, trainer: Trainer, data, writers, chief: bool,
             start: int):
  """The loop's periodic actions: (log, checkpoint, all of them, the scenes a
  scene model is scored on, or None)."""
  optimizer = trainer.generative_optimizer
  log = actions_lib.LogMetrics(
      writers[0], Progress("train", config.train_steps, start=start,
                           max_seconds=config.max_train_seconds, enabled=chief),
      config.log_every, config.batch_size,
      learning_rate=lambda: float(tf.convert_to_tensor(optimizer.learning_rate)))
  checkpoint = actions_lib.SaveCheckpoint(
      trainer, config.workdir, every=config.checkpoint_every, last_step=config.train_steps,
      chief=chief, writer=writers[0], seed=config.seed, saved_step=start,
      reconstruct=data.test[:8], histograms=config.weight_histograms)
  scenes = _scenes(config, trainer.model, data.test)
  periodic = [log, checkpoint,
              actions_lib.GradientSnr(trainer, writers[0], config.snr_every,
                                      config.snr_num_draws, config.seed),
              actions_lib.QuickEval(trainer.model, data.test, config, writers[1], scenes)]
  return log, checkpoint, periodic, scenes


class _Data(NamedTuple):
  train: np.ndarray
  test: np.ndarray
  digest: str | None


def _strategy(config: config_lib.TrainConfig) -> tf.distribute.Strategy:
  try:
    return distribute.make_strategy(config.strategy, tpu=config.tpu)
  except distribute.StrategyError as e:
    raise ConfigError(str(e)) from None


def _load_data(config: config_lib.TrainConfig, strategy) -> tuple[config_lib.TrainConfig,
                                                                 _Data, str | None]:
  """The data, checked against the flags, and the config with `--batch_size`
  decided when it was not given (with the note that says so, if it shrank)."""
  note = None
  size = datasets.estimated_size(config.dataset, config.data_dir)
  if size is not None:  # the data and a step, before the data fill the memory
    config_lib.check_memory(config, size[0], data_bytes=size[1])
  train_images = datasets.load_images(config.dataset, "train", data_dir=config.data_dir,
                                      download=config.download)
  # A step at the data's real image size (conv maps grow with it).
  config_lib.check_memory(config, train_images.shape[1:])
  if config.train_examples:
    if not isinstance(train_images, np.ndarray):
      raise ConfigError(f"--train_examples={config.train_examples}: only for datasets read "
                        "into memory, and this split is read by index from disk")
    if config.train_examples > len(train_images):
      raise ConfigError(f"--train_examples={config.train_examples}: the training split has "
                        f"{len(train_images)}")
    train_images = train_images[:config.train_examples]
  replicas = strategy.num_replicas_in_sync
  if config.batch_size is None:  # not given: the default, or all of a smaller dataset
    batch_size = min(config_lib.DEFAULT_BATCH_SIZE, len(train_images))
    batch_size = max(batch_size - batch_size % replicas, replicas)
    if batch_size < config_lib.DEFAULT_BATCH_SIZE:
      note = (f"note: the training split has {len(train_images)} examples, fewer than the "
              f"default batch of {config_lib.DEFAULT_BATCH_SIZE}: --batch_size={batch_size}")
    config = dataclasses.replace(config, batch_size=batch_size)
  if config.batch_size > len(train_images):
    raise ConfigError(f"--batch_size={config.batch_size}: must be at most the number of "
                      f"training examples ({len(train_images)})")
  if config.batch_size % replicas:
    raise ConfigError(f"--batch_size={config.batch_size}: must be divisible by the "
                      f"number of replicas ({replicas})")
  if config.strategy != "default" and config.snr_every:
    raise ConfigError("--snr_every: gradient diagnostics run with --strategy=default only")
  digest = datasets.data_digest(config.dataset, config.data_dir)
  return config, _Data(train_images, readers_lib.test_images(config), digest), note


def _trainer(config: config_lib.TrainConfig, data_shape, strategy) -> Trainer:
  model = readers_lib.build_model(config, data_shape[1:])
  try:
    return Trainer(model, config.bind_estimator(dataset_size=data_shape[0]),
                   learning_rate=config.learning_rate,
                   config=config.step_config(dataset_size=data_shape[0]),
                   strategy=strategy if config.strategy != "default" else None)
  except (ValueError, TypeError) as e:  # the estimator's state refused its options
    raise ConfigError(f"--estimator_options: {e}") from None


def _pinned_precision(config: config_lib.TrainConfig) -> tuple[config_lib.TrainConfig,
                                                                 str | None]:
  """`--precision=auto` decided for this host and pinned (config.json then holds
  the value, so a resume elsewhere keeps it); the line that logs the choice."""
  precision, reason = config.resolved_precision()
  if reason is None:
    return config, None
  return (dataclasses.replace(config, precision=precision),
          f"precision: {precision} (auto: {reason})")


def _with_run_defaults(config: config_lib.TrainConfig) -> config_lib.TrainConfig:
  """A resumed run keeps its own hyperparameters and estimator options where
  the flags do not set them (config.json pins every default); the resume
  contract then refuses only values the flags change."""
  directory = os.path.join(config.workdir, workdir_lib.CHECKPOINT_DIR)
  if not workdir_lib.checkpoint_candidates(directory):
    return config
  saved, _ = resume_lib.load_saved_run(config.workdir)
  return config.with_run_defaults(saved).validate()


_FIT_EXAMPLES = 10_000  # enough for a 784-pixel covariance; a restore overwrites it


def _fit_state(state: Any, config: config_lib.TrainConfig, images: Any) -> None:
  """Estimator state fitted to the training data at the start (ALWS's
  whitened PCA): from the first examples, as the estimator will see them."""
  fit = getattr(state, "fit_data", None)
  if fit is not None:
    fit(datasets.eval_images(np.asarray(images[:_FIT_EXAMPLES]),
                             binarization=config.binarization, eight_bit=config.eight_bit))


def _dry_run(trainer: Trainer, config: config_lib.TrainConfig, images: np.ndarray) -> None:
  """Traces the estimator once on a throwaway state, so an unsupported
  model/estimator/option combination fails with one clear line before the
  workdir is touched."""
  x = datasets.eval_images(images, binarization=config.binarization,
                           eight_bit=config.eight_bit)
  try:
    state = trainer.estimator.init(trainer.model)
    _fit_state(state, config, images)
    guide = tuple(trainer.model.guide_variables) + (
        tuple(state.trainable_variables) if state is not None else ())
    with tf.GradientTape(watch_accessed_variables=False) as tape:
      tape.watch(guide)
      objectives = trainer.estimator(trainer.model, x, seed=tf.constant([0, 0]), state=state)
  except (ValueError, TypeError, tf.errors.InvalidArgumentError) as e:
    raise ConfigError(f"--estimator={config.estimator} with --model={config.model}: "
                      f"{str(e).strip().splitlines()[0]}") from None
  if not config.train_generative and not any(
      g is not None for g in (tape.gradient(objectives.guide_loss, guide) if guide else ())):
    raise ConfigError(f"--train_generative=false trains only the guide, and "
                      f"--estimator={config.estimator} gives --model={config.model}'s guide "
                      "no gradient (or it has none): nothing would train")
  for name in ("generative_loss", "guide_loss"):
    shape = tf.convert_to_tensor(getattr(objectives, name)).shape
    if shape.rank != 0:
      raise ConfigError(f"--estimator={config.estimator}: {name} must be a scalar, got "
                        f"shape {shape}")


@contextlib.contextmanager
def _open_run(config: config_lib.TrainConfig, trainer: Trainer, digest: str | None,
              chief: bool) -> Iterator[tuple[int, dict[str, Any] | None]]:
  """Locks the workdir (the chief), checks the resume contract, restores, and
  only then writes config.json. Yields (restored step, previous results)."""
  workdir = config.workdir
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise ConfigError(f"--workdir={workdir} exists and is not a directory")
  with workdir_lib.writing(workdir, "the workdir"):
    os.makedirs(workdir, exist_ok=True)
  lock = workdir_lib.Lock(workdir).acquire() if chief else None
  try:
    checkpoints = os.path.join(workdir, workdir_lib.CHECKPOINT_DIR)
    # Only a run with a checkpoint constrains this one (a run that failed before
    # its first checkpoint may be retried with other flags); compared before the
    # restore, so a refused resume changes nothing.
    newest = workdir_lib.checkpoint_candidates(checkpoints)[:1]
    changes = (resume_lib.check_resume(*resume_lib.load_saved_run(workdir), config, digest,
                                        int(newest[0].rsplit("-", 1)[1])) if newest else [])
    restored = workdir_lib.restore(trainer.checkpoint(), checkpoints)
    if not restored and config.init_from:
      print(readers_lib.init_model_from(trainer.model, config), flush=True)
    start = int(trainer.step.numpy())
    if config.train_steps < start:
      raise ConfigError(f"--train_steps={config.train_steps}: below the restored step {start}")
    for line in changes:
      print(line, flush=True)
    trainer.set_learning_rate(config.learning_rate)
    if restored:
      print(f"Resuming from step {start} ({restored})", flush=True)
    previous = workdir_lib.read_results(workdir)
    if chief:
      resume_lib.save_config(config, workdir, digest, trainer.model.input_shape)
    yield start, previous
  finally:
    if lock is not None:
      lock.release()


def _writers(config: config_lib.TrainConfig, chief: bool):
  if not chief:  # one set of summaries per run: the chief's
    return tf.summary.create_noop_writer(), tf.summary.create_noop_writer()
  with workdir_lib.writing(config.workdir, "TensorBoard summaries"):
    return tuple(tf.summary.create_file_writer(os.path.join(config.workdir, name))
                 for name in ("train", "eval"))


def _batches(config: config_lib.TrainConfig, strategy, images: np.ndarray, start: int):
  batches = datasets.train_batches(images, batch_size=config.batch_size, seed=config.seed,
                                   start_step=start, binarization=config.binarization,
                                   eight_bit=config.eight_bit)
  if config.strategy != "default":
    batches = distribute.distribute_batches(strategy, batches, config.batch_size)
  return batches


@contextlib.contextmanager
def _out_of_memory_is_one_line(config: config_lib.TrainConfig) -> Iterator[None]:
  try:
    yield
  except (tf.errors.ResourceExhaustedError, MemoryError) as e:
    raise ResourceError(
        f"out of memory ({type(e).__name__}) with --batch_size={config.batch_size}, "
        f"K={config.effective_num_samples}: lower --num_samples or --batch_size (or the "
        "--model_hparams layer sizes, or alws's num_sleep_samples/num_features)") from None


def _parameter_checksum(model) -> float:
  """Σ over θ and φ of Σ v + Σ v², in float64: equal on every worker of a
  multi-worker run that stayed in sync (each reads its own copy)."""
  return float(sum(np.sum(v.numpy().astype(np.float64)) + np.sum(
      np.square(v.numpy().astype(np.float64))) for v in model.trainable_variables))


def _scenes(config: config_lib.TrainConfig, model, test_images: np.ndarray):
  """(images, counts, boxes) for a scene model (`infer`) on a dataset that
  records its objects (multi_mnist); else None."""
  if not hasattr(model, "infer"):
    return None
  counts = datasets.load_counts(config.dataset, "test", data_dir=config.data_dir)
  if counts is None:
    return None
  boxes = datasets.load_boxes(config.dataset, "test", data_dir=config.data_dir)
  return test_images, counts[:len(test_images)], (
      None if boxes is None else boxes[:len(test_images)])


def _finalize(config, trainer, data, writers, step, train_metrics, chief,
              scenes=None) -> dict[str, Any]:
  """The final evaluation and results.json (the chief's): the test
  log-likelihood at K = --eval_num_samples and, for a scene model on labelled
  scenes, its count accuracy and box IoU."""
  final = {"step": step, "train": train_metrics,
           "parameter_checksum": _parameter_checksum(trainer.model)}
  if not chief:
    return final
  result = actions_lib.evaluate_to_summary(trainer.model, data.test, config, writers[1], step,
                                           num_samples=config.eval_num_samples, verbose=True,
                                           tag=actions_lib.FINAL_EVAL)
  final["test"] = result._asdict()
  if scenes is not None:
    scores = actions_lib.score_scenes(trainer.model, scenes, config.seed)
    final["scenes"] = scores._asdict()  # non-finite values are written as null
    actions_lib.write_scalars(writers[1], step, actions_lib.scene_scalars(scores))
    iou = "" if scores.box_iou is None else f", box IoU {scores.box_iou:.3f}"
    print(f"scenes: count accuracy {scores.count_accuracy:.3f}{iou} "
          f"({scores.num_examples} test images)", flush=True)
  workdir_lib.write_json(os.path.join(config.workdir, workdir_lib.RESULTS_FILE), final,
                         workdir_lib.RESULTS_FILE)
  return final
