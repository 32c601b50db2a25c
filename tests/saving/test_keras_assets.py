"""Lookup vocabularies in a `.keras` file's `assets/`, held against Keras 3's own saving code.

Keras's StringLookup, IntegerLookup and TextVectorization need TensorFlow to run, which this
environment does not have, so no golden file can come from them. The layout is checked against
Keras's code instead: Keras's `saving_lib` walks a Keras model of stand-in layers (named like the
real ones, so Keras gives them the same paths) whose `save_assets`/`load_assets` ARE the real
layers' methods; the two TensorFlow calls those methods make (`tf.io.gfile.join`, `tf.as_dtype`)
are replaced by their plain-Python equivalents for the test.
"""

from __future__ import annotations

import json
import os
import types
import zipfile

import numpy as np
import pytest

import kerasish
from kerasish.saving.keras_file import KerasFileError
from tests.keras_parity import keras_module

L = kerasish.layers
TEXTS = ["the cat sat", "the dog ran far", "a cat ran", "dogs and cats"]


@pytest.fixture
def keras_code(monkeypatch):
    """Keras's saving walk plus stand-ins carrying the real lookup layers' asset methods."""
    keras = keras_module()
    from keras.src.layers.preprocessing import index_lookup, text_vectorization
    from keras.src.saving import saving_lib

    tf_stub = types.SimpleNamespace(io=types.SimpleNamespace(gfile=types.SimpleNamespace(join=os.path.join)),
                                    as_dtype=lambda dtype: dtype, string="string")
    monkeypatch.setattr(index_lookup, "tf", tf_stub)

    class _Lookup(keras.layers.Layer):
        save_assets = index_lookup.IndexLookup.save_assets
        load_assets = index_lookup.IndexLookup.load_assets

        def __init__(self, vocabulary, input_vocabulary=None, dtype_name="string", **kwargs):
            super().__init__(**kwargs)
            self.vocabulary, self.input_vocabulary = list(vocabulary), input_vocabulary
            self.vocabulary_dtype, self.output_mode = dtype_name, "int"
            self.received = None

        def get_vocabulary(self, include_special_tokens=True):
            return self.vocabulary

        def set_vocabulary(self, values):
            self.received = values

    class StringLookup(_Lookup):
        pass

    class IntegerLookup(_Lookup):
        def __init__(self, vocabulary, **kwargs):
            super().__init__(vocabulary, dtype_name="int64", **kwargs)

    class TextVectorization(keras.layers.Layer):
        save_assets = text_vectorization.TextVectorization.save_assets
        load_assets = text_vectorization.TextVectorization.load_assets

        def __init__(self, vocabulary, **kwargs):
            super().__init__(**kwargs)
            self._lookup_layer = StringLookup(vocabulary)

    return types.SimpleNamespace(keras=keras, saving_lib=saving_lib, StringLookup=StringLookup,
                                 IntegerLookup=IntegerLookup, TextVectorization=TextVectorization)


def _adapted(layer, data):
    layer.adapt(data)
    return layer


CASES = {
    "string": (lambda: _adapted(L.StringLookup(), np.array(["a", "b", "b", "c", "é"])), "StringLookup"),
    "integer": (lambda: _adapted(L.IntegerLookup(), np.array([3, 5, 5, 7, 12])), "IntegerLookup"),
    "masked": (lambda: _adapted(L.StringLookup(mask_token="[MASK]", num_oov_indices=2), np.array(["x", "y", "y"])),
               "StringLookup"),
    "text": (lambda: _adapted(L.TextVectorization(max_tokens=20, output_sequence_length=4), TEXTS),
             "TextVectorization"),
}


def _ours(layer, nested=False):
    inner = kerasish.Sequential([layer]) if nested else layer
    model = kerasish.Sequential([inner, L.Embedding(30, 2), L.Flatten()])
    model.build((None, 1))
    return model


def _theirs(code, layer, kind, nested=False):
    keras = code.keras
    standin = getattr(code, kind)(layer.get_vocabulary())
    inner = keras.Sequential([standin]) if nested else standin
    return keras.Sequential([inner, keras.layers.Embedding(30, 2), keras.layers.Flatten()]), standin


def _assets_of(path):
    """The archive's assets/ members as Keras's nested asset dict (file bytes as uint8 arrays)."""
    tree = {}
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if name.startswith("assets/"):
                node = tree
                *folders, leaf = name[len("assets/"):].split("/")
                for folder in folders:
                    node = node.setdefault(folder, {})
                node[leaf] = np.frombuffer(zf.read(name), np.uint8)
    return tree


def _layer_configs(config, name):
    """Every layer config named `name` in a model config."""
    if isinstance(config, dict):
        if isinstance(config.get("config"), dict) and config["config"].get("name") == name:
            yield config["config"]
        for value in config.values():
            yield from _layer_configs(value, name)
    elif isinstance(config, list):
        for value in config:
            yield from _layer_configs(value, name)


def _as_bytes(tree):
    return {k: _as_bytes(v) if isinstance(v, dict) else bytes(v) for k, v in tree.items()}


@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested"])
@pytest.mark.parametrize("case", CASES)
def test_kerasish_writes_the_assets_keras_writes(case, nested, keras_code, tmp_path):
    make, kind = CASES[case]
    layer = make()
    ours = _ours(layer, nested)
    ours.save(tmp_path / "o.keras")
    theirs, _ = _theirs(keras_code, layer, kind, nested)
    expected = keras_code.saving_lib._save_assets_to_dict(theirs)
    assert _as_bytes(_assets_of(tmp_path / "o.keras")) == _as_bytes(expected)
    with zipfile.ZipFile(tmp_path / "o.keras") as zf:
        config = json.loads(zf.read("config.json"))
    assert [c["vocabulary"] for c in _layer_configs(config, layer.name)] == [None]  # it left the config


@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested"])
@pytest.mark.parametrize("case", CASES)
def test_keras_reads_the_vocabulary_kerasish_wrote(case, nested, keras_code, tmp_path):
    make, kind = CASES[case]
    layer = make()
    _ours(layer, nested).save(tmp_path / "o.keras")
    theirs, standin = _theirs(keras_code, layer, kind, nested)
    standin.vocabulary = []  # what Keras knows comes from the file only
    keras_code.saving_lib._load_assets_from_dict(theirs, _assets_of(tmp_path / "o.keras"))
    received = standin._lookup_layer.received if kind == "TextVectorization" else standin.received
    assert received == layer.get_vocabulary()


@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested"])
@pytest.mark.parametrize("case", CASES)
def test_kerasish_reads_the_assets_keras_wrote(case, nested, keras_code, tmp_path):
    make, kind = CASES[case]
    trained = make()
    x = (np.array(TEXTS[:2]) if kind == "TextVectorization" else
         np.array([[v] for v in trained.get_vocabulary()[-3:]] + [[99 if kind == "IntegerLookup" else "zz"]]))
    expected = trained(x)
    # A Keras file of the same model: kerasish's config for an adapted layer (vocabulary None),
    # with the assets Keras's own code writes for it.
    blank = {"string": L.StringLookup(), "integer": L.IntegerLookup(),
             "masked": L.StringLookup(mask_token="[MASK]", num_oov_indices=2),
             "text": L.TextVectorization(max_tokens=20, output_sequence_length=4)}[case]
    _ours(blank, nested).save(tmp_path / "blank.keras")
    theirs, _ = _theirs(keras_code, trained, kind, nested)
    _replace_assets(tmp_path / "blank.keras", tmp_path / "k.keras",
                    keras_code.saving_lib._save_assets_to_dict(theirs))
    loaded = kerasish.load_model(tmp_path / "k.keras")
    lookup = loaded.layers[0].layers[0] if nested else loaded.layers[0]
    assert lookup.get_vocabulary() == trained.get_vocabulary()
    np.testing.assert_array_equal(np.asarray(lookup(x)), np.asarray(expected))


def _replace_assets(source, target, tree):
    with zipfile.ZipFile(source) as zf:
        members = {n: zf.read(n) for n in zf.namelist() if not n.startswith("assets/")}

    def flatten(node, prefix):
        for key, value in node.items():
            if isinstance(value, dict):
                yield from flatten(value, f"{prefix}{key}/")
            else:
                yield f"{prefix}{key}", bytes(value)

    members.update(dict(flatten(tree or {}, "assets/")))
    with zipfile.ZipFile(target, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def test_an_adapted_text_model_round_trips_and_trains_on(tmp_path):
    y = np.array([1, 0, 1, 0], "float32")
    vectorize = _adapted(L.TextVectorization(max_tokens=30, output_sequence_length=5), TEXTS)
    model = kerasish.Sequential([vectorize, L.Embedding(30, 4), L.GlobalAveragePooling1D(),
                                 L.Dense(1, activation="sigmoid")])
    model.compile(optimizer=kerasish.optimizers.Adam(0.05), loss="binary_crossentropy")
    model.fit(TEXTS, y, epochs=2, batch_size=2, verbose=0)
    model.save(tmp_path / "text.keras")
    loaded = kerasish.load_model(tmp_path / "text.keras")
    assert loaded.layers[0].get_vocabulary() == vectorize.get_vocabulary()
    np.testing.assert_allclose(loaded.predict(TEXTS, verbose=0), model.predict(TEXTS, verbose=0), atol=1e-6)
    model.fit(TEXTS, y, epochs=1, batch_size=2, verbose=0, shuffle=False)
    loaded.fit(TEXTS, y, epochs=1, batch_size=2, verbose=0, shuffle=False)
    np.testing.assert_allclose(loaded.predict(TEXTS, verbose=0), model.predict(TEXTS, verbose=0), atol=1e-6)
    loaded.save(tmp_path / "again.keras")  # a vocabulary read from assets is written to assets again
    assert _as_bytes(_assets_of(tmp_path / "again.keras")) == _as_bytes(_assets_of(tmp_path / "text.keras"))


def test_a_vocabulary_given_to_the_constructor_stays_in_the_config(keras_code, tmp_path):
    layer = L.StringLookup(vocabulary=["a", "b"])
    _ours(layer).save(tmp_path / "o.keras")
    assert _assets_of(tmp_path / "o.keras") == {}
    theirs, _ = _theirs(keras_code, layer, "StringLookup")
    theirs.layers[0].input_vocabulary = ["a", "b"]
    assert keras_code.saving_lib._save_assets_to_dict(theirs) is None
    loaded = kerasish.load_model(tmp_path / "o.keras")
    assert loaded.layers[0].get_vocabulary() == ["[UNK]", "a", "b"]


def test_a_layer_never_adapted_writes_its_special_tokens_and_loads_unadapted(keras_code, tmp_path):
    layer = L.StringLookup(num_oov_indices=2)
    _ours(layer).save(tmp_path / "o.keras")
    theirs, _ = _theirs(keras_code, layer, "StringLookup")
    assert _as_bytes(_assets_of(tmp_path / "o.keras")) == _as_bytes(
        keras_code.saving_lib._save_assets_to_dict(theirs)) == {"layers": {"string_lookup": {
            "vocabulary.txt": b"[UNK]\n[UNK]"}}}
    loaded = kerasish.load_model(tmp_path / "o.keras")
    loaded.layers[0].adapt(np.array(["q", "q", "r"]))  # still adaptable, as in Keras
    assert loaded.layers[0].get_vocabulary() == ["[UNK]", "[UNK]", "q", "r"]


def _with_member(tmp_path, name, data, drop=None):
    layer = _adapted(L.IntegerLookup(), np.array([1, 2, 2]))
    _ours(layer).save(tmp_path / "o.keras")
    with zipfile.ZipFile(tmp_path / "o.keras") as zf:
        members = {n: zf.read(n) for n in zf.namelist() if n != drop}
    if name is not None:
        members[name] = data
    with zipfile.ZipFile(tmp_path / "bad.keras", "w") as zf:
        for n, d in members.items():
            zf.writestr(n, d)
    return tmp_path / "bad.keras"


VOCAB = "assets/layers/integer_lookup/vocabulary.txt"


@pytest.mark.parametrize("name,data,drop,match", [
    (None, None, VOCAB, (r"has no vocabulary for layer 'integer_lookup.*' \(IntegerLookup\): its config has "
                         r"vocabulary=None and the archive has no 'assets/layers/integer_lookup/vocabulary.txt'")),
    (VOCAB, b"-1\n2\nseven", None, r"holds 'seven', not an integer"),
    (VOCAB, b"-1\n\xff\xfe", None, r"is not UTF-8 text"),
])
def test_a_missing_or_bad_vocabulary_is_refused_naming_the_layer(name, data, drop, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        kerasish.load_model(_with_member(tmp_path, name, data, drop))


def test_an_oversized_vocabulary_is_refused_unread(tmp_path, monkeypatch):
    from kerasish.saving import keras_assets

    monkeypatch.setattr(keras_assets, "VOCABULARY_LIMIT", 8)
    with pytest.raises(KerasFileError, match=r"'assets/layers/integer_lookup/vocabulary.txt' declares 9 bytes, more "
                                             r"than the 8"):
        kerasish.load_model(_with_member(tmp_path, VOCAB, b"-1\n2\n1\n33"))


def test_asset_files_no_layer_reads_are_named_in_a_warning(tmp_path):
    path = _with_member(tmp_path, "assets/layers/tokenizer/merges.txt", b"a b")
    with pytest.warns(UserWarning, match=r"does not read 1 asset file\(s\) \['assets/layers/tokenizer/merges.txt'\]"):
        loaded = kerasish.load_model(path)
    assert loaded.layers[0].get_vocabulary() == [-1, 2, 1]


def test_a_traversing_asset_name_is_refused_before_anything_is_read(tmp_path):
    with pytest.raises(KerasFileError, match=r"points outside the archive"):
        kerasish.load_model(_with_member(tmp_path, "assets/../../evil.txt", b"x"))
    assert not (tmp_path.parent / "evil.txt").exists()


def test_the_vocabulary_file_is_keras_text_format(tmp_path):
    # One token per line, no final newline, integers in decimal: what IndexLookup.save_assets writes.
    layer = _adapted(L.IntegerLookup(), np.array([10, 20, 20]))
    _ours(layer).save(tmp_path / "o.keras")
    with zipfile.ZipFile(tmp_path / "o.keras") as zf:
        assert zf.read("assets/layers/integer_lookup/vocabulary.txt") == b"-1\n20\n10"
