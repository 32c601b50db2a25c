"""The random image layers (geometric and color) held against Keras 3 (torch backend).

Random draws cannot match Keras's, so parity is checked where the transform is forced
(a zero-width factor range, factor 0, probability 1) and at inference; the random part is
checked by what a user sees: seeds, batches that differ, windows and flips of the input.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from kerasish.layers import (
    CenterCrop, Conv2D, Dense, Flatten, Input, RandomBrightness, RandomContrast, RandomCrop, RandomFlip,
    RandomGrayscale, RandomHue, RandomRotation, RandomSaturation, RandomTranslation, RandomZoom, Rescaling,
    Resizing,
)
from tests.keras_parity import assert_close, keras_module, to_numpy


def _images(shape=(3, 9, 12, 3), seed=0, scale=255.0):
    return (np.random.RandomState(seed).rand(*shape) * scale).astype("float32")


# (kerasish class, Keras class name, constructor kwargs), for the checks shared by all.
RANDOM_LAYERS = [
    (RandomFlip, "RandomFlip", {}),
    (RandomRotation, "RandomRotation", {"factor": 0.2}),
    (RandomZoom, "RandomZoom", {"height_factor": 0.2, "width_factor": (-0.1, 0.3)}),
    (RandomTranslation, "RandomTranslation", {"height_factor": 0.2, "width_factor": 0.1}),
    (RandomCrop, "RandomCrop", {"height": 6, "width": 8}),
    (RandomContrast, "RandomContrast", {"factor": 0.3}),
    (RandomBrightness, "RandomBrightness", {"factor": 0.2}),
    (RandomGrayscale, "RandomGrayscale", {"factor": 0.5}),
    (RandomHue, "RandomHue", {"factor": 0.5}),
    (RandomSaturation, "RandomSaturation", {"factor": (0.2, 0.8)}),
]
IDS = [name for _, name, _ in RANDOM_LAYERS]


# ----------------------------------------------------------------- shared contract
@pytest.mark.parametrize("cls,keras_name,kwargs", RANDOM_LAYERS, ids=IDS)
def test_inference_output_equals_keras_inference_output(cls, keras_name, kwargs):
    keras = keras_module()
    for x in (_images(), _images().astype("uint8")):
        if cls is RandomCrop:
            continue  # Keras's RandomCrop inference differs on purpose; see the RandomCrop tests
        ours = cls(seed=3, **kwargs)
        theirs = getattr(keras.layers, keras_name)(seed=3, **kwargs)(x, training=False)
        out = ours(x, training=False)  # what predict/evaluate pass
        assert out.dtype == theirs.dtype
        assert_close(out, theirs)
        ours.eval()  # a torch user's eval() turns augmentation off for direct calls too
        assert_close(ours(x), theirs)


@pytest.mark.parametrize("cls,keras_name,kwargs", RANDOM_LAYERS, ids=IDS)
def test_a_direct_call_augments_as_keras_does(cls, keras_name, kwargs):
    keras = keras_module()
    x = _images()
    if cls is RandomCrop:
        pytest.skip("RandomCrop changes the shape; its own tests cover training and inference")
    theirs = getattr(keras.layers, keras_name)(seed=3, **kwargs)
    ours = cls(seed=3, **kwargs)
    changed_k = [not np.allclose(to_numpy(theirs(x)), x) for _ in range(4)]
    changed_o = [not np.allclose(to_numpy(ours(x)), x) for _ in range(4)]
    assert any(changed_k) and any(changed_o)  # Keras's training=True default, and ours


@pytest.mark.parametrize("cls,keras_name,kwargs", RANDOM_LAYERS, ids=IDS)
def test_same_seed_same_output_and_consecutive_batches_differ(cls, keras_name, kwargs):
    keras = keras_module()
    x = torch.from_numpy(_images((16, 9, 12, 3)))
    first, twin, other = cls(seed=11, **kwargs), cls(seed=11, **kwargs), cls(seed=12, **kwargs)
    a1, a2 = first(x, training=True), first(x, training=True)
    b1, b2 = twin(x, training=True), twin(x, training=True)
    assert torch.equal(a1, b1) and torch.equal(a2, b2)
    assert not torch.equal(a1, a2)
    assert not torch.equal(a1, other(x, training=True))
    theirs = getattr(keras.layers, keras_name)(**kwargs)
    assert tuple(a1.shape) == tuple(theirs(to_numpy(x), training=True).shape)
    assert first.compute_output_shape((None, 9, 12, 3)) == theirs.compute_output_shape((None, 9, 12, 3))


@pytest.mark.parametrize("cls,keras_name,kwargs", RANDOM_LAYERS, ids=IDS)
def test_config_round_trips_and_rebuilds_the_same_sequence(cls, keras_name, kwargs):
    layer = cls(seed=5, **kwargs)
    config = json.loads(json.dumps(layer.get_config()))
    again = cls.from_config(config)
    assert again.get_config() == layer.get_config()
    if cls is RandomGrayscale:
        # Keras 3's RandomGrayscale writes no `seed` to its config, and kerasish's config is Keras's.
        assert "seed" not in config
        return
    x = torch.from_numpy(_images())
    assert torch.equal(layer(x, training=True), again(x, training=True))


@pytest.mark.parametrize("cls,keras_name,kwargs", RANDOM_LAYERS, ids=IDS)
def test_generator_state_is_saved_in_the_state_dict(cls, keras_name, kwargs):
    x = torch.from_numpy(_images((8, 9, 12, 3)))
    layer = cls(seed=7, **kwargs)
    layer(x, training=True)
    state = {k: v.clone() for k, v in layer.state_dict().items()}
    assert any(k.endswith("state") for k in state)
    expected = layer(x, training=True)
    resumed = cls(seed=7, **kwargs)
    resumed.load_state_dict(state)
    assert torch.equal(resumed(x, training=True), expected)
    assert layer.get_weights() == []  # the generator is no weight


@pytest.mark.parametrize("cls,keras_name,kwargs", RANDOM_LAYERS, ids=IDS)
def test_single_images_and_numpy_inputs_are_accepted(cls, keras_name, kwargs):
    x = _images((9, 12, 3))
    out = cls(seed=1, **kwargs)(x, training=True)
    assert isinstance(out, torch.Tensor) and out.dim() == 3
    with pytest.raises(ValueError, match=r"rank 3 .* or rank 4 .*Received: inputs.shape=\(9, 12\)"):
        cls(**kwargs)(x[..., 0], training=True)


@pytest.mark.parametrize("cls,keras_name,kwargs", RANDOM_LAYERS, ids=IDS)
def test_bad_seed_is_refused(cls, keras_name, kwargs):
    with pytest.raises(ValueError, match=r"`seed` must be an int or None. Received: seed='x'"):
        cls(seed="x", **kwargs)


# ----------------------------------------------------------------- forced transforms equal Keras's
@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "constant", "nearest"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_fixed_rotation_matches_keras(fill_mode, interpolation):
    keras = keras_module()
    x = _images()
    kwargs = dict(factor=(0.1, 0.1), fill_mode=fill_mode, interpolation=interpolation, fill_value=3.0)
    assert_close(RandomRotation(**kwargs)(x, training=True),
                 keras.layers.RandomRotation(**kwargs)(x, training=True), atol=1e-3)


@pytest.mark.parametrize("shape", [(4, 32, 32, 3), (2, 64, 48, 3)])
def test_fixed_warps_of_larger_images_match_keras_within_float32_grid_rounding(shape):
    keras = keras_module()
    x = _images(shape)
    tolerance = 1e-5 * 255  # grid_sample's normalized grid: a few 1e-6 of the value range
    for name, cls, kwargs in [("RandomRotation", RandomRotation, dict(factor=(0.37, 0.37), fill_mode="constant",
                                                                      fill_value=9.0)),
                              ("RandomRotation", RandomRotation, dict(factor=(-0.1, -0.1))),
                              ("RandomZoom", RandomZoom, dict(height_factor=(-0.5, -0.5), width_factor=(0.7, 0.7),
                                                              fill_mode="nearest")),
                              ("RandomTranslation", RandomTranslation, dict(height_factor=(0.9, 0.9),
                                                                            width_factor=(-0.6, -0.6)))]:
        assert_close(cls(**kwargs)(x, training=True), getattr(keras.layers, name)(**kwargs)(x, training=True),
                     atol=tolerance, rtol=0)


def test_fixed_rotation_channels_first_and_single_image_match_keras():
    keras = keras_module()
    x = _images((2, 3, 9, 12))
    kwargs = dict(factor=(-0.3, -0.3), data_format="channels_first")
    assert_close(RandomRotation(**kwargs)(x, training=True),
                 keras.layers.RandomRotation(**kwargs)(x, training=True), atol=1e-3)
    single = _images((9, 12, 3))
    assert_close(RandomRotation((0.25, 0.25))(single, training=True),
                 keras.layers.RandomRotation((0.25, 0.25))(single, training=True), atol=1e-3)


@pytest.mark.parametrize("height_factor,width_factor", [((0.3, 0.3), None), ((-0.4, -0.4), (0.2, 0.2))])
def test_fixed_zoom_matches_keras(height_factor, width_factor):
    keras = keras_module()
    x = _images()
    kwargs = dict(height_factor=height_factor, width_factor=width_factor, fill_mode="constant")
    assert_close(RandomZoom(**kwargs)(x, training=True), keras.layers.RandomZoom(**kwargs)(x, training=True),
                 atol=1e-3)


def test_fixed_translation_matches_keras():
    keras = keras_module()
    x = _images()
    kwargs = dict(height_factor=(0.3, 0.3), width_factor=(-0.25, -0.25), fill_mode="wrap", interpolation="nearest")
    assert_close(RandomTranslation(**kwargs)(x, training=True),
                 keras.layers.RandomTranslation(**kwargs)(x, training=True), atol=1e-3)


@pytest.mark.parametrize("layer", [RandomRotation(0.0), RandomZoom(0.0), RandomTranslation(0.0, 0.0),
                                   RandomContrast(0.0), RandomBrightness(0.0), RandomGrayscale(0.0),
                                   RandomSaturation((0.5, 0.5)), RandomHue(0.0)],
                         ids=lambda layer: type(layer).__name__)
def test_zero_factor_is_the_identity_in_training(layer):
    x = torch.from_numpy(_images())
    assert torch.allclose(layer(x, training=True), x, atol=1e-4)


def test_fixed_color_transforms_match_keras():
    keras = keras_module()
    x = _images()
    # Keras's own range check lets (-0.3, 0.3) through, which forces a contrast factor of 1.3.
    cases = [("RandomContrast", RandomContrast, dict(factor=(-0.3, 0.3))),
             ("RandomBrightness", RandomBrightness, dict(factor=(0.1, 0.1))),
             ("RandomBrightness", RandomBrightness, dict(factor=(-0.2, -0.2), value_range=(0, 1))),
             ("RandomGrayscale", RandomGrayscale, dict(factor=1.0)),
             ("RandomHue", RandomHue, dict(factor=(1.0, 1.0))),  # a half turn: both signs agree
             ("RandomSaturation", RandomSaturation, dict(factor=(0.3, 0.3), value_range=(0, 1))),
             ("RandomSaturation", RandomSaturation, dict(factor=(0.7, 0.7), value_range=(0, 1))),
             ("RandomSaturation", RandomSaturation, dict(factor=(0.0, 0.0), value_range=(0, 1)))]
    for name, cls, kwargs in cases:
        data = x / 255.0 if kwargs.get("value_range") == (0, 1) else x
        assert_close(cls(**kwargs)(data, training=True), getattr(keras.layers, name)(**kwargs)(data, training=True),
                     atol=1e-3)


def test_fixed_color_transforms_channels_first_match_keras():
    keras = keras_module()
    x = _images((2, 3, 6, 7))
    for name, cls, kwargs in [("RandomContrast", RandomContrast, dict(factor=(-0.3, 0.3))),
                              ("RandomGrayscale", RandomGrayscale, dict(factor=1.0))]:
        kwargs["data_format"] = "channels_first"
        assert_close(cls(**kwargs)(x, training=True), getattr(keras.layers, name)(**kwargs)(x, training=True),
                     atol=1e-3)


# ----------------------------------------------------------------- RandomFlip
@pytest.mark.parametrize("mode,dims", [("horizontal", (1,)), ("vertical", (0,)), ("horizontal_and_vertical", (0, 1))])
def test_random_flip_gives_each_image_or_its_flip(mode, dims):
    x = torch.from_numpy(_images((64, 5, 6, 3)))
    out = RandomFlip(mode, seed=2)(x, training=True)
    flipped = [torch.equal(o, i.flip(dims)) for o, i in zip(out, x)]
    kept = [torch.equal(o, i) for o, i in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 10 < sum(flipped) < 54  # about half of them


def test_random_saturation_single_number_draws_from_minus_f_to_f_as_keras_code():
    # Keras 3's docstring says a single f draws from [0, f]; its code draws from [-f, f] and writes
    # factor=(-f, f) to its config. kerasish follows the code, so a model loaded from Keras's config
    # computes what Keras computes: seeded, the pixels are Keras's own.
    keras = keras_module()
    x = torch.rand(16, 4, 4, 3)
    ours = RandomSaturation(0.5, value_range=(0, 1), seed=3)
    theirs = keras.layers.RandomSaturation(0.5, value_range=(0, 1), seed=3)
    assert tuple(ours.get_config()["factor"]) == tuple(theirs.get_config()["factor"]) == (-0.5, 0.5)
    out = ours(x, training=True)
    assert_close(out, theirs(x, training=True), atol=1e-5)
    spread = lambda t: (t.amax(-1) - t.amin(-1)).mean(dim=(1, 2))  # noqa: E731 - per-image saturation proxy
    assert int((spread(out) < 1e-6).sum()) > 0  # negative draws turn whole images gray


def test_random_flip_bad_mode():
    with pytest.raises(ValueError, match=r"unknown `mode` 'horizontl'.*Did you mean 'horizontal'"):
        RandomFlip("horizontl")


# ----------------------------------------------------------------- RandomCrop
def test_random_crop_takes_a_window_per_image_in_training():
    x = torch.from_numpy(_images((32, 10, 12, 3)))
    out = RandomCrop(4, 5, seed=0)(x, training=True)
    assert tuple(out.shape) == (32, 4, 5, 3)
    offsets = set()
    for o, i in zip(out, x):
        found = [(t, l) for t in range(7) for l in range(8) if torch.equal(i[t:t + 4, l:l + 5], o)]
        assert found, "each output must be a window of its input"
        offsets.add(found[0])
    assert len(offsets) > 5  # windows are drawn per image


def test_random_crop_channels_first_window():
    x = torch.from_numpy(_images((4, 3, 10, 12)))
    out = RandomCrop(4, 5, seed=0, data_format="channels_first")(x, training=True)
    assert tuple(out.shape) == (4, 3, 4, 5)
    assert any(torch.equal(x[0, :, t:t + 4, l:l + 5], out[0]) for t in range(7) for l in range(8))


def test_random_crop_inference_is_the_centre_crop_keras_documents():
    keras = keras_module()
    x = _images()
    # Keras 3.15's RandomCrop returns its input unchanged at inference (against its docstring
    # and compute_output_shape); kerasish crops to the aspect ratio and resizes, as documented.
    assert_close(RandomCrop(4, 6)(x, training=False), keras.layers.Resizing(4, 6, crop_to_aspect_ratio=True)(x))
    # An input smaller than the target, in training too: the same largest centred window.
    assert_close(RandomCrop(11, 7)(x, training=True), keras.layers.CenterCrop(11, 7)(x))
    assert_close(RandomCrop(11, 7)(x, training=False), CenterCrop(11, 7)(x))


# ----------------------------------------------------------------- errors
@pytest.mark.parametrize("make,error,match", [
    (lambda: RandomRotation(1.5), ValueError, r"RandomRotation: `factor` must be .*\[-1, 1\]. Received: factor=1.5"),
    (lambda: RandomRotation((0.1, 0.2, 0.3)), ValueError, r"Received: factor=\(0.1, 0.2, 0.3\)"),
    (lambda: RandomRotation("big"), ValueError, r"`factor` must be a number.*Received: factor='big'"),
    (lambda: RandomRotation(0.1, fill_mode="mirror"), NotImplementedError,
     r"unknown `fill_mode` 'mirror'. Expected one of \['reflect', 'wrap', 'constant', 'nearest'\]"),
    (lambda: RandomRotation(0.1, interpolation="bicubic"), NotImplementedError, r"unknown `interpolation` 'bicubic'"),
    (lambda: RandomZoom(-1.0), ValueError, r"RandomZoom: `height_factor` must be .*\(-1.0, 1.0\]"),
    (lambda: RandomZoom(0.1, width_factor=(0.1, 2.0)), ValueError, r"Received: width_factor=\(0.1, 2.0\)"),
    (lambda: RandomTranslation(0.1, 1.5), ValueError,
     r"RandomTranslation: `width_factor` .*Received: width_factor=1.5"),
    (lambda: RandomContrast(-0.5), ValueError, r"RandomContrast: `factor` must be .*\[0, 1\]. Received: factor=-0.5"),
    (lambda: RandomContrast(0.2, value_range=(0,)), ValueError, r"`value_range` must be a list of two numbers"),
    (lambda: RandomBrightness((0.5, -2.0)), ValueError, r"RandomBrightness: `factor` .*Received: factor=\(0.5, -2.0\)"),
    (lambda: RandomGrayscale(2), ValueError, r"RandomGrayscale: `factor` must be a probability .*Received: factor=2"),
    (lambda: RandomHue(1.2), ValueError, r"RandomHue: `factor` .*Received: factor=1.2"),
    (lambda: RandomSaturation(-1.5), ValueError, r"RandomSaturation: `factor` .*\[-1, 1\]. Received: factor=-1.5"),
    (lambda: RandomCrop(0, 4), ValueError, r"RandomCrop: `height` must be a positive int. Received: height=0"),
])
def test_bad_arguments_raise_clear_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_bounding_boxes_and_dict_inputs_are_refused_by_name():
    with pytest.raises(NotImplementedError, match=r"RandomFlip: `bounding_box_format` is not supported.*images only"):
        RandomFlip(bounding_box_format="xyxy")
    assert RandomFlip(bounding_box_format=None).mode == "horizontal_and_vertical"
    data = {"images": torch.zeros(1, 4, 4, 3), "bounding_boxes": {"boxes": torch.zeros(1, 1, 4)}}
    with pytest.raises(ValueError, match=r"dict with keys \['bounding_boxes', 'images'\].*inputs\['images'\]"):
        RandomRotation(0.1)(data, training=True)


def test_grayscale_needs_three_channels():
    with pytest.raises(ValueError, match=r"RandomGrayscale expects 3 \(RGB\) or 1 channels.*\(2, 4, 4, 2\)"):
        RandomGrayscale(1.0)(torch.zeros(2, 4, 4, 2), training=True)


# ----------------------------------------------------------------- in a model
def test_augmentation_runs_in_fit_and_not_in_predict():
    from kerasish.models import Sequential

    torch.manual_seed(0)
    x = _images((32, 12, 12, 3)).astype("uint8")
    y = np.random.RandomState(1).randint(0, 2, (32,))
    flip, rotation = RandomFlip(seed=1), RandomRotation(0.1, seed=2)
    model = Sequential([Input((12, 12, 3)), Rescaling(1 / 255), flip, rotation, RandomCrop(8, 8, seed=3),
                        Conv2D(4, 3, activation="relu"), Flatten(), Dense(2)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    # 4 batches x 2 epochs: one draw per training batch, none in predict or evaluate.
    assert flip.generator.state.tolist() == [1, 8] and rotation.generator.state.tolist() == [2, 8]
    first = model.predict(x, verbose=0)
    model.evaluate(x, y, verbose=0)
    assert np.array_equal(first, model.predict(x, verbose=0))
    assert flip.generator.state.tolist() == [1, 8]
    assert tuple(model.output_shape) == (None, 2)
    augmented = model(torch.from_numpy(x), training=True)
    assert not np.allclose(to_numpy(augmented), first)


def test_saved_model_resumes_the_augmentation_sequence(tmp_path):
    from kerasish.models import Sequential, load_model

    x = _images((8, 12, 12, 3))
    model = Sequential([Input((12, 12, 3)), Rescaling(1 / 255), RandomFlip(seed=1), RandomZoom(0.2, seed=2),
                        RandomCrop(8, 8, seed=3), RandomHue(0.3, value_range=(0, 1), seed=4), Flatten(), Dense(2)])
    model(torch.from_numpy(x), training=True)  # advance the generators once
    model.save(tmp_path / "augment.kerasish")
    loaded = load_model(tmp_path / "augment.kerasish")
    assert [type(layer).__name__ for layer in loaded.layers][:5] == [
        "Rescaling", "RandomFlip", "RandomZoom", "RandomCrop", "RandomHue"]
    assert np.allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    batch = torch.from_numpy(x)
    assert torch.allclose(loaded(batch, training=True), model(batch, training=True))


def test_data_side_augmentation_of_numpy_batches():
    pipeline = [Rescaling(1 / 255), RandomFlip(seed=0), RandomZoom(0.2, seed=0), Resizing(6, 6)]
    batch = _images((4, 12, 12, 3)).astype("uint8")
    out = batch
    for layer in pipeline:
        out = layer(out, training=True)
    assert tuple(out.shape) == (4, 6, 6, 3) and out.dtype == torch.float32
    assert float(out.max()) <= 1.0 + 1e-6


# ----------------------------------------------------------------- no host sync per batch
SYNC_METHODS = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__")


def _all_layers():
    return [cls(seed=1, **kwargs) for cls, _, kwargs in RANDOM_LAYERS] + [
        RandomRotation(0.1, fill_mode="wrap"), RandomZoom(0.1, interpolation="nearest"),
        Rescaling([0.5, 1.0, 2.0]), Resizing(5, 5, pad_to_aspect_ratio=True), CenterCrop(4, 4),
    ]


def test_training_calls_make_no_host_sync(monkeypatch):
    # The CPU proxy of CUDA's sync check: no call that would wait for the device.
    layers = _all_layers()
    x = torch.from_numpy(_images((8, 9, 12, 3)))
    for layer in layers:
        layer(x, training=True)  # first call: caches and the generator's first read
    counts = {"n": 0}
    for name in SYNC_METHODS:
        def wrapper(self, *args, __original=getattr(torch.Tensor, name), **kwargs):
            counts["n"] += 1
            return __original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, wrapper)
    for layer in layers:
        layer(x, training=True)
        layer(x, training=False)
    assert counts["n"] == 0


@pytest.mark.gpu
def test_cuda_training_calls_make_no_host_sync():
    layers = [layer.to("cuda") for layer in _all_layers()]
    x = torch.from_numpy(_images((8, 9, 12, 3))).to("cuda")
    outs = [layer(x, training=True) for layer in layers]  # the first draw reads the moved generator once
    torch.cuda.set_sync_debug_mode("error")
    try:
        outs = [layer(x, training=True) for layer in layers]
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert all(o.device.type == "cuda" for o in outs)
