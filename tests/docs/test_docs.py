"""The README is the front door and the docs (docs/, an MkDocs site) hold the
rest. Their Python blocks run as written (a block after `<!-- skip: reason -->`
is left out, and only a few may be); every metric an estimator or the training
loop emits has a glossary entry (docs/metrics.md); no page names tracker
issues; table cells are short; links resolve; the README keeps the commands
.ci/run runs."""

import glob
import os
import re

import pytest
import tensorflow as tf

from tfp_zoo import estimators, models, testing, training

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
README = "README.md"
DOCS = "docs"
MKDOCS = "mkdocs.yml"
GLOSSARY = "docs/metrics.md"
# A python block preceded by this comment is not run (say why after the colon).
SKIP = "<!-- skip"
# A python block preceded by this comment continues the block before it.
CONTINUED = "<!-- continued"


def doc_pages():
  """The README and every Markdown page under docs/, relative to the root."""
  found = sorted(os.path.relpath(p, ROOT) for p in glob.glob(
      os.path.join(ROOT, DOCS, "**", "*.md"), recursive=True))
  return [README] + found


def read(name):
  with open(os.path.join(ROOT, name)) as f:
    return f.read()


def python_blocks(name):
  """[(line, code, skipped)] for every ```python block of a page; a block
  after `<!-- continued -->` runs as part of the block before it (a page that
  builds one example step by step)."""
  text = read(name)
  blocks = []
  for match in re.finditer(r"^```python\n(.*?)^```", text, flags=re.S | re.M):
    before = text[:match.start()].rstrip("\n").splitlines()
    marker = before[-1].strip() if before else ""
    if marker.startswith(CONTINUED) and blocks:
      line, code, skipped = blocks[-1]
      blocks[-1] = (line, code + match.group(1), skipped)
      continue
    blocks.append((text.count("\n", 0, match.start()) + 1, match.group(1),
                   marker.startswith(SKIP)))
  return blocks


def table_cells(name):
  """[(line, cell)] for every cell of every Markdown table of a page."""
  cells = []
  in_code = False
  for number, line in enumerate(read(name).splitlines(), 1):
    if line.startswith("```"):
      in_code = not in_code
    if in_code or not line.startswith("|"):
      continue
    for cell in re.split(r"(?<!\\)\|", line.strip().strip("|")):
      cells.append((number, cell.strip()))
  return cells


def glossary_names():
  """The names the metrics glossary defines: the backticked names of its
  `###` headings (`<K>` stands for a number)."""
  names = set()
  for heading in re.findall(r"^### (.*)$", read(GLOSSARY), flags=re.M):
    names.update(re.findall(r"`([^`]+)`", heading))
  return names


def glossary_entry(key):
  """The glossary's name for a metric key: itself, or with a trailing `_k<digits>`
  (the K of older evaluation tags) written `_k<K>`."""
  return re.sub(r"_k\d+$", "_k<K>", key)

# The 

# What users never see: references to the tracker ("issue 12", "#12", "stop 3").
TRACKER = [re.compile(p, re.I) for p in (r"\bissues?\s*#?\s*\d+", r"(?<![\w&/])#\d+\b",
                                          r"\bstop\s+\d+\b", r"\bthe issue\b")]
MAX_CELL = 300  # characters: longer goes into prose or a list
README_LINES = 150
# The README's commands that .ci/run runs (keep them exactly).
INSTALL = "pip install -e '.[test]'"
TEST = 'python -m pytest -q -n 2 -m "not slow" tests'


def _texts():
  names = doc_pages() + [MKDOCS] + sorted(
      os.path.relpath(os.path.join(d, f), ROOT)
      for d, _, files in os.walk(os.path.join(ROOT, DOCS, "notebooks"))
      for f in files if f.endswith(".ipynb"))
  return {name: read(name) for name in names}


def test_no_issue_numbers():
  found = [f"{name}: {m.group(0)!r}" for name, text in _texts().items()
           for pattern in TRACKER for m in pattern.finditer(text)]
  assert not found, found


def test_the_tracker_pattern_catches_what_it_should():
  for text in ("see issue 12", "(#3)", "Issues #4 and", "at stop 7", "the issue asks"):
    assert any(p.search(text) for p in TRACKER), text
  for text in ("[alws](#alws)", "stops at step 2000", "x ~ N(0, I)", "&#8212;"):
    assert not any(p.search(text) for p in TRACKER), text


def test_table_cells_are_short():
  long_cells = [f"{name}:{line}: {len(cell)} characters" for name in doc_pages()
                for line, cell in table_cells(name) if len(cell) > MAX_CELL]
  assert not long_cells, long_cells


def test_the_readme_is_short_and_keeps_the_ci_commands():
  readme = read(README)
  assert len(readme.splitlines()) <= README_LINES
  lines = [line.split("#")[0].strip() for line in readme.splitlines()]
  assert INSTALL in lines and TEST in lines
  ci = read(".ci/run")
  assert INSTALL in ci and TEST in ci


def test_relative_links_and_images_resolve():
  missing = []
  for name in doc_pages():
    text = re.sub(r"^```.*?^```", "", read(name), flags=re.S | re.M)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
      path = target.split("#")[0]
      if not path or re.match(r"[a-z]+:", path):
        continue
      if not os.path.exists(os.path.join(ROOT, os.path.dirname(name), path)):
        missing.append(f"{name}: {target}")
  assert not missing, missing


def test_every_page_is_in_the_nav():
  nav = read(MKDOCS)
  for name in doc_pages()[1:]:
    page = os.path.relpath(name, DOCS)
    assert re.search(rf"[\s:-] {re.escape(page)}$", nav, flags=re.M), page

# The Python blocks.

BLOCKS = [(name, line, code) for name in doc_pages()
          for line, code, skipped in python_blocks(name) if not skipped]
SKIPPED = [(name, line) for name in doc_pages()
           for line, _, skipped in python_blocks(name) if skipped]


def test_there_are_examples_and_few_are_skipped():
  assert len(BLOCKS) >= 6, BLOCKS
  assert len(SKIPPED) <= 2, f"skipped blocks: {SKIPPED}; run them, or say why not"
  assert any(name == README for name, _, _ in BLOCKS)


@pytest.mark.parametrize("name,line,code", BLOCKS,
                         ids=[f"{name}:{line}" for name, line, _ in BLOCKS])
def test_block_runs(name, line, code):
  namespace = {}
  exec(compile(code, f"{name}:{line}", "exec"), namespace)  # pylint: disable=exec-used
  metrics = namespace.get("metrics")
  if metrics is not None:  # a training loop ran to its end: its last metrics are numbers
    assert metrics
    for value in metrics.values():
      assert bool(tf.reduce_all(tf.math.is_finite(value))), (name, line, metrics)

# The metrics glossary.

# Options that add or rename metrics, beyond each estimator's defaults.
VARIANTS = {"elbo": [{"beta": 0.5}], "nvil": [{"bound": "iwae"}], "stl": [{"bound": "elbo"}],
            "rws": [{"guide_update": "sleep"}]}
SMALL = {"alws": {"num_sleep_samples": 40, "num_features": 40}, "beta_tc_vae": {"dataset_size": 100},
         "vimco": {"num_samples": 2}}
# Written by code that lands with the Keras integration; documented already.
COMING = {"learning_rate", "air/count_accuracy", "air/box_iou", "eval/log_likelihood",
          "eval/ess", "eval/bits_per_dim", "final/log_likelihood", "final/ess",
          "final/bits_per_dim"}


def _estimator_keys():
  keys = set()
  model = models.get("vae", input_shape=(6, 6, 1), hidden_sizes=(8,), latent_sizes=(2,))
  x = tf.cast(tf.random.stateless_uniform([4, 6, 6, 1], [0, 1]) < 0.5, tf.float32)
  for name in estimators.names():
    if estimators.get_spec(name).source != "tfp_zoo":
      continue
    for variant in [{}] + VARIANTS.get(name, []):
      estimator = estimators.bind(name, **{**SMALL.get(name, {}), **variant})
      objectives = estimator(model, x, seed=tf.constant([0, 1]), state=estimator.init(model))
      keys.update(objectives.metrics)
  return keys


def _loop_keys(workdir):
  training.train(testing.tiny_train_config(workdir, eval_every=5, snr_every=5, snr_num_draws=2))
  tags = set()
  for path in glob.glob(os.path.join(workdir, "*", "events.out.tfevents.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      tags.update(v.tag for v in event.summary.value)
  return tags


def _step_keys():
  model = models.get("matrix_factorisation", input_shape=(6, 6, 1), latent_size=3,
                     dictionary="nonnegative", prior="exponential", guide_hidden_size=8)
  estimator = estimators.bind("elbo")
  theta, phi = model.generative_variables, model.guide_variables
  step = training.make_train_step(model, estimator, training.make_optimizer(1e-3, theta),
                                  training.make_optimizer(1e-3, phi),
                                  config=training.StepConfig(dataset_size=100))
  return set(step(tf.fill([4, 6, 6, 1], 0.5), tf.constant(0, tf.int64)))


def _missing(keys):
  documented = glossary_names()
  return sorted(k for k in keys if glossary_entry(k) not in documented)


def test_estimator_metrics_are_in_the_glossary():
  keys = _estimator_keys()
  assert {"elbo", "iwae", "ess", "accept_rate", "regression_error",
          "posterior_mean_error"} <= keys, keys
  assert not _missing(keys), _missing(keys)


def test_train_step_metrics_are_in_the_glossary():
  keys = _step_keys()
  assert {"generative_loss", "guide_loss", "finite", "parameter_log_prior"} <= keys, keys
  assert not _missing(keys), _missing(keys)


def test_loop_summaries_are_in_the_glossary(tmp_path):
  tags = _loop_keys(str(tmp_path / "run"))
  assert {"generative_loss", "examples_per_second", "gradient_snr/generative",
          "samples/x"} <= tags, tags
  assert not _missing(tags), _missing(tags)


def test_coming_names_are_in_the_glossary():
  assert not _missing(COMING), _missing(COMING)


def test_an_undocumented_key_is_caught():
  assert _missing({"no_such_metric", "test_log_likelihood_k100"}) == ["no_such_metric"]

