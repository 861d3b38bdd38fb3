"""`python launchers/train.py` in a checkout: the `tfp-zoo-train` command.

The command lives in the package (`tfp_zoo.launch.train`, which documents it);
`--helpshort` lists its flags.
"""

from tfp_zoo.launch import train

if __name__ == "__main__":
  train.run()
