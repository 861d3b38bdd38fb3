"""`python launchers/export.py` in a checkout: the `tfp-zoo-export` command.

The command lives in the package (`tfp_zoo.launch.export`, which documents it);
`--helpshort` lists its flags.
"""

from tfp_zoo.launch import export

if __name__ == "__main__":
  export.run()
