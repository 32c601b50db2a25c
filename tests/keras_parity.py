"""Helpers for tests that hold kerasish against Keras 3 itself (the torch backend).

Keras is an oracle here, not a dependency: `keras_module()` skips the calling test when
Keras is not installed, or was already imported with another backend.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import numpy as np
import pytest
import torch


def keras_module() -> Any:
    """Keras 3 on its torch backend, or skip the test.

    Sets KERAS_BACKEND=torch before the first import; a Keras imported earlier with
    another backend cannot be switched, so the test is skipped then too.
    """
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = "torch"
    try:
        keras = importlib.import_module("keras")
    except ImportError:
        pytest.skip("keras is not installed (pip install keras) - the parity oracle is missing")
    if not hasattr(keras, "backend") or keras.backend.backend() != "torch":
        pytest.skip(f"keras was imported with the {keras.backend.backend()!r} backend; parity needs 'torch'")
    return keras


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy copy of a tensor, Keras variable, NumPy array or number."""
    value = getattr(x, "value", x)  # a Keras variable's torch tensor; a kerasish Variable is itself
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def assert_close(a: Any, b: Any, atol: float = 1e-5, rtol: float = 1e-5) -> None:
    """Asserts two tensors/arrays (or lists of them) agree elementwise."""
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        assert len(a) == len(b), f"lengths differ: {len(a)} != {len(b)}"
        for x, y in zip(a, b):
            assert_close(x, y, atol=atol, rtol=rtol)
        return
    np.testing.assert_allclose(to_numpy(a), to_numpy(b), atol=atol, rtol=rtol)


def copy_weights(src: Any, dst: Any) -> None:
    """Gives `dst` (a kerasish layer or model) the weights of `src` (its Keras twin)."""
    weights = src.get_weights()
    assert len(weights) == len(dst.get_weights()), "the two layers hold a different number of weights"
    dst.set_weights(weights)


def grads(variables: Any) -> list:
    """The gradient of each variable after `backward()`, as NumPy arrays."""
    return [to_numpy(getattr(v, "value", v).grad) for v in variables]


def keras_layout_grads(layer: Any) -> list:
    """The gradient of each trainable weight of a kerasish layer, in Keras's layout and order
    (as `grads(keras_layer.trainable_weights)` gives them for the Keras twin)."""
    from kerasish.layers.weight_layout import layouts_under

    layouts = layouts_under(layer)
    out = []
    for w in layer.trainable_weights:
        layout = layouts.get(id(w))
        out.append(to_numpy(w.grad if layout is None else layout.to_keras(w.grad)))
    return out
