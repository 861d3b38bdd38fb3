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
from typing import Iterator

import tensorflow as tf

__all__ = ["PRECISIONS", "check_precision", "compute_dtype", "using", "cast_input",
           "cast_output", "tpu_safe", "float64_allowed"]

PRECISIONS = ("float32", "bfloat16", "mixed_float16")
_DTYPES = {"float32": tf.float32, "bfloat16": tf.bfloat16, "mixed_float16": tf.float16}
_STATE = threading.local()


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
