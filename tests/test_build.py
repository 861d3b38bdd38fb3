"""BUILD tells the truth. Bazel cannot fetch its rules offline here, so this
test reads BUILD as the Starlark it is (Python syntax: evaluated with stub
rules) and checks every target against its sources: one py_library per layer
of the package with the deps its imports need, a py_binary per launcher,
benchmark and script, a py_test per test file with its size, `tags =
["slow"]` for the slow tier, `shard_count` for large files and `data` for the
files it reads. A failure prints the stanza to paste.

    python tests/test_build.py --print   # the BUILD these checks expect
"""

import ast
import glob
import os
import sys

import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Import name -> the pip requirement that provides it (setup.py's pins).
REQUIREMENTS = {"absl": "absl-py", "keras": "keras", "matplotlib": "matplotlib",
                "nbclient": "nbclient", "nbformat": "nbformat", "numpy": "numpy",
                "pytest": "pytest", "tensorflow": "tensorflow",
                "tensorflow_datasets": "tensorflow-datasets",
                "tensorflow_probability": "tensorflow-probability", "tf_keras": "tf-keras",
                "torch": "torch"}
# Needed at run time but never imported by our code: TFDS imports
# importlib_resources without declaring it; TF 2.21 needs tensorboard listed.
RUNTIME_ONLY = {"datasets": ["importlib_resources"], "training": ["tensorboard"]}
# The libraries: one per layer of docs/architecture.md (the root package's
# modules split by layer, so that no library depends on one above it).
LIBRARIES = {
    "base": ["tfp_zoo/__init__.py", "tfp_zoo/errors.py", "tfp_zoo/registry.py"],
    "nn": ["tfp_zoo/nn/*.py"],
    "math": ["tfp_zoo/distributions.py", "tfp_zoo/exponential_family.py",
             "tfp_zoo/kernels.py"],
    "models": ["tfp_zoo/models/*.py"],
    "estimators": ["tfp_zoo/estimators/*.py"],
    "evaluation": ["tfp_zoo/evaluation/*.py"],
    "datasets": ["tfp_zoo/datasets/*.py"],
    "training": ["tfp_zoo/training/*.py"],
    "keras": ["tfp_zoo/keras.py"],
    "app": ["tfp_zoo/app/*.py"],
    "launch": ["tfp_zoo/launch/*.py", "tfp_zoo/__main__.py"],
    "testing": ["tfp_zoo/testing.py"],
    "benchmarks_common": ["benchmarks/common.py", "benchmarks/mnist_classifier.py"],
}
LIBRARY_DATA = {"datasets": ["tfp_zoo/datasets/data/**"]}
# Files a test reads, recognised by a string literal in its source.
DATA_FILES = {"README.md": ["README.md"], "BUILD": ["BUILD"],
              "architecture.md": ["docs/architecture.md"],
              "zoo_plugins.py": ["examples/zoo_plugins.py"],
              "own_loop.py": ["examples/own_loop.py"], "keras.md": ["docs/keras.md"],
              "make_multi_mnist.py": ["scripts/make_multi_mnist.py"],
              "setup.py": ["setup.py"], "LICENSE": ["LICENSE"],
              "mkdocs.yml": ["mkdocs.yml"], ".ci/run": [".ci/run"],
              "docs/models.md": ["docs/models.md"], "docs/estimators.md": ["docs/estimators.md"]}
LAUNCHERS = [":train", ":evaluate", ":export", ":sample"]
SOURCES = ["tfp_zoo/**/*.py", "tests/**/*.py", "benchmarks/*.py", "launchers/*.py",
           "scripts/*.py", "examples/*.py", "conftest.py", "docs/**/*.md", "README.md",
           "docs/images/*.png", "docs/notebooks/*.ipynb"]
SHARD_ABOVE = 400  # lines of a test file: above it, Bazel runs it in shards


class _Rules:
  """Stub Starlark rules that record what BUILD declares."""

  def __init__(self):
    self.targets = {}

  def env(self):
    def rule(kind):
      def record(**kwargs):
        self.targets[kwargs["name"]] = dict(kwargs, kind=kind)
      return record
    return {"load": lambda *a, **k: None, "package": lambda **k: None,
            "requirement": lambda name: f"@pypi//{name}",
            "glob": lambda patterns: sorted({os.path.relpath(p, ROOT) for pattern in patterns
                                             for p in glob.glob(os.path.join(ROOT, pattern),
                                                                recursive=True)
                                             if os.path.isfile(p)}),
            "py_library": rule("py_library"), "py_binary": rule("py_binary"),
            "py_test": rule("py_test"), "filegroup": rule("filegroup")}


def declared_targets(build_text):
  """name -> the rule's arguments (and `kind`), by evaluating BUILD."""
  ast.parse(build_text)  # Starlark is Python syntax
  rules = _Rules()
  exec(compile(build_text, "BUILD", "exec"), rules.env())  # pylint: disable=exec-used
  return rules.targets


def _files(patterns):
  return sorted({os.path.relpath(p, ROOT) for pattern in patterns
                 for p in glob.glob(os.path.join(ROOT, pattern)) if os.path.isfile(p)})


def _owners():
  """Source file -> the library that holds it."""
  return {f: name for name, patterns in LIBRARIES.items() for f in _files(patterns)}


def _module_file(module):
  """The file of a `tfp_zoo...` module (old paths resolved through the aliases)."""
  sys.path.insert(0, ROOT)
  try:
    import tfp_zoo  # pylint: disable=g-import-not-at-top
  finally:
    sys.path.pop(0)
  parts = module.split(".")
  if len(parts) > 1 and parts[1] in tfp_zoo._MOVED:  # pylint: disable=protected-access
    parts = ["tfp_zoo"] + tfp_zoo._MOVED[parts[1]].split(".") + parts[2:]  # pylint: disable=protected-access
  while parts:
    path = os.path.join(*parts)
    for candidate in (path + ".py", os.path.join(path, "__init__.py")):
      if os.path.isfile(os.path.join(ROOT, candidate)):
        return candidate
    parts = parts[:-1]
  return None


def imports_of(path):
  """Top-level names and `tfp_zoo` modules that `path` imports (functions too)."""
  with open(os.path.join(ROOT, path)) as f:
    tree = ast.parse(f.read())
  found = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      found.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
      found.add(node.module)
      if node.module == "tfp_zoo" or node.module.startswith("tfp_zoo."):
        found.update(f"{node.module}.{alias.name}" for alias in node.names)
  return found


def needed_deps(srcs, own=None):
  """The deps `srcs` import: libraries (':name') and requirements."""
  owners, deps = _owners(), set()
  if own not in (None, "base", "benchmarks_common"):
    deps.add(":base")  # the package's __init__ loads before any of its modules
  for src in srcs:
    for name in imports_of(src):
      top = name.split(".")[0]
      if top == "tfp_zoo":
        owner = owners.get(_module_file(name))
        if owner:
          deps.update({":" + owner, ":base"})
      elif top in REQUIREMENTS:
        deps.add(f"@pypi//{REQUIREMENTS[top]}")
      elif src.startswith("benchmarks/") and top in ("common", "mnist_classifier"):
        deps.add(":benchmarks_common")
  deps.update(f"@pypi//{r}" for r in RUNTIME_ONLY.get(own, ()))
  deps.discard(f":{own}")
  return deps


def _source_text(path):
  with open(os.path.join(ROOT, path)) as f:
    return f.read()


def expected_test(path):
  """What the py_test of test file `path` must say: size, tags, shards, data."""
  text = _source_text(path)
  if path == "tests/test_build.py":  # it reads BUILD and the sources (and names the rest)
    return {"size": "medium", "tags": [], "shard_count": None, "data": ["BUILD", ":sources"],
            "deps": needed_deps([path, "conftest.py"])}
  slow_file = "pytestmark = pytest.mark.slow" in text
  lines = text.count("\n")
  data = sorted({f for key, files in DATA_FILES.items() if f'"{key}"' in text for f in files})
  launches = ("testing.start_launcher" in text or "testing.launcher_env" in text
              or '"launchers"' in text)
  if launches:
    data = data + LAUNCHERS
  if "glob.glob(" in text or "os.walk(" in text:  # it reads the source tree
    data = data + [":sources"]
  if '"benchmarks"' in text:
    data = data + [":" + os.path.basename(b)[:-3] for b in _files(["benchmarks/*.py"])
                   if os.path.basename(b) not in ("common.py", "mnist_classifier.py")]
  return {"size": "large" if "pytest.mark.slow" in text or launches else "medium",
          "tags": ["slow"] if slow_file else [],
          "shard_count": 4 if lines > SHARD_ABOVE else None,
          "data": data,
          "deps": needed_deps([path, "conftest.py"])}


def binaries():
  """name -> source of every launcher, benchmark and script."""
  return {os.path.basename(p)[:-3]: p
          for p in _files(["launchers/*.py", "benchmarks/*.py", "scripts/*.py"])
          if os.path.basename(p) not in ("common.py",)}


def _test_sources():
  return _files(["tests/*.py", "tests/**/*.py"])


def _target_name(path):
  name = os.path.basename(path)[:-3]
  # Two test files of one name in different directories: prefix the directory.
  same = [p for p in _test_sources() if os.path.basename(p) == os.path.basename(path)]
  return name if len(same) == 1 else f"{name}_{path.split('/')[-2]}"


def render_expected_build():
  """The BUILD these checks expect, as text."""
  def deps_text(deps):
    local = sorted(d for d in deps if d.startswith(":"))
    pip = sorted(d[len("@pypi//"):] for d in deps if d.startswith("@pypi//"))
    items = [f'"{d}"' for d in local] + [f'requirement("{r}")' for r in pip]
    lines, line = [], ""
    for item in items:  # wrapped at 96 columns
      if line and len(line) + len(item) + 2 > 84:
        lines.append(line)
        line = ""
      line = f"{line} {item}," if line else f"{item},"
    lines.append(line)
    if len(lines) == 1:
      return "[" + lines[0].rstrip(",") + "]"
    return "[\n" + "\n".join("        " + l for l in lines) + "\n    ]"
  out = ['# Bazel targets for tfp-zoo, checked against the sources by tests/test_build.py',
         '# (`python tests/test_build.py --print` prints what it expects). Third-party deps',
         '# come from a rules_python pip hub named "pypi" built from setup.py\'s pins.',
         'load("@rules_python//python:defs.bzl", "py_binary", "py_library", "py_test")',
         'load("@pypi//:requirements.bzl", "requirement")', '',
         'package(default_visibility = ["//visibility:public"])', '',
         '# One library per layer of docs/architecture.md.']
  for name, patterns in LIBRARIES.items():
    srcs = (f'glob({patterns!r})'.replace("'", '"') if any("*" in p for p in patterns)
            else repr(patterns).replace("'", '"'))
    data = LIBRARY_DATA.get(name)
    out += ["py_library(", f'    name = "{name}",', f"    srcs = {srcs},"]
    if data:
      out.append(f'    data = glob({data!r}),'.replace("'", '"'))
    out += ['    imports = ["."],' if name != "benchmarks_common" else '    imports = ["benchmarks"],',
            f"    deps = {deps_text(needed_deps(_files(patterns), own=name))},", ")", ""]
  out += ["py_library(", '    name = "tfp_zoo",', "    deps = ["
          + ", ".join(f'":{n}"' for n in LIBRARIES if n not in ("testing", "benchmarks_common"))
          + "],", ")", "",
          "# The source tree, for the tests that read it (package shape, this BUILD).",
          "filegroup(", '    name = "sources",', f"    srcs = glob({SOURCES!r}),".replace("'", '"'),
          ")", "", "# Launchers, benchmarks and scripts."]
  for name, src in binaries().items():
    out += ["py_binary(", f'    name = "{name}",', f'    srcs = ["{src}"],',
            f'    main = "{src}",', f"    deps = {deps_text(needed_deps([src]))},", ")", ""]
  out.append("# One test per file; `tags = [\"slow\"]` is the slow tier (.ci/run's second step).")
  for path in _test_sources():
    if not os.path.basename(path).startswith("test_"):
      continue
    expected = expected_test(path)
    out += ["py_test(", f'    name = "{_target_name(path)}",', f'    size = "{expected["size"]}",',
            f'    srcs = ["{path}", "conftest.py"],', f'    main = "{path}",']
    if expected["tags"]:
      out.append('    tags = ["slow"],')
    if expected["shard_count"]:
      out.append(f'    shard_count = {expected["shard_count"]},')
    if expected["data"]:
      out.append(f"    data = {expected['data']!r},".replace("'", '"'))
    out += [f"    deps = {deps_text(expected['deps'])},", ")", ""]
  return "\n".join(out).rstrip() + "\n"


class BuildTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    with open(os.path.join(ROOT, "BUILD")) as f:
      self.targets = declared_targets(f.read())

  def test_every_library_declares_the_deps_its_imports_need(self):
    for name, patterns in LIBRARIES.items():
      target = self.targets.get(name)
      self.assertIsNotNone(target, f"BUILD has no py_library {name}")
      self.assertEqual(sorted(target["srcs"]), _files(patterns), name)
      self.assertCountEqual(target["deps"], needed_deps(_files(patterns), own=name),
                            f"py_library {name}: deps differ from its imports")
    owned = {f for files in map(_files, LIBRARIES.values()) for f in files}
    self.assertEmpty(set(_files(["tfp_zoo/*.py", "tfp_zoo/**/*.py"])) - owned,
                     "files in no py_library")

  def test_every_launcher_benchmark_and_script_is_a_binary_with_its_deps(self):
    for name, src in binaries().items():
      target = self.targets.get(name)
      self.assertIsNotNone(target, f"BUILD has no py_binary {name} for {src}")
      self.assertEqual((target["kind"], target["srcs"]), ("py_binary", [src]), name)
      self.assertCountEqual(target["deps"], needed_deps([src]), f"py_binary {name}")

  def test_every_test_file_has_a_test_that_says_its_size_tier_shards_and_data(self):
    tests = {t["srcs"][0]: t for t in self.targets.values() if t["kind"] == "py_test"}
    for path in _test_sources():
      if not os.path.basename(path).startswith("test_"):
        continue
      self.assertTrue(path in tests, f"add a py_test for {path} (python tests/test_build.py "
                                     "--print shows it)")
      target, expected = tests[path], expected_test(path)
      self.assertEqual(target.get("size"), expected["size"], path)
      self.assertEqual(target.get("tags", []), expected["tags"], path)
      self.assertEqual(target.get("shard_count"), expected["shard_count"], path)
      self.assertCountEqual(target.get("data", []), expected["data"], path)
      self.assertCountEqual(target["deps"], expected["deps"], path)

  def test_the_build_is_the_expected_one(self):
    with open(os.path.join(ROOT, "BUILD")) as f:
      self.assertEqual(f.read(), render_expected_build(),
                       "BUILD is stale: python tests/test_build.py --print > BUILD")

  def test_the_checks_have_power(self):
    """A missing import dep, a dep nothing imports and a missing slow tag are caught."""
    models = dict(self.targets["models"])
    needed = needed_deps(_files(LIBRARIES["models"]), own="models")
    self.assertIn(":nn", needed)
    self.assertNotEqual(sorted(set(models["deps"]) - {":nn"}), sorted(needed))
    self.assertNotIn(":training", needed)  # a dep nothing imports would be extra
    self.assertEqual(expected_test("tests/launchers/test_plugins.py")["tags"], ["slow"])
    self.assertIn("examples/zoo_plugins.py",
                  expected_test("tests/launchers/test_plugins.py")["data"])


if __name__ == "__main__":
  if "--print" in sys.argv:
    print(render_expected_build(), end="")
  else:
    tf.test.main()
