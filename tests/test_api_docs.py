"""Every public callable documents its arguments and what it returns.

Public callables are the functions and classes named in `__all__` of
`tfp_zoo` and of each of its modules and subpackages that has one (found with
pkgutil, so a new subpackage or module is checked as soon as it exists); a
subpackage without `__all__` (`tfp_zoo.app`) is represented by its modules'
`__all__`. Each is checked against its Google-style docstring, the form the
API reference renders (mkdocstrings, griffe's Google parser):

- a summary line;
- every parameter of the signature under `Args:` (`*args` and `**kwargs` by
  their starred names, e.g. `**options:`), and nothing there that the
  signature lacks;
- a function that returns a value has `Returns:` (a generator `Yields:`);
- a class documents its constructor's parameters under `Args:` in the class
  docstring or in `__init__`'s; a dataclass or named tuple documents its
  fields under `Attributes:` (or `Args:`), except a config field made with
  `fields.field(default, help)`, whose help is its documentation (the
  launcher's flag help; one text, beside the field);
- section items read as `name: text` or `name (type): text`.

Type aliases in `__all__` (`estimators.Estimator`) are types, not callables,
and are not checked.

All failures are reported at once.
"""

import dataclasses
import importlib
import inspect
import pkgutil
import re
import typing

import tensorflow as tf

import tfp_zoo
# The modules the check finds today (imported here too, so BUILD's deps name them).
from tfp_zoo import (app, datasets, distributions, errors, estimators, evaluation,
                     exponential_family, kernels, models, nn, registry, testing, training)

# Public names whose documentation is not ours to write, with the reason.
ALLOWLIST = {
    # Keep this tiny: every entry is a name users see without its arguments.
    "tfp_zoo.models.Root": "TFP's JointDistributionCoroutine.Root, re-exported for "
                           "models' coroutines; TFP documents it",
}

_SECTION = re.compile(r"^(\w[\w ]*):\s*$")
_ITEM = re.compile(r"^(\*{0,2}[A-Za-z_]\w*)\s*(\([^)]*\))?\s*:(\s|$)")
_ARG_SECTIONS = ("Args", "Arguments", "Parameters")
_FIELD_SECTIONS = ("Attributes",) + _ARG_SECTIONS
_RETURN_SECTIONS = ("Returns", "Return")
_YIELD_SECTIONS = ("Yields", "Yield")
_KNOWN_SECTIONS = (_FIELD_SECTIONS + _RETURN_SECTIONS + _YIELD_SECTIONS
                   + ("Raises", "Example", "Examples", "Note", "Notes", "Warning",
                      "Warnings", "References", "See Also", "Todo", "Receives",
                      "Other Parameters", "Keyword Args", "Keyword Arguments", "Methods",
                      "Functions", "Classes", "Modules"))


def public_modules():
  """`tfp_zoo` and each of its direct modules and subpackages that has
  `__all__` (a subpackage without it: its own modules with `__all__`)."""
  modules = [tfp_zoo]
  for info in pkgutil.iter_modules(tfp_zoo.__path__, "tfp_zoo."):
    if info.name.rpartition(".")[2].startswith("_"):
      continue
    module = importlib.import_module(info.name)
    if hasattr(module, "__all__"):
      modules.append(module)
    elif info.ispkg:
      for sub in pkgutil.iter_modules(module.__path__, f"{info.name}."):
        if not sub.name.rpartition(".")[2].startswith("_"):
          submodule = importlib.import_module(sub.name)
          if hasattr(submodule, "__all__"):
            modules.append(submodule)
  return modules


def _is_type_alias(obj):
  return type(obj).__module__ == "typing" or isinstance(obj, typing.TypeVar)


def public_callables():
  """(qualified name, object) for each public function and class, each object
  once: an alias is checked under the name nearest its definition."""
  found = {}
  for module in public_modules():
    for name in module.__all__:
      obj = getattr(module, name)
      if inspect.ismodule(obj) or not callable(obj) or _is_type_alias(obj):
        continue
      target = obj if inspect.isclass(obj) else inspect.unwrap(obj)
      home = getattr(target, "__module__", "") or ""
      rank = (name == getattr(target, "__name__", None),
              home == module.__name__ or home.startswith(module.__name__ + "."),
              len(module.__name__))
      if id(target) not in found or rank > found[id(target)][0]:
        found[id(target)] = (rank, f"{module.__name__}.{name}", obj)
  return [(qualified, obj) for _, qualified, obj in found.values()]


def parse_sections(doc):
  """{section title: [item names]} of a cleaned Google-style docstring, plus
  the lines that should be items but are not `name: text`."""
  sections, malformed = {}, []
  lines = doc.splitlines()
  i = 0
  while i < len(lines):
    match = _SECTION.match(lines[i])
    title = match and match.group(1)
    if title not in _KNOWN_SECTIONS:
      i += 1
      continue
    block = []
    i += 1
    while i < len(lines) and (not lines[i].strip() or lines[i].startswith((" ", "\t"))):
      block.append(lines[i])
      i += 1
    items = sections.setdefault(title, [])
    body = [line for line in block if line.strip()]
    if not body or title not in _FIELD_SECTIONS:
      continue
    indent = len(body[0]) - len(body[0].lstrip())
    for line in body:
      if len(line) - len(line.lstrip()) != indent:
        continue  # continuation of the item above
      item = _ITEM.match(line.strip())
      if item:
        items.append(item.group(1))
      else:
        malformed.append(f"{title}: {line.strip()!r} is not 'name: text'")
  return sections, malformed


def _names(sections, titles):
  return [name for title in titles for name in sections.get(title, ())]


def _parameters(signature):
  """name as documented (`*args`, `**options`) -> its parameter, without self/cls."""
  out = {}
  for index, (name, parameter) in enumerate(signature.parameters.items()):
    if index == 0 and name in ("self", "cls"):
      continue
    prefix = {inspect.Parameter.VAR_POSITIONAL: "*",
              inspect.Parameter.VAR_KEYWORD: "**"}.get(parameter.kind, "")
    out[prefix + name] = parameter
  return out


def _check_arguments(expected, documented, where):
  problems = []
  missing = [n for n in expected if n not in documented]
  if missing:
    problems.append(f"{where}: not documented: {', '.join(missing)}")
  stale = [n for n in documented if n not in expected]
  if stale:
    problems.append(f"{where}: documented but not in the signature: {', '.join(stale)}")
  return problems


def _own_doc(obj):
  """The object's own docstring, cleaned (never a base class's), or ''."""
  doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
  if inspect.isclass(obj) and dataclasses.is_dataclass(obj) and doc and doc.startswith(
      f"{obj.__name__}("):
    doc = None  # the signature dataclasses writes when there is no docstring
  return inspect.cleandoc(doc) if doc else ""


def _summary_problem(doc):
  first = doc.splitlines()[0].strip() if doc else ""
  if not first or _SECTION.match(first):
    return "no summary line"
  return None


def _returns_nothing(signature):
  """Whether the return annotation says None (or NoReturn); a function without
  one must document what it returns."""
  return signature.return_annotation in (None, "None", type(None), typing.NoReturn,
                                         "NoReturn", "typing.NoReturn")


def check_function(function):
  """Problems with a function's docstring, as text."""
  doc = _own_doc(function)
  problems = []
  summary = _summary_problem(doc)
  if summary:
    return [summary]
  sections, malformed = parse_sections(doc)
  problems += malformed
  signature = inspect.signature(function)
  problems += _check_arguments(_parameters(signature), _names(sections, _ARG_SECTIONS),
                               "Args")
  if inspect.isgeneratorfunction(inspect.unwrap(function)):
    if not any(t in sections for t in _YIELD_SECTIONS):
      problems.append("a generator without 'Yields:'")
  elif not _returns_nothing(signature) and not any(
      t in sections for t in _RETURN_SECTIONS):
    problems.append("returns a value but has no 'Returns:'")
  return problems


def _record_fields(cls):
  """The fields a dataclass or named tuple must document (None for a class)."""
  if dataclasses.is_dataclass(cls):
    return [f.name for f in dataclasses.fields(cls) if not f.metadata.get("help")]
  if issubclass(cls, tuple) and hasattr(cls, "_fields"):
    return list(cls._fields)
  return None


def _init_signature(cls):
  """The constructor's signature, or None if it is object's or an exception's."""
  for klass in cls.__mro__:
    if "__init__" in klass.__dict__ or "__new__" in klass.__dict__:
      if klass in (object, BaseException, Exception) or klass.__module__ == "builtins":
        return None
      break
  try:
    return inspect.signature(cls)
  except (TypeError, ValueError):
    return None


def check_class(cls):
  """Problems with a class's docstring (and its constructor's), as text."""
  doc = _own_doc(cls)
  summary = _summary_problem(doc)
  if summary:
    return [summary]
  sections, problems = parse_sections(doc)
  fields = _record_fields(cls)
  if fields is not None:
    documented = _names(sections, _FIELD_SECTIONS)
    missing = [f for f in fields if f not in documented]
    if missing:
      problems.append(f"Attributes: fields not documented: {', '.join(missing)}")
    stale = [n for n in documented if n not in fields and not hasattr(cls, n)]
    if stale:
      problems.append(f"Attributes: documented but not a field: {', '.join(stale)}")
    return problems
  signature = _init_signature(cls)
  init = getattr(cls, "__init__", None)
  init_doc = inspect.cleandoc(init.__doc__) if inspect.isfunction(init) and init.__doc__ else ""
  init_sections, init_malformed = parse_sections(init_doc)
  if init_doc and init.__qualname__.split(".")[0] == cls.__name__:
    problems += [f"__init__ {m}" for m in init_malformed]
  documented = _names(sections, _ARG_SECTIONS) + _names(init_sections, _ARG_SECTIONS)
  expected = _parameters(signature) if signature is not None else {}
  problems += _check_arguments(expected, documented, "Args")
  return problems


def failures():
  """'module.name: problem' for every public callable's documentation."""
  out = []
  for name, obj in public_callables():
    if name in ALLOWLIST:
      continue
    problems = check_class(obj) if inspect.isclass(obj) else check_function(obj)
    out += [f"{name}: {problem}" for problem in problems]
  return out


class ApiDocsTest(tf.test.TestCase):

  def test_every_public_callable_documents_its_arguments_and_result(self):
    problems = failures()
    if problems:
      self.fail(f"{len(problems)} documentation problems (Google style: 'Args:' with "
                "'name: text' items, 'Returns:'):\n  " + "\n  ".join(problems))

  def test_the_check_sees_the_public_api(self):
    modules = public_modules()
    for module in (tfp_zoo, datasets, distributions, errors, estimators, evaluation,
                   exponential_family, kernels, models, nn, registry, testing, training,
                   app.export, app.figures, app.launch_flags, app.catalogue):
      self.assertIn(module, modules)
    names = {name for name, _ in public_callables()}
    self.assertGreater(len(names), 100)
    for name in ("tfp_zoo.estimators.iwae", "tfp_zoo.models.VAE",
                 "tfp_zoo.training.TrainConfig", "tfp_zoo.app.export.export_model"):
      self.assertIn(name, names)
    self.assertNotIn("tfp_zoo.iwae", names)  # an alias of estimators.iwae, checked once
    for name in ALLOWLIST:
      self.assertIn(name, names, "an allowlisted name that is no longer public")

  def test_the_check_finds_what_is_missing(self):
    def documented(a: int, *rest: int, b: int = 1, **options: int) -> int:
      """Adds.

      Args:
        a: first.
        *rest: more.
        b (int): second.
        **options: extra.

      Returns:
        The sum.
      """
      return a + sum(rest) + b + sum(options.values())

    def undocumented(a: int, b: int = 1) -> int:
      """Adds.

      Args:
        a: first.
        c: gone.
      """
      return a + b

    def generator(n: int) -> typing.Iterator[int]:
      """Counts.

      Args:
        n: how far.

      Returns:
        Numbers.
      """
      yield from range(n)

    self.assertEmpty(check_function(documented))
    self.assertCountEqual(check_function(undocumented), [
        "Args: not documented: b", "Args: documented but not in the signature: c",
        "returns a value but has no 'Returns:'"])
    self.assertEqual(check_function(generator), ["a generator without 'Yields:'"])
    self.assertEqual(check_function(lambda: None), ["no summary line"])

    @dataclasses.dataclass
    class Record:
      """A record.

      Attributes:
        x: the x.
      """
      x: int
      y: int

    class Thing:
      """A thing.

      Args:
        size: how big.
      """

      def __init__(self, size: int, colour: str = "red"):
        self.size, self.colour = size, colour

    self.assertEqual(check_class(Record), ["Attributes: fields not documented: y"])
    self.assertEqual(check_class(Thing), ["Args: not documented: colour"])
    _, malformed = parse_sections(inspect.cleandoc("""Summary.

    Args:
      x - the x.
    """))
    self.assertEqual(malformed, ["Args: 'x - the x.' is not 'name: text'"])


if __name__ == "__main__":
  import sys  # pylint: disable=g-import-not-at-top
  if "--list" in sys.argv:
    print("\n".join(failures()))
  else:
    tf.test.main()
