"""Rewrites the generated model and estimator catalogue of the README and the
docs (docs/models.md, docs/estimators.md) from the registered specs.

    python scripts/generate_tables.py
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tfp_zoo.app import catalogue  # pylint: disable=g-import-not-at-top

if __name__ == "__main__":
  for name in catalogue.FILES:
    path = os.path.join(ROOT, name)
    with open(path) as f:
      text = f.read()
    updated = catalogue.update_text(text)
    if updated != text:
      with open(path, "w") as f:
        f.write(updated)
    print(f"{name}: tables " + ("updated" if updated != text else "already current"))
