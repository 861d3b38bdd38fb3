r"""Prints the test log-likelihood of a workdir's latest checkpoint.

    tfp-zoo-evaluate --workdir=/tmp/vae --num_samples=5000
    tfp-zoo-evaluate --workdir=/tmp/vae --method=ais --num_samples=16 --num_examples=100

--method=is (the default) importance-samples with the guide; --method=ais runs
annealed importance sampling from the prior (or --ais_proposal=guide) with K =
--num_samples chains of --ais_steps HMC steps, for ranking models. From the
prior it needs thousands of steps on a trained MNIST VAE: the defaults (2000
steps of size 0.1) matched or beat IS with K=5000, where 500 steps of size 0.05
were 39 nats short and 1000 steps 30 nats.
"""

from tfp_zoo.launch import startup

startup.import_tensorflow()  # before anything imports it: its C++ start-up lines dropped

# pylint: disable=g-import-not-at-top,wrong-import-position
from tfp_zoo import training
from tfp_zoo.app import launch_flags
from tfp_zoo.training import workdir as workdir_lib
from tfp_zoo.training.launcher_configs import EvaluateConfig

__all__ = ["run"]


def run() -> None:
  """The `tfp-zoo-evaluate` command: parses `sys.argv` and evaluates."""
  launch_flags.run_command(EvaluateConfig, _evaluate)


def _evaluate(config: EvaluateConfig) -> None:
  options = {k: v for k, v in vars(config).items() if k not in ("workdir", "output")}
  result = training.evaluate_workdir(config.workdir, **options)
  if config.output:  # results.json's 'test' block, non-finite values as null
    workdir_lib.write_json(config.output, result._asdict(), "--output")
  method = f"AIS from the {config.ais_proposal}, " if config.method == "ais" else ""
  bits = "" if result.bits_per_dim is None else f" ({result.bits_per_dim:.3f} bits/dim)"
  print(f"test log-likelihood ({method}K={result.num_samples}, "
        f"{result.num_examples} examples): "
        f"{result.mean:.3f} ± {result.stderr:.3f} nats{bits} | mean ESS "
        f"{result.mean_ess:.1f}/{result.num_samples}")
  if config.output:
    print(f"wrote {config.output}")


if __name__ == "__main__":
  run()
