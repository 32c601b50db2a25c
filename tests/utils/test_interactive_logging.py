"""config.{enable,disable}_interactive_logging: progress and callback messages on stdout, or as log records."""

import logging
import threading

import numpy as np
import pytest

import kerasish
from kerasish import config, utils
from kerasish.callbacks import EarlyStopping
from kerasish.utils import Progbar
from tests.keras_parity import keras_module


@pytest.fixture(autouse=True)
def interactive_again():
    yield
    config.enable_interactive_logging()


def _fit(verbose, callbacks=()):
    kerasish.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 1)).astype("float32")
    model = kerasish.Sequential([kerasish.Input((3,)), kerasish.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=2, batch_size=8, verbose=verbose, callbacks=list(callbacks))


def test_enabled_by_default_and_the_switch_matches_keras():
    keras = keras_module()
    for lib in (kerasish, keras):
        assert lib.config.is_interactive_logging_enabled() is True
        lib.config.disable_interactive_logging()
        assert lib.utils.is_interactive_logging_enabled() is False
        lib.utils.enable_interactive_logging()
        assert lib.config.is_interactive_logging_enabled() is True


@pytest.mark.parametrize("verbose", [1, 2])
def test_enabled_fit_prints_progress_to_stdout(capsys, caplog, verbose):
    with caplog.at_level(logging.INFO, logger="kerasish"):
        _fit(verbose)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "2/2" in out and "loss:" in out
    assert not [r for r in caplog.records if r.name == "kerasish"]


@pytest.mark.parametrize("verbose", [1, 2])
def test_disabled_fit_logs_progress_instead(capsys, caplog, verbose):
    config.disable_interactive_logging()
    with caplog.at_level(logging.INFO, logger="kerasish"):
        _fit(verbose, [EarlyStopping(monitor="loss", patience=0, min_delta=1e9, verbose=1)])
    assert capsys.readouterr().out == ""
    lines = [r.getMessage() for r in caplog.records if r.name == "kerasish"]
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "kerasish")
    assert lines[0] == "Epoch 1/2"
    bar_lines = [line for line in lines if line.startswith("2/2")]
    assert len(bar_lines) == 2  # one finished line per epoch, nothing redrawn
    assert all("loss: " in line and "\x1b" not in line and "\r" not in line for line in bar_lines)
    assert "Epoch 2: early stopping" in lines


def test_progbar_with_its_own_file_keeps_writing_there(caplog):
    import io

    config.disable_interactive_logging()
    stream = io.StringIO()
    with caplog.at_level(logging.INFO, logger="kerasish"):
        bar = Progbar(2, verbose=2, file=stream)
        bar.update(2, [("loss", 0.5)])
    assert "loss: 0.5000" in stream.getvalue()
    assert not [r for r in caplog.records if r.name == "kerasish"]


def test_print_msg_routes_by_the_switch(capsys, caplog):
    from kerasish.utils.interactive_logging import print_msg

    with caplog.at_level(logging.INFO, logger="kerasish"):
        print_msg("\nEpoch 1: hello")
        config.disable_interactive_logging()
        print_msg("\nEpoch 2: hello")
    assert capsys.readouterr().out == "\nEpoch 1: hello\n"
    assert [r.getMessage() for r in caplog.records if r.name == "kerasish"] == ["Epoch 2: hello"]


def test_the_switch_is_process_wide():
    # Keras keeps it per thread; kerasish's holds for progress drawn from any thread (documented).
    config.disable_interactive_logging()
    seen = []
    thread = threading.Thread(target=lambda: seen.append(utils.is_interactive_logging_enabled()))
    thread.start()
    thread.join()
    assert seen == [False]


def test_summary_goes_to_the_log_when_disabled(capsys, caplog):
    model = kerasish.Sequential([kerasish.Input((3,)), kerasish.layers.Dense(2)])
    model.summary()
    shown = capsys.readouterr().out
    assert "Total params: 8" in shown
    config.disable_interactive_logging()
    with caplog.at_level(logging.INFO, logger="kerasish"):
        model.summary()
    assert capsys.readouterr().out == ""
    logged = [r.getMessage() for r in caplog.records if r.name == "kerasish"]
    assert any("Total params: 8" in line for line in logged)
    model.summary(print_fn=lambda text: print("given:", text.count("\n")))  # an explicit print_fn still wins
    assert capsys.readouterr().out.startswith("given:")


def test_dataset_messages_follow_the_switch(tmp_path, capsys, caplog):
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        (tmp_path / cls / "x.txt").write_text("hello")
    config.disable_interactive_logging()
    with caplog.at_level(logging.INFO, logger="kerasish"):
        utils.text_dataset_from_directory(tmp_path, batch_size=2)
    assert capsys.readouterr().out == ""
    assert "Found 2 files belonging to 2 classes." in [r.getMessage() for r in caplog.records]


def test_a_stdout_that_cannot_encode_the_box_characters_still_gets_the_summary():
    import subprocess
    import sys

    code = ("import kerasish; m = kerasish.Sequential([kerasish.Input((4,)), kerasish.layers.Dense(2)]); "
            "m.summary()")
    env = dict(__import__("os").environ, PYTHONIOENCODING="ascii")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "dense (Dense)" in proc.stdout and "Total params: 10" in proc.stdout
