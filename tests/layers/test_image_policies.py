"""RandAugment and AugMix held against Keras 3.

With `factor=(0, 0)` every operation of the bank is deterministic (shifts, rotations,
shears, brightness, contrast and color degeneration become the identity; sharpness,
posterization, solarization, auto-contrast and equalization do not), so one RandAugment
operation must give one of a few known images, in Keras and in kerasish alike, each as
often as the uniform choice over the 11 operations says.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kerasish import layers as L
from tests.keras_parity import keras_module, to_numpy


def _images(shape=(4, 8, 9, 3), seed=0):
    return (np.random.RandomState(seed).rand(*shape) * 255).astype("float32")


def _candidates(keras, x):
    """The image each RandAugment operation gives at factor (0, 0), computed by Keras's layers."""
    k = keras.layers
    forced = {
        "identity": x,
        "sharpness": k.RandomSharpness((0, 0))(x, training=True),
        "posterization": k.RandomPosterization((1, 1))(x, training=True),
        "solarization": k.Solarization()(x, training=True),
        "auto_contrast": k.AutoContrast()(x),
        "equalization": k.Equalization()(x, training=True),
    }
    return {name: to_numpy(v) for name, v in forced.items()}


def _which(out, candidates):
    found = [name for name, c in candidates.items() if np.allclose(to_numpy(out), c, atol=1e-3)]
    return found[0] if found else None


def test_one_forced_operation_is_a_bank_operation_chosen_uniformly_as_in_keras():
    keras = keras_module()
    x = _images()
    candidates = _candidates(keras, x)
    ours, theirs = L.RandAugment(num_ops=1, factor=(0, 0), seed=1), keras.layers.RandAugment(num_ops=1, factor=(0, 0))
    n = 220
    counts = {}
    for layer in (ours, theirs):
        picks = [_which(layer(x, training=True), candidates) for _ in range(n)]
        assert None not in picks
        counts[layer is ours] = {name: picks.count(name) / n for name in candidates}
    for frequencies in counts.values():
        assert frequencies["identity"] == pytest.approx(6 / 11, abs=0.1)  # shear, shift, rotation, 3 colors
        for name in ("sharpness", "posterization", "solarization", "auto_contrast", "equalization"):
            assert frequencies[name] == pytest.approx(1 / 11, abs=0.06)


def test_rand_augment_seeds_ops_and_inference():
    keras = keras_module()
    x = torch.from_numpy(_images())
    a, b = L.RandAugment(seed=3), L.RandAugment(seed=3)
    first = a(x, training=True)
    assert torch.equal(first, b(x, training=True))
    assert not all(torch.equal(first, a(x, training=True)) for _ in range(3))
    assert L.RandAugment(num_ops=0, seed=1)(x, training=True).equal(x)
    u8 = _images().astype("uint8")
    out, expected = L.RandAugment()(u8, training=False), keras.layers.RandAugment()(u8, training=False)
    assert str(out.dtype) == str(expected.dtype) == "torch.float32"
    assert np.allclose(to_numpy(out), to_numpy(expected))
    assert len(a.ops) == 11 and a.op_names[0] == "random_shear"


def test_augmix_is_a_blend_of_the_images_and_a_chain():
    keras = keras_module()
    x = _images((2, 8, 9, 3))
    candidates = _candidates(keras, x)
    candidates.pop("sharpness")  # not in the bank without all_ops
    layer = L.AugMix(num_chains=1, chain_depth=1, factor=(0, 0), all_ops=False, seed=2)
    seen = set()
    for _ in range(40):
        out = to_numpy(layer(x, training=True))
        # out = m x + (1 - m) op(x): on the segment from x to one candidate.
        matches = []
        for name, c in candidates.items():
            d = c - x
            if not np.any(d):
                continue
            m = float(np.sum((out - x) * d) / np.sum(d * d))
            if 0 <= m <= 1 + 1e-5 and np.allclose(out, x + m * d, atol=1e-2):
                matches.append(name)
        if np.allclose(out, x, atol=1e-3):
            matches.append("identity")
        assert matches
        seen.update(matches)
    assert {"identity", "solarization"} <= seen


def test_augmix_output_stays_in_range_and_is_reproducible():
    x = torch.from_numpy(_images((4, 8, 8, 3)) / 255)
    a, b = L.AugMix(value_range=(0, 1), seed=4), L.AugMix(value_range=(0, 1), seed=4)
    out = a(x, training=True)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert torch.equal(out, b(x, training=True))
    assert not torch.equal(out, a(x, training=True))
    assert len(L.AugMix(all_ops=False).ops) == 7 and len(a.ops) == 11


@pytest.mark.parametrize("make,error,match", [
    (lambda: L.RandAugment(num_ops=-1), ValueError, r"RandAugment: `num_ops` must be an int >= 0. Received: num_ops=-1"),
    (lambda: L.RandAugment(factor=1.5), ValueError, r"RandAugment: `factor` .*Received: factor=1.5"),
    (lambda: L.RandAugment(interpolation="bicubic"), NotImplementedError, r"unknown `interpolation` 'bicubic'"),
    (lambda: L.AugMix(num_chains=0), ValueError, r"AugMix: `num_chains` must be an int >= 1. Received: num_chains=0"),
    (lambda: L.AugMix(alpha=0), ValueError, r"AugMix: `alpha` must be a positive number. Received: alpha=0"),
    (lambda: L.AugMix(all_ops="yes"), TypeError, r"AugMix: `all_ops` must be True or False"),
])
def test_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_policies_refuse_segmentation_masks():
    data = {"images": torch.zeros(2, 4, 4, 3), "segmentation_masks": torch.zeros(2, 4, 4, 1)}
    with pytest.raises(NotImplementedError, match=r"RandAugment does not transform segmentation masks"):
        L.RandAugment()(data, training=True)


def test_policies_train_save_and_resume_in_a_model(tmp_path):
    from kerasish.models import Sequential, load_model

    x = _images((16, 8, 8, 3))
    y = np.random.RandomState(1).randint(0, 2, (16,))
    rand_augment, aug_mix = L.RandAugment(seed=1), L.AugMix(num_chains=2, seed=2)
    model = Sequential([L.Input((8, 8, 3)), rand_augment, aug_mix, L.Rescaling(1 / 255), L.Flatten(), L.Dense(2)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert rand_augment.generator.state.tolist() == [1, 2] and aug_mix.generator.state.tolist() == [2, 2]
    model.save(tmp_path / "policies.kerasish")
    loaded = load_model(tmp_path / "policies.kerasish")
    assert np.allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    batch = torch.from_numpy(x)
    assert torch.allclose(loaded(batch, training=True), model(batch, training=True), atol=1e-5)
