"""Training batches: deterministic per step (so runs resume exactly), binarised as asked."""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tfp_zoo import datasets

IMAGES = np.random.default_rng(0).integers(0, 256, size=(50, 3, 3, 1), dtype=np.uint8)


def _take(ds, n):
  return [b.numpy() for b in ds.take(n)]


class PipelineTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(*datasets.BINARIZATIONS)
  def test_batch_s_does_not_depend_on_start_step(self, binarization):
    full = _take(datasets.train_batches(IMAGES, batch_size=8, seed=1,
                                        binarization=binarization), 20)
    for start in (1, 6, 13):
      resumed = _take(datasets.train_batches(IMAGES, batch_size=8, seed=1, start_step=start,
                                             binarization=binarization), 20 - start)
      for a, b in zip(full[start:], resumed):
        self.assertAllEqual(a, b)

  def test_each_epoch_is_a_new_permutation_of_the_data(self):
    # Grey levels, batch 10 over 50 examples: 5 steps an epoch, nothing dropped.
    batches = _take(datasets.train_batches(IMAGES, batch_size=10, seed=2,
                                           binarization="none"), 10)
    expected = np.sort((IMAGES / 255.0).reshape(50, -1), axis=0)
    for epoch in range(2):
      seen = np.concatenate(batches[5 * epoch:5 * epoch + 5]).reshape(50, -1)
      self.assertAllClose(np.sort(seen, axis=0), expected)
    self.assertNotAllClose(batches[0], batches[5])

  def test_binarizations(self):
    def epochs(binarization):
      bs = _take(datasets.train_batches(IMAGES, batch_size=50, seed=3,
                                        binarization=binarization), 2)
      return bs[0], bs[1]
    for binarization in ("dynamic", "fixed"):
      a, b = epochs(binarization)
      self.assertAllInSet(a, [0.0, 1.0])
    # Sort rows to undo the epoch permutation before comparing epochs.
    sort = lambda x: np.sort(x.reshape(50, -1), axis=0)
    a, b = epochs("fixed")
    self.assertAllEqual(sort(a), sort(b))  # fixed: the same bits every epoch
    a, b = epochs("dynamic")
    self.assertNotAllEqual(sort(a), sort(b))  # dynamic: resampled
    # Dynamic binarisation is unbiased: E[x] = pixel / 255 (100 epochs × 50 images).
    many = np.concatenate(_take(datasets.train_batches(IMAGES, batch_size=50, seed=4), 100))
    self.assertAllClose(many.mean(), IMAGES.mean() / 255.0, atol=4 * 0.5 / np.sqrt(many.size))
    a, _ = epochs("none")
    self.assertAllInRange(a, 0.0, 1.0)

  def test_eval_images_are_fixed(self):
    a = datasets.eval_images(IMAGES, binarization="dynamic", seed=0)
    b = datasets.eval_images(IMAGES, binarization="dynamic", seed=0)
    self.assertAllEqual(a, b)
    self.assertAllInSet(a, [0.0, 1.0])
    self.assertAllClose(datasets.eval_images(IMAGES, binarization="none"), IMAGES / 255.0)

  def test_eight_bit_levels(self):
    levels = datasets.eval_images(IMAGES, binarization="none", eight_bit=True)
    self.assertAllEqual(levels, IMAGES.astype(np.float32))
    batch = _take(datasets.train_batches(IMAGES, batch_size=50, seed=3, binarization="none",
                                         eight_bit=True), 1)[0]
    self.assertAllEqual(batch, np.round(batch))
    self.assertGreater(batch.max(), 1.0)  # not rescaled to [0, 1]
    self.assertAllInRange(batch, 0.0, 255.0)
    with self.assertRaisesRegex(ValueError, "8-bit levels are not binarised"):
      datasets.train_batches(IMAGES, batch_size=5, seed=0, eight_bit=True)
    with self.assertRaisesRegex(ValueError, "8-bit levels are not binarised"):
      datasets.eval_images(IMAGES, binarization="fixed", eight_bit=True)

  def test_bad_arguments(self):
    with self.assertRaisesRegex(ValueError, "batch_size=51 must be between 1 and"):
      datasets.train_batches(IMAGES, batch_size=51, seed=0)
    with self.assertRaisesRegex(ValueError, "binarization='half'"):
      datasets.train_batches(IMAGES, batch_size=5, seed=0, binarization="half")


if __name__ == "__main__":
  tf.test.main()
