"""Progress output in Keras 3's format, in a pipe, a sized terminal, an unsized pty and Jupyter; History.plot.

The same small fit runs under kerasish and under Keras 3 (torch backend, in a subprocess); the printed
lines are reduced to skeletons (times and values replaced) and compared.
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import importlib.util
import io
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import textwrap
import time
from typing import Dict, List

import numpy as np
import pytest

import kerasish
from kerasish.callbacks import History, ProgbarLogger
from kerasish.utils import Progbar, plot_history

from tests.keras_parity import keras_module

from .conftest import tiny_data, tiny_model

# One script for both libraries: `LIB` is kerasish or keras. It prints the run's History and
# evaluate's results as JSON after the progress output.
_SCRIPT = textwrap.dedent("""
    import json, os, sys
    import numpy as np
    LIB = sys.argv[1]
    if LIB == "keras":
        os.environ["KERAS_BACKEND"] = "torch"
    lib = __import__(LIB)
    verbose = int(sys.argv[2])
    rng = np.random.default_rng(0)
    x = rng.random((64, 4)).astype("float32")
    y = (x.sum(axis=1) > 2).astype("float32")
    model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=2, batch_size=16, validation_split=0.25, verbose=verbose)
    results = model.evaluate(x, y, batch_size=16, verbose=verbose, return_dict=True)
    model.predict(x, batch_size=16, verbose=verbose)
    print("HISTORY " + json.dumps({k: [float(v) for v in vs] for k, vs in history.history.items()}))
    print("EVALUATE " + json.dumps({k: float(v) for k, v in results.items()}))
""")

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _keras_value(value: float) -> str:
    """A value as Keras 3's Progbar prints it (written from its documented rule, not our code)."""
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


_RUNS: Dict[tuple, str] = {}


def _run_script(tmp_path, lib: str, verbose: int, rows: int = -1, cols: int = -1) -> str:
    """The script's output with stdout on a pipe (rows < 0) or on a pty of the given size (run once per kind)."""
    key = (lib, verbose, rows, cols)
    if key not in _RUNS:
        _RUNS[key] = _run_script_now(tmp_path, lib, verbose, rows, cols)
    return _RUNS[key]


def _run_script_now(tmp_path, lib: str, verbose: int, rows: int, cols: int) -> str:
    script = tmp_path / "fit_script.py"
    script.write_text(_SCRIPT)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, str(script), lib, str(verbose)]
    if rows < 0:
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=300)
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout.decode()
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=subprocess.PIPE, env=env, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()
    return b"".join(chunks).decode().replace("\r\n", "\n")


def _screen_lines(raw: str) -> List[str]:
    """What stays on screen: per line, the text after the last carriage return, without colours."""
    lines = []
    for line in _ANSI.sub("", raw).replace("\b", "").split("\n"):
        line = line.rsplit("\r", 1)[-1].rstrip()
        if line:
            lines.append(line)
    return lines


def _results(raw: str) -> tuple:
    found = dict(re.findall(r"^(HISTORY|EVALUATE) (.*)$", _ANSI.sub("", raw), re.M))
    return json.loads(found["HISTORY"]), json.loads(found["EVALUATE"])


def _skeleton(lines: List[str]) -> List[str]:
    out = []
    for line in lines:
        if line.startswith(("HISTORY ", "EVALUATE ")):
            continue
        line = re.sub(r"\d+(?:us|ms|s)/step", "T/step", line)
        line = re.sub(r"-?\d+\.\d{4}(?:e[+-]\d+)?", "V", line)
        line = re.sub(r"(?<= )\d+s\b", "Ns", line)
        out.append(line)
    return out


def _assert_last_epoch_shown(raw: str, history: Dict[str, list], evaluate: Dict[str, float]) -> None:
    text = _ANSI.sub("", raw)
    for name, values in history.items():
        assert f"{name}: {_keras_value(values[-1])}" in text, (name, text)
    for name, value in evaluate.items():
        assert f"{name}: {_keras_value(value)}" in text, (name, text)


# ------------------------------------------------------------------ three kinds of stdout
def test_fit_into_a_pipe_prints_full_lines_with_every_metric(tmp_path):
    raw = _run_script(tmp_path, "kerasish", 1)
    history, evaluate = _results(raw)
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    _assert_last_epoch_shown(raw, history, evaluate)
    assert "\r" not in raw and "\x1b" not in raw  # a log file gets neither redraws nor colours
    epoch_end = [line for line in raw.splitlines() if line.startswith("3/3")]
    assert len(epoch_end) == 2 and all(line.endswith(f"val_loss: {_keras_value(v)}")
                                       for line, v in zip(epoch_end, history["val_loss"]))


def test_fit_into_a_stringio_through_redirect_stdout():
    x, y = tiny_data(40)
    model = tiny_model(metrics=["mae"])
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        history = model.fit(x, y, epochs=2, batch_size=10, validation_split=0.25, verbose=1)
    out = buffer.getvalue()
    assert out.startswith("Epoch 1/2\n")
    for name, values in history.history.items():
        assert f"{name}: {_keras_value(values[-1])}" in out
    assert "\r" not in out


def test_verbose_auto_prints_one_line_per_epoch_when_stdout_is_not_a_terminal():
    x, y = tiny_data(40)
    model = tiny_model()
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        history = model.fit(x, y, epochs=2, batch_size=10)  # verbose="auto"
    lines = buffer.getvalue().splitlines()
    assert [line.split(" - ")[0] for line in lines] == ["Epoch 1/2", "4/4", "Epoch 2/2", "4/4"]
    assert lines[3].endswith(f" - loss: {_keras_value(history.history['loss'][-1])}")


def test_fit_in_an_80_column_terminal_never_cuts_a_metric(tmp_path):
    raw = _run_script(tmp_path, "kerasish", 1, rows=24, cols=80)
    history, evaluate = _results(raw)
    _assert_last_epoch_shown(raw, history, evaluate)
    assert "\r" in raw  # redrawn in place
    # Every row the progress bar drew fits the terminal (the terminal never has to wrap it).
    rows = [row for part in _ANSI.sub("", raw).split("\n") for row in part.split("\r")]
    assert max(len(row) for row in rows if not row.startswith(("HISTORY", "EVALUATE"))) <= 80


def test_fit_in_a_40_column_terminal_wraps_whole_metrics(tmp_path):
    raw = _run_script(tmp_path, "kerasish", 1, rows=24, cols=40)
    history, evaluate = _results(raw)
    _assert_last_epoch_shown(raw, history, evaluate)
    screen = _screen_lines(raw)
    assert any(line.startswith("- val_loss: ") for line in screen)  # wrapped onto its own row


def test_fit_in_a_pty_without_size_prints_full_lines(tmp_path):
    raw = _run_script(tmp_path, "kerasish", 1, rows=0, cols=0)
    history, evaluate = _results(raw)
    _assert_last_epoch_shown(raw, history, evaluate)
    assert "\r" not in raw
    epoch_end = [line for line in raw.splitlines() if line.startswith("3/3")]
    assert all("val_accuracy: " in line for line in epoch_end) and len(epoch_end) == 2


# ------------------------------------------------------------------ against Keras 3 itself
@pytest.mark.parametrize("verbose", [1, 2])
def test_same_lines_as_keras(tmp_path, verbose):
    if importlib.util.find_spec("keras") is None:
        pytest.skip("keras is not installed (pip install keras) - the parity oracle is missing")
    ours = _run_script(tmp_path, "kerasish", verbose)
    theirs = _run_script(tmp_path, "keras", verbose)
    expected = _skeleton(_screen_lines(theirs))
    assert _skeleton(_screen_lines(ours)) == expected
    bar = "━" * 20
    fit_line = "3/3 " + (f"{bar} Ns T/step" if verbose == 1 else "- Ns - T/step")
    assert expected == [
        "Epoch 1/2", fit_line + " - accuracy: V - loss: V - val_accuracy: V - val_loss: V",
        "Epoch 2/2", fit_line + " - accuracy: V - loss: V - val_accuracy: V - val_loss: V",
        fit_line.replace("3/3", "4/4") + " - accuracy: V - loss: V",
        fit_line.replace("3/3", "4/4"),
    ]


def test_keras_formats_values_as_we_do():
    keras_module()  # the oracle, on its torch backend
    from keras.src.utils.progbar import Progbar as KerasProgbar

    for value in (0.5, 12.345678, 0.00042, -3.25, 0.0):
        theirs = io.StringIO()
        with contextlib.redirect_stdout(theirs):
            KerasProgbar(1, verbose=1, stateful_metrics=["m"]).update(1, [("m", value)])
        ours = io.StringIO()
        Progbar(1, verbose=1, stateful_metrics=["m"], file=ours).update(1, [("m", value)])
        assert _screen_lines(ours.getvalue())[-1].split(" - ")[-1] == _screen_lines(theirs.getvalue())[-1].split(" - ")[-1]


# ------------------------------------------------------------------ Progbar and ProgbarLogger
def test_progbar_verbose_2_prints_once_when_finished():
    out = io.StringIO()
    bar = Progbar(3, verbose=2, file=out)
    bar.update(1, [("loss", 1.0)])
    bar.update(2, [("loss", 3.0)])
    assert out.getvalue() == ""
    bar.update(3, [("loss", 5.0)])  # the finishing value is shown as given, as in Keras
    assert re.fullmatch(r"3/3 - \d+s - \d+(us|ms|s)/step - loss: 5\.0000\n", out.getvalue()), out.getvalue()


def test_progbar_averages_stateless_values_per_step():
    out = io.StringIO()
    bar = Progbar(4, verbose=1, interval=0, file=out, line_interval=0)
    bar.update(1, [("loss", 1.0), ("lr", 0.1)])
    bar.update(3, [("loss", 4.0), ("lr", 0.2)])  # two steps at 4.0: (1 + 4 * 2) / 3
    assert _screen_lines(out.getvalue())[-1].endswith(" - loss: 3.0000 - lr: 0.1667")
    keep = io.StringIO()
    bar = Progbar(4, verbose=1, interval=0, stateful_metrics=["lr"], file=keep, line_interval=0)
    bar.update(1, [("lr", 0.1)])
    bar.update(2, [("lr", 0.2)])
    assert _screen_lines(keep.getvalue())[-1].endswith(" - lr: 0.2000")


def test_progbar_into_a_file_prints_a_line_per_line_interval():
    out = io.StringIO()
    bar = Progbar(10, verbose=1, interval=0, file=out)  # line_interval: 30 s
    for step in range(1, 10):
        bar.update(step, [("loss", 0.5)])
    assert out.getvalue() == ""  # a short bar: nothing until it finishes
    bar.update(10, [("loss", 0.5)])
    assert re.fullmatch(r"10/10 ━{20} \d+s \d+(us|ms|s)/step - loss: 0\.5000\n", out.getvalue())
    out = io.StringIO()
    bar = Progbar(10, verbose=1, interval=0, file=out, line_interval=0)
    bar.update(5, [("loss", 0.5)])
    assert re.fullmatch(r" 5/10 ━{10}─{10} \d+s \d+(us|ms|s)/step - loss: 0\.5000\n", out.getvalue())


def test_progbar_unknown_target_counts_up():
    out = io.StringIO()
    bar = Progbar(None, verbose=1, file=out, stateful_metrics=["loss"])
    bar.update(5, [("loss", 0.25)], finalize=True)
    assert re.fullmatch(r"      5/Unknown \d+s \d+(us|ms|s)/step - loss: 0\.2500\n", out.getvalue())


def test_progbar_rejects_both_metric_lists_and_bad_verbose():
    with pytest.raises(ValueError, match="both stateful_metrics and stateless_metrics"):
        Progbar(3, stateful_metrics=["a"], stateless_metrics=["b"])
    with pytest.raises(ValueError, match=r"verbose must be 0, 1 or 2, received verbose=3"):
        Progbar(3, verbose=3)
    with pytest.raises(ValueError, match=r"width must be a positive integer, received width=0"):
        Progbar(3, width=0)


def test_progbar_logger_rejects_count_mode_samples():
    with pytest.raises(ValueError, match=r"counts steps .* received count_mode='samples'. Remove"):
        ProgbarLogger(count_mode="samples")


class _CountingLogs(dict):
    """Batch logs that count how often they are read (each read is a device sync in a real fit)."""

    reads = 0

    def items(self):
        type(self).reads += 1
        return super().items()


def test_logger_reads_the_lazy_logs_on_a_clock_not_per_batch(capsys):
    logger = ProgbarLogger()
    logger.set_params({"verbose": 1, "epochs": 1, "steps": 2000})
    logger.on_train_begin()
    logger.on_epoch_begin(0)
    start = time.perf_counter()
    for batch in range(2000):
        logger.on_train_batch_end(batch, _CountingLogs(loss=0.5))
    elapsed = time.perf_counter() - start
    logger.on_epoch_end(0, {"loss": 0.5})
    # One read per started 0.25 s at most, whatever the batch count.
    assert 1 <= _CountingLogs.reads <= 1 + int(elapsed / 0.25) + 1
    assert capsys.readouterr().out.rstrip("\n").endswith("loss: 0.5000")


def test_evaluate_inside_fit_is_silent_and_evaluate_alone_prints(capsys):
    x, y = tiny_data(40)
    model = tiny_model()
    model.fit(x, y, epochs=1, batch_size=10, validation_split=0.5, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch" not in out  # one epoch: no header, as Keras
    assert len([line for line in out.splitlines() if line.strip()]) == 1 and "val_loss: " in out
    model.evaluate(x, y, batch_size=10, verbose=1)
    assert re.fullmatch(r"4/4 ━{20} \d+s \d+(us|ms|s)/step - loss: \d\.\d{4}\n", capsys.readouterr().out)


# ------------------------------------------------------------------ Jupyter
_NOTEBOOK_CELL = textwrap.dedent("""
    import numpy as np, kerasish
    rng = np.random.default_rng(0)
    x = rng.random((64, 4)).astype("float32"); y = (x.sum(axis=1) > 2).astype("float32")
    model = kerasish.Sequential([kerasish.Input((4,)), kerasish.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=2, batch_size=16, validation_split=0.25)
    {k: v[-1] for k, v in history.history.items()}
""")


def _run_cells(cells: List[str]) -> List[list]:
    """Runs each cell in one fresh Jupyter kernel; returns each cell's (msg_type, content) messages."""
    manager = pytest.importorskip("jupyter_client.manager")
    pytest.importorskip("ipykernel")
    km, kc = manager.start_new_kernel(kernel_name="python3", env=dict(os.environ))
    out = []
    try:
        for cell in cells:
            msg_id = kc.execute(cell)
            messages = []
            while True:
                msg = kc.get_iopub_msg(timeout=120)
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                messages.append((msg["msg_type"], msg["content"]))
                if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    break
            out.append(messages)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return out


def test_jupyter_shows_html_lines_no_warning_and_one_plot():
    pytest.importorskip("matplotlib")
    fit_cell, plot_cell = _run_cells([_NOTEBOOK_CELL, "history.plot()"])
    for messages in (fit_cell, plot_cell):
        assert not [c for t, c in messages if t == "stream" and c["name"] == "stderr"]
        assert not [c for t, c in messages if t == "error"]
    last = ast.literal_eval(next(c for t, c in fit_cell if t == "execute_result")["data"]["text/plain"])
    shown = [c["data"] for t, c in fit_cell if t in ("display_data", "update_display_data") and "text/html" in c["data"]]
    final = [d for d in shown if d["text/plain"].startswith("3/3")]
    assert len(final) >= 2  # one finished line per epoch, text and HTML
    for name, value in last.items():
        assert f"{name}: {_keras_value(value)}" in final[-1]["text/plain"]
        assert f"{name}: {_keras_value(value)}" in final[-1]["text/html"]
    images = [c for t, c in plot_cell if "image/png" in c.get("data", {})]
    assert len(images) == 1  # shown once, not once by the inline backend and again as the result


def test_jupyter_with_ipywidgets_shows_a_widget_bar_then_the_finished_line():
    pytest.importorskip("ipywidgets")
    (fit_cell,) = _run_cells([_NOTEBOOK_CELL])
    assert not [c for t, c in fit_cell if t == "stream" and c["name"] == "stderr"]
    opened = [c["data"]["state"]["_model_name"] for t, c in fit_cell if t == "comm_open"]
    assert "IntProgressModel" in opened and "HTMLModel" in opened
    last = ast.literal_eval(next(c for t, c in fit_cell if t == "execute_result")["data"]["text/plain"])
    # The finished line replaces the widget's output, so a saved notebook keeps text, not a dead widget.
    final = [c["data"]["text/plain"] for t, c in fit_cell if t == "update_display_data"]
    assert len(final) == 2 and all(line.startswith("3/3 ") for line in final)
    for name, value in last.items():
        assert f"{name}: {_keras_value(value)}" in final[-1]


# ------------------------------------------------------------------ History.plot
@pytest.fixture
def fitted_history():
    pytest.importorskip("matplotlib")
    x, y = tiny_data(40)
    model = tiny_model(metrics=["mae"])
    return model.fit(x, y, epochs=4, batch_size=10, validation_split=0.25, validation_freq=2, verbose=0)


def test_history_plot_draws_train_and_validation_per_metric(fitted_history):
    import matplotlib.pyplot as plt

    fig = fitted_history.plot()
    try:
        labels = [[line.get_label() for line in ax.get_lines()] for ax in fig.axes]
        assert labels == [["loss", "val_loss"], ["mae", "val_mae"]]
        assert [ax.get_title() for ax in fig.axes] == ["loss", "mae"]
        loss, val_loss = fig.axes[0].get_lines()
        assert list(loss.get_xdata()) == [1, 2, 3, 4]
        np.testing.assert_allclose(loss.get_ydata(), fitted_history.history["loss"])
        assert list(val_loss.get_xdata()) == [2, 4]  # validation_freq=2: validated at epochs 2 and 4
    finally:
        plt.close(fig)


def test_plot_history_on_given_axes_and_chosen_metrics(fitted_history):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    try:
        assert plot_history(fitted_history, metrics=["val_mae"], ax=ax) is fig
        assert [line.get_label() for line in ax.get_lines()] == ["mae", "val_mae"]
        with pytest.raises(ValueError, match=r"draws 2 subplots \(\['loss', 'mae'\]\) but received 1 Axes"):
            plot_history(fitted_history, ax=[ax])
    finally:
        plt.close(fig)


def test_plot_history_errors(fitted_history, monkeypatch):
    with pytest.raises(ValueError, match=r"'maee' was not recorded. Recorded metrics: \['loss', 'mae'\]. Did you mean 'mae'"):
        fitted_history.plot(metrics=["maee"])
    with pytest.raises(ValueError, match="empty history: nothing was recorded. Call model.fit"):
        History().plot()
    with pytest.raises(TypeError, match="expects the History that fit returns .* received list"):
        plot_history([0.5, 0.4])
    monkeypatch.setitem(sys.modules, "matplotlib.axes", None)  # as if matplotlib were not installed
    with pytest.raises(ImportError, match=r"needs matplotlib.*pip install \"kerasish\[plot\]\""):
        fitted_history.plot()


def test_public_names():
    assert kerasish.utils.Progbar is Progbar and kerasish.utils.plot_history is plot_history
