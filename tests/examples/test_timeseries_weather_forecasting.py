"""keras-io's example "Timeseries forecasting for weather prediction"
(`examples/timeseries/timeseries_weather_forecasting.py`), its data preparation, model and training
run on kerasish.

The example's code is kept as written; the only changes are the imports (`import kerasish as keras`)
and the lines marked `# changed:`: a seeded synthetic frame with the Jena climate file's columns
(daily and yearly waves plus noise, one row every 10 minutes) stands in for the CSV download, 1,800
rows with 20 hourly steps of past and a 12-step horizon, and an EarlyStopping patience of 2; the
plots are left out (what they would draw is kept and compared) and the checkpoint is a
`.weights.h5` file, the name Keras 3 requires with `save_weights_only=True`. Keras 3 (torch backend, `tests/keras_parity.py`) runs the same model
from the same weights: its `timeseries_dataset_from_array` needs TensorFlow (a tf.data pipeline),
which this oracle lacks, so it reads the same windows (built here in NumPy) through a torch
DataLoader, while kerasish runs the example's own `keras.preprocessing.timeseries_dataset_from_array`
and `dataset.take(1)` lines. The windows, the printed lines (ModelCheckpoint's verbose lines
included, before each epoch's line as in Keras), the History, the epoch EarlyStopping stopped at,
the checkpoint file and the predictions are compared.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

import kerasish
from tests.examples.printed_lines import text_and_numbers
from tests.keras_parity import assert_close, keras_module

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

titles = [
    "Pressure",
    "Temperature",
    "Temperature in Kelvin",
    "Temperature (dew point)",
    "Relative Humidity",
    "Saturation vapor pressure",
    "Vapor pressure",
    "Vapor pressure deficit",
    "Specific humidity",
    "Water vapor concentration",
    "Airtight",
    "Wind speed",
    "Maximum wind speed",
    "Wind direction in degrees",
]

feature_keys = [
    "p (mbar)",
    "T (degC)",
    "Tpot (K)",
    "Tdew (degC)",
    "rh (%)",
    "VPmax (mbar)",
    "VPact (mbar)",
    "VPdef (mbar)",
    "sh (g/kg)",
    "H2OC (mmol/mol)",
    "rho (g/m**3)",
    "wv (m/s)",
    "max. wv (m/s)",
    "wd (deg)",
]

date_time_key = "Date Time"

split_fraction = 0.715
step = 6

past = 120  # changed: 720, for speed (20 hourly steps)
future = 12  # changed: 72, for speed
learning_rate = 0.001
batch_size = 256
epochs = 10


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # both summaries at their default width, whatever the terminal


def read_csv(rows=1800, seed=0):  # changed: a synthetic frame in place of pd.read_csv(csv_path)
    rng = np.random.default_rng(seed)
    t = np.arange(rows) / 144.0  # days, one row every 10 minutes
    daily, yearly = np.sin(2 * np.pi * t), np.sin(2 * np.pi * t / 365.0 + 1.0)
    temperature = 9.0 + 8.0 * yearly + 5.0 * daily + rng.normal(0, 0.5, rows).cumsum() * 0.1
    stamps = pd.date_range("2009-01-01 00:10", periods=rows, freq="10min")
    columns = {date_time_key: stamps.strftime("%d.%m.%Y %H:%M:%S")}
    for i, key in enumerate(feature_keys):
        scale = rng.uniform(0.5, 20.0)
        mix = rng.uniform(-1, 1, 2)
        columns[key] = scale * (mix[0] * temperature / 10 + mix[1] * daily) + rng.normal(0, 0.2 * scale, rows) + 10 * i
    return pd.DataFrame(columns)


def normalize(data, train_split):
    data_mean = data[:train_split].mean(axis=0)
    data_std = data[:train_split].std(axis=0)
    return (data - data_mean) / data_std


def _windows(data, targets, sequence_length, sampling_rate):  # changed: Keras's tf.data windows, in NumPy
    data, targets = np.asarray(data), np.asarray(targets)
    count = min(len(data) - (sequence_length - 1) * sampling_rate, len(targets))
    index = np.arange(count)[:, None] + sampling_rate * np.arange(sequence_length)[None, :]
    return data[index], targets[:count].copy()


def _prepare(keras, uses_tf_data=True):
    df = read_csv()  # changed: synthetic, see read_csv
    train_split = int(split_fraction * int(df.shape[0]))
    print(
        "The selected parameters are:",
        ", ".join([titles[i] for i in [0, 1, 5, 7, 8, 10, 11]]),
    )
    selected_features = [feature_keys[i] for i in [0, 1, 5, 7, 8, 10, 11]]
    features = df[selected_features]
    features.index = df[date_time_key]
    features.head()

    features = normalize(features.values, train_split)
    features = pd.DataFrame(features)
    features.head()

    train_data = features.loc[0 : train_split - 1]
    val_data = features.loc[train_split:]

    start = past + future
    end = start + train_split

    x_train = train_data[[i for i in range(7)]].values
    y_train = features.iloc[start:end][[1]]

    sequence_length = int(past / step)

    x_end = len(val_data) - past - future

    label_start = train_split + past + future

    x_val = val_data.iloc[:x_end][[i for i in range(7)]].values
    y_val = features.iloc[label_start:][[1]]

    if not uses_tf_data:  # changed: Keras 3 without TensorFlow reads the same windows from a DataLoader
        loader = torch.utils.data.DataLoader
        windows = [torch.utils.data.TensorDataset(*map(torch.from_numpy, _windows(x, y, sequence_length, step)))
                   for x, y in ((x_train, y_train), (x_val, y_val))]
        return loader(windows[0], batch_size=batch_size), loader(windows[1], batch_size=batch_size)

    dataset_train = keras.preprocessing.timeseries_dataset_from_array(
        x_train,
        y_train,
        sequence_length=sequence_length,
        sampling_rate=step,
        batch_size=batch_size,
    )

    dataset_val = keras.preprocessing.timeseries_dataset_from_array(
        x_val,
        y_val,
        sequence_length=sequence_length,
        sampling_rate=step,
        batch_size=batch_size,
    )
    return dataset_train, dataset_val


def _look_at_one_batch(dataset_train):
    for batch in dataset_train.take(1):
        inputs, targets = batch

    print("Input shape:", inputs.numpy().shape)
    print("Target shape:", targets.numpy().shape)
    return inputs


def _model(keras, inputs):
    keras.backend.clear_session()  # changed: names restart in both libraries
    inputs = keras.layers.Input(shape=(inputs.shape[1], inputs.shape[2]))
    lstm_out = keras.layers.LSTM(32)(inputs)
    outputs = keras.layers.Dense(1)(lstm_out)

    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
    return model


def _summary(model):
    lines = []
    model.summary(print_fn=lines.append)  # changed: model.summary(), kept to compare
    return "\n".join(lines).rstrip("\n")


def test_the_windows_and_printed_lines_are_keras_windows(capsys):
    dataset_train, dataset_val = _prepare(kerasish)
    inputs = _look_at_one_batch(dataset_train)
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        "The selected parameters are: Pressure, Temperature, Saturation vapor pressure, Vapor pressure deficit, "
        "Specific humidity, Airtight, Wind speed",
        "Input shape: (256, 20, 7)",
        "Target shape: (256, 1)",
    ]
    assert inputs.dtype == torch.float64  # the frame's dtype, as tf.data would keep it
    loader_train, loader_val = _prepare(kerasish, uses_tf_data=False)
    capsys.readouterr()
    for ours, theirs in ((dataset_train, loader_train), (dataset_val, loader_val)):
        assert len(ours) == len(theirs) and len(list(ours.take(2))) == 2
        for (x, y), (x_ref, y_ref) in zip(ours, theirs, strict=True):
            torch.testing.assert_close(x, x_ref, rtol=0, atol=0)
            torch.testing.assert_close(y, y_ref, rtol=0, atol=0)


def test_the_model_summary_is_keras_summary():
    k = keras_module()
    shape = torch.zeros(1, 20, 7)
    texts = {lib: (_summary(m), m.count_params()) for lib in (k, kerasish) for m in [_model(lib, shape)]}
    assert "Total params: 5,153" in texts[kerasish][0]  # 4*32*(7 + 32 + 1) + 33
    assert texts[kerasish] == texts[k]


def _train(keras, weights, uses_tf_data=True):
    dataset_train, dataset_val = _prepare(keras, uses_tf_data)
    model = _model(keras, torch.zeros(1, 20, 7))
    model.set_weights(weights)  # changed: Keras's initial weights in both

    path_checkpoint = "model_checkpoint.weights.h5"  # changed: .h5, which Keras 3 refuses for weights
    es_callback = keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=0, patience=2)  # changed: 5

    modelckpt_callback = keras.callbacks.ModelCheckpoint(
        monitor="val_loss",
        filepath=path_checkpoint,
        verbose=1,
        save_weights_only=True,
        save_best_only=True,
    )

    history = model.fit(
        dataset_train,
        epochs=epochs,
        validation_data=dataset_val,
        callbacks=[es_callback, modelckpt_callback],
        verbose=2,  # changed: 1; one line an epoch, without the progress bar's timings
    )
    plots = []  # changed: what show_plot would draw, kept to compare
    for x, y in _first(dataset_val, 5, uses_tf_data):
        plots.append([x[0][:, 1].numpy(), y[0].numpy(), model.predict(x, verbose=0)[0]])  # changed: verbose=0
    return history, plots


def _first(dataset, count, uses_tf_data):
    if uses_tf_data:
        return dataset.take(count)
    return [batch for batch, _ in zip(dataset, range(count))]  # changed: a DataLoader has no take()


def test_train_with_checkpoint_and_early_stopping_as_keras(tmp_path, monkeypatch, capsys):
    k = keras_module()
    weights = _model(k, torch.zeros(1, 20, 7)).get_weights()
    capsys.readouterr()
    runs = {}
    for lib in (k, kerasish):
        (tmp_path / lib.__name__).mkdir()
        monkeypatch.chdir(tmp_path / lib.__name__)
        runs[lib] = _train(lib, weights, uses_tf_data=lib is kerasish) + (capsys.readouterr().out.splitlines(),)
    (h_ours, plots_ours, out_ours), (h_theirs, plots_theirs, out_theirs) = runs[kerasish], runs[k]
    assert list(h_ours.history) == list(h_theirs.history) == ["loss", "val_loss"]
    assert h_ours.epoch == h_theirs.epoch
    for key in h_ours.history:
        np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=2e-4, atol=1e-6)
    text_ours, numbers_ours = text_and_numbers(out_ours)
    text_theirs, numbers_theirs = text_and_numbers(out_theirs)
    assert text_ours == text_theirs
    # As in Keras, the bar prints last: ModelCheckpoint's lines come before the epoch's own line.
    assert text_ours[1:8] == [
        "Epoch #/#",
        "",
        "Epoch #: val_loss improved from None to #, saving model to model_checkpoint.weights.h#",
        "",
        "Epoch #: finished saving model to model_checkpoint.weights.h#",
        "#/# - <time> - <time>/step - loss: # - val_loss: #",
        "Epoch #/#",
    ]
    np.testing.assert_allclose(numbers_ours, numbers_theirs, rtol=5e-4, atol=1.5e-4)
    assert len(plots_ours) == len(plots_theirs) == 2  # 438 validation windows: batches of 256 and 182
    for ours, theirs in zip(plots_ours, plots_theirs):
        assert_close(ours[:2], theirs[:2], atol=0, rtol=0)
        assert_close(ours[2], theirs[2], atol=1e-4, rtol=1e-3)
    # The best weights on disk: the file holds what Keras's holds (the model's and the optimizer's
    # variables, under the same names, shapes and dtypes), and Keras reads it and finds its own best weights.
    h5py = pytest.importorskip("h5py")

    def layout(path):
        with h5py.File(path) as f:
            found = []
            f.visititems(lambda name, item: found.append((name, getattr(item, "shape", None),
                                                          str(getattr(item, "dtype", "")))))
            return found

    ours_file, theirs_file = (tmp_path / lib / "model_checkpoint.weights.h5" for lib in ("kerasish", "keras"))
    assert layout(ours_file) == layout(theirs_file)
    assert ("optimizer/vars/11", (1,), "float32") in layout(ours_file)  # Adam's moments of the Dense bias
    best = _model(k, torch.zeros(1, 20, 7))
    best.load_weights(str(ours_file))
    theirs = _model(k, torch.zeros(1, 20, 7))
    theirs.load_weights(str(theirs_file))
    assert_close(best.get_weights(), theirs.get_weights(), atol=1e-4, rtol=1e-3)


def test_a_timeseries_dataset_takes_as_tf_data_takes():
    # The example's `dataset_train.take(1)` (a tf.data method): the first batches, each pass.
    x = np.arange(40, dtype="float32").reshape(20, 2)
    ds = kerasish.utils.timeseries_dataset_from_array(x, np.arange(20), sequence_length=3, batch_size=4)
    first = ds.take(2)
    assert len(ds) == 5 and len(first) == 2
    for _ in range(2):
        batches = list(first)
        assert [tuple(b[0].shape) for b in batches] == [(4, 3, 2), (4, 3, 2)]
        assert batches[1][1].tolist() == [4, 5, 6, 7]
    assert len(list(ds.take(-1))) == 5
    with pytest.raises(ValueError, match=r"take\(\) needs an int count >= -1.*count=1.5"):
        ds.take(1.5)


def test_callbacks_print_before_the_epochs_line_which_shows_their_logs_as_keras(tmp_path, monkeypatch, capsys):
    # Keras runs its progress bar after every other callback: ModelCheckpoint's and ReduceLROnPlateau's
    # lines come before the epoch's line, LearningRateScheduler's before "Epoch 2/3", and the line shows
    # the learning_rate a callback added to the logs, last, in the logs' own order.
    k = keras_module()
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    weights = k.Sequential([k.Input((4,)), k.layers.Dense(1)]).get_weights()
    out = {}
    for lib in (k, kerasish):
        (tmp_path / lib.__name__).mkdir()
        monkeypatch.chdir(tmp_path / lib.__name__)
        model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(1)])
        model.set_weights(weights)
        model.compile(optimizer=lib.optimizers.SGD(0.01), loss="mse")
        callbacks = [lib.callbacks.ModelCheckpoint("m.weights.h5", save_weights_only=True, save_best_only=True,
                                                   verbose=1),
                     lib.callbacks.ReduceLROnPlateau(patience=0, factor=0.5, min_delta=10, verbose=1),
                     lib.callbacks.LearningRateScheduler(lambda epoch, lr: lr, verbose=1)]
        model.fit(x, y, batch_size=16, epochs=2, validation_split=0.25, shuffle=False, verbose=2,
                  callbacks=callbacks)
        out[lib] = text_and_numbers(capsys.readouterr().out.splitlines())
    assert out[kerasish][0] == out[k][0]
    np.testing.assert_allclose(out[kerasish][1], out[k][1], rtol=1e-4, atol=1e-4)
    lines = [line for line in out[kerasish][0] if line]
    epoch_line = "#/# - <time> - <time>/step - loss: # - val_loss: # - learning_rate: #"
    assert lines[:5] == [
        "Epoch #: LearningRateScheduler setting learning rate to #.",
        "Epoch #/#",
        "Epoch #: val_loss improved from None to #, saving model to m.weights.h#",
        "Epoch #: finished saving model to m.weights.h#",
        epoch_line,
    ]
    assert lines[-2:] == ["Epoch #: ReduceLROnPlateau reducing learning rate to #.", epoch_line]


def test_a_read_only_frame_makes_a_dataset_without_a_torch_warning():
    # The example's targets are a pandas frame; under copy-on-write its values are read-only, and
    # torch.from_numpy warns about those (once a process: hence a fresh one here).
    code = (
        "import warnings, numpy as np, pandas as pd\n"
        "import kerasish\n"
        "frame = pd.DataFrame(np.arange(40.0).reshape(20, 2))\n"
        "values = frame.iloc[2:][[1]].values\n"
        "values.setflags(write=False)\n"
        "with warnings.catch_warnings():\n"
        "    warnings.simplefilter('error')\n"
        "    ds = kerasish.utils.timeseries_dataset_from_array(values, values, sequence_length=3, batch_size=4)\n"
        "    x, y = next(iter(ds))\n"
        "print(tuple(x.shape), y[:, 0].tolist())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(4, 3, 1) [5.0, 7.0, 9.0, 11.0]"
