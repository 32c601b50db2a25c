"""Keras's guide "Introduction to Keras for engineers" (keras-io
`guides/intro_to_keras_for_engineers.py`, the Keras 3 text), run on kerasish.

Each test is one section of the guide, its code kept as written. The only changes are the imports
(`import kerasish as keras`) and the lines marked `# changed:`: Fashion-MNIST read from disk stands
in for the MNIST download (the same shapes and dtypes), sliced to a few hundred images and one or
two epochs so that a test takes seconds; files go to a temporary folder; the weights are copied
from Keras and `shuffle=False` is passed so that Keras 3 (torch backend, `tests/keras_parity.py`)
runs the same code from the same weights on the same batches; and the `tf.data` section uses a
`kerasish.utils.PyDataset` (TensorFlow is not here). What a user sees (shapes, `summary()` text,
History keys and values, the checkpoint files, saved and reloaded predictions) is compared with
what Keras gives.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish
from tests.keras_parity import assert_close, keras_module

# Keras 3's own NumPy 2 deprecation notice, printed on every conversion of its variables.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # both summaries at their default width, whatever the terminal


def _load_data(keras):
    """The guide's data section, on Fashion-MNIST (MNIST's shapes and dtypes, read offline)."""
    # Load the data and split it between train and test sets
    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()  # changed: no download
    x_train, y_train = x_train[:96], y_train[:96]  # changed: a slice, for speed
    x_test, y_test = x_test[:32], y_test[:32]  # changed: a slice, for speed

    # Scale images to the [0, 1] range
    x_train = x_train.astype("float32") / 255
    x_test = x_test.astype("float32") / 255
    # Make sure images have shape (28, 28, 1)
    x_train = np.expand_dims(x_train, -1)
    x_test = np.expand_dims(x_test, -1)
    print("x_train shape:", x_train.shape)
    print("y_train shape:", y_train.shape)
    print(x_train.shape[0], "train samples")
    print(x_test.shape[0], "test samples")
    return (x_train, y_train), (x_test, y_test)


@pytest.fixture
def mnist(fashion_dir, monkeypatch):
    monkeypatch.setenv("KERASISH_DATA_PATH", str(fashion_dir))
    return _load_data(kerasish)


def _fresh(lib):
    lib.backend.clear_session()  # names restart at 'conv2d', 'sequential' ... in both libraries
    return lib


def _summary(model):
    """The summary text (Keras's `print_fn` gets its console text with a final newline)."""
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines).rstrip("\n")


def _convnet(keras):
    # Model parameters
    num_classes = 10
    input_shape = (28, 28, 1)

    model = keras.Sequential(
        [
            keras.layers.Input(shape=input_shape),
            keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            keras.layers.MaxPooling2D(pool_size=(2, 2)),
            keras.layers.Conv2D(128, kernel_size=(3, 3), activation="relu"),
            keras.layers.Conv2D(128, kernel_size=(3, 3), activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(num_classes, activation="softmax"),
        ]
    )
    return model


def _compile(keras, model):
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(),
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="acc"),
        ],
    )


def test_the_data_section_prints_mnist_shapes(fashion_dir, monkeypatch, capsys):
    monkeypatch.setenv("KERASISH_DATA_PATH", str(fashion_dir))
    (x_train, y_train), (x_test, y_test) = _load_data(kerasish)
    out = capsys.readouterr().out.splitlines()
    assert out == ["x_train shape: (96, 28, 28, 1)", "y_train shape: (96,)", "96 train samples",
                   "32 test samples"]
    assert x_train.dtype == np.float32 and y_train.dtype == np.uint8  # as keras.datasets.mnist gives them
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0


def test_a_first_example_the_convnet_summary_is_keras_summary():
    k = keras_module()
    texts = {}
    for lib in (k, kerasish):
        model = _convnet(_fresh(lib))
        texts[lib] = (_summary(model), model.count_params())
    assert "Total params: 260,298" in texts[kerasish][0]  # 640 + 36,928 + 73,856 + 147,584 + 1,290
    assert texts[kerasish] == texts[k]


def _first_example(keras, mnist, weights):
    (x_train, y_train), (x_test, y_test) = mnist
    model = _convnet(_fresh(keras))
    model.set_weights(weights)  # changed: Keras's initial weights in both
    _compile(keras, model)

    batch_size = 128
    epochs = 3  # changed: 20 epochs, for speed

    callbacks = [
        keras.callbacks.ModelCheckpoint(filepath="model_at_epoch_{epoch}.keras"),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=2),
    ]

    history = model.fit(  # changed: the History kept, for the comparison
        x_train,
        y_train,
        batch_size=batch_size,
        epochs=epochs,
        validation_split=0.15,
        callbacks=callbacks,
        shuffle=False,  # changed: the same batches in both libraries
        verbose=0,  # changed: no progress bar in the test log
    )
    score = model.evaluate(x_test, y_test, verbose=0)
    model.save("final_model.keras")
    model = keras.saving.load_model("final_model.keras")
    predictions = model.predict(x_test, verbose=0)  # changed: verbose=0
    return history, score, predictions, model


def test_a_first_example_trains_checkpoints_saves_and_reloads_as_keras(mnist, tmp_path, monkeypatch):
    k = keras_module()
    (x_train, y_train), (x_test, y_test) = mnist
    monkeypatch.chdir(tmp_path)
    weights = _convnet(_fresh(k)).get_weights()
    history, score, predictions, model = _first_example(kerasish, mnist, weights)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["final_model.keras", "model_at_epoch_1.keras", "model_at_epoch_2.keras",
                     "model_at_epoch_3.keras"]
    assert list(history.history) == ["acc", "loss", "val_acc", "val_loss"]  # sorted, as Keras's History
    assert history.epoch == [0, 1, 2]
    assert predictions.shape == (32, 10)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-5)

    # Dropout draws differ between the libraries, so the training curves cannot be compared; what
    # kerasish trained and wrote can: Keras opens kerasish's files and gives the same numbers.
    theirs = k.saving.load_model("final_model.keras")
    _compile(k, theirs)
    np.testing.assert_allclose(theirs.evaluate(x_test, y_test, verbose=0), score, rtol=1e-4)
    assert_close(theirs.predict(x_test, verbose=0), predictions, atol=1e-5)
    epochs = [k.saving.load_model(f"model_at_epoch_{i}.keras") for i in (1, 2, 3)]
    steps = [int(m.optimizer.iterations.numpy()) for m in epochs]
    assert steps[0] > 0 and steps == [steps[0], 2 * steps[0], 3 * steps[0]]  # each checkpoint its epoch's state
    assert_close(epochs[2].get_weights(), theirs.get_weights())  # the last checkpoint is the final model
    assert len(model.get_weights()) == len(theirs.get_weights()) == 10
    assert_close(model.get_weights(), theirs.get_weights())  # kerasish reloads what it saved


class _Custom:
    """The guide's custom components, written against `keras` (either library)."""

    def __init__(self, keras):
        class MyDense(keras.layers.Layer):
            def __init__(self, units, activation=None, name=None):
                super().__init__(name=name)
                self.units = units
                self.activation = keras.activations.get(activation)

            def build(self, input_shape):
                input_dim = input_shape[-1]
                self.w = self.add_weight(
                    shape=(input_dim, self.units),
                    initializer=keras.initializers.GlorotNormal(),
                    name="kernel",
                    trainable=True,
                )

                self.b = self.add_weight(
                    shape=(self.units,),
                    initializer=keras.initializers.Zeros(),
                    name="bias",
                    trainable=True,
                )

            def call(self, inputs):
                # Use Keras ops to create backend-agnostic layers/metrics/etc.
                x = keras.ops.matmul(inputs, self.w) + self.b
                return self.activation(x)

        class MyDropout(keras.layers.Layer):
            def __init__(self, rate, name=None):
                super().__init__(name=name)
                self.rate = rate
                # Use seed_generator for managing RNG state.
                # It is a state element and its seed variable is
                # tracked as part of `layer.variables`.
                self.seed_generator = keras.random.SeedGenerator(1337)

            def call(self, inputs):
                # Use `keras.random` for random ops.
                return keras.random.dropout(inputs, self.rate, seed=self.seed_generator)

        class MyModel(keras.Model):
            def __init__(self, num_classes):
                super().__init__()
                self.conv_base = keras.Sequential(
                    [
                        keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
                        keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
                        keras.layers.MaxPooling2D(pool_size=(2, 2)),
                        keras.layers.Conv2D(128, kernel_size=(3, 3), activation="relu"),
                        keras.layers.Conv2D(128, kernel_size=(3, 3), activation="relu"),
                        keras.layers.GlobalAveragePooling2D(),
                    ]
                )
                self.dp = MyDropout(0.5)
                self.dense = MyDense(num_classes, activation="softmax")

            def call(self, x):
                x = self.conv_base(x)
                x = self.dp(x)
                return self.dense(x)

        self.MyDense, self.MyDropout, self.MyModel = MyDense, MyDropout, MyModel


def test_custom_dense_and_seeded_dropout_give_keras_numbers():
    k = keras_module()
    x = np.random.default_rng(0).normal(size=(4, 8)).astype("float32")  # changed: an input to look at
    outs = {}
    for lib in (k, kerasish):
        custom = _Custom(_fresh(lib))
        dense = custom.MyDense(3, activation="softmax")
        dense.build((None, 8))
        if lib is kerasish:
            dense.set_weights(outs[k][0].get_weights())
        dropout = custom.MyDropout(0.5)
        outs[lib] = (dense, dense(x), dropout(x), dropout(x))
    ours, theirs = outs[kerasish], outs[k]
    assert [w.name for w in ours[0].weights] == [w.name for w in theirs[0].weights] == ["kernel", "bias"]
    assert_close(ours[1], theirs[1])
    # A SeedGenerator(1337) gives Keras's dropout masks, draw after draw.
    assert_close(ours[2], theirs[2])
    assert_close(ours[3], theirs[3])
    assert not np.array_equal(ours[2].numpy(), ours[3].numpy())


def test_the_seed_generator_state_is_module_state_not_a_variable():
    k = keras_module()
    theirs = _Custom(_fresh(k)).MyDropout(0.5)
    ours = _Custom(_fresh(kerasish)).MyDropout(0.5)
    # The guide's comment: "its seed variable is tracked as part of `layer.variables`" (Keras: one int32
    # variable). kerasish keeps the state as a torch buffer instead (documented in
    # kerasish/random/seed_generator.py): saved with the layer's state_dict, outside `variables`.
    assert [tuple(v.shape) for v in theirs.variables] == [(2,)] and theirs.weights == []
    assert ours.variables == [] and ours.weights == []
    assert list(ours.state_dict()) == ["seed_generator.state"]
    ours(np.ones((2, 3), "float32"))
    assert ours.state_dict()["seed_generator.state"].tolist() == [1337, 1]  # tracked, and it moved


# fit's shape probe (`Model.ensure_built`) runs a model built by a direct call once more, so MyDropout's
# SeedGenerator is one draw ahead of Keras's (whose build draws nothing) and the masks differ.

def _custom_model(keras, x_train, weights=None):
    model = _Custom(_fresh(keras)).MyModel(num_classes=10)
    model(x_train[:2])  # changed: built by a first call (one dropout draw in both), to copy weights
    if weights is not None:
        model.set_weights(weights)  # changed: Keras's initial weights in both
    return model


def test_a_subclassed_model_of_custom_layers_fits_as_keras(mnist):
    k = keras_module()
    (x_train, y_train), (x_test, y_test) = mnist
    batch_size = 128
    histories = {}
    for lib in (k, kerasish):
        keras = lib
        model = _custom_model(keras, x_train, None if lib is k else histories[k][1])
        weights = model.get_weights()
        model.compile(
            loss=keras.losses.SparseCategoricalCrossentropy(),
            optimizer=keras.optimizers.Adam(learning_rate=1e-3),
            metrics=[
                keras.metrics.SparseCategoricalAccuracy(name="acc"),
            ],
        )

        history = model.fit(
            x_train,
            y_train,
            batch_size=batch_size,
            epochs=1,  # For speed
            validation_split=0.15,
            shuffle=False,  # changed: the same batches in both libraries
            verbose=0,  # changed: no progress bar in the test log
        )
        histories[lib] = (history, weights, model)
    ours, theirs = histories[kerasish][0].history, histories[k][0].history
    assert list(ours) == list(theirs) == ["acc", "loss", "val_acc", "val_loss"]
    for key in ours:  # the same seeded dropout masks, so the same numbers
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-4, atol=1e-6)
    assert len(histories[kerasish][2].weights) == len(histories[k][2].weights) == 10


def test_training_on_a_torch_dataloader_as_keras(mnist):
    k = keras_module()
    (x_train, y_train), (x_test, y_test) = mnist
    batch_size = 64  # changed: 128, so that the few images make several batches
    histories = {}
    for lib in (k, kerasish):
        keras = lib
        # Create a TensorDataset
        train_torch_dataset = torch.utils.data.TensorDataset(
            torch.from_numpy(x_train), torch.from_numpy(y_train)
        )
        val_torch_dataset = torch.utils.data.TensorDataset(
            torch.from_numpy(x_test), torch.from_numpy(y_test)
        )

        # Create a DataLoader
        train_dataloader = torch.utils.data.DataLoader(
            train_torch_dataset, batch_size=batch_size, shuffle=False  # changed: the same batches in both
        )
        val_dataloader = torch.utils.data.DataLoader(
            val_torch_dataset, batch_size=batch_size, shuffle=False
        )

        model = _custom_model(keras, x_train, None if lib is k else histories[k][1])  # changed: same weights
        weights = model.get_weights()
        model.compile(
            loss=keras.losses.SparseCategoricalCrossentropy(),
            optimizer=keras.optimizers.Adam(learning_rate=1e-3),
            metrics=[
                keras.metrics.SparseCategoricalAccuracy(name="acc"),
            ],
        )
        with pytest.warns(UserWarning, match="shuffle=True"):  # fit's default shuffle cannot reorder a loader
            history = model.fit(train_dataloader, epochs=1, validation_data=val_dataloader,
                                verbose=0)  # changed: History kept, no progress bar
        histories[lib] = (history, weights)
    ours, theirs = histories[kerasish][0].history, histories[k][0].history
    assert list(ours) == list(theirs) == ["acc", "loss", "val_acc", "val_loss"]
    for key in ours:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-4, atol=1e-6)


def test_training_on_a_pydataset_in_place_of_tf_data_as_keras(mnist):
    k = keras_module()
    (x_train, y_train), (x_test, y_test) = mnist
    batch_size = 64  # changed: 128, so that the few images make several batches

    def batches(keras):
        # changed: tf.data.Dataset.from_tensor_slices(...).batch(batch_size) -> a PyDataset of the same batches
        class Batches(keras.utils.PyDataset):
            def __init__(self, x, y, batch_size):
                super().__init__()
                self.x, self.y, self.batch_size = x, y, batch_size

            def __len__(self):
                return -(-len(self.x) // self.batch_size)

            def __getitem__(self, index):
                at = slice(index * self.batch_size, (index + 1) * self.batch_size)
                return self.x[at], self.y[at]

        return Batches(x_train, y_train, batch_size), Batches(x_test, y_test, batch_size)

    histories = {}
    for lib in (k, kerasish):
        keras = lib
        train_dataset, test_dataset = batches(keras)
        model = _custom_model(keras, x_train, None if lib is k else histories[k][1])  # changed: same weights
        weights = model.get_weights()
        model.compile(
            loss=keras.losses.SparseCategoricalCrossentropy(),
            optimizer=keras.optimizers.Adam(learning_rate=1e-3),
            metrics=[
                keras.metrics.SparseCategoricalAccuracy(name="acc"),
            ],
        )
        history = model.fit(train_dataset, epochs=1, validation_data=test_dataset,
                            shuffle=False,  # changed: tf.data keeps its batch order; fit shuffles a PyDataset's
                            verbose=0)  # changed: History kept, no progress bar
        histories[lib] = (history, weights)
    ours, theirs = histories[kerasish][0].history, histories[k][0].history
    assert list(ours) == list(theirs) == ["acc", "loss", "val_acc", "val_loss"]
    for key in ours:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-4, atol=1e-6)
