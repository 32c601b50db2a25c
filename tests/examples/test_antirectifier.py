"""keras-io's example "Simple custom layer example: Antirectifier" (`examples/keras_recipes/antirectifier.py`,
the Keras 3 text), run on kerasish.

The example's code is kept as written; the only changes are the imports (`import kerasish as keras`)
and the lines marked `# changed:`: Fashion-MNIST read from disk stands in for the MNIST download,
sliced to a few hundred images and two epochs; the Dropout rate is 0 for the comparison (the two
libraries draw different masks); Keras's initial weights are copied in and `shuffle=False` is
passed. Keras 3 (torch backend, `tests/keras_parity.py`) runs the same code. The custom layer's
`build` (`add_weight` with an initializer object), its `call` written with `keras.ops` (including an
in-place `inputs -= ...`) and its `get_config` are compared, then the History, printed lines and
test score of the model that stacks it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import kerasish
from tests.examples.printed_lines import text_and_numbers
from tests.keras_parity import assert_close, keras_module

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # both summaries at their default width, whatever the terminal


class _Example:
    """The example's layer and model, written against `keras` (either library)."""

    def __init__(self, keras):
        layers, ops = keras.layers, keras.ops
        keras.backend.clear_session()  # changed: names restart at 'dense' in both libraries

        class Antirectifier(layers.Layer):
            def __init__(self, initializer="he_normal", **kwargs):
                super().__init__(**kwargs)
                self.initializer = keras.initializers.get(initializer)

            def build(self, input_shape):
                output_dim = input_shape[-1]
                self.kernel = self.add_weight(
                    shape=(output_dim * 2, output_dim),
                    initializer=self.initializer,
                    name="kernel",
                    trainable=True,
                )

            def call(self, inputs):
                inputs -= ops.mean(inputs, axis=-1, keepdims=True)
                pos = ops.relu(inputs)
                neg = ops.relu(-inputs)
                concatenated = ops.concatenate([pos, neg], axis=-1)
                mixed = ops.matmul(concatenated, self.kernel)
                return mixed

            def get_config(self):
                # Implement get_config to enable serialization. This is optional.
                base_config = super().get_config()
                config = {"initializer": keras.initializers.serialize(self.initializer)}
                return dict(list(base_config.items()) + list(config.items()))

        self.keras, self.Antirectifier = keras, Antirectifier

    def model(self, rate=0.5):
        keras, layers, Antirectifier = self.keras, self.keras.layers, self.Antirectifier
        # Build the model
        model = keras.Sequential(
            [
                keras.Input(shape=(784,)),
                layers.Dense(256),
                Antirectifier(),
                layers.Dense(256),
                Antirectifier(),
                layers.Dropout(rate),  # changed: 0.5 -> `rate` (0 for the comparison)
                layers.Dense(10),
            ]
        )
        return model


def _the_data(fashion_dir, monkeypatch):
    monkeypatch.setenv("KERASISH_DATA_PATH", str(fashion_dir))  # changed: the files on disk
    # The data, split between train and test sets
    (x_train, y_train), (x_test, y_test) = kerasish.datasets.fashion_mnist.load_data()  # changed: offline
    x_train, y_train, x_test, y_test = x_train[:256], y_train[:256], x_test[:64], y_test[:64]  # changed: a slice

    x_train = x_train.reshape(-1, 784)
    x_test = x_test.reshape(-1, 784)
    x_train = x_train.astype("float32")
    x_test = x_test.astype("float32")
    x_train /= 255
    x_test /= 255
    print(x_train.shape[0], "train samples")
    print(x_test.shape[0], "test samples")
    return (x_train, y_train), (x_test, y_test)


def _summary(model):
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines).rstrip("\n")


def test_the_model_summary_is_keras_summary():
    k = keras_module()
    texts = {}
    for lib in (k, kerasish):
        model = _Example(lib).model()
        texts[lib] = (_summary(model), model.count_params())
    assert "antirectifier_1 (Antirectifier)" in texts[kerasish][0]
    assert "Total params: 531,466" in texts[kerasish][0]  # 200,960 + 131,072 + 65,792 + 131,072 + 2,570
    assert texts[kerasish] == texts[k]


def test_the_layer_builds_computes_and_configures_as_keras():
    k = keras_module()
    x = np.random.default_rng(0).normal(size=(5, 6)).astype("float32")
    layers = {lib: _Example(lib).Antirectifier(name="anti") for lib in (k, kerasish)}
    layers[k](x)
    kernel = layers[k].get_weights()[0]
    assert kernel.shape == (12, 6)
    layers[kerasish].build(x.shape)
    assert [w.shape for w in layers[kerasish].get_weights()] == [(12, 6)]
    layers[kerasish].set_weights([kernel])
    given = x.copy()
    assert_close(layers[kerasish](given), layers[k](x), atol=1e-6)
    # The in-place `inputs -= ...` works on the layer's own copy, in both libraries: the caller's
    # array is unchanged.
    np.testing.assert_array_equal(given, x)
    # get_config: the base config plus the serialized initializer, as Keras writes it.
    config = layers[kerasish].get_config()
    assert config == layers[k].get_config()
    assert config["initializer"]["class_name"] == "HeNormal"
    rebuilt = _Example(kerasish).Antirectifier.from_config(json.loads(json.dumps(config)))
    assert rebuilt.get_config() == config
    assert type(rebuilt.initializer).__name__ == "HeNormal"


def _train_and_test(keras, data, weights):
    (x_train, y_train), (x_test, y_test) = data
    # Training parameters
    batch_size = 128
    num_classes = 10  # noqa: F841 - the example defines it; its last Dense has 10 units
    epochs = 2  # changed: 20, for speed

    model = _Example(keras).model(rate=0.0)
    model.set_weights(weights)  # changed: Keras's initial weights in both

    # Compile the model
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=keras.optimizers.RMSprop(),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )

    # Train the model
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.15,
                        shuffle=False, verbose=2)  # changed: History kept, same batches, one line an epoch

    # Test the model
    score = model.evaluate(x_test, y_test, verbose=0)  # changed: kept, not printed
    return model, history, score


def test_the_model_trains_and_tests_as_keras(fashion_dir, monkeypatch, capsys):
    k = keras_module()
    data = _the_data(fashion_dir, monkeypatch)
    assert capsys.readouterr().out.splitlines() == ["256 train samples", "64 test samples"]
    weights = _Example(k).model().get_weights()
    runs, printed = {}, {}
    for lib in (k, kerasish):
        runs[lib] = _train_and_test(lib, data, weights)
        printed[lib] = text_and_numbers(capsys.readouterr().out.splitlines())
    (ours, h_ours, s_ours), (theirs, h_theirs, s_theirs) = runs[kerasish], runs[k]
    assert list(h_ours.history) == list(h_theirs.history) == [
        "loss", "sparse_categorical_accuracy", "val_loss", "val_sparse_categorical_accuracy"]
    for key in h_ours.history:
        np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(s_ours, s_theirs, rtol=1e-4, atol=1e-6)
    assert printed[kerasish][0] == printed[k][0]
    assert printed[kerasish][0][:2] == ["Epoch #/#", "#/# - <time> - <time>/step - loss: # - "
                                        "sparse_categorical_accuracy: # - val_loss: # - "
                                        "val_sparse_categorical_accuracy: #"]
    np.testing.assert_allclose(printed[kerasish][1], printed[k][1], rtol=1e-4, atol=1.5e-4)
    assert_close(ours.get_weights(), theirs.get_weights(), atol=1e-5, rtol=1e-4)


def test_the_example_dropout_trains_and_differs_from_no_dropout(fashion_dir, monkeypatch):
    # The example's own Dropout(0.5): masks differ from Keras's, so only its effect is checked.
    (x_train, y_train), _ = _the_data(fashion_dir, monkeypatch)
    losses = []
    for rate in (0.5, 0.0):
        kerasish.utils.set_random_seed(0)
        model = _Example(kerasish).model(rate=rate)
        model.compile(loss=kerasish.losses.SparseCategoricalCrossentropy(from_logits=True),
                      optimizer=kerasish.optimizers.RMSprop())
        losses.append(model.fit(x_train[:128], y_train[:128], batch_size=128, epochs=1, shuffle=False,
                                verbose=0).history["loss"][0])
    assert np.isfinite(losses).all() and losses[0] != losses[1]


@pytest.mark.parametrize("entry", ["call", "predict", "evaluate", "fit", "train_on_batch", "predict_on_batch"])
def test_the_in_place_centering_leaves_the_callers_arrays_alone(entry):
    # The layer's `inputs -= ...` runs on the model's input when Antirectifier comes first: Keras hands
    # every layer and step its own copy of the caller's NumPy array (and torch tensor); so does kerasish.
    k = keras_module()
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(8, 6)).astype("float32") + 1.0, rng.integers(0, 3, 8)
    arrays = {}
    for lib in (k, kerasish):
        model = lib.Sequential([lib.Input(shape=(6,)), _Example(lib).Antirectifier(), lib.layers.Dense(3)])
        model.compile(loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True), optimizer="sgd")
        given = x.copy()
        if entry == "call":
            model(given)
        elif entry in ("predict", "predict_on_batch"):
            getattr(model, entry)(given, **({"verbose": 0} if entry == "predict" else {}))
        elif entry == "fit":
            model.fit(given, y, batch_size=4, shuffle=False, verbose=0)
        else:
            getattr(model, entry)(given, y, **({"verbose": 0} if entry == "evaluate" else {}))
        arrays[lib] = given
    np.testing.assert_array_equal(arrays[k], x)
    np.testing.assert_array_equal(arrays[kerasish], x)
