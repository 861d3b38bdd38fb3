"""tf.distribute for training: strategy selection, per-replica seeds and input.

Semantics (the same on one CPU, many GPUs, many workers or a TPU):

* `--batch_size` is the *global* batch. Each step's global batch is a pure
  function of (seed, step) (`datasets.train_batches`), and replica r of R gets
  rows [r·B/R, (r+1)·B/R) of it, so a restarted run sees the same data.
* Replica r draws with seed fold_in(step_seed, r): replicas never share draws.
  With one replica no fold-in happens, so single-device runs are unchanged.
* Each replica's losses are scaled by 1/R and the optimizers sum the replica
  gradients (their all-reduce), so the update is that of the mean loss over
  the global batch: the single-device update of the same global batch, with
  the replicas' draws.
"""

from __future__ import annotations

import json
import os
import re
import socket
from typing import Any

import tensorflow as tf

__all__ = ["STRATEGIES", "StrategyError", "make_strategy", "check_tf_config", "is_chief",
           "describe",
           "replica_seed", "distribute_batches"]

STRATEGIES = ("default", "one_device", "mirrored", "multi_worker_mirrored", "tpu")


class StrategyError(ValueError):
  """The strategy cannot be built here (e.g. no TPU reachable)."""


def make_strategy(name: str, *, tpu: str = "") -> tf.distribute.Strategy:
  """Builds the `tf.distribute.Strategy` named by `--strategy`.

  TF_CONFIG is checked before TensorFlow reads it: in full for
  'multi_worker_mirrored' (`check_tf_config`); for 'mirrored' only that it
  parses (TensorFlow parses it and then ignores the cluster). 'default',
  'one_device' and 'tpu' never read it, so a malformed TF_CONFIG left in the
  environment does not matter to them.

  Raises:
    StrategyError: an unknown name, hardware/cluster that is not there, or a
      malformed TF_CONFIG; one line that names the flag (and TF_CONFIG).
  """
  if name not in STRATEGIES:
    raise StrategyError(f"--strategy={name!r}: one of {', '.join(STRATEGIES)}")
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "one_device":
    device = "/gpu:0" if tf.config.list_logical_devices("GPU") else "/cpu:0"
    return tf.distribute.OneDeviceStrategy(device)
  if name == "mirrored":
    _check_tf_config_parses(name)
    return tf.distribute.MirroredStrategy()
  if name == "multi_worker_mirrored":
    check_tf_config(os.environ.get("TF_CONFIG"))
    try:
      return tf.distribute.MultiWorkerMirroredStrategy()
    except (ValueError, TypeError, RuntimeError, tf.errors.OpError) as e:
      raise StrategyError(_one_line(
          f"--strategy=multi_worker_mirrored: cannot start this task of the TF_CONFIG "
          f"cluster ({_first_line(e)})")) from None
  _check_tpu_reachable(tpu)
  try:
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or None)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
  except (ValueError, RuntimeError, tf.errors.OpError) as e:
    raise StrategyError(_no_tpu(tpu, str(e).strip().splitlines()[0][:300]
                                if str(e).strip() else type(e).__name__)) from None
  return tf.distribute.TPUStrategy(resolver)


# What TF_CONFIG looks like, for the messages.
_TF_CONFIG_EXAMPLE = ('{"cluster": {"worker": ["host0:2222", "host1:2222"]}, '
                      '"task": {"type": "worker", "index": 0}}')
# Jobs a multi-worker-mirrored cluster may list ('evaluator' is TF's side-car
# evaluator: allowed in the cluster, but this trainer does not run one).
_CLUSTER_JOBS = ("chief", "worker", "evaluator")
_TRAINING_JOBS = ("chief", "worker")
_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})$")


def _one_line(text: str) -> str:
  return " ".join(str(text).splitlines())


def _first_line(error: BaseException) -> str:
  """The first line of an exception's message (TF's can be long), or its type."""
  text = re.sub(r"\{\{function_node [^}]*\}\}", "", str(getattr(error, "message", error)))
  lines = text.strip().splitlines()
  return lines[0].strip()[:300] if lines else type(error).__name__


def _tf_config_error(problem: str) -> StrategyError:
  return StrategyError(_one_line(
      f"--strategy=multi_worker_mirrored: TF_CONFIG {problem}; expected JSON like "
      f"{_TF_CONFIG_EXAMPLE}"))


def _parse_tf_config(value: str, error) -> dict[str, Any]:
  if not value.strip():
    raise error("is empty")
  try:
    config = json.loads(value)
  except json.JSONDecodeError as e:
    raise error(f"is not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
  if not isinstance(config, dict):
    raise error(f"must be a JSON object, not a JSON {type(config).__name__}")
  return config


def check_tf_config(value: str | None) -> dict[str, Any]:
  """Checks the TF_CONFIG of a `--strategy=multi_worker_mirrored` task.

  Checks what TensorFlow would otherwise fail on late, with a long traceback,
  or not at all (a wrong address can leave workers waiting for each other):

  * `value` is a JSON object with a "cluster" and a "task";
  * "cluster" maps jobs ("chief": at most one task, "worker", optionally
    "evaluator") to non-empty lists of distinct "host:port" addresses, with at
    least one "chief" or "worker";
  * "task" is {"type": <a "chief" or "worker" job of the cluster>, "index":
    <an integer in 0..len(cluster[type]) - 1>}.

  Args:
    value: the TF_CONFIG environment variable (None if unset).

  Returns:
    The parsed TF_CONFIG.

  Raises:
    StrategyError: one line naming TF_CONFIG, what is wrong and an example.
  """
  if value is None:
    raise StrategyError("--strategy=multi_worker_mirrored needs the TF_CONFIG "
                        "environment variable describing the cluster and this task, "
                        f"e.g. {_TF_CONFIG_EXAMPLE}")
  config = _parse_tf_config(value, _tf_config_error)
  cluster, task = config.get("cluster"), config.get("task")
  if cluster is None:
    raise _tf_config_error('has no "cluster"')
  if not isinstance(cluster, dict) or not cluster:
    raise _tf_config_error('"cluster" must be a non-empty object mapping jobs '
                           f'({", ".join(_CLUSTER_JOBS)}) to lists of "host:port"')
  seen = {}
  for job, addresses in cluster.items():
    if job not in _CLUSTER_JOBS:
      raise _tf_config_error(f'cluster job {json.dumps(job)} is not allowed: '
                             f'multi_worker_mirrored uses {", ".join(_CLUSTER_JOBS)}')
    if not isinstance(addresses, list) or not addresses:
      raise _tf_config_error(f'cluster job "{job}" must be a non-empty list of '
                             f'"host:port" strings, not {json.dumps(addresses)}')
    for i, address in enumerate(addresses):
      match = _HOST_PORT.match(address) if isinstance(address, str) else None
      if not match or not 0 < int(match.group(2)) < 65536:
        raise _tf_config_error(f'cluster address {json.dumps(address)} ("{job}" task '
                               f'{i}) is not "host:port" with a port in 1..65535')
      if address in seen:
        raise _tf_config_error(f'cluster address "{address}" is given twice ({seen[address]} '
                               f'and "{job}" task {i}); each task needs its own port')
      seen[address] = f'"{job}" task {i}'
  if len(cluster.get("chief", [])) > 1:
    raise _tf_config_error(f'cluster job "chief" has {len(cluster["chief"])} tasks; at '
                           "most one is allowed")
  if len(cluster.get("evaluator", [])) > 1:
    raise _tf_config_error(f'cluster job "evaluator" has {len(cluster["evaluator"])} '
                           "tasks; at most one is allowed")
  if not any(job in cluster for job in _TRAINING_JOBS):
    raise _tf_config_error('cluster has no "chief" or "worker" job')
  if task is None:
    raise _tf_config_error('has no "task" (this process\'s {"type": ..., "index": ...})')
  if not isinstance(task, dict):
    raise _tf_config_error(f'"task" must be an object {{"type": ..., "index": ...}}, not '
                           f"{json.dumps(task)}")
  task_type, index = task.get("type"), task.get("index")
  jobs = [job for job in _TRAINING_JOBS if job in cluster]
  if task_type not in jobs:
    what = "is missing" if task_type is None else f"{json.dumps(task_type)} is not allowed"
    why = "; this trainer runs no side-car evaluator" if task_type == "evaluator" else ""
    raise _tf_config_error(f'task "type" {what}: one of the cluster\'s training jobs '
                           f'({", ".join(jobs)}){why}')
  if isinstance(index, str) and index.isdigit():
    index = int(index)  # TensorFlow accepts "0" as well as 0
  count = len(cluster[task_type])
  if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
    what = "is missing" if index is None else f"{json.dumps(task.get('index'))} is out of range"
    raise _tf_config_error(f'task "index" {what}: cluster job "{task_type}" has {count} '
                           f"task{'s' if count > 1 else ''}, so 0..{count - 1}")
  return config


def _check_tf_config_parses(name: str) -> None:
  """TensorFlow's MirroredStrategy parses TF_CONFIG (then ignores its cluster)."""
  value = os.environ.get("TF_CONFIG")
  if value is None:
    return

  def error(problem: str) -> StrategyError:
    return StrategyError(_one_line(
        f"--strategy={name}: TF_CONFIG {problem}; this strategy does not use TF_CONFIG "
        "but TensorFlow parses it: fix it or unset it"))

  config = _parse_tf_config(value, error)
  if "cluster" in config:
    try:
      tf.train.ClusterSpec(config["cluster"])
    except (TypeError, ValueError) as e:
      raise error(f'"cluster" is not a cluster ({_first_line(e)})') from None


def _no_tpu(tpu: str, reason: str) -> str:
  return (f"--strategy=tpu: no TPU reachable at --tpu={tpu!r} ({reason}). Give the TPU's "
          "name or grpc:// address with --tpu, or use --strategy=default on this machine")


def _check_tpu_reachable(tpu: str) -> None:
  """Fails in seconds where TF's own connection attempt would hang or wait long."""
  if tpu.startswith("grpc://"):
    host, _, port = tpu[len("grpc://"):].rpartition(":")
    try:
      socket.create_connection((host, int(port)), timeout=5).close()
    except (OSError, ValueError) as e:
      raise StrategyError(_no_tpu(tpu, f"cannot connect: {e}")) from None
  elif tpu in ("", "local") and not tf.config.list_physical_devices("TPU"):
    raise StrategyError(_no_tpu(tpu, "this machine has no TPU devices"))


def describe(strategy: tf.distribute.Strategy, name: str) -> str:
  """One line saying what a run trains on: the strategy, its replicas, workers
  and devices.

  Args:
    strategy: the strategy `make_strategy(name)` built.
    name: the `--strategy` value.

  Returns:
    E.g. "strategy: mirrored, 2 replicas on 1 worker (CPU:0, CPU:1)".
  """
  replicas = strategy.num_replicas_in_sync
  resolver = getattr(strategy, "cluster_resolver", None)
  workers = 1
  if resolver is not None and name == "multi_worker_mirrored":
    jobs = resolver.cluster_spec().as_dict()
    workers = sum(len(jobs.get(job, ())) for job in _TRAINING_JOBS) or 1
  try:
    devices = tuple(strategy.extended.worker_devices)
  except RuntimeError:  # the default strategy: no device list, one device
    devices = ()
  shown = ", ".join(d.rsplit("/device:", 1)[-1] for d in devices[:8])
  shown += ", ..." if len(devices) > 8 else ""
  return (f"strategy: {name}, {replicas} replica{'s' * (replicas != 1)} on {workers} "
          f"worker{'s' * (workers != 1)}" + (f" ({shown})" if shown else ""))


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """True unless this process is a non-chief worker of a multi-worker run (which
  must not write the workdir's checkpoints, summaries or results)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.task_type:
    return True
  if resolver.task_type == "chief":
    return True
  has_chief = "chief" in resolver.cluster_spec().as_dict()
  return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def replica_seed(step_seed: tf.Tensor) -> tf.Tensor:
  """This replica's seed: `step_seed` folded with the replica id (unchanged with
  one replica). Call in replica context."""
  context = tf.distribute.get_replica_context()
  if context is None or context.num_replicas_in_sync == 1:
    return step_seed
  replica = tf.cast(context.replica_id_in_sync_group, tf.int32)
  return tf.random.experimental.stateless_fold_in(step_seed, replica)


def distribute_batches(strategy: tf.distribute.Strategy, global_batches: tf.data.Dataset,
                       global_batch_size: int) -> tf.distribute.DistributedDataset:
  """Splits each global batch across replicas: replica r gets slice r.

  Uses `distribute_datasets_from_function`: each worker's input pipeline
  builds the same global batches and keeps only its replicas' slices.
  """
  replicas = strategy.num_replicas_in_sync
  if global_batch_size % replicas:
    raise StrategyError(f"--batch_size={global_batch_size} must be divisible by the "
                        f"number of replicas ({replicas})")
  per_replica = global_batch_size // replicas

  def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
    local = replicas // context.num_input_pipelines
    first = context.input_pipeline_id * local

    def slices(batch):
      shards = tf.reshape(batch, [replicas, per_replica, *batch.shape[1:]])
      return tf.data.Dataset.from_tensor_slices(shards[first:first + local])
    # The strategy hands consecutive elements to this worker's replicas in order.
    return global_batches.flat_map(slices)

  options = tf.distribute.InputOptions(experimental_fetch_to_device=True)
  return strategy.distribute_datasets_from_function(dataset_fn, options)
