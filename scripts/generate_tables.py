"""Rewrites the README's generated model and estimator tables from the specs.

    python scripts/generate_tables.py
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfp_zoo.app import catalogue  # pylint: disable=g-import-not-at-top

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")

if __name__ == "__main__":
  with open(README) as f:
    text = f.read()
  updated = catalogue.update_text(text)
  if updated != text:
    with open(README, "w") as f:
      f.write(updated)
  print("README tables " + ("updated" if updated != text else "already current"))
