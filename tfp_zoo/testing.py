"""Helpers for statistical tests: replicate a stochastic quantity over seeds and
compare its Monte Carlo mean with an exact value in units of standard error."""

from __future__ import annotations

import copy
import dataclasses
import os
import random
import shutil
import subprocess
import tempfile
import sys
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from tfp_zoo.datasets import idx
from tfp_zoo.estimators.base import objectives_and_gradients
from tfp_zoo.models.linear_gaussian import LinearGaussian

__all__ = ["start_launcher", "launcher_env", "wait_for_line", "write_fake_idx",
           "write_prepared_tfds", "replicate", "mean_and_stderr", "max_abs_z_score", "linear_gaussian_problem",
           "estimator_gradients", "gradient_problems", "TINY_VAE", "tiny_train_config",
           "FULL_PRODUCT_ENV", "FULL_PRODUCT_SUFFIX", "full_product", "sample_product",
           "sampled", "trained_workdir"]

# A VAE small enough that a training run on the shipped digits takes seconds.
TINY_VAE = {"hidden_sizes": (16,), "latent_sizes": (4,)}


def tiny_train_config(workdir: str, **overrides: Any) -> Any:
  """A `TrainConfig` of the tiny VAE on mnist_small, IWAE K=2, 10 steps.

  Args:
    workdir: the run's directory.
    **overrides: `TrainConfig` fields to set instead.

  Returns:
    The `TrainConfig` (not validated).
  """
  from tfp_zoo import training  # pylint: disable=g-import-not-at-top  (models need no loop)
  fields = dict(workdir=workdir, model="vae", model_hparams=dict(TINY_VAE), estimator="iwae",
                num_samples=2, batch_size=20, train_steps=10, log_every=5,
                checkpoint_every=10, eval_num_samples=5, eval_examples=20)
  fields.update(overrides)
  return training.TrainConfig(**fields)


_TRAINED: dict[str, tuple[str, dict[str, Any]]] = {}


def trained_workdir(config: Any) -> dict[str, Any]:
  """A finished run of `config` (a `TrainConfig`) at `config.workdir`, as
  `training.train(config)` leaves it; returns what that returned.

  Each configuration trains once per process, into a private cache, and is
  copied from there: tests that only read or resume a finished run share it.
  `config.workdir` must not exist yet.

  Args:
    config: the run's `TrainConfig`.

  Returns:
    A copy of what `training.train` returned for that configuration.
  """
  from tfp_zoo import training  # pylint: disable=g-import-not-at-top  (models need no loop)
  fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
  key = repr(sorted((k, v) for k, v in fields.items() if k != "workdir"))
  if key not in _TRAINED:
    source = os.path.join(tempfile.mkdtemp(prefix="tfp_zoo_trained_"), "run")
    result = training.train(dataclasses.replace(config, workdir=source))
    _TRAINED[key] = source, result
  source, result = _TRAINED[key]
  shutil.copytree(source, config.workdir, ignore=shutil.ignore_patterns("lock"))
  return copy.deepcopy(result)


def replicate(fn: Callable[[tf.Tensor], Any], num_replicates: int,
              seed: tuple[int, int] = (0, 0), compile: bool = True) -> Any:  # pylint: disable=redefined-builtin
  """Calls `fn(seed_i)` with independent stateless seeds; stacks the results.

  `fn` is traced once with `tf.function` unless `compile=False` (building
  JointDistributions eagerly costs a trace per call).

  Args:
    fn: `fn(seed)` for a stateless seed int32[2], returning a nest of tensors.
    num_replicates: how many independent calls.
    seed: the seed the replicates' seeds are split from (default (0, 0)).
    compile: trace `fn` once with `tf.function` (default True).

  Returns:
    The nest of `fn`'s outputs with a leading [num_replicates] axis, as
    NumPy arrays.
  """
  seeds = tf.random.experimental.stateless_split(tf.constant(seed, tf.int32),
                                                 num_replicates)
  call = tf.function(fn, autograph=False) if compile else fn
  outputs = [tf.nest.map_structure(np.asarray, call(seeds[i]))
             for i in range(num_replicates)]
  return tf.nest.map_structure(lambda *xs: np.stack(xs), *outputs)


def mean_and_stderr(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Mean over axis 0 and its standard error (sample sd / sqrt(n)).

  Args:
    values: replicates along axis 0 [n, ...], n ≥ 2.

  Returns:
    (mean, standard error), float64 arrays of shape values.shape[1:].

  Raises:
    ValueError: fewer than two replicates.
  """
  values = np.asarray(values, np.float64)
  if len(values) < 2:
    raise ValueError("need at least two replicates for a standard error")
  return values.mean(0), values.std(0, ddof=1) / np.sqrt(len(values))


def max_abs_z_score(values: np.ndarray, exact: np.ndarray) -> float:
  """max |mean − exact| / stderr over all components of replicated `values`.

  Args:
    values: replicates along axis 0 [n, ...], n ≥ 2.
    exact: the exact values, broadcastable to values.shape[1:].

  Returns:
    The largest absolute z-score (the standard error floored at 1e-12).
  """
  mean, stderr = mean_and_stderr(values)
  return float(np.max(np.abs(mean - np.asarray(exact)) / np.maximum(stderr, 1e-12)))


def linear_gaussian_problem(batch_size: int = 8, data_size: int = 4, latent_size: int = 2,
                            seed: int = 3) -> tuple[LinearGaussian, tf.Tensor]:
  """A linear-Gaussian model with an imperfect guide, and data drawn from it.

  Args:
    batch_size: examples of data (default 8).
    data_size: the observation's dimension (default 4).
    latent_size: the latent's dimension (default 2).
    seed: the model's integer seed (default 3).

  Returns:
    (`LinearGaussian` model, x [batch_size, data_size] drawn from its joint).
  """
  model = LinearGaussian((data_size,), latent_size=latent_size, seed=seed)
  return model, model.joint().sample(batch_size, seed=[1, 2]).x


def estimator_gradients(estimator: Callable[..., Any], model: Any, x: tf.Tensor, *,
                        seed: tf.Tensor, **options: Any) -> tuple[Any, list, list]:
  """(objectives, ∇θ generative_loss, ∇φ guide_loss) of one estimator call.

  The gradients come from `estimators.base.objectives_and_gradients`, the
  path the training step takes. They are dense tensors (a `tf.gather` makes
  IndexedSlices), or None.

  Args:
    estimator: an estimator function.
    model: the model it trains.
    x: a batch of observations.
    seed: stateless seed, int32[2].
    **options: the estimator's options.

  Returns:
    (`Objectives`, a list with the gradient of each θ variable, a list with
    that of each φ variable), each gradient a tensor or None.
  """
  objectives, theta_grads, phi_grads = objectives_and_gradients(
      lambda: estimator(model, x, seed=seed, **options), tuple(model.generative_variables),
      tuple(model.guide_variables))
  def dense(grads):
    return [None if g is None else tf.convert_to_tensor(g) for g in grads]
  return objectives, dense(theta_grads), dense(phi_grads)


def gradient_problems(model: Any, theta_grads: list, phi_grads: list) -> list[str]:
  """Names of variables whose gradient is missing, non-finite or all zero.

  Args:
    model: the model; its θ then φ variables pair with the gradients.
    theta_grads: the gradients of `model.generative_variables`.
    phi_grads: the gradients of `model.guide_variables`.

  Returns:
    One line per problem, 'name: no gradient', 'name: non-finite gradient'
    or 'name: zero gradient'; empty if none.
  """
  problems = []
  for v, g in zip(tuple(model.generative_variables) + tuple(model.guide_variables),
                  list(theta_grads) + list(phi_grads)):
    if g is None:
      problems.append(f"{v.name}: no gradient")
    elif not bool(tf.reduce_all(tf.math.is_finite(g))):
      problems.append(f"{v.name}: non-finite gradient")
    elif float(tf.reduce_max(tf.abs(g))) == 0.0:
      problems.append(f"{v.name}: zero gradient")
  return problems


# Set (to anything but '' or '0') to run every case of a sampled cross-product;
# .ci/run sets it for the slow tier, which then runs the cases the fast tier skips.
FULL_PRODUCT_ENV = "TFP_ZOO_FULL_PRODUCT"
# The test-name suffix of the cases outside the sample (conftest.py marks them slow).
FULL_PRODUCT_SUFFIX = "__full_product"


def full_product() -> bool:
  """Whether `FULL_PRODUCT_ENV` asks for every case of the sampled products.

  Returns:
    True if that environment variable is set to anything but '' or '0'.
  """
  return os.environ.get(FULL_PRODUCT_ENV, "") not in ("", "0")


def _case_name(case: Mapping[str, Any]) -> str:
  def text(value: Any) -> str:
    if isinstance(value, Mapping):
      return "_".join(f"{k}_{text(v)}" for k, v in value.items())
    return "".join(c if c.isalnum() else "_" for c in str(value))
  return "_".join(filter(None, (text(v) for v in case.values())))


def sample_product(cases: Sequence[Mapping[str, Any]], *,
                   meets: Sequence[tuple[str, str, int]] = (), size: int = 20, seed: int = 0,
                   name: Callable[[Mapping[str, Any]], str] = _case_name
                   ) -> list[dict[str, Any]]:
  """A fixed sample of a cross-product of test cases, for the fast tier.

  Like TFP's capped cross-products: the fast tier runs a sample drawn with a
  fixed `seed`, the same on every run and host; where `full_product()` (the
  slow tier) the other cases follow, named with `FULL_PRODUCT_SUFFIX`, which
  the suite's conftest.py marks `slow`. The sample first covers `meets`:
  `(key, other, n)` asks that every value of `key` meet at least `n` distinct
  values of `other` (or all it has), e.g. `('estimator', 'model', 2)`; cases
  are chosen greedily, those that fill the most unmet needs first, ties in the
  seeded order. Random cases then fill it up to `size`.

  Args:
    cases: the full product, one mapping of keyword arguments per case.
    meets: the coverage the sample must have, as above.
    size: the least number of sampled cases (the cover may need more).
    seed: the seed of the draw.
    name: a case's test name (default: its values joined by '_').

  Returns:
    The cases with a 'testcase_name' for `parameterized.named_parameters`:
    the sample in product order, then (with `full_product()`) the rest.
  """
  order = list(range(len(cases)))
  random.Random(seed).shuffle(order)
  rank = {i: r for r, i in enumerate(order)}
  reachable = {(key, case[key], other): len({c[other] for c in cases if c[key] == case[key]})
               for key, other, _ in meets for case in cases}
  met: dict[tuple[str, Any, str], set[Any]] = {}

  def needs(i: int) -> int:
    """How many unmet needs case i fills."""
    count = 0
    for key, other, n in meets:
      seen = met.get((key, cases[i][key], other), set())
      if (cases[i][other] not in seen
          and len(seen) < min(n, reachable[(key, cases[i][key], other)])):
        count += 1
    return count

  chosen: list[int] = []
  while True:
    best = max((i for i in order if i not in chosen), key=lambda i: (needs(i), -rank[i]),
               default=None)
    if best is None or not needs(best):
      break
    chosen.append(best)
    for key, other, _ in meets:
      met.setdefault((key, cases[best][key], other), set()).add(cases[best][other])
  chosen += [i for i in order if i not in chosen][:max(0, size - len(chosen))]
  picked = set(chosen)
  named = [dict(case, testcase_name=name(case)) for case in cases]
  if len({case["testcase_name"] for case in named}) < len(named):
    raise ValueError("sample_product: two cases have the same name; pass name=")
  sampled = [named[i] for i in sorted(picked)]
  rest = [dict(named[i], testcase_name=named[i]["testcase_name"] + FULL_PRODUCT_SUFFIX)
          for i in range(len(cases)) if i not in picked]
  return sampled + (rest if full_product() else [])


def sampled(cases: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
  """The fast tier's cases of a `sample_product`.

  Args:
    cases: what `sample_product` returned.

  Returns:
    The cases whose 'testcase_name' lacks `FULL_PRODUCT_SUFFIX`.
  """
  return [c for c in cases if not c["testcase_name"].endswith(FULL_PRODUCT_SUFFIX)]


def write_fake_idx(directory: str, n_train: int = 30, n_test: int = 10, *,
                   images: np.ndarray | None = None) -> None:
  """The four MNIST idx `.gz` files in `directory`: random 28×28 digits and
  labels (or the first `images`, uint8 [N, 28, 28]), for data-loading tests.

  Args:
    directory: an existing directory.
    n_train: training examples (default 30).
    n_test: test examples (default 10).
    images: pixels to use instead of random ones (default None); each split
      takes its first n of them.
  """
  rng = np.random.default_rng(0)
  for split, n in (("train", n_train), ("test", n_test)):
    images_file, labels_file = idx.IDX_FILES[split]
    pixels = (images[:n] if images is not None
              else rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8))
    idx.write_idx(os.path.join(directory, images_file), pixels)
    idx.write_idx(os.path.join(directory, labels_file),
                  rng.integers(0, 10, size=(n,), dtype=np.uint8))


def write_prepared_tfds(name: str, data_dir: str, splits: dict[str, np.ndarray], *,
                        file_format: str | None = None) -> str:
  """A tiny *prepared* copy of the TFDS image dataset `name` under `data_dir`,
  as `download_and_prepare` would leave it, holding `splits` (uint8 images
  [N, H, W, C] by split name; other features get zeros). The dataset's real
  builder then reads it offline: tests go through the real TFDS path without
  the network (under `tfds.testing.mock_data` a builder is never prepared).
  `file_format`: TFDS's default (TFRecord) or e.g. 'array_record' (random access).

  Args:
    name: a TFDS image dataset's name, e.g. 'cifar10'.
    data_dir: the TFDS data directory to prepare it in.
    splits: uint8 images [N, H, W, C] by split name.
    file_format: TFDS's file format (default None: TFRecord).

  Returns:
    The prepared version directory.
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  tfds.disable_progress_bar()
  real = tfds.builder_cls(name)

  def blank(feature, image):
    if isinstance(feature, tfds.features.FeaturesDict):
      return {k: blank(f, image) for k, f in feature.items()}
    if isinstance(feature, tfds.features.Image):
      return image
    if isinstance(feature, tfds.features.Text):
      return ""
    if isinstance(feature, tfds.features.ClassLabel):
      return 0
    return np.zeros([d or 1 for d in feature.shape], feature.np_dtype)

  class TinyCopy(real, skip_registration=True):  # pylint: disable=missing-class-docstring
    def _split_generators(self, dl_manager):
      del dl_manager
      return {split: self._generate_examples(images) for split, images in splits.items()}

    def _generate_examples(self, images):  # pylint: disable=arguments-differ
      for i, image in enumerate(images):
        yield i, blank(self.info.features, image)

  TinyCopy.name = real.name
  builder = TinyCopy(data_dir=data_dir, **({"file_format": file_format} if file_format else {}))
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      try_download_gcs=False))
  return os.fspath(builder.data_path)


_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def launcher_env(**extra: str) -> dict[str, str]:
  """The environment for a launcher subprocess: this checkout first, TF quiet.

  Args:
    **extra: further variables (not PYTHONPATH or TF_CPP_MIN_LOG_LEVEL),
      which override the inherited ones.

  Returns:
    A copy of this process's environment with PYTHONPATH set to this
    checkout, TF_CPP_MIN_LOG_LEVEL=2 and `extra`.
  """
  return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=_ROOT, **extra)


def start_launcher(name: str, *args: str, env: dict[str, str] | None = None,
                   preexec_fn: Callable[[], None] | None = None) -> subprocess.Popen:
  """Starts `launchers/<name>` with `args`, its stdout and stderr piped as text.

  Args:
    name: the launcher's file name, e.g. 'train.py'.
    *args: its command-line arguments, e.g. '--workdir=/tmp/run'.
    env: the process's environment (default: `launcher_env()`).
    preexec_fn: called in the child before the launcher starts (default None).

  Returns:
    The running `subprocess.Popen`.
  """
  return subprocess.Popen([sys.executable, os.path.join(_ROOT, "launchers", name), *args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env or launcher_env(), preexec_fn=preexec_fn)


def wait_for_line(process: subprocess.Popen, prefix: str) -> str:
  """Reads the process's stdout up to the first line starting with `prefix`.

  Args:
    process: a process started with its stdout piped as text
      (`start_launcher`).
    prefix: the start of the line to wait for.

  Returns:
    That line, with its newline.

  Raises:
    AssertionError: the process's stdout ended first (with the tail of its
      stderr).
  """
  for line in process.stdout:
    if line.startswith(prefix):
      return line
  raise AssertionError(f"the process ended before printing {prefix!r}: "
                       f"{process.stderr.read()[-3000:]}")
