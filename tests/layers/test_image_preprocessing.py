"""Rescaling, Resizing, CenterCrop and AutoContrast held against Keras 3 (torch backend)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from kerasish.layers import AutoContrast, CenterCrop, Rescaling, Resizing
from tests.keras_parity import assert_close, keras_module, to_numpy


def _images(shape=(3, 9, 12, 3), seed=0, scale=255.0):
    return (np.random.RandomState(seed).rand(*shape) * scale).astype("float32")


def _round_trip(layer):
    config = json.loads(json.dumps(layer.get_config()))
    again = type(layer).from_config(config)
    assert again.get_config() == layer.get_config()
    return again


# ----------------------------------------------------------------- Rescaling
@pytest.mark.parametrize("scale,offset", [(1 / 255, 0.0), (1 / 127.5, -1.0), ([0.5, 1.0, 2.0], [0.0, 1.0, -1.0])])
def test_rescaling_matches_keras(scale, offset):
    keras = keras_module()
    x = _images()
    ours = Rescaling(scale, offset)
    assert_close(ours(x), keras.layers.Rescaling(scale, offset)(x))
    assert _round_trip(ours).get_config()["scale"] == (list(scale) if isinstance(scale, list) else scale)


def test_rescaling_turns_integer_images_into_floats_like_keras():
    keras = keras_module()
    x = _images().astype("uint8")
    ours, theirs = Rescaling(1 / 255)(x), keras.layers.Rescaling(1 / 255)(x)
    assert ours.dtype == torch.float32 == theirs.dtype
    assert_close(ours, theirs)


def test_rescaling_accepts_a_numpy_array_scale_and_serializes_it():
    layer = Rescaling(np.array([1.0, 2.0, 3.0]))
    out = layer(torch.ones(1, 2, 2, 3))
    assert out[0, 0, 0].tolist() == [1.0, 2.0, 3.0]
    assert json.loads(json.dumps(layer.get_config()))["scale"] == [1.0, 2.0, 3.0]


def test_rescaling_rejects_non_numeric_scale():
    with pytest.raises(ValueError, match=r"Rescaling: `scale` must be a number.*Received: scale='big'"):
        Rescaling("big")


# ----------------------------------------------------------------- Resizing
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("aspect", ["none", "crop", "pad"])
def test_resizing_matches_keras(interpolation, aspect):
    keras = keras_module()
    x = _images()
    kwargs = dict(interpolation=interpolation, crop_to_aspect_ratio=aspect == "crop",
                  pad_to_aspect_ratio=aspect == "pad")
    ours = Resizing(5, 7, **kwargs)
    theirs = keras.layers.Resizing(5, 7, **kwargs)
    assert_close(ours(x), theirs(x), atol=1e-4)
    assert ours.compute_output_shape((None, 9, 12, 3)) == theirs.compute_output_shape((None, 9, 12, 3))
    _round_trip(ours)


def test_resizing_upsamples_single_images_and_channels_first_like_keras():
    keras = keras_module()
    x = _images((3, 6, 5))
    ours = Resizing(9, 8, data_format="channels_first")
    assert_close(ours(x), keras.layers.Resizing(9, 8, data_format="channels_first")(x), atol=1e-4)
    assert tuple(ours(x).shape) == (3, 9, 8)


def test_resizing_keeps_integer_dtype_like_keras():
    keras = keras_module()
    x = _images().astype("uint8")
    ours, theirs = Resizing(4, 5)(x), keras.layers.Resizing(4, 5)(x)
    assert ours.dtype == torch.uint8 == theirs.dtype
    assert_close(ours, theirs)


def test_resizing_pads_with_fill_value():
    out = Resizing(4, 8, pad_to_aspect_ratio=True, fill_value=7.0, interpolation="nearest")(torch.zeros(1, 4, 4, 1))
    assert out[0, :, 0, 0].tolist() == [7.0] * 4 and out[0, :, 4, 0].tolist() == [0.0] * 4


def test_resizing_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match=r"unknown `interpolation` 'bilinar'.*Did you mean 'bilinear'"):
        Resizing(4, 4, interpolation="bilinar")
    with pytest.raises(ValueError, match="cannot both be True"):
        Resizing(4, 4, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
    with pytest.raises(ValueError, match=r"`height` must be a positive int. Received: height=0"):
        Resizing(0, 4)
    with pytest.raises(ValueError, match=r"unknown `fill_mode` 'reflect'.*\['constant'\]"):
        Resizing(4, 4, fill_mode="reflect")
    with pytest.raises(ValueError, match="data_format must be 'channels_last' or 'channels_first'"):
        Resizing(4, 4, data_format="NHWC")
    with pytest.raises(ValueError, match=r"rank 3 .* or rank 4.*Received: inputs.shape=\(4, 4\)"):
        Resizing(2, 2)(torch.zeros(4, 4))


# ----------------------------------------------------------------- CenterCrop
@pytest.mark.parametrize("size", [(5, 7), (9, 12), (11, 7), (4, 20)])
def test_center_crop_matches_keras(size):
    keras = keras_module()
    x = _images()
    ours, theirs = CenterCrop(*size), keras.layers.CenterCrop(*size)
    out = ours(x)
    assert out.dtype == torch.float32
    assert_close(out, theirs(x), atol=1e-4)
    assert ours.compute_output_shape((None, 9, 12, 3)) == theirs.compute_output_shape((None, 9, 12, 3))
    _round_trip(ours)


def test_center_crop_of_integer_images_and_single_images_like_keras():
    keras = keras_module()
    x = _images((8, 10, 3)).astype("uint8")
    ours, theirs = CenterCrop(4, 6)(x), keras.layers.CenterCrop(4, 6)(x)
    assert ours.dtype == torch.float32 == theirs.dtype
    assert_close(ours, theirs)


def test_center_crop_channels_first_matches_keras():
    keras = keras_module()
    x = _images((2, 3, 9, 12))
    assert_close(CenterCrop(5, 6, data_format="channels_first")(x),
                 keras.layers.CenterCrop(5, 6, data_format="channels_first")(x))


def test_center_crop_rejects_bad_sizes():
    with pytest.raises(ValueError, match=r"CenterCrop: `width` must be a positive int. Received: width=-2"):
        CenterCrop(2, -2)


# ----------------------------------------------------------------- AutoContrast
@pytest.mark.parametrize("value_range,scale", [((0, 255), 200.0), ((0, 1), 0.8), ((-1, 1), 1.0)])
def test_auto_contrast_matches_keras(value_range, scale):
    keras = keras_module()
    x = _images(scale=scale) + (value_range[0] if value_range[0] < 0 else 0.0) * 0.5
    ours = AutoContrast(value_range)
    assert_close(ours(x), keras.layers.AutoContrast(value_range)(x), atol=1e-4)
    _round_trip(ours)


def test_auto_contrast_spans_the_range_and_leaves_constant_channels():
    keras = keras_module()
    x = _images((2, 5, 5, 3), scale=100.0) + 20.0
    x[1, ..., 2] = 42.0  # a constant channel: no stretch possible
    out = to_numpy(AutoContrast()(x))
    assert_close(out, keras.layers.AutoContrast()(x), atol=1e-4)
    assert np.allclose(out[0].min(axis=(0, 1)), 0.0) and np.allclose(out[0].max(axis=(0, 1)), 255.0)
    assert np.all(out[1, ..., 2] == 42.0)


def test_auto_contrast_rejects_bad_value_range():
    with pytest.raises(ValueError, match=r"`value_range` must be a list of two numbers.*Received: value_range=255"):
        AutoContrast(value_range=255)


# ----------------------------------------------------------------- in a model
def test_deterministic_layers_inside_a_sequential_model_match_keras():
    keras = keras_module()
    from kerasish.layers import Input
    from kerasish.models import Sequential

    x = _images((2, 12, 16, 3)).astype("uint8")
    ours = Sequential([Input((12, 16, 3)), Rescaling(1 / 255), Resizing(8, 8, crop_to_aspect_ratio=True),
                       CenterCrop(6, 6), AutoContrast((0, 1))])
    theirs = keras.Sequential([keras.Input((12, 16, 3)), keras.layers.Rescaling(1 / 255),
                               keras.layers.Resizing(8, 8, crop_to_aspect_ratio=True),
                               keras.layers.CenterCrop(6, 6), keras.layers.AutoContrast((0, 1))])
    assert tuple(ours.output_shape) == tuple(theirs.output_shape) == (None, 6, 6, 3)
    assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-5)


def test_symbolic_outputs_of_integer_images_are_float_like_keras():
    keras = keras_module()
    from kerasish.layers import Input

    ours, theirs = Input((8, 10, 3), dtype="uint8"), keras.Input((8, 10, 3), dtype="uint8")
    import kerasish.layers as kl

    for make in (lambda L: L.Rescaling(1 / 255), lambda L: L.CenterCrop(4, 4), lambda L: L.AutoContrast()):
        out, ref = make(kl)(ours), make(keras.layers)(theirs)
        assert (tuple(out.shape), str(out.dtype)) == (tuple(ref.shape), str(ref.dtype))
    # Resizing keeps integer images integer when run (in Keras too, whose symbolic spec says float32).
    assert str(Resizing(4, 4)(ours).dtype) == "uint8"
    assert Resizing(4, 4)(np.zeros((1, 8, 10, 3), "uint8")).dtype == torch.uint8
