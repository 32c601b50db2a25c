"""kerasish.utils.FeatureSpace against Keras 3's layers, Keras's documented layout, and the keras-io tutorial flow.

Keras's FeatureSpace itself needs TensorFlow (absent here). Normalization, Rescaling,
CategoryEncoding and Discretization with given boundaries run in Keras without it, so those
features are checked against Keras's own layers; the lookups, hashing and adapted
discretization against kerasish's layers (held to Keras+TensorFlow goldens in
test_fp_goldens.py) adapted on the same batches; the cross against Keras's HashedCrossing test.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import kerasish
from kerasish import layers
from kerasish.layers.preprocessing.feature_cross import HashedCross, cross_hashes
from kerasish.layers.preprocessing.feature_specs import Cross, Feature, deserialize_spec
from kerasish.utils import FeatureSpace
from tests.keras_parity import assert_close, keras_module, to_numpy


@pytest.fixture
def keras():
    return keras_module()


def _data(n=100, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "price": rng.normal(5.0, 2.0, n).astype("float32"),
        "ratio": rng.uniform(0, 1, n).astype("float32"),
        "rooms": rng.integers(1, 6, n).astype("int64"),
        "city": rng.choice(["paris", "rome", "oslo", "lima"], n).tolist(),
        "zip": rng.integers(1000, 1100, n).astype("int64"),
        "tag": rng.choice(["a", "b", "c"], n).tolist(),
    }


def _pick(data, space):
    """The columns of `data` that are features of `space` (a FeatureSpace refuses other keys, as Keras's)."""
    return {key: data[key] for key in space.features}


def _batches(x, size=32):
    return iter([x[i:i + size] for i in range(0, len(x), size)])


# ---------------------------------------------------------------- each feature against Keras
def test_float_features_match_keras_normalization_rescaling_and_identity(keras):
    data = _data()
    fs = FeatureSpace({"price": "float_normalized", "ratio": FeatureSpace.float_rescaled(scale=2.0, offset=-1.0),
                       "zip": "float"}, output_mode="dict")
    fs.adapt(data)
    out = fs(_pick(data, fs))
    norm = keras.layers.Normalization(axis=-1)
    norm.adapt(data["price"].reshape(-1, 1))
    assert_close(out["price"], norm(data["price"].reshape(-1, 1)), atol=1e-5)
    assert_close(out["ratio"], keras.layers.Rescaling(2.0, -1.0)(data["ratio"].reshape(-1, 1)))
    assert_close(out["zip"], data["zip"].reshape(-1, 1).astype("float32"))
    assert out["price"].shape == (100, 1) and out["zip"].dtype == torch.float32


def test_discretized_with_given_boundaries_matches_keras_discretization_and_category_encoding(keras):
    data = _data()
    boundaries = [0.25, 0.5, 0.75]
    fs = FeatureSpace({"ratio": FeatureSpace.float_discretized(num_bins=None, bin_boundaries=boundaries)},
                      output_mode="dict")
    fs.adapt(data)  # nothing to learn: the boundaries are given
    ids = keras.layers.Discretization(bin_boundaries=boundaries)(data["ratio"].reshape(-1, 1))
    expected = keras.layers.CategoryEncoding(num_tokens=4, output_mode="multi_hot")(ids)
    assert_close(fs(_pick(data, fs))["ratio"], expected)


def test_adapted_discretization_learns_on_batches_of_32_as_keras(keras):
    data = _data(n=200)
    fs = FeatureSpace({"price": FeatureSpace.float_discretized(num_bins=5, output_mode="int")}, output_mode="dict")
    fs.adapt(data)
    twin = layers.Discretization(num_bins=5)
    twin.adapt(_batches(data["price"].reshape(-1, 1)))
    assert fs.preprocessors["price"].bin_boundaries == twin.bin_boundaries
    assert fs(_pick(data, fs))["price"].tolist() == twin(data["price"].reshape(-1, 1)).tolist()


def test_categorical_features_index_by_frequency_and_one_hot_as_keras(keras):
    data = {"city": ["rome", "oslo", "rome", "lima", "rome", "oslo"], "rooms": [3, 1, 3, 3, 2, 1]}
    fs = FeatureSpace({"city": "string_categorical", "rooms": "integer_categorical"}, output_mode="dict")
    fs.adapt(data)
    assert fs.preprocessors["city"].get_vocabulary() == ["[UNK]", "rome", "oslo", "lima"]
    assert fs.preprocessors["rooms"].get_vocabulary() == [-1, 3, 1, 2]
    out = fs({"city": ["oslo", "tokyo"], "rooms": [2, 9]})
    encode = keras.layers.CategoryEncoding(num_tokens=4, output_mode="multi_hot")
    assert_close(out["city"], encode(np.array([[2], [0]])))
    assert_close(out["rooms"], encode(np.array([[3], [0]])))
    ints = FeatureSpace({"city": FeatureSpace.string_categorical(output_mode="int", max_tokens=3, num_oov_indices=1)},
                        output_mode="dict")
    ints.adapt(data)
    assert ints({"city": ["rome", "lima"]})["city"].tolist() == [[1], [0]]


def test_hashed_features_match_kerasish_hashing_and_keras_encoding(keras):
    data = _data()
    fs = FeatureSpace({"tag": "string_hashed", "zip": FeatureSpace.integer_hashed(num_bins=7)}, output_mode="dict",
                      hashing_dim=5)
    fs.adapt(data)
    out = fs(_pick(data, fs))
    tag_ids = layers.Hashing(num_bins=5)(np.array(data["tag"], dtype=object).reshape(-1, 1))
    zip_ids = layers.Hashing(num_bins=7)(data["zip"].reshape(-1, 1))
    assert_close(out["tag"], keras.layers.CategoryEncoding(num_tokens=5, output_mode="multi_hot")(to_numpy(tag_ids)))
    assert_close(out["zip"], keras.layers.CategoryEncoding(num_tokens=7, output_mode="multi_hot")(to_numpy(zip_ids)))


def test_cross_hashes_as_keras_hashed_crossing():
    # Keras's hashed_crossing_test: HashedCrossing(num_bins=5) on these features gives [1, 4, 1, 1, 3].
    feat1 = np.array(["A", "B", "A", "B", "A"], dtype=object)
    feat2 = np.array([101, 101, 101, 102, 102])
    assert cross_hashes([feat1, feat2], 5).tolist() == [1, 4, 1, 1, 3]
    crosser = HashedCross(5, name="x")
    assert crosser([feat1.reshape(-1, 1), torch.tensor(feat2).reshape(-1, 1)]).tolist() == [[1], [4], [1], [1], [3]]
    assert cross_hashes([np.array([b"A", b"B"], dtype=object), np.array([101, 101])], 5).tolist() == [1, 4]


def test_a_cross_encodes_the_preprocessed_ids():
    data = {"city": ["rome", "oslo", "rome", "lima"], "rooms": [3, 1, 3, 2]}
    fs = FeatureSpace({"city": "string_categorical", "rooms": "integer_categorical"},
                      crosses=[FeatureSpace.cross(("city", "rooms"), crossing_dim=16, output_mode="int")],
                      output_mode="dict")
    fs.adapt(data)
    out = fs(_pick(data, fs))
    city_ids = fs.preprocessors["city"](np.array(data["city"], dtype=object).reshape(-1, 1)).numpy()
    room_ids = fs.preprocessors["rooms"](torch.tensor(data["rooms"]).reshape(-1, 1)).numpy()
    assert out["city_X_rooms"].tolist() == cross_hashes([city_ids, room_ids], 16).tolist()
    assert out["city_X_rooms"][0].tolist() == out["city_X_rooms"][2].tolist()  # same pair, same bin


# ---------------------------------------------------------------- layout
def test_concat_order_is_sorted_features_then_sorted_crosses():
    data = _data()
    fs = FeatureSpace({"tag": "string_categorical", "price": "float_normalized", "rooms": "integer_categorical"},
                      crosses=[("tag", "rooms"), ("rooms", "tag")], crossing_dim=8)
    fs.adapt(data)
    parts = FeatureSpace({"tag": "string_categorical", "price": "float_normalized", "rooms": "integer_categorical"},
                         crosses=[("tag", "rooms"), ("rooms", "tag")], crossing_dim=8, output_mode="dict")
    parts.adapt(data)
    d = parts(_pick(data, parts))
    assert list(d) == ["price", "rooms", "tag", "rooms_X_tag", "tag_X_rooms"]
    out = fs(_pick(data, fs))
    assert out.shape == (100, 1 + 6 + 4 + 8 + 8) == (100, fs.output_dim)
    assert_close(out, torch.cat([d[k] for k in d], dim=-1))


def test_unbatched_values_give_one_vector_and_one_row_dicts():
    data = _data()
    fs = FeatureSpace({"price": "float_normalized", "city": "string_categorical"})
    fs.adapt(data)
    row = {"price": 4.0, "city": "rome"}
    one = fs(row)
    assert one.shape == (fs.output_dim,)
    assert_close(one, fs({"price": [4.0], "city": ["rome"]})[0])
    as_dict = FeatureSpace({"price": "float_normalized", "city": "string_categorical"}, output_mode="dict")
    as_dict.adapt(data)
    assert {k: tuple(v.shape) for k, v in as_dict(row).items()} == {"price": (1,), "city": (5,)}


# ---------------------------------------------------------------- adapt inputs
class _DictRows(torch.utils.data.Dataset):
    def __init__(self, data, labels=None):
        self.data, self.labels = data, labels

    def __len__(self):
        return len(next(iter(self.data.values())))

    def __getitem__(self, i):
        row = {k: v[i] for k, v in self.data.items()}
        return row if self.labels is None else (row, self.labels[i])


def test_adapt_reads_dicts_loaders_datasets_pydatasets_and_generators():
    data = _data(n=96)
    spec = {"price": "float_normalized", "city": "string_categorical", "rooms": "integer_categorical"}

    class Batches(kerasish.utils.PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return {k: v[i * 32:(i + 1) * 32] for k, v in data.items()}, np.zeros(32)

    sources = {
        "dict": data,
        "loader": torch.utils.data.DataLoader(_DictRows(data), batch_size=32),
        "labelled loader": torch.utils.data.DataLoader(_DictRows(data, np.zeros(96)), batch_size=16),
        "dataset": _DictRows(data),
        "pydataset": Batches(),
        "generator": ({k: v[i:i + 32] for k, v in data.items()} for i in range(0, 96, 32)),
    }
    reference = None
    for name, source in sources.items():
        fs = FeatureSpace(spec)
        fs.adapt(source)
        out = fs(_pick(data, fs))
        if reference is None:
            reference = out
        assert_close(out, reference, atol=1e-5)
    norm = layers.Normalization()
    norm.adapt(data["price"].reshape(-1, 1))
    assert_close(reference[:, 5:6], norm(data["price"].reshape(-1, 1)), atol=1e-5)  # after city's 5 columns


# ---------------------------------------------------------------- functional API and the tutorial flow
def test_numeric_inputs_and_encoded_features_build_a_functional_model():
    data = _data()
    fs = FeatureSpace({"price": "float_normalized", "rooms": "integer_categorical",
                       "ratio": FeatureSpace.float_discretized(num_bins=4)}, crosses=[("rooms", "ratio")])
    fs.adapt(data)
    inputs, encoded = fs.get_inputs(), fs.get_encoded_features()
    assert sorted(inputs) == ["price", "ratio", "rooms"] and inputs["rooms"].dtype == "int32"
    assert tuple(encoded.shape) == (None, fs.output_dim)
    outputs = layers.Dense(1)(encoded)
    inference = kerasish.Model(inputs, outputs)
    training = kerasish.Model(encoded, outputs)
    raw = {"price": data["price"].reshape(-1, 1), "ratio": data["ratio"].reshape(-1, 1),
           "rooms": data["rooms"].reshape(-1, 1).astype("int32")}
    assert_close(inference(raw), training(fs(_pick(data, fs))), atol=1e-6)


def _heart_like(n, seed):
    rng = np.random.default_rng(seed)
    sex = rng.integers(0, 2, n)
    cp = rng.integers(0, 4, n)
    thal = rng.choice(["normal", "fixed", "reversible"], n)
    age = rng.uniform(30, 75, n).astype("float32")
    chol = rng.normal(240, 40, n).astype("float32")
    score = 1.2 * (cp >= 2) + 1.0 * (thal == "reversible") + 0.03 * (age - 50) + 0.01 * (chol - 240) - 0.8
    target = (score + rng.normal(0, 0.3, n) > 0).astype("float32")
    return {"sex": sex, "cp": cp, "thal": thal.tolist(), "age": age, "chol": chol}, target


def test_the_keras_io_tutorial_flow_adapt_map_and_fit():
    # keras-io "structured_data_classification_with_feature_space", on synthetic data.
    x, y = _heart_like(400, 0)
    fs = FeatureSpace(
        features={
            "sex": FeatureSpace.integer_categorical(num_oov_indices=0),
            "cp": FeatureSpace.integer_categorical(num_oov_indices=0),
            "thal": FeatureSpace.string_categorical(num_oov_indices=0),
            "age": FeatureSpace.float_discretized(num_bins=30),
            "chol": FeatureSpace.float_normalized(),
        },
        crosses=[FeatureSpace.cross(feature_names=("sex", "age"), crossing_dim=64),
                 FeatureSpace.cross(feature_names=("thal", "cp"), crossing_dim=16)],
        output_mode="concat",
    )
    train = torch.utils.data.DataLoader(_DictRows(x, y), batch_size=32, shuffle=False)
    fs.adapt(train.dataset)  # the features only, as the tutorial's train_ds.map(lambda x, _: x)
    preprocessed = [(fs(features), labels) for features, labels in train]  # train_ds.map(...)
    assert preprocessed[0][0].shape == (32, 2 + 4 + 3 + 30 + 1 + 64 + 16)
    encoded = kerasish.Input(shape=(fs.output_dim,))
    hidden = layers.Dense(32, activation="relu")(encoded)
    hidden = layers.Dropout(0.5)(hidden)
    model = kerasish.Model(encoded, layers.Dense(1, activation="sigmoid")(hidden))
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(preprocessed, epochs=15, verbose=0, shuffle=False)
    assert history.history["loss"][-1] < history.history["loss"][0] * 0.8
    x_val, y_val = _heart_like(200, 1)
    _, accuracy = model.evaluate(fs(x_val), y_val, verbose=0)
    assert accuracy > 0.75
    sample = {"sex": 1, "cp": 3, "thal": "reversible", "age": 60.0, "chol": 280.0}
    probability = model.predict(fs(sample)[None], verbose=0)
    assert probability.shape == (1, 1) and 0.0 <= float(probability[0, 0]) <= 1.0


# ---------------------------------------------------------------- config and files
def test_config_round_trips_through_json_and_keeps_vocabularies():
    data = _data()
    fs = FeatureSpace({"city": "string_categorical", "rooms": FeatureSpace.integer_categorical(max_tokens=4),
                       "tag": "string_hashed", "ratio": "float_discretized", "zip": "float"},
                      crosses=[("city", "rooms"), FeatureSpace.cross(("tag", "rooms"), 8, output_mode="one_hot")],
                      crossing_dim=12, hashing_dim=6, num_discretization_bins=5)
    fresh = json.loads(json.dumps(fs.get_config()))
    assert FeatureSpace.from_config(fresh).get_config() == fresh
    assert fresh["features"]["city"]["class_name"] == "Feature" and fresh["crosses"][0]["config"] == {
        "feature_names": ["city", "rooms"], "crossing_dim": 12, "output_mode": "one_hot"}
    fs.adapt(data)
    config = json.loads(json.dumps(fs.get_config()))
    again = FeatureSpace.from_config(config)
    assert json.loads(json.dumps(again.get_config())) == config
    # Vocabularies and bins travel in the config: no adapt needed.
    assert_close(again(_pick(data, again)), fs(_pick(data, fs)))


def test_save_and_load_keep_the_adapted_normalization(tmp_path):
    data = _data()
    fs = FeatureSpace({"price": "float_normalized", "city": "string_categorical"},
                      crosses=[("city", "city")], crossing_dim=4)
    fs.adapt(data)
    path = tmp_path / "space.json"
    fs.save(path)
    loaded = FeatureSpace.load(path)
    assert_close(loaded(_pick(data, loaded)), fs(_pick(data, fs)))
    from_config = FeatureSpace.from_config(fs.get_config())
    with pytest.raises(ValueError, match=r"call `\.adapt\(dataset\)`.*\['price'\] have not learned"):
        from_config(_pick(data, from_config))  # as in Keras, Normalization's statistics are state, not config


# ---------------------------------------------------------------- errors
def test_constructor_errors_say_what_and_how():
    with pytest.raises(ValueError, match=r"`features` argument cannot be None or empty"):
        FeatureSpace({})
    with pytest.raises(TypeError, match=r"must be a dict of feature name -> type; received list"):
        FeatureSpace(["a"])
    with pytest.raises(ValueError, match=r"Expected one of \{'dict', 'concat'\}\. Received: output_mode='stack'"):
        FeatureSpace({"a": "float"}, output_mode="stack")
    with pytest.raises(ValueError, match=r"Invalid feature type for feature 'a': 'floatt'\. Expected one of"):
        FeatureSpace({"a": "floatt"})
    with pytest.raises(ValueError, match=r"unknown features \['c'\] in the cross \('a', 'c'\)"):
        FeatureSpace({"a": "integer_categorical"}, crosses=[("a", "c")])
    with pytest.raises(ValueError, match=r"`crossing_dim` .* should be specified as well; received crossing_dim=None"):
        FeatureSpace({"a": "integer_categorical", "b": "integer_categorical"}, crosses=[("a", "b")], crossing_dim=None)
    with pytest.raises(ValueError, match=r"feature cross: expected one of \{'int', 'one_hot'\}"):
        FeatureSpace.cross(("a", "b"), 4, output_mode="float")
    with pytest.raises(ValueError, match=r"two or more features; received feature_names='ab'"):
        Cross("ab", 4)
    with pytest.raises(ValueError, match=r"crossing_dim, a positive int .* received crossing_dim=0"):
        Cross(("a", "b"), 0)
    with pytest.raises(ValueError, match=r"of a feature: expected one of \{'int', 'one_hot', 'float'\}"):
        FeatureSpace.feature("float32", layers.Identity(), "multi_hot")
    with pytest.raises(TypeError, match=r"preprocessor must be a layer .* received 3 of type int"):
        Feature("float32", 3, "float")
    with pytest.raises(ValueError, match=r"Expected a serialized Cross .* received \{'x': 1\}"):
        deserialize_spec({"x": 1}, Cross)
    with pytest.raises(ValueError, match=r"takes num_bins or bin_boundaries, not both"):
        FeatureSpace.float_discretized(num_bins=3, bin_boundaries=[0.5])


def test_encoding_errors_at_adapt_time():
    data = {"a": [0.0, 1.0], "b": [1, 2]}
    with pytest.raises(ValueError, match=r"Feature 'a' has `output_mode='one_hot'`\. Thus its preprocessor should "
                                         r"return an integer dtype\. Instead its Normalization returns floats"):
        FeatureSpace({"a": FeatureSpace.feature("float32", layers.Normalization(), "one_hot")}).adapt(data)
    with pytest.raises(ValueError, match=r"dimensionality of its output space is not known \(Lambda\).*"
                                         r"Try using `output_mode='int'`"):
        FeatureSpace({"b": FeatureSpace.feature("int32", layers.Lambda(lambda x: x), "one_hot")}).adapt(data)
    with pytest.raises(ValueError, match=r"Cannot concatenate features because feature 'b' has not been encoded "
                                         r"\(it has `output_mode='int'`\)\. Consider using `output_mode='dict'`"):
        FeatureSpace({"b": FeatureSpace.integer_categorical(output_mode="int")}).adapt(data)
    fs = FeatureSpace({"b": FeatureSpace.feature("int32", layers.IntegerLookup(vocabulary=[1, 2]), "float")})
    with pytest.raises(ValueError, match=r"feature 'b' has not been encoded \(it has dtype torch\.int64\)"):
        fs(_pick(data, fs))
    cross = FeatureSpace({"a": "float", "b": "float"}, crosses=[("a", "b")], output_mode="dict")
    cross.adapt(data)
    with pytest.raises(ValueError, match=r"must be integers or strings after preprocessing; one is float32"):
        cross(_pick(data, cross))


def test_call_and_adapt_errors_name_the_data_problem():
    data = {"a": [0.0, 1.0, 2.0], "c": ["x", "y", "x"]}
    fs = FeatureSpace({"a": "float_normalized", "c": "string_categorical"})
    with pytest.raises(ValueError, match=r"need to call `\.adapt\(dataset\)` on the FeatureSpace"):
        fs(_pick(data, fs))
    with pytest.raises(TypeError, match=r"can only be called on a dict of arrays/lists or an iterable of dict "
                                        r"batches .* Received: ndarray"):
        fs.adapt(np.zeros((3, 2)))
    with pytest.raises(TypeError, match=r"expects each batch to be a dict .* received a batch of type ndarray"):
        fs.adapt([np.zeros(3)])
    with pytest.raises(ValueError, match=r"adapt\(\) received data without the features \['c'\]; it has \['a'\]"):
        fs.adapt({"a": [1.0]})
    with pytest.raises(ValueError, match=r"received data with no batches"):
        fs.adapt([])
    with pytest.raises(ValueError, match=r"columns of different lengths: \{'a': 3, 'c': 2\}"):
        fs.adapt({"a": [0.0, 1.0, 2.0], "c": ["x", "y"]})
    with pytest.raises(TypeError, match=r"feature 'a' holds values of dtype complex128"):
        fs.adapt({"a": np.array([1j]), "c": ["x"]})
    fs.adapt(data)
    with pytest.raises(ValueError, match=r"A FeatureSpace can only be called with a dict\. Received: data=\[1\.0\]"):
        fs([1.0])
    with pytest.raises(ValueError, match=r"__call__\(\) received data without the features \['c'\]"):
        fs({"a": [1.0]})
    with pytest.raises(ValueError, match=r"received the keys \['label'\], which are not features .* the labels"):
        fs({"a": [1.0], "c": ["x"], "label": [0]})
    with pytest.raises(TypeError, match=r"feature 'a' is a float feature but received strings"):
        fs({"a": ["1.0"], "c": ["x"]})
    with pytest.raises(ValueError, match=r"cannot make symbolic inputs for the string features \['c'\].*"
                                         r"kerasish\.Input\(shape=\(feature_space\.output_dim,\)\)"):
        fs.get_encoded_features()
    as_dict = FeatureSpace({"a": "float"}, output_mode="dict")
    with pytest.raises(ValueError, match=r"output_dim is the width of the concatenated vector, but this "
                                         r"FeatureSpace has output_mode='dict'"):
        as_dict.output_dim
    with pytest.raises(ValueError, match=r"a list of two or more inputs; received Tensor"):
        HashedCross(4)(np.zeros((2, 1), dtype=np.int64))
    with pytest.raises(ValueError, match=r"must have one shape; received shapes \[\(1, 1\), \(2, 1\)\]"):
        HashedCross(4, name="ab")([np.zeros((2, 1), dtype=np.int64), np.zeros((1, 1), dtype=np.int64)])


def test_file_errors(tmp_path):
    fs = FeatureSpace({"a": "float"})
    with pytest.raises(ValueError, match=r"received filepath='.*space\.keras'; kerasish writes a FeatureSpace as "
                                         r"JSON, so the path must end in '\.json'"):
        fs.save(tmp_path / "space.keras")
    (tmp_path / "other.json").write_text('{"class_name": "Dense"}')
    with pytest.raises(ValueError, match=r"does not hold a FeatureSpace .* Pass a file written by"):
        FeatureSpace.load(tmp_path / "other.json")
