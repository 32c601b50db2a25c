"""benchmarks/peers.py and benchmarks/workloads.py: the peers benchmark runs and compares like with like.

No timing is asserted (numbers belong in the benchmark's output); these tests check that
every framework starts from the same model, and that one run prints a row with numbers
for every workload and framework, or says why it has none.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from tests.keras_parity import keras_module

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "benchmarks")
sys.path.insert(0, BENCH)

import peers  # noqa: E402
import workloads as W  # noqa: E402

NAMES = list(W.SPECS)
# A row with numbers: median, ratio, spread, RSS, final metric.
NUMBER_ROW = r"{w}\s+{f}\s+[\d.]+ (us/step|s/epoch)\s+[\d.]+\s+[\d.]+ (us|s)-[\d.]+ (us|s)\s+\d+\s+(acc|w)=-?[\d.]+"


def _sample_input(name: str) -> np.ndarray:
    rng = np.random.default_rng(1)
    if name in ("lstm", "transformer"):
        return rng.integers(0, W.VOCAB, (6, W.LENGTH))
    shape = {"linreg": (6, 1), "mlp": (6, 784), "cnn": (6, 28, 28, 1)}[name]
    return rng.random(shape, dtype=np.float32)


def _kerasish_model(name: str):
    import kerasish

    kerasish.utils.set_random_seed(0)
    return W.build_model(name, kerasish, device="cpu")


@pytest.mark.parametrize("name", NAMES)
def test_torch_net_with_copied_weights_matches_kerasish(name):
    model = _kerasish_model(name)
    net = W.torch_net(name)
    W.load_keras_weights(name, net, model.get_weights())
    net.eval()
    x = _sample_input(name)
    with torch.no_grad():
        out = net(W.torch_inputs(name, x))
    if W.SPECS[name]["loss"] == "sparse":  # the Keras models end in softmax, the torch nets in logits
        out = out.softmax(-1)
    np.testing.assert_allclose(out.numpy(), model.predict(x, verbose=0), atol=1e-5, rtol=1e-5)


def test_keras3_models_match_kerasish_with_the_same_weights():
    keras = keras_module()
    for name in NAMES:
        model = _kerasish_model(name)
        twin = W.build_model(name, keras)
        twin.set_weights(model.get_weights())
        x = _sample_input(name)
        np.testing.assert_allclose(twin.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5, rtol=1e-5,
                                   err_msg=name)


def test_tweets_sample_holds_both_labels():
    # The corpus is sorted by label; a sample of its first rows would be one class only.
    _, y = W.load_tweets(512, W.LENGTH, W.VOCAB)
    assert 0.05 < float(y.mean()) < 0.95


def test_unknown_workload_names_the_valid_ones():
    with pytest.raises(ValueError, match=r"Unknown workload 'gru'; expected one of \['cnn', 'linreg'"):
        W.torch_net("gru")


def _run_peers(*args: str) -> str:
    cmd = [sys.executable, os.path.join(BENCH, "peers.py"), "--samples", "256", "--reps", "2", "--linreg-steps", "20",
           "--threads", "1", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=dict(os.environ, PYTHONPATH=ROOT),
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _assert_rows(out: str, names, frameworks) -> None:
    for name in names:
        for fw in frameworks:
            assert re.search(NUMBER_ROW.format(w=name, f=fw), out), (name, fw, out)
    # The hand loop is the baseline; linreg's full-batch steps from the same weights learn the same w everywhere.
    assert re.search(r"linreg\s+hand\s+[\d.]+ us/step\s+1\.00\s", out), out
    ws = {float(v) for v in re.findall(r"^linreg .* w=(-?[\d.]+)$", out, re.M)}
    assert len(ws) == 1 and 1.0 < ws.pop() < 2.5, out


def test_every_workload_and_framework_gets_a_row_with_numbers():
    frameworks = ["kerasish", "hand", "hand_dataloader"]
    out = _run_peers("--workloads", "linreg", "mlp", "--frameworks", *frameworks)
    _assert_rows(out, ["linreg", "mlp"], frameworks)


@pytest.mark.slow  # each of Keras 3 and Lightning takes seconds to import in its worker
def test_keras3_and_lightning_get_rows_with_numbers():
    pytest.importorskip("keras")
    pytest.importorskip("lightning")
    frameworks = ["hand", "keras3", "lightning"]
    # One workload: the rows' format is the same for all (the test above runs every workload).
    out = _run_peers("--workloads", "linreg", "--frameworks", *frameworks)
    _assert_rows(out, ["linreg"], frameworks)


def test_markdown_table_and_a_framework_that_is_not_installed(monkeypatch, capsys):
    monkeypatch.setitem(peers.REQUIRES, "lightning", "no_such_module_for_the_test")
    assert peers.main(["--workloads", "linreg", "--frameworks", "hand", "lightning", "--reps", "1",
                       "--linreg-steps", "5", "--threads", "1", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"Measured \d{4}-\d\d-\d\d \d\d:\d\d UTC on .+; torch " + re.escape(torch.__version__), out)
    assert "Command: `python benchmarks/peers.py --workloads linreg --frameworks hand lightning" in out
    assert "| workload | framework | median | ratio to hand | spread (min-max) | peak RSS MB | final |" in out
    assert re.search(r"\| linreg \| hand \| [\d.]+ us/step \| 1\.00 \| [\d.]+ us-[\d.]+ us \| \d+ \| w=[\d.]+ \|", out)
    assert "| linreg | lightning | not installed |" in out


def test_bad_counts_are_refused_with_the_values(capsys):
    with pytest.raises(SystemExit):
        peers.main(["--reps", "0"])
    assert "--reps, --samples and --linreg-steps must be positive; received 0, 60000, 2000" in capsys.readouterr().err
