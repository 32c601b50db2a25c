"""Pooling layers: Keras's output sizes, TensorFlow's 'same' padding, masks, configs and errors."""

import json

import pytest
import torch

from kerasish.layers import (
    AveragePooling1D,
    AveragePooling2D,
    Embedding,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
)
from kerasish.models import Sequential


def test_max_pooling_2d_matches_torch_on_nhwc_and_keeps_layout():
    x = torch.randn(2, 6, 6, 3)
    out = MaxPooling2D((2, 2))(x)
    expected = torch.nn.functional.max_pool2d(x.permute(0, 3, 1, 2), 2).permute(0, 2, 3, 1)
    torch.testing.assert_close(out, expected)
    assert out.is_contiguous()


def test_same_max_pooling_pads_with_minus_infinity():
    x = -torch.ones(1, 3, 3, 1) - torch.arange(9.0).reshape(1, 3, 3, 1)
    out = MaxPooling2D(2, padding="same")(x)
    # TF pads the end: windows [0:2], [2:3]; a zero pad would wrongly give 0 in the last row/column.
    assert out.shape == (1, 2, 2, 1)
    assert out.max() < 0
    assert out[0, 1, 1, 0] == x[0, 2, 2, 0]


def test_same_average_pooling_averages_only_real_values():
    out = AveragePooling2D(2, padding="same")(torch.ones(1, 3, 5, 2))
    torch.testing.assert_close(out, torch.ones(1, 2, 3, 2))
    out = AveragePooling1D(3, strides=1, padding="same")(torch.arange(4.0).reshape(1, 4, 1))
    torch.testing.assert_close(out.flatten(), torch.tensor([0.5, 1.0, 2.0, 2.5]))


@pytest.mark.parametrize(
    "layer, shape, expected",
    [
        (MaxPooling2D((2, 2)), (None, 26, 26, 32), (None, 13, 13, 32)),
        (MaxPooling2D(3, strides=2, padding="same"), (None, 7, 8, 1), (None, 4, 4, 1)),
        (AveragePooling2D(2, data_format="channels_first"), (None, 3, 8, 6), (None, 3, 4, 3)),
        (MaxPooling1D(), (None, 9, 4), (None, 4, 4)),
        (AveragePooling1D(2, padding="same"), (None, 9, 4), (None, 5, 4)),
        (GlobalAveragePooling2D(), (None, 5, 5, 3), (None, 3)),
        (GlobalMaxPooling2D(keepdims=True), (None, 5, 5, 3), (None, 1, 1, 3)),
        (GlobalMaxPooling1D(data_format="channels_first"), (None, 3, 9), (None, 3)),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, tuple) else None,
)
def test_closed_form_output_shapes_match_the_computed_ones(layer, shape, expected):
    assert layer.compute_output_shape(shape) == expected
    out = layer(torch.randn((2,) + shape[1:]))
    assert tuple(out.shape[1:]) == expected[1:]


def test_global_pooling_values():
    x = torch.randn(2, 4, 5, 3)
    torch.testing.assert_close(GlobalAveragePooling2D()(x), x.mean(dim=(1, 2)))
    torch.testing.assert_close(GlobalMaxPooling2D()(x), x.amax(dim=(1, 2)))


def test_global_average_pooling_1d_ignores_masked_steps():
    torch.manual_seed(0)
    model = Sequential([Embedding(10, 3, mask_zero=True), GlobalAveragePooling1D()])
    batch = torch.tensor([[0, 0, 4, 5], [4, 5, 0, 0]])
    out = model(batch)
    emb = model.layers[0]
    expected = emb(torch.tensor([[4, 5]])).mean(dim=1)[0]
    torch.testing.assert_close(out[0], expected)
    torch.testing.assert_close(out[1], expected)


@pytest.mark.parametrize(
    "layer",
    [MaxPooling2D(3, strides=1, padding="same", name="p"), AveragePooling1D(4), GlobalMaxPooling2D(keepdims=True),
     GlobalAveragePooling1D(data_format="channels_first")],
    ids=lambda l: type(l).__name__,
)
def test_config_round_trips_through_json(layer):
    config = layer.get_config()
    assert type(layer).from_config(json.loads(json.dumps(config))).get_config() == config


def test_bad_arguments_and_inputs_are_rejected_with_the_fix():
    with pytest.raises(ValueError, match=r"pool_size must be a positive int or a tuple of 2 positive ints"):
        MaxPooling2D((2, 2, 2))
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same', received padding='causal'"):
        AveragePooling1D(padding="causal")
    with pytest.raises(ValueError, match=r"must have rank 4 \(batch, height, width, channels\)"):
        MaxPooling2D()(torch.ones(2, 8, 8))
    with pytest.raises(ValueError, match=r"must have rank 4 \(batch, height, width, channels\), received input shape"):
        MaxPooling2D().compute_output_shape((None, 8))
    with pytest.raises(ValueError, match=r"must have rank 3 \(batch, steps, channels\), received input shape"):
        GlobalAveragePooling1D().compute_output_shape((None, 8))
