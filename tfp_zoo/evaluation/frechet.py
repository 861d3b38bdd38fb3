"""Fréchet distance between Gaussians fitted to two sets of features.

For N(m_a, C_a) and N(m_b, C_b) the squared 2-Wasserstein (Fréchet) distance is

    d² = ‖m_a − m_b‖² + tr C_a + tr C_b − 2 tr (C_a^{1/2} C_b C_a^{1/2})^{1/2}

(Dowson & Landau 1982). Fitted to classifier features of samples and of real
data it is the FID of Heusel et al. (2017); here the classifier is a small
MNIST network (`benchmarks/mnist_classifier.py`), so numbers are comparable
only with the same classifier. The trace term uses symmetric
eigendecompositions in float64 (C_a^{1/2} C_b C_a^{1/2} is symmetric PSD), so
no general matrix square root is needed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

__all__ = ["frechet_distance", "gaussian_frechet_distance"]


def _as_float64(value: Any) -> tf.Tensor:
  """A tensor, NumPy array or list of any real dtype as a float64 tensor.

  Tensors are cast (`tf.convert_to_tensor(t, tf.float64)` refuses a float32
  tensor); anything else goes through NumPy, so Python floats keep float64.
  """
  if tf.is_tensor(value) or isinstance(value, tf.Variable):
    return tf.cast(value, tf.float64)
  return tf.constant(np.asarray(value, np.float64))


def _psd_sqrt(matrix: tf.Tensor) -> tf.Tensor:
  values, vectors = tf.linalg.eigh(matrix)
  return (vectors * tf.sqrt(tf.maximum(values, 0.)) [..., None, :]) @ tf.linalg.adjoint(vectors)


def gaussian_frechet_distance(mean_a: tf.Tensor, cov_a: tf.Tensor, mean_b: tf.Tensor,
                              cov_b: tf.Tensor) -> tf.Tensor:
  """Squared Fréchet distance d² between N(mean_a, cov_a) and N(mean_b, cov_b), float64."""
  mean_a, cov_a, mean_b, cov_b = (_as_float64(t) for t in (mean_a, cov_a, mean_b, cov_b))
  root_a = _psd_sqrt(cov_a)
  middle = root_a @ cov_b @ root_a
  middle = (middle + tf.linalg.adjoint(middle)) / 2.  # symmetric up to rounding
  cross = tf.reduce_sum(tf.sqrt(tf.maximum(tf.linalg.eigvalsh(middle), 0.)), -1)
  return (tf.reduce_sum(tf.square(mean_a - mean_b), -1) + tf.linalg.trace(cov_a)
          + tf.linalg.trace(cov_b) - 2. * cross)


def _moments(features: tf.Tensor, name: str) -> tuple[tf.Tensor, tf.Tensor]:
  features = _as_float64(features)
  if features.shape.rank != 2 or features.shape[0] is None or features.shape[0] < 2:
    raise ValueError(f"{name}: need a matrix [num_examples >= 2, num_features], got shape "
                     f"{features.shape}")
  mean = tf.reduce_mean(features, 0)
  centred = features - mean
  cov = tf.matmul(centred, centred, transpose_a=True) / (features.shape[0] - 1)
  return mean, cov


def frechet_distance(features_a: tf.Tensor, features_b: tf.Tensor) -> float:
  """Squared Fréchet distance between Gaussians fitted to two feature matrices.

  Args:
    features_a: [n_a, d] features (e.g. of model samples): a tensor or array of
      any real dtype (float32 included), computed in float64.
    features_b: [n_b, d] features (e.g. of test images).

  Returns:
    d² as a Python float. It is biased upwards by finite n (the estimated
    covariances are noisy), so compare models with the same n.
  """
  mean_a, cov_a = _moments(features_a, "features_a")
  mean_b, cov_b = _moments(features_b, "features_b")
  if mean_a.shape[-1] != mean_b.shape[-1]:
    raise ValueError(f"features_a has {mean_a.shape[-1]} features but features_b has "
                     f"{mean_b.shape[-1]}")
  return float(gaussian_frechet_distance(mean_a, cov_a, mean_b, cov_b))
