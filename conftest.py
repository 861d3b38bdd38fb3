"""pytest configuration: quiet TensorFlow and absl flags usable under pytest."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # pylint: disable=g-import-not-at-top

# absl flags are parsed by app.run in launchers; under pytest nobody parses them.
flags.FLAGS.mark_as_parsed()


def pytest_configure(config):
  # The README's test command runs `-m "not slow"` (under 8 minutes on 2
  # cores); .ci/run runs the slow end-to-end and launcher tests as a second step.
  config.addinivalue_line("markers", "slow: end-to-end or launcher-process tests "
                          "(run by .ci/run as a second step)")
