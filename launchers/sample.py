"""`python launchers/sample.py` in a checkout: the `tfp-zoo-sample` command.

The command lives in the package (`tfp_zoo.launch.sample`, which documents it);
`--helpshort` lists its flags.
"""

from tfp_zoo.launch import sample

if __name__ == "__main__":
  sample.run()
