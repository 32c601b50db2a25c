"""The generic RNN layer and its cells against Keras 3: outputs, gradients, states, masks, configs, saving."""

import json

import numpy as np
import pytest
import torch

import kerasish
from kerasish import ops
from kerasish.layers.layer import Layer
from kerasish.layers.rnn_cells import GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells
from kerasish.layers.rnn_generic import RNN
from kerasish.utils.object_registration import register_builtin
from tests.keras_parity import assert_close, grads, keras_module, to_numpy

register_builtin(RNN, SimpleRNNCell, LSTMCell, GRUCell, StackedRNNCells)

RNG = np.random.default_rng(0)
X = RNG.normal(size=(3, 5, 4)).astype("float32")
MASK = np.array([[1, 1, 1, 0, 0], [0, 0, 1, 1, 1], [1, 0, 1, 0, 1]], bool)

CELLS = {
    "simple": ("SimpleRNNCell", {"units": 3}),
    "simple_relu": ("SimpleRNNCell", {"units": 3, "activation": "relu", "use_bias": False}),
    "lstm": ("LSTMCell", {"units": 3}),
    "lstm_hard_sigmoid": ("LSTMCell", {"units": 2, "recurrent_activation": "hard_sigmoid", "unit_forget_bias": False}),
    "gru": ("GRUCell", {"units": 3}),
    "gru_reset_before": ("GRUCell", {"units": 3, "reset_after": False}),
    "gru_no_bias": ("GRUCell", {"units": 2, "use_bias": False}),
}
OURS = {"SimpleRNNCell": SimpleRNNCell, "LSTMCell": LSTMCell, "GRUCell": GRUCell}

RNN_ARGS = {
    "last": {},
    "sequences": {"return_sequences": True},
    "state_backwards": {"return_state": True, "go_backwards": True},
    "all": {"return_sequences": True, "return_state": True},
    "zero_output": {"return_sequences": True, "zero_output_for_mask": True},
}


def _cell(name, kw, keras=None):
    return getattr(keras.layers, name)(**kw) if keras else OURS[name](**kw)


def _listed(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _flat(structure):
    if isinstance(structure, (list, tuple)):
        return [t for s in structure for t in _flat(s)]
    return [structure]


def _pair(make_keras, make_ours, shape=(None, 5, 4)):
    keras = keras_module()
    theirs, ours = make_keras(keras), make_ours()
    theirs.build(shape)
    ours.build(shape)
    ours.set_weights(theirs.get_weights())
    return keras, theirs, ours


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("args", RNN_ARGS)
@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
def test_cell_in_rnn_matches_keras_outputs_and_gradients(cell, args, masked):
    name, kw = CELLS[cell]
    keras, theirs, ours = _pair(lambda k: k.layers.RNN(_cell(name, kw, k), **RNN_ARGS[args]),
                                lambda: RNN(_cell(name, kw), **RNN_ARGS[args]))
    xk, xo = torch.tensor(X, requires_grad=True), torch.tensor(X, requires_grad=True)
    mask = torch.tensor(MASK) if masked else None
    out_k, out_o = _listed(theirs(xk, mask=mask)), _listed(ours(xo, mask=mask))
    assert_close(out_o, out_k)
    sum(o.sum() for o in out_k).backward()
    sum(o.sum() for o in out_o).backward()
    assert_close(xo.grad, xk.grad)
    assert_close(grads(ours.trainable_weights), grads(theirs.trainable_weights))
    assert ours.count_params() == theirs.count_params()
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    expected = theirs.compute_output_shape((None, 5, 4))
    assert ours.compute_output_shape((None, 5, 4)) == (list(expected) if ours.return_state else expected)


@pytest.mark.parametrize("cell", ["simple", "lstm", "gru", "gru_reset_before"])
@pytest.mark.parametrize("rates", [(0.3, 0.0), (0.3, 0.4), (0.0, 0.5)], ids=["dropout", "both", "recurrent"])
def test_seeded_dropout_masks_are_keras_masks_once_per_sequence(cell, rates):
    name, kw = CELLS[cell]
    kw = dict(kw, dropout=rates[0], recurrent_dropout=rates[1], seed=7)
    keras, theirs, ours = _pair(lambda k: k.layers.RNN(_cell(name, kw, k), return_sequences=True),
                                lambda: RNN(_cell(name, kw), return_sequences=True))
    for _ in range(2):  # the second call draws new masks from the same seed sequence, as Keras
        out_o = ours(torch.tensor(X), training=True)
        assert_close(out_o, theirs(torch.tensor(X), training=True))
    assert not np.allclose(to_numpy(out_o), to_numpy(ours(torch.tensor(X))))  # dropout did act
    assert_close(ours(torch.tensor(X)), theirs(torch.tensor(X)))  # inference: no dropout


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_zero_recurrent_dropout_equals_no_dropout(cell):
    name, kw = CELLS[cell]
    plain = RNN(_cell(name, kw))
    plain.build((None, 5, 4))
    zero = RNN(_cell(name, dict(kw, dropout=0.0, recurrent_dropout=0.0)))
    zero.build((None, 5, 4))
    zero.set_weights(plain.get_weights())
    assert_close(zero(torch.tensor(X), training=True), plain(torch.tensor(X), training=True))


def test_stacked_cells_match_keras_with_masks_states_and_initial_state():
    keras, theirs, ours = _pair(
        lambda k: k.layers.RNN([k.layers.SimpleRNNCell(3), k.layers.LSTMCell(2)], return_state=True,
                               return_sequences=True),
        lambda: RNN(StackedRNNCells([SimpleRNNCell(3), LSTMCell(2)]), return_state=True, return_sequences=True))
    out_k, out_o = theirs(torch.tensor(X), mask=torch.tensor(MASK)), ours(torch.tensor(X), mask=torch.tensor(MASK))
    assert [np.shape(to_numpy(t)) for t in _flat(out_o)] == [np.shape(to_numpy(t)) for t in _flat(out_k)]
    assert_close(_flat(out_o), _flat(out_k))
    init = [[torch.ones(3, 3)], [torch.full((3, 2), 0.5), torch.zeros(3, 2)]]
    assert_close(_flat(ours(torch.tensor(X), initial_state=init)), _flat(theirs(torch.tensor(X), initial_state=init)))
    assert ours.compute_output_shape((None, 5, 4)) == list(theirs.compute_output_shape((None, 5, 4)))
    assert ours.count_params() == theirs.count_params()


@pytest.mark.parametrize("cell", ["simple", "lstm", "gru"])
def test_initial_state_matches_keras_and_is_checked(cell):
    name, kw = CELLS[cell]
    keras, theirs, ours = _pair(lambda k: k.layers.RNN(_cell(name, kw, k), return_state=True),
                                lambda: RNN(_cell(name, kw), return_state=True))
    n_states = 2 if name == "LSTMCell" else 1
    init = [torch.tensor(RNG.normal(size=(3, kw["units"])).astype("float32")) for _ in range(n_states)]
    assert_close(ours(torch.tensor(X), initial_state=init), theirs(torch.tensor(X), initial_state=init))
    with pytest.raises(ValueError, match=r"expects initial_state as .* tensor\(s\) of shapes"):
        ours(torch.tensor(X), initial_state=[torch.zeros(3, kw["units"] + 1)] * n_states)


@pytest.mark.parametrize("cell", ["simple", "lstm", "gru"])
def test_stateful_carries_states_across_batches_until_reset(cell):
    name, kw = CELLS[cell]
    keras, theirs, ours = _pair(lambda k: k.layers.RNN(_cell(name, kw, k), stateful=True, return_sequences=True),
                                lambda: RNN(_cell(name, kw), stateful=True, return_sequences=True), (3, 5, 4))
    first, second = torch.tensor(X), torch.tensor(X[:, ::-1].copy())
    assert_close(ours(first), theirs(first))
    carried = ours(second)
    assert_close(carried, theirs(second))
    ours.reset_states()
    theirs.reset_states()
    fresh = ours(second)
    assert_close(fresh, theirs(second))
    assert not np.allclose(to_numpy(carried), to_numpy(fresh))
    assert len(ours.get_weights()) == len(theirs.get_weights())  # the kept states are not weights
    with pytest.raises(ValueError, match="is stateful, so the batch size must stay 3"):
        ours(torch.tensor(X[:2]))


class MinimalRNNCell(Layer):
    """Keras's guide cell, with only the imports changed."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="uniform", name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="uniform",
                                                name="recurrent_kernel")

    def call(self, inputs, states):
        prev_output = states[0]
        h = ops.matmul(inputs, self.kernel)
        output = h + ops.matmul(prev_output, self.recurrent_kernel)
        return output, [output]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def _keras_minimal_cell(keras):
    class KerasMinimalRNNCell(keras.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="uniform", name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="uniform",
                                                    name="recurrent_kernel")

        def call(self, inputs, states):
            output = keras.ops.matmul(inputs, self.kernel) + keras.ops.matmul(states[0], self.recurrent_kernel)
            return output, [output]

    return KerasMinimalRNNCell


@pytest.mark.parametrize("stacked", [False, True], ids=["one", "list"])
def test_users_minimal_cell_matches_keras(stacked):
    def make_keras(k):
        cls = _keras_minimal_cell(k)
        return k.layers.RNN([cls(3), cls(2)] if stacked else cls(3), return_sequences=True, return_state=True)

    keras, theirs, ours = _pair(make_keras, lambda: RNN([MinimalRNNCell(3), MinimalRNNCell(2)] if stacked
                                                        else MinimalRNNCell(3), return_sequences=True,
                                                        return_state=True))
    xk, xo = torch.tensor(X, requires_grad=True), torch.tensor(X, requires_grad=True)
    out_k, out_o = _flat(theirs(xk, mask=torch.tensor(MASK))), _flat(ours(xo, mask=torch.tensor(MASK)))
    assert_close(out_o, out_k)
    sum(o.sum() for o in out_k).backward()
    sum(o.sum() for o in out_o).backward()
    assert_close(xo.grad, xk.grad)
    assert_close(grads(ours.trainable_weights), grads(theirs.trainable_weights))
    assert ours.count_params() == theirs.count_params()


@pytest.mark.parametrize("make", [
    lambda: RNN(LSTMCell(4, dropout=0.1, recurrent_dropout=0.2, seed=3), return_sequences=True, stateful=False),
    lambda: RNN(GRUCell(2, reset_after=False, activation="relu", kernel_regularizer="l2"), go_backwards=True),
    lambda: RNN([SimpleRNNCell(3, bias_constraint="non_neg"), LSTMCell(2)], return_state=True),
    lambda: RNN(MinimalRNNCell(3), zero_output_for_mask=True),
], ids=["lstm", "gru", "stacked", "users_cell"])
def test_config_round_trips_through_json_and_names_the_cell_as_keras(make):
    layer = make()
    config = layer.get_config()
    with kerasish.saving.custom_object_scope({"MinimalRNNCell": MinimalRNNCell}):  # a user's cell, as in Keras
        rebuilt = RNN.from_config(json.loads(json.dumps(config)))
    assert rebuilt.get_config() == config
    assert config["cell"]["class_name"] == type(layer.cell).__name__
    assert set(config["cell"]) >= {"module", "class_name", "config", "registered_name"}  # Keras's envelope
    assert type(rebuilt.cell) is type(layer.cell)


def test_cell_config_keys_are_keras_keys():
    keras = keras_module()
    for name, kw in CELLS.values():
        theirs = set(getattr(keras.layers, name)(**kw).get_config())
        assert set(OURS[name](**kw).get_config()) == theirs
    assert set(RNN(LSTMCell(2)).get_config()) == set(keras.layers.RNN(keras.layers.LSTMCell(2)).get_config())


def test_functional_model_with_initial_state_saves_and_reloads(tmp_path):
    keras = keras_module()

    def build(lib, rnn, cell):
        x = lib.Input((5, 4))
        h, c = lib.Input((3,)), lib.Input((3,))
        seq, h2, c2 = rnn(cell(3), return_sequences=True, return_state=True)(x, initial_state=[h, c])
        return lib.Model([x, h, c], [lib.layers.Dense(2)(seq), h2, c2])

    theirs = build(keras, keras.layers.RNN, keras.layers.LSTMCell)
    ours = build(kerasish, RNN, LSTMCell)
    ours.set_weights(theirs.get_weights())
    inputs = [X, RNG.normal(size=(3, 3)).astype("float32"), RNG.normal(size=(3, 3)).astype("float32")]
    expected = theirs.predict(inputs, verbose=0)
    assert_close(ours.predict(inputs, verbose=0), expected)
    assert ours.count_params() == theirs.count_params()
    path = str(tmp_path / "model.kerasish")
    ours.save(path)
    loaded = kerasish.saving.load_model(path)
    assert_close(loaded.predict(inputs, verbose=0), expected)
    assert [type(layer.cell) for layer in loaded.layers if isinstance(layer, RNN)] == [LSTMCell]


def test_rnn_trains_in_a_sequential_model_with_masks():
    torch.manual_seed(0)
    model = kerasish.Sequential([kerasish.layers.Embedding(10, 4, mask_zero=True),
                                 RNN(GRUCell(8)), kerasish.layers.Dense(1, activation="sigmoid")])
    x = np.random.default_rng(1).integers(1, 10, size=(64, 6))
    x[:32, 4:] = 0
    y = (x[:, 0] > 4).astype("float32")
    model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(x, y, epochs=8, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.parametrize("make, match", [
    (lambda: RNN(object()), r"every cell needs a `call\(inputs, states\)` method"),
    (lambda: RNN(kerasish.layers.Dense(2)), r"every cell needs a `state_size` attribute"),
    (lambda: StackedRNNCells([]), "cells must be a non-empty list"),
    (lambda: LSTMCell(0), "units must be a positive integer, received units=0"),
    (lambda: GRUCell(2, dropout=1.5), r"dropout must be a number in \[0, 1\], received dropout=1.5"),
    (lambda: SimpleRNNCell(2, recurrent_dropout=-0.1), r"recurrent_dropout must be a number in \[0, 1\]"),
], ids=["no_call", "no_state_size", "empty_stack", "units", "dropout", "recurrent_dropout"])
def test_bad_arguments_name_the_argument_and_the_fix(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_inputs_are_refused_with_the_expected_shape():
    layer = RNN(SimpleRNNCell(2))
    with pytest.raises(ValueError, match=r"must have rank 3 or more \(batch, timesteps, features\)"):
        layer(torch.ones(3, 4))
    with pytest.raises(ValueError, match=r"expected \(batch, timesteps\) = \(3, 5\)"):
        layer(torch.tensor(X), mask=torch.ones(3, 4, dtype=torch.bool))


def _seq2seq_data(num_encoder_tokens=6, num_decoder_tokens=7, n=64, steps=5):
    rng = np.random.default_rng(0)
    enc = np.zeros((n, steps, num_encoder_tokens), "float32")
    dec_in = np.zeros((n, steps + 1, num_decoder_tokens), "float32")
    dec_t = np.zeros_like(dec_in)
    for i in range(n):
        seq = rng.integers(1, num_encoder_tokens, size=steps)
        enc[i, np.arange(steps), seq] = 1
        for t, tok in enumerate([0] + list(seq)):  # decoder targets: the input shifted by one
            dec_in[i, t, tok] = 1
            if t > 0:
                dec_t[i, t - 1, tok] = 1
        dec_t[i, steps, num_decoder_tokens - 1] = 1
    return enc, dec_in, dec_t


def test_keras_io_character_seq2seq_learns_with_only_imports_changed(tmp_path):
    keras = kerasish
    enc, dec_in, dec_t = _seq2seq_data()
    num_encoder_tokens, num_decoder_tokens, latent_dim = enc.shape[-1], dec_in.shape[-1], 16
    # keras-io "Character-level recurrent sequence-to-sequence model", training model as published.
    encoder_inputs = keras.Input(shape=(None, num_encoder_tokens))
    encoder = keras.layers.LSTM(latent_dim, return_state=True)
    encoder_outputs, state_h, state_c = encoder(encoder_inputs)
    encoder_states = [state_h, state_c]
    decoder_inputs = keras.Input(shape=(None, num_decoder_tokens))
    decoder_lstm = keras.layers.LSTM(latent_dim, return_sequences=True, return_state=True)
    decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=encoder_states)
    decoder_dense = keras.layers.Dense(num_decoder_tokens, activation="softmax")
    decoder_outputs = decoder_dense(decoder_outputs)
    model = keras.Model([encoder_inputs, decoder_inputs], decoder_outputs)
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit([enc, dec_in], dec_t, batch_size=16, epochs=6, validation_split=0.2, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_keras_io_seq2seq_graph_with_logits_loss_learns_and_rebuilds_inference_models(tmp_path):
    """The same encoder-decoder, its Dense without softmax (the fused-logits path above is what fails),
    then keras-io's inference models built from the reloaded model's layers."""
    keras = kerasish
    enc, dec_in, dec_t = _seq2seq_data()
    num_encoder_tokens, num_decoder_tokens, latent_dim = enc.shape[-1], dec_in.shape[-1], 16
    torch.manual_seed(0)
    encoder_inputs = keras.Input(shape=(None, num_encoder_tokens))
    encoder_outputs, state_h, state_c = keras.layers.LSTM(latent_dim, return_state=True)(encoder_inputs)
    decoder_inputs = keras.Input(shape=(None, num_decoder_tokens))
    decoder_lstm = keras.layers.LSTM(latent_dim, return_sequences=True, return_state=True)
    decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=[state_h, state_c])
    decoder_outputs = keras.layers.Dense(num_decoder_tokens)(decoder_outputs)
    model = keras.Model([encoder_inputs, decoder_inputs], decoder_outputs)
    model.compile(optimizer=keras.optimizers.RMSprop(0.01),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    history = model.fit([enc, dec_in], dec_t, batch_size=16, epochs=6, validation_split=0.2, verbose=0)
    assert history.history["loss"][-1] < 0.9 * history.history["loss"][0]
    path = str(tmp_path / "s2s_model.kerasish")  # keras-io saves "s2s_model.keras"; kerasish wants .kerasish
    model.save(path)
    model = keras.saving.load_model(path)
    assert_close(model.predict([enc[:4], dec_in[:4]], verbose=0),
                 keras.Model.predict(model, [enc[:4], dec_in[:4]], verbose=0))
    encoder_model = keras.Model(model.input[0], list(model.layers[2].output[1:]))
    state_input_h, state_input_c = keras.Input(shape=(latent_dim,)), keras.Input(shape=(latent_dim,))
    out, h, c = model.layers[3](model.input[1], initial_state=[state_input_h, state_input_c])
    decoder_model = keras.Model([model.input[1], state_input_h, state_input_c], [model.layers[4](out), h, c])
    states = encoder_model.predict(enc[:2], verbose=0)
    step_logits, h_value, c_value = decoder_model.predict([dec_in[:2]] + list(states), verbose=0)
    # Decoding the whole target at once from the encoder's states is what the training model computes.
    assert_close(step_logits, model.predict([enc[:2], dec_in[:2]], verbose=0), atol=1e-5)
    assert h_value.shape == c_value.shape == (2, latent_dim)


def test_stateful_rnn_in_a_functional_model_carries_states_between_predicts():
    torch.manual_seed(0)
    x = kerasish.Input((5, 4))
    layer = RNN(LSTMCell(3), stateful=True)
    model = kerasish.Model(x, layer(x))
    assert layer.states is None  # building the graph keeps no states
    first = model.predict(X, verbose=0)
    assert not np.allclose(model.predict(X, verbose=0), first)
    layer.reset_states()
    assert_close(model.predict(X, verbose=0), first)


def test_initial_weights_regularizers_and_trainable_follow_keras():
    keras = keras_module()
    theirs = keras.layers.RNN(keras.layers.LSTMCell(3, kernel_regularizer="l2", bias_regularizer="l1"))
    ours = RNN(LSTMCell(3, kernel_regularizer="l2", bias_regularizer="l1"))
    theirs.build((None, 5, 4))
    ours.build((None, 5, 4))
    assert_close(ours.get_weights()[2], theirs.get_weights()[2])  # unit_forget_bias: the f block starts at 1
    ours.set_weights(theirs.get_weights())
    assert_close(sorted(float(to_numpy(v)) for v in ours.losses), sorted(float(to_numpy(v)) for v in theirs.losses))
    ours.trainable = False
    assert ours.trainable_weights == [] and len(ours.non_trainable_weights) == 3
