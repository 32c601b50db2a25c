"""keras-io's example "Convolutional autoencoder for image denoising" (`examples/vision/autoencoder.py`),
run on kerasish.

The example's code is kept as written; the only changes are the imports (`import kerasish as keras`
in place of `tensorflow.keras`) and the lines marked `# changed:`: Fashion-MNIST read from disk stands
in for the MNIST download (the same shapes and dtypes), sliced to a few hundred images and two epochs
for each of the two fits so that the test takes seconds; the noise is drawn once from a seeded NumPy
generator and given to both libraries; the plots are left out; Keras's initial weights are copied in
and `shuffle=False` is passed (the example's `shuffle=True` draws different orders in the two
libraries). Keras 3 (torch backend, `tests/keras_parity.py`) runs the same code; what a user sees
(`summary()`, the printed epoch lines, History keys and values of both fits, the predictions on clean
and noisy images) is compared.
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


def preprocess(array):
    """
    Normalizes the supplied array and reshapes it into the appropriate format.
    """

    array = array.astype("float32") / 255.0
    array = np.reshape(array, (len(array), 28, 28, 1))
    return array


def noise(array, rng):  # changed: a seeded generator in place of np.random's global state
    """
    Adds random noise to each image in the supplied array.
    """

    noise_factor = 0.4
    noisy_array = array + noise_factor * rng.normal(  # changed: rng in place of np.random
        loc=0.0, scale=1.0, size=array.shape
    )

    return np.clip(noisy_array, 0.0, 1.0)


@pytest.fixture
def data(fashion_dir, monkeypatch):
    monkeypatch.setenv("KERASISH_DATA_PATH", str(fashion_dir))  # changed: the files on disk
    # Since we only need images from the dataset to encode and decode, we
    # won't use the labels.
    (train_data, _), (test_data, _) = kerasish.datasets.fashion_mnist.load_data()  # changed: offline
    train_data, test_data = train_data[:256], test_data[:64]  # changed: a slice, for speed

    # Normalize and reshape the data
    train_data = preprocess(train_data)
    test_data = preprocess(test_data)

    # Create a copy of the data with added noise
    rng = np.random.default_rng(0)  # changed: seeded
    noisy_train_data = noise(train_data, rng)
    noisy_test_data = noise(test_data, rng)
    return train_data, test_data, noisy_train_data, noisy_test_data


def _autoencoder(keras):
    layers, Model = keras.layers, keras.models.Model
    keras.backend.clear_session()  # changed: names restart at 'conv2d' in both libraries
    input = layers.Input(shape=(28, 28, 1))

    # Encoder
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(input)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(x)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)

    # Decoder
    x = layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)

    # Autoencoder
    autoencoder = Model(input, x)
    autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
    return autoencoder


def _summary(model):
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines).rstrip("\n")


def test_the_noise_is_clipped_to_the_pixel_range(data):
    train_data, _, noisy_train_data, _ = data
    assert train_data.shape == noisy_train_data.shape == (256, 28, 28, 1)
    assert noisy_train_data.min() == 0.0 and noisy_train_data.max() == 1.0
    assert 0.1 < np.abs(noisy_train_data - train_data).mean() < 0.4


def test_the_autoencoder_summary_is_keras_summary():
    k = keras_module()
    texts = {lib: (_summary(m), m.count_params()) for lib in (k, kerasish) for m in [_autoencoder(lib)]}
    assert "Total params: 28,353" in texts[kerasish][0]  # 320 + 9,248 + 9,248 + 9,248 + 289
    # compile() came before summary(): Keras's optimizer is built when fit starts, so no optimizer line yet.
    assert "Optimizer params" not in texts[kerasish][0]
    assert texts[kerasish] == texts[k]


def _train(keras, data, weights):
    train_data, test_data, noisy_train_data, noisy_test_data = data
    autoencoder = _autoencoder(keras)
    autoencoder.set_weights(weights)  # changed: Keras's initial weights in both
    first = autoencoder.fit(
        x=train_data,
        y=train_data,
        epochs=2,  # changed: 50, for speed
        batch_size=128,
        shuffle=False,  # changed: True; the same batches in both libraries
        validation_data=(test_data, test_data),
        verbose=2,  # changed: one line an epoch
    )
    predictions = autoencoder.predict(test_data, verbose=0)  # changed: verbose=0
    second = autoencoder.fit(
        x=noisy_train_data,
        y=train_data,
        epochs=2,  # changed: 100, for speed
        batch_size=128,
        shuffle=False,  # changed: True; the same batches in both libraries
        validation_data=(noisy_test_data, test_data),
        verbose=2,  # changed: one line an epoch
    )
    denoised = autoencoder.predict(noisy_test_data, verbose=0)  # changed: verbose=0
    return first, second, predictions, denoised


def test_train_then_denoise_as_keras(data, capsys):
    k = keras_module()
    weights = _autoencoder(k).get_weights()
    capsys.readouterr()
    runs = {}
    for lib in (k, kerasish):
        runs[lib] = _train(lib, data, weights) + (text_and_numbers(capsys.readouterr().out.splitlines()),)
    ours, theirs = runs[kerasish], runs[k]
    for h_ours, h_theirs in zip(ours[:2], theirs[:2]):
        assert list(h_ours.history) == list(h_theirs.history) == ["loss", "val_loss"]
        assert h_ours.epoch == h_theirs.epoch == [0, 1]
        for key in h_ours.history:
            np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=1e-4, atol=1e-6)
    assert ours[0].history["loss"][1] < ours[0].history["loss"][0]
    assert_close(ours[2], theirs[2], atol=1e-5, rtol=1e-4)
    assert_close(ours[3], theirs[3], atol=1e-5, rtol=1e-4)
    (text_ours, numbers_ours), (text_theirs, numbers_theirs) = ours[4], theirs[4]
    assert text_ours == text_theirs
    assert text_ours[:2] == ["Epoch #/#", "#/# - <time> - <time>/step - loss: # - val_loss: #"]
    assert len(text_ours) == 8  # two fits of two epochs, two lines each
    np.testing.assert_allclose(numbers_ours, numbers_theirs, rtol=1e-4, atol=1.5e-4)
