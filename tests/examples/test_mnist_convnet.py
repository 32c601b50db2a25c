"""keras-io's example "Simple MNIST convnet" (`examples/vision/mnist_convnet.py`), run on kerasish.

The example's code is kept as written; the only changes are the import (`import kerasish as keras`)
and the lines marked `# changed:`: Fashion-MNIST read from disk stands in for the MNIST download (the
same shapes and dtypes), sliced to a few hundred images and two epochs so that the test takes
seconds, the Dropout rate is 0 so that both libraries train on the same numbers (their dropout masks
differ), Keras's initial weights are copied in and `shuffle=False` is passed. Keras 3 (torch backend,
`tests/keras_parity.py`) runs the same code; what a user sees (printed lines, `summary()`, History
keys and values, the test score) is compared.
"""

from __future__ import annotations

import numpy as np
import pytest

import kerasish
from tests.examples.printed_lines import text_and_numbers
from tests.keras_parity import assert_close, keras_module

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # both summaries at their default width, whatever the terminal


def _prepare_the_data(keras, fashion_dir, monkeypatch):
    monkeypatch.setenv("KERASISH_DATA_PATH", str(fashion_dir))  # changed: the files on disk
    # Model / data parameters
    num_classes = 10
    input_shape = (28, 28, 1)

    # Load the data and split it between train and test sets
    (x_train, y_train), (x_test, y_test) = kerasish.datasets.fashion_mnist.load_data()  # changed: offline
    x_train, y_train = x_train[:320], y_train[:320]  # changed: a slice, for speed
    x_test, y_test = x_test[:64], y_test[:64]  # changed: a slice, for speed

    # Scale images to the [0, 1] range
    x_train = x_train.astype("float32") / 255
    x_test = x_test.astype("float32") / 255
    # Make sure images have shape (28, 28, 1)
    x_train = np.expand_dims(x_train, -1)
    x_test = np.expand_dims(x_test, -1)
    print("x_train shape:", x_train.shape)
    print(x_train.shape[0], "train samples")
    print(x_test.shape[0], "test samples")

    # convert class vectors to binary class matrices
    y_train = keras.utils.to_categorical(y_train, num_classes)
    y_test = keras.utils.to_categorical(y_test, num_classes)
    return (x_train, y_train), (x_test, y_test), num_classes, input_shape


def _build_the_model(keras, num_classes, input_shape, rate=0.5):
    layers = keras.layers
    keras.backend.clear_session()  # changed: names restart at 'conv2d' in both libraries
    model = keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(rate),  # changed: 0.5 -> `rate` (0 for the comparison)
            layers.Dense(num_classes, activation="softmax"),
        ]
    )
    return model


def _summary(model):
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines).rstrip("\n")


def test_prepare_the_data_prints_and_gives_keras_arrays(fashion_dir, monkeypatch, capsys):
    k = keras_module()
    ours = _prepare_the_data(kerasish, fashion_dir, monkeypatch)
    printed = capsys.readouterr().out.splitlines()
    theirs = _prepare_the_data(k, fashion_dir, monkeypatch)
    assert printed == ["x_train shape: (320, 28, 28, 1)", "320 train samples", "64 test samples"]
    assert capsys.readouterr().out.splitlines() == printed
    (_, y_ours), _, _, _ = ours
    (_, y_theirs), _, _, _ = theirs
    # The same one-hot values and dtype as Keras 3 (float64 for NumPy labels).
    assert y_ours.shape == (320, 10) and y_ours.dtype == y_theirs.dtype == np.float64
    np.testing.assert_array_equal(y_ours, y_theirs)


def test_the_model_summary_is_keras_summary():
    k = keras_module()
    texts = {}
    for lib in (k, kerasish):
        model = _build_the_model(lib, 10, (28, 28, 1))
        texts[lib] = (_summary(model), model.count_params())
    assert "Total params: 34,826" in texts[kerasish][0]  # 320 + 18,496 + 16,010
    assert texts[kerasish] == texts[k]


def _train_and_evaluate(keras, data, weights):
    (x_train, y_train), (x_test, y_test), num_classes, input_shape = data
    model = _build_the_model(keras, num_classes, input_shape, rate=0.0)
    model.set_weights(weights)  # changed: Keras's initial weights in both
    batch_size = 128
    epochs = 2  # changed: 15, for speed

    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])

    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.1,
                        shuffle=False, verbose=2)  # changed: History kept, same batches, one line an epoch

    score = model.evaluate(x_test, y_test, verbose=0)
    print("Test loss:", score[0])
    print("Test accuracy:", score[1])
    return history, score, model.predict(x_test, verbose=0)  # changed: predictions, to compare


def test_train_and_evaluate_as_keras(fashion_dir, monkeypatch, capsys):
    k = keras_module()
    data = _prepare_the_data(kerasish, fashion_dir, monkeypatch)
    weights = _build_the_model(k, 10, (28, 28, 1)).get_weights()
    capsys.readouterr()
    results = {}
    for lib in (k, kerasish):
        results[lib] = _train_and_evaluate(lib, data, weights)
        results[lib] += (capsys.readouterr().out.splitlines(),)
    (h_ours, s_ours, p_ours, out_ours), (h_theirs, s_theirs, p_theirs, out_theirs) = results[kerasish], results[k]
    assert list(h_ours.history) == list(h_theirs.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert h_ours.epoch == h_theirs.epoch == [0, 1]
    for key in h_ours.history:
        np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=1e-4, atol=1e-6)
    assert isinstance(s_ours, list) and len(s_ours) == 2
    np.testing.assert_allclose(s_ours, s_theirs, rtol=1e-4)
    assert_close(p_ours, p_theirs, atol=1e-5)
    # The printed lines: the same text (the timings aside), the same numbers to the last digit printed.
    text_ours, numbers_ours = text_and_numbers(out_ours)
    text_theirs, numbers_theirs = text_and_numbers(out_theirs)
    assert text_ours == text_theirs
    assert text_ours[:2] == ["Epoch #/#", "#/# - <time> - <time>/step - accuracy: # - loss: # - val_accuracy: # - "
                                          "val_loss: #"]
    assert text_ours[-2:] == ["Test loss: #", "Test accuracy: #"]
    np.testing.assert_allclose(numbers_ours, numbers_theirs, rtol=1e-4, atol=1.5e-4)



def test_the_dropout_of_the_example_trains_and_differs_from_no_dropout(fashion_dir, monkeypatch):
    # The example's own Dropout(0.5): masks differ from Keras's, so only its effect is checked.
    data = _prepare_the_data(kerasish, fashion_dir, monkeypatch)
    (x_train, y_train), _, num_classes, input_shape = data
    histories = []
    for rate in (0.5, 0.0):
        kerasish.utils.set_random_seed(0)
        model = _build_the_model(kerasish, num_classes, input_shape, rate=rate)
        model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
        histories.append(model.fit(x_train, y_train, batch_size=128, epochs=1, shuffle=False,
                                   verbose=0).history["loss"][0])
    assert np.isfinite(histories).all() and histories[0] != histories[1]
