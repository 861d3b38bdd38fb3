"""In real launcher processes: a diagnostic never ends a run, and no result is
reported as a number when it is not one."""

import glob
import math
import os
import subprocess
import sys

import pytest
import tensorflow as tf

from tfp_zoo import testing, training

pytestmark = pytest.mark.slow  # end to end: .ci/run's second step

TINY = ["--model_hparams=hidden_sizes=16,latent_sizes=4", "--batch_size=20",
        "--num_samples=2", "--log_every=5", "--checkpoint_every=10",
        "--eval_num_samples=5", "--eval_examples=20"]

# train.py with the gradient SNR replaced: a value finite in float64 but not in
# float32 (what the summaries are written in), or a diagnostic that fails.
_TRAIN_WITH_SNR = """
import runpy, sys
import tensorflow as tf
from tfp_zoo import evaluation
mode = sys.argv.pop(1)
real = evaluation.gradient_snr
def replaced(*args, **kwargs):
  if mode == "fails":
    raise tf.errors.InvalidArgumentError(None, None, "gradient has NaN values")
  return real(*args, **kwargs)._replace(generative_mean=1e300)
evaluation.gradient_snr = replaced
sys.argv[0] = {train!r}
runpy.run_path({train!r}, run_name="__main__")
"""


def _scalars(directory):
  """{tag: [values]} of every scalar summary written under `directory`."""
  values = {}
  for path in glob.glob(os.path.join(directory, "**", "events.out.tfevents.*"),
                        recursive=True):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.metadata.plugin_data.plugin_name == "scalars":
          values.setdefault(value.tag, []).append(
              float(tf.make_ndarray(value.tensor)))
  return values


def _poison(workdir, value):
  """The workdir's latest checkpoint with the decoder's output bias set to
  `value`: Bernoulli logits of 1e30 give log-weights of about -1e33, finite in
  float32, whose spread overflows."""
  model, _, step = training.restore_model(workdir)
  checkpoint = tf.train.Checkpoint(step=tf.Variable(step, dtype=tf.int64), model=model)
  directory = os.path.join(workdir, "checkpoints")
  checkpoint.restore(tf.train.latest_checkpoint(directory)).expect_partial()
  bias = model.generative_variables[-2]
  bias.assign(tf.fill(bias.shape, value))
  tf.train.CheckpointManager(checkpoint, directory, max_to_keep=5).save(
      checkpoint_number=step)


class ResultsAreNumbersTest(tf.test.TestCase):

  def test_a_diagnostic_never_ends_a_run(self):
    root = self.create_tempdir().full_path
    train = os.path.join(testing._ROOT, "launchers", "train.py")  # pylint: disable=protected-access
    processes = {
        mode: subprocess.Popen(
            [sys.executable, "-c", _TRAIN_WITH_SNR.format(train=train), mode,
             f"--workdir={root}/{mode}", "--train_steps=10", "--snr_every=5",
             "--snr_num_draws=2", *TINY],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=testing.launcher_env())
        for mode in ("huge", "fails")}
    for mode, process in processes.items():
      stdout, stderr = process.communicate(timeout=600)
      with self.subTest(mode=mode):
        self.assertEqual(process.returncode, 0, stderr[-3000:])
        self.assertNotIn("Traceback", stdout + stderr)
        self.assertIn("done: step 10", stdout)
        scalars = _scalars(os.path.join(root, mode))
        self.assertIn("generative_loss", scalars)  # the run's own summaries are there ...
        self.assertNotIn("gradient_snr/generative", scalars)  # ... the bad value is not
        for tag, values in scalars.items():
          self.assertTrue(all(math.isfinite(v) for v in values), tag)
        if mode == "fails":
          self.assertIn("step 5: the gradient SNR skipped (gradient has NaN values); "
                        "training goes on", stderr)
        else:
          self.assertIn("gradient_snr/ess", scalars)  # the finite diagnostics are kept

  def test_a_non_finite_estimate_is_one_line_and_a_failure(self):
    workdir = os.path.join(self.create_tempdir().full_path, "run")
    training.train(training.TrainConfig(
        workdir=workdir, model_hparams={"hidden_sizes": (16,), "latent_sizes": (4,)},
        num_samples=2, batch_size=20, train_steps=10, checkpoint_every=10,
        eval_num_samples=5, eval_examples=20))
    _poison(workdir, 1e30)
    process = testing.start_launcher("evaluate.py", f"--workdir={workdir}",
                                     "--num_samples=5", "--num_examples=20")
    stdout, stderr = process.communicate(timeout=300)
    self.assertEqual(process.returncode, 1, stdout[-2000:])
    self.assertNotIn("Traceback", stdout + stderr)
    last = stderr.strip().splitlines()[-1]
    self.assertRegex(last, r"^FATAL NonFiniteResultError: the IS, K=5 estimate of .* is "
                     r"not a number \(standard error inf over 20 examples\)")
    self.assertNotIn("test log-likelihood", stdout)  # no number printed
    with self.assertRaisesRegex(training.NonFiniteResultError, "is not a number"):
      training.evaluate_workdir(workdir, num_samples=5, num_examples=20)


if __name__ == "__main__":
  tf.test.main()
