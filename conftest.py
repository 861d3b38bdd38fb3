"""pytest configuration: quiet TensorFlow, absl flags usable under pytest, one
share of the cores per xdist worker, and the slow tier's marks."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Under pytest-xdist each worker is one TensorFlow process: give each its share
# of the cores rather than letting every worker's thread pools (TensorFlow's and
# NumPy's BLAS) use them all (2 workers on 2 cores: 6% less wall time for the
# README's test command).
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
  _THREADS = str(max(1, len(os.sched_getaffinity(0))
                     // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
  for _name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS",
                "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):  # NumPy's LAPACK too
    os.environ.setdefault(_name, _THREADS)

import pytest  # pylint: disable=g-import-not-at-top
from absl import flags  # pylint: disable=g-import-not-at-top

# absl flags are parsed by app.run in launchers; under pytest nobody parses them.
flags.FLAGS.mark_as_parsed()


def pytest_configure(config):
  # The README's test command runs `-m "not slow"`; .ci/run runs the slow tier
  # (end-to-end, launcher processes, long statistical checks, and with
  # TFP_ZOO_FULL_PRODUCT=1 the rest of the sampled cross-products) second.
  config.addinivalue_line("markers", "slow: end-to-end, launcher-process or long "
                          "statistical tests (run by .ci/run as a second step)")


@pytest.hookimpl(tryfirst=True)  # before -m "not slow" deselects
def pytest_collection_modifyitems(config, items):
  del config
  from tfp_zoo import testing  # pylint: disable=g-import-not-at-top
  for item in items:
    if item.name.endswith(testing.FULL_PRODUCT_SUFFIX):
      item.add_marker(pytest.mark.slow)
