"""Import contract: core never imports callbacks/recipes at module top; `import kerasish` is cheap;
kerasish.saving never imports kerasish.models."""

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


def _all_imports(path: Path):
    """Every module `path` imports, at any depth: import statements and importlib.import_module('...') calls."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{a.name}" for a in node.names)
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None))
              in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant)):
            yield str(node.args[0].value)


def test_saving_never_imports_models():
    # Saved configs name classes; kerasish.layers and kerasish.models register theirs in
    # kerasish.utils.object_registration when imported, so saving needs neither (no
    # models <-> saving circle, not even a lazy one inside a function or via importlib).
    offenders = []
    for path in (ROOT / "kerasish" / "saving").rglob("*.py"):
        for name in _all_imports(path):
            if name == "kerasish.models" or name.startswith("kerasish.models."):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, "kerasish.saving must find model classes through the registry:\n" + "\n".join(offenders)


def test_tree_helpers_are_a_leaf():
    # Layers, data and the trainer all use them; they import nothing of kerasish.
    path = ROOT / "kerasish" / "utils" / "tree.py"
    assert [n for n in _all_imports(path) if n.startswith("kerasish")] == []


def test_object_registry_is_a_leaf():
    path = ROOT / "kerasish" / "utils" / "object_registration.py"
    ours = sorted(n for n in _all_imports(path) if n.startswith("kerasish"))
    assert ours == ["kerasish.utils.text", "kerasish.utils.text.did_you_mean", "kerasish.utils.text.short_repr"]


def test_builtin_classes_are_registered_by_their_packages():
    code = (
        "import kerasish.saving\n"
        "from kerasish.utils.object_registration import builtin_classes\n"
        "from kerasish.models import Model, Sequential\n"
        "from kerasish.layers import Dense\n"
        "found = builtin_classes()\n"
        "assert (found['Model'], found['Sequential'], found['Dense']) == (Model, Sequential, Dense)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_import_kerasish_is_cheap_and_lazy():
    code = (
        "import sys, kerasish\n"
        "heavy = [m for m in ('kerasish.callbacks.tensorboard', 'tensorboard', 'torchvision', 'matplotlib',"
        " 'kerasish.recipes', 'kerasish.datasets', 'kerasish.saving') if m in sys.modules]\n"
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


def test_ops_are_a_leaf():
    # Layers, losses, metrics and users build on kerasish.ops; it imports only torch, NumPy,
    # kerasish.config, kerasish.tree and itself (never layers, models, training or saving).
    allowed = ("kerasish.ops", "kerasish.config", "kerasish.tree")
    offenders = []
    for path in (ROOT / "kerasish" / "ops").rglob("*.py"):
        for name in _all_imports(path):
            if name.startswith("kerasish") and not name.startswith(allowed) and name != "kerasish":
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, "kerasish.ops must stay a leaf:\n" + "\n".join(offenders)
