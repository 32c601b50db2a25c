"""MkDocs hook: fills the ops page with a table of every op in `kerasish.ops`.

Most ops are made by small factories (`add = _binary(torch.add, ...)`) and the flat `ops.<name>`
namespace is filled at import time, so reading the source (what mkdocstrings does) sees neither
their signatures nor their docstrings. This hook imports `kerasish.ops` while the site builds and
writes one row per op: its Keras path, its signature and the first paragraph of its docstring.
"""

from __future__ import annotations

import html
import importlib
import inspect
from typing import Any, Callable, Dict, List

MARKER = "<!-- kerasish:ops-table -->"
#: registry namespace -> (heading, how the op is reached from `kerasish.ops`)
SECTIONS = {
    "numpy": ("NumPy ops", "ops.{name}"),
    "nn": ("Neural-network ops", "ops.{name}"),
    "core": ("Core ops", "ops.{name}"),
    "math": ("Math ops", "ops.{name}"),
    "linalg": ("Linear algebra", "ops.{name}"),
    "image": ("Image ops", "ops.image.{name}"),
    "einops": ("einops", "ops.{name}"),
}


def _signature(fn: Callable[..., Any]) -> str:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return "(...)"
    params = [p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()]
    return str(sig.replace(parameters=params, return_annotation=inspect.Signature.empty))


def _summary(fn: Callable[..., Any]) -> str:
    doc = inspect.getdoc(fn) or ""
    return " ".join(doc.split("\n\n")[0].split()).replace("|", "&#124;")


def ops_tables(ops: Dict[str, Callable[..., Any]]) -> str:
    """Markdown for every registered op, one table per namespace, in alphabetical order."""
    unknown = sorted({key.split(".", 1)[0] for key in ops} - set(SECTIONS) - {"activations"})
    if unknown:
        raise ValueError(
            f"kerasish.ops registers ops in namespaces the ops page does not list: {unknown}. "
            "Add them to SECTIONS in docs/ops_table.py.")
    parts: List[str] = []
    for namespace, (heading, path) in SECTIONS.items():
        names = sorted(key.split(".", 1)[1] for key in ops if key.split(".", 1)[0] == namespace)
        parts += [f"## {heading}", "", f"{len(names)} ops.", "", "| op | signature | what it does |", "| --- | --- | --- |"]
        for name in names:
            fn = ops[f"{namespace}.{name}"]
            parts.append(f"| `{path.format(name=name)}` | <code>{html.escape(_signature(fn)).replace('|', '&#124;')}</code> "
                         f"| {_summary(fn)} |")
        parts.append("")
    return "\n".join(parts)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, ops_tables(all_ops()))


def all_ops() -> Dict[str, Callable[..., Any]]:
    """Every op by 'namespace.name', after importing every namespace (they may load lazily)."""
    from kerasish.ops.operation import registered_ops

    for namespace in SECTIONS:
        importlib.import_module(f"kerasish.ops.{namespace}")
    return registered_ops()
