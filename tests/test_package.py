"""The package's shape: no import cycles (in-function imports count), a light
`import tfp_zoo.models`, and a `train()` short enough to read top to bottom."""

import ast
import inspect
import os
import re
import subprocess
import sys

import pytest
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "tfp_zoo")


def _module_name(path):
  relative = os.path.relpath(path, ROOT)[:-len(".py")].replace(os.sep, ".")
  return relative[:-len(".__init__")] if relative.endswith(".__init__") else relative


def _imports(path, name, modules):
  """The package modules `path` imports, anywhere in the file (functions too)."""
  is_package = path.endswith("__init__.py")
  found = set()
  with open(path) as f:
    tree = ast.parse(f.read())
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      targets = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:  # relative
        parts = name.split(".")[:len(name.split(".")) - node.level + (1 if is_package else 0)]
        base = ".".join(parts + ([base] if base else []))
      targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
    else:
      continue
    for target in targets:
      while target and target not in modules:
        target = target.rpartition(".")[0]
      # A module always loads its parent packages: not an edge of its own.
      if target and target != name and not name.startswith(target + "."):
        found.add(target)
  return found


def import_graph():
  paths = [os.path.join(d, f) for d, _, files in os.walk(PACKAGE) for f in files
           if f.endswith(".py")]
  modules = {_module_name(p): p for p in paths}
  return {name: _imports(path, name, modules) for name, path in modules.items()}


def find_cycle(graph):
  """A list of modules forming a cycle, or None (depth-first search)."""
  state, stack = {}, []

  def visit(node):
    state[node] = "open"
    stack.append(node)
    for child in sorted(graph.get(node, ())):
      if state.get(child) == "open":
        return stack[stack.index(child):] + [child]
      if child not in state:
        cycle = visit(child)
        if cycle:
          return cycle
    state[node] = "done"
    stack.pop()
    return None

  for node in sorted(graph):
    if node not in state:
      cycle = visit(node)
      if cycle:
        return cycle
  return None


def documented_layers():
  """The layer table of docs/architecture.md: [(layer number, module prefixes)]."""
  with open(os.path.join(ROOT, "docs", "architecture.md")) as f:
    text = f.read()
  table = text[text.index("| layer | modules |"):].split("\n\n")[0]
  layers = []
  for row in table.splitlines()[2:]:
    cells = [c.strip() for c in row.strip("|").split("|")]
    layers.append((int(cells[0]), re.findall(r"`(tfp_zoo[\w.]*)`", cells[1])))
  return layers


def layer_of(module, layers):
  """The layer of the longest documented prefix of `module`, or None."""
  best = None
  for number, prefixes in layers:
    for prefix in prefixes:
      if (module == prefix or module.startswith(prefix + ".")) and (
          best is None or len(prefix) > best[1]):
        best = (number, len(prefix))
  return None if best is None else best[0]


def upward_imports(graph, layers):
  """(module, imported) pairs where a module imports one of a higher layer."""
  found = []
  for name, imported in sorted(graph.items()):
    own = layer_of(name, layers)
    for target in sorted(imported):
      other = layer_of(target, layers)
      if own is not None and other is not None and other > own:
        found.append((name, target))
  return found


class PackageShapeTest(tf.test.TestCase):

  def test_no_import_cycle_among_the_package_modules(self):
    graph = import_graph()
    self.assertIn("tfp_zoo.training.readers", graph["tfp_zoo.app.export"])
    self.assertIsNone(find_cycle(graph))

  def test_the_cycle_check_has_power(self):
    graph = import_graph()
    graph["tfp_zoo.models.base"] = graph["tfp_zoo.models.base"] | {"tfp_zoo.training.loop"}
    self.assertIsNotNone(find_cycle(graph))

  def test_the_library_never_imports_the_application_layer(self):
    graph = import_graph()
    application = {"tfp_zoo.training", "tfp_zoo.app.export", "tfp_zoo.app.figures",
                   "tfp_zoo.app.launch_flags"}
    for name, imported in graph.items():
      if name.startswith(("tfp_zoo.models", "tfp_zoo.estimators", "tfp_zoo.evaluation",
                          "tfp_zoo.nn", "tfp_zoo.nn.conv", "tfp_zoo.kernels")):
        self.assertEmpty({m for m in imported if m.startswith(tuple(application))}, name)

  @pytest.mark.slow  # a second interpreter imports TensorFlow
  def test_importing_the_models_loads_neither_tfds_nor_the_training_loop(self):
    code = ("import sys, tfp_zoo.models; "
            "print(sorted(m for m in sys.modules if m.startswith(('tensorflow_datasets', "
            "'tfp_zoo.training', 'tfp_zoo.datasets'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    self.assertEqual(out.stdout.strip().splitlines()[-1], "[]")

  def test_train_reads_top_to_bottom_in_at_most_70_lines(self):
    from tfp_zoo.training import loop  # pylint: disable=g-import-not-at-top
    self.assertLessEqual(len(inspect.getsource(loop.train).splitlines()), 70)


if __name__ == "__main__":
  tf.test.main()
