"""kerasish.layers.Wrapper held against keras.layers.Wrapper: a user's subclass (the Keras pattern for
weight normalization and friends) builds, trains, writes Keras's config and travels through .keras
files both ways."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish
from tests.keras_parity import assert_close, copy_weights, keras_module


def scaled_class(lib, registered: bool = True):
    """A wrapper with a weight of its own: a learned scale on the wrapped layer's output."""

    class ScaledWrapper(lib.layers.Wrapper):
        def build(self, input_shape):
            super().build(input_shape)
            self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

        def call(self, x):
            return self.layer(x) * self.scale

    if registered:
        return lib.saving.register_keras_serializable(package="WrapperTest")(ScaledWrapper)
    return ScaledWrapper


def model(lib, wrapper_cls):
    m = lib.Sequential([lib.layers.Input((4,)), wrapper_cls(lib.layers.Dense(3)), lib.layers.Dense(1)])
    m.compile(optimizer="sgd", loss="mse")
    return m


def test_a_subclass_trains_and_configures_as_in_keras():
    K = keras_module()
    km, sm = model(K, scaled_class(K)), model(kerasish, scaled_class(kerasish))
    copy_weights(km, sm)
    assert [w.shape for w in sm.get_weights()] == [tuple(w.shape) for w in km.get_weights()]
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    y = x[:, :1] * 2
    assert_close(sm.predict(x, verbose=0), km.predict(x, verbose=0), atol=1e-6)
    hk = km.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    hs = sm.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    assert_close(hs.history["loss"], hk.history["loss"], atol=1e-5)
    theirs, ours = km.layers[0].get_config(), sm.layers[0].get_config()
    assert sorted(ours) == sorted(theirs)
    assert ours["layer"]["class_name"] == theirs["layer"]["class_name"] == "Dense"
    assert ours["layer"]["config"]["units"] == theirs["layer"]["config"]["units"] == 3


@pytest.mark.parametrize("writer", ["kerasish", "keras"])
def test_a_registered_subclass_travels_through_keras_files(tmp_path, writer):
    K = keras_module()
    km, sm = model(K, scaled_class(K)), model(kerasish, scaled_class(kerasish))
    copy_weights(km, sm)
    with torch.no_grad():
        sm.layers[0].scale.fill_(1.5)
    km.layers[0].scale.assign(1.5)
    path = str(tmp_path / "w.keras")
    (sm if writer == "kerasish" else km).save(path)
    in_keras, in_kerasish = K.saving.load_model(path), kerasish.saving.load_model(path)
    x = np.ones((2, 4), "float32")
    assert type(in_kerasish.layers[0]).__name__ == "ScaledWrapper"
    assert float(in_kerasish.layers[0].scale) == 1.5
    assert_close(in_kerasish.predict(x, verbose=0), in_keras.predict(x, verbose=0), atol=1e-6)


def test_build_builds_the_wrapped_layer_and_from_config_round_trips():
    Scaled = scaled_class(kerasish, registered=False)
    wrapper = Scaled(kerasish.layers.Dense(2), name="w")
    wrapper.build((None, 5))
    assert wrapper.layer.built and tuple(wrapper.layer.kernel.shape) == (5, 2)
    again = Scaled.from_config(wrapper.get_config())
    assert type(again.layer) is kerasish.layers.Dense and again.layer.units == 2 and again.name == "w"
    assert tuple(again(torch.ones(3, 5)).shape) == (3, 2)


def test_the_wrapped_layers_weights_are_the_wrappers():
    wrapper = scaled_class(kerasish, registered=False)(kerasish.layers.Dense(2))
    wrapper(torch.ones(1, 3))
    assert [w.path.split("/")[-1] for w in wrapper.trainable_weights] == ["scale", "kernel", "bias"]


def test_a_non_layer_is_refused_with_the_way_out():
    Scaled = scaled_class(kerasish, registered=False)
    with pytest.raises(ValueError, match=r"supplied to Wrapper isn't a supported layer type.*It is a torch module: "
                                         r"wrap it in kerasish.layers.TorchModuleWrapper"):
        Scaled(torch.nn.Linear(2, 3))
    with pytest.raises(ValueError, match=r"Layer 3 supplied to Wrapper isn't a supported layer type"):
        Scaled(3)


def test_time_distributed_is_a_wrapper_as_in_keras():
    K = keras_module()
    for lib in (K, kerasish):
        assert isinstance(lib.layers.TimeDistributed(lib.layers.Dense(2)), lib.layers.Wrapper)
        assert not isinstance(lib.layers.Bidirectional(lib.layers.LSTM(2)), lib.layers.Wrapper)
