"""Keras tutorial code, run with only the import lines changed.

Each test body is the tutorial's code as written; the `from kerasish...` lines are the
only edits (they replace `from tensorflow.keras...` / `from keras...`).
"""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.slow
def test_tutorial_mnist_mlp_on_fashion_mnist(fashion_dir, monkeypatch, capsys):
    monkeypatch.setenv("KERASISH_DATA_PATH", str(fashion_dir))
    # --- tutorial code (imports changed) ---
    from kerasish import models
    from kerasish import layers
    from kerasish.datasets import fashion_mnist
    from kerasish.utils import to_categorical

    (train_images, train_labels), (test_images, test_labels) = fashion_mnist.load_data()

    network = models.Sequential()
    network.add(layers.Dense(512, activation='relu', input_shape=(28 * 28,)))
    network.add(layers.Dense(10, activation='softmax'))
    network.compile(optimizer='rmsprop', loss='categorical_crossentropy', metrics=['accuracy'])

    train_images = train_images.reshape((60000, 28 * 28))
    train_images = train_images.astype('float32') / 255
    test_images = test_images.reshape((10000, 28 * 28))
    test_images = test_images.astype('float32') / 255
    train_labels = to_categorical(train_labels)
    test_labels = to_categorical(test_labels)

    network.fit(train_images, train_labels, epochs=5, batch_size=128)
    test_loss, test_acc = network.evaluate(test_images, test_labels)
    print('test_acc:', test_acc)
    # --- end of tutorial code ---
    assert test_acc >= 0.85, f"test accuracy {test_acc:.4f} is below the 0.85 the tutorial reaches"
    assert 0.0 < test_loss < 0.6
    assert "test_acc:" in capsys.readouterr().out


def test_tutorial_mlp_summary_counts(capsys):
    from kerasish.models import Sequential
    from kerasish.layers import Dense

    model = Sequential()
    model.add(Dense(512, activation='relu', input_shape=(28 * 28,)))
    model.add(Dense(10, activation='softmax'))
    model.summary()
    out = capsys.readouterr().out
    assert "401,920" in out and "5,130" in out
    assert "Total params: 407,050" in out
    assert "Trainable params: 407,050" in out
    assert "Non-trainable params: 0" in out
    assert "(None, 512)" in out and "(None, 10)" in out


def test_tutorial_linear_regression_converges():
    import kerasish as keras
    from kerasish.models import Sequential
    from kerasish.layers import Dense

    model = Sequential([Dense(units=1, input_shape=[1])])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss='mean_squared_error')
    xs = np.array([1.0, 2.0, 3.0, 4.0], dtype=float)
    ys = np.array([2.0, 4.0, 6.0, 8.0], dtype=float)
    model.fit(xs, ys, epochs=2000, verbose=0)
    weight, bias = model.layers[0].get_weights()
    assert abs(weight.item() - 2.0) < 1e-2
    assert abs(bias.item()) < 1e-2
    assert abs(model.predict(np.array([10.0]), verbose=0).item() - 20.0) < 0.1


def test_import_paths_match_keras():
    import kerasish as keras
    from kerasish import layers, models, losses, metrics, optimizers, utils  # noqa: F401
    from kerasish.models import Sequential, Model  # noqa: F401
    from kerasish.layers import Dense, Dropout, Flatten, Activation, Reshape, Input  # noqa: F401
    from kerasish.callbacks import Callback, History  # noqa: F401

    assert keras.Sequential is Sequential and keras.Model is Model
    assert keras.layers.Dense is Dense and keras.Input is Input
    assert callable(keras.utils.to_categorical)
