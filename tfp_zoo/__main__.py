"""`python -m tfp_zoo`: lists the commands (they need no TensorFlow to list)."""

from tfp_zoo.launch import describe_commands

if __name__ == "__main__":
  print(describe_commands())
