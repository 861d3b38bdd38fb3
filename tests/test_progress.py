"""Progress lines: counts, percentage, rate, and an eta that respects a time budget."""

import io
from unittest import mock

import tensorflow as tf

from tfp_zoo.training import progress as progress_lib


class ProgressTest(tf.test.TestCase):

  def test_line_by_steps(self):
    stream = io.StringIO()
    with mock.patch.object(progress_lib.time, "monotonic", side_effect=[100.0, 110.0, 110.0]):
      bar = progress_lib.Progress("train", 100, stream=stream)
      bar.update(20, "loss 1.0")
    self.assertEqual(stream.getvalue().strip(),
                     "train 20/100 (20%) | 2.0 step/s | eta 0:00:40 | loss 1.0")

  def test_time_budget_shortens_the_eta(self):
    stream = io.StringIO()
    with mock.patch.object(progress_lib.time, "monotonic",
                           side_effect=[100.0, 110.0, 110.0, 110.0]):
      bar = progress_lib.Progress("train", 10**6, stream=stream, max_seconds=40.0)
      bar.update(20)
    self.assertEqual(stream.getvalue().strip(),
                     "train 20/1000000 (25%) | 2.0 step/s | eta 0:00:30 (time budget)")


if __name__ == "__main__":
  tf.test.main()
