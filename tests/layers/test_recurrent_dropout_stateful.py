"""The fused SimpleRNN / LSTM / GRU against Keras 3 for what the fused kernels cannot express on
their own: seeded dropout and recurrent dropout in training, and stateful layers across batches."""

import numpy as np
import pytest
import torch

from kerasish import layers
from tests.keras_parity import assert_close, grads, keras_layout_grads, keras_module, to_numpy

RNG = np.random.default_rng(1)
X = RNG.normal(size=(3, 6, 4)).astype("float32")
MASK = np.array([[1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1], [1, 0, 1, 0, 1, 1]], bool)

LAYERS = {
    "simple": ("SimpleRNN", {"units": 3}),
    "lstm": ("LSTM", {"units": 3}),
    "gru": ("GRU", {"units": 3}),
    "gru_reset_before": ("GRU", {"units": 3, "reset_after": False}),
}


def _pair(name, kw, shape=(None, 6, 4)):
    keras = keras_module()
    theirs, ours = getattr(keras.layers, name)(**kw), getattr(layers, name)(**kw)
    theirs.build(shape)
    ours.build(shape)
    ours.set_weights(theirs.get_weights())
    return theirs, ours


def _listed(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("rates", [(0.3, 0.0), (0.3, 0.4), (0.0, 0.5)], ids=["dropout", "both", "recurrent"])
@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
def test_seeded_dropout_in_training_is_keras_dropout(layer, rates, masked):
    name, kw = LAYERS[layer]
    kw = dict(kw, dropout=rates[0], recurrent_dropout=rates[1], seed=11, return_sequences=True, return_state=True)
    theirs, ours = _pair(name, kw)
    mask = torch.tensor(MASK) if masked else None
    for _ in range(2):  # the second batch draws the next masks of the same seed sequence, as Keras
        xk, xo = torch.tensor(X, requires_grad=True), torch.tensor(X, requires_grad=True)
        out_k = _listed(theirs(xk, mask=mask, training=True))
        out_o = _listed(ours(xo, mask=mask, training=True))
        assert_close(out_o, out_k)
    sum(o.sum() for o in out_k).backward()
    sum(o.sum() for o in out_o).backward()
    assert_close(xo.grad, xk.grad)
    assert_close(keras_layout_grads(ours), grads(theirs.trainable_weights), atol=1e-5, rtol=1e-4)
    inference = _listed(ours(torch.tensor(X), mask=mask))
    assert not np.allclose(to_numpy(out_o[0]), to_numpy(inference[0]))  # dropout did act in training
    assert_close(inference, _listed(theirs(torch.tensor(X), mask=mask)))  # and not in inference


@pytest.mark.parametrize("layer", ["lstm", "gru"])
def test_zero_recurrent_dropout_equals_the_fused_kernel(layer):
    name, kw = LAYERS[layer]
    plain, zero = getattr(layers, name)(**kw), getattr(layers, name)(**kw, recurrent_dropout=0.0, dropout=0.0)
    plain.build((None, 6, 4))
    zero.build((None, 6, 4))
    zero.set_weights(plain.get_weights())
    assert_close(zero(torch.tensor(X), training=True), plain(torch.tensor(X), training=True))


def test_recurrent_dropout_runs_in_fit_and_is_reproducible_with_a_seed():
    from kerasish import Sequential

    def run():
        torch.manual_seed(0)
        model = Sequential([layers.Input((6, 4)), layers.LSTM(5, dropout=0.2, recurrent_dropout=0.3, seed=3),
                            layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        history = model.fit(X.repeat(8, 0), np.ones((24, 1), "float32"), epochs=3, batch_size=8, verbose=0,
                            shuffle=False)
        return history.history["loss"]

    first, second = run(), run()
    assert first == second
    assert first[-1] < first[0]


@pytest.mark.parametrize("layer", LAYERS)
def test_stateful_carries_states_across_batches_until_reset(layer):
    name, kw = LAYERS[layer]
    theirs, ours = _pair(name, dict(kw, stateful=True, return_sequences=True), (3, 6, 4))
    first, second = torch.tensor(X), torch.tensor(X[:, ::-1].copy())
    assert_close(ours(first), theirs(first))
    carried = ours(second)
    assert_close(carried, theirs(second))
    ours.reset_states()
    theirs.reset_states()
    fresh = ours(second)
    assert_close(fresh, theirs(second))
    assert not np.allclose(to_numpy(carried), to_numpy(fresh))
    assert len(ours.get_weights()) == len(theirs.get_weights())  # kept states are not weights
    with pytest.raises(ValueError, match="is stateful, so the batch size must stay 3"):
        ours(torch.tensor(X[:2]))


def test_stateful_lstm_with_masks_and_state_outputs_matches_keras():
    theirs, ours = _pair("LSTM", {"units": 3, "stateful": True, "return_state": True}, (3, 6, 4))
    for x in (X, X[:, ::-1].copy(), X * 0.5):
        assert_close(_listed(ours(torch.tensor(x), mask=torch.tensor(MASK))),
                     _listed(theirs(torch.tensor(x), mask=torch.tensor(MASK))))


def test_stateful_model_carries_states_between_predict_calls_and_fit_does_not_backprop_into_them():
    from kerasish import Sequential

    torch.manual_seed(0)
    model = Sequential([layers.Input((6, 4), batch_size=3), layers.GRU(4, stateful=True), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(X, np.zeros((3, 1), "float32"), epochs=2, batch_size=3, verbose=0)  # two batches, one graph each
    gru = model.layers[0]
    gru.reset_states()
    a = model.predict(X, batch_size=3, verbose=0)
    b = model.predict(X, batch_size=3, verbose=0)
    assert not np.allclose(a, b)  # the second call starts from the first call's final states
    gru.reset_states()
    assert np.allclose(model.predict(X, batch_size=3, verbose=0), a, atol=1e-6)
    assert all(not s.requires_grad for s in gru.states)


def test_use_cudnn_true_with_recurrent_dropout_is_refused_with_the_fix():
    layer = layers.LSTM(3, recurrent_dropout=0.2, use_cudnn=True)
    with pytest.raises(ValueError, match=r"use_cudnn=True, but cuDNN cannot compute .*recurrent_dropout=0.2.*"
                                         r"use_cudnn='auto'"):
        layer(torch.tensor(X), training=True)
