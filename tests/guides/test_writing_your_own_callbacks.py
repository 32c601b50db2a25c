"""Keras's guide "Writing your own callbacks" (keras-io `guides/writing_your_own_callbacks.py`,
the Keras 3 text: `import keras`, `self.model.optimizer.learning_rate`), run on kerasish.

Each test is one section of the guide, its code kept as written. The only changes are the imports
(`import kerasish as keras`) and the lines marked `# changed:`: synthetic arrays of MNIST's shapes
stand in for the download, the weights are set from a seeded generator and `shuffle=False` is
passed so that Keras 3 (torch backend, `tests/keras_parity.py`) can run the same code from the
same weights, and `np.Inf` (gone in NumPy 2) is spelled `np.inf`. What the guide prints is
compared line by line with what Keras prints.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import kerasish
from tests.keras_parity import keras_module

# Keras 3's own NumPy 2 deprecation notice, printed on every conversion of its variables.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


def _mnist_like():
    rng = np.random.default_rng(0)  # changed: synthetic arrays of MNIST's shapes (no download here)
    x_train = rng.random((1000, 784)).astype("float32")
    y_train = rng.integers(0, 10, 1000).astype("uint8")
    x_test = rng.random((1000, 784)).astype("float32")
    y_test = rng.integers(0, 10, 1000).astype("uint8")
    return (x_train, y_train), (x_test, y_test)


def _get_model(keras):
    # Define the Keras model to add callbacks to
    model = keras.Sequential()
    model.add(keras.layers.Dense(1))
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=0.1),
        loss="mean_squared_error",
        metrics=["mean_absolute_error"],
    )
    model.build((None, 784))  # changed: built now, so that both libraries start from the same weights
    rng = np.random.default_rng(1)  # changed: seeded weights
    model.set_weights([rng.normal(size=w.shape).astype("float32") * 0.05 for w in model.get_weights()])
    return model


def _custom_callback(keras):
    class CustomCallback(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            keys = list(logs.keys())
            print("Starting training; got log keys: {}".format(keys))

        def on_train_end(self, logs=None):
            keys = list(logs.keys())
            print("Stop training; got log keys: {}".format(keys))

        def on_epoch_begin(self, epoch, logs=None):
            keys = list(logs.keys())
            print("Start epoch {} of training; got log keys: {}".format(epoch, keys))

        def on_epoch_end(self, epoch, logs=None):
            keys = list(logs.keys())
            print("End epoch {} of training; got log keys: {}".format(epoch, keys))

        def on_test_begin(self, logs=None):
            keys = list(logs.keys())
            print("Start testing; got log keys: {}".format(keys))

        def on_test_end(self, logs=None):
            keys = list(logs.keys())
            print("Stop testing; got log keys: {}".format(keys))

        def on_predict_begin(self, logs=None):
            keys = list(logs.keys())
            print("Start predicting; got log keys: {}".format(keys))

        def on_predict_end(self, logs=None):
            keys = list(logs.keys())
            print("Stop predicting; got log keys: {}".format(keys))

        def on_train_batch_begin(self, batch, logs=None):
            keys = list(logs.keys())
            print("...Training: start of batch {}; got log keys: {}".format(batch, keys))

        def on_train_batch_end(self, batch, logs=None):
            keys = list(logs.keys())
            print("...Training: end of batch {}; got log keys: {}".format(batch, keys))

        def on_test_batch_begin(self, batch, logs=None):
            keys = list(logs.keys())
            print("...Evaluating: start of batch {}; got log keys: {}".format(batch, keys))

        def on_test_batch_end(self, batch, logs=None):
            keys = list(logs.keys())
            print("...Evaluating: end of batch {}; got log keys: {}".format(batch, keys))

        def on_predict_batch_begin(self, batch, logs=None):
            keys = list(logs.keys())
            print("...Predicting: start of batch {}; got log keys: {}".format(batch, keys))

        def on_predict_batch_end(self, batch, logs=None):
            keys = list(logs.keys())
            print("...Predicting: end of batch {}; got log keys: {}".format(batch, keys))

    return CustomCallback


def _loss_and_error_printing_callback(keras):
    class LossAndErrorPrintingCallback(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            print(
                "Up to batch {}, the average loss is {:7.2f}.".format(batch, logs["loss"])
            )

        def on_test_batch_end(self, batch, logs=None):
            print(
                "Up to batch {}, the average loss is {:7.2f}.".format(batch, logs["loss"])
            )

        def on_epoch_end(self, epoch, logs=None):
            print(
                "The average loss for epoch {} is {:7.2f} "
                "and mean absolute error is {:7.2f}.".format(
                    epoch, logs["loss"], logs["mean_absolute_error"]
                )
            )

    return LossAndErrorPrintingCallback


def _printed(capsys):
    """The lines printed since the last read, without the progress bar of `predict` (the guide leaves
    its verbose at "auto"): into a non-terminal stdout kerasish prints it as one plain line at the end
    (documented in `kerasish/utils/progbar.py`), where Keras draws bar fragments with colour codes."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out).replace("\b", "")
    text = re.sub(r"\d+/\d+ [^\n]*?/step", "", text)
    return [line for line in text.splitlines() if line.strip()]


def _run_basic_example(keras):
    (x_train, y_train), (x_test, y_test) = _mnist_like()
    CustomCallback = _custom_callback(keras)
    model = _get_model(keras)
    model.fit(
        x_train,
        y_train,
        batch_size=128,
        epochs=1,
        verbose=0,
        validation_split=0.5,
        callbacks=[CustomCallback()],
    )

    res = model.evaluate(
        x_test, y_test, batch_size=128, verbose=0, callbacks=[CustomCallback()]
    )

    res = model.predict(x_test, batch_size=128, callbacks=[CustomCallback()])
    return res


def test_a_basic_example_fires_every_hook_with_keras_log_keys(capsys):
    k = keras_module()
    capsys.readouterr()
    res = _run_basic_example(kerasish)
    ours = _printed(capsys)
    theirs_res = _run_basic_example(k)
    theirs = _printed(capsys)
    assert res.shape == theirs_res.shape == (1000, 1)
    assert ours[:2] == ["Starting training; got log keys: []", "Start epoch 0 of training; got log keys: []"]
    assert "End epoch 0 of training; got log keys: ['loss', 'mean_absolute_error', 'val_loss', " \
           "'val_mean_absolute_error']" in ours
    assert "...Predicting: end of batch 7; got log keys: ['outputs']" in ours
    assert ours == theirs  # every hook, in Keras's order, with Keras's keys


def test_usage_of_logs_dict_prints_the_same_running_averages(capsys):
    k = keras_module()

    def run(keras):
        (x_train, y_train), (x_test, y_test) = _mnist_like()
        LossAndErrorPrintingCallback = _loss_and_error_printing_callback(keras)
        model = _get_model(keras)
        model.fit(
            x_train,
            y_train,
            batch_size=128,
            epochs=2,
            verbose=0,
            shuffle=False,  # changed: the same batches in both libraries
            callbacks=[LossAndErrorPrintingCallback()],
        )

        res = model.evaluate(
            x_test,
            y_test,
            batch_size=128,
            verbose=0,
            callbacks=[LossAndErrorPrintingCallback()],
        )
        return res

    capsys.readouterr()
    res = run(kerasish)
    ours = _printed(capsys)
    theirs_res = run(k)
    theirs = _printed(capsys)
    assert len(ours) == 2 * 8 + 2 + 8  # 8 batches per epoch, 2 epoch lines, 8 evaluation batches
    assert ours[8].startswith("The average loss for epoch 0 is ")
    assert ours == theirs
    np.testing.assert_allclose(res, theirs_res, rtol=1e-5)


def _early_stopping_at_min_loss(keras):
    class EarlyStoppingAtMinLoss(keras.callbacks.Callback):
        """Stop training when the loss is at its min, i.e. the loss stops decreasing.

        Arguments:
            patience: Number of epochs to wait after min has been hit. After this
            number of no improvement, training stops.
        """

        def __init__(self, patience=0):
            super().__init__()
            self.patience = patience
            # best_weights to store the weights at which the minimum loss occurs.
            self.best_weights = None

        def on_train_begin(self, logs=None):
            # The number of epoch it has waited when loss is no longer minimum.
            self.wait = 0
            # The epoch the training stops at.
            self.stopped_epoch = 0
            # Initialize the best as infinity.
            self.best = np.inf  # changed: np.Inf is gone in NumPy 2

        def on_epoch_end(self, epoch, logs=None):
            current = logs.get("loss")
            if np.less(current, self.best):
                self.best = current
                self.wait = 0
                # Record the best weights if current results is better (less).
                self.best_weights = self.model.get_weights()
            else:
                self.wait += 1
                if self.wait >= self.patience:
                    self.stopped_epoch = epoch
                    self.model.stop_training = True
                    print("Restoring model weights from the end of the best epoch.")
                    self.model.set_weights(self.best_weights)

        def on_train_end(self, logs=None):
            if self.stopped_epoch > 0:
                print(f"Epoch {self.stopped_epoch + 1}: early stopping")

    return EarlyStoppingAtMinLoss


def test_early_stopping_at_minimum_loss_stops_and_restores_as_keras(capsys):
    k = keras_module()

    def run(keras):
        (x_train, y_train), _ = _mnist_like()
        LossAndErrorPrintingCallback = _loss_and_error_printing_callback(keras)
        EarlyStoppingAtMinLoss = _early_stopping_at_min_loss(keras)
        model = _get_model(keras)
        history = model.fit(
            x_train,
            y_train,
            batch_size=64,
            epochs=30,
            verbose=0,
            shuffle=False,  # changed: the same batches in both libraries
            callbacks=[LossAndErrorPrintingCallback(), EarlyStoppingAtMinLoss()],
        )
        return history, model.get_weights()

    capsys.readouterr()
    history, weights = run(kerasish)
    ours = _printed(capsys)
    their_history, their_weights = run(k)
    theirs = _printed(capsys)
    assert "Restoring model weights from the end of the best epoch." in ours
    stopped = [line for line in ours if line.endswith(": early stopping")]
    assert len(stopped) == 1 and len(history.epoch) < 30
    assert ours == theirs
    assert history.epoch == their_history.epoch
    for ours_w, theirs_w in zip(weights, their_weights):  # the best epoch's weights, restored
        np.testing.assert_allclose(ours_w, theirs_w, rtol=1e-4, atol=1e-6)


def _custom_learning_rate_scheduler(keras):
    class CustomLearningRateScheduler(keras.callbacks.Callback):
        """Learning rate scheduler which sets the learning rate according to schedule.

        Arguments:
            schedule: a function that takes an epoch index
                (integer, indexed from 0) and current learning rate
                as inputs and returns a new learning rate as output (float).
        """

        def __init__(self, schedule):
            super().__init__()
            self.schedule = schedule

        def on_epoch_begin(self, epoch, logs=None):
            if not hasattr(self.model.optimizer, "learning_rate"):
                raise ValueError('Optimizer must have a "learning_rate" attribute.')
            # Get the current learning rate from model's optimizer.
            lr = self.model.optimizer.learning_rate
            # Call schedule function to get the scheduled learning rate.
            scheduled_lr = self.schedule(epoch, lr)
            # Set the value back to the optimizer before this epoch starts
            self.model.optimizer.learning_rate = scheduled_lr
            print(f"\nEpoch {epoch}: Learning rate is {float(np.array(scheduled_lr))}.")

    return CustomLearningRateScheduler


LR_SCHEDULE = [
    # (epoch to start, learning rate) tuples
    (3, 0.05),
    (6, 0.01),
    (9, 0.005),
    (12, 0.001),
]


def lr_schedule(epoch, lr):
    """Helper function to retrieve the scheduled learning rate based on epoch."""
    if epoch < LR_SCHEDULE[0][0] or epoch > LR_SCHEDULE[-1][0]:
        return lr
    for i in range(len(LR_SCHEDULE)):
        if epoch == LR_SCHEDULE[i][0]:
            return LR_SCHEDULE[i][1]
    return lr


def test_learning_rate_scheduling_sets_the_rate_each_epoch(capsys):
    k = keras_module()

    def run(keras):
        (x_train, y_train), _ = _mnist_like()
        LossAndErrorPrintingCallback = _loss_and_error_printing_callback(keras)
        CustomLearningRateScheduler = _custom_learning_rate_scheduler(keras)
        model = _get_model(keras)
        history = model.fit(
            x_train,
            y_train,
            batch_size=64,
            epochs=15,
            verbose=0,
            shuffle=False,  # changed: the same batches in both libraries
            callbacks=[
                LossAndErrorPrintingCallback(),
                CustomLearningRateScheduler(lr_schedule),
            ],
        )
        return history, model.optimizer.learning_rate

    capsys.readouterr()
    history, lr = run(kerasish)
    ours = _printed(capsys)
    their_history, their_lr = run(k)
    theirs = _printed(capsys)
    rates = [line for line in ours if "Learning rate is" in line]
    # `optimizer.learning_rate` is a float32 variable in both (kerasish's a view of the host rate), so
    # the guide prints the same lines: the scheduled 0.05 as given, a rate read back as float32.
    assert rates[0] == "Epoch 0: Learning rate is 0.10000000149011612." and len(rates) == 15
    assert rates[3] == "Epoch 3: Learning rate is 0.05."
    assert rates[4] == "Epoch 4: Learning rate is 0.05000000074505806."
    assert rates == [line for line in theirs if "Learning rate is" in line]
    assert repr(lr) == repr(their_lr).replace(their_lr.path.split("/")[0], lr.path.split("/")[0])
    assert [line for line in ours if "Learning rate" not in line] == \
        [line for line in theirs if "Learning rate" not in line]
    assert list(history.history) == list(their_history.history)
    for key, values in history.history.items():
        np.testing.assert_allclose(values, their_history.history[key], rtol=1e-4)
