"""The warning for a layer given `input_shape`/`input_dim`, held against Keras 3 (torch backend).

Keras warns (a UserWarning, from the base Layer's constructor) whenever `input_shape` or
`input_dim` reaches it: from every layer that passes its keyword arguments on, once per
construction, and never for InputLayer or Embedding's own `input_dim`. Each case constructs
the same thing in both libraries and compares how many such warnings each gave, their
category and their text. Where they point differs on purpose: Keras's point into its own
source (so Python's default filter shows one per layer class), kerasish's at the user's line.
"""

from __future__ import annotations

import json
import linecache
import warnings

import pytest

import kerasish
from kerasish.layers.layer import INPUT_SHAPE_WARNING
from tests.keras_parity import keras_module

KERAS_TEXT = "Do not pass an `input_shape`/`input_dim` argument to a layer"


def _caught(make):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make()
    return [w for w in caught if KERAS_TEXT in str(w.message)]


def _custom(lib):
    class Scale(lib.layers.Layer):
        def __init__(self, factor, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

    return Scale


CASES = {
    "dense_input_shape": lambda L: L.layers.Dense(3, input_shape=(4,)),
    "dense_input_dim": lambda L: L.layers.Dense(3, input_dim=4),
    "dense_input_shape_none": lambda L: L.layers.Dense(3, input_shape=None),
    "dense_plain": lambda L: L.layers.Dense(3),
    "dropout": lambda L: L.layers.Dropout(0.5, input_shape=(3,)),
    "conv2d": lambda L: L.layers.Conv2D(2, 3, input_shape=(8, 8, 1)),
    "lstm": lambda L: L.layers.LSTM(2, input_shape=(5, 3)),
    "bidirectional": lambda L: L.layers.Bidirectional(L.layers.LSTM(2), input_shape=(5, 3)),
    "custom_subclass": lambda L: _custom(L)(2.0, input_shape=(3,)),
    "embedding_own_input_dim": lambda L: L.layers.Embedding(input_dim=10, output_dim=3),
    "input": lambda L: L.Input((3,)),
    "input_layer": lambda L: L.layers.InputLayer(shape=(3,)),
    "input_layer_legacy_input_shape": lambda L: L.layers.InputLayer(input_shape=(3,)),
    "sequential_first_layer": lambda L: L.Sequential([L.layers.Dense(2, input_shape=(3,)), L.layers.Dense(1)]),
}
WARNS = {"dense_input_shape", "dense_input_dim", "dropout", "conv2d", "lstm", "bidirectional", "custom_subclass",
         "sequential_first_layer"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_warns_exactly_where_keras_warns(case):
    k = keras_module()
    theirs, ours = _caught(lambda: CASES[case](k)), _caught(lambda: CASES[case](kerasish))
    assert len(ours) == len(theirs) == (1 if case in WARNS else 0)
    assert [w.category for w in ours] == [w.category for w in theirs]
    assert [str(w.message) for w in ours] == [str(w.message) for w in theirs]


def test_the_text_is_keras_and_says_what_to_do_instead():
    assert INPUT_SHAPE_WARNING.startswith(KERAS_TEXT) and "`Input(shape)`" in INPUT_SHAPE_WARNING
    with pytest.warns(UserWarning, match=r"prefer using an `Input\(shape\)` object as the first layer"):
        kerasish.layers.Dense(3, input_dim=4)


def test_each_construction_warns_and_points_at_the_users_line():
    Scale = _custom(kerasish)

    class Twice(Scale):  # two user __init__s above the base class
        def __init__(self, **kwargs):
            super().__init__(2.0, **kwargs)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            kerasish.layers.Dense(3, input_shape=(4,))
        Twice(input_shape=(3,))
    ours = [w for w in caught if KERAS_TEXT in str(w.message)]
    assert {w.filename for w in ours} == {__file__}
    assert [linecache.getline(w.filename, w.lineno).strip() for w in ours] == [
        "kerasish.layers.Dense(3, input_shape=(4,))"] * 2 + ["Twice(input_shape=(3,))"]


@pytest.mark.parametrize("rebuild", ["from_config", "json", "clone_model", "sequential_from_config"])
def test_rebuilding_from_a_config_does_not_warn_again(rebuild):
    # Neither library's layer config carries input_shape (a Sequential records an InputLayer
    # instead), so a rebuild is silent: it must not warn about an argument the user is not passing.
    k = keras_module()
    built = {}
    for lib in (k, kerasish):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dense = lib.layers.Dense(2, input_shape=(3,))
            model = lib.Sequential([dense, lib.layers.Dense(1)])
        built[lib] = (dense, model)
    steps = {
        "from_config": lambda lib: type(built[lib][0]).from_config(built[lib][0].get_config()),
        "json": lambda lib: lib.models.model_from_json(built[lib][1].to_json()),
        "clone_model": lambda lib: lib.models.clone_model(built[lib][1]),
        "sequential_from_config": lambda lib: lib.Sequential.from_config(
            json.loads(json.dumps(built[lib][1].get_config()))),
    }
    assert _caught(lambda: steps[rebuild](kerasish)) == [] == _caught(lambda: steps[rebuild](k))
    shape_keys = {"input_shape", "batch_shape", "batch_input_shape", "input_dim"}
    assert not shape_keys & set(built[kerasish][0].get_config()) and not shape_keys & set(built[k][0].get_config())
    assert not kerasish.layers.Dense.from_config(built[kerasish][0].get_config()).built


def test_embedding_input_length_warns_as_keras_and_not_about_input_shape():
    k = keras_module()
    for lib in (k, kerasish):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            lib.layers.Embedding(10, 3, input_length=5)
        messages = [str(w.message) for w in seen]
        assert any(m.startswith("Argument `input_length` is deprecated. Just remove it.") for m in messages), messages
        assert not any("input_shape" in m and "Do not pass" in m for m in messages), messages
