import csv
import os

import pytest

from kerasish.callbacks import CSVLogger
from tests.callbacks.conftest import tiny_data, tiny_model


def read(path, sep=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=sep))


def test_rows_through_fit(tmp_path):
    x, y = tiny_data()
    path = str(tmp_path / "log.csv")
    history = tiny_model(metrics=["mae"]).fit(x, y, epochs=3, batch_size=10, validation_split=0.2, verbose=0,
                                              callbacks=[CSVLogger(path)])
    rows = read(path)
    assert rows[0] == ["epoch", "loss", "mae", "val_loss", "val_mae"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    assert [float(r[1]) for r in rows[1:]] == pytest.approx(history.history["loss"])
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_append_keeps_rows_and_header_once(tmp_path):
    path = str(tmp_path / "log.csv")
    for _ in range(2):
        cb = CSVLogger(path, separator=";", append=True)
        cb.on_train_begin({})
        cb.on_epoch_end(0, {"loss": 1.0})
    assert read(path, ";") == [["epoch", "loss"], ["0", "1.0"], ["0", "1.0"]]


def test_without_append_overwrites_and_fills_missing_with_na(tmp_path):
    path = str(tmp_path / "log.csv")
    with open(path, "w") as f:
        f.write("old\n")
    cb = CSVLogger(path)
    cb.on_train_begin({})
    cb.on_epoch_end(0, {"loss": 1.0, "val_loss": 2.0})
    cb.on_epoch_end(1, {"loss": 0.5})
    assert read(path) == [["epoch", "loss", "val_loss"], ["0", "1.0", "2.0"], ["1", "0.5", "NA"]]


def test_bad_separator_raises():
    with pytest.raises(ValueError, match=r"separator must be a single character, received separator=', '"):
        CSVLogger("x.csv", separator=", ")
