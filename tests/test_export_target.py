"""Where an export may go: only an existing SavedModel or an empty directory
is replaced, never a workdir; exports are readable by others."""

import os
import stat

import tensorflow as tf

from tfp_zoo import models
from tfp_zoo.app import export
from tfp_zoo.errors import ExportError


def _files(path):
  return sorted(os.path.relpath(os.path.join(d, f), path)
                for d, _, files in os.walk(path) for f in files)


class ExportTargetTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.model = models.LinearGaussian((3,), latent_size=2, seed=0)
    self.root = self.create_tempdir().full_path

  def test_a_workdir_or_another_directory_is_never_replaced(self):
    workdir = os.path.join(self.root, "run")
    os.makedirs(os.path.join(workdir, "checkpoints"))
    with open(os.path.join(workdir, "config.json"), "w") as f:
      f.write("{}")
    other = os.path.join(self.root, "photos")
    os.makedirs(other)
    with open(os.path.join(other, "a.png"), "w") as f:
      f.write("x")
    for path, what in ((workdir, "a training workdir"),
                       (other, "a directory that is not a SavedModel")):
      before = _files(path)
      with self.assertRaisesRegex(ExportError, f"is {what}; --overwrite replaces only"):
        export.export_model(self.model, path, overwrite=True)
      self.assertEqual(_files(path), before)
    self.assertEqual(sorted(os.listdir(self.root)), ["photos", "run"])  # no leftovers

  def test_an_export_or_an_empty_directory_is_replaced_and_readable_by_others(self):
    target = os.path.join(self.root, "export")
    os.makedirs(target)  # empty: allowed without --overwrite
    export.export_model(self.model, target)
    with self.assertRaisesRegex(ExportError, "already exists; pass --overwrite"):
      export.export_model(self.model, target)
    export.export_model(self.model, target, overwrite=True)
    self.assertTrue(os.path.isfile(os.path.join(target, "saved_model.pb")))
    for directory, _, files in os.walk(target):
      self.assertTrue(os.stat(directory).st_mode & stat.S_IROTH, directory)
      self.assertTrue(os.stat(directory).st_mode & stat.S_IXOTH, directory)
      for name in files:
        self.assertTrue(os.stat(os.path.join(directory, name)).st_mode & stat.S_IROTH, name)
    loaded = tf.saved_model.load(target)  # kept: its functions need its variables
    self.assertEqual(loaded.sample(tf.constant(2), tf.constant([0, 1]))["x"].shape, (2, 3))

  def test_export_to_the_workdir_itself_is_refused(self):
    with self.assertRaisesRegex(ExportError, "is the --workdir"):
      export.export_workdir(self.root, self.root, overwrite=True)


if __name__ == "__main__":
  tf.test.main()
