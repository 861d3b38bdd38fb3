"""`python launchers/evaluate.py` in a checkout: the `tfp-zoo-evaluate` command.

The command lives in the package (`tfp_zoo.launch.evaluate`, which documents it);
`--helpshort` lists its flags.
"""

from tfp_zoo.launch import evaluate

if __name__ == "__main__":
  evaluate.run()
