"""Griffe extension for the API reference (loaded by mkdocs.yml's mkdocstrings options).

What griffe cannot know from reading kerasish's source, and how this extension supplies it:

- The installed package maps `kerasish.callbacks` to the repository's `callbacks/` folder (and
  `kerasish.recipes` to `recipes/`) through pyproject.toml's `[tool.setuptools.package-dir]`.
  Griffe reads files without importing them, so it only sees `kerasish/`. This extension loads
  the two folders as submodules of `kerasish`, so `::: kerasish.callbacks` resolves and the
  aliases inside (`from kerasish.callbacks.callback import Callback`) point at real objects.
- `kerasish.layers` loads each layer's module when its name is first used (PEP 562); its `_MODULES`
  table (module -> names) says where each name lives. This extension adds those names as aliases
  of `kerasish.layers`, so the reference documents them at their public path.
- Some docstrings are built when the module runs (`__doc__ = _POOL_ARGS.format(...)`, classes made
  by a factory such as the recurrent layers, the losses and the applications), so the source holds
  none. For a module-level object with no docstring in its source, this extension imports the
  module and uses the object's own `__doc__` (never one inherited from a base class).
- kerasish's house style heads a docstring's doctest with `Example:` (as Keras does). Griffe's
  Google parser reads only `Examples:` as a section of code examples and renders `Example:` as
  a Markdown admonition, where `>>>` lines become nested block quotes. The docstrings keep the
  house style; the reference reads the singular header as the plural one.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import griffe

ROOT = Path(__file__).resolve().parents[1]
#: submodule of `kerasish` -> folder that holds it (pyproject.toml's package-dir table).
PACKAGE_DIRS = {"callbacks": ROOT / "callbacks", "recipes": ROOT / "recipes"}
#: package -> name of its lazy-import table, `{submodule: (public names, ...)}`.
LAZY_TABLES = {"layers": "_MODULES"}
_EXAMPLE_HEADER = re.compile(r"^Example:[ \t]*$", re.M)


def _runtime_docstring(obj: griffe.Object) -> None:
    if obj.docstring is not None or obj.parent is None or not obj.parent.is_module:
        return
    if not obj.path.startswith("kerasish.") or obj.name.startswith("_"):
        return
    value = getattr(importlib.import_module(obj.parent.path), obj.name, None)
    if isinstance(value, type):
        doc = value.__dict__.get("__doc__")
    elif inspect.isfunction(value):
        doc = value.__doc__
    else:
        return
    if isinstance(doc, str) and doc.strip():
        obj.docstring = griffe.Docstring(inspect.cleandoc(doc), parent=obj)


def _examples_section(obj: griffe.Object) -> None:
    if obj.docstring is not None:
        obj.docstring.value = _EXAMPLE_HEADER.sub("Examples:", obj.docstring.value)


class KerasishReference(griffe.Extension):
    """Completes griffe's view of kerasish for the API reference (see the module docstring)."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if pkg.name != "kerasish":
            return
        _examples_section(pkg)
        for name, folder in PACKAGE_DIRS.items():
            if name in pkg.members:
                continue
            init = folder / "__init__.py"
            if not init.exists():
                raise FileNotFoundError(
                    f"The API reference expects `kerasish.{name}` in {folder}, but {init} does not exist. "
                    "Update PACKAGE_DIRS in docs/griffe_kerasish.py to match pyproject.toml's package-dir.")
            # griffe has no public call that loads a folder as a submodule of an already loaded package.
            module = loader._load_module(name, init, submodules=True, parent=pkg)
            pkg.set_member(name, module)
        for name, table in LAZY_TABLES.items():
            self._lazy_names(pkg[name], table)

    @staticmethod
    def _lazy_names(package: griffe.Module, table: str) -> None:
        for node in ast.parse(Path(package.filepath).read_text()).body:
            targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            if any(isinstance(t, ast.Name) and t.id == table for t in targets):
                for module, names in ast.literal_eval(node.value).items():
                    for name in names:
                        if name not in package.members:
                            package.set_member(name, griffe.Alias(name, f"{package.path}.{module}.{name}"))
                return
        raise LookupError(f"{package.filepath} has no `{table}` table; update LAZY_TABLES in "
                          "docs/griffe_kerasish.py to how the package lists its lazily imported names.")

    def on_object(self, *, obj: griffe.Object, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        _runtime_docstring(obj)
        _examples_section(obj)
