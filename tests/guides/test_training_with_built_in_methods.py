"""Keras's guide "Training & evaluation with the built-in methods" (keras-io
`guides/training_with_built_in_methods.py`, the Keras 3 text: `import keras`, `from keras import
layers, ops`), run on kerasish.

Each test is one section of the guide, its code kept as written. The only changes are the imports
(`import kerasish as keras`, `from kerasish import layers, ops`) and the lines marked `# changed:`:
synthetic arrays of MNIST's shapes (and fewer of them) stand in for the download, `tf.data`
pipelines become torch DataLoaders (there is no `tf.data` here; the guide's own DataLoader section
shows the same thing), weights are set from a seeded generator and `shuffle=False` is passed so that
Keras 3 (torch backend, `tests/keras_parity.py`) can run the same code from the same weights, and
epochs are fewer. History keys and values, evaluate's results, printed callback lines and files on
disk are compared with Keras's.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import kerasish
from tests.keras_parity import keras_module

# Keras 3's own NumPy 2 deprecation notice, printed on every conversion of its variables.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


def _libs(lib):
    return lib, lib.layers, lib.ops


def _data():
    rng = np.random.default_rng(0)  # changed: synthetic arrays of MNIST's shapes (no download here)
    x_train = rng.random((256, 784)).astype("float32")
    y_train = rng.integers(0, 10, 256).astype("float32")
    x_val = rng.random((64, 784)).astype("float32")
    y_val = rng.integers(0, 10, 64).astype("float32")
    x_test = rng.random((128, 784)).astype("float32")
    y_test = rng.integers(0, 10, 128).astype("float32")
    return x_train, y_train, x_val, y_val, x_test, y_test


def _seeded(model):
    rng = np.random.default_rng(1)  # changed: the same weights in both libraries
    model.set_weights([rng.normal(size=w.shape).astype("float32") * 0.05 for w in model.get_weights()])
    return model


def get_uncompiled_model(lib):
    keras, layers, _ = _libs(lib)
    inputs = keras.Input(shape=(784,), name="digits")
    x = layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x = layers.Dense(64, activation="relu", name="dense_2")(x)
    outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    return _seeded(model)  # changed: seeded weights


def get_compiled_model(lib):
    model = get_uncompiled_model(lib)
    model.compile(
        optimizer="rmsprop",
        loss="sparse_categorical_crossentropy",
        metrics=["sparse_categorical_accuracy"],
    )
    return model


def _assert_same_history(ours, theirs, rtol=1e-4):
    assert list(ours.history) == list(theirs.history)  # Keras's key order (sorted), too
    for key, values in ours.history.items():
        np.testing.assert_allclose(values, theirs.history[key], rtol=rtol, atol=1e-6, err_msg=key)


def _both(section):
    """Runs one section in kerasish and in Keras 3; returns both results."""
    k = keras_module()
    return section(kerasish), section(k)


def _loader(*arrays, batch_size=64):
    # changed: a torch DataLoader where the guide builds a tf.data.Dataset
    dataset = torch.utils.data.TensorDataset(*[torch.as_tensor(a) for a in arrays])
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)


# ------------------------------------------------------------------ API overview
def test_api_overview_fit_evaluate_predict():
    def section(lib):
        keras = lib
        x_train, y_train, x_val, y_val, x_test, y_test = _data()
        model = get_uncompiled_model(lib)
        model.compile(
            optimizer=keras.optimizers.RMSprop(),  # Optimizer
            # Loss function to minimize
            loss=keras.losses.SparseCategoricalCrossentropy(),
            # List of metrics to monitor
            metrics=[keras.metrics.SparseCategoricalAccuracy()],
        )
        history = model.fit(
            x_train,
            y_train,
            batch_size=64,
            epochs=2,
            # We pass some validation for
            # monitoring validation loss and metrics
            # at the end of each epoch
            validation_data=(x_val, y_val),
            shuffle=False,  # changed: the same batches in both libraries
            verbose=0,  # changed: no progress bar in the test log
        )
        results = model.evaluate(x_test, y_test, batch_size=128, verbose=0)
        predictions = model.predict(x_test[:3], verbose=0)
        return history, results, predictions

    (history, results, predictions), (theirs, their_results, their_predictions) = _both(section)
    assert list(history.history) == ["loss", "sparse_categorical_accuracy", "val_loss",
                                     "val_sparse_categorical_accuracy"]
    _assert_same_history(history, theirs)
    np.testing.assert_allclose(results, their_results, rtol=1e-4)
    assert isinstance(predictions, np.ndarray) and predictions.shape == their_predictions.shape == (3, 10)
    np.testing.assert_allclose(predictions, their_predictions, rtol=1e-4, atol=1e-6)


def test_compile_with_string_identifiers():
    def section(lib):
        x_train, y_train = _data()[:2]
        model = get_compiled_model(lib)
        return model.fit(x_train, y_train, batch_size=64, epochs=1, shuffle=False, verbose=0)  # changed: shuffle

    ours, theirs = _both(section)
    _assert_same_history(ours, theirs)


# ------------------------------------------------------------------ custom losses and metrics
def test_custom_loss_function():
    def section(lib):
        keras, _, ops = _libs(lib)
        x_train, y_train = _data()[:2]

        def custom_mean_squared_error(y_true, y_pred):
            return ops.mean(ops.square(y_true - y_pred), axis=-1)

        model = get_uncompiled_model(lib)
        model.compile(optimizer=keras.optimizers.Adam(), loss=custom_mean_squared_error)

        # We need to one-hot encode the labels to use MSE
        y_train_one_hot = ops.one_hot(y_train, num_classes=10)
        return model.fit(x_train, y_train_one_hot, batch_size=64, epochs=1, shuffle=False, verbose=0)  # changed

    ours, theirs = _both(section)
    _assert_same_history(ours, theirs)


def test_custom_loss_subclass():
    def section(lib):
        keras, _, ops = _libs(lib)
        x_train, y_train = _data()[:2]

        class CustomMSE(keras.losses.Loss):
            def __init__(self, regularization_factor=0.1, name="custom_mse"):
                super().__init__(name=name)
                self.regularization_factor = regularization_factor

            def call(self, y_true, y_pred):
                mse = ops.mean(ops.square(y_true - y_pred), axis=-1)
                reg = ops.mean(ops.square(0.5 - y_pred), axis=-1)
                return mse + reg * self.regularization_factor

        model = get_uncompiled_model(lib)
        model.compile(optimizer=keras.optimizers.Adam(), loss=CustomMSE())

        y_train_one_hot = ops.one_hot(y_train, num_classes=10)
        history = model.fit(x_train, y_train_one_hot, batch_size=64, epochs=1, shuffle=False, verbose=0)  # changed
        return history, CustomMSE().get_config()

    (ours, config), (theirs, their_config) = _both(section)
    _assert_same_history(ours, theirs)
    assert config["name"] == their_config["name"] == "custom_mse"
    assert config["reduction"] == their_config["reduction"]


def test_custom_metric_logs_in_keras_key_order():
    def section(lib):
        keras, _, ops = _libs(lib)
        x_train, y_train = _data()[:2]

        class CategoricalTruePositives(keras.metrics.Metric):
            def __init__(self, name="categorical_true_positives", **kwargs):
                super().__init__(name=name, **kwargs)
                self.true_positives = self.add_variable(
                    shape=(), name="ctp", initializer="zeros"
                )

            def update_state(self, y_true, y_pred, sample_weight=None):
                y_pred = ops.reshape(ops.argmax(y_pred, axis=1), (-1, 1))
                values = ops.cast(y_true, "int32") == ops.cast(y_pred, "int32")
                values = ops.cast(values, "float32")
                if sample_weight is not None:
                    sample_weight = ops.cast(sample_weight, "float32")
                    values = ops.multiply(values, sample_weight)
                self.true_positives.assign_add(ops.sum(values))

            def result(self):
                return self.true_positives

            def reset_state(self):
                # The state of the metric will be reset at the start of each epoch.
                self.true_positives.assign(0.0)

        model = get_uncompiled_model(lib)
        model.compile(
            optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=[CategoricalTruePositives()],
        )
        history = model.fit(x_train, y_train, batch_size=64, epochs=3, shuffle=False, verbose=0)  # changed
        return history, model.evaluate(x_train, y_train, verbose=0, return_dict=True), model.evaluate(
            x_train, y_train, verbose=0)

    (ours, ours_dict, ours_list), (theirs, their_dict, their_list) = _both(section)
    # Keras hands sorted logs to History and every hook: the metric comes before `loss`.
    assert list(ours.history) == ["categorical_true_positives", "loss"]
    _assert_same_history(ours, theirs)
    assert list(ours_dict) == list(their_dict) == ["categorical_true_positives", "loss"]
    np.testing.assert_allclose(ours_list, their_list, rtol=1e-4)  # the list keeps `loss` first, as Keras


def test_add_loss_from_a_layer():
    def section(lib):
        keras, layers, ops = _libs(lib)
        x_train, y_train = _data()[:2]

        class ActivityRegularizationLayer(layers.Layer):
            def call(self, inputs):
                self.add_loss(ops.sum(inputs) * 0.1)
                return inputs  # Pass-through layer.

        inputs = keras.Input(shape=(784,), name="digits")
        x = layers.Dense(64, activation="relu", name="dense_1")(inputs)

        # Insert activity regularization as a layer
        x = ActivityRegularizationLayer()(x)

        x = layers.Dense(64, activation="relu", name="dense_2")(x)
        outputs = layers.Dense(10, name="predictions")(x)

        model = _seeded(keras.Model(inputs=inputs, outputs=outputs))  # changed: seeded weights
        model.compile(
            optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )

        # The displayed loss will be much higher than before
        # due to the regularization component.
        return model.fit(x_train, y_train, batch_size=64, epochs=1, shuffle=False, verbose=0)  # changed

    ours, theirs = _both(section)
    assert ours.history["loss"][0] > 5  # the activity term dominates
    _assert_same_history(ours, theirs)


def test_logistic_endpoint_compiled_without_a_loss():
    def section(lib):
        keras, _, ops = _libs(lib)

        class LogisticEndpoint(keras.layers.Layer):
            def __init__(self, name=None):
                super().__init__(name=name)
                self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)

            def call(self, targets, logits, sample_weights=None):
                # Compute the training-time loss value and add it
                # to the layer using `self.add_loss()`.
                loss = self.loss_fn(targets, logits, sample_weights)
                self.add_loss(loss)

                # Return the inference-time prediction tensor (for `.predict()`).
                return ops.softmax(logits)

        inputs = keras.Input(shape=(3,), name="inputs")
        targets = keras.Input(shape=(10,), name="targets")
        logits = keras.layers.Dense(10)(inputs)
        predictions = LogisticEndpoint(name="predictions")(targets, logits)

        model = _seeded(keras.Model(inputs=[inputs, targets], outputs=predictions))  # changed: seeded weights
        model.compile(optimizer="adam")  # No loss argument!

        rng = np.random.default_rng(2)  # changed: the same random data in both libraries
        data = {
            "inputs": rng.random((3, 3)),
            "targets": rng.random((3, 10)),
        }
        return model.fit(data, verbose=0)  # changed: verbose=0

    ours, theirs = _both(section)
    assert list(ours.history) == ["loss"]
    _assert_same_history(ours, theirs)


def test_validation_split_holds_out_the_last_samples():
    def section(lib):
        x_train, y_train = _data()[:2]
        model = get_compiled_model(lib)
        return model.fit(x_train, y_train, batch_size=64, validation_split=0.2, epochs=1,
                         shuffle=False, verbose=0)  # changed: shuffle=False, verbose=0

    ours, theirs = _both(section)
    _assert_same_history(ours, theirs)


# ------------------------------------------------------------------ iterators: tf.data -> DataLoader
def test_datasets_fit_evaluate_and_steps_per_epoch():
    def section(lib):
        x_train, y_train, x_val, y_val, x_test, y_test = _data()
        model = get_compiled_model(lib)
        train_dataset = _loader(x_train, y_train)  # changed: DataLoader for tf.data
        test_dataset = _loader(x_test, y_test)  # changed: DataLoader for tf.data
        # Since the dataset already takes care of batching,
        # we don't pass a `batch_size` argument.
        history = model.fit(train_dataset, epochs=3, shuffle=False, verbose=0)  # changed: shuffle, verbose
        result = model.evaluate(test_dataset, verbose=0)  # changed: verbose
        names = dict(zip(model.metrics_names, result))

        model = get_compiled_model(lib)
        # Only use 3 batches per epoch (that's 64 * 3 samples)
        steps = model.fit(_loader(x_train, y_train), epochs=2, steps_per_epoch=3, shuffle=False, verbose=0)  # changed

        model = get_compiled_model(lib)
        validated = model.fit(_loader(x_train, y_train), epochs=1, validation_data=_loader(x_val, y_val),
                              validation_steps=1, shuffle=False, verbose=0)  # changed: DataLoaders, verbose
        return history, names, steps, validated

    (history, names, steps, validated), (theirs, their_names, their_steps, their_validated) = _both(section)
    _assert_same_history(history, theirs)
    assert list(names) == list(their_names) == ["loss", "compile_metrics"]
    np.testing.assert_allclose(list(names.values()), list(their_names.values()), rtol=1e-4)
    _assert_same_history(steps, their_steps)
    assert steps.params["steps"] == 3
    _assert_same_history(validated, their_validated)


def test_a_dataloader_with_shuffle_true_warns_as_keras():
    x_train, y_train = _data()[:2]
    model = get_compiled_model(kerasish)
    train_dataset = _loader(x_train, y_train)
    with pytest.warns(UserWarning, match=r"fit\(shuffle=True\) is ignored for x of type DataLoader.*shuffle=False"):
        model.fit(train_dataset, epochs=1, verbose=0)  # the guide's call: fit's shuffle defaults to True
    with pytest.raises(ValueError, match="validation_split is only supported for arrays/tensors.*validation_data"):
        model.fit(train_dataset, validation_split=0.2, shuffle=False, verbose=0)


def test_py_dataset_with_and_without_workers():
    def section(lib):
        keras = lib
        x_train, y_train, x_val, y_val = _data()[:4]

        class ExamplePyDataset(keras.utils.PyDataset):
            def __init__(self, x, y, batch_size, **kwargs):
                super().__init__(**kwargs)
                self.x = x
                self.y = y
                self.batch_size = batch_size

            def __len__(self):
                return int(np.ceil(len(self.x) / float(self.batch_size)))

            def __getitem__(self, idx):
                batch_x = self.x[idx * self.batch_size : (idx + 1) * self.batch_size]
                batch_y = self.y[idx * self.batch_size : (idx + 1) * self.batch_size]
                return batch_x, batch_y

        train_py_dataset = ExamplePyDataset(x_train, y_train, batch_size=32)
        val_py_dataset = ExamplePyDataset(x_val, y_val, batch_size=32)
        model = get_compiled_model(lib)
        history = model.fit(train_py_dataset, batch_size=64, validation_data=val_py_dataset, epochs=1,
                            shuffle=False, verbose=0)  # changed: shuffle=False, verbose=0
        evaluated = model.evaluate(val_py_dataset, verbose=0)  # changed: verbose

        train_py_dataset = ExamplePyDataset(x_train, y_train, batch_size=32, workers=4)
        val_py_dataset = ExamplePyDataset(x_val, y_val, batch_size=32, workers=4)
        model = get_compiled_model(lib)
        threaded = model.fit(train_py_dataset, batch_size=64, validation_data=val_py_dataset, epochs=1,
                             shuffle=False, verbose=0)  # changed: shuffle=False, verbose=0
        return history, evaluated, threaded, train_py_dataset.workers

    (history, evaluated, threaded, workers), (theirs, their_evaluated, _, their_workers) = _both(section)
    assert history.params["steps"] == 8  # the dataset's own batches of 32: batch_size=64 is not used
    _assert_same_history(history, theirs)
    np.testing.assert_allclose(evaluated, their_evaluated, rtol=1e-4)
    assert workers == their_workers == 4
    # Four threads compute the same batches in the same order: the same History as one thread.
    # (Keras 3.15's threaded run differs from its own single-thread run here, so it is not the oracle.)
    _assert_same_history(threaded, history, rtol=1e-6)


def test_torch_dataloader_section():
    def section(lib):
        x_train, y_train, x_val, y_val = _data()[:4]

        class ExampleTorchDataset(torch.utils.data.Dataset):
            def __init__(self, x, y):
                self.x = x
                self.y = y

            def __len__(self):
                return len(self.x)

            def __getitem__(self, idx):
                return self.x[idx], self.y[idx]

        train_torch_dataset = ExampleTorchDataset(x_train, y_train)
        val_torch_dataset = ExampleTorchDataset(x_val, y_val)
        train_dataloader = torch.utils.data.DataLoader(
            train_torch_dataset, batch_size=32, shuffle=False  # changed: shuffle=False (same batches)
        )
        val_dataloader = torch.utils.data.DataLoader(
            val_torch_dataset, batch_size=32, shuffle=False  # changed: shuffle=False (same batches)
        )
        model = get_compiled_model(lib)
        history = model.fit(train_dataloader, batch_size=64, validation_data=val_dataloader, epochs=1,
                            shuffle=False, verbose=0)  # changed: shuffle=False, verbose=0
        return history, model.evaluate(val_dataloader, verbose=0)  # changed: verbose

    (history, evaluated), (theirs, their_evaluated) = _both(section)
    _assert_same_history(history, theirs)
    np.testing.assert_allclose(evaluated, their_evaluated, rtol=1e-4)


# ------------------------------------------------------------------ sample and class weights
def test_class_weight_and_sample_weight():
    def section(lib):
        x_train, y_train = _data()[:2]
        class_weight = {
            0: 1.0, 1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0,
            # Set weight "2" for class "5",
            # making this class 2x more important
            5: 2.0,
            6: 1.0, 7: 1.0, 8: 1.0, 9: 1.0,
        }
        model = get_compiled_model(lib)
        by_class = model.fit(x_train, y_train, class_weight=class_weight, batch_size=64, epochs=1,
                             shuffle=False, verbose=0)  # changed: shuffle=False, verbose=0

        sample_weight = np.ones(shape=(len(y_train),))
        sample_weight[y_train == 5] = 2.0
        model = get_compiled_model(lib)
        by_sample = model.fit(x_train, y_train, sample_weight=sample_weight, batch_size=64, epochs=1,
                              shuffle=False, verbose=0)  # changed: shuffle=False, verbose=0

        # Create a Dataset that includes sample weights
        # (3rd element in the return tuple).
        train_dataset = _loader(x_train, y_train, sample_weight)  # changed: DataLoader for tf.data
        model = get_compiled_model(lib)
        by_dataset = model.fit(train_dataset, epochs=1, shuffle=False, verbose=0)  # changed: shuffle, verbose
        return by_class, by_sample, by_dataset

    ours, theirs = _both(section)
    for mine, keras_run in zip(ours, theirs):
        _assert_same_history(mine, keras_run)
    _assert_same_history(ours[0], ours[1], rtol=1e-5)  # the same weights, given two ways


# ------------------------------------------------------------------ several inputs and outputs
def _multi_io(lib):
    keras, layers, _ = _libs(lib)
    image_input = keras.Input(shape=(32, 32, 3), name="img_input")
    timeseries_input = keras.Input(shape=(None, 10), name="ts_input")

    x1 = layers.Conv2D(3, 3)(image_input)
    x1 = layers.GlobalMaxPooling2D()(x1)

    x2 = layers.Conv1D(3, 3)(timeseries_input)
    x2 = layers.GlobalMaxPooling1D()(x2)

    x = layers.concatenate([x1, x2])

    score_output = layers.Dense(1, name="score_output")(x)
    class_output = layers.Dense(5, name="class_output")(x)

    model = keras.Model(
        inputs=[image_input, timeseries_input], outputs=[score_output, class_output]
    )
    return _seeded(model)  # changed: seeded weights


def _multi_data():
    rng = np.random.default_rng(3)  # changed: the same dummy data in both libraries
    img_data = rng.random(size=(100, 32, 32, 3))
    ts_data = rng.random(size=(100, 20, 10))
    score_targets = rng.random(size=(100, 1))
    class_targets = rng.random(size=(100, 5))
    return img_data, ts_data, score_targets, class_targets


def test_multi_output_losses_metrics_and_loss_weights():
    def section(lib):
        keras = lib
        img_data, ts_data, score_targets, class_targets = _multi_data()
        model = _multi_io(lib)
        model.compile(
            optimizer=keras.optimizers.RMSprop(1e-3),
            loss=[keras.losses.MeanSquaredError(), keras.losses.CategoricalCrossentropy()],
            metrics=[
                [keras.metrics.MeanAbsolutePercentageError(), keras.metrics.MeanAbsoluteError()],
                [keras.metrics.CategoricalAccuracy()],
            ],
        )
        on_lists = model.fit([img_data, ts_data], [score_targets, class_targets], batch_size=32, epochs=1,
                             shuffle=False, verbose=0)  # changed: shuffle=False, verbose=0
        evaluated = model.evaluate([img_data, ts_data], [score_targets, class_targets], verbose=0)

        model = _multi_io(lib)
        model.compile(
            optimizer=keras.optimizers.RMSprop(1e-3),
            loss={
                "score_output": keras.losses.MeanSquaredError(),
                "class_output": keras.losses.CategoricalCrossentropy(),
            },
            metrics={
                "score_output": [
                    keras.metrics.MeanAbsolutePercentageError(),
                    keras.metrics.MeanAbsoluteError(),
                ],
                "class_output": [keras.metrics.CategoricalAccuracy()],
            },
            loss_weights={"score_output": 2.0, "class_output": 1.0},
        )
        on_dicts = model.fit(
            {"img_input": img_data, "ts_input": ts_data},
            {"score_output": score_targets, "class_output": class_targets},
            batch_size=32,
            epochs=1,
            shuffle=False,  # changed: the same batches in both libraries
            verbose=0,  # changed: no progress bar in the test log
        )
        return on_lists, evaluated, on_dicts

    (on_lists, evaluated, on_dicts), (their_lists, their_evaluated, their_dicts) = _both(section)
    assert list(on_lists.history)[:3] == ["class_output_categorical_accuracy", "class_output_loss", "loss"]
    _assert_same_history(on_lists, their_lists)
    # evaluate's list: loss and the per-output losses first, then the other results by name, as Keras.
    np.testing.assert_allclose(evaluated, their_evaluated, rtol=1e-4)
    _assert_same_history(on_dicts, their_dicts)


def test_outputs_without_a_loss():
    def section(lib):
        keras = lib
        img_data, ts_data, score_targets, class_targets = _multi_data()
        # List loss version
        model = _multi_io(lib)
        model.compile(
            optimizer=keras.optimizers.RMSprop(1e-3),
            loss=[None, keras.losses.CategoricalCrossentropy()],
        )
        return model.fit([img_data, ts_data], [score_targets, class_targets], batch_size=32, epochs=1,
                         shuffle=False, verbose=0)  # changed: shuffle=False, verbose=0

    ours, theirs = _both(section)
    assert list(ours.history) == ["loss"]  # one output with a loss: no `class_output_loss`, as Keras
    _assert_same_history(ours, theirs)

    # The guide's dict version, which names only the output to train. (Keras 3.15 refuses it,
    # asking for every output's key; kerasish runs the guide's code as written.)
    img_data, ts_data, score_targets, class_targets = _multi_data()
    model = _multi_io(kerasish)
    model.compile(
        optimizer=kerasish.optimizers.RMSprop(1e-3),
        loss={"class_output": kerasish.losses.CategoricalCrossentropy()},
    )
    by_name = model.fit([img_data, ts_data], [score_targets, class_targets], batch_size=32, epochs=1,
                        shuffle=False, verbose=0)  # changed: shuffle=False, verbose=0
    _assert_same_history(by_name, ours, rtol=1e-6)


def test_multi_output_dataset_of_dicts():
    def section(lib):
        keras = lib
        img_data, ts_data, score_targets, class_targets = _multi_data()
        model = _multi_io(lib)
        model.compile(
            optimizer=keras.optimizers.RMSprop(1e-3),
            loss=[keras.losses.MeanSquaredError(), keras.losses.CategoricalCrossentropy()],
        )

        class DictDataset(torch.utils.data.Dataset):  # changed: a Dataset of dicts for tf.data's
            def __len__(self):
                return len(img_data)

            def __getitem__(self, i):
                return ({"img_input": img_data[i], "ts_input": ts_data[i]},
                        {"score_output": score_targets[i], "class_output": class_targets[i]})

        train_dataset = torch.utils.data.DataLoader(DictDataset(), batch_size=64)  # changed: for tf.data
        return model.fit(train_dataset, epochs=1, shuffle=False, verbose=0)  # changed: shuffle, verbose

    ours, theirs = _both(section)
    assert list(ours.history) == ["class_output_loss", "loss", "score_output_loss"]
    _assert_same_history(ours, theirs)


# ------------------------------------------------------------------ callbacks
def test_early_stopping_callback(capsys):
    def section(lib):
        keras = lib
        x_train, y_train = _data()[:2]
        model = get_compiled_model(lib)
        callbacks = [
            keras.callbacks.EarlyStopping(
                # Stop training when `val_loss` is no longer improving
                monitor="val_loss",
                # "no longer improving" being defined as "no better than 1e-2 less"
                min_delta=1e-2,
                # "no longer improving" being further defined as "for at least 2 epochs"
                patience=2,
                verbose=1,
            )
        ]
        capsys.readouterr()
        history = model.fit(
            x_train,
            y_train,
            epochs=20,
            batch_size=64,
            callbacks=callbacks,
            validation_split=0.2,
            shuffle=False,  # changed: the same batches in both libraries
            verbose=0,  # changed: the callback's own line only
        )
        return history, capsys.readouterr().out

    (ours, printed), (theirs, their_printed) = _both(section)
    assert len(ours.epoch) < 20 and "early stopping" in printed
    assert printed == their_printed
    _assert_same_history(ours, theirs)


def test_writing_your_own_callback_on_batch_end():
    def section(lib):
        keras = lib
        x_train, y_train = _data()[:2]

        class LossHistory(keras.callbacks.Callback):
            def on_train_begin(self, logs):
                self.per_batch_losses = []

            def on_batch_end(self, batch, logs):
                self.per_batch_losses.append(logs.get("loss"))

        model = get_compiled_model(lib)
        history = LossHistory()
        model.fit(x_train, y_train, epochs=1, batch_size=64, callbacks=[history], shuffle=False,
                  verbose=0)  # changed: this callback used in a fit, with shuffle=False and verbose=0
        return history.per_batch_losses

    ours, theirs = _both(section)
    assert len(ours) == 4 and all(isinstance(v, float) for v in ours)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4)


# ------------------------------------------------------------------ checkpointing
def test_model_checkpoint_saves_the_best_model(tmp_path, monkeypatch, capsys):
    def section(lib):
        keras = lib
        folder = tmp_path / lib.__name__
        folder.mkdir()
        monkeypatch.chdir(folder)  # changed: a fresh folder per library
        x_train, y_train = _data()[:2]
        model = get_compiled_model(lib)
        callbacks = [
            keras.callbacks.ModelCheckpoint(
                # Path where to save the model
                # The two parameters below mean that we will overwrite
                # the current checkpoint if and only if
                # the `val_loss` score has improved.
                # The saved model name will include the current epoch.
                filepath="mymodel_{epoch}.keras",
                save_best_only=True,  # Only save a model if `val_loss` has improved.
                monitor="val_loss",
                verbose=1,
            )
        ]
        capsys.readouterr()
        model.fit(
            x_train,
            y_train,
            epochs=2,
            batch_size=64,
            callbacks=callbacks,
            validation_split=0.2,
            shuffle=False,  # changed: the same batches in both libraries
            verbose=0,  # changed: the callback's own lines only
        )
        return sorted(os.listdir(folder)), capsys.readouterr().out

    (files, printed), (their_files, their_printed) = _both(section)
    assert files == their_files and files[0] == "mymodel_1.keras"  # later epochs: only when val_loss improved
    # Keras 3's lines exactly: "improved from None" first, and "finished saving model" after each save.
    assert "Epoch 1: val_loss improved from None to " in printed
    assert printed.count("finished saving model to") == their_printed.count("finished saving model to") == len(files)
    ours_lines = [line.split(" improved from ")[-1].split(" to ")[-1] for line in printed.splitlines() if line]
    theirs_lines = [line.split(" improved from ")[-1].split(" to ")[-1] for line in their_printed.splitlines()
                    if line]
    assert ours_lines == theirs_lines  # the same values and file names


def test_make_or_restore_model_from_the_latest_checkpoint(tmp_path, monkeypatch, capsys):
    keras = kerasish
    monkeypatch.chdir(tmp_path)  # changed: the checkpoint folder goes under a temporary folder
    x_train, y_train, _, _, x_test, _ = _data()

    # Prepare a directory to store all the checkpoints.
    checkpoint_dir = "./ckpt"
    if not os.path.exists(checkpoint_dir):
        os.makedirs(checkpoint_dir)

    def make_or_restore_model():
        # Either restore the latest model, or create a fresh one
        # if there is no checkpoint available.
        checkpoints = [checkpoint_dir + "/" + name for name in os.listdir(checkpoint_dir)]
        if checkpoints:
            latest_checkpoint = max(checkpoints, key=os.path.getctime)
            print("Restoring from", latest_checkpoint)
            return keras.models.load_model(latest_checkpoint)
        print("Creating a new model")
        return get_compiled_model(kerasish)

    model = make_or_restore_model()
    callbacks = [
        # This callback saves the model every 100 batches.
        # We include the training loss in the saved model name.
        keras.callbacks.ModelCheckpoint(
            filepath=checkpoint_dir + "/model-loss={loss:.2f}.keras", save_freq=3  # changed: 3 (8 batches here)
        )
    ]
    history = model.fit(x_train, y_train, epochs=1, callbacks=callbacks, shuffle=False, verbose=0)  # changed
    saved = sorted(os.listdir(checkpoint_dir))
    assert saved and all(name.startswith("model-loss=") and name.endswith(".keras") for name in saved)
    restored = make_or_restore_model()
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "Creating a new model" and printed[1].startswith("Restoring from ./ckpt/model-loss=")
    assert type(restored.optimizer).__name__ == "RMSprop" and restored.optimizer.iterations == 6
    assert history.history["loss"][0] > 0
    # The latest checkpoint holds the weights after batch 6 (of 8): close to, not equal to, the final ones.
    assert np.abs(restored.predict(x_test[:4], verbose=0) - model.predict(x_test[:4], verbose=0)).max() < 0.05


# ------------------------------------------------------------------ schedules and TensorBoard
def test_learning_rate_schedule_passed_to_an_optimizer():
    def section(lib):
        keras = lib
        initial_learning_rate = 0.1
        lr_schedule = keras.optimizers.schedules.ExponentialDecay(
            initial_learning_rate, decay_steps=100000, decay_rate=0.96, staircase=True
        )

        optimizer = keras.optimizers.RMSprop(learning_rate=lr_schedule)
        return lr_schedule.get_config(), [float(lr_schedule(step)) for step in (0, 99999, 100000, 250000)], \
            optimizer.get_config()["learning_rate"]

    (config, values, in_optimizer), (their_config, their_values, their_in_optimizer) = _both(section)
    assert config == their_config
    np.testing.assert_allclose(values, their_values, rtol=1e-6)
    assert in_optimizer["class_name"] == their_in_optimizer["class_name"] == "ExponentialDecay"
    assert in_optimizer["config"] == their_in_optimizer["config"]


def test_tensorboard_callback_writes_epoch_logs(tmp_path):
    keras = kerasish
    x_train, y_train = _data()[:2]
    callback = keras.callbacks.TensorBoard(
        log_dir=str(tmp_path / "logs"),  # changed: a temporary folder
        histogram_freq=0,  # How often to log histogram visualizations
        embeddings_freq=0,  # How often to log embedding visualizations
        update_freq="epoch",
    )  # How often to write logs (default: once per epoch)
    model = get_compiled_model(kerasish)
    model.fit(x_train, y_train, epochs=1, callbacks=[callback], verbose=0)  # changed: the callback in a fit
    written = [name for _, _, names in os.walk(tmp_path / "logs") for name in names]
    assert any(name.startswith("events.out.tfevents") for name in written)
