"""keras-io's example "Structured data classification from scratch"
(`examples/structured_data/structured_data_classification_from_scratch.py`, its Keras 3 edition: lookups
in the data pipeline, `Normalization` in the model, a `Classifier` layer called on a dict), run on kerasish.

The example's code is kept as written; the only changes are the imports (`import kerasish as keras`) and
the lines marked `# changed:`: a seeded synthetic frame with heart.csv's 14 columns and dtypes (303 rows,
`thal` as strings) stands in for the download; 4 epochs; `plot_model` is left out; the Classifier's
`Dropout(0.5)` has rate 0 for the comparison (the libraries draw different masks). tf.data is replaced by
what kerasish offers: a torch `Dataset` of the frame's rows with the example's `encode_categorical` map
applied to each row once, when it is built (as `.map(...).cache()` would), and a `DataLoader` that batches
by 32 and reshuffles every epoch from a seeded generator (`.shuffle(buffer_size=len(dataframe))` then
`.batch(32)`); `dataset.map(lambda x, y: x[name])` and `tf.expand_dims` become a generator over the
batches and `torch.unsqueeze`; `tf.convert_to_tensor` is `keras.ops.convert_to_tensor`.

Keras 3 (torch backend, `tests/keras_parity.py`) runs the model and the training from the same initial
weights on the same batches, unshuffled for the comparison: both libraries take a first batch before
training to build the model, but Keras takes it from a pass of its own and trains epoch k on the loader's
pass k + 1, while kerasish replays it and trains epoch k on pass k, so one seeded shuffled loader gives
other batch orders in the two (reported, pinned below). Keras's lookup layers, and its `adapt` of an
iterable, need TensorFlow, which this oracle lacks: its batches are the ones kerasish's lookups encoded
(checked against the example's own one-hot function `get_cat_encoding`) and its Normalization layers
adapt on the same values as one array.

As written, `keras.Model(all_inputs, output)` is given the Normalization layers' OUTPUTS as the numeric
inputs: Keras cuts the graph there (with a warning that the dict keys are not the tensors' names), so the
numeric features reach the Classifier unnormalized, and x is read by the dict's keys. kerasish runs the
same cut graph, reads x by the keys and warns the same, and, as Keras, starts it at an input clone of
each Normalization output (`model.layers` and `get_weights()` hold no Normalization layer). The History,
the printed lines, the classifier's weights and the prediction are compared.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import kerasish
from tests.examples.printed_lines import text_and_numbers
from tests.keras_parity import assert_close, keras_module, to_numpy

pytestmark = [
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
    # fit's default shuffle=True meets a DataLoader: both libraries say they leave its order alone.
    pytest.mark.filterwarnings("ignore:`shuffle=True` was passed, but will be ignored"),
    pytest.mark.filterwarnings("ignore:fit\\(shuffle=True\\) is ignored for x of type DataLoader"),
]


def _heart_csv():  # changed: a seeded synthetic frame in place of pd.read_csv(file_url)
    rng = np.random.default_rng(0)
    n = 303
    target = rng.integers(0, 2, size=n)
    frame = pd.DataFrame({
        "age": rng.integers(29, 78, size=n),
        "sex": rng.integers(0, 2, size=n),
        "cp": np.where(target == 1, rng.integers(2, 5, size=n), rng.integers(0, 3, size=n)),
        "trestbps": rng.integers(94, 200, size=n),
        "chol": rng.integers(126, 564, size=n),
        "fbs": rng.integers(0, 2, size=n),
        "restecg": rng.integers(0, 3, size=n),
        "thalach": np.where(target == 1, rng.integers(71, 160, size=n), rng.integers(120, 203, size=n)),
        "exang": (rng.random(n) < np.where(target == 1, 0.6, 0.2)).astype(np.int64),
        "oldpeak": np.round(rng.gamma(1.2, 0.9, size=n) + 0.8 * target, 1),
        "slope": rng.integers(1, 4, size=n),
        "ca": rng.integers(0, 4, size=n),
        "thal": rng.choice(["fixed", "normal", "reversible", "1"], size=n, p=[0.1, 0.5, 0.38, 0.02]),
        "target": target,
    })
    return frame


dataframe = _heart_csv()

val_dataframe = dataframe.sample(frac=0.2, random_state=1337)
train_dataframe = dataframe.drop(val_dataframe.index)

COLUMN_NAMES = [
    "age",
    "sex",
    "cp",
    "trestbps",
    "chol",
    "fbs",
    "restecg",
    "thalach",
    "exang",
    "oldpeak",
    "slope",
    "ca",
    "thal",
    "target",
]
# Target feature name.
TARGET_FEATURE_NAME = "target"
# Numeric feature names.
NUMERIC_FEATURE_NAMES = ["age", "trestbps", "thalach", "oldpeak", "slope", "chol"]
# Categorical features and their vocabulary lists.
# Note that we add 'v=' as a prefix to all categorical feature values to make
# sure that they are treated as strings.

CATEGORICAL_FEATURES_WITH_VOCABULARY = {
    feature_name: sorted(
        [
            # Integer categorcal must be int and string must be str
            value if dataframe[feature_name].dtype == "int64" else str(value)
            for value in list(dataframe[feature_name].unique())
        ]
    )
    for feature_name in COLUMN_NAMES
    if feature_name not in list(NUMERIC_FEATURE_NAMES + [TARGET_FEATURE_NAME])
}
# All features names.
FEATURE_NAMES = NUMERIC_FEATURE_NAMES + list(
    CATEGORICAL_FEATURES_WITH_VOCABULARY.keys()
)

layers = kerasish.layers  # changed: `from keras import layers`; the data pipeline's lookups are kerasish's


# We process our datasets elements here (categorical) and convert them to indices to avoid this step
# during model training since only tensorflow support strings.
def encode_categorical(features, target):
    for feature_name in features:
        if feature_name in CATEGORICAL_FEATURES_WITH_VOCABULARY:
            lookup_class = (
                layers.StringLookup
                if isinstance(features[feature_name], str)  # changed: features[feature_name].dtype == "string"
                else layers.IntegerLookup
            )
            vocabulary = CATEGORICAL_FEATURES_WITH_VOCABULARY[feature_name]
            # Create a lookup to convert a string values to an integer indices.
            # Since we are not using a mask token nor expecting any out of vocabulary
            # (oov) token, we set mask_token to None and  num_oov_indices to 0.
            index = lookup_class(
                vocabulary=vocabulary,
                mask_token=None,
                num_oov_indices=0,
                output_mode="binary",
            )
            # Convert the string input values into integer indices.
            value_index = index(features[feature_name])
            features[feature_name] = value_index

        else:
            pass

    # Change features from OrderedDict to Dict to match Inputs as they are Dict.
    return dict(features), target


_ENCODED = {}  # the mapped rows of each frame, kept across the runs of this module (as `.cache()` keeps them)


class SliceDataset(torch.utils.data.Dataset):  # changed: tf.data.Dataset.from_tensor_slices(...).map(fn)
    """The rows of `(features, labels)` as samples, each passed through `fn` once."""

    def __init__(self, tensors, fn):
        features, labels = tensors
        key = (fn, tuple(labels.index))
        if key not in _ENCODED:
            columns = {name: np.asarray(column) for name, column in features.items()}
            values = np.asarray(labels)
            _ENCODED[key] = [fn({name: column[i] for name, column in columns.items()}, values[i])
                             for i in range(len(values))]
        self.samples = _ENCODED[key]

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        return self.samples[index]


def encode_numerical_feature(feature, name, dataset, keras):  # changed: keras passed in
    # Create a Normalization layer for our feature
    normalizer = keras.layers.Normalization()  # changed: layers.
    # Prepare a Dataset that only yields our feature
    feature_ds = (x[name] for x, y in dataset)  # changed: dataset.map(lambda x, y: x[name])
    feature_ds = (torch.unsqueeze(x, -1) for x in feature_ds)  # changed: .map(lambda x: tf.expand_dims(x, -1))
    if keras is not kerasish:  # changed: Keras 3 adapts an iterable only with TensorFlow installed
        feature_ds = torch.cat(list(feature_ds)).numpy()
    # Learn the statistics of the data
    normalizer.adapt(feature_ds)
    # Normalize the input feature
    encoded_feature = normalizer(feature)
    return encoded_feature


def dataframe_to_dataset(dataframe, shuffle=True):  # changed: shuffle passed in (see the docstring)
    dataframe = dataframe.copy()
    labels = dataframe.pop("target")
    ds = SliceDataset((dict(dataframe), labels), encode_categorical)  # changed: see SliceDataset
    ds = torch.utils.data.DataLoader(  # changed: ds.shuffle(buffer_size=len(dataframe)) and ds.batch(32)
        ds, batch_size=32, shuffle=shuffle, generator=torch.Generator().manual_seed(1337)
    )
    return ds


# Categorical features have different shapes after the encoding, dependent on the
# vocabulary or unique values of each feature. We create them accordinly to match the
# input data elements generated by tf.data.Dataset after pre-processing them
def create_model_inputs(keras, train_ds):  # changed: keras and train_ds passed in
    layers = keras.layers  # changed: the library's layers
    inputs = {}

    # This a helper function for creating categorical features
    def create_input_helper(feature_name):
        num_categories = len(CATEGORICAL_FEATURES_WITH_VOCABULARY[feature_name])
        inputs[feature_name] = layers.Input(
            name=feature_name, shape=(num_categories,), dtype="int64"
        )
        return inputs

    for feature_name in FEATURE_NAMES:
        if feature_name in CATEGORICAL_FEATURES_WITH_VOCABULARY:
            # Categorical features
            create_input_helper(feature_name)
        else:
            # Make them float32, they are Real numbers
            feature_input = layers.Input(name=feature_name, shape=(1,), dtype="float32")
            # Process the Inputs here
            inputs[feature_name] = encode_numerical_feature(
                feature_input, feature_name, train_ds, keras  # changed: keras
            )
    return inputs


def classifier_class(keras, rate=0.5):  # changed: the class is defined for the library passed in
    layers = keras.layers

    # This Layer defines the logic of the Model to perform the classification
    class Classifier(keras.layers.Layer):

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense_1 = layers.Dense(32, activation="relu")
            self.dropout = layers.Dropout(rate)  # changed: 0.5 -> rate (0 for the comparison)
            self.dense_2 = layers.Dense(1, activation="sigmoid")

        def call(self, inputs):
            all_features = layers.concatenate(list(inputs.values()))
            x = self.dense_1(all_features)
            x = self.dropout(x)
            output = self.dense_2(x)
            return output

        # Surpress build warnings
        def build(self, input_shape):
            self.built = True

    return Classifier


# Create the Classifier model
def create_model(keras, train_ds, rate=0.5):  # changed: keras, train_ds and the rate passed in
    keras.backend.clear_session()  # changed: names restart in both libraries
    all_inputs = create_model_inputs(keras, train_ds)
    output = classifier_class(keras, rate)()(all_inputs)
    model = keras.Model(all_inputs, output)
    return model


sample = {
    "age": 60,
    "sex": 1,
    "cp": 1,
    "trestbps": 145,
    "chol": 233,
    "fbs": 1,
    "restecg": 2,
    "thalach": 150,
    "exang": 0,
    "oldpeak": 2.3,
    "slope": 3,
    "ca": 0,
    "thal": "fixed",
}


# Given the category (in the sample above - key) and the category value (in the sample above - value),
# we return its one-hot encoding
def get_cat_encoding(cat, cat_value):
    # Create a list of zeros with the same length as categories
    encoding = [0] * len(cat)
    # Find the index of category_value in categories and set the corresponding position to 1
    if cat_value in cat:
        encoding[cat.index(cat_value)] = 1
    return encoding


def _run(keras, classifier_weights, rate=0.0):
    train_ds = dataframe_to_dataset(train_dataframe, shuffle=False)  # changed: shuffle=False (see the docstring)
    val_ds = dataframe_to_dataset(val_dataframe, shuffle=False)  # changed: shuffle=False
    for x, y in itertools.islice(train_ds, 1):  # changed: train_ds.take(1) (here a batch: see SliceDataset)
        print("Input:", {name: tuple(value.shape) for name, value in x.items()})  # changed: shapes
        print("Target:", y.shape)
    with warnings.catch_warnings(record=True) as caught:  # changed: the warnings are compared
        warnings.simplefilter("always")
        model = create_model(keras, train_ds, rate)
    model.layers[-1].set_weights(classifier_weights)  # changed: Keras's initial weights in both
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(train_ds, epochs=4, validation_data=val_ds, verbose=2)  # changed: 50, verbose=2

    example = dict(sample)  # changed: a copy, as the example runs once per library here
    for name, value in example.items():
        if name in CATEGORICAL_FEATURES_WITH_VOCABULARY:
            example.update(
                {
                    name: get_cat_encoding(
                        CATEGORICAL_FEATURES_WITH_VOCABULARY[name], example[name]
                    )
                }
            )
    # Convert inputs to tensors
    input_dict = {name: keras.ops.convert_to_tensor([value]) for name, value in example.items()}  # changed: tf.
    predictions = model.predict(input_dict, verbose=0)  # changed: verbose=0

    print(
        f"This particular patient had a {100 * predictions[0][0]:.1f} "
        "percent probability of having a heart disease, "
        "as evaluated by our model."
    )
    return model, history, predictions, [str(w.message) for w in caught if "inputs" in str(w.message)]


def test_the_lookups_encode_each_row_as_the_examples_own_one_hot_function():
    assert sorted(CATEGORICAL_FEATURES_WITH_VOCABULARY) == ["ca", "cp", "exang", "fbs", "restecg", "sex", "thal"]
    assert CATEGORICAL_FEATURES_WITH_VOCABULARY["thal"] == ["1", "fixed", "normal", "reversible"]
    assert CATEGORICAL_FEATURES_WITH_VOCABULARY["cp"] == [0, 1, 2, 3, 4]
    assert (len(train_dataframe), len(val_dataframe)) == (242, 61)
    dataset = dataframe_to_dataset(train_dataframe).dataset
    for i, (_, row) in enumerate(train_dataframe.iterrows()):
        features, target = dataset[i]
        assert target == row["target"]
        for name, vocabulary in CATEGORICAL_FEATURES_WITH_VOCABULARY.items():
            expected = get_cat_encoding(vocabulary, row[name] if name == "thal" else int(row[name]))
            assert features[name].tolist() == expected, (i, name)
        assert [features[name] for name in NUMERIC_FEATURE_NAMES] == [row[name] for name in NUMERIC_FEATURE_NAMES]
    batch, labels = next(iter(dataframe_to_dataset(train_dataframe)))
    assert batch["thal"].shape == (32, 4) and batch["thal"].dtype == torch.float32 and labels.shape == (32,)
    assert torch.equal(batch["thal"].sum(axis=1), torch.ones(32))


def test_the_normalization_layers_adapt_on_the_batches_as_on_one_array():
    train_ds = dataframe_to_dataset(train_dataframe)
    for name in NUMERIC_FEATURE_NAMES:
        encoded = encode_numerical_feature(kerasish.Input(shape=(1,), name=name), name, train_ds, kerasish)
        normalizer = encoded.node.layer
        values = train_dataframe[name].to_numpy(dtype=np.float64)
        np.testing.assert_allclose(normalizer.mean.numpy().ravel(), [values.mean()], rtol=1e-6)
        np.testing.assert_allclose(normalizer.variance.numpy().ravel(), [values.var()], rtol=1e-5)


def test_train_and_predict_as_keras(capsys):
    k = keras_module()
    k.utils.set_random_seed(0)  # initial weights that train: other draws saturate on the raw numeric inputs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the dict-key warnings, compared below
        classifier = create_model(k, dataframe_to_dataset(train_dataframe)).layers[-1]
    weights = classifier.get_weights()
    assert [w.shape for w in weights] == [(6 + 2 + 5 + 2 + 3 + 2 + 4 + 4, 32), (32,), (32, 1), (1,)]
    capsys.readouterr()
    runs = {}
    for lib in (k, kerasish):
        runs[lib] = _run(lib, weights) + (text_and_numbers(capsys.readouterr().out.splitlines()),)
    ours, theirs = runs[kerasish], runs[k]
    h_ours, h_theirs = ours[1], theirs[1]
    assert list(h_ours.history) == list(h_theirs.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert h_ours.epoch == h_theirs.epoch == [0, 1, 2, 3]
    assert h_ours.history["loss"][-1] < 0.75 * h_ours.history["loss"][0]  # it trains (not stuck saturated)
    for key in h_ours.history:
        np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=1e-4, atol=1e-6)
    assert_close(ours[0].layers[-1].get_weights(), theirs[0].layers[-1].get_weights(), atol=1e-5, rtol=1e-4)
    assert_close(ours[2], theirs[2], atol=1e-5, rtol=1e-4)
    # Keras's warning for each numeric input (its key is not the Normalization output's name), in both.
    assert len(ours[3]) == len(theirs[3]) == 6
    assert all(m.startswith("When providing `inputs` as a dict, all keys in the dict must match") for m in ours[3])
    (text_ours, numbers_ours), (text_theirs, numbers_theirs) = ours[4], theirs[4]
    assert text_ours == text_theirs
    assert text_ours[-1] == ("This particular patient had a # percent probability of having a heart disease, "
                             "as evaluated by our model.")
    np.testing.assert_allclose(numbers_ours, numbers_theirs, rtol=1e-4, atol=1e-3)


def test_the_model_reads_the_numeric_features_unnormalized_as_keras_does():
    # The Normalization outputs are the model's inputs: the graph is cut there in both libraries.
    k = keras_module()
    train_ds = dataframe_to_dataset(train_dataframe)
    x, _ = next(iter(train_ds))
    outputs, weights, layers = {}, None, {}
    for lib in (k, kerasish):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = create_model(lib, train_ds, rate=0.0)
        weights = weights or model.layers[-1].get_weights()
        model.layers[-1].set_weights(weights)
        # The Classifier called on the raw features, in the inputs' order: what the model computes.
        raw = {name: x[name].to(torch.float32).reshape(len(x[name]), -1) for name in FEATURE_NAMES}
        normalized = dict(raw, chol=(raw["chol"] - raw["chol"].mean()) / raw["chol"].std())
        outputs[lib] = [to_numpy(out) for out in (model.predict(x, verbose=0), model.layers[-1](raw),
                                                  model.layers[-1](normalized))]
        layers[lib] = ([type(layer).__name__ for layer in model.layers], len(model.get_weights()))
    assert_close(outputs[kerasish], outputs[k], atol=1e-6, rtol=1e-5)
    assert_close(outputs[kerasish][0], outputs[kerasish][1], atol=1e-6, rtol=1e-5)
    assert np.abs(outputs[kerasish][0] - outputs[kerasish][2]).max() > 1e-3  # the probe can tell
    # Both start the graph at an InputLayer clone of each Normalization output: the same layers and weights.
    assert layers[kerasish] == layers[k]
    assert "Normalization" not in layers[kerasish][0] and layers[kerasish][0].count("InputLayer") == 13


def test_the_keys_of_a_dict_of_inputs_name_the_data_as_in_keras():
    k = keras_module()
    results = {}
    for lib in (k, kerasish):
        a, b = lib.Input((1,), name="x"), lib.Input((1,), name="y")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = lib.Model({"b": a, "a": b}, lib.layers.Concatenate()([a, b]))
        out = model.predict({"b": np.array([[1.0]]), "a": np.array([[2.0]])}, verbose=0)
        results[lib] = (out, [str(w.message).split(" mapping")[0] for w in caught])
    assert_close(results[kerasish][0], results[k][0])
    assert results[kerasish][0].tolist() == [[1.0, 2.0]]
    assert results[kerasish][1] == results[k][1] == [
        "When providing `inputs` as a dict, all keys in the dict must match the names of the corresponding "
        f"tensors. Received key {key!r}" for key in ("b", "a")]
    with pytest.raises(ValueError, match=r"expects inputs named \['b', 'a'\]; missing \['b', 'a'\]"):
        model.predict({"x": np.array([[1.0]]), "y": np.array([[2.0]])}, verbose=0)


def test_a_layer_called_on_a_dict_of_keras_tensors_gets_a_dict():
    Classifier = classifier_class(kerasish, rate=0.0)
    inputs = {"b": kerasish.Input((2,), name="b"), "a": kerasish.Input((3,), name="a")}
    output = Classifier()(inputs)
    assert output.shape == (None, 1)
    model = kerasish.Model(inputs, output)
    x = {"b": np.ones((4, 2), "float32"), "a": np.zeros((4, 3), "float32")}
    dense_1 = model.layers[-1].dense_1
    assert dense_1.kernel.shape == (5, 32)
    # The dict reaches `call` in its own key order: b's two columns meet the kernel's first two rows.
    expected = np.maximum(np.ones((4, 2)) @ dense_1.kernel.detach().numpy()[:2] + dense_1.bias.detach().numpy(), 0)
    hidden = kerasish.Model(inputs, dense_1(kerasish.layers.concatenate(list(inputs.values()))))
    assert_close(hidden.predict(x, verbose=0), expected, atol=1e-5)
    assert model.predict(x, verbose=0).shape == (4, 1)


class _Logged(torch.utils.data.Dataset):
    def __init__(self, n):
        self.n, self.read = n, []

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.read.append(i)
        return np.array([float(i)], "float32"), np.array([1.0], "float32")


def test_a_shuffled_loaders_passes_are_read_one_pass_apart_from_keras():
    # Reported difference: Keras builds from a first batch of a pass it then drops; kerasish keeps
    # that batch and trains on the rest of the same pass (one-shot generators lose nothing). So
    # Keras's first epoch reads the order kerasish's second epoch reads.
    k = keras_module()
    reference = torch.utils.data.DataLoader(_Logged(8), batch_size=4, shuffle=True,
                                            generator=torch.Generator().manual_seed(3))
    list(reference)
    first_pass = list(reference.dataset.read)
    read = {}
    for lib in (k, kerasish):
        for epochs in (1, 2):
            data = _Logged(8)
            loader = torch.utils.data.DataLoader(data, batch_size=4, shuffle=True,
                                                 generator=torch.Generator().manual_seed(3))
            model = lib.Sequential([lib.Input((1,)), lib.layers.Dense(1)])
            model.compile("sgd", "mse")
            model.fit(loader, epochs=epochs, verbose=0)
            read[lib, epochs] = data.read
    assert read[kerasish, 1] == first_pass  # the peeked batch, then the rest of its pass
    assert read[k, 1][:4] == first_pass[:4] and len(read[k, 1]) == 12  # the peeked batch, then a new pass
    assert read[k, 1][4:] == read[kerasish, 2][8:] != first_pass
    assert read[k, 2][4:12] == read[kerasish, 2][8:]
