"""Keras's guide "Working with RNNs" (keras-io `guides/working_with_rnns.py`), run on kerasish.

Each test is one section of the guide, its code kept as written. The only changes are the imports
(`import kerasish as keras`, `from kerasish import layers`) and the lines marked `# changed:`:
Fashion-MNIST (MNIST's shapes, on disk here) and fewer samples stand in for the MNIST download,
`tf.expand_dims`/`tf.argmax` become their NumPy twins, and the nested cell's `tf.TensorShape`
state sizes and `tf.nest`/`tf.matmul`/`tf.einsum` calls become the Keras 3 spellings (lists of
ints, `keras.tree`, `keras.ops`). Keras 3 on its torch backend (`tests/keras_parity.py`) runs the
same code as the oracle: `summary()` text, outputs and states from the same weights, History
values, printed lines and errors are compared with Keras's.
"""

from __future__ import annotations

import numpy as np
import pytest

import kerasish
from tests.keras_parity import assert_close, keras_module, to_numpy

# Keras 3's own NumPy 2 deprecation notice, printed on every conversion of its variables.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # both summaries at their default width, whatever the terminal


def _fresh(lib):
    lib.backend.clear_session()  # names restart at 'embedding', 'lstm' ... in both libraries
    return lib


def _summary(model):
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines).rstrip("\n")


def _same_weights(ours, theirs):
    """Gives kerasish's model Keras's weights (test scaffolding, not a guide change)."""
    ours.set_weights(theirs.get_weights())
    return ours


def _simple_example(lib):
    keras, layers = _fresh(lib), lib.layers
    model = keras.Sequential()
    # Add an Embedding layer expecting input vocab of size 1000, and
    # output embedding dimension of size 64.
    model.add(layers.Embedding(input_dim=1000, output_dim=64))
    # Add a LSTM layer with 128 internal units.
    model.add(layers.LSTM(128))
    # Add a Dense layer with 10 units.
    model.add(layers.Dense(10))
    return model


def test_the_unbuilt_simple_example_summary_is_keras_s():
    k = keras_module()
    ours = _summary(_simple_example(kerasish))
    assert ours == _summary(_simple_example(k))
    assert "0 (unbuilt)" in ours and "64,000" not in ours  # the Embedding too waits for its first call


def test_built_in_rnn_layers_a_simple_example():
    k = keras_module()
    ids = np.random.default_rng(0).integers(0, 1000, (4, 7))
    theirs, ours = _simple_example(k), _simple_example(kerasish)
    for model in (theirs, ours):
        model.build((None, 7))  # changed: built, so that both hold weights to compare
    _same_weights(ours, theirs)
    assert _summary(ours) == _summary(theirs)
    assert "98,816" in _summary(ours)  # the LSTM: 4 * (64 + 128 + 1) * 128
    assert_close(ours.predict(ids, verbose=0), theirs.predict(ids, verbose=0), atol=1e-5)


def _outputs_and_states(lib):
    keras, layers = _fresh(lib), lib.layers
    model = keras.Sequential()
    model.add(layers.Embedding(input_dim=1000, output_dim=64))
    # The output of GRU will be a 3D tensor of shape (batch_size, timesteps, 256)
    model.add(layers.GRU(256, return_sequences=True))
    # The output of SimpleRNN will be a 2D tensor of shape (batch_size, 128)
    model.add(layers.SimpleRNN(128))
    model.add(layers.Dense(10))
    model.build((None, 7))  # changed: built, so that the summary shows the shapes and weights compare
    return model


def test_outputs_and_states_return_sequences():
    k = keras_module()
    theirs, ours = _outputs_and_states(k), _outputs_and_states(kerasish)
    _same_weights(ours, theirs)
    assert _summary(ours) == _summary(theirs)
    assert "(None, 7, 256)" in _summary(ours)
    ids = np.random.default_rng(1).integers(0, 1000, (3, 7))
    assert_close(ours.predict(ids, verbose=0), theirs.predict(ids, verbose=0), atol=1e-5)


def _encoder_decoder(lib):
    keras, layers = _fresh(lib), lib.layers
    encoder_vocab = 1000
    decoder_vocab = 2000

    encoder_input = layers.Input(shape=(None,))
    encoder_embedded = layers.Embedding(input_dim=encoder_vocab, output_dim=64)(
        encoder_input
    )

    # Return states in addition to output
    output, state_h, state_c = layers.LSTM(64, return_state=True, name="encoder")(
        encoder_embedded
    )
    encoder_state = [state_h, state_c]

    decoder_input = layers.Input(shape=(None,))
    decoder_embedded = layers.Embedding(input_dim=decoder_vocab, output_dim=64)(
        decoder_input
    )

    # Pass the 2 states to a new LSTM layer, as initial state
    decoder_output = layers.LSTM(64, name="decoder")(
        decoder_embedded, initial_state=encoder_state
    )
    output = layers.Dense(10)(decoder_output)

    model = keras.Model([encoder_input, decoder_input], output)
    return model


def test_an_encoder_state_as_the_decoder_s_initial_state():
    k = keras_module()
    theirs, ours = _encoder_decoder(k), _encoder_decoder(kerasish)
    _same_weights(ours, theirs)
    text = _summary(ours)
    assert text == _summary(theirs)
    assert "encoder[0][1]" in text and "encoder[0][2]" in text  # the states feed the decoder
    rng = np.random.default_rng(2)
    x = [rng.integers(0, 1000, (3, 6)), rng.integers(0, 2000, (3, 5))]
    assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-5)


def _paragraphs():
    rng = np.random.default_rng(3)  # changed: seeded, so both libraries read the same paragraphs
    return [rng.random((20, 10, 50)).astype(np.float32) for _ in range(3)]


def _stateful_lstm(lib, weights=None):
    lstm_layer = lib.layers.LSTM(64, stateful=True)
    if weights is not None:  # the same weights as Keras's layer (scaffolding)
        lstm_layer.build((20, 10, 50))
        lstm_layer.set_weights(weights)
    return lstm_layer


def test_cross_batch_statefulness():
    k = keras_module()
    paragraph1, paragraph2, paragraph3 = _paragraphs()
    outs = {}
    weights = None
    for lib in (k, kerasish):
        lstm_layer = _stateful_lstm(lib, weights)
        output = lstm_layer(paragraph1)
        weights = lstm_layer.get_weights()
        first = to_numpy(output)
        output = lstm_layer(paragraph2)
        second = to_numpy(output)
        output = lstm_layer(paragraph3)

        # reset_states() will reset the cached state to the original initial_state.
        # If no initial_state was provided, zero-states will be used by default.
        lstm_layer.reset_states()
        states = [to_numpy(s) for s in lstm_layer.states]
        again = to_numpy(lstm_layer(paragraph1))
        outs[lib] = (first, second, to_numpy(output), states, again, len(lstm_layer.weights))
    ours, theirs = outs[kerasish], outs[k]
    for a, b in zip(ours[:3], theirs[:3]):
        assert_close(a, b, atol=1e-5)
    assert not np.allclose(ours[0], ours[1], atol=1e-3)  # the second batch started from the first's states
    assert [s.shape for s in ours[3]] == [s.shape for s in theirs[3]] == [(20, 64), (20, 64)]
    assert all(not s.any() for s in ours[3])  # zeros after reset_states()
    assert_close(ours[4], ours[0], atol=1e-6)  # so the first paragraph gives the first output again
    assert ours[5] == theirs[5] == 3  # the states are not weights


def test_rnn_state_reuse():
    k = keras_module()
    paragraph1, paragraph2, paragraph3 = _paragraphs()
    outs = {}
    weights = None
    for lib in (k, kerasish):
        layers = lib.layers
        lstm_layer = _stateful_lstm(lib, weights and weights[0])
        output = lstm_layer(paragraph1)
        output = lstm_layer(paragraph2)

        existing_state = lstm_layer.states

        new_lstm_layer = layers.LSTM(64)
        if weights is not None:  # scaffolding: Keras's weights for the new layer too
            new_lstm_layer.build((20, 10, 50))
            new_lstm_layer.set_weights(weights[1])
        new_output = new_lstm_layer(paragraph3, initial_state=existing_state)
        weights = (lstm_layer.get_weights(), new_lstm_layer.get_weights())
        outs[lib] = to_numpy(new_output)
        assert tuple(output.shape) == (20, 64)
    assert outs[kerasish].shape == (20, 64)
    assert_close(outs[kerasish], outs[k], atol=1e-5)


def _bidirectional(lib):
    keras, layers = _fresh(lib), lib.layers
    model = keras.Sequential()

    model.add(
        layers.Bidirectional(layers.LSTM(64, return_sequences=True), input_shape=(5, 10))
    )
    model.add(layers.Bidirectional(layers.LSTM(32)))
    model.add(layers.Dense(10))
    return model


@pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`")  # Keras's advice to use keras.Input
def test_bidirectional_rnns():
    k = keras_module()
    theirs, ours = _bidirectional(k), _bidirectional(kerasish)
    _same_weights(ours, theirs)
    assert _summary(ours) == _summary(theirs)
    assert "(None, 5, 128)" in _summary(ours)  # both directions' sequences, concatenated
    x = np.random.default_rng(4).random((3, 5, 10)).astype("float32")
    assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-5)


batch_size = 64
# Each MNIST image batch is a tensor of shape (batch_size, 28, 28).
# Each input sequence will be of size (28, 28) (height is treated like time).
input_dim = 28

units = 64
output_size = 10  # labels are from 0 to 9


def _build_model(lib, allow_cudnn_kernel=True):
    keras = lib
    # CuDNN is only available at the layer level, and not at the cell level.
    # This means `LSTM(units)` will use the CuDNN kernel,
    # while RNN(LSTMCell(units)) will run on non-CuDNN kernel.
    if allow_cudnn_kernel:
        # The LSTM layer with default options uses CuDNN.
        lstm_layer = keras.layers.LSTM(units, input_shape=(None, input_dim))
    else:
        # Wrapping a LSTMCell in a RNN layer will not use CuDNN.
        lstm_layer = keras.layers.RNN(
            keras.layers.LSTMCell(units), input_shape=(None, input_dim)
        )
    model = keras.models.Sequential(
        [
            lstm_layer,
            keras.layers.BatchNormalization(),
            keras.layers.Dense(output_size),
        ]
    )
    return model


def _mnist(lib):
    mnist = lib.datasets.fashion_mnist  # changed: Fashion-MNIST, MNIST's shapes, is on disk here

    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    x_train, y_train, x_test, y_test = x_train[:256], y_train[:256], x_test[:64], y_test[:64]  # changed: fewer
    x_train, x_test = x_train / 255.0, x_test / 255.0
    sample, sample_label = x_train[0], y_train[0]
    return x_train, y_train, x_test, y_test, sample, sample_label


def _cudnn_section(lib, data, weights=None):
    x_train, y_train, x_test, y_test, sample, sample_label = data
    keras = lib
    model = _build_model(lib, allow_cudnn_kernel=True)
    if weights is not None:
        model.set_weights(weights)  # Keras's initial weights (scaffolding)
    initial = model.get_weights()

    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer="sgd",
        metrics=["accuracy"],
    )

    history = model.fit(
        x_train, y_train, validation_data=(x_test, y_test), batch_size=batch_size, epochs=1,
        shuffle=False, verbose=0,  # changed: the same batches in both libraries, no progress bar
    )

    noncudnn_model = _build_model(lib, allow_cudnn_kernel=False)
    noncudnn_model.set_weights(model.get_weights())
    noncudnn_model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer="sgd",
        metrics=["accuracy"],
    )
    noncudnn_history = noncudnn_model.fit(
        x_train, y_train, validation_data=(x_test, y_test), batch_size=batch_size, epochs=1,
        shuffle=False, verbose=0,  # changed: as above
    )

    cpu_model = _build_model(lib, allow_cudnn_kernel=True)
    cpu_model.set_weights(model.get_weights())
    # changed: np.argmax/np.expand_dims for tf's (no TensorFlow here), without tf.device and plt
    result = np.argmax(to_numpy(cpu_model.predict_on_batch(np.expand_dims(sample, 0))), axis=1)
    line = "Predicted result is: %s, target result is: %s" % (result, sample_label)
    return initial, history.history, noncudnn_history.history, line


def _assert_same_history(ours, theirs):
    assert list(ours) == list(theirs)
    for key, values in ours.items():
        np.testing.assert_allclose(values, theirs[key], rtol=1e-4, atol=1e-6, err_msg=key)


@pytest.mark.slow  # real data: Fashion-MNIST from disk
@pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`")
def test_an_lstm_and_rnn_of_an_lstm_cell_train_alike(fashion_dir, monkeypatch):
    monkeypatch.setenv("KERASISH_DATA_PATH", str(fashion_dir))
    k = keras_module()
    data = _mnist(kerasish)
    theirs = _cudnn_section(k, data)
    ours = _cudnn_section(kerasish, data, weights=theirs[0])
    assert list(ours[1]) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    _assert_same_history(ours[1], theirs[1])
    _assert_same_history(ours[2], theirs[2])
    assert ours[3] == theirs[3]
    assert ours[3].startswith("Predicted result is: [")


def _nested_cell_class(lib):
    keras = lib

    class NestedCell(keras.layers.Layer):
        def __init__(self, unit_1, unit_2, unit_3, **kwargs):
            self.unit_1 = unit_1
            self.unit_2 = unit_2
            self.unit_3 = unit_3
            self.state_size = [unit_1, [unit_2, unit_3]]  # changed: lists for tf.TensorShape
            self.output_size = [unit_1, [unit_2, unit_3]]  # changed: as above
            super().__init__(**kwargs)

        def build(self, input_shapes):
            # expect input_shape to contain 2 items, [(batch, i1), (batch, i2, i3)]
            i1 = input_shapes[0][1]
            i2 = input_shapes[1][1]
            i3 = input_shapes[1][2]

            self.kernel_1 = self.add_weight(
                shape=(i1, self.unit_1), initializer="uniform", name="kernel_1"
            )
            self.kernel_2_3 = self.add_weight(
                shape=(i2, i3, self.unit_2, self.unit_3),
                initializer="uniform",
                name="kernel_2_3",
            )

        def call(self, inputs, states):
            # inputs should be in [(batch, input_1), (batch, input_2, input_3)]
            # state should be in shape [(batch, unit_1), (batch, unit_2, unit_3)]
            input_1, input_2 = keras.tree.flatten(inputs)  # changed: keras.tree for tf.nest
            s1, s2 = states

            output_1 = keras.ops.matmul(input_1, self.kernel_1)  # changed: ops for tf
            output_2_3 = keras.ops.einsum("bij,ijkl->bkl", input_2, self.kernel_2_3)  # changed: ops for tf
            state_1 = s1 + output_1
            state_2_3 = s2 + output_2_3

            output = (output_1, output_2_3)
            new_states = (state_1, state_2_3)

            return output, new_states

    return NestedCell


def _nested_model(lib):
    keras = lib
    unit_1 = 10
    unit_2 = 20
    unit_3 = 30

    i1 = 32
    i2 = 64
    i3 = 32

    cell = _nested_cell_class(lib)(unit_1, unit_2, unit_3)
    rnn = keras.layers.RNN(cell)

    input_1 = keras.Input((None, i1))
    input_2 = keras.Input((None, i2, i3))

    outputs = rnn((input_1, input_2))
    return keras.models.Model([input_1, input_2], outputs)


def test_rnns_with_nested_inputs_are_refused_as_keras_3_refuses_them():
    # Keras 3 cannot run this section on any backend (its RNN takes one sequence tensor; the
    # guide's text predates it): Keras fails with a bare IndexError, kerasish says why and how.
    k = keras_module()
    with pytest.raises((IndexError, ValueError)):
        _nested_model(k)
    with pytest.raises(ValueError, match=r"takes one sequence tensor .* received 2 nested inputs of shapes "
                                         r"\[\(None, None, 32\), \(None, None, 64, 32\)\]\. Nested inputs are not "
                                         r"supported .*ops\.concatenate"):
        _nested_model(kerasish)
