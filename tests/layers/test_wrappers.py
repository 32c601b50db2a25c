"""Bidirectional: masks in both directions, merge modes, parameter counts, configs and errors."""

import json

import numpy as np
import pytest
import torch

from kerasish.layers import GRU, LSTM, Bidirectional, Dense, Embedding, SimpleRNN
from kerasish.models import Sequential

RECURRENT = [SimpleRNN, LSTM, GRU]


def _padded_batch(lengths, steps, padding, vocab=30, seed=0):
    gen = torch.Generator().manual_seed(seed)
    seqs = [torch.randint(1, vocab, (n,), generator=gen) for n in lengths]
    batch = torch.zeros(len(seqs), steps, dtype=torch.long)
    for i, s in enumerate(seqs):
        if padding == "post":
            batch[i, : len(s)] = s
        else:
            batch[i, steps - len(s):] = s
    return seqs, batch


@pytest.mark.parametrize("cls", RECURRENT)
@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_padded_batch_equals_each_sequence_alone(cls, padding, return_sequences):
    torch.manual_seed(0)
    steps = 6
    seqs, batch = _padded_batch([6, 2, 4, 1], steps, padding)
    emb = Embedding(30, 3, mask_zero=True)
    layer = Bidirectional(cls(4, return_sequences=return_sequences)).eval()
    out = layer(emb(batch), mask=emb.compute_mask(batch))
    for i, s in enumerate(seqs):
        alone = layer(emb(s[None]))[0]
        if return_sequences:
            got = out[i, : len(s)] if padding == "post" else out[i, steps - len(s):]
        else:
            got = out[i]
        torch.testing.assert_close(got, alone, atol=1e-5, rtol=0)


def test_backward_direction_is_aligned_in_time_and_starts_at_the_last_real_step():
    torch.manual_seed(0)
    layer = Bidirectional(LSTM(3, return_sequences=True), merge_mode=None, input_shape=(4, 2)).eval()
    x = torch.randn(1, 4, 2)
    forward, backward = layer(x)
    # Step 0 of the backward direction has read the whole sequence: it equals the final
    # state of a backward-only run; step 3 has read one step.
    back_only = LSTM(3, go_backwards=True).eval()
    back_only.build((None, 4, 2))
    back_only.load_state_dict(layer.backward_layer.state_dict())
    torch.testing.assert_close(backward[0, 0], back_only(x)[0])
    torch.testing.assert_close(backward[0, 3], back_only(x[:, 3:])[0])
    torch.testing.assert_close(forward[0, -1], layer.forward_layer(x)[0, -1])


@pytest.mark.parametrize("mode, width", [("concat", 6), ("sum", 3), ("ave", 3), ("mul", 3)])
def test_merge_modes(mode, width):
    torch.manual_seed(0)
    layer = Bidirectional(GRU(3), merge_mode=mode, input_shape=(5, 2)).eval()
    x = torch.randn(2, 5, 2)
    f, b = layer.forward_layer(x), layer.backward_layer(x)
    expected = {"concat": torch.cat([f, b], -1), "sum": f + b, "ave": (f + b) / 2, "mul": f * b}[mode]
    torch.testing.assert_close(layer(x), expected)
    assert layer.compute_output_shape((None, 5, 2)) == (None, width)


def test_return_state_returns_both_directions_states():
    out = Bidirectional(LSTM(3, return_state=True))(torch.randn(2, 4, 2))
    assert len(out) == 5 and out[0].shape == (2, 6) and all(s.shape == (2, 3) for s in out[1:])


@pytest.mark.parametrize("inner, features", [(LSTM(8), 5), (GRU(8), 5), (SimpleRNN(8), 5)])
def test_parameter_count_is_twice_the_wrapped_layer(inner, features):
    per_direction = {"LSTM": 4 * (8 * (5 + 8) + 8), "GRU": 3 * (8 * (5 + 8) + 16), "SimpleRNN": 8 * 13 + 8}
    model = Sequential([Embedding(40, features, input_length=7), Bidirectional(inner)])
    lines = []
    model.summary(print_fn=lines.append)
    row = [line for line in lines[0].splitlines() if "(Bidirectional)" in line][0]
    expected = 2 * per_direction[type(inner).__name__]
    assert "(None, 16)" in row and row.strip(" │").split()[-1] == f"{expected:,}"


def test_get_and_set_weights_forward_then_backward():
    layer = Bidirectional(GRU(2))
    layer.build((None, 3, 4))
    weights = [np.full(w.shape, i, dtype=np.float32) for i, w in enumerate(layer.get_weights())]
    layer.set_weights(weights)
    assert [float(w.ravel()[0]) for w in layer.get_weights()] == [0, 1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="expects 6 weight arrays"):
        layer.set_weights(weights[:3])


def test_tutorial_shaped_model_trains_with_masks():
    torch.manual_seed(0)
    x = torch.randint(1, 30, (64, 8))
    x[::2, :4] = 0
    y = (x[:, -1] > 15).float()
    model = Sequential([
        Embedding(30, 8, mask_zero=True),
        Bidirectional(LSTM(6, return_sequences=True, dropout=0.5)),
        Bidirectional(LSTM(6)),
        Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=4, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_config_round_trips_through_json():
    layer = Bidirectional(LSTM(4, return_sequences=True, name="enc"), merge_mode="sum", name="bi")
    config = layer.get_config()
    rebuilt = Bidirectional.from_config(json.loads(json.dumps(config)))
    assert rebuilt.get_config() == config
    assert rebuilt.forward_layer.name == "forward_enc" and rebuilt.backward_layer.go_backwards
    custom = Bidirectional(GRU(2), backward_layer=GRU(2, go_backwards=True, name="back"))
    config = custom.get_config()
    assert Bidirectional.from_config(json.loads(json.dumps(config))).get_config() == config


def test_bad_arguments_are_rejected_with_the_fix():
    with pytest.raises(TypeError, match=r"layer must be a recurrent layer \(SimpleRNN, LSTM, GRU, RNN\(cell\)"):
        Bidirectional(Dense(3))
    with pytest.raises(ValueError, match="merge_mode must be one of .* received merge_mode='max'"):
        Bidirectional(LSTM(3), merge_mode="max")
    with pytest.raises(ValueError, match="weights= is not supported"):
        Bidirectional(LSTM(3), weights=[np.zeros(3)])
    with pytest.raises(ValueError, match="backward_layer.go_backwards must be the opposite"):
        Bidirectional(LSTM(3), backward_layer=LSTM(3))
    with pytest.raises(ValueError, match="backward_layer.return_sequences=True differs"):
        Bidirectional(LSTM(3), backward_layer=LSTM(3, go_backwards=True, return_sequences=True))
