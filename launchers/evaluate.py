r"""Prints the test log-likelihood of a workdir's latest checkpoint.

    python launchers/evaluate.py --workdir=/tmp/vae --num_samples=5000
    python launchers/evaluate.py --workdir=/tmp/vae --method=ais --num_samples=16 --num_examples=100

--method=is (the default) importance-samples with the guide; --method=ais runs
annealed importance sampling from the prior (or --ais_proposal=guide) with K =
--num_samples chains of --ais_steps HMC steps, for ranking models. From the
prior it needs thousands of steps on a trained MNIST VAE: the defaults (2000
steps of size 0.1) matched or beat IS with K=5000, where 500 steps of size 0.05
were 39 nats short and 1000 steps 30 nats.
"""

from absl import app
from absl import flags
from absl import logging

from tfp_zoo.app import launch_flags
from tfp_zoo import training
from tfp_zoo.training.launcher_configs import EvaluateConfig

FLAGS = flags.FLAGS
launch_flags.define_flags(EvaluateConfig)  # one flag per field, with its one default
flags.adopt_module_key_flags(launch_flags)  # so --helpshort lists them


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # our progress lines, not TF's INFO logs
  launch_flags.run_or_exit(_evaluate)


def _evaluate():
  config = launch_flags.config_from_flags(EvaluateConfig)
  options = {k: v for k, v in vars(config).items() if k != "workdir"}
  result = training.evaluate_workdir(config.workdir, **options)
  method = f"AIS from the {config.ais_proposal}, " if config.method == "ais" else ""
  bits = "" if result.bits_per_dim is None else f" ({result.bits_per_dim:.3f} bits/dim)"
  print(f"test log-likelihood ({method}K={result.num_samples}, "
        f"{result.num_examples} examples): "
        f"{result.mean:.3f} ± {result.stderr:.3f} nats{bits} | mean ESS "
        f"{result.mean_ess:.1f}/{result.num_samples}")


if __name__ == "__main__":
  app.run(main, flags_parser=launch_flags.parse_flags)
