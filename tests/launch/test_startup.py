"""TensorFlow's C++ start-up lines stay off a launcher's terminal, unless
--verbosity asks for them; Python's own messages and a failed import's
output are never lost, and a logging handler made during the import keeps
an open stream."""

import os
import subprocess
import sys
import textwrap

import pytest
from absl.testing import absltest

from tfp_zoo import testing
from tfp_zoo.launch import startup

# Lines seen at the start of a launch on a CPU machine (TF 2.21).
_NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796460215.787772   24161 port.cc:153] oneDNN custom operations are on.",
    "I0000 00:00:1796460215.788139   24161 cudart_stub.cc:31] Could not find cuda drivers",
    "E0000 00:00:1796460220.218225   24161 cuda_platform.cc:52] failed call to cuInit: "
    "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild",
]
_KEPT = ["FATAL Flags error: --workdir=/x: must be an existing training workdir",
         "/venv/lib/python3.11/site-packages/x.py:57: DeprecationWarning: distutils",
         "Traceback (most recent call last):", "E: an error of our own"]


def _run_python(code: str, *args: str) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                        capture_output=True, text=True, timeout=60,
                        env=dict(os.environ, PYTHONPATH=testing._ROOT))


class StartupTest(absltest.TestCase):

  def test_verbosity_is_read_before_the_flags_parse(self):
    for argv, expected in ((["prog"], -1), (["prog", "--verbosity=0"], 0),
                           (["prog", "--verbosity", "1"], 1), (["prog", "-v=2"], 2),
                           (["prog", "-v", "0", "--workdir=x"], 0),
                           (["prog", "--verbosity=x"], -1), (["prog", "--verbosity"], -1),
                           (["prog", "--verbosity=1", "--verbosity=-1"], -1)):
      self.assertEqual(startup.verbosity_from_argv(argv), expected, argv)

  def test_only_tensorflows_cpp_lines_are_noise(self):
    for line in _NOISE:
      self.assertTrue(startup.is_startup_noise(line), line)
    for line in _KEPT:
      self.assertFalse(startup.is_startup_noise(line), line)

  def test_the_redirect_drops_cpp_lines_and_keeps_the_rest(self):
    noise = "\\n".join(_NOISE)
    done = _run_python(f"""
        import os, sys
        from tfp_zoo.launch import startup
        with startup.quiet_stderr():
          os.write(2, b'''{noise}\\nwritten by C: kept\\n''')
          print("python: held", file=sys.stderr, flush=True)
        print("after", file=sys.stderr)
        """)
    self.assertEqual(done.returncode, 0, done.stderr)
    self.assertEqual(done.stderr.splitlines(), ["written by C: kept", "python: held", "after"])

  def test_a_failed_import_replays_everything(self):
    noise = "\\n".join(_NOISE[:2])
    failed = _run_python(f"""
        import os
        from tfp_zoo.launch import startup
        with startup.quiet_stderr():
          os.write(2, b'''{noise}\\n''')
          import a_module_that_is_not_there
        """)
    self.assertNotEqual(failed.returncode, 0)
    for line in _NOISE[:2]:
      self.assertIn(line, failed.stderr)
    self.assertIn("ModuleNotFoundError", failed.stderr)

  def test_a_handler_made_during_the_import_still_writes_afterwards(self):
    done = _run_python("""
        import logging, sys
        from tfp_zoo.launch import startup
        with startup.quiet_stderr():
          handler = logging.StreamHandler()  # binds sys.stderr now, as absl's does
        logging.getLogger("x").addHandler(handler)
        logging.getLogger("x").warning("after the import")
        """)
    self.assertEqual(done.returncode, 0, done.stderr)
    self.assertEqual(done.stderr.strip(), "after the import")

  def test_disabled_is_a_no_op(self):
    shown = _run_python("""
        import os
        from tfp_zoo.launch import startup
        with startup.quiet_stderr(enabled=False):
          os.write(2, b'I0000 00:00:1.5   1 port.cc:153] oneDNN\\n')
        """)
    self.assertIn("port.cc:153] oneDNN", shown.stderr)


@pytest.mark.slow
class LaunchNoiseTest(absltest.TestCase):
  """A real launch: one FATAL line alone, or TensorFlow's lines with --verbosity=0."""

  def test_a_launch_prints_only_its_own_lines(self):
    env = dict(os.environ, PYTHONPATH=testing._ROOT)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    for verbosity, noisy in (((), False), (("--verbosity=0",), True)):
      done = subprocess.run([sys.executable, "-m", "tfp_zoo.launch.evaluate",
                             "--workdir=/nonexistent/run", *verbosity],
                            capture_output=True, text=True, timeout=300, env=env)
      self.assertEqual(done.returncode, 1)
      lines = done.stderr.splitlines()
      self.assertEqual(lines[-1], "FATAL Flags error: --workdir=/nonexistent/run: must be "
                       "an existing training workdir")
      self.assertEqual(any(startup.is_startup_noise(line) for line in lines), noisy,
                       done.stderr)


if __name__ == "__main__":
  absltest.main()
