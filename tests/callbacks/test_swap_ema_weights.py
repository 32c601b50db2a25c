"""SwapEMAWeights held against Keras 3: validation and checkpoints see the optimizer's moving
average of the weights, training continues from the trained weights, and fit ends with the
averages in the model."""

from __future__ import annotations

import numpy as np
import pytest

import kerasish
from kerasish.callbacks import SwapEMAWeights
from tests.keras_parity import assert_close, copy_weights, keras_module

rng = np.random.default_rng(3)
X = rng.normal(size=(64, 4)).astype("float32")
Y = (X @ rng.normal(size=(4, 1)) + 0.1).astype("float32")
XV, YV = X[:16] + 0.5, Y[:16]


def pair(K):
    models = []
    for lib in (K, kerasish):
        m = lib.Sequential([lib.layers.Input((4,)), lib.layers.Dense(8, activation="tanh"), lib.layers.Dense(1)])
        m.compile(optimizer=lib.optimizers.SGD(0.05, use_ema=True, ema_momentum=0.8), loss="mse")
        models.append(m)
    copy_weights(models[0], models[1])
    return models


def recorder(lib, seen):
    return lib.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append([np.array(w) for w in models_of[lib].get_weights()]))


models_of = {}


def test_validation_uses_the_averages_and_training_the_weights_as_keras():
    K = keras_module()
    km, sm = pair(K)
    hk = km.fit(X, Y, batch_size=16, epochs=3, shuffle=False, validation_data=(XV, YV), verbose=0,
                callbacks=[K.callbacks.SwapEMAWeights()])
    hs = sm.fit(X, Y, batch_size=16, epochs=3, shuffle=False, validation_data=(XV, YV), verbose=0,
                callbacks=[SwapEMAWeights()])
    assert sorted(hs.history) == sorted(hk.history)
    for key in hk.history:
        assert_close(hs.history[key], hk.history[key], atol=1e-5)
    for a, b in zip(sm.get_weights(), km.get_weights()):
        assert_close(a, b, atol=1e-5)


def test_swap_on_epoch_shows_the_averages_to_later_callbacks_as_keras():
    K = keras_module()
    km, sm = pair(K)
    models_of[K], models_of[kerasish] = km, sm
    seen_k, seen_s = [], []
    km.fit(X, Y, batch_size=16, epochs=3, shuffle=False, validation_data=(XV, YV), verbose=0,
           callbacks=[K.callbacks.SwapEMAWeights(swap_on_epoch=True), recorder(K, seen_k)])
    sm.fit(X, Y, batch_size=16, epochs=3, shuffle=False, validation_data=(XV, YV), verbose=0,
           callbacks=[SwapEMAWeights(swap_on_epoch=True), recorder(kerasish, seen_s)])
    assert len(seen_s) == len(seen_k) == 3
    for epoch_s, epoch_k in zip(seen_s, seen_k):
        for a, b in zip(epoch_s, epoch_k):
            assert_close(a, b, atol=1e-5)
    for a, b in zip(sm.get_weights(), km.get_weights()):
        assert_close(a, b, atol=1e-5)


def test_the_swap_differs_from_training_without_it():
    K = keras_module()
    _, plain = pair(K)
    _, swapped = pair(K)
    swapped.set_weights(plain.get_weights())
    h_plain = plain.fit(X, Y, batch_size=16, epochs=2, shuffle=False, validation_data=(XV, YV), verbose=0)
    h_swap = swapped.fit(X, Y, batch_size=16, epochs=2, shuffle=False, validation_data=(XV, YV), verbose=0,
                         callbacks=[SwapEMAWeights()])
    assert h_plain.history["loss"] == pytest.approx(h_swap.history["loss"], rel=1e-6)  # training unchanged
    assert h_plain.history["val_loss"][0] != pytest.approx(h_swap.history["val_loss"][0], rel=1e-3)


def test_an_optimizer_without_use_ema_is_refused():
    m = kerasish.Sequential([kerasish.layers.Input((4,)), kerasish.layers.Dense(1)])
    m.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"SwapEMAWeights must be used when `use_ema=True` is set on the optimizer\. "
                                         r"Received: use_ema=False"):
        m.fit(X, Y, epochs=1, validation_data=(XV, YV), verbose=0, callbacks=[SwapEMAWeights()])


def test_before_any_step_there_is_no_average_to_swap_in():
    m = kerasish.Sequential([kerasish.layers.Input((4,)), kerasish.layers.Dense(1)])
    m.compile(optimizer=kerasish.optimizers.Adam(use_ema=True), loss="mse")
    before = [w.copy() for w in m.get_weights()]
    with pytest.raises(ValueError, match="the optimizer has not taken a training step yet"):
        m.evaluate(XV, YV, verbose=0, callbacks=[SwapEMAWeights()])
    for a, b in zip(m.get_weights(), before):
        np.testing.assert_array_equal(a, b)
