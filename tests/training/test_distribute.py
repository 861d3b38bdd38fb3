"""tf.distribute on CPU: a MirroredStrategy over two logical CPUs gives the
single-device update of the same global batch; two local worker processes of a
MultiWorkerMirroredStrategy train, checkpoint and agree; strategy errors are clear.

Logical devices must be configured before TensorFlow starts, so the strategy
runs happen in subprocesses.
"""

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf

from tfp_zoo import training
from tfp_zoo.training import distribute

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)

_MIRRORED = textwrap.dedent("""
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import tf_keras
    from tfp_zoo import estimators, models
    from tfp_zoo.training import distribute, make_train_step, step_seed

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    x = tf.cast(tf.random.stateless_uniform([8, 6], seed=[1, 2]) < 0.5, tf.float32)
    failures = []
    for name, options in (("elbo", dict(num_samples=3)), ("iwae", dict(num_samples=3)),
                          ("rws", dict(num_samples=3))):
      def build():
        model = models.get("vae", input_shape=(6,), hidden_sizes=(5,), latent_sizes=(2,),
                           seed=3)
        return (model, tf_keras.optimizers.legacy.SGD(0.5),
                tf_keras.optimizers.legacy.SGD(0.5))
      # Reference: one device, the same global batch, each half with its replica's
      # seed, the mean of the two halves' gradients, one SGD step.
      model, _, _ = build()
      theta, phi = model.generative_variables, model.guide_variables
      before = [v.numpy() for v in theta + phi]
      seed = step_seed(0, tf.constant(7, tf.int64))
      grads = []
      for r in range(2):
        with tf.GradientTape(persistent=True) as tape:
          objectives = estimators.get(name)(
              model, x[4 * r:4 * r + 4],
              seed=tf.random.experimental.stateless_fold_in(seed, r), **options)
        grads.append(tape.gradient(objectives.generative_loss, theta)
                     + tape.gradient(objectives.guide_loss, phi))
      expected = [b - 0.5 * (g0 + g1) / 2 for b, g0, g1 in zip(before, *grads)]
      # Same-seed replicas (the bug) would give the update of one seed on both halves.
      same_seed = []
      for r in range(2):
        with tf.GradientTape(persistent=True) as tape:
          objectives = estimators.get(name)(model, x[4 * r:4 * r + 4], seed=seed, **options)
        same_seed.append(tape.gradient(objectives.generative_loss, theta)
                         + tape.gradient(objectives.guide_loss, phi))
      wrong = [b - 0.5 * (g0 + g1) / 2 for b, g0, g1 in zip(before, *same_seed)]

      with strategy.scope():
        mirrored, gen_opt, guide_opt = build()
      step = make_train_step(mirrored, estimators.get(name), gen_opt, guide_opt, seed=0,
                             strategy=strategy, **options)
      batches = distribute.distribute_batches(
          strategy, tf.data.Dataset.from_tensors(x), global_batch_size=8)
      metrics = step(next(iter(batches)), tf.constant(7, tf.int64))
      after = [v.numpy() for v in mirrored.generative_variables + mirrored.guide_variables]
      moved = max(float(np.abs(a - b).max()) for a, b in zip(after, before))
      error = max(float(np.abs(a - e).max()) for a, e in zip(after, expected))
      wrong_error = max(float(np.abs(a - w).max()) for a, w in zip(after, wrong))
      print(name, "moved", moved, "error", error, "same-seed error", wrong_error)
      # Equal up to float rounding; a sum over replicas (no 1/R) would be off by ~moved/2.
      if not (moved > 1e-2 and error < 1e-5 and wrong_error > 1e-2):
        failures.append(name)
      if not all(np.isfinite(float(v)) for v in metrics.values()):
        failures.append(name + " metrics")
    print("FAILURES", failures)
""")


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


_WORKER = textwrap.dedent("""
    import sys
    from tfp_zoo import training
    workdir, steps = sys.argv[1], int(sys.argv[2])
    config = training.TrainConfig(
        workdir=workdir, model="vae", model_hparams={"hidden_sizes": (8,), "latent_sizes": (2,)},
        estimator="iwae", num_samples=2, batch_size=20, train_steps=steps, log_every=2,
        checkpoint_every=3, eval_num_samples=5, eval_examples=10,
        strategy="multi_worker_mirrored")
    result = training.train(config)  # this worker's own copy of the weights:
    print("CHECKSUM", repr(result["parameter_checksum"]))
    print("WORKER DONE", result["step"])
""")


_MIRRORED_ALWS = textwrap.dedent("""
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from tfp_zoo import estimators, models, training
    from tfp_zoo.training import distribute

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    x = tf.cast(tf.random.stateless_uniform([8, 6], seed=[1, 2]) < 0.5, tf.float32)
    bound = estimators.bind("alws", num_sleep_samples=32, num_features=16, ridge_every=2,
                            monitor_every=2)
    with strategy.scope():
      trainer = training.Trainer(models.get("vae", input_shape=(6,), hidden_sizes=(5,),
                                            latent_sizes=(2,)), bound, learning_rate=0.01,
                                 strategy=strategy)
    batches = iter(distribute.distribute_batches(
        strategy, tf.data.Dataset.from_tensors(x).repeat(), global_batch_size=8))
    for _ in range(3):
      metrics = trainer(next(batches))
    copies = {name: [float(v) for v in strategy.experimental_local_results(variable)]
              for name, variable in (("calls", trainer.state.calls),
                                     ("ridge", trainer.state.ridge))}
    print("COPIES", copies, "FINITE", all(np.isfinite(v) for v in metrics.values()))
""")


class DistributeTest(tf.test.TestCase):

  @pytest.mark.slow  # a second interpreter; fast tier: the strategy path on one replica
  def test_mirrored_update_equals_the_single_device_update(self):
    process = subprocess.run([sys.executable, "-c", _MIRRORED], capture_output=True,
                             text=True, env=ENV, timeout=600)
    self.assertEqual(process.returncode, 0, process.stderr[-3000:])
    self.assertIn("FAILURES []", process.stdout, process.stdout)

  @pytest.mark.slow  # a second interpreter; the mirrored update above is the fast check
  def test_alws_state_stays_the_same_on_every_replica(self):
    # ALWS's state (λ, the step count, the monitor) is assigned inside the
    # step; every replica keeps the first replica's value.
    process = subprocess.run([sys.executable, "-c", _MIRRORED_ALWS], capture_output=True,
                             text=True, env=ENV, timeout=600)
    self.assertEqual(process.returncode, 0, process.stderr[-3000:])
    copies = eval(re.search(r"COPIES (\{.*\}) FINITE", process.stdout).group(1))  # pylint: disable=eval-used
    self.assertEqual(copies["calls"], [3.0, 3.0])
    self.assertEqual(copies["ridge"][0], copies["ridge"][1])
    self.assertIn("FINITE True", process.stdout)

  @pytest.mark.slow
  def test_multi_worker_run_trains_checkpoints_and_agrees(self):
    workdir = os.path.join(self.get_temp_dir(), "mwms")
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    script = os.path.join(self.get_temp_dir(), "worker.py")
    with open(script, "w") as f:
      f.write(_WORKER)
    processes = []
    for index in range(2):
      env = dict(ENV, TF_CONFIG=json.dumps({"cluster": cluster,
                                            "task": {"type": "worker", "index": index}}))
      processes.append(subprocess.Popen(
          [sys.executable, script, workdir, "6"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    outputs = [p.communicate(timeout=600) for p in processes]
    for p, (stdout, stderr) in zip(processes, outputs):
      self.assertEqual(p.returncode, 0, stderr[-3000:])
      self.assertIn("WORKER DONE 6", stdout)
    # The run says once what it is, and only the chief prints progress lines.
    said = "strategy: multi_worker_mirrored, 2 replicas on 2 workers"
    self.assertEqual([out.count(said) for out, _ in outputs], [1, 0])
    self.assertEqual([out.count("train 6/6") for out, _ in outputs], [1, 0])
    self.assertTrue(os.path.exists(os.path.join(workdir, "checkpoints", "ckpt-6.index")))
    self.assertTrue(os.path.exists(os.path.join(workdir, "results.json")))  # the chief's
    self.assertEqual([d for d in os.listdir(workdir) if "scratch" in d], [])
    # Both workers hold the same weights in memory, and the chief saved them.
    checksums = [float(re.search(r"CHECKSUM (\S+)", out).group(1)) for out, _ in outputs]
    self.assertEqual(checksums[0], checksums[1])
    model, _, step = training.restore_model(workdir)
    self.assertEqual(step, 6)
    saved = sum(float(np.sum(v.numpy().astype(np.float64))
                      + np.sum(np.square(v.numpy().astype(np.float64))))
                for v in model.trainable_variables)
    self.assertAllClose(saved, checksums[0], rtol=1e-12)
    with open(os.path.join(workdir, "results.json")) as f:
      self.assertEqual(json.load(f)["parameter_checksum"], checksums[0])

  def test_describe_says_strategy_replicas_and_workers(self):
    self.assertEqual(distribute.describe(distribute.make_strategy("default"), "default"),
                     "strategy: default, 1 replica on 1 worker")
    self.assertEqual(distribute.describe(distribute.make_strategy("one_device"), "one_device"),
                     "strategy: one_device, 1 replica on 1 worker (CPU:0)")

  def test_strategy_errors_name_the_flag(self):
    with self.assertRaisesRegex(distribute.StrategyError, "--strategy='gpu': one of default"):
      distribute.make_strategy("gpu")
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    with mock.patch.dict(os.environ, env, clear=True):
      with self.assertRaisesRegex(distribute.StrategyError, "needs the TF_CONFIG"):
        distribute.make_strategy("multi_worker_mirrored")

  def test_tpu_strategy_fails_fast_without_a_tpu(self):
    for address, reason in (("grpc://127.0.0.1:1", "cannot connect"),
                            ("local", "this machine has no TPU devices"),
                            ("", "this machine has no TPU devices")):
      with self.assertRaisesRegex(
          distribute.StrategyError,
          f"--strategy=tpu: no TPU reachable at --tpu='{address}' \\({reason}.*--tpu"):
        distribute.make_strategy("tpu", tpu=address)

  def test_single_replica_seed_is_unchanged(self):
    seed = tf.constant([3, 4])
    self.assertAllEqual(distribute.replica_seed(seed), seed)


if __name__ == "__main__":
  tf.test.main()
