"""What reads a run: the model rebuilt from its config (`build_model`,
`init_model_from`), its test images, its latest checkpoint restored
(`restore_model`) and its test log-likelihood (`evaluate_workdir`).
"""

from __future__ import annotations

import functools
import json
import math
import os

import numpy as np
import tensorflow as tf

from tfp_zoo import datasets, evaluation, models
from tfp_zoo.evaluation import annealed_importance
from tfp_zoo.errors import ConfigError, NonFiniteResultError
from tfp_zoo.training import config as config_lib
from tfp_zoo.training import launcher_configs
from tfp_zoo.training.progress import Progress
from tfp_zoo.training.resume import load_config
from tfp_zoo.training.workdir import (CHECKPOINT_DIR, CONFIG_FILE, EVAL_SEED, INPUT_SHAPE_KEY,
                                      checkpoint_candidates, restore)

__all__ = ["init_model_from", "build_model", "test_images", "restore_model", "evaluate_workdir",
           "check_finite_result"]


# Hyperparameters that --init_from lets differ: the guide's, and the seed of
# the initial values that the source's weights replace.
_INIT_FROM_FREE = ("guide", "flow_layers", "flow_hidden", "iaf_context", "seed")


def init_model_from(model: models.LatentVariableModel, config: config_lib.TrainConfig) -> str:
  """Loads the newest checkpoint of run `config.init_from` into a new run's
  `model`: θ (whose hyperparameters must match) and φ where the guide is the
  same. Returns the line to print; ConfigError names what does not fit."""
  source = config.init_from
  if not os.path.isdir(source):
    raise ConfigError(f"--init_from={source}: not a directory (a training workdir)")
  saved = load_config(source)
  if saved.model != config.model:
    raise ConfigError(f"--init_from={source}: a {saved.model} run, and this run trains "
                      f"--model={config.model}")
  theirs, mine = saved.pinned_model_hparams(), config.pinned_model_hparams()
  differ = sorted(k for k in set(theirs) | set(mine)
                  if k not in _INIT_FROM_FREE and theirs.get(k) != mine.get(k))
  if differ:
    raise ConfigError(f"--init_from={source}: its model has " + ", ".join(
        f"{k}={theirs.get(k)!r}" for k in differ) + " (this run: " + ", ".join(
            f"{k}={mine.get(k)!r}" for k in differ) + "); θ must have the same shape")
  directory = os.path.join(source, CHECKPOINT_DIR)
  candidates = checkpoint_candidates(directory)
  if not candidates:
    raise ConfigError(f"--init_from={source}: no checkpoint in {directory}")
  same_guide = all(theirs.get(k) == mine.get(k) for k in _INIT_FROM_FREE[:4])
  try:
    # The source run's own model takes its checkpoint whole; θ (and φ for the
    # same guide) is copied from it, so a different guide, whose networks may
    # differ in shape (an IAF's encoder also emits a context), never meets
    # the source's guide variables.
    source_model = build_model(saved, model.input_shape)
    status = tf.train.Checkpoint(model=source_model).restore(candidates[0])
    status.expect_partial()  # the source's optimizers and step stay behind
    status.assert_existing_objects_matched()
    pairs = [(model.generative_variables, source_model.generative_variables)]
    if same_guide:
      pairs.append((model.guide_variables, source_model.guide_variables))
    for targets, values in pairs:
      if [v.shape for v in targets] != [v.shape for v in values]:
        raise ValueError("its variables have other shapes")
      for target, value in zip(targets, values):
        target.assign(value)
  except (AssertionError, ValueError, tf.errors.OpError) as e:
    reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
    raise ConfigError(f"--init_from={source}: {os.path.basename(candidates[0])} does not "
                      f"fit this model ({reason})") from None
  return (f"Initialised from {candidates[0]} (θ and "
          f"{'φ' if same_guide else 'not φ: the guide differs'})")


def build_model(config: config_lib.TrainConfig, input_shape) -> models.LatentVariableModel:
  try:
    return models.get(config.model, input_shape=input_shape,
                      **config.resolved_model_hparams())
  except (ValueError, TypeError, tf.errors.InvalidArgumentError) as e:
    raise ConfigError(f"--model_hparams: {e}") from None


def test_images(config: config_lib.TrainConfig, *, limit: int | None = None) -> np.ndarray:
  """The test split as the run evaluates it (`limit`: default --eval_examples; 0 = all)."""
  images = datasets.load_images(config.dataset, "test", data_dir=config.data_dir,
                                download=config.download)
  images = datasets.eval_images(images, binarization=config.binarization, seed=EVAL_SEED,
                                eight_bit=config.eight_bit)
  limit = config.eval_examples if limit is None else limit
  return images[:limit] if limit else images


def restore_model(workdir: str) -> tuple[models.LatentVariableModel, config_lib.TrainConfig, int]:
  """Rebuilds a workdir's model and loads its latest checkpoint (read only).

  Args:
    workdir: a training run's directory.

  Returns:
    (model, config, step): the `LatentVariableModel` with the checkpoint's
    weights, the run's `TrainConfig` and the checkpoint's step.

  Raises:
    ConfigError: no config.json or no checkpoint in `workdir`.
  """
  config = load_config(workdir)
  directory = os.path.join(workdir, CHECKPOINT_DIR)
  if not checkpoint_candidates(directory):
    raise ConfigError(f"--workdir={workdir}: no checkpoint in {directory}")
  input_shape = _saved_input_shape(workdir)
  if input_shape is None:  # saved before the shape was: read it from the data
    input_shape = datasets.load_images(config.dataset, "test", data_dir=config.data_dir,
                                       download=config.download).shape[1:]
  model = build_model(config, input_shape)
  step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
  restore(tf.train.Checkpoint(step=step, model=model), directory, partial=True)
  return model, config, int(step.numpy())


def _saved_input_shape(workdir: str) -> tuple[int, ...] | None:
  with open(os.path.join(workdir, CONFIG_FILE)) as f:  # load_config has read it
    shape = json.load(f).get(INPUT_SHAPE_KEY)
  if (isinstance(shape, list) and shape
      and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)):
    return tuple(shape)
  return None


_EVAL = launcher_configs.EvaluateConfig  # the one default of each option


def evaluate_workdir(workdir: str, *, num_samples: int = _EVAL.num_samples,
                     num_examples: int = _EVAL.num_examples, seed: int = _EVAL.seed,
                     batch_size: int = _EVAL.batch_size, chunk_size: int = _EVAL.chunk_size,
                     method: str = _EVAL.method, ais_steps: int = _EVAL.ais_steps,
                     ais_step_size: float = _EVAL.ais_step_size,
                     ais_proposal: str = _EVAL.ais_proposal,
                     precision: str = _EVAL.precision) -> evaluation.DatasetLogLikelihood:
  """Test log-likelihood of a workdir's latest checkpoint.

  `method`: 'is' (importance sampling with the guide, K = num_samples) or
  'ais' (annealed importance sampling from `ais_proposal`, 'prior' or 'guide',
  with K = num_samples chains of `ais_steps` HMC steps). `num_examples`: the first N test examples
  (0 = the whole test split, whatever the training run's --eval_examples was).
  `precision`: the networks' arithmetic for importance sampling ('bfloat16'
  is faster on TPUs and AVX512-BF16 CPUs; docs/results/precision.md measures
  its agreement with float32).

  Args:
    workdir: a training run's directory with at least one checkpoint.
    num_samples: K, importance samples or AIS chains per example (default
      5000).
    num_examples: evaluate the first N test examples (default 0: all).
    seed: integer seed (default 0 reproduces the training run's final
      evaluation).
    batch_size: examples per batch (default 100).
    chunk_size: particles drawn at once, bounding memory (default 250).
    method: 'is' (default) or 'ais'.
    ais_steps: AIS annealing steps (default 2000).
    ais_step_size: AIS HMC leapfrog step size (default 0.1).
    ais_proposal: AIS initial distribution, 'prior' (default) or 'guide'.
    precision: 'float32' (default) or 'bfloat16', for method='is'.

  Returns:
    `DatasetLogLikelihood` of the test examples (mean log p̂(x) in nats).

  Raises:
    ConfigError: a bad argument (in the launcher's words), no checkpoint, or
      method='ais' for a model without real latents.
    NonFiniteResultError: the estimate is not finite.
  """
  launcher_configs.EvaluateConfig(
      workdir=workdir, num_samples=num_samples, method=method, ais_steps=ais_steps,
      ais_step_size=ais_step_size, ais_proposal=ais_proposal, num_examples=num_examples,
      batch_size=batch_size, chunk_size=chunk_size, seed=seed, precision=precision).validate()
  model, config, step = restore_model(workdir)
  estimate = None
  if method == "ais":
    try:
      annealed_importance.check_real_latents(model)
    except ValueError as e:
      raise ConfigError(f"--method=ais: {e}") from None
    estimate = functools.partial(
        _ais, model, num_chains=num_samples, num_steps=ais_steps, step_size=ais_step_size,
        proposal=ais_proposal)
  images = test_images(config, limit=num_examples)
  label = f"{method.upper()}, K={num_samples}" + (
      f", {ais_steps} steps from the {ais_proposal}" if estimate else "") + (
      f", {precision}" if precision != "float32" else "")
  print(f"Evaluating {workdir} at step {step} on {len(images)} test examples ({label})",
        flush=True)
  progress = Progress(f"eval ({label})", len(images), unit="examples")
  result = evaluation.dataset_log_likelihood(
      model, images, seed=tf.constant([seed, 2]), num_samples=num_samples,
      batch_size=batch_size, chunk_size=chunk_size,
      progress=lambda done, total: progress.update(done), estimate=estimate,
      precision=precision)
  check_finite_result(result, f"the {label} estimate of {workdir}")
  return result


def check_finite_result(result: evaluation.DatasetLogLikelihood, what: str) -> None:
  """Raises NonFiniteResultError (one line) unless the mean, its standard error
  and the ESS are finite numbers: a NaN is never reported as a result."""
  values = {"mean": result.mean, "standard error": result.stderr, "mean ESS": result.mean_ess}
  bad = {k: v for k, v in values.items() if not math.isfinite(v)}
  if bad:
    shown = ", ".join(f"{k} {v}" for k, v in bad.items())
    raise NonFiniteResultError(
        f"{what} is not a number ({shown} over {result.num_examples} examples): the "
        "log-weights overflow in float32; the checkpoint may have diverged, or the model "
        "assigns extreme densities to this data")


def _ais(model, x, seed, **options):
  return annealed_importance.ais_log_likelihood(model, x, seed=seed, **options)
