"""model.summary() in Keras 3's layout, with Keras 3's rows and totals (Keras itself as the oracle)."""

from __future__ import annotations

import numpy as np
import pytest

import kerasish
from tests.keras_parity import keras_module


def _parse(text):
    """Rows as [name, shape, params, ...] (wrapped cells joined) and the total lines."""
    rows, totals = [], []
    for line in text.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip().strip("│").split("│")]
            if cells[2]:
                rows.append(cells)
            else:  # a wrapped continuation of the row above
                rows[-1] = [(a + " " + b).strip() if b else a for a, b in zip(rows[-1], cells)]
        elif line.startswith(" ") and "params:" in line:
            totals.append(line.strip())
    return rows, totals


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # Keras draws with rich, which crops to the terminal width


def _summaries(build, fit=False, **kwargs):
    k = keras_module()
    out = []
    for keras in (k, kerasish):
        if keras is k:
            k.backend.clear_session()
        else:
            kerasish.backend.clear_session()
        model = build(keras)
        if fit:
            model.compile(optimizer="adam", loss="mse")
            x = np.zeros((4,) + tuple(model.input_shape[1:]), "float32")
            model.fit(x, np.zeros((4,) + tuple(model.output_shape[1:]), "float32"), verbose=0)
        lines = []
        model.summary(print_fn=lines.append, line_length=120, **kwargs)
        out.append(_parse("\n".join(lines)))
    return out


def _mlp(keras):
    return keras.Sequential([keras.Input((784,)), keras.layers.Dense(512, activation="relu"),
                             keras.layers.BatchNormalization(), keras.layers.Dropout(0.2),
                             keras.layers.Dense(10, activation="softmax")])


def _cnn(keras):
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3, activation="relu"),
                             keras.layers.MaxPooling2D(), keras.layers.Flatten(), keras.layers.Dense(10)])


def _functional(keras):
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    x = keras.layers.Concatenate()([a, b])
    return keras.Model([a, b], keras.layers.Dense(2, name="head")(x))


@pytest.mark.parametrize("build, fit", [(_mlp, False), (_mlp, True), (_cnn, True), (_functional, False)])
def test_rows_and_totals_match_keras(build, fit):
    if build is _functional and fit:
        pytest.skip("two inputs")
    (theirs_rows, theirs_totals), (ours_rows, ours_totals) = _summaries(build, fit)
    assert ours_totals == theirs_totals
    assert ours_rows == theirs_rows


def test_show_trainable_and_an_unbuilt_model():
    def frozen(keras):
        model = _mlp(keras)
        model.layers[0].trainable = False
        return model

    (theirs, theirs_totals), (ours, ours_totals) = _summaries(frozen, show_trainable=True)
    assert [r[-1] for r in ours] == [r[-1] for r in theirs]  # Y / N / -
    assert ours_totals == theirs_totals
    (theirs, theirs_totals), (ours, ours_totals) = _summaries(lambda keras: keras.Sequential([keras.layers.Dense(3)]))
    assert ours == theirs == [["dense (Dense)", "?", "0 (unbuilt)"]]
    assert ours_totals == theirs_totals


def test_layout_is_keras_box_table(capsys):
    kerasish.Sequential([kerasish.Input((3,)), kerasish.layers.Dense(2)]).summary(line_length=60)
    text = capsys.readouterr().out.splitlines()
    assert text[0].startswith('Model: "sequential')
    assert text[1].startswith("┏") and text[1].endswith("┓") and len(text[1]) == 60
    assert text[2].startswith("┃ Layer (type)")
    assert text[-3:] == [" Total params: 8 (32.00 B)", " Trainable params: 8 (32.00 B)",
                         " Non-trainable params: 0 (0.00 B)"]


def test_layer_range_and_bad_arguments():
    model = _mlp(kerasish)
    lines = []
    model.summary(print_fn=lines.append, layer_range=["batch", "dropout"])
    rows, _ = _parse("\n".join(lines))
    assert [r[0].split()[0] for r in rows] == ["batch_normalization", "dropout"]
    with pytest.raises(ValueError, match="no layer name contains 'conv'"):
        model.summary(layer_range=["conv", "dense"])
    with pytest.raises(ValueError, match="too short"):
        model.summary(line_length=20)


@pytest.mark.parametrize("name, kwargs", [("Adam", dict(use_ema=True)),
                                          ("SGD", dict(momentum=0.9, gradient_accumulation_steps=2))])
def test_optimizer_params_count_moving_averages_and_accumulators_as_keras(name, kwargs, capsys):
    import re

    keras = keras_module()
    x, y = np.random.default_rng(0).random((8, 4)).astype("float32"), np.zeros((8, 1), "float32")
    counts = []
    for lib in (keras, kerasish):
        model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(4), lib.layers.Dense(1)])
        model.compile(getattr(lib.optimizers, name)(**kwargs), "mse")
        model.fit(x, y, epochs=1, batch_size=4, verbose=0)
        capsys.readouterr()
        model.summary()
        counts.append(re.search(r"Optimizer params: ([0-9,]+ \(.*?\))", capsys.readouterr().out).group(1))
    assert counts[0] == counts[1]
