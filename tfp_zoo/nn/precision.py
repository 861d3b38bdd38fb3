"""Mixed precision: matmuls and convolutions in a low precision, the rest in float32.

    with precision.using("bfloat16"):
      objectives = estimator(model, x, seed=seed)   # traced: bf16 matmuls

Under `using(p)` the layers of `nn` and `conv` cast their inputs and weights
to the compute dtype (bfloat16, or float16 for 'mixed_float16'), multiply, and
hand float32 back at the end of each network. Variables, optimizer state,
log-densities, log-sum-exp and importance weights stay float32: a network's
output is cast to float32 before any distribution sees it. The setting is
read when a function is *traced*, so wrap the body of a `tf.function`, not
its call.

'bfloat16' is the TPU's and these CPUs' (AVX512-BF16) fast path and needs no
loss scaling (it has float32's exponent range); 'mixed_float16' (GPUs) does,
which the train step adds (`tf_keras.mixed_precision.LossScaleOptimizer`).

TPUs have no float64. Inside `tpu_safe()` (turned on by `--strategy=tpu`, or
`--tpu_safe` to check a configuration on a CPU) code that would use float64
for accuracy uses its float32 alternative instead (`float64_allowed()`;
`kernels.py` says what each one is).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Collection, Iterator

import tensorflow as tf

__all__ = ["PRECISIONS", "AUTO", "auto_precision", "host_hardware", "check_precision", "compute_dtype", "using", "cast_input",
           "cast_output", "tpu_safe", "float64_allowed"]

PRECISIONS = ("float32", "bfloat16", "mixed_float16")
_DTYPES = {"float32": tf.float32, "bfloat16": tf.bfloat16, "mixed_float16": tf.float16}
_STATE = threading.local()


AUTO = "auto"  # the launcher's default: `auto_precision` on this host
# CPU flags (/proc/cpuinfo) with native bfloat16 matmuls: AMX (4x float32 here)
# and AVX512-BF16 (1.2-1.8x). With neither (AVX2 only) bfloat16 measured
# 0.90-0.95x float32 on the IWAE step, so float32 stays.
_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def auto_precision(*, cpu_flags: Collection[str] = (), device_kind: str = "CPU",
                   compute_capability: tuple[int, int] | None = None) -> tuple[str, str]:
  """The train step's precision for `--precision=auto`, and why.

  bfloat16 only where it measured faster than float32: TPUs, GPUs with
  bfloat16 tensor cores (compute capability 8.0 and up) and CPUs with AMX or
  AVX512-BF16; float32 everywhere else. Takes the hardware as input, so any
  host can be asked about (`host_hardware` reads this one).

  Args:
    cpu_flags: the CPU's feature flags as /proc/cpuinfo spells them
      (e.g. `{"avx2", "avx512_bf16"}`).
    device_kind: "CPU", "GPU" or "TPU": what the train step runs on.
    compute_capability: a GPU's (major, minor), if known.

  Returns:
    (precision, reason): one of `PRECISIONS`, and a few words for the log.
  """
  if device_kind == "TPU":
    return "bfloat16", "a TPU"
  if device_kind == "GPU":
    if compute_capability is not None and tuple(compute_capability) >= (8, 0):
      return "bfloat16", f"a GPU of compute capability {compute_capability[0]}.{compute_capability[1]}"
    return "float32", "a GPU without bfloat16 tensor cores (or of unknown compute capability)"
  flags = set(cpu_flags)
  found = [f for f in _BF16_CPU_FLAGS if f in flags]
  if found:
    return "bfloat16", f"this CPU has {' and '.join(found)}"
  return "float32", "this CPU has no native bfloat16 (neither AMX nor AVX512-BF16)"


def host_hardware(strategy: str = "default") -> dict[str, object]:
  """This host's hardware, as `auto_precision`'s keyword arguments.

  Lists physical devices only (no TensorFlow runtime starts, so a strategy can
  still be built afterwards).

  Args:
    strategy: the `--strategy` value ("tpu" means a TPU).

  Returns:
    `dict(cpu_flags=..., device_kind=..., compute_capability=...)`.
  """
  cpu_flags: set[str] = set()
  try:
    with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
      for line in f:
        if line.startswith("flags"):
          cpu_flags.update(line.partition(":")[2].split())
          break
  except OSError:  # not Linux: no flags known, so float32
    pass
  if strategy == "tpu":
    return dict(cpu_flags=cpu_flags, device_kind="TPU", compute_capability=None)
  gpus = tf.config.list_physical_devices("GPU")
  if gpus:
    details = tf.config.experimental.get_device_details(gpus[0])
    return dict(cpu_flags=cpu_flags, device_kind="GPU",
                compute_capability=details.get("compute_capability"))
  return dict(cpu_flags=cpu_flags, device_kind="CPU", compute_capability=None)


def check_precision(precision: str) -> None:
  if precision not in PRECISIONS:
    raise ValueError(f"precision={precision!r}: expected one of {', '.join(PRECISIONS)}")


def compute_dtype() -> tf.DType:
  """The dtype of matmuls and convolutions in the current `using` block."""
  return getattr(_STATE, "dtype", tf.float32)


@contextlib.contextmanager
def using(precision: str) -> Iterator[None]:
  """Layers built into graphs traced inside this block compute in `precision`."""
  check_precision(precision)
  previous = compute_dtype()
  _STATE.dtype = _DTYPES[precision]
  try:
    yield
  finally:
    _STATE.dtype = previous


def cast_input(x: tf.Tensor) -> tf.Tensor:
  """x in the compute dtype (unchanged under float32)."""
  dtype = compute_dtype()
  return x if dtype == tf.float32 or x.dtype == dtype else tf.cast(x, dtype)


def cast_output(x: tf.Tensor) -> tf.Tensor:
  """A network's output back in float32, for the distributions."""
  return x if x.dtype == tf.float32 else tf.cast(x, tf.float32)


def float64_allowed() -> bool:
  """False inside `tpu_safe()`: build no float64 op."""
  return not getattr(_STATE, "tpu_safe", False)


@contextlib.contextmanager
def tpu_safe(enabled: bool = True) -> Iterator[None]:
  """Graphs traced inside this block use no float64 (when `enabled`)."""
  previous = getattr(_STATE, "tpu_safe", False)
  _STATE.tpu_safe = bool(enabled) or previous
  try:
    yield
  finally:
    _STATE.tpu_safe = previous
