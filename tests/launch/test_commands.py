"""The commands: `python -m tfp_zoo` lists them, each module is its command's
entry point, and setup.py installs exactly these."""

import os
import re
import subprocess
import sys

from absl.testing import absltest

from tfp_zoo import launch, testing


class CommandsTest(absltest.TestCase):

  def test_python_m_tfp_zoo_lists_the_commands_without_tensorflow(self):
    done = subprocess.run(
        [sys.executable, "-c", "import runpy, sys; runpy.run_module('tfp_zoo', "
         "run_name='__main__'); print('tensorflow' in sys.modules)"],
        capture_output=True, text=True, timeout=60, env=dict(os.environ, PYTHONPATH=testing._ROOT))
    self.assertEqual(done.returncode, 0, done.stderr)
    for command, (module, _) in launch.COMMANDS.items():
      self.assertRegex(done.stdout, rf"(?m)^  {command} .*\[{re.escape(module)}\]$")
    self.assertEqual(done.stdout.splitlines()[-1], "False")  # listing imports no TensorFlow

  def test_setup_installs_each_command_at_its_modules_run(self):
    with open(os.path.join(testing._ROOT, "setup.py")) as f:
      setup = f.read()
    installed = dict(re.findall(r'"(tfp-zoo-[a-z]+)=([a-z_.]+):run"', setup))
    self.assertEqual(installed, {c: m for c, (m, _) in launch.COMMANDS.items()})
    self.assertEqual(set(installed), {"tfp-zoo-train", "tfp-zoo-evaluate", "tfp-zoo-sample",
                                      "tfp-zoo-export"})

  def test_the_checkout_launchers_are_shims_of_the_modules(self):
    for command, (module, _) in launch.COMMANDS.items():
      name = module.rsplit(".", 1)[1]
      with open(os.path.join(testing._ROOT, "launchers", f"{name}.py")) as f:
        shim = f.read()
      self.assertIn(f"from tfp_zoo.launch import {name}\n", shim)
      self.assertIn(f"  {name}.run()\n", shim)


if __name__ == "__main__":
  absltest.main()
