"""The helpers the image augmentation layers share, seen through the layers.

- the factor rules folded into `parse_unit_range` (Solarization, RandomShear) and
  `_signed_range` (RandomZoom, RandomTranslation): every refusal keeps its own message;
- the constants a call needs (RandomSharpness's smoothing kernel, RandomErasing's
  per-channel fill) are made once per dtype and device, not on every call.
"""

from __future__ import annotations

import re

import pytest
import torch

from kerasish.layers import RandomErasing, RandomSharpness, RandomShear, RandomTranslation, RandomZoom, Solarization
from kerasish.layers.preprocessing import image_filters

RANGE_01 = "must be a number, or a list of two numbers, in the range [0, 1]"
SHEAR = "must be a number in the range [0, 1], or a list of two numbers in [-1, 1]"
ZOOM = "must be a number, or a list of two numbers, in the range (-1.0, 1.0]"
SHIFT = "must be a number, or a list of two numbers, in the range [-1.0, 1.0] (a fraction of the image size)"


@pytest.mark.parametrize("make, message", [
    (lambda: Solarization(addition_factor=(0.1, 0.2, 0.3)),
     f"Solarization: `addition_factor` {RANGE_01}. Received: addition_factor=(0.1, 0.2, 0.3). "
     "Example: addition_factor=(0.2, 0.5) or addition_factor=0.5."),
    (lambda: Solarization(threshold_factor=(-0.1, 0.5)),
     f"Solarization: `threshold_factor` {RANGE_01}. Received: threshold_factor=(-0.1, 0.5). "
     "Put both numbers inside that range."),
    (lambda: Solarization(addition_factor="a"),
     f"Solarization: `addition_factor` {RANGE_01}. Received: addition_factor='a'. Example: addition_factor=0.5."),
    (lambda: Solarization(addition_factor=1.5),
     f"Solarization: `addition_factor` {RANGE_01}. Received: addition_factor=1.5. Pick a value inside that range."),
    (lambda: RandomShear(x_factor=(0.1,)),
     f"RandomShear: `x_factor` {SHEAR}. Received: x_factor=(0.1,). Example: x_factor=(0.1, 0.3) or x_factor=0.2."),
    (lambda: RandomShear(y_factor=(1.2, 0.1)),
     f"RandomShear: `y_factor` {SHEAR}. Received: y_factor=(1.2, 0.1). Put both numbers inside that range (the "
     "sign is drawn at random)."),
    (lambda: RandomShear(x_factor=None), f"RandomShear: `x_factor` {SHEAR}. Received: x_factor=None. "
                                         "Example: x_factor=0.2."),
    (lambda: RandomShear(x_factor=-0.2), f"RandomShear: `x_factor` {SHEAR}. Received: x_factor=-0.2. "
                                         "Pick a value inside that range."),
    (lambda: RandomZoom((0.1, 0.2, 0.3)),
     f"RandomZoom: `height_factor` {ZOOM}. Received: height_factor=(0.1, 0.2, 0.3). Example: "
     "height_factor=(-0.2, 0.3)."),
    (lambda: RandomZoom(0.2, width_factor=-1.0),
     f"RandomZoom: `width_factor` {ZOOM}. Received: width_factor=-1.0. Example: width_factor=0.2 (zoom out or in "
     "by up to 20%)."),
    (lambda: RandomTranslation(0.1, (0.1,)),
     f"RandomTranslation: `width_factor` {SHIFT}. Received: width_factor=(0.1,). Example: width_factor=(-0.1, 0.2)."),
    (lambda: RandomTranslation((-1.5, 0.2), 0.1),
     f"RandomTranslation: `height_factor` {SHIFT}. Received: height_factor=(-1.5, 0.2). Example: height_factor=0.1 "
     "(up to 10% either way)."),
])
def test_each_factor_rule_keeps_its_message(make, message):
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        make()


@pytest.mark.parametrize("make, expected", [
    (lambda: Solarization(addition_factor=0.4).addition_factor, (0, 0.4)),
    (lambda: Solarization(threshold_factor=[0.6, 0.2]).threshold_factor, (0.2, 0.6)),
    (lambda: RandomShear(x_factor=0.3).x_factor, (-0.3, 0.3)),
    (lambda: RandomShear(y_factor=(0.5, -0.4)).y_factor, (-0.4, 0.5)),
    (lambda: RandomZoom(-1.0 + 1e-6)._height_range, (-(1.0 - 1e-6), 1.0 - 1e-6)),
    (lambda: RandomTranslation(-1, (0.3, -0.2))._width_range, (-0.2, 0.3)),
    (lambda: RandomTranslation(-1, 0)._height_range, (-1.0, 1.0)),
])
def test_the_factor_rules_give_the_ranges_they_document(make, expected):
    assert tuple(make()) == pytest.approx(expected)


def test_the_sharpness_kernel_is_made_once_per_dtype_and_device(monkeypatch):
    made = []
    build = image_filters._smoothing_kernel

    def counting(dtype, device):
        made.append((dtype, device))
        return build(dtype, device)

    monkeypatch.setattr(image_filters, "_smoothing_kernel", counting)
    layer = RandomSharpness(0.7, seed=1)
    x = torch.rand(2, 5, 5, 3) * 255
    outs = [layer(x, training=True) for _ in range(3)]
    assert made == [(torch.float32, x.device)]
    layer64 = RandomSharpness(0.7, seed=1, dtype="float64")
    out64 = layer64(x, training=True)
    assert made[1:] == [(torch.float64, x.device)]
    # The cached kernel is the same filter: f = 0.5 is the identity, f = 0 the plain smoothing.
    assert torch.allclose(RandomSharpness((0.5, 0.5))(x, training=True), x)
    assert torch.allclose(out64.float(), outs[0], atol=1e-3)


def test_erasing_makes_its_per_channel_fill_once(monkeypatch):
    made = []
    build = RandomErasing._channel_fills

    def counting(self, dtype, device):
        made.append(dtype)
        return build(self, dtype, device)

    monkeypatch.setattr(RandomErasing, "_channel_fills", counting)
    layer = RandomErasing((1, 1), scale=(0.25, 0.25), fill_value=(1, 2, 300), value_range=(0, 255), seed=1)
    for _ in range(3):
        out = layer(torch.full((2, 8, 8, 3), 100.0), training=True)
    assert made == [torch.float32]
    erased = out[(out != 100.0).any(-1)]
    assert erased.shape[0] == 2 * 16 and torch.equal(erased[0], torch.tensor([1.0, 2.0, 255.0]))  # clipped fill
