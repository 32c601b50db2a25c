"""Keras's debugging caps on training length (`config.set_max_epochs`, `set_max_steps_per_epoch`,
and the `KERAS_MAX_EPOCHS` / `KERAS_MAX_STEPS_PER_EPOCH` environment variables), held against
Keras 3: the same script runs the same number of epochs and steps, with the same warnings."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import kerasish
from tests.keras_parity import keras_module

X = np.random.default_rng(0).normal(size=(40, 3)).astype("float32")
Y = X.sum(axis=1, keepdims=True)


@pytest.fixture
def K():
    keras = keras_module()
    yield keras
    keras.config.set_max_epochs(None)
    keras.config.set_max_steps_per_epoch(None)


@pytest.fixture(autouse=True)
def no_caps():
    yield
    kerasish.config.set_max_epochs(None)
    kerasish.config.set_max_steps_per_epoch(None)


def model(lib):
    m = lib.Sequential([lib.layers.Input((3,)), lib.layers.Dense(1)])
    m.compile(optimizer="sgd", loss="mse")
    return m


def limit_messages(caught):
    return [str(w.message) for w in caught if str(w.message).startswith("Limiting")]


def run(lib, fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, limit_messages(caught)


def test_max_epochs_caps_fit_as_keras(K):
    results = {}
    for lib in (K, kerasish):
        lib.config.set_max_epochs(2)
        assert lib.config.max_epochs() == 2
        m = model(lib)
        history, messages = run(lib, lambda: m.fit(X, Y, batch_size=8, epochs=5, verbose=0))
        results[lib.__name__] = (history.epoch, int(m.optimizer.iterations), messages)
    assert results["kerasish"] == results["keras"]
    assert results["keras"] == ([0, 1], 10, ["Limiting epochs to 2"])


def test_max_epochs_above_the_request_changes_nothing(K):
    for lib in (K, kerasish):
        lib.config.set_max_epochs(9)
        m = model(lib)
        history, messages = run(lib, lambda: m.fit(X, Y, batch_size=8, epochs=3, verbose=0))
        assert (history.epoch, messages) == ([0, 1, 2], [])


def test_max_epochs_with_initial_epoch(K):
    results = {}
    for lib in (K, kerasish):
        lib.config.set_max_epochs(3)
        m = model(lib)
        history, _ = run(lib, lambda: m.fit(X, Y, batch_size=8, epochs=6, initial_epoch=1, verbose=0))
        results[lib.__name__] = history.epoch
    assert results["kerasish"] == results["keras"] == [1, 2]


def test_max_steps_caps_fit_validation_evaluate_predict(K):
    results = {}
    for lib in (K, kerasish):
        lib.config.set_max_steps_per_epoch(2)
        assert lib.config.max_steps_per_epoch() == 2
        m = model(lib)
        _, fit_messages = run(lib, lambda: m.fit(X, Y, batch_size=8, epochs=2, validation_data=(X, Y), verbose=0))
        iterations = int(m.optimizer.iterations)
        _, eval_messages = run(lib, lambda: m.evaluate(X, Y, batch_size=8, verbose=0))
        predictions, predict_messages = run(lib, lambda: m.predict(X, batch_size=8, verbose=0))
        results[lib.__name__] = (iterations, fit_messages, eval_messages, predict_messages, predictions.shape)
    assert results["kerasish"] == results["keras"]
    assert results["keras"][0] == 4 and results["keras"][4] == (16, 1)


def test_a_smaller_steps_argument_stays(K):
    results = {}
    for lib in (K, kerasish):
        lib.config.set_max_steps_per_epoch(3)
        m = model(lib)
        _, messages = run(lib, lambda: m.fit(X, Y, batch_size=8, epochs=1, steps_per_epoch=2, verbose=0))
        predictions, predict_messages = run(lib, lambda: m.predict(X, batch_size=8, steps=1, verbose=0))
        results[lib.__name__] = (int(m.optimizer.iterations), messages, predict_messages, predictions.shape)
    assert results["kerasish"] == results["keras"] == (2, [], [], (8, 1))


def test_single_batch_calls_are_not_capped(K):
    for lib in (K, kerasish):
        lib.config.set_max_steps_per_epoch(1)
        m = model(lib)
        _, messages = run(lib, lambda: m.train_on_batch(X, Y))
        predictions, predict_messages = run(lib, lambda: m.predict_on_batch(X))
        assert (messages, predict_messages, int(m.optimizer.iterations)) == ([], [], 1)
        assert predictions.shape == (40, 1)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_bad_limits_are_refused(bad):
    with pytest.raises(ValueError, match=r"set_max_epochs takes a positive integer or None \(no limit\), received"):
        kerasish.config.set_max_epochs(bad)
    with pytest.raises(ValueError, match=r"set_max_steps_per_epoch takes a positive integer or None"):
        kerasish.config.set_max_steps_per_epoch(bad)
    assert kerasish.config.max_epochs() is None and kerasish.config.max_steps_per_epoch() is None


SCRIPT = """
import warnings, numpy as np, kerasish
warnings.simplefilter("ignore")
m = kerasish.Sequential([kerasish.layers.Input((3,)), kerasish.layers.Dense(1)])
m.compile(optimizer="sgd", loss="mse")
h = m.fit(np.ones((40, 3), "float32"), np.ones((40, 1), "float32"), batch_size=8, epochs=4, verbose=0)
print(len(h.epoch), int(m.optimizer.iterations))
"""


def run_script(**env):
    full = {k: v for k, v in os.environ.items() if not k.startswith("KERAS_MAX")}
    full.update(env)
    return subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=full, timeout=120)


def test_environment_variables_set_the_caps():
    done = run_script(KERAS_MAX_EPOCHS="2", KERAS_MAX_STEPS_PER_EPOCH="2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "4"]


def test_a_bad_environment_value_stops_the_import_with_a_clear_message():
    done = run_script(KERAS_MAX_EPOCHS="two")
    assert done.returncode != 0
    assert "The environment variable KERAS_MAX_EPOCHS must be a positive integer, received 'two'" in done.stderr
