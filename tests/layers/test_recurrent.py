"""SimpleRNN, LSTM and GRU: Keras's equations and parameter counts, masks, configs and errors."""

import json

import numpy as np
import pytest
import torch

from kerasish.layers import GRU, LSTM, Dense, Embedding, Masking, SimpleRNN
from kerasish.models import Sequential

RECURRENT = [SimpleRNN, LSTM, GRU]


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _keras_reference(layer, x):
    """Runs Keras's cell equations in NumPy with the layer's Keras-layout weights; returns all h."""
    kernel, recurrent, bias = layer.get_weights()
    u = layer.units
    h = np.zeros((x.shape[0], u))
    c = np.zeros((x.shape[0], u))
    outputs = []
    for t in range(x.shape[1]):
        xt = x[:, t]
        if isinstance(layer, SimpleRNN):
            h = np.tanh(xt @ kernel + h @ recurrent + bias)
        elif isinstance(layer, LSTM):
            z = xt @ kernel + h @ recurrent + bias
            i, f, g, o = (z[:, k * u:(k + 1) * u] for k in range(4))
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
        else:  # GRU, reset_after=True, Keras gate order z, r, h; bias rows: input, recurrent
            xz = xt @ kernel + bias[0]
            hz = h @ recurrent + bias[1]
            z = _sigmoid(xz[:, :u] + hz[:, :u])
            r = _sigmoid(xz[:, u:2 * u] + hz[:, u:2 * u])
            hh = np.tanh(xz[:, 2 * u:] + r * hz[:, 2 * u:])
            h = z * h + (1 - z) * hh
        outputs.append(h)
    return np.stack(outputs, axis=1)


@pytest.mark.parametrize("cls", RECURRENT)
def test_outputs_follow_keras_equations_with_keras_layout_weights(cls):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    layer = cls(3, return_sequences=True)
    layer.build((None, 4, 2))
    layer.set_weights([rng.normal(0, 0.5, w.shape) for w in layer.get_weights()])
    x = rng.normal(size=(2, 4, 2))
    out = layer(torch.tensor(x, dtype=torch.float32)).detach().numpy()
    np.testing.assert_allclose(out, _keras_reference(layer, x), atol=1e-5)


@pytest.mark.parametrize(
    "layer, features, expected",
    [
        (SimpleRNN(7), 5, 7 * (5 + 7) + 7),
        (LSTM(7), 5, 4 * (7 * (5 + 7) + 7)),
        (GRU(7), 5, 3 * (7 * (5 + 7) + 2 * 7)),
        (LSTM(7, use_bias=False), 5, 4 * 7 * (5 + 7)),
    ],
    ids=["simple_rnn", "lstm", "gru_reset_after", "lstm_no_bias"],
)
def test_parameter_counts_match_keras_formulas(layer, features, expected):
    model = Sequential([Embedding(50, features, input_length=6), layer])
    lines = []
    model.summary(print_fn=lines.append)
    row = [line for line in lines[0].splitlines() if type(layer).__name__ + ")" in line][0]
    assert row.strip(" │").split()[-1] == f"{expected:,}"
    assert layer.count_params() == expected


def test_keras_weight_shapes_and_initialisers():
    torch.manual_seed(0)
    lstm = LSTM(4)
    lstm.build((None, 3, 6))
    kernel, recurrent, bias = lstm.get_weights()
    assert kernel.shape == (6, 16) and recurrent.shape == (4, 16) and bias.shape == (16,)
    # unit_forget_bias: the forget gate (second block) starts at 1, the rest at 0.
    np.testing.assert_array_equal(bias, np.r_[np.zeros(4), np.ones(4), np.zeros(8)])
    # Orthogonal recurrent kernel: its rows are orthonormal.
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(4), atol=1e-5)
    gru = GRU(4)
    gru.build((None, 3, 6))
    assert [w.shape for w in gru.get_weights()] == [(6, 12), (4, 12), (2, 12)]


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


def _real_steps(out_row, n, steps, padding):
    return out_row[:n] if padding == "post" else out_row[steps - n:]


@pytest.mark.parametrize("cls", RECURRENT)
@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_padded_batch_equals_each_sequence_alone_with_embedding_mask(cls, padding, return_sequences):
    torch.manual_seed(0)
    steps = 6
    seqs, batch = _padded_batch([6, 2, 4, 1], steps, padding)
    emb = Embedding(30, 3, mask_zero=True)
    layer = cls(4, return_sequences=return_sequences).eval()
    out = layer(emb(batch), mask=emb.compute_mask(batch))
    for i, s in enumerate(seqs):
        alone = layer(emb(s[None]))[0]
        got = _real_steps(out[i], len(s), steps, padding) if return_sequences else out[i]
        torch.testing.assert_close(got, alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("cls", RECURRENT)
@pytest.mark.parametrize("padding", ["pre", "post"])
def test_masking_layer_and_go_backwards_use_only_the_real_steps(cls, padding):
    torch.manual_seed(1)
    steps = 5
    x = torch.randn(3, steps, 2)
    lengths = [5, 3, 1]
    for i, n in enumerate(lengths):
        if padding == "post":
            x[i, n:] = 0
        else:
            x[i, : steps - n] = 0
    model = Sequential([Masking(input_shape=(steps, 2)), cls(4, go_backwards=True, return_sequences=True)]).eval()
    out = model(x)
    for i, n in enumerate(lengths):
        real = x[i, :n] if padding == "post" else x[i, steps - n:]
        alone = model(real[None])[0]
        # go_backwards returns the sequence in reversed time: the real steps of the reversed row.
        got = out[i].flip(0)
        got = _real_steps(got, n, steps, padding).flip(0)
        torch.testing.assert_close(got, alone, atol=1e-5, rtol=0)
    # The last output of a backwards layer is the state after the first real step.
    last = cls(4, go_backwards=True).eval()
    last.build((None, steps, 2))
    last.load_state_dict(model.layers[1].state_dict())
    for i, n in enumerate(lengths):
        real = x[i, :n] if padding == "post" else x[i, steps - n:]
        torch.testing.assert_close(last(x, mask=(x != 0).any(-1))[i], last(real[None])[0], atol=1e-5, rtol=0)


def test_rows_without_real_steps_return_the_initial_state():
    emb = Embedding(10, 3, mask_zero=True)
    batch = torch.tensor([[0, 0, 0], [0, 4, 5]])
    out = LSTM(2)(emb(batch), mask=emb.compute_mask(batch))
    assert torch.equal(out[0], torch.zeros(2))


def test_return_state_gives_final_states():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 3)
    out, h, c = LSTM(4, return_state=True)(x)
    assert out.shape == h.shape == c.shape == (2, 4)
    torch.testing.assert_close(out, h)
    seq, h = GRU(4, return_sequences=True, return_state=True)(x)
    torch.testing.assert_close(seq[:, -1], h)


def test_initial_state_is_used_and_checked():
    torch.manual_seed(0)
    layer = SimpleRNN(2)
    x = torch.randn(3, 4, 2)
    assert not torch.allclose(layer(x), layer(x, initial_state=[torch.ones(3, 2)]))
    with pytest.raises(ValueError, match=r"expects initial_state as 2 tensor\(s\) of shape"):
        LSTM(2)(x, initial_state=[torch.ones(3, 2)])


def test_dropout_is_active_only_in_training():
    torch.manual_seed(0)
    layer = LSTM(3, dropout=0.5)
    x = torch.randn(4, 5, 2)
    layer.train()
    assert not torch.allclose(layer(x), layer(x))
    layer.eval()
    torch.testing.assert_close(layer(x), layer(x))


def test_stacked_recurrent_layers_train_in_sequential_with_masks():
    torch.manual_seed(0)
    x = torch.randint(1, 20, (64, 6))
    x[::2, :3] = 0  # pre-padded half
    y = (x[:, -1] > 10).float()
    model = Sequential([
        Embedding(20, 8, mask_zero=True),
        GRU(8, return_sequences=True),
        LSTM(8, return_sequences=True),
        SimpleRNN(4),
        Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    assert model.output_shape == (16, 1)  # built by fit's first batch: Keras keeps its size


@pytest.mark.parametrize("cls", RECURRENT)
def test_config_round_trips_through_json(cls):
    layer = cls(5, return_sequences=True, go_backwards=True, dropout=0.25, name="rec")
    config = layer.get_config()
    rebuilt = cls.from_config(json.loads(json.dumps(config)))
    assert rebuilt.get_config() == config


def test_compute_output_shape_closed_form():
    assert LSTM(4).compute_output_shape((None, 7, 3)) == (None, 4)
    assert GRU(4, return_sequences=True).compute_output_shape((None, 7, 3)) == (None, 7, 4)
    assert LSTM(4, return_state=True).compute_output_shape((None, 7, 3)) == [(None, 4), (None, 4), (None, 4)]


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: SimpleRNN(0), "units must be a positive integer, received units=0"),
        (lambda: GRU(4, dropout=1.5), r"dropout must be a number in \[0, 1\), received dropout=1.5"),
    ],
)
def test_bad_arguments_are_rejected_with_the_fix(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_inputs_name_the_expected_rank():
    with pytest.raises(ValueError, match=r"must have rank 3 \(batch, timesteps, features\)"):
        LSTM(4)(torch.ones(2, 5))
    # As Keras: a layer's own input_shape= is checked when a Sequential builds it, not by its constructor.
    layer = LSTM(4, input_shape=(5,))
    with pytest.raises(ValueError, match=r"must have rank 3 \(batch, timesteps, features\) with known features"):
        Sequential([layer])
    assert not layer.built
    with pytest.raises(ValueError, match=r"must have rank 3 \(batch, timesteps, features\), received input shape"):
        LSTM(4).compute_output_shape((None, 5))
    with pytest.raises(ValueError, match=r"received a mask of shape \(2, 4\)"):
        GRU(3)(torch.ones(2, 5, 1), mask=torch.ones(2, 4, dtype=torch.bool))


def test_set_weights_checks_count_and_shapes():
    layer = GRU(2)
    layer.build((None, 3, 4))
    with pytest.raises(ValueError, match="expects 3 weight arrays"):
        layer.set_weights([np.zeros((4, 6))])
    with pytest.raises(ValueError, match=r"has Keras shape \(4, 6\), received an array of shape \(6, 4\)"):
        layer.set_weights([np.zeros((6, 4)), np.zeros((2, 6)), np.zeros((2, 6))])
