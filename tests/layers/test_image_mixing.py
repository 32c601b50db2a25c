"""RandomErasing, MixUp and CutMix held against Keras 3.

RandomErasing is compared where it is forced (the whole image, or never); MixUp and CutMix
draw a permutation and weights that cannot match Keras's, so their weights' distribution is
compared with Keras's (and with the Beta formula), and what a user observes is checked:
pixels come from the image or its partner, labels are mixed by the same weights.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kerasish.layers import CutMix, MixUp, RandomErasing
from tests.keras_parity import assert_close, keras_module, to_numpy


def _images(shape=(3, 7, 8, 3), seed=0):
    return (np.random.RandomState(seed).rand(*shape) * 255).astype("float32")


# ----------------------------------------------------------------- RandomErasing
@pytest.mark.parametrize("kwargs", [
    {"factor": (1, 1), "scale": (1, 1), "fill_value": 0},
    {"factor": (1, 1), "scale": (1, 1), "fill_value": 300},  # clipped to value_range
    {"factor": (1, 1), "scale": (1, 1), "fill_value": [10, 20, 30]},
    {"factor": (0, 0), "scale": (1, 1), "fill_value": 0},
])
@pytest.mark.parametrize("kind", ["float", "uint8", "single"])
def test_erasing_forced_equals_keras(kwargs, kind):
    keras = keras_module()
    x = {"float": _images(), "uint8": _images().astype("uint8"), "single": _images()[0]}[kind]
    out = RandomErasing(**kwargs)(x, training=True)
    expected = keras.layers.RandomErasing(**kwargs)(x, training=True)
    assert str(out.dtype) == str(expected.dtype)
    assert_close(out, expected)


def test_erasing_channels_first_equals_keras():
    keras = keras_module()
    x = _images().transpose(0, 3, 1, 2).copy()
    kwargs = {"factor": (1, 1), "scale": (1, 1), "fill_value": 4, "data_format": "channels_first"}
    assert_close(RandomErasing(**kwargs)(x, training=True), keras.layers.RandomErasing(**kwargs)(x, training=True))
    # Per-channel fills go along the channel axis (Keras's code lays them on the last axis).
    out = RandomErasing((1, 1), scale=(1, 1), fill_value=[1, 2, 3], data_format="channels_first")(x, training=True)
    assert out[:, :, 0, 0].tolist() == [[1.0, 2.0, 3.0]] * 3


def test_erased_rectangles_have_the_drawn_size_and_noise_stays_in_range():
    x = torch.full((500, 20, 20, 3), 128.0)
    out = RandomErasing((1, 1), scale=(0.25, 0.25), fill_value=0, seed=1)(x, training=True)
    erased = (out == 0).all(-1)
    rows, cols = erased.any(2).sum(1), erased.any(1).sum(1)
    # Sides of sqrt(0.25) * 20 = 10 pixels (a window at a fractional offset covers 10 grid points).
    assert set(rows.tolist()) == {10} and set(cols.tolist()) == {10}
    assert torch.equal(erased.sum((1, 2)), rows * cols)  # a rectangle
    noisy = RandomErasing((1, 1), scale=(0.5, 0.5), value_range=(0, 1), seed=2)(x / 255, training=True)
    assert float(noisy.min()) >= 0.0 and float(noisy.max()) <= 1.0
    assert float((noisy != x / 255).float().mean()) > 0.2


def test_erasing_probability_follows_the_drawn_rate():
    x = torch.full((2000, 4, 4, 1), 5.0)
    out = RandomErasing(factor=(0.3, 0.3), scale=(1, 1), fill_value=0, seed=3)(x, training=True)
    assert float((out == 0).all(-1).all(-1).all(-1).float().mean()) == pytest.approx(0.3, abs=0.04)


# ----------------------------------------------------------------- MixUp
def _mix_weights(labels):
    """Each row's own weight where its partner is another image (the off-diagonal entry is non-zero)."""
    labels = to_numpy(labels)
    own = np.diag(labels)
    partnered = (labels - np.diag(own)).sum(1) > 0
    return own[partnered]


def _draw(layer, batches, batch=32):
    data = {"images": np.zeros((batch, 2, 2, 1), "float32"), "labels": np.eye(batch, dtype="float32")}
    return np.concatenate([_mix_weights(layer(dict(data), training=True)["labels"]) for _ in range(batches)])


@pytest.mark.parametrize("alpha", [0.2, 1.0])
def test_mixup_weights_follow_keras_beta(alpha):
    keras = keras_module()
    ours = _draw(MixUp(alpha=alpha, seed=1), 60)
    theirs = _draw(keras.layers.MixUp(alpha=alpha, seed=1), 60)
    mean, var = 0.5, 1.0 / (4 * (2 * alpha + 1))  # Beta(alpha, alpha)
    for w in (ours, theirs):
        assert w.mean() == pytest.approx(mean, abs=0.04)
        assert w.var() == pytest.approx(var, rel=0.15)
    assert np.quantile(ours, 0.25) == pytest.approx(np.quantile(theirs, 0.25), abs=0.06)


def test_mixup_mixes_images_and_labels_by_the_same_weight():
    x = torch.arange(8, dtype=torch.float32).reshape(8, 1, 1, 1).expand(8, 3, 3, 2) * 10
    out = MixUp(alpha=1.0, seed=3)({"images": x, "labels": torch.eye(8)}, training=True)
    labels = out["labels"]
    # Image i became w * 10 i + (1 - w) * 10 j, and its label row has w at i and 1 - w at j.
    expected = labels @ torch.arange(8, dtype=torch.float32) * 10
    assert torch.allclose(out["images"][:, 0, 0, 0], expected, atol=1e-4)
    assert torch.allclose(labels.sum(1), torch.ones(8))
    assert torch.equal(out["images"], out["images"][:, :1, :1, :1].expand_as(out["images"]))


def test_mixup_inference_keeps_integer_images_and_labels():
    keras = keras_module()
    x = _images().astype("uint8")
    data = {"images": x, "labels": np.eye(3, dtype="float32")}
    ours, theirs = MixUp()(dict(data), training=False), keras.layers.MixUp()(dict(data), training=False)
    assert ours["images"].dtype == torch.uint8 and str(theirs["images"].dtype) == "torch.uint8"
    assert_close(ours["images"], theirs["images"])
    assert_close(ours["labels"], theirs["labels"])


def test_mixup_and_cutmix_refuse_sparse_labels():
    data = {"images": torch.zeros(4, 4, 4, 3), "labels": torch.tensor([0, 1, 2, 1])}
    for layer in (MixUp(), CutMix()):
        with pytest.raises(ValueError, match=r"must be one-hot .*labels.shape=\(4,\). One-hot encode"):
            layer(data, training=True)


def test_mixup_mixes_segmentation_masks_like_images():
    masks = torch.arange(4, dtype=torch.float32).reshape(4, 1, 1, 1).expand(4, 2, 2, 1)
    out = MixUp(alpha=1.0, seed=2)({"images": masks * 2, "segmentation_masks": masks}, training=True)
    assert torch.allclose(out["images"], out["segmentation_masks"] * 2)


# ----------------------------------------------------------------- CutMix
def _cutmix_weights(layer, batches, batch=16, size=(12, 10)):
    x = np.zeros((batch,) + size + (1,), "float32")
    data = {"images": x, "labels": np.eye(batch, dtype="float32")}
    return np.concatenate([_mix_weights(layer(dict(data), training=True)["labels"]) for _ in range(batches)])


def test_cutmix_label_weights_follow_keras_distribution():
    keras = keras_module()
    ours = _cutmix_weights(CutMix(seed=1), 80)
    theirs = _cutmix_weights(keras.layers.CutMix(seed=1), 80)
    assert ours.min() >= 0 and ours.max() <= 1
    assert ours.mean() == pytest.approx(theirs.mean(), abs=0.05)
    assert ours.std() == pytest.approx(theirs.std(), abs=0.05)
    for q in (0.25, 0.5, 0.75):
        assert np.quantile(ours, q) == pytest.approx(np.quantile(theirs, q), abs=0.08)


def test_cutmix_pastes_a_rectangle_of_the_partner_and_weights_the_labels_by_its_area():
    batch, height, width = 8, 16, 16
    x = torch.arange(1, batch + 1, dtype=torch.float32).reshape(batch, 1, 1, 1).expand(batch, height, width, 3)
    out = CutMix(seed=5)({"images": x, "labels": torch.eye(batch)}, training=True)
    images, labels = out["images"], out["labels"]
    for i in range(batch):
        partner = int(torch.argmax(labels[i] - torch.eye(batch)[i] * 2))
        own = images[i, ..., 0] == i + 1
        pasted = images[i, ..., 0] == partner + 1
        assert bool((own | pasted).all())
        if partner != i and float(labels[i, i]) < 1:
            rows, cols = pasted.any(1).sum(), pasted.any(0).sum()
            assert int(pasted.sum()) == int(rows * cols)  # a rectangle
            # The label weight is the uncovered area of the continuous box; pixels count whole cells.
            assert float(labels[i, i]) == pytest.approx(1 - float(pasted.float().mean()), abs=0.2)
    assert torch.allclose(labels.sum(1), torch.ones(batch))


def test_cutmix_channels_first_and_single_images():
    keras = keras_module()
    x = _images((4, 3, 6, 6))
    out = CutMix(seed=1, data_format="channels_first")(x, training=True)
    # A rectangle is cut from all channels at once.
    changed = out != torch.from_numpy(x)
    assert torch.equal(changed.any(1), changed.all(1))
    single = {"images": _images((6, 6, 3)), "labels": np.eye(3, dtype="float32")[1]}
    ours, theirs = CutMix(seed=1)(dict(single), training=True), keras.layers.CutMix(seed=1)(dict(single))
    assert_close(ours["images"], theirs["images"])
    assert_close(ours["labels"], theirs["labels"])
    assert str(ours["images"].dtype) == str(theirs["images"].dtype)


def test_mixing_in_fit_with_dict_batches_built_by_the_user():
    from kerasish.layers import Dense, Flatten, Input
    from kerasish.models import Sequential

    x = _images((16, 6, 6, 3)) / 255
    y = np.eye(2, dtype="float32")[np.random.RandomState(0).randint(0, 2, 16)]
    mixed = CutMix(seed=1)({"images": x, "labels": y}, training=True)
    mixed = MixUp(seed=1)(mixed, training=True)
    model = Sequential([Input((6, 6, 3)), Flatten(), Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    history = model.fit(mixed["images"], mixed["labels"], epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert not np.allclose(to_numpy(mixed["labels"]), y)
