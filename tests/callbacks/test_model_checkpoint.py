import os

import numpy as np
import pytest

import kerasish
from kerasish.callbacks import ModelCheckpoint
from tests.callbacks.conftest import drive, tiny_data, tiny_model


def test_save_best_only_mode_min(tmp_path):
    cb = ModelCheckpoint(str(tmp_path / "e{epoch}.kerasish"), monitor="val_loss", save_best_only=True, mode="min")
    drive(cb, [0.5, 0.7, 0.4, 0.45])
    assert sorted(os.listdir(tmp_path)) == ["e1.kerasish", "e3.kerasish"]
    assert cb.best == 0.4


def test_save_best_only_mode_max_and_templated_names(tmp_path):
    template = str(tmp_path / "ckpt-{epoch:02d}-{val_accuracy:.2f}.kerasish")
    cb = ModelCheckpoint(template, monitor="val_accuracy", save_best_only=True, mode="max")
    drive(cb, [0.5, 0.7, 0.6, 0.9], monitor="val_accuracy")
    assert sorted(os.listdir(tmp_path)) == ["ckpt-01-0.50.kerasish", "ckpt-02-0.70.kerasish", "ckpt-04-0.90.kerasish"]


def test_auto_mode_for_accuracy_is_max(tmp_path):
    cb = ModelCheckpoint(str(tmp_path / "e{epoch}.kerasish"), monitor="val_accuracy", save_best_only=True)
    drive(cb, [0.5, 0.4, 0.6], monitor="val_accuracy")
    assert sorted(os.listdir(tmp_path)) == ["e1.kerasish", "e3.kerasish"]


def test_initial_value_threshold(tmp_path):
    cb = ModelCheckpoint(str(tmp_path / "e{epoch}.kerasish"), save_best_only=True, initial_value_threshold=0.3)
    drive(cb, [0.5, 0.4, 0.2, 0.25])
    assert os.listdir(tmp_path) == ["e3.kerasish"]


def test_every_epoch_and_logs_keys(tmp_path):
    cb = ModelCheckpoint(str(tmp_path / "sub" / "m-{epoch:02d}-{loss:.1f}.weights.safetensors"), save_weights_only=True)
    drive(cb, [0.5, 0.4], monitor="val_loss", extra={"loss": 1.25})
    assert sorted(os.listdir(tmp_path / "sub")) == ["m-01-1.2.weights.safetensors", "m-02-1.2.weights.safetensors"]


def test_unknown_template_key_raises(tmp_path):
    cb = ModelCheckpoint(str(tmp_path / "{val_acc:.2f}.kerasish"))
    with pytest.raises(KeyError, match=r"Failed to format this callback filepath.*val_acc.* is not in the logs"):
        drive(cb, [0.5])


def test_missing_monitor_warns_and_does_not_save(tmp_path):
    cb = ModelCheckpoint(str(tmp_path / "m.kerasish"), save_best_only=True)
    with pytest.warns(UserWarning, match=r"`val_loss` which is not available\. Available metrics are: loss"):
        drive(cb, [0.5], monitor="loss")
    assert os.listdir(tmp_path) == []


def test_verbose_lines(tmp_path, capsys):
    cb = ModelCheckpoint(str(tmp_path / "m.kerasish"), save_best_only=True, verbose=1)
    drive(cb, [0.5, 0.6])
    out = capsys.readouterr().out
    # Keras 3's lines: 'None' before the first value, and a line once the file is written.
    assert "Epoch 1: val_loss improved from None to 0.50000, saving model to" in out
    assert f"Epoch 1: finished saving model to {tmp_path / 'm.kerasish'}" in out
    assert "Epoch 2: val_loss did not improve from 0.50000" in out
    assert out.count("finished saving") == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"filepath": "m.h5"}, r"ModelCheckpoint: 'm\.h5' names a legacy HDF5 file.*ckpt-\{epoch:02d\}\.keras"),
    ({"filepath": "m.txt"}, r"ModelCheckpoint: The model file path must end in one of '\.keras'"),
    ({"filepath": "m.kerasish", "save_weights_only": True}, r"save_weights writes weights files; 'm\.kerasish' names a "
                                                            r"whole-model file"),
    ({"filepath": "m.kerasish", "save_freq": "batch"}, r"Unrecognized save_freq: 'batch'"),
    ({"filepath": "m.kerasish", "save_freq": 0}, r"Unrecognized save_freq: 0"),
])
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ModelCheckpoint(**kwargs)


def test_state_dict_round_trip(tmp_path):
    cb = ModelCheckpoint(str(tmp_path / "m.kerasish"), save_best_only=True)
    drive(cb, [0.5, 0.3])
    fresh = ModelCheckpoint(str(tmp_path / "m.kerasish"), save_best_only=True)
    fresh.load_state_dict(cb.state_dict())
    assert fresh.best == 0.3


def test_integer_save_freq_counts_batches_through_fit(tmp_path):
    x, y = tiny_data(40)
    model = tiny_model()
    cb = ModelCheckpoint(str(tmp_path / "e{epoch}-b{batch}.weights.safetensors"), save_weights_only=True, save_freq=3)
    model.fit(x, y, batch_size=8, epochs=2, callbacks=[cb], verbose=0)  # 5 batches per epoch: saves after 3, 6, 9
    assert sorted(os.listdir(tmp_path)) == ["e1-b3.weights.safetensors", "e2-b1.weights.safetensors",
                                            "e2-b4.weights.safetensors"]


def test_end_to_end_best_model_loads_and_predicts(tmp_path):
    x, y = tiny_data(40)
    model = tiny_model()
    path = str(tmp_path / "best.kerasish")
    history = model.fit(x, y, batch_size=8, epochs=4, validation_split=0.25, verbose=0,
                        callbacks=[ModelCheckpoint(path, save_best_only=True)])
    restored = kerasish.load_model(path)
    best = min(history.history["val_loss"])
    assert restored.evaluate(x[30:], y[30:], verbose=0) == pytest.approx(best, rel=1e-5)
    assert np.isfinite(restored.predict(x, verbose=0)).all()


_SLOW_WRITER = r"""
import os, sys, time, zipfile
import numpy as np
from kerasish import Sequential
from kerasish.callbacks import LambdaCallback, ModelCheckpoint
from kerasish.layers import Dense

folder = sys.argv[1]
real_writestr = zipfile.ZipFile.writestr


def slow_writestr(self, name, data, *args, **kwargs):
    # From the second save on, stall in the middle of writing the zip (config.json already written).
    real_writestr(self, name, data, *args, **kwargs)
    if name == "config.json" and os.path.exists(os.path.join(folder, "ref.safetensors")):
        open(os.path.join(folder, "writing"), "w").close()
        time.sleep(120)


zipfile.ZipFile.writestr = slow_writestr
x = np.random.rand(16, 3).astype("float32")
y = x.sum(axis=1, keepdims=True)
model = Sequential([Dense(4, input_shape=(3,)), Dense(1)])
model.compile(optimizer="adam", loss="mse", device="cpu")
keep_reference = LambdaCallback(
    on_epoch_end=lambda epoch, logs: epoch == 0 and model.save_weights(os.path.join(folder, "ref.safetensors")))
model.fit(x, y, epochs=3, batch_size=4, verbose=0,
          callbacks=[ModelCheckpoint(os.path.join(folder, "ckpt.kerasish")), keep_reference])
"""


@pytest.mark.slow  # a subprocess importing torch
def test_kill_during_a_checkpoint_write_leaves_the_previous_one_loadable(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    child = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, str(tmp_path)])
    try:
        deadline = time.time() + 120
        while not (tmp_path / "writing").exists() and child.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert (tmp_path / "writing").exists(), "the child never reached the second checkpoint write"
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=60)
    # The half-written temporary file is there; the checkpoint itself is the complete first one.
    assert [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    model = kerasish.load_model(str(tmp_path / "ckpt.kerasish"))
    reference = kerasish.saving.weights.tensors_from_bytes((tmp_path / "ref.safetensors").read_bytes(), "ref")
    for got, want in zip(model.state_dict().values(), reference.values()):
        assert np.array_equal(got.numpy(), want.numpy())
