"""The README's runnable examples run as printed."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _block_after(heading: str) -> str:
    section = README[README.index(heading):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_writing_a_callback_example_runs():
    namespace: dict = {}
    exec(compile(_block_after("## Writing a callback"), "README.md", "exec"), namespace)
    history = namespace["history"]
    assert 1 <= len(history.history["loss"]) <= 50
    assert set(history.history) == {"loss", "mae", "val_loss", "val_mae"}


def test_your_own_torch_module_example_runs():
    rng = np.random.default_rng(0)
    namespace = {"x": rng.normal(size=(64, 4)).astype("float32"), "y": rng.normal(size=(64, 1)).astype("float32")}
    exec(compile(_block_after("## Your own torch module"), "README.md", "exec"), namespace)
    assert isinstance(namespace["net"], torch.nn.Module)
    assert namespace["model"].optimizer is not None


def test_text_bucketing_example_runs():
    namespace: dict = {}
    exec(compile(_block_after("## Text: vocabulary, padding"), "README.md", "exec"), namespace)
    history = namespace["history"]
    assert len(history.history["loss"]) == 3
    assert history.history["loss"][-1] < history.history["loss"][0]
    # bucketed batches: every batch is padded only to its own (similar) lengths
    loader = namespace["loader"]
    assert all(x.shape[1] <= 5 for x, _ in loader)


def test_extending_example_runs_its_train_step():
    namespace: dict = {}
    exec(compile(_block_after("## Extending: custom layers"), "README.md", "exec"), namespace)
    model = namespace["model"]
    calls = []
    original = type(model).train_step
    type(model).train_step = lambda self, data: (calls.append(1), original(self, data))[1]
    try:
        history = model.fit(torch.randn(64, 8), torch.randn(64, 1), batch_size=16, epochs=1, verbose=0)
    finally:
        type(model).train_step = original
    assert len(calls) == 4
    assert set(history.history) == {"loss", "mae"}


def test_ops_example_runs_and_trains():
    namespace: dict = {}
    exec(compile(_block_after("## `keras.ops`, `keras.random`"), "README.md", "exec"), namespace)
    model = namespace["model"]
    assert tuple(model.output.shape) == (None, 1)
    x = np.random.default_rng(0).integers(0, 50, size=(32, 10))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(x, (x.sum(1) % 2).astype("float32"), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2


def _python_blocks() -> list:
    return re.findall(r"```python\n(.*?)```", README, re.S)


def test_every_python_block_runs(monkeypatch, capsys):
    """Every ```python block of the README runs as printed, in order, each in a fresh namespace with
    the few names the surrounding prose provides (`x`, `y` for 'Your own torch module'). The Keras
    tutorial block reads Fashion-MNIST; a small slice stands in for it (the full set is the recipes')."""
    from kerasish.datasets import fashion_mnist

    rng = np.random.default_rng(0)
    small = ((rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8), rng.integers(0, 10, 60000, dtype=np.uint8)),
             (rng.integers(0, 256, (10000, 28, 28), dtype=np.uint8), rng.integers(0, 10, 10000, dtype=np.uint8)))
    monkeypatch.setattr(fashion_mnist, "load_data", lambda path=None: small)
    blocks = _python_blocks()
    assert len(blocks) >= 6
    for i, block in enumerate(blocks):
        namespace: dict = {"x": rng.normal(size=(64, 4)).astype("float32"),
                           "y": rng.normal(size=(64, 1)).astype("float32")}
        code = block.replace("epochs=5, batch_size=128", "epochs=1, batch_size=4096")  # the tutorial, shortened
        try:
            exec(compile(code, f"README.md python block {i + 1}", "exec"), namespace)
        except Exception as e:  # pragma: no cover - the message names the block
            raise AssertionError(f"README python block {i + 1} failed: {type(e).__name__}: {e}\n{block}") from e
    capsys.readouterr()
