"""The README's Python examples run as written."""

import os
import re

import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python_blocks():
  with open(os.path.join(ROOT, "README.md")) as f:
    text = f.read()
  return re.findall(r"```python\n(.*?)```", text, flags=re.S)


class ReadmeTest(tf.test.TestCase):

  def test_python_examples_run(self):
    blocks = [b for b in _python_blocks() if "import tfp_zoo" in b]
    self.assertGreaterEqual(len(blocks), 2)  # "Use from Python" and the pipeline step
    for block in blocks:
      namespace = {}
      exec(compile(block, "README.md", "exec"), namespace)  # pylint: disable=exec-used
      if "metrics" in namespace:  # the training-step example ran to its end
        self.assertNotEmpty(namespace["metrics"])
        for value in namespace["metrics"].values():
          self.assertTrue(bool(tf.reduce_all(tf.math.is_finite(value))))
        self.assertEqual(int(namespace["step"]), 9)


if __name__ == "__main__":
  tf.test.main()
