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
# The launcher lives in the package (`tfp_zoo.launch.evaluate`, the `tfp-zoo-evaluate`
# command); this file keeps `python launchers/evaluate.py` working in a checkout.

from tfp_zoo.launch import evaluate

if __name__ == "__main__":
  evaluate.run()
