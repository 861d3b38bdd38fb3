"""Network building blocks: rank-polymorphic `tf.Module` layers (`layers`: Dense,
MLP, LSTMCell), convolutional encoders and decoders (`conv`), the spatial
transformer (`spatial_transformer`) and the networks' arithmetic
(`precision`: float32, bfloat16, mixed_float16).

They accept any number of leading batch dimensions: a JointDistribution
first runs a model with an unbatched sample, which Keras layers refuse.
"""

from tfp_zoo.nn.layers import (ACTIVATIONS, MLP, Dense, LSTMCell, check_positive_or_unset,
                               flatten_event, parse_sizes)

__all__ = ["Dense", "MLP", "LSTMCell", "flatten_event", "parse_sizes",
           "check_positive_or_unset", "ACTIVATIONS"]
