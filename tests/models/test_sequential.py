"""Sequential structure, building and summary."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kerasish.layers import BatchNormalization, Dense, Flatten, Input
from kerasish.models import Sequential


def test_trainable_false_then_true_keeps_batchnorm_statistics_frozen():
    model = Sequential([Dense(4, input_shape=(3,)), BatchNormalization(), Dense(1)])
    model.trainable = False
    assert not any(p.requires_grad for p in model.parameters())
    model.trainable = True
    bn = model.layers[1]
    trainable = {id(p) for p in bn.trainable_weights}
    assert len(trainable) == 2  # gamma and beta only; the moving statistics stay frozen
    assert all(p.requires_grad for p in model.layers[0].parameters())


def test_flatten_channels_first_gives_keras_order():
    x = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)  # (N, C, H, W)
    out = Flatten(data_format="channels_first")(x)
    np.testing.assert_array_equal(out.numpy(), x.permute(0, 2, 3, 1).reshape(2, -1).numpy())


def test_input_first_builds_every_layer_and_pop_add():
    model = Sequential([Input(shape=(5,)), Dense(3), Dense(2)])
    assert model.built and model.output_shape == (None, 2)
    assert [l.name for l in model.layers] == ["dense", "dense_1"]
    model.pop()
    assert model.output_shape == (None, 3) and len(model.layers) == 1
    model.add(Dense(7))
    assert model.output_shape == (None, 7)
    assert model(torch.ones(4, 5)).shape == (4, 7)


def test_pop_on_empty_model_errors():
    with pytest.raises(ValueError, match="no layers in the model to pop"):
        Sequential().pop()
