"""Keras's guide "Working with preprocessing layers" (keras-io `guides/preprocessing_layers.py`),
run on kerasish.

The stored guide is its TensorFlow text (`from tensorflow import keras`, `tf.data`, `tf.constant`);
it is run here in its Keras 3 meaning. Each test is one section, its code kept as written; the
only changes are the imports (`import kerasish as keras`, `from kerasish import layers`) and the
lines marked `# changed:`: `tf.constant` becomes a NumPy array, a `tf.data` pipeline becomes a
`keras.utils.PyDataset` that maps the layer over each batch, synthetic arrays of CIFAR-10's
shapes stand in for its download, and seeds, sizes and steps are smaller.

The oracle is Keras 3 on its torch backend (`tests/keras_parity.py`) where it runs without
TensorFlow (Normalization, CategoryEncoding, the image layers, the models). Keras's
TextVectorization, StringLookup, IntegerLookup and Hashing need TensorFlow, which this environment
lacks (and which crashes when imported beside torch), so their outputs for the guide's inputs were
recorded once from Keras 3.15.1 + TensorFlow 2.21 (`KERAS_BACKEND=tensorflow`, the same calls as
below; `tests/fixtures/make_lookup_goldens.py` describes such a throwaway TensorFlow install) into
`KERAS_RECORDED`. Keras returns int64 one-hot/multi-hot vectors there; kerasish returns float32
(the values are compared; the StringLookup docstring documents the dtype).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import kerasish
from tests.keras_parity import assert_close, keras_module, to_numpy

# Keras 3's own NumPy 2 deprecation notice, printed on every conversion of its variables.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

KERAS_RECORDED = {'greek': [[37, 12, 25, 5, 9, 20, 21, 0, 0], [51, 34, 27, 33, 29, 18, 0, 0, 0], [49, 52, 30, 31, 19, 46, 10, 0, 0],
           [7, 5, 50, 43, 28, 7, 47, 17, 0], [24, 35, 39, 40, 3, 6, 32, 16, 0], [4, 2, 15, 14, 22, 23, 0, 0, 0],
           [36, 48, 6, 38, 42, 3, 45, 0, 0], [4, 2, 13, 41, 53, 8, 44, 26, 11]],
 'greek_vocab': ['', '[UNK]', 'ῥ᾽', 'ἔλθωσι', 'οἵ', 'μὲν', 'διὰ', 'αἱ', 'ὅτε', 'ὄνειροι', 'ὀνείρων', 'ἴδηται', 'ἦ',
                 'ἔτυμα', 'ἔπε᾽', 'ἐλεφαίρονται', 'ἐλέφαντος', 'ἐλέφαντι', 'ἀνθρώποισι', 'ἀμενηνῶν', 'ἀμήχανοι',
                 'ἀκριτόμυθοι', 'ἀκράαντα', 'φέροντες', 'τῶν', 'τοι', 'τις', 'τι', 'τετεύχαται', 'τελείεται', 'τε',
                 'πύλαι', 'πριστοῦ', 'πάντα', 'οὐδέ', 'οἳ', 'οἱ', 'ξεῖν᾽', 'ξεστῶν', 'μέν', 'κ᾽', 'κραίνουσι',
                 'κεράων', 'κεράεσσι', 'κέν', 'θύραζε', 'εἰσὶν', 'δ᾽', 'δὲ', 'δοιαὶ', 'γὰρ', 'γίγνοντ᾽', 'γάρ',
                 'βροτῶν'],
 'string_vocab': [[1, 3, 4], [4, 0, 2]],
 'string_one_hot': [[0, 0, 0, 1], [0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]],
 'string_one_hot_vocab': ['[UNK]', 'c', 'b', 'a'],
 'int_one_hot': [[0, 0, 1, 0, 0], [0, 0, 1, 0, 0], [0, 1, 0, 0, 0], [1, 0, 0, 0, 0], [1, 0, 0, 0, 0],
                 [0, 0, 0, 0, 1]],
 'int_one_hot_vocab': [-1, 20, 10, 30, 0],
 'hash_first': [30, 48, 47, 19, 43, 37, 56, 45, 6, 58, 58, 30],
 'hash_bincount': [159, 139, 144, 173, 172, 171, 160, 149, 150, 148, 154, 141, 147, 173, 157, 155, 168, 156, 146,
                   169, 157, 138, 132, 153, 173, 152, 155, 151, 138, 156, 148, 164, 153, 149, 162, 163, 160, 148,
                   170, 168, 152, 162, 153, 159, 149, 142, 150, 153, 149, 149, 160, 139, 173, 135, 162, 155, 186,
                   165, 156, 168, 173, 173, 161, 155],
 'tv_int': [[2, 19, 14, 1, 9, 2, 1]],
 'tv_int_vocab': ['', '[UNK]', 'the', 'side', 'you', 'with', 'will', 'wider', 'them', 'than', 'sky', 'put', 'other',
                  'one', 'is', 'for', 'ease', 'contain', 'by', 'brain', 'beside', 'and'],
 'tv_int_train': [[2, 19, 14, 1, 9, 2, 1, 0], [15, 1, 1, 1, 1, 1, 1, 1]],
 'tv_multi_hot': [[1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
                   0, 0, 0, 0, 1, 1, 0, 0, 0]],
 'tv_multi_hot_vocab': ['[UNK]', 'the', 'side', 'you beside', 'you', 'with ease', 'with', 'will contain', 'will',
                        'wider than', 'wider', 'them side', 'them', 'the sky', 'the other', 'the one', 'the brain',
                        'than the', 'than', 'sky', 'side by', 'put them', 'put', 'other will', 'other', 'one the',
                        'one', 'is wider', 'is', 'for put', 'for', 'ease and', 'ease', 'contain', 'by side', 'by',
                        'brain is', 'brain', 'beside', 'and you', 'and'],
 'tv_multi_hot_train': [[1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0,
                         0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0],
                        [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                         1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
 'tv_tf_idf': [5.461647, 1.694596, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.098612,
               1.098612, 1.098612, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.098612, 0.0, 0.0, 0.0, 0.0, 0.0,
               0.0, 0.0, 1.098612, 1.098612, 0.0, 0.0, 0.0],
 'tv_tf_idf_train': [[5.461647, 1.694596, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                      1.098612, 1.098612, 1.098612, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.098612, 0.0, 0.0,
                      0.0, 0.0, 0.0, 0.0, 0.0, 1.098612, 1.098612, 0.0, 0.0, 0.0],
                     [15.292611, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                      0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.098612, 0.0, 0.0, 0.0, 0.0,
                      0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]}


def _host(t):
    return to_numpy(t)


def test_the_adapt_method_normalization():
    k = keras_module()
    printed = {}
    for lib in (k, kerasish):
        layers = lib.layers
        data = np.array(
            [
                [0.1, 0.2, 0.3],
                [0.8, 0.9, 1.0],
                [1.5, 1.6, 1.7],
            ]
        )
        layer = layers.Normalization()
        layer.adapt(data)
        normalized_data = layer(data)

        printed[lib] = (
            "Features mean: %.2f" % (normalized_data.numpy().mean()),
            "Features std: %.2f" % (normalized_data.numpy().std()),
            normalized_data.numpy(), layer.get_weights(), layer.get_config(),
        )
    ours, theirs = printed[kerasish], printed[k]
    assert ours[:2] == theirs[:2] == ("Features mean: 0.00", "Features std: 1.00")
    assert ours[2].dtype == theirs[2].dtype == np.float32
    assert_close(ours[2], theirs[2], atol=1e-6)
    assert_close(ours[3], theirs[3], atol=1e-7)  # mean, variance, count
    # The same config once written as JSON (Keras keeps axis as a tuple, kerasish as a JSON list).
    assert json.loads(json.dumps(ours[4])) == json.loads(json.dumps(theirs[4]))


GREEK = [
    "ξεῖν᾽, ἦ τοι μὲν ὄνειροι ἀμήχανοι ἀκριτόμυθοι",
    "γίγνοντ᾽, οὐδέ τι πάντα τελείεται ἀνθρώποισι.",
    "δοιαὶ γάρ τε πύλαι ἀμενηνῶν εἰσὶν ὀνείρων:",
    "αἱ μὲν γὰρ κεράεσσι τετεύχαται, αἱ δ᾽ ἐλέφαντι:",
    "τῶν οἳ μέν κ᾽ ἔλθωσι διὰ πριστοῦ ἐλέφαντος,",
    "οἵ ῥ᾽ ἐλεφαίρονται, ἔπε᾽ ἀκράαντα φέροντες:",
    "οἱ δὲ διὰ ξεστῶν κεράων ἔλθωσι θύραζε,",
    "οἵ ῥ᾽ ἔτυμα κραίνουσι, βροτῶν ὅτε κέν τις ἴδηται.",
]


def test_the_adapt_method_on_a_list_of_strings(capsys):
    layers = kerasish.layers
    data = GREEK
    layer = layers.TextVectorization()
    layer.adapt(data)
    vectorized_text = layer(data)
    print(vectorized_text)
    assert vectorized_text.dtype == torch.int64
    assert vectorized_text.tolist() == KERAS_RECORDED["greek"]
    assert layer.get_vocabulary() == KERAS_RECORDED["greek_vocab"]
    assert capsys.readouterr().out.startswith("tensor([[37, 12, 25,  5,  9, 20, 21,  0,  0],")


def test_a_string_lookup_with_a_precomputed_vocabulary():
    layers = kerasish.layers
    vocab = ["a", "b", "c", "d"]
    data = np.array([["a", "c", "d"], ["d", "z", "b"]])  # changed: NumPy for tf.constant
    layer = layers.StringLookup(vocabulary=vocab)
    vectorized_data = layer(data)
    assert vectorized_data.dtype == torch.int64
    assert vectorized_data.tolist() == KERAS_RECORDED["string_vocab"]


def _cifar10(n=64):
    rng = np.random.default_rng(0)  # changed: synthetic arrays of CIFAR-10's shapes (no download here)
    x_train = rng.integers(0, 256, (n, 32, 32, 3)).astype("uint8")
    y_train = rng.integers(0, 10, (n, 1)).astype("uint8")
    return (x_train, y_train), None


def _mapped(lib, x, y, batch_size, fn):
    """The guide's `Dataset.from_tensor_slices((x, y)).batch(b).map(lambda x, y: (fn(x), y))`."""

    class Mapped(lib.utils.PyDataset):  # changed: a PyDataset for the tf.data pipeline
        def __len__(self):
            return math.ceil(len(x) / batch_size)

        def __getitem__(self, i):
            sl = slice(i * batch_size, (i + 1) * batch_size)
            return fn(x[sl]), y[sl]

    return Mapped()


def _augmentation_recipe(lib):
    keras, layers = lib, lib.layers
    # Create a data augmentation stage with horizontal flipping, rotations, zooms
    data_augmentation = keras.Sequential(
        [
            layers.RandomFlip("horizontal"),
            layers.RandomRotation(0.1),
            layers.RandomZoom(0.1),
        ]
    )

    # Load some data
    (x_train, y_train), _ = _cifar10()  # changed: synthetic CIFAR-10
    input_shape = x_train.shape[1:]
    classes = 10

    # Create a tf.data pipeline of augmented images (and their labels)
    train_dataset = _mapped(lib, x_train, y_train, 16, lambda x: data_augmentation(x))  # changed: PyDataset

    # Create a model and train it on the augmented image data
    inputs = keras.Input(shape=input_shape)
    x = layers.Rescaling(1.0 / 255)(inputs)  # Rescale inputs
    outputs = keras.applications.ResNet50(  # Add the rest of the model
        weights=None, input_shape=input_shape, classes=classes
    )(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    history = model.fit(train_dataset, steps_per_epoch=2, verbose=0)  # changed: 2 steps, quiet
    sample = x_train[:4]
    return (history.history, model.count_params(), len(model.trainable_weights),
            _host(data_augmentation(sample, training=False)), _host(data_augmentation(sample)), sample)


@pytest.mark.slow
def test_image_data_augmentation_recipe():
    k = keras_module()
    ours, theirs = _augmentation_recipe(kerasish), _augmentation_recipe(k)
    assert list(ours[0]) == list(theirs[0]) == ["loss"]
    assert np.isfinite(ours[0]["loss"]).all()
    assert ours[1] == theirs[1] and ours[2] == theirs[2]  # the same ResNet50 under the Rescaling
    sample = ours[5].astype("float32")
    for lib_out in (ours, theirs):
        np.testing.assert_array_equal(lib_out[3], sample)  # inference: the images pass unchanged
        assert lib_out[4].shape == sample.shape and not np.allclose(lib_out[4], sample)  # a direct call augments


def _normalizing_recipe(lib, weights=None):
    keras, layers = lib, lib.layers
    # Load some data
    (x_train, y_train), _ = _cifar10(n=128)  # changed: synthetic CIFAR-10
    x_train = x_train.reshape((len(x_train), -1))
    input_shape = x_train.shape[1:]
    classes = 10

    # Create a Normalization layer and set its internal state using the training data
    normalizer = layers.Normalization()
    normalizer.adapt(x_train)

    # Create a model that include the normalization layer
    inputs = keras.Input(shape=input_shape)
    x = normalizer(inputs)
    outputs = layers.Dense(classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    adapted = model.get_weights()
    if weights is not None:
        model.set_weights(weights)  # Keras's Dense weights (scaffolding); adapt's statistics are compared

    # Train the model
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(x_train, y_train, shuffle=False, verbose=0)  # changed: the same batches, quiet
    return adapted, history.history


def test_normalizing_numerical_features_recipe():
    k = keras_module()
    theirs = _normalizing_recipe(k)
    ours = _normalizing_recipe(kerasish, weights=theirs[0])
    for a, b in zip(ours[0][:3], theirs[0][:3]):  # mean, variance, count from adapt
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert list(ours[1]) == list(theirs[1]) == ["loss"]
    np.testing.assert_allclose(ours[1]["loss"], theirs[1]["loss"], rtol=1e-4)


def test_encoding_string_categorical_features_via_one_hot_encoding():
    layers = kerasish.layers
    # Define some toy data
    data = np.array([["a"], ["b"], ["c"], ["b"], ["c"], ["a"]])  # changed: NumPy for tf.constant

    # Use StringLookup to build an index of the feature values and encode output.
    lookup = layers.StringLookup(output_mode="one_hot")
    lookup.adapt(data)

    # Convert new test data (which includes unknown feature values)
    test_data = np.array([["a"], ["b"], ["c"], ["d"], ["e"], [""]])  # changed: NumPy for tf.constant
    encoded_data = lookup(test_data)
    assert lookup.get_vocabulary() == KERAS_RECORDED["string_one_hot_vocab"]
    assert encoded_data.dtype == torch.float32  # Keras: int64 (documented in StringLookup's docstring)
    assert encoded_data.tolist() == KERAS_RECORDED["string_one_hot"]


def test_encoding_integer_categorical_features_via_one_hot_encoding():
    layers = kerasish.layers
    # Define some toy data
    data = np.array([[10], [20], [20], [10], [30], [0]])  # changed: NumPy for tf.constant

    # Use IntegerLookup to build an index of the feature values and encode output.
    lookup = layers.IntegerLookup(output_mode="one_hot")
    lookup.adapt(data)

    # Convert new test data (which includes unknown feature values)
    test_data = np.array([[10], [10], [20], [50], [60], [0]])  # changed: NumPy for tf.constant
    encoded_data = lookup(test_data)
    assert lookup.get_vocabulary() == KERAS_RECORDED["int_one_hot_vocab"]
    assert encoded_data.tolist() == KERAS_RECORDED["int_one_hot"]


def test_applying_the_hashing_trick_to_an_integer_categorical_feature():
    k = keras_module()
    layers = kerasish.layers
    # Sample data: 10,000 random integers with values between 0 and 100,000
    data = np.random.default_rng(0).integers(0, 100000, size=(10000, 1))  # changed: seeded

    # Use the Hashing layer to hash the values to the range [0, 64]
    hasher = layers.Hashing(num_bins=64, salt=1337)

    # Use the CategoryEncoding layer to multi-hot encode the hashed values
    encoder = layers.CategoryEncoding(num_tokens=64, output_mode="multi_hot")
    encoded_data = encoder(hasher(data))
    assert tuple(encoded_data.shape) == (10000, 64)
    hashed = _host(hasher(data)).ravel()
    assert hashed[:12].tolist() == KERAS_RECORDED["hash_first"]
    assert np.bincount(hashed, minlength=64).tolist() == KERAS_RECORDED["hash_bincount"]
    # Keras's CategoryEncoding runs without TensorFlow: the same encoding of the same ids.
    theirs = k.layers.CategoryEncoding(num_tokens=64, output_mode="multi_hot")(hashed.reshape(-1, 1))
    assert encoded_data.dtype == torch.float32
    np.testing.assert_array_equal(_host(encoded_data), _host(theirs))


ADAPT_DATA = [
    "The Brain is wider than the Sky",
    "For put them side by side",
    "The one the other will contain",
    "With ease and You beside",
]
TRAIN_TEXTS = ["The Brain is deeper than the sea", "for if they are held Blue to Blue"]


def _int_model(lib, vocabulary_size, weights=None):
    keras, layers = lib, lib.layers
    lib.utils.set_random_seed(0)
    # Create a simple model
    inputs = keras.Input(shape=(None,), dtype="int64")
    x = layers.Embedding(input_dim=vocabulary_size, output_dim=16)(inputs)
    x = layers.GRU(8)(x)
    outputs = layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    if weights is not None:
        model.set_weights(weights)  # Keras's weights (scaffolding)
    return model


def _dense_model(lib, vocabulary_size, weights=None):
    keras, layers = lib, lib.layers
    # Create a simple model
    inputs = keras.Input(shape=(vocabulary_size,))
    outputs = layers.Dense(1)(inputs)
    model = keras.Model(inputs, outputs)
    if weights is not None:
        model.set_weights(weights)
    return model


def _text_recipe(output_mode, ngrams, build, recorded, capsys):
    """One of the guide's three text recipes: adapt, encode, train on the encoded texts, then
    the inference model that takes strings. Keras trains the same model from the same weights
    on the encodings Keras + TensorFlow gave (`KERAS_RECORDED`)."""
    k = keras_module()
    keras, layers = kerasish, kerasish.layers
    # Create a TextVectorization layer
    text_vectorizer = layers.TextVectorization(output_mode=output_mode, **ngrams)
    # Index the vocabulary via `adapt()`
    text_vectorizer.adapt(np.array(ADAPT_DATA))  # changed: NumPy for tf.constant

    # Try out the layer
    print(
        "Encoded text:\n",
        text_vectorizer(["The Brain is deeper than the sea"]).numpy(),
    )
    encoded = text_vectorizer(["The Brain is deeper than the sea"])
    assert_close(encoded, np.array(KERAS_RECORDED[recorded], dtype="float32").reshape(1, -1), atol=1e-5)
    assert capsys.readouterr().out.startswith("Encoded text:\n [[")

    theirs = build(k, text_vectorizer.vocabulary_size())
    model = build(kerasish, text_vectorizer.vocabulary_size(), weights=theirs.get_weights())

    # Create a labeled dataset (which includes unknown tokens)
    # Preprocess the string inputs, turning them into int sequences
    train_dataset = _mapped(kerasish, np.array(TRAIN_TEXTS), np.array([1, 0]), 2,
                            text_vectorizer)  # changed: PyDataset for tf.data
    # Train the model on the int sequences
    print("\nTraining model...")
    model.compile(optimizer="rmsprop", loss="mse")
    history = model.fit(train_dataset, verbose=0)  # changed: quiet
    theirs.compile(optimizer="rmsprop", loss="mse")
    keras_x = np.array(KERAS_RECORDED[recorded + "_train"], dtype="int64" if output_mode == "int" else "float32")
    keras_history = theirs.fit(keras_x, np.array([1, 0]), batch_size=2, verbose=0)
    np.testing.assert_allclose(history.history["loss"], keras_history.history["loss"], rtol=1e-4)

    # For inference, you can export a model that accepts strings as input
    with pytest.raises(ValueError, match=r"dtype='string' is not supported: kerasish has no string tensors .*"
                                         r"Pass the strings .* to the text layer itself"):
        keras.Input(shape=(1,), dtype="string")  # changed: the guide names it `inputs`
    # changed: what the message says to do (Keras 3 on torch builds the model but cannot call it
    # on strings either: its Functional converts them with the torch backend and fails).
    test_data = np.array(["The one the other will absorb"])  # changed: NumPy for tf.constant
    test_output = model(text_vectorizer(test_data))
    theirs_output = theirs(text_vectorizer(test_data).numpy())
    assert tuple(test_output.shape) == (1, 1)
    assert_close(test_output, theirs_output, atol=1e-5)


def test_encoding_text_as_a_sequence_of_token_indices(capsys):
    _text_recipe("int", {}, _int_model, "tv_int", capsys)


def test_encoding_text_as_a_dense_matrix_of_ngrams_with_multi_hot_encoding(capsys):
    _text_recipe("multi_hot", {"ngrams": 2}, _dense_model, "tv_multi_hot", capsys)


def test_encoding_text_as_a_dense_matrix_of_ngrams_with_tf_idf_weighting(capsys):
    # The guide's Keras 2 spelling 'tf-idf': Keras 3 reads it as 'tf_idf', and so does kerasish.
    layer = kerasish.layers.TextVectorization(output_mode="tf-idf", ngrams=2)
    assert layer.get_config()["output_mode"] == "tf_idf"
    _text_recipe("tf-idf", {"ngrams": 2}, _dense_model, "tv_tf_idf", capsys)


def test_the_vocabularies_the_text_recipes_learn():
    for output_mode, ngrams, recorded in (("int", None, "tv_int_vocab"), ("multi_hot", 2, "tv_multi_hot_vocab")):
        text_vectorizer = kerasish.layers.TextVectorization(output_mode=output_mode, ngrams=ngrams)
        text_vectorizer.adapt(np.array(ADAPT_DATA))
        assert text_vectorizer.get_vocabulary() == KERAS_RECORDED[recorded]
