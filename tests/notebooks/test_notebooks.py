"""Every notebook runs headless (nbclient) in quick mode."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_notebooks_are_committed_with_outputs_cleared():
    assert {p.stem for p in NOTEBOOKS} >= {"quickstart", "linear_regression", "mnist_mlp", "mnist_cnn",
                                          "binary_mlp", "imdb_rnn", "imdb_lstm", "transformer_text", "visualize_activations",
                                          "transfer_learning"}
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text())["cells"]:
            assert not cell.get("outputs"), f"{path.name} has stored outputs"


def _execute(path, fashion_dir, tmp_path):
    """Runs one notebook in a fresh kernel, as a user's Jupyter would, and returns it with its outputs."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("KERASISH_QUICK", "1")
        # No KERASISH_DATA_PATH: the notebooks find the Debian Fashion-MNIST (`fashion_dir`) by themselves.
        env.delenv("KERASISH_DATA_PATH", raising=False)
        env.setenv("KERASISH_HOME", str(tmp_path / "home"))
        # No MPLBACKEND: the kernel then uses Jupyter's inline backend, so figures render as PNG outputs.
        env.delenv("MPLBACKEND", raising=False)
        # One intra-op thread in the kernel, as each test worker has (tests/conftest.py): a kernel with
        # torch's default threads beside the other worker oversubscribed CI's 2 cores (a notebook that runs
        # in 8 s alone took 33 s in the suite).
        env.setenv("OMP_NUM_THREADS", "1")
        nb = nbformat.read(path, as_version=4)
        client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                         resources={"metadata": {"path": str(tmp_path)}})
        client.execute()
    return nb


@pytest.fixture(scope="module")
def executed():
    """The notebooks this module has run, by name: later tests read their outputs instead of running them again."""
    return {}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_headless(path, fashion_dir, tmp_path, executed):
    nb = executed[path.stem] = _execute(path, fashion_dir, tmp_path)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


def _png_size(data: bytes):
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"not a PNG: starts with {data[:8]!r}"
    assert data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_quickstart_shows_the_history_plot_inline(fashion_dir, tmp_path, executed):
    """The cell tagged `history-plot` renders the fit's History as a PNG (loss and accuracy panels)."""
    nb = executed.get("quickstart") or _execute(NOTEBOOKS[0].parent / "quickstart.ipynb", fashion_dir, tmp_path)
    cells = [c for c in nb.cells if "history-plot" in c.metadata.get("tags", [])]
    assert len(cells) == 1, "quickstart.ipynb should have one cell tagged history-plot"
    images = [o["data"]["image/png"] for o in cells[0].outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1, f"expected one inline PNG, got {[sorted(o.get('data', o)) for o in cells[0].outputs]}"
    png = base64.b64decode(images[0])
    width, height = _png_size(png)
    # Two panels (loss, accuracy) of 4.5 x 3.5 inches at the inline backend's 72+ dpi.
    assert width >= 500 and height >= 200 and width > height, (width, height)
    image = pytest.importorskip("PIL.Image").open(io.BytesIO(png)).convert("RGB")
    assert image.size == (width, height)
    assert len(image.getcolors(maxcolors=1 << 16) or range(1 << 16)) > 50, "the plot is (nearly) blank"
    # The figure shows once (plot_history closes it, so nothing renders it again at the cell's end).
    all_pngs = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(all_pngs) == 1
