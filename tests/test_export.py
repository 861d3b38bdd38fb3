"""SavedModel export: loads and samples with TensorFlow alone, reproduces the
trained model's draws, validates its inputs, and is written atomically."""

import os
import re
import subprocess
import sys
import textwrap
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
from absl.testing import parameterized

from tfp_zoo import evaluation, models, testing, training
from tfp_zoo.app import export
from tfp_zoo.models import base

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Runs in a fresh interpreter that imports only numpy and TensorFlow.
_TF_ONLY = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf

    path, reference = sys.argv[1], np.load(sys.argv[2])
    loaded = tf.saved_model.load(path)
    out = loaded.sample(tf.constant(6), tf.constant([3, 4]))
    assert out["x"].shape == (6, 28, 28, 1) and out["z"].shape == (6, 4), out
    assert set(np.unique(out["x"].numpy())) <= {0.0, 1.0}  # Bernoulli pixels
    mean = out["x_mean"].numpy()
    assert mean.min() >= 0 and mean.max() <= 1
    np.testing.assert_array_equal(out["x"].numpy(), reference["x"])
    np.testing.assert_allclose(out["z"].numpy(), reference["z"], rtol=1e-6)
    np.testing.assert_allclose(mean, reference["x_mean"], rtol=1e-5, atol=1e-6)

    decoded = loaded.decode(z=out["z"], seed=tf.constant([0, 0]))
    np.testing.assert_allclose(decoded["x_mean"].numpy(), mean, rtol=1e-5, atol=1e-6)
    codes = loaded.signatures["encode"](x=out["x"], seed=tf.constant([1, 1]))
    assert codes["z"].shape == (6, 4) and codes["z_guide_mean"].shape == (6, 4)
    ll = loaded.log_likelihood(out["x"], tf.constant(300), tf.constant([2, 2]))
    assert ll["log_likelihood"].shape == (6,) and np.all(np.isfinite(ll["log_likelihood"]))
    assert np.all(ll["log_likelihood"].numpy() < 0)
    assert np.all((ll["ess"].numpy() >= 1) & (ll["ess"].numpy() <= 300.01))
    for bad in (lambda: loaded.log_likelihood(tf.zeros([2, 28, 27, 1]), tf.constant(10),
                                              tf.constant([0, 0])),
                lambda: loaded.signatures["log_likelihood"](
                    x=tf.zeros([2, 27, 28, 1]), num_samples=tf.constant(10),
                    seed=tf.constant([0, 0]))):
      try:
        bad()
      except (ValueError, TypeError, tf.errors.InvalidArgumentError) as e:
        assert "28" in str(e), e
      else:
        raise AssertionError("a wrong image width was accepted")
    try:
      loaded.sample(tf.constant(0), tf.constant([0, 0]))
    except tf.errors.InvalidArgumentError as e:
      assert "num_samples: expected an integer >= 1" in str(e), e
    else:
      raise AssertionError("num_samples=0 was accepted")
    leaked = [m for m in sys.modules if m.startswith(("tfp_zoo", "tensorflow_probability"))]
    assert not leaked, leaked
    print("TF-ONLY OK")
""")

# Also TF-only: the exported functions refuse bad x with graph ops of their own.
_TF_ONLY_INPUT_CHECKS = textwrap.dedent("""
    import re
    import sys
    import numpy as np
    import tensorflow as tf

    loaded = tf.saved_model.load(sys.argv[1])
    seed = tf.constant([0, 0])
    images = (np.random.default_rng(0).random((3, 28, 28, 1)) < 0.5).astype(np.float32)
    ll = loaded.log_likelihood(tf.constant(images), tf.constant(10), seed)
    assert np.all(np.isfinite(ll["log_likelihood"].numpy())), ll

    def message_line(error):
      # The op's own line: TF puts a {{function_node ...}} tag in front of it,
      # or "Graph execution error:" and a stack above it.
      lines = re.sub(r"\\{\\{function_node [^}]*\\}\\} ", "", error.message).splitlines()
      ends = [i for i, line in enumerate(lines) if line.startswith("\\t [[")]
      line = lines[ends[0] - 1] if ends else lines[0]
      assert not line.endswith("Tensor had NaN values"), line
      match = re.fullmatch(r"assertion failed: \\[(.*)\\]", line)
      return match.group(1) if match else line

    nan = images.copy()
    nan[1, 5, 5, 0] = np.nan
    cases = ((images * 255, "x: expected values in [0, 1]", "divide 8-bit images by 255"),
             (nan, "x: expected finite values", "NaN"))
    for bad, start, hint in cases:
      calls = {
          "log_likelihood": lambda: loaded.log_likelihood(tf.constant(bad), tf.constant(10),
                                                          seed),
          "log_likelihood signature": lambda: loaded.signatures["log_likelihood"](
              x=tf.constant(bad), num_samples=tf.constant(10), seed=seed),
          "encode": lambda: loaded.encode(tf.constant(bad), seed)}
      for name, call in calls.items():
        try:
          call()
        except tf.errors.InvalidArgumentError as e:
          line = message_line(e)
          assert line.startswith(start) and hint in line, (name, e.message)
        else:
          raise AssertionError(f"{name} accepted {start}")
    try:
      loaded.log_likelihood(tf.constant(images), tf.constant(0), seed)
    except tf.errors.InvalidArgumentError as e:
      assert message_line(e).startswith("num_samples: expected an integer >= 1"), e.message
    else:
      raise AssertionError("num_samples=0 was accepted")
    leaked = [m for m in sys.modules if m.startswith(("tfp_zoo", "tensorflow_probability"))]
    assert not leaked, leaked
    print("TF-ONLY CHECKS OK")
""")

# TF-only: an IAF-guide model encodes, and its log-likelihood is exact where
# the guide is the posterior (every importance weight is then p(x)).
_TF_ONLY_FLOW_GUIDE = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf

    loaded, reference = tf.saved_model.load(sys.argv[1]), np.load(sys.argv[2])
    x = tf.constant(reference["x"])
    codes = loaded.encode(x, tf.constant([1, 1]))
    assert codes["z"].shape == (4, 2) and np.all(np.isfinite(codes["z"].numpy())), codes
    ll = loaded.log_likelihood(x, tf.constant(300), tf.constant([2, 2]))
    np.testing.assert_allclose(ll["log_likelihood"].numpy(), reference["exact"], atol=2e-3)
    np.testing.assert_allclose(ll["ess"].numpy(), 300, rtol=1e-3)
    leaked = [m for m in sys.modules if m.startswith(("tfp_zoo", "tensorflow_probability"))]
    assert not leaked, leaked
    print("TF-ONLY FLOW OK")
""")


def _tiny_workdir(test, **overrides):
  fields = dict(workdir=os.path.join(test.get_temp_dir(), "run"), model="vae",
                model_hparams={"hidden_sizes": (16,), "latent_sizes": (4,)},
                estimator="iwae", num_samples=2, batch_size=20, train_steps=5,
                checkpoint_every=5, log_every=5, eval_num_samples=5, eval_examples=10)
  fields.update(overrides)
  training.train(training.TrainConfig(**fields))
  return fields["workdir"]


def _reference_sample(model, n, seed):
  joint = model.joint()
  values = joint.sample(n, seed=tf.constant(seed))
  dists, _ = joint.sample_distributions(value=values, seed=tf.constant(seed))
  return values, getattr(dists, base.OBSERVATION).mean()


# Each kind of latent and network; the fast tier exports one model of each kind
# of latent (real, binary, categorical, spherical), TFP_ZOO_FULL_PRODUCT=1 the rest.
ROUND_TRIPS = testing.sample_product([
    dict(kind="real", name="vae",
         hparams=dict(hidden_sizes=(8,), latent_sizes=(4, 3), stochastic_layers=2)),
    dict(kind="real", name="vae/vampprior",
         hparams=dict(hidden_sizes=(8,), latent_sizes=(2,), prior="vampprior",
                      prior_components=4)),
    dict(kind="real", name="vae/flows",
         hparams=dict(hidden_sizes=(8,), latent_sizes=(3,), guide="iaf", prior="flow")),
    dict(kind="real", name="vae/full_covariance",
         hparams=dict(hidden_sizes=(8,), latent_sizes=(3,), guide="full_covariance")),
    dict(kind="real", name="vae/conv",
         hparams=dict(architecture="conv", conv_channels=(4,), residual_blocks=1,
                      latent_sizes=(3,))),
    dict(kind="real", name="vae/8_bit",
         hparams=dict(likelihood="discretized_logistic_mixture", hidden_sizes=(8,),
                      latent_sizes=(2,))),
    dict(kind="binary", name="sigmoid_belief_net", hparams=dict(layer_sizes=(3, 5))),
    dict(kind="categorical", name="gaussian_mixture", hparams=dict(num_components=3)),
    dict(kind="spherical", name="hyperspherical_vae",
         hparams=dict(latent_dim=3, hidden_sizes=(8,)))],
    meets=(("kind", "name", 1),), size=4, name=lambda c: c["name"].replace("/", "_"))


# TF-only, under an address-space limit: requests too large for memory or for
# int32 shapes are refused with the reason, the estimate is near the real
# peak, and decode checks its latents as encode checks x.
_TF_ONLY_SIZES = textwrap.dedent("""
    import re, resource, sys
    import numpy as np
    import tensorflow as tf

    limit = 8 * 2**30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    loaded = tf.saved_model.load(sys.argv[1])
    seed = tf.constant([0, 0])

    def refused(call, pattern):
      try:
        call()
      except tf.errors.InvalidArgumentError as e:
        lines = [l for l in e.message.splitlines() if "assertion failed: [" in l]
        assert lines and re.search(pattern, lines[0]), e.message
        assert "Tensor had NaN values" not in e.message, e.message
      else:
        raise AssertionError(f"accepted: {pattern}")

    refused(lambda: loaded.sample(tf.constant(10**9), seed),
            r"num_samples = 1000000000 needs \\d+ elements, beyond the int32 shapes")
    refused(lambda: loaded.sample(tf.constant(200000), seed),
            r"num_samples = 200000 needs about [\\d.]+ GiB and [\\d.]+ GiB is available")
    x = tf.zeros([2, 50, 50, 1])
    refused(lambda: loaded.log_likelihood(x, tf.constant(2**31 - 1), seed),
            r"num_samples × batch = 4294967294 needs")
    out = loaded.sample(tf.constant(3), seed)
    latents = {n.decode(): out[n.decode()] for n in loaded.latent_names.numpy()}
    name = sorted(k for k, v in latents.items() if v.dtype.is_floating)[0]
    nan = dict(latents, **{name: latents[name] * np.nan})
    refused(lambda: loaded.decode(**nan, seed=seed), f"{name}: expected finite values")
    other = [k for k in latents if k != name][0]
    short = dict(latents, **{other: latents[other][:2]})
    refused(lambda: loaded.decode(**short, seed=seed), "needs the same batch size")
    # The estimate against the real growth of the peak resident memory, the
    # peak (VmHWM) reset just before the call so that earlier peaks (and the
    # parent's, which ru_maxrss would include) do not hide it.
    def status(field):
      return [int(l.split()[1]) * 1024 for l in open("/proc/self/status")
              if l.startswith(field + ":")][0]
    with open("/proc/self/clear_refs", "w") as f:
      f.write("5")  # VmHWM back to the current RSS
    before = status("VmRSS")
    loaded.sample(tf.constant(4000), seed)
    grown = status("VmHWM") - before
    ratio = 4000 * int(loaded.sample_bytes) / grown
    assert 0.5 < ratio < 2, (ratio, grown)
    print(f"TF-ONLY SIZES OK {ratio:.2f}")
""")


def _run_tensorflow_only(test, script_text, *args, timeout=300):
  """Runs `script_text` with `args` in an interpreter that cannot import this
  package (no PYTHONPATH); asserts it succeeds and returns its stdout."""
  script = os.path.join(test.get_temp_dir(), "tf_only_script.py")
  with open(script, "w") as f:
    f.write(script_text)
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  process = subprocess.run([sys.executable, script, *args], capture_output=True, text=True,
                           timeout=timeout, cwd=test.get_temp_dir(),
                           env=dict(env, TF_CPP_MIN_LOG_LEVEL="2"))
  test.assertEqual(process.returncode, 0, process.stderr[-3000:])
  return process.stdout


class ExportTest(tf.test.TestCase, parameterized.TestCase):

  @pytest.mark.slow  # two launcher processes
  def test_a_second_export_to_the_same_output_is_refused_and_leftovers_go(self):
    # Two launchers racing for one output cannot be timed reliably on a loaded
    # host; the lock they would contend for is held here instead.
    workdir = _tiny_workdir(self)
    root = self.create_tempdir().full_path
    output = os.path.join(root, "model")
    for leftover in ("model.tmp-killed1", "model.old-killed2"):  # a killed export's
      os.makedirs(os.path.join(root, leftover, "variables"))
    os.makedirs(os.path.join(root, "other.tmp-keep"))  # another output's: kept
    # An export to the same output in progress (here: this process holds its lock).
    with export._export_lock(output):  # pylint: disable=protected-access
      second = testing.start_launcher("export.py", f"--workdir={workdir}",
                                      f"--output={output}")
      stdout, stderr = second.communicate(timeout=300)
    self.assertNotEqual(second.returncode, 0, stdout)
    self.assertNotIn("Traceback", stderr)
    self.assertRegex(stderr.strip().splitlines()[-1],
                     rf"^FATAL ExportError: --output={re.escape(output)} is being written by "
                     rf"another export \(PID {os.getpid()}\); wait for it")
    self.assertFalse(os.path.exists(output))
    # Once it is done, the next export goes ahead and clears a killed one's leftovers.
    again = testing.start_launcher("export.py", f"--workdir={workdir}", f"--output={output}")
    _, stderr = again.communicate(timeout=300)
    self.assertEqual(again.returncode, 0, stderr[-2000:])
    self.assertEqual(sorted(os.listdir(root)), ["model", "other.tmp-keep"])
    tf.saved_model.load(output)  # the first export is whole

  @pytest.mark.slow  # a TensorFlow-only process under RLIMIT_AS
  def test_requests_too_large_are_refused_with_the_reason(self):
    model = models.get("air", input_shape=(50, 50, 1))
    path = export.export_model(model, os.path.join(self.get_temp_dir(), "air"))
    self.assertIn("TF-ONLY SIZES OK", _run_tensorflow_only(self, _TF_ONLY_SIZES, path,
                                                            timeout=600))

  @pytest.mark.slow
  def test_launcher_export_runs_in_a_tensorflow_only_process(self):
    workdir = _tiny_workdir(self)
    model, _, _ = training.restore_model(workdir)
    values, mean = _reference_sample(model, 6, [3, 4])
    reference = os.path.join(self.get_temp_dir(), "reference.npz")
    np.savez(reference, x=values.x.numpy(), z=values.z.numpy(), x_mean=mean.numpy())
    output = os.path.join(self.get_temp_dir(), "exported")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
    process = subprocess.run([sys.executable, os.path.join(ROOT, "launchers", "export.py"),
                              f"--workdir={workdir}", f"--output={output}"],
                             capture_output=True, text=True, env=env, timeout=300)
    self.assertEqual(process.returncode, 0, process.stderr[-3000:])
    self.assertIn(f"wrote {output}", process.stdout)
    again = subprocess.run([sys.executable, os.path.join(ROOT, "launchers", "export.py"),
                            f"--workdir={workdir}", f"--output={output}"],
                           capture_output=True, text=True, env=env, timeout=300)
    self.assertNotEqual(again.returncode, 0)
    self.assertIn("already exists; pass --overwrite", again.stderr.strip().splitlines()[-1])

    script = os.path.join(self.get_temp_dir(), "tf_only.py")
    with open(script, "w") as f:
      f.write(_TF_ONLY)
    clean_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    process = subprocess.run([sys.executable, script, output, reference],
                             capture_output=True, text=True, timeout=300,
                             cwd=self.get_temp_dir(), env=dict(clean_env,
                                                               TF_CPP_MIN_LOG_LEVEL="2"))
    self.assertEqual(process.returncode, 0, process.stderr[-3000:])
    self.assertIn("TF-ONLY OK", process.stdout)

  @pytest.mark.slow
  def test_flow_guide_encodes_and_evaluates_in_a_tensorflow_only_process(self):
    model = models.get("linear_gaussian", input_shape=(6,), latent_size=2, guide="iaf",
                       flow_layers=2, seed=3)
    model.set_guide_to_exact_posterior()
    x = model.joint().sample(4, seed=tf.constant([8, 8])).x
    reference = os.path.join(self.get_temp_dir(), "flow_reference.npz")
    np.savez(reference, x=x.numpy(), exact=model.exact_log_likelihood(x).numpy())
    path = export.export_model(model, os.path.join(self.get_temp_dir(), "flow_guide"))
    script = os.path.join(self.get_temp_dir(), "tf_only_flow.py")
    with open(script, "w") as f:
      f.write(_TF_ONLY_FLOW_GUIDE)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    process = subprocess.run([sys.executable, script, path, reference], capture_output=True,
                             text=True, timeout=300, cwd=self.get_temp_dir(),
                             env=dict(env, TF_CPP_MIN_LOG_LEVEL="2"))
    self.assertEqual(process.returncode, 0, process.stderr[-3000:])
    self.assertIn("TF-ONLY FLOW OK", process.stdout)

  @parameterized.named_parameters(*ROUND_TRIPS)
  def test_every_kind_of_latent_round_trips(self, kind, name, hparams):
    del kind  # the sample's cover
    model = models.get(name.split("/")[0], input_shape=(28, 28, 1), **hparams)
    path = export.export_model(model, os.path.join(self.get_temp_dir(),
                                                   name.replace("/", "_")))
    loaded = tf.saved_model.load(path)
    values, mean = _reference_sample(model, 5, [5, 6])
    out = loaded.sample(tf.constant(5), tf.constant([5, 6]))
    for latent in model.latent_names:
      self.assertAllClose(out[latent], getattr(values, latent), msg=f"{name}.{latent}")
    self.assertAllClose(out["x_mean"], mean, rtol=1e-5, atol=1e-6)
    latents = {n: out[n] for n in model.latent_names}
    decoded = loaded.decode(**latents, seed=tf.constant([0, 0]))
    self.assertAllClose(decoded["x_mean"], mean, rtol=1e-5, atol=1e-6, msg=name)
    self.assertEqual(set(loaded.signatures), {"sample", "decode", "encode",
                                              "log_likelihood"})

  def test_a_context_iaf_guide_encodes_and_scores_as_in_python(self):
    model = models.get("vae", input_shape=(6, 6, 1), hidden_sizes=(8,), latent_sizes=(3,),
                       guide="iaf", seed=3)
    rng = np.random.default_rng(0)
    for v in model.guide_flows[0].trainable_variables:  # the context matters
      v.assign(v + 0.4 * rng.normal(size=v.shape).astype(np.float32))
    loaded = tf.saved_model.load(export.export_model(
        model, os.path.join(self.get_temp_dir(), "context_iaf")))
    x = tf.cast(tf.random.stateless_uniform([3, 6, 6, 1], seed=[2, 2]) < 0.5, tf.float32)
    seed = tf.constant([4, 4])
    encoded = loaded.encode(x, seed)
    expected = tf.function(lambda: model.guide(x).sample(seed=seed), autograph=False)()
    self.assertAllClose(encoded["z"], expected.z, rtol=1e-5, atol=1e-5)
    scored = loaded.log_likelihood(x, tf.constant(7), seed)["log_likelihood"]
    reference = tf.function(lambda: evaluation.log_likelihood_weights(
        model, x, seed=tf.random.experimental.stateless_fold_in(seed, 0), num_samples=7),
                            autograph=False)()
    self.assertAllClose(scored, tf.reduce_logsumexp(reference, 0) - np.log(7.), rtol=1e-5)

  def test_exported_log_likelihood_matches_the_exact_value(self):
    model = models.get("linear_gaussian", input_shape=(6,), latent_size=2, seed=3)
    loaded = tf.saved_model.load(export.export_model(
        model, os.path.join(self.get_temp_dir(), "lg")))
    x = model.joint().sample(4, seed=tf.constant([8, 8])).x
    # K=1001 is not a multiple of the 250-particle chunk: the padding must not count.
    out = loaded.log_likelihood(x, tf.constant(1001), tf.constant([1, 2]))
    exact = model.exact_log_likelihood(x)
    z = (out["log_likelihood"] - exact) / tf.maximum(out["stderr"], 1e-3)
    self.assertAllLess(tf.abs(z), 3.0)
    # With K=1 there is one weight and no padding weight counts: ESS is exactly 1.
    one = loaded.log_likelihood(x, tf.constant(1), tf.constant([1, 2]))
    self.assertAllClose(one["ess"], tf.ones(4))

  @pytest.mark.slow  # a second interpreter imports TensorFlow
  def test_exported_functions_refuse_nan_and_8_bit_pixels(self):
    model = models.get("vae", input_shape=(28, 28, 1), hidden_sizes=(8,), latent_sizes=(2,))
    path = export.export_model(model, os.path.join(self.get_temp_dir(), "bernoulli"))
    self.assertIn("TF-ONLY CHECKS OK", _run_tensorflow_only(self, _TF_ONLY_INPUT_CHECKS, path))

  def test_export_is_atomic_and_refuses_to_clobber(self):
    model = models.get("linear_gaussian", input_shape=(6,), latent_size=2)
    path = os.path.join(self.get_temp_dir(), "atomic")
    with mock.patch.object(tf.saved_model, "save", side_effect=RuntimeError("disk full")):
      with self.assertRaisesRegex(RuntimeError, "disk full"):
        export.export_model(model, path)
    self.assertEqual([p for p in os.listdir(self.get_temp_dir()) if "atomic" in p], [])
    export.export_model(model, path)
    stamp = os.path.getmtime(os.path.join(path, "saved_model.pb"))
    with self.assertRaisesRegex(export.ExportError, "already exists; pass --overwrite"):
      export.export_model(model, path)
    with mock.patch.object(tf.saved_model, "save", side_effect=RuntimeError("disk full")):
      with self.assertRaisesRegex(RuntimeError, "disk full"):
        export.export_model(model, path, overwrite=True)
    self.assertEqual(os.path.getmtime(os.path.join(path, "saved_model.pb")), stamp)
    export.export_model(model, path, overwrite=True)
    self.assertEqual(sorted(p for p in os.listdir(self.get_temp_dir()) if "atomic" in p),
                     ["atomic"])


if __name__ == "__main__":
  tf.test.main()
