"""A model with STFTSpectrogram in Keras 3's `.keras` format: kerasish saves, Keras loads (and
re-saves, kerasish loads again), Keras saves, kerasish loads; trained kernels and the layer's
settings (an array window included) survive each way."""

from __future__ import annotations

import numpy as np
import pytest

import kerasish
from tests.keras_parity import assert_close, copy_weights, keras_module

RNG = np.random.default_rng(11)
X = RNG.normal(size=(8, 2, 300)).astype("float32")
Y = RNG.normal(size=(8, 1)).astype("float32")


def audio(lib, window="hamming"):
    L = lib.layers
    x = lib.Input((2, 300), name="signal")
    h = L.STFTSpectrogram(mode="log", frame_length=64, frame_step=32, window=window, padding="same",
                          data_format="channels_first", expand_dims=True, name="stft")(x)
    y = L.Dense(1)(L.Flatten()(h))
    return lib.Model(x, y, name="audio")


@pytest.mark.parametrize("window", ["hamming", "array"])
def test_kerasish_saves_keras_loads_and_back(window, tmp_path):
    keras = keras_module()
    window = np.linspace(0.1, 1.0, 64).tolist() if window == "array" else window
    ours = audio(kerasish, window)
    ours.compile(optimizer="adam", loss="mse")
    ours.fit(X, Y, epochs=1, batch_size=4, verbose=0)  # the kernels train away from their initial values
    ours.save(tmp_path / "o.keras")
    theirs = keras.saving.load_model(tmp_path / "o.keras")
    stft = theirs.get_layer("stft")
    assert (stft.window == window) if isinstance(window, str) else np.allclose(stft.window, window)
    assert_close(theirs.get_layer("stft").get_weights(), ours.get_layer("stft").get_weights(), atol=0)
    expected = ours.predict(X, verbose=0)
    assert_close(theirs.predict(X, verbose=0), expected, atol=1e-5)
    theirs.save(tmp_path / "again.keras")
    again = kerasish.load_model(tmp_path / "again.keras")
    assert again.get_layer("stft").get_config() == ours.get_layer("stft").get_config()
    assert_close(again.predict(X, verbose=0), expected, atol=1e-5)


def test_keras_saves_kerasish_loads_and_trains_on(tmp_path):
    keras = keras_module()
    theirs = audio(keras)
    theirs.compile(optimizer="adam", loss="mse")
    theirs.fit(X, Y, epochs=1, batch_size=4, verbose=0)
    theirs.save(tmp_path / "k.keras")
    ours = kerasish.load_model(tmp_path / "k.keras")
    assert_close(ours.predict(X, verbose=0), theirs.predict(X, verbose=0), atol=1e-5)
    twin = audio(kerasish)
    copy_weights(theirs, twin)
    assert_close(twin.predict(X, verbose=0), theirs.predict(X, verbose=0), atol=1e-5)
    history = ours.fit(X, Y, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
