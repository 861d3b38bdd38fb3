"""Network building blocks: rank-polymorphic `tf.Module` layers (`layers`: Dense,
MLP, LSTMCell), convolutional encoders and decoders (`conv`), the spatial
transformer (`spatial_transformer`) and the networks' arithmetic
(`precision`: float32, bfloat16, mixed_float16).

They accept any number of leading batch dimensions: a JointDistribution
first runs a model with an unbatched sample, which Keras layers refuse.
"""

import importlib

from tfp_zoo.nn.layers import (ACTIVATIONS, MLP, Dense, LSTMCell, check_positive_or_unset,
                               flatten_event, parse_sizes)

__all__ = ["Dense", "MLP", "LSTMCell", "flatten_event", "parse_sizes",
           "check_positive_or_unset", "ACTIVATIONS"]

_SUBMODULES = ("conv", "layers", "precision", "spatial_transformer")


# Submodules load on first use (`tfp_zoo.nn.X` works after `import tfp_zoo`).
def __getattr__(name: str) -> object:
  if name in _SUBMODULES:
    return importlib.import_module(f"{__name__}.{name}")
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
