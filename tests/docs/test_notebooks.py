"""The notebooks under docs/notebooks run from top to bottom, each within a
minute on 2 cores, and are committed without outputs."""

import glob
import os
import time

import nbformat
import pytest
from nbclient import NotebookClient


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOTEBOOKS = sorted(os.path.relpath(p, ROOT) for p in glob.glob(
    os.path.join(ROOT, "docs", "notebooks", "*.ipynb")))
BUDGET = 60  # seconds a notebook may take on 2 cores (the timeout is twice that)


def test_there_are_notebooks_without_outputs():
  assert {os.path.basename(n) for n in NOTEBOOKS} >= {"quick_start.ipynb", "own_model.ipynb",
                                                        "keras.ipynb"}
  for name in NOTEBOOKS:
    notebook = nbformat.read(os.path.join(ROOT, name), as_version=4)
    for cell in notebook.cells:
      if cell.cell_type == "code":
        assert not cell.outputs and cell.execution_count is None, f"{name}: strip outputs"


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name, tmp_path):
  notebook = nbformat.read(os.path.join(ROOT, name), as_version=4)
  client = NotebookClient(notebook, timeout=2 * BUDGET, kernel_name="python3",
                          resources={"metadata": {"path": str(tmp_path)}})
  start = time.monotonic()
  client.execute()
  elapsed = time.monotonic() - start
  assert elapsed < 2 * BUDGET, f"{name} took {elapsed:.0f} s"
