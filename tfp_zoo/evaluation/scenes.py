"""How well a scene model (AIR) reads a scene: object counts and boxes.

The count accuracy is the fraction of test images whose inferred number of
objects (one draw of the guide) equals the true one. The box IoU is the mean
intersection over union of the inferred boxes with the true ones, over the
objects of the images counted right, each image's boxes matched to maximise
its total IoU (a permutation: AIR has at most a few steps).
"""

from __future__ import annotations

import itertools
from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf

__all__ = ["SceneScores", "scene_scores", "box_iou", "normalised_to_pixel_boxes"]


class SceneScores(NamedTuple):
  """Count accuracy and box IoU over `num_examples` images.

  Attributes:
    count_accuracy: fraction of images whose inferred count is the true one.
    box_iou: mean IoU of matched boxes over the objects of the images counted
      right (None without true boxes, or if no such image has an object).
    num_examples: images scored.
  """
  count_accuracy: float
  box_iou: float | None
  num_examples: int


def normalised_to_pixel_boxes(boxes: np.ndarray, canvas_size: int) -> np.ndarray:
  """AIR's boxes (s, t_x, t_y), covering [t − s, t + s] of [−1, 1], in pixels.

  Args:
    boxes: [..., 3] normalised boxes (`AIR.boxes`).
    canvas_size: the canvas's side in pixels.

  Returns:
    [..., 4] float (top, left, bottom, right) in pixel-edge coordinates.
  """
  boxes = np.asarray(boxes, np.float64)
  scale, tx, ty = boxes[..., 0], boxes[..., 1], boxes[..., 2]
  half = canvas_size / 2.0
  return np.stack([(ty - scale + 1) * half, (tx - scale + 1) * half,
                   (ty + scale + 1) * half, (tx + scale + 1) * half], -1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Intersection over union of boxes (top, left, bottom, right).

  Args:
    a, b: [..., 4] boxes (broadcast against each other).

  Returns:
    [...] IoU in [0, 1] (0 for two empty boxes).
  """
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  height = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
  width = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
  inter = height * width
  area = lambda x: np.clip(x[..., 2] - x[..., 0], 0, None) * np.clip(x[..., 3] - x[..., 1], 0, None)
  union = area(a) + area(b) - inter
  return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def _matched_iou(inferred: np.ndarray, truth: np.ndarray) -> np.ndarray:
  """The IoUs of the best one-to-one matching of two equal-sized box sets."""
  iou = box_iou(inferred[:, None], truth[None, :])
  best = max(itertools.permutations(range(len(truth))),
             key=lambda p: sum(iou[i, j] for i, j in enumerate(p)))
  return np.array([iou[i, j] for i, j in enumerate(best)])


def scene_scores(model: Any, images: np.ndarray, counts: np.ndarray, boxes: np.ndarray | None = None,
                 *, seed: tf.Tensor, batch_size: int = 100) -> SceneScores:
  """Count accuracy and box IoU of a model with `infer` (AIR) on labelled scenes.

  Args:
    model: a model whose `infer(x, seed=)` returns 'count', 'present' and
      'boxes' (`models.AIR`).
    images: [N, H, W, C] test images, as the model sees them.
    counts: [N] true numbers of objects.
    boxes: [N, T, 4] true boxes (top, left, bottom, right) in pixels, rows of
      absent objects empty (`datasets.load_boxes`); None scores counts only.
    seed: the guide's draws: batch i uses fold_in(seed, i).
    batch_size: images per guide call.

  Returns:
    A `SceneScores`.
  """
  n = len(images)
  counts = np.asarray(counts)[:n]
  right, ious = 0, []
  for i, start in enumerate(range(0, n, batch_size)):
    x = tf.convert_to_tensor(images[start:start + batch_size], tf.float32)
    scene = model.infer(x, seed=tf.random.experimental.stateless_fold_in(seed, i))
    inferred = scene["count"].numpy()
    truth = counts[start:start + batch_size]
    right += int(np.sum(inferred == truth))
    if boxes is None:
      continue
    predicted = normalised_to_pixel_boxes(scene["boxes"].numpy(), x.shape[1])
    present = scene["present"].numpy() > 0.5
    for j in np.flatnonzero((inferred == truth) & (truth > 0)):
      true_boxes = np.asarray(boxes[start + j], np.float64)
      true_boxes = true_boxes[(true_boxes[:, 2] > true_boxes[:, 0])]
      ious.extend(_matched_iou(predicted[j][present[j]], true_boxes))
  return SceneScores(count_accuracy=right / n if n else 0.0,
                     box_iou=float(np.mean(ious)) if ious else None, num_examples=n)
