"""The contract every `ImageDataLayer` shares, held against Keras 3 (torch backend).

The layers of image_pixel_ops, image_filters, image_mixing, image_warps, image_composite and
image_policies: inference outputs and
dtypes equal Keras's, configs equal Keras's and round-trip, seeds reproduce and batches
differ, the generator state is saved, single images and Keras's dict form work, constructor
errors match the inputs Keras refuses, and a training call makes no host sync.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from kerasish import layers as L
from tests.keras_parity import assert_close, keras_module, to_numpy

# (kerasish name = Keras name, constructor kwargs)
LAYERS = [
    ("Solarization", {"addition_factor": 0.2, "threshold_factor": 0.5}),
    ("RandomInvert", {"factor": 0.8}),
    ("RandomPosterization", {"factor": 5}),
    ("Equalization", {"bins": 64}),
    ("RandomColorDegeneration", {"factor": 0.6}),
    ("RandomSharpness", {"factor": 0.9}),
    ("RandomGaussianBlur", {"kernel_size": 5, "sigma": (0.2, 0.9)}),
    ("RandomErasing", {"factor": 0.9, "scale": (0.1, 0.4), "fill_value": (10, 20, 30)}),
    ("MixUp", {"alpha": 0.5}),
    ("CutMix", {"factor": 0.7}),
    ("RandomShear", {"x_factor": 0.3, "y_factor": (0.1, 0.2), "fill_mode": "constant", "fill_value": 7.0}),
    ("RandomColorJitter", {"brightness_factor": 0.2, "contrast_factor": 0.3, "saturation_factor": (0.3, 0.7),
                           "hue_factor": 0.1}),
    ("RandAugment", {"num_ops": 3, "factor": 0.4}),
    ("AugMix", {"num_chains": 2, "chain_depth": 2, "alpha": 0.5}),
]
NAMES = [name for name, _ in LAYERS]
SEEDED = [(n, k) for n, k in LAYERS if n != "Equalization"]


def _images(shape=(4, 9, 10, 3), seed=0):
    return (np.random.RandomState(seed).rand(*shape) * 255).astype("float32")


def _make(layer_name, kwargs, **more):
    if layer_name == "Equalization":
        more.pop("seed", None)  # it draws nothing and takes no seed
    return getattr(L, layer_name)(**kwargs, **more)


def _json_types(value):
    if isinstance(value, dict):
        return {k: _json_types(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_types(v) for v in value]
    return value


@pytest.mark.parametrize("name,kwargs", LAYERS, ids=NAMES)
def test_inference_output_and_dtype_equal_keras(name, kwargs):
    keras = keras_module()
    for x in (_images(), _images().astype("uint8"), _images().astype("int32"), _images((9, 10, 3))):
        theirs = getattr(keras.layers, name)(**kwargs)(x, training=False)
        ours = _make(name, kwargs)
        out = ours(x, training=False)
        assert str(out.dtype) == str(theirs.dtype), (x.dtype, out.dtype, theirs.dtype)
        assert_close(out, theirs)
        ours.eval()  # a torch user's eval() turns the layer off for direct calls too
        assert_close(ours(x), theirs)


@pytest.mark.parametrize("name,kwargs", LAYERS, ids=NAMES)
def test_training_dtype_shape_and_direct_call_equal_keras(name, kwargs):
    keras = keras_module()
    x = _images()
    for data in (x, x.astype("uint8")):
        theirs = getattr(keras.layers, name)(**kwargs)
        ours = _make(name, kwargs)
        expected = theirs(data)  # Keras's training=True default
        out = ours(data)
        assert str(out.dtype) == str(expected.dtype) and tuple(out.shape) == tuple(expected.shape)
        changed = [not np.allclose(to_numpy(ours(data)), data) for _ in range(4)]
        assert any(changed)
    assert ours.compute_output_shape((None, 9, 10, 3)) == tuple(theirs.compute_output_shape((None, 9, 10, 3)))


@pytest.mark.parametrize("name,kwargs", LAYERS, ids=NAMES)
def test_config_equals_keras_and_round_trips(name, kwargs):
    keras = keras_module()
    ours = _make(name, kwargs, name="aug")
    theirs = getattr(keras.layers, name)(**kwargs, name="aug")
    mine, keras_config = _json_types(ours.get_config()), _json_types(theirs.get_config())
    keras_config.pop("dtype")
    mine.pop("dtype")
    assert mine == keras_config
    config = json.loads(json.dumps(ours.get_config()))
    again = type(ours).from_config(config)
    assert again.get_config() == ours.get_config()
    loaded = type(ours).from_config(json.loads(json.dumps(theirs.get_config())))  # Keras's own config
    assert _json_types(loaded.get_config()) == _json_types(ours.get_config())


@pytest.mark.parametrize("name,kwargs", SEEDED, ids=[n for n, _ in SEEDED])
def test_same_seed_same_sequence_and_batches_differ(name, kwargs):
    x = torch.from_numpy(_images((16, 9, 10, 3)))
    first, twin, other = (_make(name, kwargs, seed=s) for s in (11, 11, 12))
    a1, a2 = first(x, training=True), first(x, training=True)
    assert torch.equal(a1, twin(x, training=True)) and torch.equal(a2, twin(x, training=True))
    assert not torch.equal(a1, a2)
    assert not torch.equal(a1, other(x, training=True))
    again = type(first).from_config(json.loads(json.dumps(_make(name, kwargs, seed=11).get_config())))
    assert torch.equal(again(x, training=True), a1)


@pytest.mark.parametrize("name,kwargs", SEEDED, ids=[n for n, _ in SEEDED])
def test_generator_state_is_in_the_state_dict(name, kwargs):
    x = torch.from_numpy(_images((8, 9, 10, 3)))
    layer = _make(name, kwargs, seed=7)
    layer(x, training=True)
    state = {k: v.clone() for k, v in layer.state_dict().items()}
    expected = layer(x, training=True)
    resumed = _make(name, kwargs, seed=7)
    resumed.load_state_dict(state)
    assert torch.equal(resumed(x, training=True), expected)
    assert layer.get_weights() == []


@pytest.mark.parametrize("name,kwargs", LAYERS, ids=NAMES)
def test_dict_form_matches_keras_in_inference_and_passes_labels(name, kwargs):
    keras = keras_module()
    x = _images()
    labels = np.eye(4, dtype="float32")
    theirs = getattr(keras.layers, name)(**kwargs)({"images": x, "labels": labels}, training=False)
    ours = _make(name, kwargs, seed=1)({"images": x, "labels": labels, "extra": 3}, training=False)
    assert sorted(ours) == ["extra", "images", "labels"] and sorted(theirs) == ["images", "labels"]
    assert_close(ours["images"], theirs["images"])
    assert_close(ours["labels"], labels)
    assert ours["extra"] == 3
    trained = _make(name, kwargs, seed=1)({"images": x, "labels": labels}, training=True)
    assert tuple(trained["images"].shape) == x.shape and tuple(trained["labels"].shape) == labels.shape
    if name not in ("MixUp", "CutMix"):  # only these two change labels
        assert_close(trained["labels"], labels)
    # The same draw transforms the images whether they come alone or in a dict.
    alone = _make(name, kwargs, seed=1)(x, training=True)
    assert torch.equal(alone, trained["images"])


@pytest.mark.parametrize("name,kwargs", LAYERS, ids=NAMES)
def test_single_images_numpy_and_bad_ranks(name, kwargs):
    x = _images((9, 10, 3))
    out = _make(name, kwargs, seed=1)(x, training=True)
    assert isinstance(out, torch.Tensor) and tuple(out.shape) == x.shape
    single = _make(name, kwargs, seed=1)({"images": x, "labels": np.eye(3, dtype="float32")[0]}, training=True)
    assert tuple(single["labels"].shape) == (3,)
    with pytest.raises(ValueError, match=r"rank 3 .* or rank 4 .*Received: inputs.shape=\(9, 10\)"):
        _make(name, kwargs)(x[..., 0], training=True)


def test_bad_dict_inputs_are_refused_by_name():
    with pytest.raises(ValueError, match=r"MixUp received a dict without an 'images' key. Received keys: \['x'\]"):
        L.MixUp()({"x": torch.zeros(2, 4, 4, 3)}, training=True)
    boxes = {"images": torch.zeros(2, 4, 4, 3), "bounding_boxes": {"boxes": torch.zeros(2, 1, 4)}}
    with pytest.raises(NotImplementedError, match=r"Solarization: 'bounding_boxes' .* not supported.*Remove"):
        L.Solarization()(boxes, training=True)
    with pytest.raises(NotImplementedError, match=r"CutMix: `bounding_box_format` is not supported"):
        L.CutMix(bounding_box_format="xyxy")


# ----------------------------------------------------------------- constructor errors Keras raises too
ERRORS = [
    ("Solarization", {"addition_factor": 1.5}, r"Solarization: `addition_factor` must be .*\[0, 1\]. Received: "
                                              r"addition_factor=1.5"),
    ("Solarization", {"threshold_factor": (0.2, 1.2)}, r"`threshold_factor` .*Received: threshold_factor=\(0.2, 1.2\)"),
    ("Solarization", {"value_range": (0,)}, r"`value_range` must be a list of two numbers.*value_range=\(0,\)"),
    ("RandomInvert", {"factor": 1.5}, r"RandomInvert: `factor` must be .*\[0, 1\]. Received: factor=1.5"),
    ("RandomPosterization", {"factor": 9}, r"RandomPosterization: `factor` .*\[1, 8\]. Received: factor=9"),
    ("RandomPosterization", {"factor": 0}, r"RandomPosterization: `factor` .*\[1, 8\]. Received: factor=0"),
    ("RandomErasing", {"scale": 2}, r"RandomErasing: `scale` must be .*\[0, 1\]. Received: scale=2"),
    ("RandomErasing", {"factor": -0.5}, r"RandomErasing: `factor` .*Received: factor=-0.5"),
    ("RandomGaussianBlur", {"kernel_size": 4}, r"`kernel_size` must be an odd positive int.*kernel_size=4"),
    ("RandomGaussianBlur", {"sigma": 2.0}, r"RandomGaussianBlur: `sigma` .*\[0, 1\]. Received: sigma=2.0"),
    ("RandomSharpness", {"factor": 1.5}, r"RandomSharpness: `factor` .*\[0, 1\]. Received: factor=1.5"),
    ("RandomColorDegeneration", {"factor": 2}, r"RandomColorDegeneration: `factor` .*\[-1, 1\]. Received: factor=2"),
    ("RandomColorDegeneration", {"factor": "x"}, r"`factor` must be a number.*Received: factor='x'"),
    ("CutMix", {"factor": 1.5}, r"CutMix: `factor` .*\[0, 1\]. Received: factor=1.5"),
    ("RandomShear", {"x_factor": 1.5}, r"RandomShear: `x_factor` must be a number in the range \[0, 1\].*Received: x_factor=1.5"),
    ("RandomShear", {"y_factor": (0.1, 1.2)}, r"RandomShear: `y_factor` .*Received: y_factor=\(0.1, 1.2\)"),
    ("RandomColorJitter", {"brightness_factor": 5}, r"RandomColorJitter: `brightness_factor` .*\[-1, 1\]. "
                                                    r"Received: brightness_factor=5"),
    ("RandomColorJitter", {"hue_factor": -0.5}, r"RandomColorJitter: `hue_factor` .*Received: hue_factor=-0.5"),
]


@pytest.mark.parametrize("name,kwargs,match", ERRORS, ids=[f"{n}-{sorted(k)[0]}" for n, k, _ in ERRORS])
def test_constructor_errors_match_keras(name, kwargs, match):
    keras = keras_module()
    with pytest.raises(ValueError):
        getattr(keras.layers, name)(**kwargs)
    with pytest.raises(ValueError, match=match):
        getattr(L, name)(**kwargs)


@pytest.mark.parametrize("make,error,match", [
    (lambda: L.Equalization(value_range=5), ValueError, r"Equalization: `value_range` must be a list of two"),
    (lambda: L.Equalization(bins=0), ValueError, r"Equalization: `bins` must be a positive int. Received: bins=0"),
    (lambda: L.RandomGaussianBlur(kernel_size=(3, 5)), NotImplementedError,
     r"non-square kernels are not supported.*kernel_size=\(3, 5\)"),
    (lambda: L.RandomGaussianBlur(kernel_size=2.5), ValueError, r"odd positive int.*kernel_size=2.5"),
    (lambda: L.RandomErasing(fill_value=(1, 2)), ValueError,
     r"RandomErasing: `fill_value` must be a number, a list of three .*fill_value=\(1, 2\)"),
    (lambda: L.MixUp(alpha=0), ValueError, r"MixUp: `alpha` must be a positive number.*Received: alpha=0"),
    (lambda: L.MixUp(seed="x"), ValueError, r"`seed` must be an int or None. Received: seed='x'"),
])
def test_kerasish_refuses_what_keras_fails_on_later(make, error, match):
    # Keras accepts these at construction and fails (or misbehaves) at the first call.
    with pytest.raises(error, match=match):
        make()


# ----------------------------------------------------------------- in a model, and no host sync
def test_augmentation_runs_in_fit_and_not_in_predict():
    from kerasish.models import Sequential

    x = _images((16, 8, 8, 3))
    y = np.random.RandomState(1).randint(0, 2, (16,))
    solar, blur = L.Solarization(0.1, seed=1), L.RandomGaussianBlur(seed=2)
    model = Sequential([L.Input((8, 8, 3)), solar, blur, L.RandomSharpness(0.5, seed=3), L.Rescaling(1 / 255),
                        L.Flatten(), L.Dense(2)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert solar.generator.state.tolist() == [1, 4] and blur.generator.state.tolist() == [2, 4]
    first = model.predict(x, verbose=0)
    assert np.array_equal(first, model.predict(x, verbose=0))
    assert solar.generator.state.tolist() == [1, 4]


SYNC_METHODS = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__")


def test_training_calls_make_no_host_sync(monkeypatch):
    layers = [_make(name, kwargs) for name, kwargs in LAYERS] + [L.RandomErasing()]
    x = torch.from_numpy(_images((8, 9, 10, 3)))
    data = {"images": x, "labels": torch.eye(8)}
    for layer in layers:
        layer(data, training=True)  # first call: the generator's first read
    counts = {"n": 0}
    for method in SYNC_METHODS:
        def wrapper(self, *args, __original=getattr(torch.Tensor, method), **kwargs):
            counts["n"] += 1
            return __original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, method, wrapper)
    for layer in layers:
        layer(data, training=True)
        layer(x, training=False)
    assert counts["n"] == 0


@pytest.mark.gpu
def test_cuda_training_calls_make_no_host_sync():
    layers = [_make(name, kwargs).to("cuda") for name, kwargs in LAYERS]
    data = {"images": torch.from_numpy(_images((8, 9, 10, 3))).cuda(), "labels": torch.eye(8).cuda()}
    for layer in layers:
        layer(data, training=True)
    torch.cuda.set_sync_debug_mode("error")
    try:
        outs = [layer(data, training=True) for layer in layers]
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert all(o["images"].device.type == "cuda" and o["labels"].device.type == "cuda" for o in outs)


@pytest.mark.parametrize("name", NAMES + ["Pipeline"])
def test_signature_equals_keras(name):
    import inspect

    keras = keras_module()

    def params(cls):
        return [(p.name, p.default) for p in inspect.signature(cls.__init__).parameters.values()
                if p.name != "self" and p.kind is not p.VAR_KEYWORD]

    ours, theirs = params(getattr(L, name)), params(getattr(keras.layers, name))
    assert [n for n, _ in ours] == [n for n, _ in theirs]
    assert [d for _, d in ours] == [d for _, d in theirs]
