"""BUILD declares every launcher and every test file."""

import glob
import os
import re

import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _declared(build_text):
  return set(re.findall(r'"((?:launchers|tests|benchmarks|scripts)/[\w/]+\.py)"', build_text))


class BuildTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    with open(os.path.join(ROOT, "BUILD")) as f:
      self.build = f.read()

  def test_every_test_file_and_launcher_has_a_target(self):
    files = {os.path.relpath(p, ROOT) for pattern in
             ("tests/**/test_*.py", "launchers/*.py", "benchmarks/*.py")
             for p in glob.glob(os.path.join(ROOT, pattern), recursive=True)}
    self.assertNotEmpty(files)
    missing = files - _declared(self.build)
    self.assertEmpty(missing, f"add these to BUILD: {sorted(missing)}")

  def test_declared_files_exist(self):
    for path in _declared(self.build):
      self.assertTrue(os.path.exists(os.path.join(ROOT, path)), path)

  def test_launchers_are_binaries_and_tests_are_tests(self):
    binaries = self.build[self.build.index("BINARIES = {"):self.build.index("[py_binary(")]
    for launcher in glob.glob(os.path.join(ROOT, "launchers", "*.py")):
      self.assertIn(f'"{os.path.relpath(launcher, ROOT)}"', binaries)
    self.assertIn("py_library(\n    name = \"tfp_zoo\"", self.build)
    self.assertRegex(self.build, r"\[py_test\(")

  def test_the_check_has_power(self):
    self.assertEmpty({"tests/test_nn.py"} - _declared(self.build))
    self.assertNotIn("tests/test_nothing.py", _declared(self.build))


if __name__ == "__main__":
  tf.test.main()
