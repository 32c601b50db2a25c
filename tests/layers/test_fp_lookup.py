"""StringLookup, IntegerLookup, Hashing and TextVectorization: behaviour, configs, errors, models that save."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import kerasish
from kerasish import layers
from kerasish.layers import Hashing, IntegerLookup, Normalization, StringLookup, TextVectorization
from kerasish.layers.preprocessing.hashing import fingerprint64, siphash24


def _round_trip(layer):
    config = json.loads(json.dumps(layer.get_config()))
    again = type(layer).from_config(config)
    assert json.loads(json.dumps(again.get_config())) == config
    return again


# ---------------------------------------------------------------- lookups
def test_string_lookup_adapts_from_a_generator_and_a_loader_of_batches():
    batches = [np.array([["b", "a"], ["a", "c"]], dtype=object), np.array([["c", "c"], ["a", "d"]], dtype=object)]
    layer = StringLookup()
    layer.adapt(iter(batches))
    # a x3 and c x3 tie: the larger string first, as Keras; then d and b (x1) the same way.
    assert layer.get_vocabulary() == ["[UNK]", "c", "a", "d", "b"]
    ints = IntegerLookup()
    ints.adapt(torch.utils.data.DataLoader(torch.tensor([5, 7, 7, 9, 9, 9]), batch_size=4))
    assert ints.get_vocabulary() == [-1, 9, 7, 5]
    assert ints(torch.tensor([[9, 5, 3]])).tolist() == [[1, 3, 0]]


def test_lookup_config_round_trip_keeps_the_learned_vocabulary_and_idf():
    layer = StringLookup(output_mode="tf_idf", mask_token="", num_oov_indices=2, name="lookup")
    layer.adapt([["a", "b", "a"], ["b", "c", ""]])
    again = _round_trip(layer)
    x = np.array([["a", "", "z", "c"]], dtype=object)
    np.testing.assert_allclose(again(x).numpy(), layer(x).numpy())
    assert again.get_vocabulary() == layer.get_vocabulary()
    ints = IntegerLookup(vocabulary=[3, 1, 2], invert=True, mask_token=0)
    assert _round_trip(ints)(torch.tensor([0, 2, 4, 9])).tolist() == [0, 3, 2, -1]


def test_vocabulary_from_a_file_and_set_vocabulary(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("apple\nbanana\ncherry\n\n", encoding="utf-8")
    layer = StringLookup(vocabulary=str(path))
    assert layer.get_vocabulary() == ["[UNK]", "apple", "banana", "cherry"]
    assert layer(np.array(["cherry", "fig"], dtype=object)).tolist() == [3, 0]
    (tmp_path / "ints.txt").write_text("10\n20\n")
    assert IntegerLookup(vocabulary=str(tmp_path / "ints.txt"))(torch.tensor([20])).tolist() == [2]
    layer.set_vocabulary(["x", "y"])
    assert layer.vocabulary_size() == 3 and layer.get_vocabulary(include_special_tokens=False) == ["x", "y"]


def test_string_lookup_takes_bytes_and_inverts_to_strings():
    layer = StringLookup(vocabulary=["héllo", "b"])
    assert layer([b"h\xc3\xa9llo", "b", "q"]).tolist() == [1, 2, 0]
    inverse = StringLookup(vocabulary=layer.get_vocabulary(), invert=True)
    assert inverse(torch.tensor([[1, 0]])).tolist() == [["héllo", "[UNK]"]]


@pytest.mark.parametrize("kwargs, message", [
    ({"max_tokens": 1}, "max_tokens must be None or an int > 1"),
    ({"pad_to_max_tokens": True}, "pad_to_max_tokens=True needs max_tokens"),
    ({"num_oov_indices": -1}, "num_oov_indices must be an int >= 0"),
    ({"output_mode": "multi-hot"}, "Did you mean 'multi_hot'"),
    ({"invert": True, "output_mode": "count"}, "output_mode must be 'int'"),
    ({"idf_weights": [1.0]}, "idf_weights are only used with output_mode='tf_idf'"),
    ({"vocabulary": ["a"], "output_mode": "tf_idf"}, "needs idf_weights"),
    ({"vocabulary": ["a", "b", "a"]}, r"repeats the tokens \['a'\]"),
    ({"vocabulary": ["a", "[UNK]"], "invert": True}, "holds oov_token='\\[UNK\\]' at index 1"),
    ({"vocabulary": ["a", ""], "mask_token": ""}, "holds mask_token='' at index 1"),
    ({"vocabulary": ["a", "b", "c"], "max_tokens": 3}, "needs 4 indices"),
    ({"vocabulary": []}, "cannot set an empty vocabulary"),
    ({"vocabulary": ["a"], "output_mode": "tf_idf", "idf_weights": [1.0, 2.0]}, "one weight per vocabulary entry"),
    ({"vocabulary": "/no/such/vocab.txt"}, "does not exist"),
    ({"salt": "pepper"}, "expected an int or a pair of ints"),
    ({"sparse": True}, "sparse=True is not supported"),
    ({"encoding": "klingon"}, "unknown encoding='klingon'"),
])
def test_string_lookup_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StringLookup(**kwargs)


def test_lookup_call_and_adapt_errors():
    with pytest.raises(ValueError, match="has no vocabulary yet"):
        StringLookup()(["a"])
    with pytest.raises(ValueError, match="it was given a fixed vocabulary"):
        StringLookup(vocabulary=["a"]).adapt(["a"])
    with pytest.raises(ValueError, match=r"not in the vocabulary: \['z'\]"):
        StringLookup(vocabulary=["a"], num_oov_indices=0)(["a", "z"])
    with pytest.raises(ValueError, match="supports only vocabulary_dtype='int64'"):
        IntegerLookup(vocabulary_dtype="int32")
    with pytest.raises(ValueError, match="salt is only used with oov_method='farmhash'"):
        IntegerLookup(salt=3)
    with pytest.raises(ValueError, match="expected 'floormod' or 'farmhash'"):
        IntegerLookup(oov_method="mod")
    with pytest.raises(ValueError, match="mask_token must be an int or None"):
        IntegerLookup(mask_token="0")
    with pytest.raises(TypeError, match="IntegerLookup takes integer tokens"):
        IntegerLookup(vocabulary=[1])(np.array(["a"], dtype=object))
    with pytest.raises(ValueError, match="output_mode='tf_idf' cannot load its vocabulary from a file"):
        StringLookup(output_mode="tf_idf").set_vocabulary("vocab.txt", idf_weights=[1.0])


# ---------------------------------------------------------------- hashing
def test_hashes_are_farmhash_fingerprint64_and_siphash():
    # Published test vectors: FarmHash Fingerprint64("") = k2, SipHash-2-4 of "" under key 00..0f.
    assert fingerprint64(b"") == 0x9AE16A3B2F90404F
    assert siphash24(0x0706050403020100, 0x0F0E0D0C0B0A0908, b"") == 0x726FDB47DD0E0E31


def test_hashing_ints_like_their_text_and_config_round_trip():
    layer = Hashing(num_bins=97, salt=(1, 2), mask_value=0)
    ints = layer(torch.tensor([[0, 12, 345]]))
    assert ints[0, 0].item() == 0
    as_text = Hashing(num_bins=96, salt=(1, 2))(np.array(["12", "345"], dtype=object)) + 1
    assert ints[0, 1:].tolist() == as_text.tolist()
    assert _round_trip(layer).get_config()["salt"] == [1, 2]


@pytest.mark.parametrize("kwargs, message", [
    ({}, "needs num_bins, a positive int"),
    ({"num_bins": 0}, "received num_bins=0"),
    ({"num_bins": 3, "salt": 1.5}, "expected an int or a pair of ints"),
    ({"num_bins": 3, "output_mode": "hot"}, "expected one of 'int', 'one_hot', 'multi_hot', 'count'"),
    ({"num_bins": 3, "dtype": "float32"}, "outputs integer bins"),
    ({"num_bins": 3, "sparse": True}, "sparse=True is not supported"),
])
def test_hashing_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Hashing(**kwargs)


def test_hashing_has_nothing_to_adapt():
    with pytest.raises(ValueError, match="Hashing has no state to learn"):
        Hashing(num_bins=3).adapt(["a"])


# ---------------------------------------------------------------- TextVectorization additions
def test_text_vectorization_tf_idf_config_round_trip_and_one_hot_error():
    layer = TextVectorization(output_mode="tf_idf")
    layer.adapt(["a b b", "b c", "c c c"])
    again = _round_trip(layer)
    np.testing.assert_allclose(again(["b c d"]).numpy(), layer(["b c d"]).numpy())
    with pytest.raises(ValueError, match="needs exactly one token per text, but text 0"):
        TextVectorization(output_mode="one_hot", vocabulary=["a"])(["a b"])
    with pytest.raises(ValueError, match=r"idf_weights=\[...\] is only used with output_mode='tf_idf'"):
        TextVectorization(idf_weights=[1.0])
    with pytest.raises(ValueError, match="needs idf_weights"):
        TextVectorization(output_mode="tf_idf", vocabulary=["a"])
    with pytest.raises(ValueError, match="one weight per vocabulary entry"):
        TextVectorization(output_mode="tf_idf", vocabulary=["a"], idf_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="needed exactly when output_mode='tf_idf'"):
        TextVectorization().set_vocabulary(["a"], idf_weights=[1.0])


# ---------------------------------------------------------------- in models
def _save_load(model, tmp_path, x):
    before = model.predict(x, verbose=0)
    model.save(str(tmp_path / "m.kerasish"))
    loaded = kerasish.load_model(str(tmp_path / "m.kerasish"))
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), before)
    return loaded


def test_string_lookup_model_trains_on_strings_and_reloads(tmp_path):
    kerasish.utils.set_random_seed(0)
    words = np.array(["red", "green", "blue", "red", "blue", "teal"] * 8, dtype=object)
    labels = np.array([0, 1, 1, 0, 1, 1] * 8)
    lookup = StringLookup()
    lookup.adapt(words)
    model = kerasish.Sequential([lookup, layers.Embedding(lookup.vocabulary_size(), 4),
                                 layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(words, labels, epochs=30, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    loaded = _save_load(model, tmp_path, np.array(["red", "blue", "unknown"], dtype=object))
    assert loaded.layers[0].get_vocabulary() == lookup.get_vocabulary()


def test_normalization_model_saves_its_statistics(tmp_path):
    x = (np.random.default_rng(1).normal(size=(32, 3)) * 5 + 7).astype("float32")
    norm = Normalization()
    norm.adapt(x)
    model = kerasish.Sequential([layers.Input((3,)), norm, layers.Dense(1)])
    loaded = _save_load(model, tmp_path, x)
    np.testing.assert_allclose(loaded.layers[0].get_weights()[0], x.mean(axis=0), rtol=1e-5)


def test_text_vectorization_tf_idf_model_reloads(tmp_path):
    texts = np.array(["good movie", "bad movie", "good good fun", "bad plot"], dtype=object)
    vectorizer = TextVectorization(output_mode="tf_idf", max_tokens=8, pad_to_max_tokens=True)
    vectorizer.adapt(texts)
    model = kerasish.Sequential([vectorizer, layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(texts, np.array([1, 0, 1, 0]), epochs=2, verbose=0)
    _save_load(model, tmp_path, texts)


def test_hashing_model_trains_on_strings():
    kerasish.utils.set_random_seed(0)
    words = np.array(["a", "b", "c", "d"] * 4, dtype=object)
    model = kerasish.Sequential([Hashing(num_bins=8), layers.Embedding(8, 2), layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(words, np.arange(16, dtype="float32") % 2, epochs=3, batch_size=4, verbose=0)
    assert len(history.history["loss"]) == 3


def test_integer_lookup_model_takes_integer_arrays_uncast():
    x = np.random.default_rng(0).integers(0, 20, (32, 3))
    lookup = IntegerLookup(output_mode="multi_hot")
    lookup.adapt(x)
    model = kerasish.Sequential([lookup, layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(x, (x.sum(axis=1) > 30).astype("float32"), epochs=1, verbose=0)
    by_hand = torch.sigmoid(model.layers[1].call_logits(lookup(x[:4]))).detach().numpy()
    np.testing.assert_allclose(model.predict(x[:4], verbose=0), by_hand, rtol=1e-6)


def test_normalization_in_a_functional_model():
    x = np.arange(12, dtype="float32").reshape(4, 3)
    norm = Normalization()
    norm.adapt(x)
    inputs = layers.Input((3,))
    model = kerasish.Model(inputs, layers.Dense(2)(norm(inputs)))
    assert model.predict(x, verbose=0).shape == (4, 2)
    np.testing.assert_allclose(norm(x).numpy().mean(axis=0), 0.0, atol=1e-6)
