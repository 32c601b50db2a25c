"""Dropout's `seed` and `noise_shape` as Keras 3: the same seed gives Keras's own masks on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish
from tests.keras_parity import assert_close, keras_module


@pytest.mark.parametrize("kwargs, shape", [
    ({"seed": 1}, (4, 6)),
    ({"seed": 7, "noise_shape": (None, 1, 3)}, (2, 5, 3)),
    ({"seed": 3, "noise_shape": (2, 1, 1)}, (2, 4, 3)),
])
def test_seeded_dropout_masks_equal_keras(kwargs, shape):
    k = keras_module()
    x = np.ones(shape, "float32")
    theirs, ours = k.layers.Dropout(0.5, **kwargs), kerasish.layers.Dropout(0.5, **kwargs)
    for _ in range(3):  # the sequence advances identically
        assert_close(ours(torch.from_numpy(x), training=True), theirs(x, training=True))
    assert_close(ours(torch.from_numpy(x)), x)  # inference: identity
    assert ours.get_weights() == [] and len(ours.state_dict()) == 1  # the generator's state, not a weight


def test_seeded_dropout_config_round_trips_and_bad_noise_shape_is_named():
    layer = kerasish.layers.Dropout(0.3, noise_shape=(None, 1), seed=5)
    again = kerasish.layers.Dropout.from_config(layer.get_config())
    x = torch.ones(3, 4)
    torch.testing.assert_close(again(x, training=True), kerasish.layers.Dropout(0.3, (None, 1), 5)(x, training=True))
    with pytest.raises(ValueError, match=r"noise_shape must be a tuple of positive ints or None entries"):
        kerasish.layers.Dropout(0.5, noise_shape=(0, 2))


@pytest.mark.parametrize("name, shape, kwargs", [
    ("SpatialDropout1D", (2, 5, 4), {}),
    ("SpatialDropout2D", (2, 3, 3, 4), {}),
    ("SpatialDropout2D", (2, 4, 3, 3), {"data_format": "channels_first"}),
])
def test_seeded_spatial_dropout_masks_equal_keras(name, shape, kwargs):
    k = keras_module()
    x = np.ones(shape, "float32")
    theirs, ours = getattr(k.layers, name)(0.5, seed=2, **kwargs), getattr(kerasish.layers, name)(0.5, seed=2, **kwargs)
    for _ in range(2):
        assert_close(ours(torch.from_numpy(x), training=True), theirs(x, training=True))
