"""RandomColorDegeneration, RandomSharpness and RandomGaussianBlur held against Keras 3.

Compared where the draw is forced (a factor and sigma range of one value, probability 1)
on float and integer images, channels_first, single images and a (0, 1) value range; the
random parts by seeded statistics.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kerasish.layers import RandomColorDegeneration, RandomGaussianBlur, RandomSharpness
from tests.keras_parity import assert_close, keras_module


def _images(shape=(3, 7, 8, 3), seed=0):
    return (np.random.RandomState(seed).rand(*shape) * 255).astype("float32")


CASES = [
    ("RandomColorDegeneration", {"factor": (f, f)}) for f in (0.0, 0.3, 1.0, -0.5)
] + [
    ("RandomSharpness", {"factor": (f, f)}) for f in (0.0, 0.2, 0.5, 1.0)
] + [
    ("RandomGaussianBlur", {"factor": (1, 1), "kernel_size": k, "sigma": (s, s)}) for k in (3, 5) for s in (0.3, 1.0)
] + [("RandomGaussianBlur", {"factor": (0, 0)})]


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
@pytest.mark.parametrize("kind", ["float", "uint8", "channels_first", "single", "unit_range"])
def test_forced_transforms_equal_keras(name, kwargs, kind):
    keras = keras_module()
    x = _images()
    kwargs = dict(kwargs)
    if kind == "uint8":
        x = x.astype("uint8")
    elif kind == "channels_first":
        x = x.transpose(0, 3, 1, 2).copy()
        kwargs["data_format"] = "channels_first"
    elif kind == "single":
        x = x[0]
    elif kind == "unit_range":
        x = x / 255.0
        kwargs["value_range"] = (0, 1)
    out = globals()[name](**kwargs)(x, training=True)
    expected = getattr(keras.layers, name)(**kwargs)(x, training=True)
    assert str(out.dtype) == str(expected.dtype)
    assert_close(out, expected, atol=1e-4)


def test_sharpness_half_is_the_identity_and_the_ends_differ():
    x = torch.from_numpy(_images())
    assert torch.allclose(RandomSharpness((0.5, 0.5))(x, training=True), x)
    soft, sharp = RandomSharpness((0, 0))(x, training=True), RandomSharpness((1, 1))(x, training=True)
    inner = (slice(None), slice(1, -1), slice(1, -1))
    assert float(soft[inner].std()) < float(x[inner].std()) < float(sharp[inner].std())


def test_degeneration_one_is_grayscale_and_factors_are_drawn_per_image():
    x = torch.from_numpy(_images((64, 4, 4, 3)))
    gray = RandomColorDegeneration((1, 1))(x, training=True)
    assert torch.allclose(gray[..., 0], gray[..., 1]) and torch.allclose(gray[..., 1], gray[..., 2])
    out = RandomColorDegeneration(0.5, seed=2)(x, training=True)
    # Recover each image's factor from one pixel: out = x + f (gray - x).
    f = ((out - x) / (gray - x))[:, 0, 0, 0]
    assert float(f.min()) >= -0.5 - 1e-3 and float(f.max()) <= 0.5 + 1e-3
    assert float(f.std()) > 0.15  # spread over [-0.5, 0.5], one value per image


def test_degeneration_needs_rgb():
    with pytest.raises(ValueError, match=r"RandomColorDegeneration expects RGB images, 3 channels.*\(2, 4, 4, 1\)"):
        RandomColorDegeneration(0.5)(torch.zeros(2, 4, 4, 1), training=True)
    with pytest.raises(ValueError, match=r"expects RGB images with 3 channels. Received: input_shape=\(None, 4, 4, 2\)"):
        RandomColorDegeneration(0.5).compute_output_shape((None, 4, 4, 2))


def test_blur_probability_and_one_sigma_per_batch():
    x = torch.from_numpy(_images((400, 6, 6, 3)))
    out = RandomGaussianBlur(factor=(0.5, 0.5), seed=4)(x, training=True)
    blurred = ~torch.isclose(out, x).flatten(1).all(1)
    assert float(blurred.float().mean()) == pytest.approx(0.5, abs=0.08)
    # One sigma per batch: identical images are blurred identically.
    same_input = x[:1].expand(8, -1, -1, -1)
    out = RandomGaussianBlur(factor=(1, 1), seed=5)(same_input, training=True)
    assert torch.allclose(out, out[:1].expand_as(out))
