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

import os
import socket

import tensorflow as tf

__all__ = ["STRATEGIES", "StrategyError", "make_strategy", "is_chief", "replica_seed",
           "distribute_batches"]

STRATEGIES = ("default", "one_device", "mirrored", "multi_worker_mirrored", "tpu")


class StrategyError(ValueError):
  """The strategy cannot be built here (e.g. no TPU reachable)."""


def make_strategy(name: str, *, tpu: str = "") -> tf.distribute.Strategy:
  """Builds the `tf.distribute.Strategy` named by `--strategy`.

  Raises:
    StrategyError: an unknown name, or hardware/cluster that is not there; the
      message names the flag.
  """
  if name not in STRATEGIES:
    raise StrategyError(f"--strategy={name!r}: one of {', '.join(STRATEGIES)}")
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "one_device":
    device = "/gpu:0" if tf.config.list_logical_devices("GPU") else "/cpu:0"
    return tf.distribute.OneDeviceStrategy(device)
  if name == "mirrored":
    return tf.distribute.MirroredStrategy()
  if name == "multi_worker_mirrored":
    if "TF_CONFIG" not in os.environ:
      raise StrategyError("--strategy=multi_worker_mirrored needs the TF_CONFIG "
                          "environment variable describing the cluster and this task")
    return tf.distribute.MultiWorkerMirroredStrategy()
  _check_tpu_reachable(tpu)
  try:
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or None)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
  except (ValueError, RuntimeError, tf.errors.OpError) as e:
    raise StrategyError(_no_tpu(tpu, str(e).strip().splitlines()[0][:300]
                                if str(e).strip() else type(e).__name__)) from None
  return tf.distribute.TPUStrategy(resolver)


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
