"""Scene scores: count accuracy and box IoU with exact answers, and a matcher
that pairs boxes by overlap rather than by order."""

import numpy as np
import tensorflow as tf

from tfp_zoo import evaluation
from tfp_zoo.evaluation import scenes


class _FixedScenes:
  """A stand-in for AIR whose guide always reads the given scenes."""

  def __init__(self, counts, boxes, present):
    self.counts, self.boxes, self.present = counts, boxes, present

  def infer(self, x, *, seed):
    del seed
    n = x.shape[0]
    self.calls = getattr(self, "calls", 0) + 1
    start = (self.calls - 1) * n  # batches arrive in order
    return {"count": tf.constant(self.counts[start:start + n]),
            "boxes": tf.constant(self.boxes[start:start + n], tf.float32),
            "present": tf.constant(self.present[start:start + n], tf.float32)}


def _normalised(top, left, side, canvas):
  """The AIR box (s, t_x, t_y) covering pixels [top, top+side) × [left, left+side)."""
  s = side / canvas
  return [s, (left + side / 2) / (canvas / 2) - 1, (top + side / 2) / (canvas / 2) - 1]


class ScenesTest(tf.test.TestCase):

  def test_box_iou_exact_values(self):
    a = np.array([0., 0., 10., 10.])
    self.assertAllClose(scenes.box_iou(a, a), 1.0)
    self.assertAllClose(scenes.box_iou(a, [0., 5., 10., 15.]), 50 / 150)
    self.assertAllClose(scenes.box_iou(a, [20., 20., 30., 30.]), 0.0)
    self.assertAllClose(scenes.box_iou(np.zeros(4), np.zeros(4)), 0.0)  # empty: 0, not nan

  def test_pixel_boxes_round_trip(self):
    box = scenes.normalised_to_pixel_boxes(np.array(_normalised(3, 11, 28, 50)), 50)
    self.assertAllClose(box, [3, 11, 31, 39])

  def test_counts_and_ious_of_known_scenes(self):
    canvas = 50
    truth_counts = np.array([2, 1, 0, 2])
    truth_boxes = np.zeros((4, 2, 4), np.float32)
    truth_boxes[0] = [[0, 0, 28, 28], [20, 22, 48, 50]]
    truth_boxes[1, 0] = [10, 10, 38, 38]
    truth_boxes[3] = [[0, 0, 28, 28], [0, 22, 28, 50]]
    # Image 0: both boxes exact, inferred in the other order. Image 1: shifted by
    # 7 pixels (IoU 21·28 / (2·28² − 21·28) = 0.6). Image 2: right count (0).
    # Image 3: counted 1 of 2 (wrong: no IoU).
    inferred = np.array([
        [_normalised(20, 22, 28, canvas), _normalised(0, 0, 28, canvas)],
        [_normalised(10, 17, 28, canvas), _normalised(0, 0, 28, canvas)],
        [_normalised(0, 0, 28, canvas)] * 2,
        [_normalised(0, 0, 28, canvas)] * 2])
    present = np.array([[1, 1], [1, 0], [0, 0], [1, 0]])
    model = _FixedScenes(np.array([2, 1, 0, 1], np.int32), inferred, present)
    images = np.zeros((4, canvas, canvas, 1), np.float32)
    got = evaluation.scene_scores(model, images, truth_counts, truth_boxes,
                                  seed=tf.constant([0, 0]), batch_size=2)
    self.assertAllClose(got.count_accuracy, 3 / 4)
    self.assertAllClose(got.box_iou, (1 + 1 + 0.6) / 3)
    self.assertEqual(got.num_examples, 4)
    model.calls = 0
    counts_only = evaluation.scene_scores(model, images, truth_counts, None,
                                          seed=tf.constant([0, 0]), batch_size=2)
    self.assertIsNone(counts_only.box_iou)
    # Power: pairing the boxes by order instead of by overlap scores image 0 near 0.
    by_order = scenes.box_iou(
        scenes.normalised_to_pixel_boxes(inferred[0], canvas), truth_boxes[0])
    self.assertLess(np.max(by_order), 0.05)


if __name__ == "__main__":
  tf.test.main()
