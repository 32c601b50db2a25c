"""keras-io's example "Timeseries anomaly detection using an Autoencoder"
(`examples/timeseries/timeseries_anomaly_detection.py`), run on kerasish.

The example's code is kept as written; the only changes are the imports (`import kerasish as keras`)
and the lines marked `# changed:`: seeded synthetic frames with the NAB files' layout (a `timestamp`
index and a `value` column; a daily wave with small noise, and the same wave with a stretch that
jumps up) stand in for the two CSV downloads, a day of 48 half-hour steps in place of 288 five-minute
ones, 6 days of training data, 8 epochs with an EarlyStopping patience of 2; the plots are left out
(what they would draw is kept and compared); Keras's initial weights are copied in, `shuffle=False`
is passed and the progress bar is one line an epoch (`verbose=2`). The two `Dropout(rate=0.2)` layers
are given rate 0 for the comparison (the two libraries draw different masks); the example's rate is
run on its own below. Keras 3 (torch backend, `tests/keras_parity.py`) runs the same code: the
summary, the printed lines, the History (8 epochs under EarlyStopping), the reconstructions,
the threshold and the anomalies found are compared.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import kerasish
from tests.examples.printed_lines import text_and_numbers
from tests.keras_parity import assert_close, keras_module

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # both summaries at their default width, whatever the terminal


TIME_STEPS = 48  # changed: 288 (a day of 5-minute steps); here a day of 30-minute steps


def _nab_frame(days, seed, jump=None):  # changed: a synthetic frame in place of pd.read_csv(NAB url)
    rng = np.random.default_rng(seed)
    index = pd.date_range("2014-04-01", periods=days * TIME_STEPS, freq="30min", name="timestamp")
    phase = 2 * np.pi * np.arange(len(index)) / TIME_STEPS
    value = 42.0 + 20.0 * np.sin(phase) + 8.0 * np.sin(2 * phase) + rng.normal(scale=1.0, size=len(index))
    if jump is not None:  # art_daily_jumpsup: the daily pattern jumps up for a while
        value[jump[0]:jump[1]] += 45.0
    return pd.DataFrame({"value": value}, index=index)


# Generated training sequences for use in the model.
def create_sequences(values, time_steps=TIME_STEPS):
    output = []
    for i in range(len(values) - time_steps + 1):
        output.append(values[i : (i + time_steps)])
    return np.stack(output)


def _data():
    df_small_noise = _nab_frame(6, seed=0)  # changed: art_daily_small_noise.csv
    df_daily_jumpsup = _nab_frame(4, seed=1, jump=(100, 124))  # changed: art_daily_jumpsup.csv

    # Normalize and save the mean and std we get,
    # for normalizing test data.
    training_mean = df_small_noise.mean()
    training_std = df_small_noise.std()
    df_training_value = (df_small_noise - training_mean) / training_std
    print("Number of training samples:", len(df_training_value))

    x_train = create_sequences(df_training_value.values)
    print("Training input shape: ", x_train.shape)

    df_test_value = (df_daily_jumpsup - training_mean) / training_std
    # Create sequences from test values.
    x_test = create_sequences(df_test_value.values)
    print("Test input shape: ", x_test.shape)
    return x_train, x_test, df_test_value


def _model(keras, x_train, rate=0.2):  # changed: keras and the Dropout rate passed in
    layers = keras.layers
    keras.backend.clear_session()  # changed: names restart in both libraries
    model = keras.Sequential(
        [
            layers.Input(shape=(x_train.shape[1], x_train.shape[2])),
            layers.Conv1D(
                filters=32, kernel_size=7, padding="same", strides=2, activation="relu"
            ),
            layers.Dropout(rate=rate),  # changed: 0.2 -> rate
            layers.Conv1D(
                filters=16, kernel_size=7, padding="same", strides=2, activation="relu"
            ),
            layers.Conv1DTranspose(
                filters=16, kernel_size=7, padding="same", strides=2, activation="relu"
            ),
            layers.Dropout(rate=rate),  # changed: 0.2 -> rate
            layers.Conv1DTranspose(
                filters=32, kernel_size=7, padding="same", strides=2, activation="relu"
            ),
            layers.Conv1DTranspose(filters=1, kernel_size=7, padding="same"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001), loss="mse")
    return model


def _run(keras, data, weights, rate=0.0):
    x_train, x_test, df_test_value = data
    model = _model(keras, x_train, rate)
    model.set_weights(weights)  # changed: Keras's initial weights in both
    model.summary()

    history = model.fit(
        x_train,
        x_train,
        epochs=8,  # changed: 50, for speed
        batch_size=128,
        validation_split=0.1,
        callbacks=[
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=2, mode="min")  # changed: patience 5
        ],
        shuffle=False,  # changed: the same batches in both libraries
        verbose=2,  # changed: 1 ("auto"); one line an epoch, as the progress bar's timings vary
    )

    # Get train MAE loss.
    x_train_pred = model.predict(x_train, verbose=0)  # changed: verbose=0
    train_mae_loss = np.mean(np.abs(x_train_pred - x_train), axis=1)

    # Get reconstruction loss threshold.
    threshold = np.max(train_mae_loss)
    print("Reconstruction error threshold: ", threshold)

    # Get test MAE loss.
    x_test_pred = model.predict(x_test, verbose=0)  # changed: verbose=0
    test_mae_loss = np.mean(np.abs(x_test_pred - x_test), axis=1)
    test_mae_loss = test_mae_loss.reshape((-1))

    # Detect all the samples which are anomalies.
    anomalies = test_mae_loss > threshold
    print("Number of anomaly samples: ", np.sum(anomalies))
    print("Indices of anomaly samples: ", np.where(anomalies))

    # data i is an anomaly if samples [(i - timesteps + 1) to (i)] are anomalies
    anomalous_data_indices = []
    for data_idx in range(TIME_STEPS - 1, len(df_test_value) - TIME_STEPS + 1):
        if np.all(anomalies[data_idx - TIME_STEPS + 1 : data_idx]):
            anomalous_data_indices.append(data_idx)
    return history, x_train_pred, x_test_pred, test_mae_loss, threshold, anomalies, anomalous_data_indices


def _summary(model):
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines).rstrip("\n")


def test_the_sequences_have_the_examples_layout(capsys):
    x_train, x_test, df_test_value = _data()
    assert x_train.shape == (6 * 48 - 47, 48, 1) and x_test.shape == (4 * 48 - 47, 48, 1)
    assert capsys.readouterr().out.splitlines() == [
        "Number of training samples: 288",
        "Training input shape:  (241, 48, 1)",
        "Test input shape:  (145, 48, 1)",
    ]
    np.testing.assert_array_equal(x_train[1, :-1], x_train[0, 1:])  # windows slide by one step
    assert df_test_value["value"].iloc[100:124].min() > df_test_value["value"].iloc[:100].max()


def test_the_autoencoder_summary_is_keras_summary():
    k = keras_module()
    x_train = np.zeros((1, TIME_STEPS, 1))
    texts = {lib: (_summary(m), m.count_params()) for lib in (k, kerasish) for m in [_model(lib, x_train)]}
    assert "Total params: 9,505" in texts[kerasish][0]  # 256 + 3,600 + 1,808 + 3,616 + 225
    assert "conv1d_transpose_2 (Conv1DTranspose)" in texts[kerasish][0]
    assert texts[kerasish] == texts[k]


def test_train_then_find_the_anomalies_as_keras(capsys):
    k = keras_module()
    k.utils.set_random_seed(0)  # the same initial weights on every run
    data = _data()
    weights = _model(k, data[0]).get_weights()
    capsys.readouterr()
    runs = {}
    for lib in (k, kerasish):
        runs[lib] = _run(lib, data, weights) + (text_and_numbers(capsys.readouterr().out.splitlines()),)
    ours, theirs = runs[kerasish], runs[k]
    h_ours, h_theirs = ours[0], theirs[0]
    assert list(h_ours.history) == list(h_theirs.history) == ["loss", "val_loss"]
    assert h_ours.epoch == h_theirs.epoch
    for key in h_ours.history:
        np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=2e-4, atol=1e-6)
    assert h_ours.history["loss"][-1] < h_ours.history["loss"][0] / 2
    assert_close(ours[1], theirs[1], atol=2e-4, rtol=1e-3)  # train reconstructions
    assert_close(ours[2], theirs[2], atol=2e-4, rtol=1e-3)  # test reconstructions
    assert_close(ours[3], theirs[3], atol=1e-4, rtol=1e-3)  # test MAE per window
    np.testing.assert_allclose(ours[4], theirs[4], rtol=1e-3)  # the threshold
    np.testing.assert_array_equal(ours[5], theirs[5])  # the anomalies
    assert ours[5].any() and not ours[5].all()
    assert ours[6] == theirs[6]
    (text_ours, numbers_ours), (text_theirs, numbers_theirs) = ours[7], theirs[7]
    assert text_ours == text_theirs
    assert any(line.startswith("Reconstruction error threshold:") for line in text_ours)
    assert "Epoch #/#" in text_ours and any("Total params" in line for line in text_ours)
    np.testing.assert_allclose(numbers_ours, numbers_theirs, rtol=1e-3, atol=1e-4)


def test_the_examples_dropout_trains_and_differs_from_no_dropout():
    k = keras_module()
    x_train = _data()[0]
    weights = _model(k, x_train).get_weights()
    losses = {}
    for rate in (0.0, 0.2):
        model = _model(kerasish, x_train, rate)
        model.set_weights(weights)
        history = model.fit(x_train, x_train, epochs=3, batch_size=128, shuffle=False, verbose=0)
        losses[rate] = history.history["loss"]
    assert losses[0.2][-1] < losses[0.2][0]
    assert not np.allclose(losses[0.2], losses[0.0], rtol=1e-3)
