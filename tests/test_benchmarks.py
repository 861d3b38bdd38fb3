"""The quality benchmarks run end to end (tiny settings, shipped data) and
write their tables, JSON and plots."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

pytestmark = pytest.mark.slow  # end to end: .ci/run's second step

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(script, *args):
  process = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", script), *args],
                           capture_output=True, text=True, timeout=600,
                           env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  assert process.returncode == 0, process.stderr[-3000:]
  return process.stdout


def _EMPTY_DATA_DIR(test):  # pylint: disable=invalid-name
  """A --data_dir with no MNIST: a script that ignored --dataset would fail."""
  return f"--data_dir={test.create_tempdir().full_path}"


class BenchmarksTest(tf.test.TestCase):

  def test_throughput_measures_guide_and_prior_variants(self):
    stdout = _run("throughput.py", "--estimators=iwae,beta_tc_vae", "--ks=2", "--jit=off",
                  "--seconds=0.05", "--torch=false", "--eval_memory=false", "--variant=",
                  "--variant=guide=iaf,flow_layers=1")
    rows = [line.split(" | ") for line in stdout.splitlines() if line.startswith("| tfp_zoo")]
    self.assertEqual([(r[2], r[3]) for r in rows],
                     [("iwae", "-"), ("beta_tc_vae", "-"), ("iwae", "guide=iaf,flow_layers=1"),
                      ("beta_tc_vae", "guide=iaf,flow_layers=1")])
    self.assertGreater(float(rows[2][6]), 0)  # examples/s of the IAF guide
    self.assertIn("n/a: beta_tc_vae needs per-dimension marginals", rows[3][6])

  def test_throughput_measures_precisions(self):
    stdout = _run("throughput.py", "--estimators=iwae", "--ks=2", "--jit=off",
                  "--seconds=0.05", "--torch=false", "--eval_memory=false",
                  "--precisions=float32,bfloat16,mixed_float16")
    rows = [line.split(" | ") for line in stdout.splitlines() if line.startswith("| tfp_zoo")]
    self.assertEqual([r[3] for r in rows],
                     ["-", "precision=bfloat16", "precision=mixed_float16"])
    self.assertTrue(all(float(r[6]) > 0 for r in rows))  # examples/s

  def test_throughput_conv_and_pytorch_references(self):
    pytest.importorskip("torch")
    stdout = _run("throughput.py", "--estimators=iwae", "--ks=2", "--conv_ks=2", "--jit=off",
                  "--seconds=0.05", "--eval_memory=false", "--precisions=float32,bfloat16",
                  "--torch_bf16", "--torch_threads=1,2", "--conv", "--batch_size=4")
    rows = [line.split(" | ") for line in stdout.splitlines()
            if line.startswith(("| tfp_zoo", "| pytorch"))]
    for network in ("mlp", "conv"):
      mine = [(r[0].lstrip("| "), r[3]) for r in rows if r[1] == network]
      self.assertEqual(mine, [("pytorch, 1 thread", "-"), ("pytorch, 2 threads", "-"),
                              ("pytorch, 1 thread", "bf16 autocast"),
                              ("pytorch, 2 threads", "bf16 autocast"),
                              ("tfp_zoo", "-"), ("tfp_zoo", "precision=bfloat16")])
      ratios = [float(r[8].rstrip("x")) for r in rows if r[1] == network]
      # The reference is the fastest float32 PyTorch run: 1.00x, the other below.
      self.assertEqual(max(ratios[:2]), 1.0)
      self.assertTrue(all(v > 0 for v in ratios))

  def test_step_breakdown(self):
    stdout = _run("step_breakdown.py", "--k=2", "--batch_size=4", "--seconds=0.05")
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[1:]
            for line in stdout.splitlines() if line.startswith("| ") and "---" not in line}
    self.assertEqual(list(rows), ["part", "step", "networks", "likelihood", "adam",
                                  "remainder"])
    self.assertTrue(all(float(v.rstrip(" |")) > 0 for v in rows["step"]))

  def test_precision_accuracy(self):
    out = self.create_tempdir().full_path
    stdout = _run("precision_accuracy.py", "--dataset=mnist_small", _EMPTY_DATA_DIR(self),
                  f"--workdir_root={out}", "--train_steps=5", "--num_samples=2",
                  "--eval_examples=20", "--eval_num_samples=10", "--timing_examples=30")
    self.assertIn("trained in bf16 (evaluated in fp32):", stdout)
    with open(os.path.join(out, "results.json")) as f:
      results = json.load(f)
    for key in ("bf16_training", "bf16_evaluation"):
      self.assertTrue(np.isfinite(results[key]["difference"]))
      self.assertGreater(results[key]["paired_stderr"], 0)
    self.assertGreater(results["evaluation_timing"]["speedup"], 0)
    # Rerun: both trained runs are reused.
    self.assertEqual(_run("precision_accuracy.py", "--dataset=mnist_small",
                          _EMPTY_DATA_DIR(self), f"--workdir_root={out}", "--train_steps=5",
                          "--num_samples=2", "--eval_examples=20",
                          "--eval_num_samples=10").count("trained earlier"), 2)

  def test_image_models(self):
    out = self.create_tempdir().full_path
    stdout = _run("image_models.py", "--dataset=mnist_small", _EMPTY_DATA_DIR(self),
                  f"--workdir_root={out}", "--train_steps=3", "--eval_examples=10",
                  "--eval_num_samples=4", "--rows=mlp-bernoulli,conv-dlogistic")
    rows = [line.split(" | ") for line in stdout.splitlines()
            if line.startswith("| ") and not line.startswith("| row |")]
    self.assertEqual([r[0].lstrip("| ") for r in rows], ["mlp-bernoulli", "conv-dlogistic"])
    self.assertEqual(rows[0][5], "")           # binarised: nats only
    self.assertGreater(float(rows[1][5]), 0)   # 8-bit: bits/dim
    for name in ("mlp-bernoulli", "conv-dlogistic"):
      self.assertGreater(os.path.getsize(os.path.join(out, f"{name}_samples.png")), 1000)
    self.assertIn("done earlier", _run("image_models.py", "--dataset=mnist_small",
                                       _EMPTY_DATA_DIR(self), f"--workdir_root={out}",
                                       "--train_steps=3", "--eval_examples=10",
                                       "--eval_num_samples=4", "--rows=mlp-bernoulli"))

  def test_gradient_snr(self):
    out = self.create_tempdir().full_path
    stdout = _run("gradient_snr.py", "--dataset=mnist_small", _EMPTY_DATA_DIR(self),
                  f"--workdir={out}/run",
                  "--warmup_steps=20", "--budgets=1,4", "--num_draws=3",
                  "--estimators=iwae,miwae", f"--output={out}")
    self.assertIn("| guide (φ) SNR | T=1 | T=4 |", stdout)
    self.assertTrue(os.path.getsize(os.path.join(out, "gradient_snr.png")) > 1000)
    with open(os.path.join(out, "gradient_snr.json")) as f:
      rows = json.load(f)["rows"]
    self.assertEqual([(r["estimator"], r["T"]) for r in rows],
                     [("iwae", 1), ("iwae", 4), ("miwae", 1), ("miwae", 4)])
    self.assertEqual((rows[3]["num_samples"], rows[3]["num_groups"]), (2, 2))
    self.assertTrue(all(r["guide_snr"] > 0 and r["model_snr"] > 0 for r in rows))

  def test_sbn_quality(self):
    out = self.create_tempdir().full_path
    stdout = _run("sbn_quality.py", "--dataset=mnist_small", _EMPTY_DATA_DIR(self),
                  f"--workdir_root={out}",
                  "--layer_sizes=5-10", "--train_steps=20", "--curve_points=2",
                  "--eval_examples=20", "--eval_num_samples=10")
    self.assertIn("| wake_sleep | 20 |", stdout)
    self.assertIn("| rws | 20 |", stdout)
    self.assertTrue(os.path.getsize(os.path.join(out, "sbn_quality.png")) > 1000)
    with open(os.path.join(out, "sbn_quality.json")) as f:
      rows = json.load(f)
    self.assertEqual([r["curve"][0] for r in rows], [[10, 20], [10, 20]])

  def test_mnist_table(self):
    out = self.create_tempdir().full_path
    args = ["--dataset=mnist_small", _EMPTY_DATA_DIR(self), f"--workdir_root={out}",
            "--train_steps=4", "--curve_points=2", "--eval_examples=8", "--eval_num_samples=6",
            "--ais_examples=3", "--ais_chains=2", "--ais_steps=2", "--sensitivity_ks=2,3",
            "--sensitivity_examples=2", "--sensitivity_ais_steps=2",
            "--sensitivity_row=1l-iaf-iwae-k5",
            "--rows=1l-iwae-k5,2l-elbo-k1,1l-iaf-iwae-k5,1l-vampprior-iwae-k5,1l-hmc"]
    stdout = _run("mnist_table.py", *args)
    for line in ("| 1l-iwae-k5 | 1 | diagonal | standard | iwae | 5 |",
                 "| 2l-elbo-k1 | 2 | diagonal | standard | elbo | 1 |",
                 "| 1l-iaf-iwae-k5 | 1 | iaf | standard | iwae | 5 |",
                 "| 1l-vampprior-iwae-k5 | 1 | diagonal | vampprior | iwae | 5 |",
                 "| 1l-hmc | 1 | diagonal | standard | hmc | - |"):
      self.assertIn(line, stdout)
    self.assertIn("| -85.54 |", stdout)  # the IWAE paper's value beside the diagonal row only
    for name in ("learning_curves.png", "k_sensitivity.png"):
      self.assertGreater(os.path.getsize(os.path.join(out, name)), 1000)
    with open(os.path.join(out, "table.json")) as f:
      rows = json.load(f)
    self.assertEqual([r["steps"] for r in rows], [4] * 5)
    self.assertTrue(all(np.isfinite([r["is"]["mean"], r["ais"]["mean"]]).all() for r in rows))
    with open(os.path.join(out, "k_sensitivity.json")) as f:
      curves = json.load(f)["curves"]
    self.assertEqual(sorted(curves), ["ais_prior", "is_guide", "is_prior"])
    self.assertTrue(all(len(v) == 2 for v in curves.values()))
    # A rerun trains nothing: every row is reused.
    stdout = _run("mnist_table.py", *args)
    self.assertEqual(stdout.count("done earlier, reusing"), 5)
    self.assertNotIn("train 1/4", stdout)
    with self.assertRaises(AssertionError):  # an unknown row is one line, not a run
      _run("mnist_table.py", *args[:-1], "--rows=3l-iwae-k5")

  def test_alws_cost(self):
    out = self.create_tempdir().full_path
    stdout = _run("alws_cost.py", "--sizes=16,32", "--num_features=16", "--repeats=1",
                  "--seconds=0.05", f"--output={out}", "--ridges=1e-3,auto",
                  "--likelihoods=bernoulli,gaussian")
    self.assertIn("| bernoulli | alws | exact | - | 32 | - | 0.001 |", stdout)
    self.assertIn("| gaussian | alws | random_features | bfloat16 | 16 | 16 | auto |", stdout)
    self.assertTrue(os.path.getsize(os.path.join(out, "alws_cost.png")) > 1000)
    with open(os.path.join(out, "alws_cost.json")) as f:
      rows = json.load(f)
    self.assertEqual(len(rows), 26)  # 2 x (elbo + 2 ridges x 3 solvers x 2 sizes)
    self.assertTrue(all(r["ms"] > 0 for r in rows))
    # The accuracy beside each cost: small N errs, but every error is finite.
    errors = [r["gradient_error"] for r in rows if r["estimator"] == "alws"]
    self.assertTrue(all(np.isfinite(e) and e > 0 for e in errors), errors)

  def test_alws_denoising(self):
    out = self.create_tempdir().full_path
    stdout = _run("alws_denoising.py", "--dataset=mnist_small", _EMPTY_DATA_DIR(self),
                  f"--workdir_root={out}",
                  "--train_steps=10", "--num_examples=12", "--map_steps=10", "--latent_size=4")
    self.assertIn("| (noisy input) |", stdout)
    self.assertIn("| alws | 10 |", stdout)
    self.assertIn("| elbo | 10 |", stdout)
    self.assertIn("| elbo_equal_time |", stdout)
    self.assertTrue(os.path.getsize(os.path.join(out, "denoising_gaussian.png")) > 1000)
    with open(os.path.join(out, "denoising_gaussian.json")) as f:
      result = json.load(f)
    self.assertAllInRange([r["error"] for r in result["rows"]], 0.0, 1.0)

  def test_alws_denoising_of_the_authors_bernoulli_factorisation(self):
    out = self.create_tempdir().full_path
    stdout = _run("alws_denoising.py", "--dataset=mnist_small", _EMPTY_DATA_DIR(self),
                  f"--workdir_root={out}", "--likelihood=bernoulli", "--train_examples=300",
                  "--alws_options=num_sleep_samples=64", "--train_steps=6",
                  "--num_examples=12", "--map_steps=10", "--latent_size=4",
                  "--equal_time=false")
    self.assertIn("uniform bernoulli matrix factorisation", stdout)
    with open(os.path.join(out, "denoising_bernoulli.json")) as f:
      result = json.load(f)
    self.assertEqual(result["metric"], "pixel error rate")
    self.assertAllInRange([result["noisy_error"]], 0.05, 0.15)  # 10% flipped
    self.assertAllInRange([r["error"] for r in result["rows"]], 0.0, 1.0)

  def test_alws_sample_quality_trains_its_classifier(self):
    out = self.create_tempdir().full_path
    stdout = _run("alws_sample_quality.py", "--dataset=mnist_small", _EMPTY_DATA_DIR(self),
                  f"--workdir_root={out}", f"--classifier={out}/classifier",
                  "--budget_seconds=4", "--num_samples=300", "--hidden_sizes=16",
                  "--latent_size=4", "--eval_points=2")
    self.assertIn("classifier test accuracy", stdout)
    self.assertIn("| (training digits: the floor) |", stdout)
    with open(os.path.join(out, "sample_quality.json")) as f:
      result = json.load(f)
    self.assertEqual([r["estimator"] for r in result["rows"]], ["alws", "elbo"])
    # Distances are positive, and any model's samples are further from the test
    # digits than other real digits are.
    self.assertGreater(result["floor"], 0.0)
    self.assertTrue(all(r["frechet"] > result["floor"] and r["steps"] >= 1
                        for r in result["rows"]))
    self.assertTrue(os.path.getsize(os.path.join(out, "sample_quality.png")) > 1000)
    self.assertTrue(os.path.getsize(os.path.join(out, "sample_quality_curve.png")) > 1000)
    # The curve: one distance per segment, steps growing as the run resumes.
    for curve in result["curves"].values():
      self.assertLen(curve, 2)
      self.assertLess(curve[0]["steps"], curve[1]["steps"])
    self.assertTrue(os.path.isdir(os.path.join(out, "classifier")))
    self.assertFalse(os.path.exists(os.path.join(out, "classifier.tmp")))

  def test_learned_proposal_prints_its_table_and_figure(self):
    out = self.create_tempdir().full_path
    stdout = _run("learned_proposal.py", f"--output={out}", "--train_steps=300",
                  "--num_datasets=3", "--num_draws=300", "--reference_steps=600",
                  "--noise=gaussian")
    for method in ("learned proposal (IS)", "prior (IS)", "random-walk MH"):
      self.assertIn(f"| {method} |", stdout)
    with open(os.path.join(out, "learned_proposal.json")) as f:
      result = json.load(f)
    rows = {r["method"]: r for r in result["rows"]}
    # Even briefly trained, the proposal's draws count more than the prior's.
    self.assertGreater(rows["learned proposal (IS)"]["ess_per_dataset"],
                       rows["prior (IS)"]["ess_per_dataset"])
    self.assertTrue(all(np.isfinite(r["mean_error_sds"]) for r in result["rows"]))
    self.assertIsNotNone(result["reference_vs_exact_sds"])  # checked on the conjugate model
    self.assertGreater(os.path.getsize(os.path.join(out, "learned_proposal.png")), 1000)

  def test_air_multi_mnist_scores_counts_and_draws_boxes(self):
    out = self.create_tempdir().full_path
    stdout = _run("air_multi_mnist.py", f"--output={out}", "--estimators=rws,vimco",
                  "--budget_seconds=5", "--batch_size=8", "--eval_examples=20",
                  "--eval_num_samples=5",
                  "--model_hparams=what_size=4,window_size=10,hidden_size=16,rnn_size=16")
    self.assertIn("| trained by | steps | count accuracy |", stdout)
    with open(os.path.join(out, "table.json")) as f:
      rows = {r["name"]: r for r in json.load(f)}
    self.assertCountEqual(rows, ["rws", "vimco"])
    for row in rows.values():
      self.assertBetween(row["count_accuracy"], 0.0, 1.0)
      self.assertEqual(np.sum(row["confusion"]), 20)
      self.assertTrue(np.isfinite(row["log_likelihood"]))
      self.assertGreater(os.path.getsize(row["figure"]), 1000)


if __name__ == "__main__":
  tf.test.main()
