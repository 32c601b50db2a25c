"""keras-io's example "Timeseries classification from scratch"
(`examples/timeseries/timeseries_classification_from_scratch.py`), run on kerasish.

The example's code is kept as written; the only changes are the imports (`import kerasish as keras`)
and the lines marked `# changed:`: seeded synthetic series (two classes of noisy waves, labels -1 and 1
as in FordA's files) stand in for the FordA download, 200 series of 64 steps and a few epochs with
callback patiences shrunk to match; `np.mean` stands in for sklearn's `accuracy_score`; Keras's initial
weights are copied in and `shuffle=False` is passed. Keras 3 (torch backend, `tests/keras_parity.py`)
runs the same code: the History of the fully convolutional network (Conv1D, BatchNormalization, ReLU)
under ModelCheckpoint(save_best_only), ReduceLROnPlateau and EarlyStopping(verbose=1), the epoch
training stopped at, the printed lines, and the best model reloaded from `best_model.keras` are compared. kerasish writes no legacy HDF5 file (it
reads them): the example's `best_model.h5` raises an error that names the `.keras` way out, tested
below.
"""

from __future__ import annotations

import numpy as np
import pytest

import kerasish
from tests.keras_parity import assert_close, keras_module

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # both summaries at their default width, whatever the terminal


def readucr(n, length, seed):  # changed: synthetic series in place of np.loadtxt(FordA_*.tsv)
    rng = np.random.default_rng(seed)
    y = rng.choice([-1, 1], size=n)
    t = np.linspace(0.0, 4 * np.pi, length)
    freq = np.where(y == 1, 1.0, 1.6)[:, None]
    x = np.sin(freq * t[None, :] + rng.uniform(0, np.pi, (n, 1))) + 0.4 * rng.normal(size=(n, length))
    x = (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True)  # z-normalized, as FordA
    return x, y.astype(int)


def _data():
    x_train, y_train = readucr(200, 64, seed=0)  # changed: readucr(root_url + "FordA_TRAIN.tsv")
    x_test, y_test = readucr(64, 64, seed=1)  # changed: readucr(root_url + "FordA_TEST.tsv")
    x_train = x_train.reshape((x_train.shape[0], x_train.shape[1], 1))
    x_test = x_test.reshape((x_test.shape[0], x_test.shape[1], 1))
    num_classes = len(np.unique(y_train))
    idx = np.random.default_rng(2).permutation(len(x_train))  # changed: a seeded np.random.permutation
    x_train = x_train[idx]
    y_train = y_train[idx]
    y_train[y_train == -1] = 0
    y_test[y_test == -1] = 0
    return (x_train, y_train), (x_test, y_test), num_classes


def make_model(keras, input_shape, num_classes):  # changed: keras and num_classes passed in
    keras.backend.clear_session()  # changed: names restart in both libraries
    input_layer = keras.layers.Input(input_shape)

    conv1 = keras.layers.Conv1D(filters=64, kernel_size=3, padding="same")(input_layer)
    conv1 = keras.layers.BatchNormalization()(conv1)
    conv1 = keras.layers.ReLU()(conv1)

    conv2 = keras.layers.Conv1D(filters=64, kernel_size=3, padding="same")(conv1)
    conv2 = keras.layers.BatchNormalization()(conv2)
    conv2 = keras.layers.ReLU()(conv2)

    conv3 = keras.layers.Conv1D(filters=64, kernel_size=3, padding="same")(conv2)
    conv3 = keras.layers.BatchNormalization()(conv3)
    conv3 = keras.layers.ReLU()(conv3)

    gap = keras.layers.GlobalAveragePooling1D()(conv3)

    output_layer = keras.layers.Dense(num_classes, activation="softmax")(gap)

    return keras.models.Model(inputs=input_layer, outputs=output_layer)


def _summary(model):
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines).rstrip("\n")


def test_the_model_summary_is_keras_summary():
    k = keras_module()
    texts = {lib: (_summary(m), m.count_params()) for lib in (k, kerasish) for m in [make_model(lib, (64, 1), 2)]}
    assert "Non-trainable params: 384" in texts[kerasish][0]  # 3 BatchNormalization layers' moving statistics
    assert texts[kerasish] == texts[k]


def _train_and_evaluate(keras, data, weights):
    (x_train, y_train), (x_test, y_test), num_classes = data
    model = make_model(keras, x_train.shape[1:], num_classes)
    model.set_weights(weights)  # changed: Keras's initial weights in both

    epochs = 12  # changed: 500, for speed
    batch_size = 32

    callbacks = [
        keras.callbacks.ModelCheckpoint(
            "best_model.keras", save_best_only=True, monitor="val_loss"  # changed: .h5 (see below)
        ),
        keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=0.5, patience=1, min_lr=0.0001  # changed: patience 20
        ),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=3, verbose=1),  # changed: patience 50
    ]
    model.compile(
        optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    history = model.fit(
        x_train,
        y_train,
        batch_size=batch_size,
        epochs=epochs,
        callbacks=callbacks,
        validation_split=0.2,
        shuffle=False,  # changed: the same batches in both libraries
        verbose=0,  # changed: 1; the progress bar's timings differ from run to run
    )
    model = keras.models.load_model("best_model.keras")  # changed: .h5
    y_pred = model.predict(x_test, verbose=0).argmax(axis=1)  # changed: verbose=0
    print("Test accuracy", np.mean(y_pred == y_test))  # changed: accuracy_score(y_pred, y_test)
    return history, model, y_pred


def test_train_with_callbacks_and_reload_the_best_model_as_keras(tmp_path, monkeypatch, capsys):
    k = keras_module()
    data = _data()
    data_x_test = data[1][0]
    weights = make_model(k, (64, 1), 2).get_weights()
    runs = {}
    for lib in (k, kerasish):
        (tmp_path / lib.__name__).mkdir()
        monkeypatch.chdir(tmp_path / lib.__name__)
        runs[lib] = _train_and_evaluate(lib, data, weights) + (capsys.readouterr().out.splitlines(),)
    (h_ours, best_ours, pred_ours, out_ours), (h_theirs, best_theirs, pred_theirs, out_theirs) = runs[kerasish], runs[k]
    assert list(h_ours.history) == list(h_theirs.history)
    # ReduceLROnPlateau adds its key after the sorted ones, in both.
    assert list(h_ours.history) == ["accuracy", "loss", "val_accuracy", "val_loss", "learning_rate"]
    assert h_ours.epoch == h_theirs.epoch and len(h_ours.epoch) < 12  # EarlyStopping stopped both, together
    assert h_ours.history["learning_rate"][-1] < h_ours.history["learning_rate"][0]  # and the rate was cut
    # A Conv1D bias feeding a BatchNormalization has a zero gradient but for float rounding, which Adam
    # scales up to whole steps (lr-sized, in opposite directions in the two libraries); the moving means
    # take the biases in, and the rounding reaches the kernels. So the weights and the validation
    # numbers (inference statistics) drift apart by ~1e-3 over a dozen epochs, while the training
    # loss agrees to ~1e-4.
    np.testing.assert_allclose(h_ours.history["loss"], h_theirs.history["loss"], rtol=5e-4)
    for key in h_ours.history:
        np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=2e-3, atol=1e-6)
    assert out_ours == out_theirs  # EarlyStopping's line and the test accuracy
    assert out_ours[0].startswith("Epoch ") and out_ours[0].endswith(": early stopping")
    np.testing.assert_array_equal(pred_ours, pred_theirs)
    # The weights that have a true gradient agree to the drift above (not the biases under
    # BatchNormalization, nor the moving means that take them in).
    ours, theirs = best_ours.get_weights(), best_theirs.get_weights()
    names = [w.path.split("/")[-1] for w in best_theirs.weights]
    assert names[:6] == ["kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance"]
    real = [i for i, name in enumerate(names) if name in ("kernel", "gamma", "beta") or i >= len(names) - 2]
    assert len(real) == 3 * 3 + 2
    assert_close([ours[i] for i in real], [theirs[i] for i in real], atol=2e-3, rtol=0)
    assert_close(best_ours.predict(data_x_test, verbose=0), best_theirs.predict(data_x_test, verbose=0),
                 atol=2e-3, rtol=0)
    # Keras opens kerasish's best model and finds the same weights.
    theirs_of_ours = k.models.load_model(str(tmp_path / "kerasish" / "best_model.keras"))
    assert_close(theirs_of_ours.get_weights(), best_ours.get_weights())


def test_the_examples_h5_checkpoint_is_refused_with_the_keras_way_out():
    with pytest.raises(ValueError, match=r"'best_model.h5' names a legacy HDF5 file.*Use a .keras path"):
        kerasish.callbacks.ModelCheckpoint("best_model.h5", save_best_only=True, monitor="val_loss")
