"""SavedModel export for sampling: a trained model that TensorFlow alone can run.

The exported module has these `tf.function`s, also saved as serving
signatures (keyword tensors in, a dict of tensors out):

* `sample(num_samples, seed)` -> the observation 'x', its mean 'x_mean'
  (E[x | z]) and every latent, each with leading dimension num_samples;
* `decode(**latents)` -> 'x_mean' and 'x' (one draw, seeded by `seed`), given
  every latent of the joint (for a one-layer VAE just `z`);
* `encode(x, seed)` -> one draw of each latent from the guide q(z | x), and
  'guide_mean' of each where it has one (models with a guide only);
* `log_likelihood(x, num_samples, seed)` -> the importance-sampled log p(x)
  (guide proposal, or the prior without a guide), its ESS and standard error,
  drawn in chunks so memory grows with the chunk, not with num_samples.

All draws are stateless: `sample(n, seed)` reproduces
`model.joint().sample(n, seed=seed)` of the trained model exactly (graph mode).
Inputs are checked as in the Python API, by graph ops that TensorFlow alone
runs: x against the model's shapes (a wrong image width is an error naming the
expected shape), its values finite and, for Bernoulli models, in [0, 1] (the
error says to divide 8-bit images by 255), and num_samples at least 1. Value
errors are `tf.errors.InvalidArgumentError`s with a line starting `x:` or
`num_samples:`.

The directory is written atomically: to a temporary sibling, renamed into
place only when complete, so a failed export leaves nothing at the target.
"""

from __future__ import annotations

import contextlib
import fcntl
import inspect
import os
import shutil
import tempfile
from typing import Any, Callable, Iterator

import numpy as np
import tensorflow as tf

from tfp_zoo import evaluation
from tfp_zoo.evaluation import samples as samples_lib
from tfp_zoo.errors import ExportError
from tfp_zoo.evaluation.samples import decode, sample_with_means
from tfp_zoo.estimators.base import as_named, check_observations
from tfp_zoo.models import base
from tfp_zoo.training import readers as readers_lib
from tfp_zoo.training.launcher_configs import ExportConfig

__all__ = ["export_model", "export_workdir", "sample_with_means", "decode", "ExportError",
           "LOG_LIKELIHOOD_CHUNK"]

# Importance samples per chunk in the exported log_likelihood.
LOG_LIKELIHOOD_CHUNK = 250



def _check_count(num_samples: tf.Tensor, name: str) -> tf.Tensor:
  with tf.control_dependencies([base.check_that(
      num_samples >= 1, f"{name}: expected an integer >= 1")]):
    return tf.identity(num_samples)


_INT32_LIMIT = 2**31 - 1
# Ops whose outputs share their input's buffer or hold no per-sample data.
_NO_ALLOCATION = {"Const", "Placeholder", "ReadVariableOp", "VarHandleOp", "Identity",
                  "IdentityN", "Reshape", "ExpandDims", "Squeeze", "StopGradient", "Shape",
                  "NoOp", "Pack", "StridedSlice", "Cast"}


def _graph_bytes(fn: Callable[[], Any]) -> int:
  """The peak of the bytes alive while `fn`'s graph runs its ops in order
  (static shapes): a tensor lives from its op to its last consumer, and views
  (reshapes, identities) keep their input alive instead of allocating."""
  graph = tf.function(fn, autograph=False).get_concrete_function().graph
  ops = graph.get_operations()
  root: dict[Any, Any] = {}  # view output -> the tensor that holds its buffer
  last_use: dict[Any, int] = {}
  for i, op in enumerate(ops):
    for tensor in op.inputs:
      owner = root.get(tensor.ref(), tensor.ref())
      last_use[owner] = max(last_use.get(owner, i), i)
    if op.type in _NO_ALLOCATION and op.inputs:
      for out in op.outputs:
        root[out.ref()] = root.get(op.inputs[0].ref(), op.inputs[0].ref())
  live = peak = 0
  frees: dict[int, int] = {}
  for i, op in enumerate(ops):
    if op.type not in _NO_ALLOCATION:
      for out in op.outputs:
        if (out.dtype not in (tf.resource, tf.variant) and out.shape.is_fully_defined()):
          size = out.shape.num_elements() * out.dtype.size
          live += size
          end = last_use.get(out.ref(), len(ops))  # never read: freed at the end
          frees[end] = frees.get(end, 0) + size
    peak = max(peak, live)
    live -= frees.pop(i, 0)
  return peak


# TensorFlow's executor runs independent ops together and keeps more alive
# than the in-order sweep: measured peak RSS growth was 1.45x (a VAE's samples)
# and 1.75x (AIR's) the sweep's estimate.
_EXECUTOR_FACTOR = 1.5


def _per_item_bytes(fn: Callable[[int], Any]) -> int:
  """The bytes one more item adds (the slope from 1 to 3 items)."""
  slope = (_graph_bytes(lambda: fn(3)) - _graph_bytes(lambda: fn(1))) / 2
  return max(0, int(_EXECUTOR_FACTOR * slope))


def _proc_number(path: str, pattern: str) -> tf.Tensor:
  """The integer `pattern` captures in a /proc file, or -1 (no such file, no match)."""
  def read():
    text = tf.io.read_file(path)
    found = tf.strings.regex_full_match(text, pattern)
    return tf.cond(found, lambda: tf.strings.to_number(
        tf.strings.regex_replace(text, pattern, r"\1"), tf.int64),
                   lambda: tf.constant(-1, tf.int64))
  return tf.cond(tf.size(tf.io.matching_files(path)) > 0, read,
                 lambda: tf.constant(-1, tf.int64))


def available_bytes() -> tf.Tensor:
  """Memory this process may still use, in TensorFlow ops (the SavedModel runs
  them where it is loaded): MemAvailable, and the address-space limit less
  what the process has mapped; a huge number where /proc cannot tell."""
  unknown = tf.constant(2**62, tf.int64)
  memory = _proc_number("/proc/meminfo", r"(?s).*MemAvailable:\s*(\d+) kB.*") * 1024
  limit = _proc_number("/proc/self/limits", r"(?s).*Max address space\s+(\d+)\s.*")
  mapped = _proc_number("/proc/self/status", r"(?s).*VmSize:\s*(\d+) kB.*") * 1024
  memory = tf.where(memory > 0, memory, unknown)
  room = tf.where(tf.logical_and(limit > 0, mapped > 0), limit - mapped, unknown)
  return tf.minimum(memory, room)


def _check_size(count: tf.Tensor, per_item_bytes: int, elements_per_item: int,
                what: str) -> tf.Operation:
  """Refuses `count` items (in int64, so no count overflows) when their
  elements exceed int32 shapes or their estimated memory what is available."""
  count = tf.cast(count, tf.int64)
  elements = count * elements_per_item
  needed = count * per_item_bytes
  available = available_bytes()
  gib = lambda b: tf.round(tf.cast(b, tf.float64) / 2**30 * 10) / 10
  fits_int32 = tf.debugging.Assert(elements <= _INT32_LIMIT, [tf.strings.format(
      what + " = {} needs {} elements, beyond the int32 shapes of TensorFlow (2**31 - 1); ask "
      "for fewer", (count, elements))])
  with tf.control_dependencies([fits_int32]):
    return tf.debugging.Assert(needed <= available, [tf.strings.format(
        what + " = {} needs about {} GiB and {} GiB is available; ask for fewer",
        (count, gib(needed), gib(available)))])


def _named(fn: Callable[..., Any], names: list[str]) -> Callable[..., Any]:
  """`fn(*args)` with named parameters, so the saved function takes keywords
  (decode(z1=..., z2=..., seed=...)) rather than args_0, args_1, ..."""
  def wrapper(*args, **kwargs):
    bound = wrapper.__signature__.bind(*args, **kwargs)
    return fn(*(bound.arguments[n] for n in names))
  wrapper.__signature__ = inspect.Signature(
      [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names])
  wrapper.__name__ = fn.__name__.lstrip("_")
  return wrapper


class _Sampler(tf.Module):
  """The exported module: the model's variables and four functions."""

  def __init__(self, model: base.LatentVariableModel):
    super().__init__(name="sampler")
    self.model = model
    joint = model.joint()
    dtypes = as_named(joint.dtype)
    shapes = as_named(joint.event_shape)
    self._latents = tuple(n for n in dtypes if n != base.OBSERVATION)
    x_spec = tf.TensorSpec([None, *model.input_shape], tf.float32, name=base.OBSERVATION)
    count = tf.TensorSpec([], tf.int32, name="num_samples")
    seed = tf.TensorSpec([2], tf.int32, name="seed")
    latent_specs = [tf.TensorSpec([None, *shapes[n].as_list()], dtypes[n], name=n)
                    for n in self._latents]
    # Plain constants are not saved; non-trainable variables are.
    self.input_shape = tf.Variable(model.input_shape, dtype=tf.int32, trainable=False)
    self.latent_names = tf.Variable(self._latents, dtype=tf.string, trainable=False)
    self.planar_latent = tf.Variable(samples_lib.has_planar_latent(model),
                                     trainable=False)  # for launchers/sample.py
    # The largest pixel value (1 or 255 for 8-bit levels): pictures scale by it.
    self.pixel_max = tf.Variable(samples_lib.pixel_max(model), trainable=False)
    self.sample = tf.function(self._sample, autograph=False, input_signature=[count, seed])
    self.decode = tf.function(_named(self._decode, [*self._latents, "seed"]), autograph=False,
                              input_signature=[*latent_specs, seed])
    self.log_likelihood = tf.function(self._log_likelihood, autograph=False,
                                      input_signature=[x_spec, count, seed])
    if model.has_guide:
      self.encode = tf.function(self._encode, autograph=False, input_signature=[x_spec, seed])
    # Memory per sample and per importance particle of one example, measured
    # on the traced graphs at export (saved as variables: plain ints are not).
    zero = tf.constant([0, 0])
    self.sample_bytes = tf.Variable(_per_item_bytes(
        lambda n: sample_with_means(model, n, zero)), dtype=tf.int64, trainable=False)
    one_x = tf.zeros([1, *model.input_shape])
    self.particle_bytes = tf.Variable(_per_item_bytes(
        lambda n: evaluation.log_likelihood_weights(model, one_x, seed=zero, num_samples=n)),
                                      dtype=tf.int64, trainable=False)
    self._sizes = {n: int(np.prod(shapes[n].as_list() or [1])) for n in dtypes}

  def _sample(self, num_samples, seed):
    num_samples = _check_count(num_samples, "num_samples")
    per_sample = sum(self._sizes.values()) + self._sizes[base.OBSERVATION]  # x and x_mean
    with tf.control_dependencies([_check_size(num_samples, self.sample_bytes, per_sample,
                                              "num_samples")]):
      return sample_with_means(self.model, tf.identity(num_samples), seed)

  def _decode(self, *args):
    *latents, seed = args
    checks, batch = [], tf.shape(latents[0])[0]
    for name, value in zip(self._latents, latents):
      if value.dtype.is_floating:
        checks.append(base.check_that(tf.reduce_all(tf.math.is_finite(value)),
                                      f"{name}: expected finite values, got NaN or infinity"))
      checks.append(base.check_that(
          tf.equal(tf.shape(value)[0], batch),
          f"{name}: every latent needs the same batch size (first dimension) as "
          f"{self._latents[0]}"))
    checks.append(_check_size(batch, self.sample_bytes, 2 * self._sizes[base.OBSERVATION],
                              "the latents' batch size"))
    with tf.control_dependencies(checks):
      latents = [tf.identity(v) for v in latents]
    return decode(self.model, dict(zip(self._latents, latents)), seed)

  def _check_x(self, x):
    # The signature already fixes the shape; this also guards graph callers,
    # and adds the model's value checks (finite, in its support) as graph ops.
    x = tf.ensure_shape(x, [None, *self.model.input_shape])
    return check_observations(self.model, x)

  def _encode(self, x, seed):
    x = self._check_x(x)
    guide = self.model.guide(x)
    values = guide.sample(seed=seed)
    out = as_named(values)
    dists, _ = guide.sample_distributions(value=values, seed=seed)
    for name, dist in as_named(dists).items():
      try:
        out[f"{name}_guide_mean"] = dist.mean()
      except NotImplementedError:
        pass
    return out

  def _log_likelihood(self, x, num_samples, seed):
    x = self._check_x(x)
    num_samples = _check_count(num_samples, "num_samples")
    batch = tf.shape(x)[0]
    # K × batch log-weights are kept (int32 shapes), and a chunk of 250 × batch
    # particles is alive at a time; the chunk count is computed in int64.
    particles = tf.cast(num_samples, tf.int64) * tf.cast(batch, tf.int64)
    chunk = tf.cast(tf.minimum(num_samples, LOG_LIKELIHOOD_CHUNK), tf.int64) * tf.cast(
        batch, tf.int64)
    with tf.control_dependencies([
        _check_size(particles, 4, 1, "num_samples × batch"),
        _check_size(chunk, self.particle_bytes, 1, "a chunk of particles × batch")]):
      num_chunks = tf.cast((tf.cast(num_samples, tf.int64) + LOG_LIKELIHOOD_CHUNK - 1)
                           // LOG_LIKELIHOOD_CHUNK, tf.int32)

    def body(i, log_weights):
      size = tf.minimum(LOG_LIKELIHOOD_CHUNK, num_samples - i * LOG_LIKELIHOOD_CHUNK)
      chunk = evaluation.log_likelihood_weights(
          self.model, x, seed=tf.random.experimental.stateless_fold_in(seed, i),
          num_samples=size)
      return i + 1, log_weights.write(i, tf.pad(
          chunk, [[0, LOG_LIKELIHOOD_CHUNK - size], [0, 0]], constant_values=-float("inf")))

    _, log_weights = tf.while_loop(
        lambda i, _: i < num_chunks, body,
        (tf.constant(0), tf.TensorArray(tf.float32, size=num_chunks,
                                        element_shape=[LOG_LIKELIHOOD_CHUNK, None])))
    # Padding weights are exp(-inf) = 0: they change neither sum.
    result = evaluation.summarize_log_weights(
        tf.reshape(log_weights.stack(), [-1, batch]), num_samples)
    return result._asdict()


def _check_target(path: str, overwrite: bool) -> None:
  """Only a SavedModel or an empty directory may be replaced, never a workdir."""
  if not os.path.exists(path):
    return
  if not os.path.isdir(path):
    raise ExportError(f"--output={path} exists and is not a directory")
  contents = os.listdir(path)
  if not contents:
    return  # an empty directory: nothing to lose
  is_saved_model = os.path.isfile(os.path.join(path, "saved_model.pb"))
  if not is_saved_model:
    what = ("a training workdir" if {"config.json", "checkpoints"} & set(contents)
            else "a directory that is not a SavedModel")
    raise ExportError(f"--output={path} is {what}; --overwrite replaces only an "
                      "existing SavedModel or an empty directory: choose another --output")
  if not overwrite:
    raise ExportError(f"--output={path} already exists; pass --overwrite to replace it")


def _readable(path: str) -> None:
  """mkdtemp makes 0700 directories: give the export the umask's usual modes."""
  umask = os.umask(0)
  os.umask(umask)
  for root, dirs, files in os.walk(path):
    os.chmod(root, 0o777 & ~umask)
    for name in files:
      os.chmod(os.path.join(root, name), 0o666 & ~umask)


def export_model(model: base.LatentVariableModel, path: str, *,
                 overwrite: bool = False) -> str:
  """Writes `model` as a SavedModel at `path` (atomically); returns `path`.

  Args:
    model: the model to export.
    path: the SavedModel directory to write.
    overwrite: replace an existing SavedModel at `path` (default False).

  Returns:
    `path` as an absolute path.

  Raises:
    ExportError: `path` exists and is not a SavedModel or an empty directory
      (a workdir is never replaced), or exists and `overwrite` is False, or its
      parent is not a writable directory. Nothing is left at `path` on any
      failure, and an existing export is kept.
  """
  path = os.path.abspath(path)
  parent = os.path.dirname(path)
  _check_target(path, overwrite)
  try:
    os.makedirs(parent, exist_ok=True)
  except OSError as e:
    raise ExportError(f"--output={path}: cannot create its parent directory ({e})") from None
  with _export_lock(path):
    _remove_leftovers(path)
    _check_target(path, overwrite)  # again: another export may have just finished
    _write(model, path, parent)
  return path


@contextlib.contextmanager
def _export_lock(path: str) -> Iterator[None]:
  """Holds `.<name>.export-lock` beside `path`: a second export to the same
  output is refused at once, naming the process that holds it."""
  lock_path = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.export-lock")
  while True:
    try:
      fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
      raise ExportError(f"--output={path}: cannot write in {os.path.dirname(path)} "
                        f"({e.strerror})") from None
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
      os.close(fd)
      raise ExportError(f"--output={path} is being written by another export (PID "
                        f"{holder}); wait for it to finish, or choose another --output"
                        ) from None
    try:  # the file may have been removed by the previous holder meanwhile: retry
      same = os.path.samestat(os.fstat(fd), os.stat(lock_path))
    except FileNotFoundError:
      same = False
    if same:
      break
    os.close(fd)
  try:
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    yield
  finally:
    try:
      os.unlink(lock_path)
    except OSError:
      pass
    os.close(fd)


def _remove_leftovers(path: str) -> None:
  """Temporary directories of an export to `path` that was killed: no export
  to `path` runs now (we hold its lock), so they belong to no one."""
  prefix = os.path.basename(path)
  parent = os.path.dirname(path)
  for name in os.listdir(parent):
    if name.startswith((prefix + ".tmp-", prefix + ".old-")) and os.path.isdir(
        os.path.join(parent, name)):
      shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def _write(model: base.LatentVariableModel, path: str, parent: str) -> None:
  module = _Sampler(model)
  signatures = {"sample": module.sample, "decode": module.decode,
                "log_likelihood": module.log_likelihood}
  if model.has_guide:
    signatures["encode"] = module.encode
  try:
    tmp = tempfile.mkdtemp(prefix=os.path.basename(path) + ".tmp-", dir=parent)
  except OSError as e:
    raise ExportError(f"--output={path}: cannot write in {parent} ({e.strerror})") from None
  try:
    tf.saved_model.save(module, tmp, signatures=signatures)
    _readable(tmp)
    if os.path.exists(path):  # overwrite: swap, then delete the old one
      old = tempfile.mkdtemp(prefix=os.path.basename(path) + ".old-", dir=parent)
      os.replace(path, os.path.join(old, "export"))
      os.replace(tmp, path)
      shutil.rmtree(old, ignore_errors=True)
    else:
      os.replace(tmp, path)
  except OSError as e:
    shutil.rmtree(tmp, ignore_errors=True)
    raise ExportError(f"--output={path}: cannot write the export ({e.strerror or e}); "
                      "nothing was changed there") from None
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise


def export_workdir(workdir: str, path: str, *,
                   overwrite: bool = ExportConfig.overwrite) -> str:
  """Exports the latest checkpoint of a training workdir; returns `path`.

  The workdir is only read (no lock is taken), and never replaced.

  Args:
    workdir: a training run's directory with at least one checkpoint.
    path: the SavedModel directory to write; not the workdir.
    overwrite: replace an existing SavedModel at `path` (default False).

  Returns:
    `path` as an absolute path.

  Raises:
    ConfigError: a bad workdir (no run or no checkpoint there).
    ExportError: `path` is the workdir, or cannot be written (see
      `export_model`).
  """
  ExportConfig(workdir=workdir, output=path, overwrite=overwrite).validate()
  if os.path.abspath(path) == os.path.abspath(workdir):
    raise ExportError(f"--output={path} is the --workdir; choose another --output")
  model, _, _ = readers_lib.restore_model(workdir)
  return export_model(model, path, overwrite=overwrite)
