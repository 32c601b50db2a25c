"""preprocessing.image.smart_resize: centred aspect-ratio crop then resize, held against Keras 3."""

import numpy as np
import pytest
import torch

from kerasish.preprocessing.image import smart_resize
from tests.keras_parity import assert_close, keras_module

RNG = np.random.default_rng(0)
BATCH = RNG.integers(0, 255, (2, 15, 9, 3)).astype("uint8")


@pytest.fixture(scope="module")
def keras():
    return keras_module()


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("image", [BATCH, BATCH[0], BATCH.astype("float32")], ids=["uint8-batch", "single", "float"])
@pytest.mark.parametrize("size", [(4, 6), (10, 3), (15, 9), (1, 20)])
def test_matches_keras(keras, image, interpolation, size):
    ours = smart_resize(image, size, interpolation=interpolation)
    theirs = keras.preprocessing.image.smart_resize(image, size, interpolation=interpolation)
    assert isinstance(ours, np.ndarray) and ours.dtype == theirs.dtype and ours.shape == theirs.shape
    assert_close(ours, theirs, atol=1e-4)


def test_channels_first_and_tensors(keras):
    image = torch.tensor(BATCH.astype("float32")).permute(0, 3, 1, 2)
    ours = smart_resize(image, (3, 2), data_format="channels_first")
    theirs = keras.preprocessing.image.smart_resize(image, (3, 2), data_format="channels_first")
    assert isinstance(ours, torch.Tensor) and tuple(ours.shape) == (2, 3, 3, 2)
    assert_close(ours, theirs, atol=1e-4)


def test_crop_is_centred():
    image = np.zeros((10, 4, 1), "float32")
    image[3:7] = 1.0  # the centre 4x4 window
    assert np.all(smart_resize(image, (2, 2), interpolation="nearest") == 1.0)


def test_errors(keras):
    for fn in (smart_resize, keras.preprocessing.image.smart_resize):
        with pytest.raises(ValueError, match="Expected `size` to be a tuple of 2 integers, but got: \\(1, 2, 3\\)"):
            fn(BATCH, (1, 2, 3))
        with pytest.raises(TypeError, match="smart_resize\\(\\) got unexpected keyword arguments: \\['foo'\\]"):
            fn(BATCH, (2, 2), foo=1)
        with pytest.raises(ValueError, match="but got input with incorrect rank, of shape"):
            fn(np.zeros((3, 3)), (2, 2))
        with pytest.raises(ValueError, match="The `data_format` argument must be one of"):
            fn(BATCH, (2, 2), data_format="nhwc")
    with pytest.raises(ValueError, match="interpolation"):
        smart_resize(BATCH, (2, 2), interpolation="cubic")
