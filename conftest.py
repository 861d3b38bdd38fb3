"""pytest configuration: quiet TensorFlow and absl flags usable under pytest."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # pylint: disable=g-import-not-at-top

# absl flags are parsed by app.run in launchers; under pytest nobody parses them.
flags.FLAGS.mark_as_parsed()
