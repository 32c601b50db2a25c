"""Bad input gets a clear error before any weight changes (table-driven).

Each case: the call, the exception type, and fragments the message must contain
(what was wrong, what was expected, how to fix it).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kerasish.layers import Activation, Dense, Dropout, Reshape
from kerasish.models import Sequential

X = np.random.default_rng(0).normal(size=(20, 4)).astype("float32")
Y_INT = np.arange(20) % 3
Y_HOT = np.eye(3, dtype="float32")[Y_INT]


def model_(compiled=True, loss="sparse_categorical_crossentropy", metrics=None):
    m = Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(3, activation="softmax")])
    if compiled:
        m.compile(optimizer="adam", loss=loss, metrics=metrics)
    return m


def with_nan():
    x = X.copy()
    x[3, 2] = np.nan
    return x


def with_inf():
    x = X.copy()
    x[5, 0] = np.inf
    return x


CASES = {
    "fit before compile": (
        lambda m: model_(False).fit(X, Y_INT), RuntimeError, ["compile", "before calling fit()", "model.compile("]),
    "evaluate before compile": (
        lambda m: model_(False).evaluate(X, Y_INT), RuntimeError, ["compile your model before calling evaluate()"]),
    "x and y lengths differ": (
        lambda m: m.fit(X, Y_INT[:15], verbose=0), ValueError, ["x has 20", "y has 15", "same number of samples"]),
    "sample_weight length differs": (
        lambda m: m.fit(X, Y_INT, sample_weight=np.ones(7), verbose=0), ValueError, ["sample_weight has 7"]),
    "feature shape mismatch": (
        lambda m: m.fit(X[:, :3], Y_INT, verbose=0), ValueError, ["expected samples of shape (4,)", "shape (3,)"]),
    "image given to an MLP hints at reshape": (
        lambda m: m.fit(X.reshape(20, 2, 2), Y_INT, verbose=0), ValueError, ["(2, 2)", "reshape(-1, 4)"]),
    "label out of range (sparse)": (
        lambda m: m.fit(X, Y_INT + 5, verbose=0), ValueError, ["label value of 7", "[0, 2]", "3 output units"]),
    "negative label (sparse)": (
        lambda m: m.fit(X, Y_INT - 1, verbose=0), ValueError, ["label value of -1", "outside the valid range"]),
    "one-hot labels to sparse loss": (
        lambda m: m.fit(X, Y_HOT, verbose=0), ValueError, ["looks one-hot", "loss='categorical_crossentropy'"]),
    "integer labels to categorical loss": (
        lambda m: model_(loss="categorical_crossentropy").fit(X, Y_INT, verbose=0), ValueError,
        ["expects one-hot labels of shape (n, 3)", "(20,)", "to_categorical", "sparse_categorical_crossentropy"]),
    "binary labels outside [0, 1]": (
        lambda m: _binary().fit(X, Y_INT * 2.0, verbose=0), ValueError, ["labels in [0, 1]", "values from 0.0 to 4.0"]),
    "unknown optimizer": (
        lambda m: model_(False).compile(optimizer="adamm", loss="mse"), ValueError,
        ["Unknown optimizer 'adamm'", "adam, adamax", "Did you mean 'adam'"]),
    "unknown loss": (
        lambda m: model_(False).compile(optimizer="adam", loss="categorical_crossentropi"), ValueError,
        ["Unknown loss 'categorical_crossentropi'", "mean_squared_error", "Did you mean 'categorical_crossentropy'"]),
    "unknown metric": (
        lambda m: model_(False).compile(optimizer="adam", loss="mse", metrics=["acuracy"]), ValueError,
        ["Unknown metric 'acuracy'", "Did you mean 'accuracy'"]),
    "unknown activation": (
        lambda m: Dense(3, activation="rellu"), ValueError,
        ["Unknown activation 'rellu'", "sigmoid", "Did you mean 'relu'"]),
    "unknown activation layer": (
        lambda m: Activation("softmaks"), ValueError, ["Did you mean 'softmax'"]),
    "validation_split = 1": (
        lambda m: m.fit(X, Y_INT, validation_split=1.0, verbose=0), ValueError, ["validation_split must be a float in [0, 1)", "1.0"]),
    "validation_split negative": (
        lambda m: m.fit(X, Y_INT, validation_split=-0.1, verbose=0), ValueError, ["validation_split=-0.1"]),
    "batch_size 0": (
        lambda m: m.fit(X, Y_INT, batch_size=0, verbose=0), ValueError, ["batch_size must be a positive integer", "batch_size=0"]),
    "batch_size negative in evaluate": (
        lambda m: m.evaluate(X, Y_INT, batch_size=-4, verbose=0), ValueError, ["batch_size=-4"]),
    "batch_size < 1 in predict": (
        lambda m: m.predict(X, batch_size=0, verbose=0), ValueError, ["batch_size=0"]),
    "empty x": (
        lambda m: m.fit(np.zeros((0, 4), "float32"), np.zeros((0,), "int64"), verbose=0), ValueError, ["x is empty", "0 samples"]),
    "NaN in x": (
        lambda m: m.fit(with_nan(), Y_INT, verbose=0), ValueError, ["x contains a non-finite value (nan)", "(3, 2)", "nan_to_num"]),
    "inf in x": (
        lambda m: m.fit(with_inf(), Y_INT, verbose=0), ValueError, ["non-finite value (inf)", "(5, 0)"]),
    "NaN in predict input": (
        lambda m: m.predict(with_nan(), verbose=0), ValueError, ["non-finite"]),
    "string data": (
        lambda m: m.fit(np.array([["a"] * 4] * 20), Y_INT, verbose=0), TypeError, ["dtype <U1", "Convert strings"]),
    "complex data": (
        lambda m: m.fit(X.astype(np.complex64), Y_INT, verbose=0), TypeError, ["complex"]),
    "y missing for arrays": (
        lambda m: m.fit(X, verbose=0), ValueError, ["y is None", "Pass y="]),
    "epochs negative": (
        lambda m: m.fit(X, Y_INT, epochs=-1, verbose=0), ValueError, ["epochs must be a non-negative integer"]),
    "bad verbose": (
        lambda m: m.fit(X, Y_INT, verbose=5), ValueError, ["verbose must be 'auto', 0, 1 or 2"]),
    "Dense units 0": (
        lambda m: Dense(0), ValueError, ["units must be a positive integer", "received 0"]),
    "Dense misspelled kwarg": (
        lambda m: Dense(3, activaton="relu"), TypeError, ["unexpected keyword argument", "activaton"]),
    "Dropout rate 1": (
        lambda m: Dropout(1.0), ValueError, ["Dropout rate must be a number in [0, 1)"]),
    "bad input_shape": (
        lambda m: Dense(3, input_shape=(0,)), ValueError, ["input_shape must hold positive ints"]),
    "Reshape with wrong size": (
        lambda m: Sequential([Dense(6, input_shape=(4,)), Reshape((4, 2))]), ValueError, ["6 values per sample", "(4, 2)"]),
    "non-layer added": (
        lambda m: Sequential().add("dense"), TypeError, ["Sequential.add expects a layer", "str"]),
    "duplicate layer name": (
        lambda m: Sequential([Dense(2, name="a", input_shape=(2,)), Dense(2, name="a")]), ValueError, ["unique names", "'a'"]),
    "summary before build": (
        lambda m: Sequential([Dense(2)]).summary(), ValueError, ["has not been built yet", "input_shape"]),
    "unknown device": (
        lambda m: model_(False).compile(optimizer="adam", loss="mse", device="tpu"), ValueError, ["Invalid device 'tpu'"]),
    "validation_data of wrong arity": (
        lambda m: m.fit(X, Y_INT, validation_data=(X,), verbose=0), ValueError, ["validation_data must be (x_val, y_val)"]),
    "class_weight not a dict": (
        lambda m: m.fit(X, Y_INT, class_weight=[1, 2, 3], verbose=0), ValueError, ["class_weight must be a dict"]),
    "bad optimizer type": (
        lambda m: model_(False).compile(optimizer=3, loss="mse"), TypeError, ["optimizer must be a name", "int"]),
    "bad learning rate": (
        lambda m: __import__("kerasish").optimizers.Adam(learning_rate=-1), ValueError, ["learning_rate must be a number >= 0"]),
}


def _binary():
    m = Sequential([Dense(1, activation="sigmoid", input_shape=(4,))])
    m.compile(optimizer="adam", loss="binary_crossentropy")
    return m


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_input(case):
    call, exc, fragments = CASES[case]
    m = model_()
    before = [w.copy() for w in m.get_weights()]
    with pytest.raises(exc) as info:
        call(m)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in message: {message}"
    # raised before any training step: the weights are untouched
    for a, b in zip(before, m.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_predict_works_uncompiled_but_fit_does_not():
    m = model_(False)
    assert m.predict(X, verbose=0).shape == (20, 3)
    with pytest.raises(RuntimeError, match="compile"):
        m.fit(X, Y_INT)
