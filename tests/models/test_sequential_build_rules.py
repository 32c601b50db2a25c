"""Sequential/Model build rules, held against Keras 3 (torch backend).

- A layer's own `input_shape=` counts only on the first layer of a Sequential without an
  `Input`; elsewhere the layer is built for what the model gives it. Both libraries warn about
  the argument when the layer is made.
- `build(shape)` of an empty Sequential raises; so does `build(shape)` with a batch shape other
  than the one the model is configured for (its Input, a first layer's `input_shape=`, an
  earlier build or the first batch), batch size included.
- `count_params()` of an unbuilt model raises `ValueError`; a subclassed model is unbuilt until
  it is called, even when its layers are built. `summary()` of an unbuilt model still prints.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import torch

import kerasish
from tests.keras_parity import assert_close, copy_weights, keras_module, to_numpy

LIBS = ["keras", "kerasish"]


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def _lib(name):
    lib = keras_module() if name == "keras" else kerasish
    lib.backend.clear_session()
    return lib


def _shapes(model):
    return [tuple(w.shape) for w in model.get_weights()]


def _predict(model, x):
    return to_numpy(model(torch.as_tensor(x)))


def _input_shape_warnings(build, lib):
    """`build(lib)`'s model and the messages of the UserWarnings about input_shape it gave."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model = build(lib)
    return model, [str(w.message) for w in record if "input_shape" in str(w.message)]


def _twins(build):
    """The same model built by `build(lib)` in Keras and kerasish, with the same weights; both
    give the same warnings about input_shape."""
    keras, keras_warnings = _input_shape_warnings(build, _lib("keras"))
    ours, our_warnings = _input_shape_warnings(build, _lib("kerasish"))
    assert our_warnings == keras_warnings and our_warnings
    assert _shapes(ours) == _shapes(keras)
    copy_weights(keras, ours)
    return keras, ours


# ----------------------------------------------------------------- 1. the model's input wins
def test_input_wins_over_a_layer_input_shape():
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")

    def build(lib):
        return lib.Sequential([lib.Input((3,)), lib.layers.Dense(2, input_shape=(5,))])

    keras, ours = _twins(build)
    assert tuple(ours.layers[0].kernel.shape) == (3, 2)
    assert ours.input_shape == (None, 3) and ours.output_shape == (None, 2)
    assert_close(_predict(ours, x), _predict(keras, x))


def test_input_shape_of_a_later_layer_is_not_used():
    x = np.random.default_rng(1).normal(size=(4, 5)).astype("float32")

    def build(lib):
        return lib.Sequential([lib.layers.Dense(2, input_shape=(5,)), lib.layers.Dense(3, input_shape=(7,))])

    keras, ours = _twins(build)
    assert _shapes(ours) == [(5, 2), (2,), (2, 3), (3,)]
    assert_close(_predict(ours, x), _predict(keras, x))


@pytest.mark.parametrize("make, shape", [
    (lambda lib: lib.layers.Conv2D(4, 3, input_shape=(8, 8, 1)), (8, 8, 3)),
    (lambda lib: lib.layers.BatchNormalization(input_shape=(8, 8, 1)), (8, 8, 3)),
    (lambda lib: lib.layers.Bidirectional(lib.layers.LSTM(2), input_shape=(8, 1)), (8, 3)),
], ids=["conv2d", "batchnorm", "bidirectional"])
def test_input_wins_for_layers_with_state_and_sublayers(make, shape):
    x = np.random.default_rng(2).normal(size=(2,) + shape).astype("float32")
    keras, ours = _twins(lambda lib: lib.Sequential([lib.Input(shape), make(lib)]))
    assert_close(_predict(ours, x), _predict(keras, x), atol=1e-4)


def test_layer_added_after_an_input_keeps_its_identity_and_trains():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dense = kerasish.layers.Dense(2, input_shape=(5,), name="head")
    model = kerasish.Sequential()
    model.add(kerasish.Input((3,)))
    model.add(dense)
    assert model.layers[0] is dense and dense.name == "head"
    assert tuple(dense.kernel.shape) == (3, 2)
    assert any(p is dense.kernel for p in model.parameters())
    model.compile(optimizer="sgd", loss="mse", device="cpu")
    before = dense.kernel.detach().clone()
    model.fit(np.ones((8, 3), "float32"), np.zeros((8, 2), "float32"), epochs=1, verbose=0)
    assert not torch.equal(before, dense.kernel.detach())


@pytest.mark.parametrize("lib_name", LIBS)
def test_unused_input_shape_of_an_unbuilt_model_is_dropped_at_build(lib_name):
    # No Input and no input_shape on the first layer: the later layer's own shape loses at build.
    lib = _lib(lib_name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = lib.Sequential([lib.layers.Dense(2), lib.layers.Dense(3, input_shape=(7,))])
    model.build((None, 4))
    assert _shapes(model) == [(4, 2), (2,), (2, 3), (3,)]


class _BuildsInInit(kerasish.layers.Layer):
    """A custom layer that builds a sub-layer for a fixed shape whatever its config says."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = kerasish.layers.Dense(2)
        self.inner.build((None, 5))
        self.build((None, 5))

    def call(self, x):
        return self.inner(x)


def test_a_layer_built_for_another_shape_than_the_model_input_raises():
    # Keras refuses it too (a ValueError: its input is incompatible with the layer).
    layer = _BuildsInInit()
    model = kerasish.Sequential([kerasish.Input((4,))])
    with pytest.raises(ValueError, match=r"'__builds_in_init'.*already built for input shape \(None, 5\) and fails "
                                         r"on the input shape \(None, 4\).*Add a new, unbuilt layer"):
        model.add(layer)
    assert layer.built and tuple(layer.inner.kernel.shape) == (5, 2)  # left as it was
    assert len(model.layers) == 0 and model.input_shape == (None, 4)  # and not added


# ----------------------------------------------------------------- 2. building an empty model
@pytest.mark.parametrize("lib_name", LIBS)
def test_build_of_an_empty_sequential_raises(lib_name):
    lib = _lib(lib_name)
    model = lib.Sequential(name="empty")
    with pytest.raises(ValueError, match="empty.*cannot be built because it has no layers"):
        model.build((None, 4))
    assert not model.built


def test_build_of_an_empty_sequential_says_to_add_layers():
    # Keras returns silently from build() without a shape; kerasish raises the same error as for a shape.
    model = kerasish.Sequential()
    for args in [(), ((None, 4),)]:
        with pytest.raises(ValueError, match=re.escape("Add layers first with model.add(layer)")):
            model.build(*args)
    assert not model.built


@pytest.mark.parametrize("lib_name", LIBS)
def test_an_input_alone_builds_for_its_own_shape(lib_name):
    lib = _lib(lib_name)
    model = lib.Sequential([lib.Input((4,))])
    model.build((None, 4))
    assert model.built
    with pytest.raises(ValueError, match=re.escape("configured to use input shape (None, 4)")):
        lib.Sequential([lib.Input((4,))]).build((None, 5))


# ----------------------------------------------------------------- 3. build with another shape
def _with_input(lib):
    return lib.Sequential([lib.Input((4,)), lib.layers.Dense(2)])


def _with_input_shape(lib):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns about input_shape=
        return lib.Sequential([lib.layers.Dense(2, input_shape=(4,))])


def _built_by_build(lib):
    model = lib.Sequential([lib.layers.Dense(2)])
    model.build((None, 4))
    return model


def _with_batch_input(lib):
    return lib.Sequential([lib.Input(batch_shape=(8, 4)), lib.layers.Dense(2)])


def _built_by_a_batch(lib):
    model = lib.Sequential([lib.layers.Dense(2)])
    model(torch.ones(8, 4))
    return model


CASES = [
    (_with_input, (None, 4), [(None, 5), (8, 4), (None, 4, 1), (4,)]),
    (_with_input_shape, (None, 4), [(None, 5), (8, 4)]),
    (_built_by_build, (None, 4), [(None, 5), (3, 4)]),
    (_with_batch_input, (8, 4), [(None, 4), (16, 4), (None, 5)]),
    (_built_by_a_batch, (8, 4), [(None, 4), (8, 5)]),
]


@pytest.mark.parametrize("lib_name", LIBS)
@pytest.mark.parametrize("make, configured, others", CASES, ids=[c[0].__name__[1:] for c in CASES])
def test_build_with_another_shape_raises_and_changes_nothing(lib_name, make, configured, others):
    lib = _lib(lib_name)
    model = make(lib)
    weights = model.get_weights()
    for shape in others:
        with pytest.raises(ValueError, match=re.escape(f"configured to use input shape {configured}")):
            model.build(shape)
        assert _shapes(model) == [(4, 2), (2,)]
        assert_close(model.get_weights(), weights)
    model.build(list(configured))  # the same shape, as a list, is accepted
    assert model.built and _shapes(model) == [(4, 2), (2,)]


def test_build_with_another_shape_says_how_to_fix_it():
    model = _with_input(kerasish)
    with pytest.raises(ValueError, match=re.escape("Call model.build((None, 4)) (or model.build()), or make a new "
                                                   "Sequential")):
        model.build((None, 5))
    model.build()
    assert model.input_shape == (None, 4)


def test_build_rejects_a_shape_that_is_not_one_shape():
    model = kerasish.Sequential([kerasish.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"expects one input shape.*received input_shape=\[\(None, 4\), \(None, 3\)\]"):
        model.build([(None, 4), (None, 3)])
    assert not model.built


@pytest.mark.parametrize("lib_name", LIBS)
def test_a_popped_model_keeps_its_configured_shape(lib_name):
    lib = _lib(lib_name)
    model = _built_by_build(lib)
    model.pop()
    with pytest.raises(ValueError, match=re.escape("configured to use input shape (None, 4)")):
        model.build((None, 5))
    model.add(lib.layers.Dense(3))
    assert model.built and _shapes(model) == [(4, 3), (3,)]


# ----------------------------------------------------------------- 4. count_params and summary
class _Prebuilt:
    """A subclassed model whose layer is built in __init__, made for either library."""

    @staticmethod
    def make(lib):
        class Prebuilt(lib.Model):
            def __init__(self):
                super().__init__()
                self.dense = lib.layers.Dense(2)
                self.dense.build((None, 3))

            def call(self, x):
                return self.dense(x)

        return Prebuilt()


UNBUILT = {
    "sequential": lambda lib: lib.Sequential([lib.layers.Dense(2), lib.layers.Dense(1)]),
    "empty": lambda lib: lib.Sequential(),
    "subclassed_with_built_layers": _Prebuilt.make,
}


@pytest.mark.parametrize("lib_name", LIBS)
@pytest.mark.parametrize("kind", list(UNBUILT))
def test_count_params_of_an_unbuilt_model_raises(lib_name, kind):
    lib = _lib(lib_name)
    model = UNBUILT[kind](lib)
    assert not model.built
    with pytest.raises(ValueError, match=r"count_params.*(isn't|not) built"):
        model.count_params()


def test_count_params_error_says_how_to_build():
    with pytest.raises(ValueError, match=re.escape("model.build(input_shape)")):
        UNBUILT["sequential"](kerasish).count_params()
    with pytest.raises(ValueError, match=re.escape("Call the model on a batch first (model(x)")):
        _Prebuilt.make(kerasish).count_params()


@pytest.mark.parametrize("kind", ["sequential", "subclassed_with_built_layers"])
def test_count_params_once_called_matches_keras(kind):
    counts = []
    for lib_name in LIBS:
        lib = _lib(lib_name)
        model = UNBUILT[kind](lib)
        model(torch.ones(2, 3))
        assert model.built
        counts.append(model.count_params())
    assert counts[0] == counts[1]


def test_count_params_of_a_wrapped_torch_module():
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    model = kerasish.Model(net)
    assert model.built
    assert model.count_params() == (3 * 4 + 4) + (4 * 1 + 1)


@pytest.mark.parametrize("kind", ["sequential", "subclassed_with_built_layers"])
def test_summary_of_an_unbuilt_model_matches_keras(kind):
    totals = []
    for lib_name in LIBS:
        lib = _lib(lib_name)
        model = UNBUILT[kind](lib)
        lines = []
        model.summary(print_fn=lambda line, *a, **k: lines.append(line))
        text = "\n".join(lines)
        totals.append((re.findall(r"(?:Total|Trainable|Non-trainable) params: [\d,]+", text),
                       text.count("0 (unbuilt)")))
        assert not model.built
    assert totals[0] == totals[1]
