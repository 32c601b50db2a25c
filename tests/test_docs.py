"""The documentation site: its code examples run, and `mkdocs build --strict` passes.

The ```python blocks of each page in docs/ run in order in one namespace per page (a page's later
blocks use the names its earlier blocks define), as a reader would paste them. The strict build
turns every warning (a docstring griffe cannot parse, a broken link, a missing object) into a
failure; it runs once per session and the API-reference checks read its output.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = ["index.md", "coming-from-keras.md", "coming-from-pytorch.md"]


def python_blocks(markdown: str) -> list:
    return re.findall(r"^```python\n(.*?)^```", markdown, re.S | re.M)


@pytest.mark.parametrize("page", PAGES)
def test_every_python_block_of_the_page_runs(page, capsys):
    blocks = python_blocks((DOCS / page).read_text())
    assert blocks, f"docs/{page} has no ```python block"
    namespace: dict = {"__name__": f"docs_{page.replace('-', '_').replace('.', '_')}"}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"docs/{page} python block {i + 1}", "exec"), namespace)
        except Exception as e:  # the message names the page and the block
            raise AssertionError(f"docs/{page} python block {i + 1} failed: {type(e).__name__}: {e}\n{block}") from e
    printed = capsys.readouterr().out
    for expected in re.findall(r"#\s*(\[.*?\]|\(\d.*?\)|\d+ \d+|rank 0 of 1)\s*$", "\n".join(blocks), re.M):
        assert expected in printed, f"docs/{page} promises {expected!r} in a comment but printed:\n{printed}"


def test_the_python_block_finder_reads_fenced_blocks_only():
    text = "prose\n```python\na = 1\n```\n```bash\nls\n```\n    ```python\n    b = 2\n    ```\n```python\nc = 3\n```\n"
    assert python_blocks(text) == ["a = 1\n", "c = 3\n"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Runs `mkdocs build --strict` once and returns the built site's folder."""
    if shutil.which("mkdocs") is None and not _has_module("mkdocs"):
        pytest.skip('mkdocs is not installed: pip install -e ".[docs]"')
    for module in ("material", "mkdocstrings", "mkdocstrings_handlers.python"):
        if not _has_module(module):
            pytest.skip(f'{module} is not installed: pip install -e ".[docs]"')
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    return out


def _has_module(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _headings(site: Path, page: str) -> set:
    return set(re.findall(r'id="(kerasish\.[^"]+)"', (site / "api" / page / "index.html").read_text()))


def test_strict_build_writes_every_page(site):
    for page in ["index.html", "coming-from-keras/index.html", "coming-from-pytorch/index.html"]:
        assert (site / page).is_file(), page
    api_pages = sorted(p.stem for p in (DOCS / "api").glob("*.md") if p.stem != "index")
    assert len(api_pages) >= 14
    for page in api_pages:
        assert (site / "api" / page / "index.html").is_file(), page


@pytest.mark.parametrize("page, names", [
    ("models", ["kerasish.models.Model", "kerasish.models.Model.fit", "kerasish.models.Model.compile",
                "kerasish.models.Model.train_step", "kerasish.models.Sequential"]),
    ("layers", ["kerasish.layers.Dense", "kerasish.layers.Conv2D", "kerasish.layers.MultiHeadAttention",
                "kerasish.layers.Layer.add_weight", "kerasish.layers.LSTM", "kerasish.layers.MaxPooling2D",
                "kerasish.layers.Maximum", "kerasish.layers.add"]),
    ("callbacks", ["kerasish.callbacks.EarlyStopping", "kerasish.callbacks.ModelCheckpoint",
                   "kerasish.callbacks.BackupAndRestore", "kerasish.callbacks.History.plot"]),
    ("metrics", ["kerasish.metrics.AUC", "kerasish.metrics.SparseCategoricalAccuracy"]),
    ("optimizers", ["kerasish.optimizers.Adam", "kerasish.optimizers.schedules.CosineDecay",
                    "kerasish.optimizers.KerasAdamTorch"]),
    ("losses", ["kerasish.losses.BinaryCrossentropy", "kerasish.losses.MeanSquaredError"]),
    ("applications", ["kerasish.applications.ResNet50", "kerasish.applications.VGG16"]),
    ("datasets", ["kerasish.datasets.mnist.load_data", "kerasish.datasets.imdb.load_data"]),
    ("data", ["kerasish.data.BucketBatchSampler", "kerasish.utils.to_categorical",
              "kerasish.utils.image_dataset.image_dataset_from_directory"]),
    ("random", ["kerasish.random.SeedGenerator", "kerasish.random.normal"]),
    ("distillation", ["kerasish.distillation.Distiller", "kerasish.distillation.Distiller.compute_loss",
                      "kerasish.distillation.LogitsDistillation", "kerasish.distillation.FeatureDistillation",
                      "kerasish.distillation.DistillationLoss"]),
    ("config", ["kerasish.config.set_device", "kerasish.mixed_precision.set_global_policy"]),
])
def test_api_reference_documents_the_public_names(site, page, names):
    missing = set(names) - _headings(site, page)
    assert not missing, f"docs/api/{page}.md does not document {sorted(missing)}"


def test_ops_page_lists_every_registered_op(site):
    import kerasish.ops

    html = (site / "api" / "ops" / "index.html").read_text()
    ops = [key.split(".", 1) for key in _load_docs_module("ops_table").all_ops() if not key.startswith("activations.")]
    assert len(ops) > 300
    assert {f"<code>ops.{name}</code>" for name in kerasish.ops.__all__ if callable(getattr(kerasish.ops, name))
            and hasattr(getattr(kerasish.ops, name), "op_name")} <= set(re.findall(r"<code>ops\.\w+</code>", html))
    missing = [f"{ns}.{name}" for ns, name in ops
               if f"<code>ops.{'image.' if ns == 'image' else ''}{name}</code>" not in html]
    assert not missing, f"the ops page lacks {missing[:10]} ({len(missing)} in all)"


def test_examples_render_as_code_not_quotes(site):
    html = (site / "api" / "callbacks" / "index.html").read_text()
    start = html.index('id="kerasish.callbacks.History.plot"')
    plot = html[start:start + 20000]
    assert "<blockquote>" not in plot.split('class="doc doc-object')[0]
    assert "get_label" in plot and "highlight" in plot


def _load_docs_module(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"docs_{name}", DOCS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ops_table_escapes_pipes_and_refuses_unknown_namespaces():
    ops_table = _load_docs_module("ops_table")

    def softsign(x, axis=-1):
        """x / (1 + |x|).

        More text that stays out of the table."""

    table = ops_table.ops_tables({"nn.softsign": softsign})
    assert "| `ops.softsign` | <code>(x, axis=-1)</code> | x / (1 + &#124;x&#124;). |" in table
    assert "More text" not in table
    with pytest.raises(ValueError, match=r"namespaces the ops page does not list: \['signal'\].*SECTIONS"):
        ops_table.ops_tables({"signal.stft": softsign})


def test_griffe_extension_names_a_missing_lazy_table(tmp_path):
    griffe = pytest.importorskip("griffe")
    extension = _load_docs_module("griffe_kerasish")
    init = tmp_path / "__init__.py"
    init.write_text("_OTHER = {}\n")
    package = griffe.Module("layers", filepath=init)
    with pytest.raises(LookupError, match=r"has no `_MODULES` table; update LAZY_TABLES"):
        extension.KerasishReference._lazy_names(package, "_MODULES")
    init.write_text("_MODULES = {'core': ('Dense',)}\n")
    extension.KerasishReference._lazy_names(package, "_MODULES")
    assert package["Dense"].target_path == "layers.core.Dense"


def test_griffe_extension_names_a_missing_package_folder(tmp_path, monkeypatch):
    griffe = pytest.importorskip("griffe")
    extension = _load_docs_module("griffe_kerasish")
    monkeypatch.setattr(extension, "PACKAGE_DIRS", {"callbacks": tmp_path / "callbacks"})
    with pytest.raises(FileNotFoundError, match=r"expects `kerasish.callbacks` in .*Update PACKAGE_DIRS"):
        extension.KerasishReference().on_package(pkg=griffe.Module("kerasish"), loader=None)
