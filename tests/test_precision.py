"""Mixed precision: bf16 matmuls in the traced graph, float32 everywhere a
density is formed, losses and gradients that match float32 to within what
bf16's 8-bit mantissa allows, and float16 training with loss scaling."""

import os

import numpy as np
import tensorflow as tf
from absl.testing import parameterized
from tensorflow.core.framework import types_pb2

from tfp_zoo import datasets, estimators, models, testing, training
from tfp_zoo.nn import precision
from tfp_zoo.estimators.base import objectives_and_gradients

UNIT_ROUNDOFF = 2.0 ** -8  # bfloat16: 8 significand bits


def _digits(n=100):
  return tf.constant(datasets.eval_images(datasets.load_images("mnist_small", "test")[:n],
                                          binarization="dynamic"))


def _iwae_and_gradients(model, x, name, num_samples=5):
  @tf.function(autograph=False)
  def run():
    with precision.using(name):
      return objectives_and_gradients(
          lambda: estimators.iwae(model, x, seed=tf.constant([1, 2]), num_samples=num_samples),
          model.generative_variables, model.guide_variables)
  objectives, theta, phi = run()
  flat = lambda grads: np.concatenate([g.numpy().ravel() for g in grads])  # noqa: E731
  return float(objectives.generative_loss), flat(theta), flat(phi), run


def _float64_ops(concrete_function):
  """Ops of a traced function (its nested functions included) with a float64 type."""
  graph_def = concrete_function.graph.as_graph_def()
  nodes = list(graph_def.node) + [n for f in graph_def.library.function for n in f.node_def]
  return sorted({node.op for node in nodes for attr in node.attr.values()
                 if attr.type == types_pb2.DT_DOUBLE or types_pb2.DT_DOUBLE in attr.list.type})


def _step(model, name, *, tpu_safe, precision_name="float32", **options):
  if estimators.accepts(name, "num_samples") and name != "alws":
    options["num_samples"] = 2
  if estimators.accepts(name, "dataset_size"):
    options["dataset_size"] = 10
  bound = estimators.bind(name, **options)
  state = bound.init(model)
  return training.make_train_step(
      model, bound, training.make_optimizer(1e-3, model.generative_variables),
      training.make_optimizer(1e-3, tuple(model.guide_variables) + (
          tuple(state.trainable_variables) if state else ())),
      state=state, precision=precision_name, tpu_safe=tpu_safe)


_MODELS = {
    "mlp": lambda: models.get("vae", input_shape=(6, 6, 1), hidden_sizes=(8,),
                              latent_sizes=(2,)),
    "conv": lambda: models.get("vae", input_shape=(6, 6, 1), architecture="conv",
                               conv_channels=(2,), latent_sizes=(2,))}
# Every estimator on an MLP model, a few on the conv net; the fast tier runs a
# sample with both models, TFP_ZOO_FULL_PRODUCT=1 the rest.
BF16_CASES = testing.sample_product(
    [dict(model="mlp", name=name) for name in estimators.names()]
    + [dict(model="conv", name=name) for name in ("iwae", "dreg", "rws")],
    meets=(("model", "name", 2),), size=4)
_ALWS = {"num_sleep_samples": 20, "ridge": 1e-5}
_FEATURES = {"num_features": 10}
# Every estimator in TPU-safe mode; the fast tier runs ALWS (whose solves and
# Nyström features are float64 otherwise) with each solver, and two others.
TPU_CASES = testing.sample_product(
    [dict(name="alws", solver=solver) for solver in ("random_features", "nystrom", "exact")]
    + [dict(name=name, solver=None) for name in estimators.names() if name != "alws"],
    meets=(("solver", "name", 1),), size=5)


def _tpu_options(name, solver):
  if name != "alws":
    return {}
  return dict(_ALWS, solver=solver, **(_FEATURES if solver != "exact" else {}))


class PrecisionTest(tf.test.TestCase, parameterized.TestCase):

  def test_matmuls_run_in_bf16_and_outputs_are_float32(self):
    model = models.get("vae", input_shape=(28, 28, 1))
    *_, run = _iwae_and_gradients(model, _digits(4), "bfloat16")
    graph = run.get_concrete_function().graph
    matmuls = [op for op in graph.get_operations() if op.type == "MatMul"]
    self.assertNotEmpty(matmuls)
    self.assertTrue(all(op.outputs[0].dtype == tf.bfloat16 for op in matmuls))
    with precision.using("bfloat16"):
      out = model.decoders[0](tf.zeros([3, 50]))
    self.assertEqual(out.dtype, tf.float32)
    # Outside `using`, nothing is bf16 (the broken variant of a forgotten context).
    *_, plain = _iwae_and_gradients(model, _digits(4), "float32")
    self.assertFalse(any(op.outputs and op.outputs[0].dtype == tf.bfloat16
                         for op in plain.get_concrete_function().graph.get_operations()))

  def test_bf16_loss_and_gradients_match_float32(self):
    model = models.get("vae", input_shape=(28, 28, 1))
    x = _digits()
    loss32, theta32, phi32, _ = _iwae_and_gradients(model, x, "float32")
    loss16, theta16, phi16, _ = _iwae_and_gradients(model, x, "bfloat16")
    # Only network outputs carry bf16 rounding (relative u each, independent
    # signs); the loss sums float32 log-densities of 784 pixels, so its relative
    # error is far below u: allow u/16.
    self.assertLess(abs(loss16 - loss32) / abs(loss32), UNIT_ROUNDOFF / 16)
    # Broken variant: log-densities summed in bf16 (the loss itself rounded to
    # 8 bits) is caught by the same tolerance.
    rounded = float(tf.cast(tf.cast(loss32, tf.bfloat16), tf.float32))
    summed16 = float(tf.reduce_sum(tf.cast(tf.fill([784], loss32 / 784), tf.bfloat16)))
    self.assertGreater(max(abs(rounded - loss32), abs(summed16 - loss32)) / abs(loss32),
                       UNIT_ROUNDOFF / 16)
    # Gradients pass through bf16 matmuls forward and backward: each component
    # carries a few u of relative error; the direction is kept.
    for g16, g32 in ((theta16, theta32), (phi16, phi32)):
      self.assertLess(np.linalg.norm(g16 - g32) / np.linalg.norm(g32), 32 * UNIT_ROUNDOFF)
      cosine = g16 @ g32 / (np.linalg.norm(g16) * np.linalg.norm(g32))
      self.assertGreater(cosine, 0.995)

  def test_conv_guide_samples_float32_under_bf16(self):
    conv = _MODELS["conv"]()
    x = tf.cast(tf.random.stateless_uniform([3, 6, 6, 1], seed=[0, 1]) < 0.4, tf.float32)
    with precision.using("bfloat16"):
      z = conv.guide(x).sample(seed=[1, 2]).z
      self.assertEqual(z.dtype, tf.float32)

  @parameterized.named_parameters(*BF16_CASES)
  def test_every_estimator_steps_under_bf16(self, model, name):
    model = _MODELS[model]()
    x = tf.cast(tf.random.stateless_uniform([3, 6, 6, 1], seed=[0, 1]) < 0.4, tf.float32)
    options = {"num_samples": 2} if estimators.accepts(name, "num_samples") else {}
    if estimators.accepts(name, "dataset_size"):
      options["dataset_size"] = 10
    bound = estimators.bind(name, **options)
    state = bound.init(model)
    step = training.make_train_step(
        model, bound, training.make_optimizer(1e-3, model.generative_variables),
        training.make_optimizer(1e-3, tuple(model.guide_variables) + (
            tuple(state.trainable_variables) if state else ())),
        state=state, precision="bfloat16")
    metrics = step(x, tf.constant(0, tf.int64))
    self.assertEqual(float(metrics[training.train_step.FINITE]), 1.0, name)

  @parameterized.named_parameters(*TPU_CASES)
  def test_tpu_configuration_builds_no_float64_op(self, name, solver):
    options = _tpu_options(name, solver)
    mlp = _MODELS["mlp"]()
    x = tf.cast(tf.random.stateless_uniform([4, 6, 6, 1], seed=[0, 1]) < 0.4, tf.float32)
    step = _step(mlp, name, tpu_safe=True, precision_name="bfloat16", **options)
    concrete = step.get_concrete_function(x, tf.constant(0, tf.int64))
    self.assertEqual(_float64_ops(concrete), [], f"{name} {options}")
    metrics = step(x, tf.constant(0, tf.int64))
    self.assertEqual(float(metrics[training.train_step.FINITE]), 1.0, name)

  def test_the_float64_check_has_power_and_the_flags_turn_it_on(self):
    # Without TPU-safe mode, ALWS's Nyström features and small-ridge solves are float64.
    mlp = _MODELS["mlp"]()
    x = tf.cast(tf.random.stateless_uniform([4, 6, 6, 1], seed=[0, 1]) < 0.4, tf.float32)
    for solver in ("nystrom", "exact"):
      step = _step(mlp, "alws", tpu_safe=False, solver=solver, **_ALWS,
                   **(_FEATURES if solver == "nystrom" else {}))
      self.assertNotEmpty(_float64_ops(step.get_concrete_function(
          x, tf.constant(0, tf.int64))), solver)
    # --strategy=tpu turns it on; --tpu_safe selects it on any machine.
    self.assertTrue(training.TrainConfig(workdir="/tmp/x", strategy="tpu").float64_free)
    self.assertTrue(training.TrainConfig(workdir="/tmp/x", tpu_safe=True).float64_free)
    self.assertFalse(training.TrainConfig(workdir="/tmp/x").float64_free)

  def test_float16_steps_with_loss_scaling(self):
    workdir = os.path.join(self.create_tempdir().full_path, "run")
    config = training.TrainConfig(workdir=workdir, precision="mixed_float16", train_steps=3,
                                  checkpoint_every=3, log_every=3, eval_num_samples=2,
                                  eval_examples=10,
                                  model_hparams={"hidden_sizes": (16,), "latent_sizes": (2,)})
    result = training.train(config)
    self.assertTrue(np.isfinite(result["test"]["mean"]))
    with self.assertRaisesRegex(ValueError, "needs loss scaling"):
      model = models.get("vae", input_shape=(4,), likelihood="gaussian")
      training.make_train_step(model, estimators.bind("iwae"),
                               training.make_optimizer(1e-3, model.generative_variables),
                               training.make_optimizer(1e-3, model.guide_variables),
                               precision="mixed_float16")

  def test_auto_picks_bfloat16_only_where_it_measured_faster(self):
    for hardware, expected in (
        (dict(cpu_flags={"avx2", "fma"}), "float32"),  # AVX2 only: bf16 was 0.90-0.95x
        (dict(cpu_flags={"avx2", "avx512f"}), "float32"),
        (dict(cpu_flags={"avx2", "avx512f", "avx512_bf16"}), "bfloat16"),  # 1.2-1.8x
        (dict(cpu_flags={"avx2", "amx_bf16", "amx_tile"}), "bfloat16"),  # AMX: 4x
        (dict(cpu_flags=()), "float32"),
        (dict(device_kind="TPU"), "bfloat16"),
        (dict(device_kind="GPU", compute_capability=(8, 0)), "bfloat16"),
        (dict(device_kind="GPU", compute_capability=(7, 5)), "float32"),
        (dict(device_kind="GPU"), "float32")):
      chosen, reason = precision.auto_precision(**hardware)
      self.assertEqual(chosen, expected, str(hardware))
      self.assertNotEmpty(reason)
    host = precision.host_hardware()
    self.assertEqual(host["device_kind"], "CPU")
    self.assertIn(precision.auto_precision(**host)[0], precision.PRECISIONS)
    self.assertEqual(precision.host_hardware("tpu")["device_kind"], "TPU")

  def test_auto_is_the_launchs_default_pinned_and_logged(self):
    config = training.TrainConfig(workdir="/tmp/x")
    self.assertEqual(config.precision, "auto")
    decided, reason = config.resolved_precision()
    self.assertEqual(config.step_config().precision, decided)
    self.assertIsNotNone(reason)
    self.assertEqual(training.TrainConfig(workdir="/tmp/x", precision="float32")
                     .resolved_precision(), ("float32", None))

  def test_bad_precision_is_named(self):
    with self.assertRaisesRegex(ValueError, "^precision='float8': expected one of float32, "
                                "bfloat16, mixed_float16$"):
      with precision.using("float8"):
        pass
    with self.assertRaisesRegex(training.ConfigError, "^--precision='fp16': expected one of "
                                "float32, bfloat16, mixed_float16$"):
      training.TrainConfig(workdir="/tmp/x", precision="fp16").validate()


if __name__ == "__main__":
  tf.test.main()
