"""Keras 2's on_batch_begin / on_batch_end hooks run as aliases of the train-batch hooks."""

import numpy as np

import kerasish as keras


class Counting(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.begins, self.ends = [], []

    def on_batch_begin(self, batch, logs=None):
        self.begins.append(batch)

    def on_batch_end(self, batch, logs=None):
        self.ends.append((batch, float(logs["loss"])))


def test_on_batch_hooks_are_called_once_per_training_batch():
    cb = Counting()
    model = keras.Sequential([keras.layers.Dense(1, input_shape=(2,))])
    model.compile("sgd", "mse")
    model.fit(np.ones((8, 2)), np.ones((8, 1)), batch_size=2, epochs=2, verbose=0, callbacks=[cb],
              validation_data=(np.ones((4, 2)), np.ones((4, 1))))
    assert cb.begins == [0, 1, 2, 3] * 2
    assert [b for b, _ in cb.ends] == [0, 1, 2, 3] * 2
    assert all(np.isfinite(v) for _, v in cb.ends)
