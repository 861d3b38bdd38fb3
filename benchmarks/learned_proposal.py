r"""A learned importance-sampling proposal for a fixed model.

The model is `polynomial_regression`: cubic coefficients w ~ N(0, I), 20
points on [−1, 1], Student-t noise (ν = 3, scale 0.3), so the posterior has
no closed form. Its guide q_η(w | y), a full-covariance Gaussian from an MLP
on y, is trained by sleep samples alone (`wake_sleep` with
`train_generative=False`: E_{p(w, y)}[−∇η log q_η(w | y)]) before any data is
seen. Then, on held-out data sets y drawn from the model, three posterior
approximations are compared with a reference from long random-walk
Metropolis–Hastings runs (4 chains, R-hat below 1.01):

  (a) importance sampling with the learned proposal,
  (b) importance sampling with the prior as proposal,
  (c) random-walk Metropolis–Hastings (`tfp.mcmc.RandomWalkMetropolis`, a
      Gaussian step shaped by a pilot run, whose time is counted),

by the error of the posterior mean (in posterior standard deviations), the
relative error of the posterior standard deviations, and effective samples
per second: (Σw)²/Σw² for importance sampling, `tfp.mcmc.effective_sample_size`
for MH. Prints a Markdown table and writes JSON and a four-panel figure of
fitted curves over one data set's points (prior draws, proposal draws, the
proposal's draws resampled by their weights, MH draws).

    python benchmarks/learned_proposal.py
"""

import json
import os
import time

from absl import app
from absl import flags

import common

flags.DEFINE_integer("train_steps", 4000, "Sleep steps for the proposal (Adam, 1e-3, then "
                     "2.5e-4 for the last quarter).")
flags.DEFINE_integer("sleep_samples", 512, "Sleep samples (w, y) ~ p per step.")
flags.DEFINE_integer("num_datasets", 20, "Held-out data sets.")
flags.DEFINE_integer("num_draws", 2000, "Draws per data set for each method (MH: per "
                     "chain, 4 chains, after as many burn-in steps).")
flags.DEFINE_integer("reference_steps", 20000, "Steps per chain of the reference MH "
                     "(4 chains, after as many burn-in steps).")
flags.DEFINE_enum("noise", "student_t", ["student_t", "laplace", "gaussian"],
                  "The model's noise (gaussian: the conjugate variant, whose exact "
                  "posterior then also checks the reference).")
flags.DEFINE_integer("seed", 0, "Seed of training, data and draws.")
flags.DEFINE_string("output", "/tmp/tfp_zoo_learned_proposal", "Directory for the JSON "
                    "and the PNG.")
FLAGS = flags.FLAGS

_CHAINS = 4


def _train_proposal(model, steps, sleep_samples, seed):
  """Trains the guide alone by sleep; returns the seconds it took."""
  from tfp_zoo import estimators, training  # pylint: disable=g-import-not-at-top
  trainer = training.Trainer(
      model, estimators.bind("wake_sleep", num_sleep_samples=sleep_samples),
      learning_rate=1e-3, seed=seed, train_generative=False)
  # θ is frozen, so the data batch only feeds the (unused) wake update.
  batch = model.joint().sample(64, seed=[seed, 1]).x
  start = time.time()
  for step in range(steps):
    if step == 3 * steps // 4:
      trainer.set_learning_rate(2.5e-4)
    metrics = trainer(batch)
    if (step + 1) % max(steps // 5, 1) == 0:
      print(f"proposal step {step + 1}/{steps}: sleep loss {metrics['sleep_loss']:.3f}",
            flush=True)
  return time.time() - start


def _importance(model, y, proposal, num_draws, seed):
  """(draws [S, n, K], normalised weights [S, n], seconds) of importance
  sampling from `proposal` ('learned' or 'prior') for data sets y [n, M]."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  @tf.function(autograph=False)
  def run(y, seed):
    if proposal == "learned":
      guide = model.guide(y)
      draws = guide.sample(num_draws, seed=seed).w
      log_q = guide.log_prob(w=draws)
    else:
      prior = model.prior()
      draws = prior.sample([num_draws, int(y.shape[0])], seed=seed)
      log_q = prior.log_prob(draws)
    log_weights = model.joint().log_prob(w=draws, x=y) - log_q
    return draws, tf.nn.softmax(log_weights, axis=0)

  run(y, tf.constant([seed, 0]))  # trace outside the timing
  start = time.perf_counter()
  draws, weights = run(y, tf.constant([seed, 1]))
  draws, weights = draws.numpy(), weights.numpy()
  return draws, weights, time.perf_counter() - start


def _metropolis(model, y, num_steps, seed, scale_tril=None):
  """Random-walk MH on p(w | y) for each data set, 4 chains: (draws [T, 4, n, K]
  after T burn-in steps, seconds). The step is N(0, (2.38²/K) Σ) with Σ the
  pilot's covariance (`scale_tril` its Cholesky factor [n, K, K]); without
  one, a pilot of num_steps steps with an isotropic step makes it (its time
  counted)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_probability as tfp  # pylint: disable=g-import-not-at-top
  n, k = int(y.shape[0]), model.num_coefficients
  pilot_seconds = 0.0
  if scale_tril is None:
    pilot, pilot_seconds = _metropolis(
        model, y, num_steps, seed + 1000,
        scale_tril=np.tile(0.1 * np.eye(k, dtype=np.float32), [n, 1, 1]))
    start = time.time()
    flat = pilot.reshape(-1, n, k).transpose(1, 0, 2)  # [n, draws, K]
    covariance = np.stack([np.cov(d, rowvar=False) for d in flat]) + 1e-6 * np.eye(k)
    scale_tril = np.linalg.cholesky(covariance * 2.38**2 / k).astype(np.float32)
    pilot_seconds += time.time() - start
  scale_tril = tf.constant(scale_tril, tf.float32)

  def log_target(w):  # w [chains, n, K]
    return model.joint().log_prob(w=w, x=y)

  def step(state, seed):
    noise = tf.random.stateless_normal(tf.shape(state[0]), seed=seed)
    return [state[0] + tf.linalg.matvec(scale_tril, noise)]

  kernel = tfp.mcmc.RandomWalkMetropolis(log_target, new_state_fn=lambda s, seed: step(s, seed))

  @tf.function(autograph=False)
  def run(seed):
    initial = model.prior().sample([_CHAINS, n], seed=tfp.random.split_seed(seed)[0])
    return tfp.mcmc.sample_chain(num_steps, initial, kernel=kernel,
                                 num_burnin_steps=num_steps, trace_fn=None,
                                 seed=tfp.random.split_seed(seed)[1])

  run.get_concrete_function(tf.TensorSpec([2], tf.int32))  # trace outside the timing
  start = time.perf_counter()
  draws = run(tf.constant([seed, 7])).numpy()
  return draws, time.perf_counter() - start + pilot_seconds


def _summaries(draws, weights=None):
  """(mean [n, K], sd [n, K]) of draws [S, n, K] (weighted) or [T, C, n, K]."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  if weights is None:
    flat = draws.reshape(-1, *draws.shape[-2:])
    return flat.mean(0), flat.std(0)
  mean = np.einsum("sn,snk->nk", weights, draws)
  variance = np.einsum("sn,snk->nk", weights, (draws - mean) ** 2)
  return mean, np.sqrt(variance)


def main(argv):
  del argv
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow_probability as tfp  # pylint: disable=g-import-not-at-top
  from tfp_zoo import models  # pylint: disable=g-import-not-at-top

  for name in ("train_steps", "sleep_samples", "num_datasets", "num_draws",
               "reference_steps"):
    if getattr(FLAGS, name) < 1:
      raise app.UsageError(f"--{name}={getattr(FLAGS, name)}: must be a positive integer")
  seed = FLAGS.seed
  model = models.get("polynomial_regression", input_shape=(20,), noise=FLAGS.noise,
                     guide="full_covariance", seed=seed)
  print(f"CPU: {common.cpu_model()}", flush=True)
  train_seconds = _train_proposal(model, FLAGS.train_steps, FLAGS.sleep_samples, seed)
  held_out = model.joint().sample(FLAGS.num_datasets, seed=[seed, 99])
  y = held_out.x

  # The reference: long MH runs, shaped by a pilot, checked by R-hat.
  reference_draws, _ = _metropolis(model, y, FLAGS.reference_steps, seed + 500)
  r_hat = tfp.mcmc.potential_scale_reduction(reference_draws, independent_chain_ndims=1)
  max_r_hat = float(np.max(r_hat))
  print(f"reference: {_CHAINS} chains × {FLAGS.reference_steps} steps per data set, "
        f"max R-hat {max_r_hat:.4f}", flush=True)
  if max_r_hat > 1.01:
    print("WARNING: R-hat above 1.01: raise --reference_steps", flush=True)
  ref_mean, ref_sd = _summaries(reference_draws)
  exact_check = None
  if FLAGS.noise == "gaussian":
    exact = model.exact_posterior(y)
    exact_sd = np.sqrt(np.diagonal(exact.covariance().numpy(), axis1=-2, axis2=-1))
    exact_check = float(np.max(np.abs(ref_mean - exact.mean().numpy()) / exact_sd))
    print(f"reference mean vs exact: at most {exact_check:.3f} posterior sds", flush=True)

  rows, samples = [], {}
  for method in ("learned proposal (IS)", "prior (IS)", "random-walk MH"):
    if method == "random-walk MH":
      draws, seconds = _metropolis(model, y, FLAGS.num_draws, seed + 7)
      mean, sd = _summaries(draws)
      ess = np.mean(tfp.mcmc.effective_sample_size(
          draws, cross_chain_dims=1).numpy(), axis=-1)  # [n], over coefficients
      samples[method] = draws[:, 0]
    else:
      proposal = "learned" if method.startswith("learned") else "prior"
      draws, weights, seconds = _importance(model, y, proposal, FLAGS.num_draws, seed + 3)
      mean, sd = _summaries(draws, weights)
      ess = 1.0 / np.sum(weights**2, axis=0)
      samples[method] = (draws, weights)
    mean_error = float(np.mean(np.abs(mean - ref_mean) / ref_sd))
    sd_error = float(np.mean(np.abs(sd / ref_sd - 1.0)))
    rows.append({"method": method, "mean_error_sds": mean_error, "sd_relative_error": sd_error,
                 "ess_per_dataset": float(np.mean(ess)), "seconds": seconds,
                 "ess_per_second": float(np.sum(ess) / seconds)})

  print(f"\n`polynomial_regression` (cubic, 20 points, {FLAGS.noise} noise), "
        f"{FLAGS.num_datasets} held-out data sets, {FLAGS.num_draws} draws each "
        f"(MH: {_CHAINS} chains × {FLAGS.num_draws} after as many burn-in steps, with a "
        f"pilot of the same length); proposal trained by {FLAGS.train_steps} sleep steps in "
        f"{train_seconds:.0f} s; reference max R-hat {max_r_hat:.4f}; "
        f"{common.cpu_model()}\n")
  print("| method | error of the posterior mean (posterior sds) | relative error of the "
        "posterior sds | ESS per data set | seconds (all data sets) | ESS per second |")
  print("|---|---|---|---|---|---|")
  for r in rows:
    print(f"| {r['method']} | {r['mean_error_sds']:.3f} | {r['sd_relative_error']:.3f} | "
          f"{r['ess_per_dataset']:.0f} | {r['seconds']:.3f} | {r['ess_per_second']:.0f} |")

  os.makedirs(FLAGS.output, exist_ok=True)
  with open(os.path.join(FLAGS.output, "learned_proposal.json"), "w") as f:
    json.dump({"rows": rows, "train_seconds": train_seconds, "max_r_hat": max_r_hat,
               "reference_vs_exact_sds": exact_check, "cpu": common.cpu_model(),
               "flags": {k: getattr(FLAGS, k) for k in (
                   "train_steps", "sleep_samples", "num_datasets", "num_draws",
                   "reference_steps", "noise", "seed")}}, f, indent=2)
  _figure(model, y.numpy()[0], held_out.w.numpy()[0], samples,
          os.path.join(FLAGS.output, "learned_proposal.png"), seed)


def _figure(model, y, true_w, samples, path, seed):
  """Four panels of fitted curves over data set 0's points."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  plt = common.pyplot()
  rng = np.random.default_rng(seed)
  grid = np.linspace(-1.05, 1.05, 100)
  learned_draws, learned_weights = samples["learned proposal (IS)"]
  prior_draws, _ = samples["prior (IS)"]
  count = 50
  resampled = learned_draws[rng.choice(len(learned_weights), size=count,
                                       p=learned_weights[:, 0] / learned_weights[:, 0].sum()), 0]
  mh = samples["random-walk MH"]
  panels = (("draws from the prior", prior_draws[:count, 0]),
            ("draws from the learned proposal", learned_draws[:count, 0]),
            ("proposal draws resampled by weight", resampled),
            ("random-walk MH draws", mh[rng.choice(len(mh), size=count), 0]))
  fig, axes = plt.subplots(1, 4, figsize=(17, 3.8), sharey=True)
  for ax, (title, w) in zip(axes, panels):
    curves = model.curves(w.astype(np.float32), grid).numpy()
    ax.plot(grid, curves.T, color="tab:blue", alpha=0.15, linewidth=1)
    ax.plot(grid, model.curves(true_w[None].astype(np.float32), grid).numpy()[0],
            color="black", linestyle="--", linewidth=1, label="true curve")
    ax.scatter(model.inputs, y, color="tab:red", s=12, zorder=3, label="data")
    ax.set_title(title)
    ax.set_ylim(y.min() - 1.5, y.max() + 1.5)
    ax.set_xlabel("t")
  axes[0].legend(loc="upper left")
  fig.tight_layout()
  fig.savefig(path, dpi=100, bbox_inches="tight")
  print(f"\nwrote {path} and {os.path.join(os.path.dirname(path), 'learned_proposal.json')}")


if __name__ == "__main__":
  app.run(main)
