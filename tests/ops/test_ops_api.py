"""The shape of kerasish.ops as a whole: coverage of Keras 3's ops, Keras's signatures, symbolic calls."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

import kerasish
from kerasish import ops
from tests.keras_parity import keras_module

NAMESPACES = ("numpy", "nn", "core", "math", "linalg", "image")
# Keras names that are classes or helpers, not ops.
NOT_OPS = {"KerasTensor", "Operation", "any_symbolic_tensors", "keras_export", "canonicalize_axis",
           "slice_along_axis", "reduce_shape", "result_type", "broadcast_shapes", "dtype"}


def _keras_ops(k):
    found = {}
    for ns in NAMESPACES:
        module = getattr(k.ops, ns, None)
        if module is None:
            import importlib

            module = importlib.import_module(f"keras.src.ops.{ns}")
        for name in dir(module):
            fn = getattr(module, name)
            if not name.startswith("_") and inspect.isfunction(fn) and name not in NOT_OPS:
                found[(ns, name)] = fn
    return found


def test_coverage_of_keras_ops_is_reported_and_above_250():
    k = keras_module()
    theirs = _keras_ops(k)
    ours = {(ns, name) for (ns, name) in theirs if hasattr(getattr(ops, ns), name)}
    flat_theirs = {n for n in dir(k.ops) if not n.startswith("_") and callable(getattr(k.ops, n))}
    flat_ours = {n for n in flat_theirs if hasattr(ops, n)}
    missing = sorted(f"{ns}.{n}" for ns, n in set(theirs) - ours)
    print(f"\nkerasish.ops covers {len(ours)} of Keras 3's {len(theirs)} namespaced ops and {len(flat_ours)} of "
          f"its {len(flat_theirs)} flat keras.ops names; missing: {missing}")
    assert len(ours) >= 250


def test_signatures_match_keras():
    k = keras_module()
    differences = []
    for (ns, name), theirs in _keras_ops(k).items():
        ours = getattr(getattr(ops, ns), name, None)
        if ours is None:
            continue
        a = inspect.signature(ours).parameters
        b = inspect.signature(theirs).parameters
        if list(a) != list(b):
            differences.append(f"{ns}.{name}: {list(a)} != Keras {list(b)}")
            continue
        for p in b:
            da, db = a[p].default, b[p].default
            same = da is db or (type(da) is type(db) and da == db)
            if not same:
                differences.append(f"{ns}.{name}({p}=): default {da!r} != Keras {db!r}")
    assert not differences, "\n".join(differences)


def test_every_flat_op_is_the_namespaced_one():
    for key, fn in ops.registered_ops().items():
        ns, name = key.split(".", 1)
        if ns not in NAMESPACES:
            continue  # e.g. 'activations.relu': an activation usable on symbolic tensors, not an op
        assert getattr(getattr(ops, ns), name) is fn, key
        if ns != "image":
            assert hasattr(ops, name), name


def test_an_unknown_argument_names_the_op_and_the_argument():
    with pytest.raises(TypeError, match=r"expand_dims\(\) got an unexpected keyword argument 'axes'"):
        ops.expand_dims(torch.ones(2), axes=0)


def test_ops_record_nodes_on_symbolic_inputs():
    inp = kerasish.Input((4, 3))
    out = ops.sum(ops.expand_dims(inp, -1), axis=(1, 3))
    assert tuple(out.shape) == (None, 3)
    model = kerasish.Model(inp, out)
    x = np.arange(24, dtype="float32").reshape(2, 4, 3)
    np.testing.assert_allclose(model.predict(x, verbose=0), x.sum(1))
