"""Bidirectional against Keras 3: state outputs, any recurrent layer (the generic RNN too), configs."""

import numpy as np
import pytest
import torch

import kerasish
from kerasish import layers
from tests.keras_parity import assert_close, keras_module

X = np.random.default_rng(2).normal(size=(2, 5, 4)).astype("float32")
MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)


def _pair(make):
    keras = keras_module()
    theirs, ours = make(keras.layers), make(layers)
    theirs.build((None, 5, 4))
    ours.build((None, 5, 4))
    ours.set_weights(theirs.get_weights())
    return theirs, ours


@pytest.mark.parametrize("merge_mode", ["concat", "sum", None])
@pytest.mark.parametrize("inner", ["LSTM", "GRU", "SimpleRNN", "RNN(LSTMCell)"])
@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
def test_return_state_matches_keras_for_every_recurrent_layer(merge_mode, inner, masked):
    def make(lib):
        kw = dict(return_state=True, return_sequences=True)
        rnn = lib.RNN(lib.LSTMCell(3), **kw) if inner == "RNN(LSTMCell)" else getattr(lib, inner)(3, **kw)
        return lib.Bidirectional(rnn, merge_mode=merge_mode)

    theirs, ours = _pair(make)
    mask = torch.tensor(MASK) if masked else None
    out_k, out_o = theirs(torch.tensor(X), mask=mask), ours(torch.tensor(X), mask=mask)
    assert len(out_o) == len(out_k)
    assert_close(list(out_o), list(out_k))
    assert ours.count_params() == theirs.count_params()
    assert [tuple(s) for s in ours.compute_output_shape((None, 5, 4))] == \
        [tuple(s) for s in theirs.compute_output_shape((None, 5, 4))]


def test_bidirectional_states_feed_a_functional_decoder_that_saves_and_reloads(tmp_path):
    inp = kerasish.Input((5, 4))
    out, fh, fc, bh, bc = layers.Bidirectional(layers.LSTM(3, return_state=True))(inp)
    h = layers.Concatenate()([fh, bh])
    model = kerasish.Model(inp, [out, h])
    before = model.predict(X, verbose=0)
    model.save(tmp_path / "m.kerasish")
    after = kerasish.load_model(tmp_path / "m.kerasish").predict(X, verbose=0)
    assert_close(list(after), list(before))


def test_generic_rnn_round_trips_through_the_bidirectional_config():
    layer = layers.Bidirectional(layers.RNN(layers.GRUCell(3), return_sequences=True), merge_mode="ave")
    layer.build((None, 5, 4))
    clone = layers.Bidirectional.from_config(layer.get_config())
    clone.build((None, 5, 4))
    clone.set_weights(layer.get_weights())
    assert_close(clone(torch.tensor(X)), layer(torch.tensor(X)))


def test_a_layer_that_is_not_recurrent_is_refused_with_an_example():
    with pytest.raises(TypeError, match=r"must be a recurrent layer .* Example: Bidirectional\(LSTM\(64\)\)"):
        layers.Bidirectional(layers.Dense(3))


def test_summary_lists_every_output_shape_of_a_layer_with_states_as_keras(capsys):
    keras = keras_module()

    def build(lib, Input, Model):
        inp = Input((5, 4))
        out, fh, fc, bh, bc = lib.Bidirectional(lib.LSTM(3, return_state=True))(inp)
        return Model(inp, [out, lib.Concatenate()([fh, bh])])

    ours = build(layers, kerasish.Input, kerasish.Model)
    theirs = build(keras.layers, keras.Input, keras.Model)
    starts = []
    for model in (ours, theirs):
        model.summary(line_length=150)
        line = [line for line in capsys.readouterr().out.splitlines() if "(Bidirectional)" in line][0]
        starts.append(line.split("│")[2].strip())  # the Output Shape cell (Keras wraps the rest)
    assert starts[1].startswith("[(None, 6), (None, 3),")
    assert starts[0].startswith(starts[1])
