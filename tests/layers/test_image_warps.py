"""RandomShear held against Keras 3.

Each image's shear sign is random, so a forced shear (a factor range of one value) is
checked image by image: Keras's output and kerasish's must each be one of the two warps
`kerasish.ops.image.affine_transform` gives for +s and -s, and both signs must occur.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kerasish.layers import RandomShear
from kerasish.ops import image as ops_image
from tests.keras_parity import keras_module, to_numpy


def _images(shape=(12, 9, 10, 3), seed=0):
    return (np.random.RandomState(seed).rand(*shape) * 255).astype("float32")


def _signs(out, x, sx, sy, interpolation, fill_mode, data_format="channels_last"):
    """For each image, +1 or -1: which sign's warp it equals (None when neither)."""
    candidates = {}
    for sign in (1, -1):
        rows = torch.tensor([[1, sign * sx, 0, sign * sy, 1, 0, 0, 0]], dtype=torch.float32).expand(len(x), 8)
        candidates[sign] = to_numpy(ops_image.affine_transform(torch.from_numpy(x), rows, interpolation=interpolation,
                                                               fill_mode=fill_mode, data_format=data_format))
    out = to_numpy(out)
    found = []
    for i in range(len(x)):
        close = [s for s in (1, -1) if np.allclose(out[i], candidates[s][i], atol=1e-3)]
        found.append(close[0] if close else None)
    return found


@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "constant", "nearest"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_forced_shear_is_one_of_the_two_signed_warps_as_in_keras(fill_mode, interpolation):
    keras = keras_module()
    x = _images()
    kwargs = dict(x_factor=(0.3, 0.3), y_factor=(0.1, 0.1), fill_mode=fill_mode, interpolation=interpolation)
    ours = _signs(RandomShear(seed=3, **kwargs)(x, training=True), x, 0.3, 0.1, interpolation, fill_mode)
    theirs = _signs(keras.layers.RandomShear(seed=3, **kwargs)(x, training=True), x, 0.3, 0.1, interpolation,
                    fill_mode)
    assert None not in ours and None not in theirs
    assert set(ours) == {1, -1}


def test_channels_first_single_images_and_inference():
    keras = keras_module()
    x = _images().transpose(0, 3, 1, 2).copy()
    out = RandomShear(x_factor=(0.2, 0.2), data_format="channels_first", seed=1)(x, training=True)
    assert None not in _signs(out, x, 0.2, 0.0, "bilinear", "reflect", "channels_first")
    single = RandomShear(x_factor=(0.2, 0.2), seed=1)(_images()[0], training=True)
    assert single.shape == (9, 10, 3)
    assert None not in _signs(single[None], _images()[:1], 0.2, 0.0, "bilinear", "reflect")
    u8 = _images().astype("uint8")
    assert RandomShear(0.2)(u8, training=False).dtype == torch.float32
    assert str(keras.layers.RandomShear(0.2)(u8, training=False).dtype) == "torch.float32"


def test_shear_amounts_follow_the_factor_range():
    # A vertical ramp sheared along x keeps rows; the x shift of row y is s * y, so one
    # column of a horizontal ramp reveals s.
    width = 64
    ramp = torch.arange(width, dtype=torch.float32).reshape(1, 1, width, 1).expand(400, 8, width, 1).contiguous()
    out = RandomShear(x_factor=(0.1, 0.3), fill_mode="nearest", seed=2)(ramp, training=True)
    shift = out[:, 7, 20, 0] - 20.0  # row 7: x + s * 7
    s = shift / 7
    assert float(s.abs().min()) >= 0.1 - 1e-4 and float(s.abs().max()) <= 0.3 + 1e-4
    assert float((s > 0).float().mean()) == pytest.approx(0.5, abs=0.08)
    assert float(s.abs().mean()) == pytest.approx(0.2, abs=0.01)


def test_segmentation_masks_are_sheared_with_nearest():
    masks = torch.from_numpy((np.random.RandomState(1).rand(4, 9, 10, 1) > 0.5).astype("float32"))
    out = RandomShear(x_factor=(0.3, 0.3), seed=4)({"images": masks.clone(), "segmentation_masks": masks},
                                                   training=True)
    assert set(torch.unique(out["segmentation_masks"]).tolist()) <= {0.0, 1.0}
    assert not torch.equal(out["segmentation_masks"], masks)


def test_bad_modes_raise_not_implemented_as_keras():
    with pytest.raises(NotImplementedError, match=r"RandomShear: unknown `fill_mode` 'mirror'. Expected one of"):
        RandomShear(0.1, fill_mode="mirror")
    with pytest.raises(NotImplementedError, match=r"RandomShear: unknown `interpolation` 'bicubic'"):
        RandomShear(0.1, interpolation="bicubic")
