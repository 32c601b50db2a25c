"""A training step leaves no reference cycle holding tensors.

Activations caught in a cycle live until Python's cyclic collector runs: on a Transformer
block that kept ~40 MB per step alive and raised fit's peak memory from the hand loop's
0.78 GB to 2.1 GB. Every tensor of a step must be freed by reference counting alone.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch

from kerasish import layers
from kerasish.models import Model, Sequential


def _transformer():
    ids = layers.Input((12,), dtype="int64")
    x = layers.Embedding(50, 16)(ids)
    x = layers.LayerNormalization()(layers.Add()([x, layers.MultiHeadAttention(2, 8)(x, x)]))
    x = layers.GlobalAveragePooling1D()(x)
    return Model(ids, [layers.Dense(1)(x), layers.Dense(3, activation="softmax")(x)])


def _mlp():
    return Sequential([layers.Input((12,)), layers.Dense(8, activation="relu"), layers.Dropout(0.1),
                       layers.Dense(3, activation="softmax")])


def _lstm():
    return Sequential([layers.Input((12,), dtype="int64"), layers.Embedding(50, 8, mask_zero=True),
                       layers.Bidirectional(layers.LSTM(4)), layers.Dense(3, activation="softmax")])


@pytest.mark.parametrize("build", [_transformer, _mlp, _lstm])
def test_fit_evaluate_predict_leave_no_tensor_in_a_reference_cycle(build):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 50, (64, 12))
    y = rng.integers(0, 3, 64)
    model = build()
    two = isinstance(model, Model) and not isinstance(model, Sequential)
    model.compile(optimizer="adam", loss=["mse", "sparse_categorical_crossentropy"] if two else
                  "sparse_categorical_crossentropy")
    target = [y[:, None].astype("float32"), y] if two else y
    xs = x if build is not _mlp else x.astype("float32")
    model.fit(xs, target, batch_size=16, epochs=1, verbose=0)  # builds everything once
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        model.fit(xs, target, batch_size=16, epochs=1, verbose=0)
        model.evaluate(xs, target, batch_size=16, verbose=0)
        model.predict(xs, batch_size=16, verbose=0)
        gc.collect()
        leaked = [o for o in gc.garbage if isinstance(o, torch.Tensor)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert not leaked, f"{len(leaked)} tensors were only freed by the cyclic collector: {[t.shape for t in leaked][:5]}"
