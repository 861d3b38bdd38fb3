"""The generated catalogue in the README and the docs is the specs' (regenerate
it with scripts/generate_tables.py)."""

import os

import tensorflow as tf

from tfp_zoo import estimators
from tfp_zoo.app import catalogue

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The files with generated blocks (catalogue.FILES), named here for BUILD's data.
FILES = ("README.md", "docs/models.md", "docs/estimators.md")


def _read(name):
  with open(os.path.join(ROOT, name)) as f:
    return f.read()


class CatalogueTest(tf.test.TestCase):

  def test_the_committed_tables_are_current(self):
    self.assertCountEqual(FILES, catalogue.FILES)
    for name, blocks in catalogue.FILES.items():
      text = _read(name)
      for block in blocks:
        self.assertIn(f"<!-- generated: {block}", text, name)
      self.assertEqual(catalogue.update_text(text), text,
                       f"{name}'s tables are stale: run python scripts/generate_tables.py")

  def test_a_change_to_a_spec_shows_as_stale(self):
    text = _read("docs/estimators.md")
    stl = estimators.get_spec("stl")
    option = stl.options["bound"]
    changed = estimators.Option(option.name, "elbo", option.type, option.rule)
    stl.options["bound"] = changed  # a default changed in code, not in the docs
    try:
      self.assertNotEqual(catalogue.update_text(text), text)
      self.assertIn("`bound=elbo|iwae`", catalogue.estimator_details())
    finally:
      stl.options["bound"] = option

  def test_rows_say_latents_k_and_options(self):
    table = catalogue.estimator_table()
    self.assertIn("| [`alws`](#alws) |", table)
    row = next(line for line in table.splitlines() if line.startswith("| [`rws`]"))
    self.assertIn("| any | 5 |", row)
    self.assertIn("| real | 1 |", next(line for line in table.splitlines()
                                       if line.startswith("| [`hmc`]")))
    details = catalogue.estimator_details().splitlines()
    rws = next(line for line in details if line.startswith("- **`rws`**"))
    self.assertIn("`guide_update=wake|sleep|mixture`", rws)
    alws = next(line for line in details if line.startswith("- **`alws`**"))
    self.assertIn("`bandwidth=median|cross_median|heldout|<x>`", alws)

  def test_the_readme_says_one_line_per_entry(self):
    table = catalogue.catalogue_table()
    self.assertIn("| model | `vae` |", table)
    self.assertIn("| estimator | `iwae` |", table)
    self.assertEqual(catalogue.one_line("a (b: c; `d: e`): " + "f" * 100), "a (b: c; `d: e`)")
    self.assertEqual(catalogue.one_line("short: kept whole"), "short: kept whole")
    for line in table.splitlines():
      self.assertLess(len(line), 200, line)


if __name__ == "__main__":
  tf.test.main()
