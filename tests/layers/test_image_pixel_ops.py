"""Solarization, RandomInvert, RandomPosterization and Equalization held against Keras 3.

The transforms are compared where they are forced (a factor range of one value, a zero
threshold) on float and integer images, other value ranges, channels_first and single
images; the random parts by their seeded statistics.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kerasish.layers import Equalization, RandomInvert, RandomPosterization, Solarization
from tests.keras_parity import assert_close, keras_module


def _images(shape=(3, 7, 8, 3), seed=0):
    return (np.random.RandomState(seed).rand(*shape) * 255).astype("float32")


INPUTS = {
    "float": lambda: _images(),
    "uint8": lambda: _images().astype("uint8"),
    "unit_range": lambda: _images() / 255.0,
    "single": lambda: _images((7, 8, 3)),
}


def _same(keras, name, kwargs, x, data_format=None):
    ours = globals()[name](**kwargs, data_format=data_format) if data_format else globals()[name](**kwargs)
    theirs = getattr(keras.layers, name)(**kwargs, **({"data_format": data_format} if data_format else {}))
    out, expected = ours(x, training=True), theirs(x, training=True)
    assert str(out.dtype) == str(expected.dtype)
    assert_close(out, expected)


@pytest.mark.parametrize("kind", sorted(INPUTS))
def test_forced_transforms_equal_keras(kind):
    keras = keras_module()
    x = INPUTS[kind]()
    value_range = (0, 1) if kind == "unit_range" else (0, 255)
    cases = [
        ("Solarization", {}),
        ("Solarization", {"threshold_factor": (0.0, 0.0)}),
        ("RandomInvert", {"factor": (1, 1)}),
        ("RandomInvert", {"factor": (0, 0)}),
        ("RandomPosterization", {"factor": (1, 1)}),
        ("RandomPosterization", {"factor": (3, 3)}),
        ("RandomPosterization", {"factor": (8, 8)}),
        ("Equalization", {}),
        ("Equalization", {"bins": 16}),
    ]
    for name, kwargs in cases:
        _same(keras, name, dict(kwargs, value_range=value_range), x)


@pytest.mark.parametrize("name,kwargs", [
    ("RandomInvert", {"factor": (1, 1)}), ("RandomPosterization", {"factor": (2, 2)}), ("Equalization", {}),
    ("Solarization", {}),
])
def test_channels_first_equals_keras(name, kwargs):
    keras = keras_module()
    x = _images().transpose(0, 3, 1, 2).copy()
    if name == "Solarization":  # Keras's Solarization takes no data_format; it is pixel-wise anyway
        _same(keras, name, kwargs, x)
        return
    _same(keras, name, kwargs, x, data_format="channels_first")


def test_solarization_threshold_inverts_only_bright_pixels():
    x = torch.tensor([[[[10.0, 100.0, 200.0]]]])
    out = Solarization(threshold_factor=(100 / 255, 100 / 255))(x, training=True)
    assert out.flatten().tolist() == pytest.approx([10.0, 155.0, 55.0], abs=1e-4)
    # An addition shifts before thresholding and clips to the top of the range.
    out = Solarization(addition_factor=(50 / 255, 50 / 255), threshold_factor=(1.0, 1.0))(x, training=True)
    assert out.flatten().tolist() == pytest.approx([60.0, 150.0, 250.0], abs=1e-4)


def test_solarization_draws_from_the_scaled_range():
    layer = Solarization(addition_factor=(0.2, 0.4), threshold_factor=(1.0, 1.0), seed=3)
    x = torch.zeros(4000, 1, 1, 1)
    added = layer(x, training=True).flatten()
    assert 0.2 * 255 <= float(added.min()) and float(added.max()) <= 0.4 * 255
    assert float(added.mean()) == pytest.approx(0.3 * 255, rel=0.02)


def test_random_invert_probability_follows_the_drawn_rate():
    # P(invert) = E[p] for p ~ U(lower, upper): 0.5 for factor=1.0, as Keras's draw.
    x = torch.zeros(4000, 1, 1, 1)
    out = RandomInvert(seed=1)(x, training=True)
    assert float((out == 255).float().mean()) == pytest.approx(0.5, abs=0.03)
    out = RandomInvert((0.2, 0.4), seed=1)(x, training=True)
    assert float((out == 255).float().mean()) == pytest.approx(0.3, abs=0.03)


def test_random_invert_reflects_inside_ranges_not_starting_at_zero():
    out = RandomInvert((1, 1), value_range=(-1, 1))(torch.tensor([[[[-1.0, 0.25, 1.0]]]]), training=True)
    assert out.flatten().tolist() == [1.0, -0.25, -1.0]


def test_random_posterization_draws_bits_below_the_upper_end_as_keras():
    keras = keras_module()
    x = np.full((2000, 1, 1, 1), 255.0, dtype="float32")
    ours = RandomPosterization(4, seed=1)(x, training=True).flatten()
    theirs = np.asarray(keras.layers.RandomPosterization(4, seed=1)(x, training=True)).flatten()
    # 255 keeping b bits is 256 - 2 ** (8 - b): 1 to 3 bits give 128, 192, 224, each about a third.
    for values in (ours.numpy(), theirs):
        assert set(np.unique(values)) == {128.0, 192.0, 224.0}
        for v in (128.0, 192.0, 224.0):
            assert np.mean(values == v) == pytest.approx(1 / 3, abs=0.05)


def test_equalization_spreads_a_narrow_histogram_and_keeps_flat_channels():
    x = torch.cat([torch.linspace(100, 110, 64).reshape(1, 8, 8, 1), torch.full((1, 8, 8, 1), 7.0)], dim=-1)
    out = Equalization()(x, training=True)
    assert float(out[..., 0].min()) == 0.0 and float(out[..., 0].max()) == 255.0
    assert torch.equal(out[..., 1], x[..., 1])  # one bin only: unchanged
    assert torch.equal(Equalization()(x, training=False), x)
    layer = Equalization()
    layer.eval()
    assert torch.equal(layer(x), x)
