"""The wheel: built offline, installed without network into a fresh location,
its `tfp-zoo-train` trains from another directory on the shipped data,
importing the installed copy; it carries the licence and full metadata."""

import email
import glob
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
from absl.testing import absltest

from tfp_zoo import testing

_SOURCES = ("setup.py", "README.md", "LICENSE", "tfp_zoo")


def _pip(*args: str, cwd: str) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check",
                         "--no-input", *args], capture_output=True, text=True, cwd=cwd,
                        timeout=600)


@pytest.mark.slow
class WheelTest(absltest.TestCase):

  def test_the_installed_wheel_trains_offline_from_elsewhere(self):
    tmp = self.create_tempdir().full_path
    source = os.path.join(tmp, "source")  # a copy: building writes build/ and egg-info
    os.makedirs(source)
    for name in _SOURCES:
      copy = shutil.copytree if os.path.isdir(os.path.join(testing._ROOT, name)) else shutil.copy
      copy(os.path.join(testing._ROOT, name), os.path.join(source, name),
           **({"ignore": shutil.ignore_patterns("__pycache__")} if copy is shutil.copytree
              else {}))
    built = _pip("wheel", "--no-build-isolation", "--no-deps", "--no-index", "-w",
                 os.path.join(tmp, "dist"), source, cwd=tmp)
    self.assertEqual(built.returncode, 0, built.stderr[-3000:])
    wheel, = glob.glob(os.path.join(tmp, "dist", "tfp_zoo-*.whl"))

    with zipfile.ZipFile(wheel) as archive:
      names = set(archive.namelist())
      info = next(n for n in names if n.endswith(".dist-info/METADATA"))
      metadata = email.message_from_bytes(archive.read(info))
      entry_points = archive.read(info.replace("METADATA", "entry_points.txt")).decode()
    self.assertTrue(any(n.endswith(".dist-info/LICENSE") or "/licenses/LICENSE" in n
                        for n in names), sorted(names)[-10:])
    self.assertIn("tfp_zoo/datasets/data/mnist_small/train-images-idx3-ubyte.gz", names)
    self.assertIn("tfp_zoo/datasets/multi_mnist.py", names)
    self.assertIn("Apache-2.0", metadata.get("License", "") + metadata.get(
        "License-Expression", ""))
    self.assertEqual(metadata["Requires-Python"], ">=3.11,<3.12")
    self.assertIn("Programming Language :: Python :: 3.11", metadata.get_all("Classifier"))
    self.assertEqual(metadata["Description-Content-Type"], "text/markdown")
    self.assertIn("tfp-zoo", metadata.get_payload())  # the README as long description
    for command in ("tfp-zoo-train", "tfp-zoo-evaluate", "tfp-zoo-sample", "tfp-zoo-export"):
      self.assertIn(f"{command} = tfp_zoo.launch.", entry_points)

    # Installed without network or dependencies into a fresh directory; the
    # dependencies are this environment's.
    target = os.path.join(tmp, "installed")
    installed = _pip("install", "--no-index", "--no-deps", "--target", target, wheel, cwd=tmp)
    self.assertEqual(installed.returncode, 0, installed.stderr[-3000:])
    elsewhere = os.path.join(tmp, "elsewhere")
    os.makedirs(elsewhere)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TF_CONFIG")}
    env.update(PYTHONPATH=target, TF_CPP_MIN_LOG_LEVEL="2")
    which = subprocess.run([sys.executable, "-c", "import tfp_zoo; print(tfp_zoo.__file__)"],
                           capture_output=True, text=True, cwd=elsewhere, env=env, timeout=60)
    self.assertEqual(which.stdout.strip(), os.path.join(target, "tfp_zoo", "__init__.py"))
    workdir = os.path.join(elsewhere, "run")
    trained = subprocess.run(
        [os.path.join(target, "bin", "tfp-zoo-train"), f"--workdir={workdir}",
         "--train_steps=20", "--eval_num_samples=10", "--eval_examples=50",
         "--model_hparams=hidden_sizes=32,latent_sizes=4"],
        capture_output=True, text=True, cwd=elsewhere, env=env, timeout=600)
    self.assertEqual(trained.returncode, 0, trained.stderr[-3000:])
    self.assertIn("train 20/20", trained.stdout)
    self.assertIn("done: step 20", trained.stdout)
    with open(os.path.join(workdir, "config.json")) as f:
      self.assertEqual(json.load(f)["dataset"], "mnist_small")  # shipped, offline
    listed = subprocess.run([sys.executable, "-m", "tfp_zoo"], capture_output=True, text=True,
                            cwd=elsewhere, env=env, timeout=60)
    self.assertIn("tfp-zoo-export", listed.stdout)


if __name__ == "__main__":
  absltest.main()
