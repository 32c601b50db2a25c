"""A Sequential without an Input keeps the batch size of whatever first built it, as Keras 3 does.

Keras builds an input-less Sequential for the full shape it first sees: a call on a (1, 4) batch,
`build((5, 4))`, or the first batch of fit/evaluate/predict/train_on_batch. `summary()`,
`input_shape`, `output_shape`, `inputs` and the layers' symbolic outputs then carry that batch
size; `build((None, 4))` and a declared `input_shape=` leave it None. Each case is run in Keras 3
(torch backend) and kerasish and the shapes are compared.

Once built, `get_config()` lists that InputLayer (batch shape included) and `build_input_shape`, so
`from_config`, `to_json`, `clone_model` and saved files give back a model built with the same shapes;
each library reads the other's config and `.keras` file.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import kerasish
from tests.keras_parity import assert_close, copy_weights, keras_module, to_numpy

X = np.ones((40, 4), "float32")
Y = np.ones((40, 4), "float32")


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def _stack(lib):
    lib.backend.clear_session()
    return lib.Sequential([lib.layers.Dense(2, activation="relu"), lib.layers.Dense(3), lib.layers.Dense(4)])


def _compiled(lib):
    model = _stack(lib)
    model.compile(optimizer="sgd", loss="mse")
    return model


def _shapes(model):
    lines = []
    model.summary(print_fn=lines.append)
    return {"summary": re.findall(r"\((?:None|\d+), \d+\)", "\n".join(lines)), "input_shape": model.input_shape,
            "output_shape": model.output_shape, "inputs": [tuple(t.shape) for t in model.inputs],
            "first_output": tuple(model.layers[0].output.shape)}


BUILDS = {
    "call on (1, 4)": lambda lib: [_stack(lib)(lib.ops.ones((1, 4)))],
    "build((None, 4))": lambda lib: _stack(lib).build((None, 4)),
    "build((5, 4))": lambda lib: _stack(lib).build((5, 4)),
    "fit, batch_size=10": lambda lib: _compiled(lib).fit(X, Y, batch_size=10, verbose=0),
    "fit on 7 samples, batch_size=10": lambda lib: _compiled(lib).fit(X[:7], Y[:7], batch_size=10, verbose=0),
    "predict, batch_size=8": lambda lib: _stack(lib).predict(X, batch_size=8, verbose=0),
    "evaluate, batch_size=8": lambda lib: _compiled(lib).evaluate(X, Y, batch_size=8, verbose=0),
    "train_on_batch of 6": lambda lib: _compiled(lib).train_on_batch(X[:6], Y[:6]),
}


def _built(lib, how):
    made = []
    original = lib.Sequential.__init__

    def remember(self, *args, **kwargs):
        original(self, *args, **kwargs)
        made.append(self)

    lib.Sequential.__init__ = remember
    try:
        BUILDS[how](lib)
    finally:
        lib.Sequential.__init__ = original
    return made[-1]


@pytest.mark.parametrize("how, batch", [
    ("call on (1, 4)", 1), ("build((None, 4))", None), ("build((5, 4))", 5), ("fit, batch_size=10", 10),
    ("fit on 7 samples, batch_size=10", 7), ("predict, batch_size=8", 8), ("evaluate, batch_size=8", 8),
    ("train_on_batch of 6", 6),
])
def test_the_first_build_keeps_the_batch_size_as_keras(how, batch):
    k = keras_module()
    theirs, ours = _shapes(_built(k, how)), _shapes(_built(kerasish, how))
    assert ours == theirs
    assert ours["input_shape"] == (batch, 4) and ours["summary"] == [f"({batch}, 2)", f"({batch}, 3)", f"({batch}, 4)"]


def test_a_declared_input_shape_stays_unbatched_and_other_batch_sizes_still_run():
    k = keras_module()
    for lib in (k, kerasish):
        lib.backend.clear_session()
        declared = lib.Sequential([lib.layers.Dense(2, input_shape=(4,)), lib.layers.Dense(4)])
        declared(lib.ops.ones((1, 4)))
        assert declared.output_shape == (None, 4)
        called = _stack(lib)
        called(lib.ops.ones((1, 4)))
        assert tuple(called(lib.ops.ones((8, 4))).shape) == (8, 4)
        assert called.predict(X, verbose=0).shape == (40, 4)


def test_layers_added_or_popped_after_the_first_call_keep_its_batch_size():
    k = keras_module()
    seen = {}
    for lib in (k, kerasish):
        lib.backend.clear_session()
        model = lib.Sequential([lib.layers.Dense(2), lib.layers.Dense(4)])
        model(lib.ops.ones((3, 4)))
        model.add(lib.layers.Dense(5))
        added = _shapes(model)
        model.pop()
        model.pop()
        seen[lib] = (added, _shapes(model))
    assert seen[kerasish] == seen[k]
    assert seen[kerasish][0]["output_shape"] == (3, 5) and seen[kerasish][1]["output_shape"] == (3, 2)


def test_config_of_a_model_built_by_a_call_rebuilds_built_as_keras():
    k = keras_module()
    shapes = {}
    for lib in (k, kerasish):
        lib.backend.clear_session()
        model = lib.Sequential([lib.layers.Dense(2), lib.layers.Dense(4)])
        model(lib.ops.ones((3, 4)))
        rebuilt = lib.Sequential.from_config(model.get_config())
        shapes[lib] = rebuilt.output_shape if rebuilt.built else None
    assert shapes[kerasish] == shapes[k] == (3, 4)


# ------------------------------------------------------------------ the config of a built model
def _entries(config):
    """What a Sequential config says about shapes, in either library's InputLayer format: each
    entry as (class_name, name, batch_shape) for the InputLayer, (class_name, name) otherwise, and
    build_input_shape."""
    entries = []
    for entry in config["layers"]:
        c = entry["config"]
        if entry["class_name"] == "InputLayer":
            shape = c["batch_shape"] if "batch_shape" in c else [c["batch_size"], *c["shape"]]
            entries.append(("InputLayer", c["name"], tuple(shape)))
        else:
            entries.append((entry["class_name"], c["name"]))
    shape = config.get("build_input_shape")
    return entries, None if shape is None else tuple(shape)


def _popped(lib, times):
    model = _stack(lib)
    model(lib.ops.ones((3, 4)))
    for _ in range(times):
        model.pop()
    return model


def _given(lib, first):
    lib.backend.clear_session()
    return lib.Sequential([first(lib), lib.layers.Dense(2), lib.layers.Dense(4)])


CONFIGS = {
    "unbuilt": _stack,
    "call on (1, 4)": lambda lib: _built(lib, "call on (1, 4)"),
    "build((None, 4))": lambda lib: _built(lib, "build((None, 4))"),
    "build((5, 4))": lambda lib: _built(lib, "build((5, 4))"),
    "fit, batch_size=10": lambda lib: _built(lib, "fit, batch_size=10"),
    "Input((4,))": lambda lib: _given(lib, lambda l: l.Input((4,))),
    "Input(batch_shape=(3, 4))": lambda lib: _given(lib, lambda l: l.Input(batch_shape=(3, 4))),
    "Dense(input_shape=(4,))": lambda lib: _given(lib, lambda l: l.layers.Dense(3, input_shape=(4,))),
    "called, then popped once": lambda lib: _popped(lib, 1),
    "called, then popped to its input": lambda lib: _popped(lib, 3),
}


def _observed(model):
    shapes = (model.input_shape, model.output_shape) if model.built else None
    return model.built, shapes


@pytest.mark.filterwarnings("ignore::UserWarning")  # Keras's advice against input_shape=
@pytest.mark.parametrize("how", list(CONFIGS))
def test_the_config_lists_the_input_layer_and_rebuilds_built_as_keras(how):
    k = keras_module()
    seen = {}
    for lib in (k, kerasish):
        model = CONFIGS[how](lib)
        config = model.get_config()
        rebuilt = lib.Sequential.from_config(config)
        seen[lib] = (_entries(config), _observed(model), _observed(rebuilt), _entries(rebuilt.get_config()))
    assert seen[kerasish] == seen[k]
    (entries, build_input_shape), original, rebuilt, _ = seen[kerasish]
    assert rebuilt == original
    assert (entries[0][0] == "InputLayer") == (how != "unbuilt")
    assert build_input_shape is None or build_input_shape == entries[0][2]


@pytest.mark.parametrize("how", [h for h in CONFIGS if h != "Dense(input_shape=(4,))"])
def test_a_config_round_trips_through_json_unchanged(how):
    model = CONFIGS[how](kerasish)
    config = model.get_config()
    again = kerasish.Sequential.from_config(json.loads(json.dumps(config))).get_config()
    assert again == config


def _called(lib):
    model = _stack(lib)
    model(lib.ops.ones((3, 4)))
    return model


def _through(lib, how, model, tmp_path):
    if how == "to_json":
        return lib.models.model_from_json(model.to_json())
    if how == "clone_model":
        return lib.models.clone_model(model)
    path = str(tmp_path / f"{lib.__name__}{how}")
    model.save(path)
    return lib.models.load_model(path)


@pytest.mark.parametrize("how", ["to_json", "clone_model", ".keras", ".kerasish"])
def test_a_model_built_by_a_call_comes_back_built_from_every_format(how, tmp_path):
    k = keras_module()
    x = np.linspace(-1, 1, 12, dtype="float32").reshape(3, 4)
    seen = {}
    for lib in (k, kerasish) if how != ".kerasish" else (kerasish,):
        model = _called(lib)
        back = _through(lib, how, model, tmp_path)
        seen[lib] = _observed(back), _entries(back.get_config())
        if how in (".keras", ".kerasish"):  # the weights travel too
            assert_close(to_numpy(back(x)), to_numpy(model(x)))
    assert seen[kerasish][0] == (True, ((3, 4), (3, 4)))
    if k in seen:
        assert seen[kerasish] == seen[k]


def test_a_keras_config_of_a_model_built_by_a_call_loads_built_and_computes_the_same():
    k = keras_module()
    theirs = _called(k)
    config = theirs.get_config()
    kerasish.backend.clear_session()
    ours = kerasish.Sequential.from_config(config)
    assert _observed(ours) == _observed(theirs) == (True, ((3, 4), (3, 4)))
    assert _entries(ours.get_config()) == _entries(config)
    copy_weights(theirs, ours)
    x = np.linspace(-1, 1, 12, dtype="float32").reshape(3, 4)
    assert_close(to_numpy(ours(x)), to_numpy(theirs(x)))


def test_keras_and_kerasish_read_each_others_keras_files_of_a_model_built_by_a_call(tmp_path):
    k = keras_module()
    x = np.linspace(-1, 1, 12, dtype="float32").reshape(3, 4)
    for writer, reader in ((k, kerasish), (kerasish, k)):
        model = _called(writer)
        path = str(tmp_path / f"{writer.__name__}.keras")
        model.save(path)
        back = reader.models.load_model(path)
        assert _observed(back) == (True, ((3, 4), (3, 4)))
        assert_close(to_numpy(back(x)), to_numpy(model(x)))


def test_a_sequence_model_built_by_fit_rebuilds_and_trains_on_other_lengths_as_keras():
    # Keras writes the first batch's (4, 5, 2) yet trains its rebuilt model on length 7; kerasish
    # checks batches against the input shape, so it writes the shape it checks: (None, None, 2).
    k = keras_module()
    rng = np.random.default_rng(0)
    x5, x7, y = (rng.normal(size=s).astype("float32") for s in ((8, 5, 2), (8, 7, 2), (8, 1)))
    for lib in (k, kerasish):
        lib.backend.clear_session()
        model = lib.Sequential([lib.layers.LSTM(3), lib.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x5, y, batch_size=4, verbose=0)
        rebuilt = lib.Sequential.from_config(model.get_config())
        assert rebuilt.built and rebuilt.get_config()["layers"][0]["class_name"] == "InputLayer"
        rebuilt.compile(optimizer="sgd", loss="mse")
        history = rebuilt.fit(x7, y, batch_size=4, verbose=0)
        assert np.isfinite(history.history["loss"][0])
        assert rebuilt.predict(x5, verbose=0).shape == (8, 1)
