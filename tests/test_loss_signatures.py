"""Loss classes take Keras 3's arguments in Keras 3's positional order, with its default names."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import kerasish
from tests.keras_parity import keras_module


def _pairs():
    k = keras_module()
    for name in sorted(dir(kerasish.losses)):
        ours = getattr(kerasish.losses, name)
        theirs = getattr(k.losses, name, None)
        if isinstance(ours, type) and isinstance(theirs, type) and issubclass(ours, kerasish.losses.Loss):
            yield name, ours, theirs


def test_every_loss_class_has_keras_signature_and_default_name():
    checked = 0
    for name, ours, theirs in _pairs():
        assert list(inspect.signature(ours.__init__).parameters)[1:] == \
            list(inspect.signature(theirs.__init__).parameters)[1:], name
        if name != "Loss":
            assert ours().name == theirs().name, name
        checked += 1
    assert checked >= 15


@pytest.mark.parametrize("make, attrs", [
    (lambda m: m.MeanSquaredError("sum"), {"reduction": "sum"}),
    (lambda m: m.Huber(2.0, "none", "h"), {"delta": 2.0, "reduction": "none", "name": "h"}),
    (lambda m: m.CategoricalCrossentropy(True, 0.1, -1, "sum"), {"from_logits": True, "reduction": "sum"}),
    (lambda m: m.SparseCategoricalCrossentropy(True, None, "none", -1), {"reduction": "none", "axis": -1}),
    (lambda m: m.CosineSimilarity(1, "sum"), {"axis": 1, "reduction": "sum"}),
])
def test_positional_arguments_land_where_keras_puts_them(make, attrs):
    k = keras_module()
    ours, theirs = make(kerasish.losses), make(k.losses)
    for key, value in attrs.items():
        # Keras keeps some options only in `_fn_kwargs` (its get_config drops Huber's delta; ours keeps it).
        assert ours.get_config()[key] == value == {**theirs.get_config(), **theirs._fn_kwargs}[key], key


def test_class_axis_of_sparse_and_binary_crossentropy_matches_keras():
    k = keras_module()
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 3, 5)).astype("float32")
    labels = rng.integers(0, 3, size=(4, 5))
    ours = kerasish.losses.SparseCategoricalCrossentropy(from_logits=True, axis=1)(labels, logits)
    theirs = k.losses.SparseCategoricalCrossentropy(from_logits=True, axis=1)(labels, logits)
    np.testing.assert_allclose(ours.numpy(), np.asarray(theirs), rtol=1e-5)
    y = rng.integers(0, 2, size=(4, 3, 5)).astype("float32")
    p = rng.uniform(0.05, 0.95, size=(4, 3, 5)).astype("float32")
    np.testing.assert_allclose(kerasish.losses.BinaryCrossentropy(axis=1)(y, p).numpy(),
                               np.asarray(k.losses.BinaryCrossentropy(axis=1)(y, p)), rtol=1e-4)
