r"""Trains a model with an estimator; resumes from --workdir; evaluates at the end.

    python launchers/train.py --workdir=/tmp/vae --model=vae --estimator=iwae \
        --num_samples=5 --train_steps=2000

Every flag is a field of `tfp_zoo.training.TrainConfig`; see docs/training.md for which ones a resumed run may change.
"""
# The launcher lives in the package (`tfp_zoo.launch.train`, the `tfp-zoo-train`
# command); this file keeps `python launchers/train.py` working in a checkout.

from tfp_zoo.launch import train

if __name__ == "__main__":
  train.run()
