"""Every notebook runs headless (nbclient) in quick mode."""

from __future__ import annotations

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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_headless(path, fashion_dir, monkeypatch, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("KERASISH_QUICK", "1")
    monkeypatch.setenv("KERASISH_DATA_PATH", str(fashion_dir))
    monkeypatch.setenv("KERASISH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
