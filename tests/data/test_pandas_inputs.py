"""fit/evaluate/predict take pandas DataFrames and Series, as Keras 3 does."""

from __future__ import annotations

import numpy as np
import pytest

from kerasish import layers
from kerasish.models import Sequential
from tests.keras_parity import copy_weights, keras_module

pd = pytest.importorskip("pandas")

RNG = np.random.default_rng(0)


def _frame(n=48):
    return pd.DataFrame({"a": RNG.normal(size=n), "b": RNG.normal(size=n), "c": RNG.integers(0, 5, n)})


def test_a_numeric_frame_and_series_train_to_keras_numbers():
    keras = keras_module()
    df = _frame()
    target = pd.Series((df["a"] - df["b"] > 0).astype("float64"))
    ours = Sequential([layers.Input((3,)), layers.Dense(4, activation="relu"), layers.Dense(1, activation="sigmoid")])
    theirs = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"),
                               keras.layers.Dense(1, activation="sigmoid")])
    for m in (ours, theirs):
        m.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    copy_weights(theirs, ours)
    h_ours = ours.fit(df, target, batch_size=16, epochs=3, shuffle=False, verbose=0,
                      validation_data=(df, target)).history
    h_theirs = theirs.fit(df, target, batch_size=16, epochs=3, shuffle=False, verbose=0,
                          validation_data=(df, target)).history
    for key in ("loss", "accuracy", "val_loss"):
        np.testing.assert_allclose(h_ours[key], h_theirs[key], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.predict(df, verbose=0), np.asarray(theirs.predict(df, verbose=0)), atol=1e-6)
    assert ours.evaluate(df, target, verbose=0) == pytest.approx(theirs.evaluate(df, target, verbose=0), rel=1e-5)


def test_series_become_one_column_and_sample_weights_stay_one_per_sample():
    series = pd.Series(np.arange(8, dtype="float64"))
    model = Sequential([layers.Input((1,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(series, series * 2, sample_weight=pd.Series(np.ones(8)), batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert model.predict(series, verbose=0).shape == (8, 1)


def test_a_frame_with_a_text_column_is_refused_with_the_way_out():
    df = _frame(8).assign(name=list("abcdefgh"))
    model = Sequential([layers.Input((4,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(TypeError, match=r"columns that are not numbers: \['name'\].*Convert strings to numbers"):
        model.fit(df, np.zeros(8), verbose=0)
