"""RandomColorJitter and Pipeline held against Keras 3."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from kerasish import layers as L
from tests.keras_parity import assert_close, keras_module, to_numpy


def _images(shape=(3, 7, 8, 3), seed=0, scale=255.0):
    return (np.random.RandomState(seed).rand(*shape) * scale).astype("float32")


# ----------------------------------------------------------------- RandomColorJitter
@pytest.mark.parametrize("kwargs", [
    {"brightness_factor": (0.1, 0.1)},
    {"saturation_factor": (0.8, 0.8)},
    {"brightness_factor": (-0.2, -0.2), "contrast_factor": (0, 0), "saturation_factor": (0.3, 0.3),
     "hue_factor": (0, 0)},
])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_forced_jitter_equals_keras(kwargs, data_format):
    keras = keras_module()
    x = _images(scale=1.0)
    kwargs = dict(kwargs, value_range=(0, 1))
    expected = keras.layers.RandomColorJitter(**kwargs)(x, training=True)
    if data_format == "channels_first":
        # Keras 3.15 does not hand data_format to its sublayers (its channels-first jitter fails),
        # so the channels-first result is compared with Keras's channels-last one, transposed.
        out = L.RandomColorJitter(**kwargs, data_format=data_format)(x.transpose(0, 3, 1, 2).copy(), training=True)
        out = out.permute(0, 2, 3, 1)
    else:
        out = L.RandomColorJitter(**kwargs)(x, training=True)
    assert str(out.dtype) == str(expected.dtype)
    assert_close(out, expected, atol=1e-5)


def test_jitter_sublayers_draw_different_numbers_and_resume_from_the_state_dict():
    x = torch.from_numpy(_images((16, 4, 4, 3), scale=1.0))
    jitter = L.RandomColorJitter(value_range=(0, 1), brightness_factor=0.3, contrast_factor=0.3, seed=5)
    first = jitter(x, training=True)
    state = {k: v.clone() for k, v in jitter.state_dict().items()}
    assert sorted(state) == ["jitters.0.generator.state", "jitters.1.generator.state"]
    assert state["jitters.0.generator.state"][0] != state["jitters.1.generator.state"][0]
    expected = jitter(x, training=True)
    resumed = L.RandomColorJitter(value_range=(0, 1), brightness_factor=0.3, contrast_factor=0.3, seed=5)
    resumed.load_state_dict(state)
    assert torch.equal(resumed(x, training=True), expected) and not torch.equal(expected, first)
    # Brightness alone: each image shifted by one offset within +-0.3 of the range.
    shifts = (L.RandomColorJitter(value_range=(0, 10), brightness_factor=0.3, seed=1)(
        torch.full((200, 2, 2, 3), 5.0), training=True) - 5.0)[:, 0, 0, 0]
    assert float(shifts.abs().max()) <= 3.0 + 1e-5 and float(shifts.std()) > 1.0


def test_jitter_inference_keeps_integer_images_as_keras():
    keras = keras_module()
    x = _images().astype("uint8")
    ours = L.RandomColorJitter(brightness_factor=0.2)(x, training=False)
    theirs = keras.layers.RandomColorJitter(brightness_factor=0.2)(x, training=False)
    assert ours.dtype == torch.uint8 and str(theirs.dtype) == "torch.uint8"
    assert_close(ours, theirs)


# ----------------------------------------------------------------- Pipeline
def _pipelines(keras):
    ours = L.Pipeline([L.RandomFlip(seed=1), L.Solarization(threshold_factor=0.3, seed=2), L.MixUp(seed=3)],
                      name="pipe")
    theirs = keras.layers.Pipeline([keras.layers.RandomFlip(seed=1), keras.layers.Solarization(threshold_factor=0.3,
                                    seed=2), keras.layers.MixUp(seed=3)], name="pipe")
    return ours, theirs


def _strip(config):
    config = json.loads(json.dumps(config))
    for entry in config["layers"]:
        entry["config"].pop("name")
        entry["config"].pop("dtype")
    return config


def test_pipeline_config_equals_keras_and_loads_it():
    keras = keras_module()
    ours, theirs = _pipelines(keras)
    assert _strip(ours.get_config()) == _strip(theirs.get_config())
    assert sorted(ours.get_config()) == ["layers", "name"]
    loaded = L.Pipeline.from_config(json.loads(json.dumps(theirs.get_config())))
    assert [type(layer).__name__ for layer in loaded.layers] == ["RandomFlip", "Solarization", "MixUp"]
    again = L.Pipeline.from_config(json.loads(json.dumps(ours.get_config())))
    assert again.get_config() == ours.get_config()
    x = torch.from_numpy(_images())
    assert torch.equal(again(x, training=True), ours(x, training=True))
    with pytest.raises(ValueError, match=r"Pipeline: the config needs a 'layers' list.*Received: layers=None"):
        L.Pipeline.from_config({"name": "p"})


def test_pipeline_inference_equals_keras_and_training_runs_every_layer():
    keras = keras_module()
    ours, theirs = _pipelines(keras)
    x = _images()
    out, expected = ours(x, training=False), theirs(x, training=False)
    assert str(out.dtype) == str(expected.dtype)
    assert_close(out, expected)
    ours.eval()
    assert_close(ours(x), expected)
    ours.train()
    trained = ours({"images": x, "labels": np.eye(3, dtype="float32")})  # a direct call augments, as Keras's
    assert not np.allclose(to_numpy(trained["images"]), x)
    assert [layer.generator.state.tolist()[1] for layer in ours.layers] == [1, 1, 1]


def test_pipeline_passes_training_to_every_layer_and_dicts_through_images_only_layers():
    x = torch.ones(4, 6, 6, 3)
    pipe = L.Pipeline([L.Dropout(0.5, seed=1), L.RandomContrast((0, 0))])
    assert not torch.equal(pipe(x), x)  # Dropout trains in a direct call, as Keras's Pipeline passes True
    assert torch.equal(pipe(x, training=False), x)
    data = {"images": x, "labels": torch.eye(4)}
    out = L.Pipeline([L.RandomFlip(seed=1), L.RandomErasing((1, 1), fill_value=0, seed=1)])(data)
    assert sorted(out) == ["images", "labels"] and torch.equal(out["labels"], torch.eye(4))
    assert float((out["images"] == 0).float().mean()) > 0
    masks = {"images": x, "segmentation_masks": x[..., :1]}
    with pytest.raises(NotImplementedError, match=r"Pipeline: RandomFlip transforms images only.*segmentation_masks"):
        L.Pipeline([L.RandomFlip()])(masks)


def test_pipeline_refuses_what_is_not_a_layer():
    with pytest.raises(TypeError, match=r"Pipeline: `layers` must be a list of kerasish layers. Received: "
                                        r"\['RandomFlip', 'Linear'\]. Wrap a torch module"):
        L.Pipeline([L.RandomFlip(), torch.nn.Linear(2, 2)])
    with pytest.raises(TypeError, match=r"Received: RandomFlip"):
        L.Pipeline(L.RandomFlip())


def test_pipeline_in_a_model_trains_and_saves(tmp_path):
    from kerasish.models import Sequential, load_model

    x = _images((16, 8, 8, 3))
    y = np.random.RandomState(1).randint(0, 2, (16,))
    pipe = L.Pipeline([L.RandomShear(0.2, seed=1), L.RandomSharpness(0.5, seed=2)])
    model = Sequential([L.Input((8, 8, 3)), pipe, L.Rescaling(1 / 255), L.Flatten(), L.Dense(2)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert [layer.generator.state.tolist() for layer in pipe.layers] == [[1, 2], [2, 2]]
    first = model.predict(x, verbose=0)
    model.save(tmp_path / "pipe.kerasish")
    loaded = load_model(tmp_path / "pipe.kerasish")
    assert np.allclose(loaded.predict(x, verbose=0), first, atol=1e-6)
    assert [type(layer).__name__ for layer in loaded.layers[0].layers] == ["RandomShear", "RandomSharpness"]
