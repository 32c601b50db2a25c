import io
import os
import sys
import warnings

import numpy as np
import pytest
import torch

from kerasish.utils import array_to_img, img_to_array, load_img, save_img
from tests.keras_parity import keras_module

PIL = pytest.importorskip("PIL.Image")


def _pixels(h=9, w=13, c=3, seed=0):
    return (np.random.RandomState(seed).rand(h, w, c) * 255).astype("uint8")


def test_png_round_trip_is_exact(tmp_path):
    pixels = _pixels()
    path = tmp_path / "a.png"
    save_img(path, pixels, scale=False)
    array = img_to_array(load_img(path))
    assert array.dtype == np.float32 and array.shape == (9, 13, 3)
    np.testing.assert_array_equal(array, pixels.astype("float32"))


def test_grayscale_and_rgba_round_trips(tmp_path):
    grey = _pixels(c=1)
    save_img(tmp_path / "g.png", grey, scale=False)
    loaded = load_img(tmp_path / "g.png", color_mode="grayscale")
    assert loaded.mode == "L"
    np.testing.assert_array_equal(img_to_array(loaded), grey.astype("float32"))
    rgba = _pixels(c=4)
    save_img(tmp_path / "a.png", rgba, scale=False)
    np.testing.assert_array_equal(img_to_array(load_img(tmp_path / "a.png", color_mode="rgba")), rgba)
    assert img_to_array(load_img(tmp_path / "a.png", color_mode="rgb")).shape == (9, 13, 3)


@pytest.mark.parametrize("kwargs", [
    {},
    {"target_size": (5, 7)},
    {"target_size": (5, 7), "interpolation": "bilinear"},
    {"target_size": (6, 4), "interpolation": "bicubic", "keep_aspect_ratio": True},
    {"target_size": (8, 20), "interpolation": "lanczos", "keep_aspect_ratio": True},
    {"color_mode": "grayscale", "target_size": (4, 4), "interpolation": "box"},
    {"color_mode": "rgba", "target_size": (3, 9), "interpolation": "hamming"},
])
def test_load_img_matches_keras(tmp_path, kwargs):
    keras = keras_module()
    path = str(tmp_path / "x.jpg")
    PIL.fromarray(_pixels(17, 11)).save(path)
    ours = img_to_array(load_img(path, **kwargs))
    theirs = keras.utils.img_to_array(keras.utils.load_img(path, **kwargs))
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


def test_load_img_reads_bytesio():
    buffer = io.BytesIO()
    PIL.fromarray(_pixels()).save(buffer, format="PNG")
    buffer.seek(0)
    np.testing.assert_array_equal(img_to_array(load_img(buffer)), _pixels().astype("float32"))


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_array_to_img_and_img_to_array_match_keras(data_format, channels):
    keras = keras_module()
    x = np.random.RandomState(channels).randn(6, 5, channels).astype("float32") * 3
    if data_format == "channels_first":
        x = x.transpose(2, 0, 1)
    for scale in (True, False):
        ours = array_to_img(x if scale else np.abs(x) * 20, data_format=data_format, scale=scale)
        theirs = keras.utils.array_to_img(x if scale else np.abs(x) * 20, data_format=data_format, scale=scale)
        assert ours.mode == theirs.mode
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
        for dtype in (None, "uint8", "float64"):
            a = img_to_array(ours, data_format=data_format, dtype=dtype)
            b = keras.utils.img_to_array(theirs, data_format=data_format, dtype=dtype)
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)


def test_one_channel_above_255_becomes_a_32_bit_image():
    keras = keras_module()
    x = np.arange(12, dtype="float32").reshape(3, 4, 1) * 100
    ours, theirs = array_to_img(x, scale=False), keras.utils.array_to_img(x, scale=False)
    assert ours.mode == theirs.mode == "I"
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_array_to_img_takes_a_torch_tensor():
    x = torch.rand(4, 4, 3)
    np.testing.assert_array_equal(np.asarray(array_to_img(x)), np.asarray(array_to_img(x.numpy())))


@pytest.mark.parametrize("suffix", ["png", "jpg", "bmp"])
def test_save_img_matches_keras(tmp_path, suffix):
    keras = keras_module()
    x = np.random.RandomState(1).rand(10, 8, 3)
    save_img(tmp_path / f"ours.{suffix}", x)
    keras.utils.save_img(str(tmp_path / f"theirs.{suffix}"), x)
    np.testing.assert_array_equal(np.asarray(PIL.open(tmp_path / f"ours.{suffix}")),
                                  np.asarray(PIL.open(tmp_path / f"theirs.{suffix}")))


def test_save_img_rgba_as_jpeg_warns_and_drops_alpha(tmp_path):
    with pytest.warns(UserWarning, match="JPEG cannot store an alpha channel"):
        save_img(tmp_path / "a.jpeg", _pixels(c=4))
    assert PIL.open(tmp_path / "a.jpeg").mode == "RGB"


def test_save_img_to_a_file_object_needs_file_format():
    buffer = io.BytesIO()
    with pytest.raises(ValueError, match=r"cannot tell the image format.*pass file_format='png'"):
        save_img(buffer, _pixels())
    save_img(buffer, _pixels(), file_format="png", scale=False)
    buffer.seek(0)
    np.testing.assert_array_equal(np.asarray(PIL.open(buffer)), _pixels())


def test_save_img_is_atomic(tmp_path):
    target = tmp_path / "keep.png"
    save_img(target, _pixels(), scale=False)
    before = target.read_bytes()
    with pytest.raises((KeyError, ValueError)):
        save_img(target, _pixels(seed=3), file_format="no-such-format")
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["keep.png"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_img(tmp_path / "missing" / "x.png", _pixels())


def test_bad_arguments_are_explained(tmp_path):
    path = tmp_path / "x.png"
    save_img(path, _pixels())
    with pytest.raises(ValueError, match=r"color_mode must be one of .*Received: color_mode='cmyk'"):
        load_img(path, color_mode="cmyk")
    with pytest.raises(ValueError, match=r"interpolation must be one of .*Received: interpolation='cubic'"):
        load_img(path, target_size=(3, 3), interpolation="cubic")
    with pytest.raises(TypeError, match=r"path must be a file path .* Received: path=3 of type int"):
        load_img(3)
    with pytest.raises(ValueError, match=r"expected a 3-D array \(one image\), received .* shape \(2, 4, 4, 3\)"):
        array_to_img(np.zeros((2, 4, 4, 3)))
    with pytest.raises(ValueError, match=r"expected 1, 3 or 4 channels, received 2"):
        array_to_img(np.zeros((4, 4, 2)))
    with pytest.raises(ValueError, match=r"expected a 2-D \(greyscale\) or 3-D image.*shape \(4,\)"):
        img_to_array(np.zeros(4))
    with pytest.raises(ValueError, match=r"data_format must be 'channels_last' or 'channels_first'.*'nhwc'"):
        img_to_array(np.zeros((2, 2, 3)), data_format="nhwc")


def test_missing_pillow_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"load_img needs Pillow.*pip install pillow"):
        load_img(tmp_path / "x.png")
    with pytest.raises(ImportError, match=r"array_to_img needs Pillow.*pip install pillow"):
        array_to_img(np.zeros((2, 2, 3)))


def test_no_warning_for_plain_use(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        save_img(tmp_path / "x.png", _pixels())
        assert load_img(tmp_path / "x.png").size == (13, 9)
