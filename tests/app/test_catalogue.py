"""The README's model and estimator tables are the specs' (regenerate them
with scripts/generate_tables.py)."""

import os

import tensorflow as tf

from tfp_zoo import estimators
from tfp_zoo.app import catalogue

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class CatalogueTest(tf.test.TestCase):

  def test_the_committed_tables_are_current(self):
    with open(os.path.join(ROOT, "README.md")) as f:
      text = f.read()
    for name in catalogue.BLOCKS:
      self.assertIn(f"<!-- generated: {name}", text)
    self.assertEqual(catalogue.update_text(text), text,
                     "the README's tables are stale: run python scripts/generate_tables.py")

  def test_a_change_to_a_spec_shows_as_stale(self):
    with open(os.path.join(ROOT, "README.md")) as f:
      text = f.read()
    stl = estimators.get_spec("stl")
    option = stl.options["bound"]
    changed = estimators.Option(option.name, "elbo", option.type, option.rule)
    stl.options["bound"] = changed  # a default changed in code, not in the README
    try:
      self.assertNotEqual(catalogue.update_text(text), text)
      self.assertIn("`bound=elbo\\|iwae`", catalogue.estimator_table())
    finally:
      stl.options["bound"] = option

  def test_rows_say_latents_k_and_options(self):
    table = catalogue.estimator_table()
    self.assertIn("| `alws` |", table)
    row = next(line for line in table.splitlines() if line.startswith("| `rws` |"))
    self.assertIn("| any | 5 |", row)
    self.assertIn("`guide_update=wake\\|sleep\\|mixture`", row)
    row = next(line for line in table.splitlines() if line.startswith("| `alws` |"))
    self.assertIn("`bandwidth=median\\|cross_median\\|heldout\\|<x>`", row)
    self.assertIn("| `hmc` |", table)
    self.assertIn("| real | 1 |", next(line for line in table.splitlines()
                                       if line.startswith("| `hmc` |")))


if __name__ == "__main__":
  tf.test.main()
