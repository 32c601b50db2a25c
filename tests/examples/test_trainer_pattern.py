"""keras-io's example "Trainer pattern" (`examples/keras_recipes/trainer_pattern.py`, the Keras 3 text), run
on kerasish.

The example's code is kept as written; the only changes are the imports (`import kerasish as keras`)
and the lines marked `# changed:`: Fashion-MNIST read from disk stands in for the MNIST download,
sliced to a few hundred images and two epochs; the `tf.GradientTape` step is written the torch way
(Keras's guide "Customizing what happens in fit() with PyTorch": `zero_grad`, `backward`, the
gradients read from the variables); the Dropout rates are 0 for the comparison (the two libraries
draw different masks); the lazily built Sequential is built so that Keras's initial weights can be
copied in; `shuffle=False` is passed. Keras 3 (torch backend, `tests/keras_parity.py`) runs the same
code. `MyTrainer` wraps another model and overrides `train_step`, `test_step` and `metrics`: so the
logs hold its one metric (no loss), for training and validation, and both wrapped models (Sequential
and Functional) are compared through it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish
from tests.examples.printed_lines import text_and_numbers
from tests.keras_parity import assert_close, keras_module

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


class _Example:
    """The example's trainer and models, written against `keras` (either library)."""

    def __init__(self, keras, rates=(0.2, 0.4)):
        keras.backend.clear_session()  # changed: names restart at 'dense' in both libraries

        class MyTrainer(keras.Model):
            def __init__(self, model):
                super().__init__()
                self.model = model
                # Create loss and metrics here.
                self.loss_fn = keras.losses.SparseCategoricalCrossentropy()
                self.accuracy_metric = keras.metrics.SparseCategoricalAccuracy()

            @property
            def metrics(self):
                # List metrics here.
                return [self.accuracy_metric]

            def train_step(self, data):
                x, y = data
                self.zero_grad()  # changed: torch autograd in place of tf.GradientTape
                y_pred = self.model(x, training=True)  # Forward pass
                # Compute loss value
                loss = self.loss_fn(y, y_pred)
                loss.backward()  # changed: tape.gradient -> backward

                # Compute gradients
                trainable_vars = self.trainable_variables
                gradients = [v.value.grad for v in trainable_vars]  # changed: the torch way

                # Update weights
                with torch.no_grad():  # changed: the torch way
                    self.optimizer.apply_gradients(zip(gradients, trainable_vars))

                # Update metrics
                for metric in self.metrics:
                    metric.update_state(y, y_pred)

                # Return a dict mapping metric names to current value.
                return {m.name: m.result() for m in self.metrics}

            def test_step(self, data):
                x, y = data

                # Inference step
                y_pred = self.model(x, training=False)

                # Update metrics
                for metric in self.metrics:
                    metric.update_state(y, y_pred)
                return {m.name: m.result() for m in self.metrics}

            def call(self, x):
                # Equivalent to `call()` of the wrapped keras.Model
                x = self.model(x)
                return x

        # A model defined using Sequential API
        model_a = keras.models.Sequential(
            [
                keras.layers.Flatten(),
                keras.layers.Dense(256, activation="relu"),
                keras.layers.Dropout(rates[0]),  # changed: 0.2 -> rates[0] (0 for the comparison)
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
        model_a.build((None, 28, 28))  # changed: built now, so that Keras's initial weights can be copied in

        # A model defined using Functional API
        func_input = keras.Input(shape=(28, 28, 1))
        x = keras.layers.Flatten()(func_input)
        x = keras.layers.Dense(512, activation="relu")(x)
        x = keras.layers.Dropout(rates[1])(x)  # changed: 0.4 -> rates[1] (0 for the comparison)
        func_output = keras.layers.Dense(10, activation="softmax")(x)

        model_b = keras.Model(func_input, func_output)
        self.MyTrainer, self.model_a, self.model_b = MyTrainer, model_a, model_b


def _load(fashion_dir, monkeypatch):
    monkeypatch.setenv("KERASISH_DATA_PATH", str(fashion_dir))  # changed: the files on disk
    # Load MNIST dataset and standardize the data
    mnist = kerasish.datasets.fashion_mnist  # changed: offline
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    x_train, y_train, x_test, y_test = x_train[:256], y_train[:256], x_test[:64], y_test[:64]  # changed: a slice
    x_train, x_test = x_train / 255.0, x_test / 255.0
    return (x_train, y_train), (x_test, y_test)


def _fit(keras, data, weights):
    (x_train, y_train), (x_test, y_test) = data
    ex = _Example(keras, rates=(0.0, 0.0))
    ex.model_a.set_weights(weights[0])  # changed: Keras's initial weights in both
    ex.model_b.set_weights(weights[1])
    trainer_1 = ex.MyTrainer(ex.model_a)
    trainer_2 = ex.MyTrainer(ex.model_b)

    trainer_1.compile(optimizer=keras.optimizers.SGD())
    history_1 = trainer_1.fit(
        x_train, y_train, epochs=2, batch_size=64, validation_data=(x_test, y_test),
        shuffle=False, verbose=2,  # changed: 5 epochs; History kept, same batches, one line an epoch
    )

    trainer_2.compile(optimizer=keras.optimizers.Adam())
    history_2 = trainer_2.fit(
        x_train, y_train, epochs=2, batch_size=64, validation_data=(x_test, y_test),
        shuffle=False, verbose=2,  # changed: as above
    )
    scores = [trainer.evaluate(x_test, y_test, verbose=0) for trainer in (trainer_1, trainer_2)]  # changed: added
    return (trainer_1, trainer_2), (history_1, history_2), scores


def test_both_trainers_fit_as_keras(fashion_dir, monkeypatch, capsys):
    k = keras_module()
    data = _load(fashion_dir, monkeypatch)
    ex = _Example(k, rates=(0.0, 0.0))
    weights = (ex.model_a.get_weights(), ex.model_b.get_weights())
    capsys.readouterr()
    runs, printed = {}, {}
    for lib in (k, kerasish):
        runs[lib] = _fit(lib, data, weights)
        printed[lib] = text_and_numbers(capsys.readouterr().out.splitlines())
    (ours, h_ours, s_ours), (theirs, h_theirs, s_theirs) = runs[kerasish], runs[k]
    for mine, keras_h in zip(h_ours, h_theirs):
        # `metrics` lists the accuracy alone: no loss in the logs, for training and validation.
        assert list(mine.history) == list(keras_h.history) == ["sparse_categorical_accuracy",
                                                               "val_sparse_categorical_accuracy"]
        assert mine.epoch == [0, 1]
        for key in mine.history:
            np.testing.assert_allclose(mine.history[key], keras_h.history[key], rtol=1e-5, atol=1e-6)
    # One metric: evaluate returns a bare number, in both.
    assert all(isinstance(s, float) for s in s_ours)
    np.testing.assert_allclose(s_ours, s_theirs, rtol=1e-5, atol=1e-6)
    assert printed[kerasish][0] == printed[k][0]
    assert printed[kerasish][0][:2] == ["Epoch #/#", "#/# - <time> - <time>/step - sparse_categorical_accuracy: # - "
                                                     "val_sparse_categorical_accuracy: #"]
    np.testing.assert_allclose(printed[kerasish][1], printed[k][1], rtol=1e-4, atol=1.5e-4)
    for mine, keras_t in zip(ours, theirs):
        assert_close(mine.get_weights(), keras_t.get_weights(), atol=1e-5, rtol=1e-4)
        assert [m.name for m in mine.metrics] == [m.name for m in keras_t.metrics] == ["sparse_categorical_accuracy"]
        assert_close(mine.predict(data[1][0], verbose=0), keras_t.predict(data[1][0], verbose=0), atol=1e-5)


def test_the_trainer_shares_the_wrapped_model_weights():
    ex = _Example(kerasish)
    trainer = ex.MyTrainer(ex.model_b)
    # The trainer owns no weight of its own: its trainable variables are the wrapped model's, in order.
    assert [tuple(v.shape) for v in trainer.trainable_variables] == [tuple(v.shape) for v in ex.model_b.weights]
    assert all(a is b for a, b in zip(trainer.trainable_variables, ex.model_b.trainable_variables))


def test_the_example_dropout_trains_and_differs_from_no_dropout(fashion_dir, monkeypatch):
    # The example's own Dropout(0.2)/(0.4): masks differ from Keras's, so only its effect is checked.
    (x_train, y_train), _ = _load(fashion_dir, monkeypatch)
    accuracies = []
    for rates in ((0.2, 0.4), (0.0, 0.0)):
        kerasish.utils.set_random_seed(0)
        ex = _Example(kerasish, rates=rates)
        trainer = ex.MyTrainer(ex.model_b)
        trainer.compile(optimizer=kerasish.optimizers.Adam())
        trainer.fit(x_train, y_train, epochs=1, batch_size=64, shuffle=False, verbose=0)
        accuracies.append(trainer.predict(x_train[:64], verbose=0))
    assert np.isfinite(accuracies).all() and not np.allclose(accuracies[0], accuracies[1])


@pytest.mark.parametrize("kind", ["functional", "sequential"])
def test_the_wrapped_models_take_the_example_images_without_their_channel_axis(fashion_dir, monkeypatch, kind):
    # The example hands model_b (Input((28, 28, 1))) its (n, 28, 28) images through the trainer; fitting or
    # predicting with the model itself works in Keras too.
    k = keras_module()
    (x_train, y_train), (x_test, _) = _load(fashion_dir, monkeypatch)
    results, weights = {}, None
    for lib in (k, kerasish):
        ex = _Example(lib, rates=(0.0, 0.0))
        model = ex.model_b if kind == "functional" else lib.Sequential(
            [lib.Input(shape=(28, 28, 1)), lib.layers.Conv2D(4, 3), lib.layers.Flatten(), lib.layers.Dense(10)])
        weights = model.get_weights() if weights is None else weights
        model.set_weights(weights)
        model.compile(optimizer=lib.optimizers.SGD(), loss="sparse_categorical_crossentropy" if kind == "functional"
                      else lib.losses.SparseCategoricalCrossentropy(from_logits=True))
        history = model.fit(x_train, y_train, batch_size=64, epochs=1, shuffle=False, verbose=0)
        results[lib] = (history.history["loss"], model.predict(x_test, verbose=0))
    np.testing.assert_allclose(results[kerasish][0], results[k][0], rtol=1e-5)
    assert_close(results[kerasish][1], results[k][1], atol=1e-5)
