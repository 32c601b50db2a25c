"""Import contract: core never imports callbacks/recipes at module top; `import kerasish` is cheap."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _top_level_imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_core_has_no_top_level_import_of_callbacks_or_recipes():
    offenders = []
    for path in (ROOT / "kerasish").rglob("*.py"):
        for name in _top_level_imports(path):
            if name.startswith(("kerasish.callbacks", "kerasish.recipes")):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, "core modules must import callbacks lazily:\n" + "\n".join(offenders)


def test_import_kerasish_is_cheap_and_lazy():
    code = (
        "import sys, kerasish\n"
        "heavy = [m for m in ('kerasish.callbacks.tensorboard', 'tensorboard', 'torchvision', 'matplotlib',"
        " 'kerasish.recipes', 'kerasish.datasets') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
        "from kerasish.callbacks import History\n"
        "assert kerasish.callbacks.History is History\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import kerasish pulled in: {out.stdout.strip()}"


def test_bare_callbacks_and_recipes_names_are_not_installed():
    code = "import importlib.util as u; print(u.find_spec('callbacks'), u.find_spec('recipes'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == "None None"


def test_version_and_py_typed():
    import kerasish

    assert kerasish.__version__.count(".") == 2
    assert (ROOT / "kerasish" / "py.typed").exists()
