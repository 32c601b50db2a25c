"""The optimizer's state in `.keras` and `.weights.h5` files, against Keras 3 itself: a model trained
in one library continues in the other exactly as it would have continued at home."""

from __future__ import annotations

import io
import warnings
import zipfile

import h5py
import numpy as np
import pytest

import kerasish
from kerasish.saving.keras_optimizer import optimizer_arrays
from tests.keras_parity import keras_module, to_numpy
from tests.saving.test_keras_config import cnn, text, transformer

RNG = np.random.default_rng(3)
X = RNG.normal(size=(16, 3)).astype("float32")
Y = RNG.normal(size=(16, 1)).astype("float32")

# (class name, arguments): every optimizer whose state kerasish maps to Keras's variables.
OPTIMIZERS = [
    ("SGD", {"momentum": 0.9}),
    ("SGD", {"momentum": 0.9, "nesterov": True}),
    ("Adam", {}),
    ("Adam", {"amsgrad": True}),
    ("AdamW", {"weight_decay": 0.01}),
    ("RMSprop", {}),
    ("RMSprop", {"momentum": 0.5, "centered": True}),
    ("Adamax", {}),
    ("Nadam", {}),
    ("Lamb", {}),
    ("Adagrad", {}),
    ("Adadelta", {"learning_rate": 1.0}),
    ("Lion", {"learning_rate": 0.01}),
    ("Ftrl", {}),
]


def _mlp(lib):
    L = lib.layers
    return lib.Sequential([lib.Input((3,)), L.Dense(4, activation="tanh"), L.Dense(1)])


def _optimizer(lib, name, kwargs):
    return getattr(lib.optimizers, name)(**{"learning_rate": 0.05, **kwargs})


def _fit(model, x, y, epochs=1):
    model.fit(x, y, epochs=epochs, batch_size=4, verbose=0, shuffle=False)


def _stored(path):
    """The datasets of `optimizer/vars` in a .keras file, in order (and the group's name)."""
    with zipfile.ZipFile(path) as zf, h5py.File(io.BytesIO(zf.read("model.weights.h5")), "r") as f:
        if "optimizer/vars" not in f:
            return None, []
        group = f["optimizer/vars"]
        return group.attrs["name"], [np.array(group[str(i)][()]) for i in range(len(group))]


def _same_state(keras_model, ours):
    _, arrays = optimizer_arrays(ours)
    theirs = [to_numpy(v) for v in keras_model.optimizer.variables]
    assert len(arrays) == len(theirs)
    for a, b in zip(arrays, theirs):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=1e-6)


def _max_diff(a, b, skip=()):
    pairs = [pair for i, pair in enumerate(zip(a.get_weights(), b.get_weights())) if i not in skip]
    return max(float(np.abs(x - y).max()) for x, y in pairs)


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS, ids=[f"{n}{sorted(k)}" for n, k in OPTIMIZERS])
def test_a_kerasish_optimizer_state_continues_in_keras(name, kwargs, tmp_path):
    keras = keras_module()
    ours = _mlp(kerasish)
    ours.compile(optimizer=_optimizer(kerasish, name, kwargs), loss="mse")
    _fit(ours, X, Y, epochs=2)
    ours.save(tmp_path / "o.keras")

    theirs = keras.saving.load_model(tmp_path / "o.keras")
    assert int(theirs.optimizer.iterations) == ours.optimizer.iterations == 8
    _same_state(theirs, ours)
    _fit(ours, X, Y)
    _fit(theirs, X, Y)
    assert _max_diff(ours, theirs) < 1e-5


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS, ids=[f"{n}{sorted(k)}" for n, k in OPTIMIZERS])
def test_a_keras_optimizer_state_continues_in_kerasish(name, kwargs, tmp_path):
    keras = keras_module()
    theirs = _mlp(keras)
    theirs.compile(optimizer=_optimizer(keras, name, kwargs), loss="mse")
    _fit(theirs, X, Y, epochs=2)
    theirs.save(tmp_path / "k.keras")

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # restored: no "not restored" warning
        ours = kerasish.load_model(tmp_path / "k.keras")
    assert ours.optimizer.iterations == int(theirs.optimizer.iterations) == 8
    _same_state(theirs, ours)
    _fit(ours, X, Y)
    _fit(theirs, X, Y)
    assert _max_diff(ours, theirs) < 1e-5


def test_without_the_state_the_continued_weights_differ(tmp_path):
    # The control of the tests above: a fresh Adam after the same weights ends elsewhere.
    keras = keras_module()
    theirs = _mlp(keras)
    theirs.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    _fit(theirs, X, Y, epochs=2)
    theirs.save(tmp_path / "k.keras")
    fresh = kerasish.load_model(tmp_path / "k.keras", compile=False)
    fresh.compile(optimizer=kerasish.optimizers.Adam(0.05), loss="mse")
    _fit(fresh, X, Y)
    _fit(theirs, X, Y)
    assert _max_diff(fresh, theirs) > 1e-3


MODELS = {
    "cnn": (cnn, lambda: RNG.normal(size=(8, 8, 8, 3)).astype("float32"), lambda: RNG.normal(size=(8, 2))),
    "text": (text, lambda: np.pad(RNG.integers(1, 20, (8, 4)), ((0, 0), (0, 3))).astype("int32"),
             lambda: RNG.integers(0, 2, (8, 1)).astype("float32")),
    "transformer": (transformer, lambda: [RNG.normal(size=(8, 5, 8)).astype("float32"),
                                          np.tril(np.ones((8, 5, 5), bool))],
                    lambda: RNG.normal(size=(8, 5, 8)).astype("float32")),
}


def _no_dropout(model):
    # Dropout draws different masks in the two libraries; the continued training compares the updates.
    for layer in model.layers:
        if type(layer).__name__ == "Dropout":
            layer.rate = 0.0
    return model


@pytest.mark.parametrize("model_name", MODELS)
def test_slots_follow_each_layers_keras_layout_both_ways(model_name, tmp_path):
    # Conv kernels, LSTM/GRU gates, MultiHeadAttention's einsum kernels: each slot is stored in
    # its weight's Keras layout and in Keras's trainable-weight order.
    keras = keras_module()
    build, make_x, make_y = MODELS[model_name]
    x, y = make_x(), make_y().astype("float32")
    theirs = build(keras)
    theirs.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    _fit(theirs, x, y)
    theirs.save(tmp_path / "k.keras")
    ours = kerasish.load_model(tmp_path / "k.keras")
    _same_state(theirs, ours)
    _fit(ours, x, y)
    ours.save(tmp_path / "o.keras")
    again = keras.saving.load_model(tmp_path / "o.keras")
    _same_state(again, ours)
    _fit(_no_dropout(ours), x, y)
    _fit(_no_dropout(again), x, y)
    # The CNN's conv bias feeds BatchNormalization, which cancels it: its gradient is rounding noise,
    # which Adam divides by its own size, so the two libraries move it differently with any state.
    assert _max_diff(ours, again, skip={1} if model_name == "cnn" else ()) < 1e-4


def test_moving_averages_accumulators_and_schedules_come_from_keras(tmp_path):
    keras = keras_module()
    theirs = _mlp(keras)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.05, 3, 0.5)
    theirs.compile(optimizer=keras.optimizers.Adam(schedule, use_ema=True, gradient_accumulation_steps=3), loss="mse")
    _fit(theirs, X, Y)  # 4 steps: one update, one gradient accumulated since
    theirs.save(tmp_path / "k.keras")
    _, stored = _stored(tmp_path / "k.keras")
    assert len(stored) == 1 + 4 + 4 + 4 * 2  # iteration (a schedule: no learning_rate), averages, accumulators, m/v
    ours = kerasish.load_model(tmp_path / "k.keras")
    assert (ours.optimizer.iterations, ours.optimizer._iterations) == (1, 4)
    _same_state(theirs, ours)
    _fit(ours, X, Y)
    _fit(theirs, X, Y)
    assert _max_diff(ours, theirs) < 1e-5
    _same_state(theirs, ours)


def test_moving_averages_and_accumulators_go_to_keras(tmp_path):
    keras = keras_module()
    ours = _mlp(kerasish)
    ours.compile(optimizer=kerasish.optimizers.Adam(0.05, use_ema=True, gradient_accumulation_steps=3), loss="mse")
    _fit(ours, X, Y)
    ours.save(tmp_path / "o.keras")
    theirs = keras.saving.load_model(tmp_path / "o.keras")
    assert (int(theirs.optimizer.iterations), int(theirs.optimizer._iterations)) == (1, 4)
    _same_state(theirs, ours)
    _fit(ours, X, Y)
    _fit(theirs, X, Y)
    assert _max_diff(ours, theirs) < 1e-5


def test_the_current_learning_rate_is_saved_and_restored(tmp_path):
    keras = keras_module()
    ours = _mlp(kerasish)
    ours.compile(optimizer="adam", loss="mse")
    _fit(ours, X, Y)
    ours.optimizer.learning_rate = 0.0125  # as ReduceLROnPlateau would
    ours.save(tmp_path / "o.keras")
    theirs = keras.saving.load_model(tmp_path / "o.keras")
    assert float(theirs.optimizer.learning_rate) == pytest.approx(0.0125)
    theirs.optimizer.learning_rate = 0.0025
    theirs.save(tmp_path / "k.keras")
    assert kerasish.load_model(tmp_path / "k.keras").optimizer.learning_rate == pytest.approx(0.0025)


def test_untrained_compiled_models_load_without_warnings_both_ways(tmp_path):
    # Keras writes an optimizer not built yet as `iteration` and `learning_rate` only; kerasish builds
    # its optimizer at compile, so it writes the fresh slots and Keras has nothing to skip.
    keras = keras_module()
    theirs = _mlp(keras)
    theirs.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse")
    theirs.save(tmp_path / "k.keras")
    _, k_stored = _stored(tmp_path / "k.keras")
    assert [a.dtype.kind for a in k_stored] == ["i", "f"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a fresh optimizer: nothing to warn about
        ours = kerasish.load_model(tmp_path / "k.keras")
    assert ours.optimizer.iterations == 0 and ours.optimizer.learning_rate == pytest.approx(0.02)
    ours.save(tmp_path / "o.keras")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = keras.saving.load_model(tmp_path / "o.keras")
    assert not [w for w in caught if "Skipping variable loading for optimizer" in str(w.message)]
    assert int(again.optimizer.iterations) == 0
    _same_state(again, ours)


def test_weights_files_carry_the_optimizer_both_ways(tmp_path):
    keras = keras_module()
    theirs = _mlp(keras)
    theirs.compile(optimizer=keras.optimizers.RMSprop(0.01, momentum=0.5), loss="mse")
    _fit(theirs, X, Y)
    theirs.save_weights(tmp_path / "k.weights.h5")
    ours = _mlp(kerasish)
    ours.compile(optimizer=kerasish.optimizers.RMSprop(0.01, momentum=0.5), loss="mse")
    ours.load_weights(tmp_path / "k.weights.h5")
    assert ours.optimizer.iterations == 4
    _same_state(theirs, ours)
    _fit(ours, X, Y)
    ours.save_weights(tmp_path / "o.weights.h5")
    theirs.load_weights(tmp_path / "o.weights.h5")
    assert int(theirs.optimizer.iterations) == 8
    _same_state(theirs, ours)


@pytest.mark.parametrize("make,match", [
    (lambda: kerasish.optimizers.Adafactor(), "Adafactor"),
    (lambda: kerasish.optimizers.Adam(formula="torch"), r"formula='torch'"),
])
def test_a_state_kerasish_cannot_map_is_not_written_and_says_so(make, match, tmp_path):
    ours = _mlp(kerasish)
    ours.compile(optimizer=make(), loss="mse")
    _fit(ours, X, Y)
    with pytest.warns(UserWarning, match=f"was not written.*{match}.*start it fresh"):
        ours.save(tmp_path / "o.keras")
    assert _stored(tmp_path / "o.keras") == (None, [])


def test_a_keras_state_kerasish_cannot_map_is_not_restored_and_says_so(tmp_path):
    keras = keras_module()
    theirs = _mlp(keras)
    theirs.compile(optimizer=keras.optimizers.Adafactor(), loss="mse")
    _fit(theirs, X, Y)
    theirs.save(tmp_path / "k.keras")
    with pytest.warns(UserWarning, match=r"'adafactor' \(Adafactor\) was not restored.*keeps the state it had"):
        ours = kerasish.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(ours.predict(X, verbose=0), theirs.predict(X, verbose=0), atol=1e-5)
    assert ours.optimizer.iterations == 0


def test_a_state_of_another_optimizer_is_not_restored_and_the_weights_still_load(tmp_path):
    keras = keras_module()
    theirs = _mlp(keras)
    theirs.compile(optimizer=keras.optimizers.Adam(), loss="mse")
    _fit(theirs, X, Y)
    theirs.save_weights(tmp_path / "k.weights.h5")
    ours = _mlp(kerasish)
    ours.compile(optimizer=kerasish.optimizers.SGD(momentum=0.9), loss="mse")
    with pytest.warns(UserWarning, match=r"\(SGD\) was not restored: .* holds 10 optimizer variables, SGD .* has 6"):
        ours.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(ours.predict(X, verbose=0), theirs.predict(X, verbose=0), atol=1e-5)
    assert ours.optimizer.iterations == 0


def _rewrite_optimizer(path, target, change):
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    buffer = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buffer, "r+") as f:
        change(f["optimizer/vars"])
    members["model.weights.h5"] = buffer.getvalue()
    with zipfile.ZipFile(target, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)


@pytest.mark.parametrize("change,match", [
    (lambda g: (g.__delitem__("3"), g.create_dataset("3", data=np.zeros((5, 5), "float32"))),
     r"variable 3 \(.*\) has shape \(5, 5\) in the file, expected \(3, 4\)"),
    (lambda g: g.create_dataset("extra", data=np.zeros(1)), r"unexpected members"),
    (lambda g: (g.__delitem__("0"), g.create_dataset("0", data=np.float32(2.5))), r"variable 0 .* dtype float32"),
])
def test_a_damaged_optimizer_group_changes_nothing_and_is_named(change, match, tmp_path):
    keras = keras_module()
    theirs = _mlp(keras)
    theirs.compile(optimizer=keras.optimizers.Adam(), loss="mse")
    _fit(theirs, X, Y)
    theirs.save(tmp_path / "k.keras")
    _rewrite_optimizer(tmp_path / "k.keras", tmp_path / "bad.keras", change)
    with pytest.warns(UserWarning, match=r"'adam' \(Adam\) was not restored: .*" + match):
        ours = kerasish.load_model(tmp_path / "bad.keras")
    assert ours.optimizer.iterations == 0
    assert all(not state for state in ours.optimizer.torch_optimizer.state.values())


def test_weights_frozen_after_the_optimizer_was_built_are_named(tmp_path):
    ours = _mlp(kerasish)
    ours.compile(optimizer="adam", loss="mse")
    _fit(ours, X, Y)
    ours.layers[0].trainable = False  # without compiling again: the optimizer still updates 4 weights
    with pytest.warns(UserWarning, match=r"\(Adam\) was not written: it updates 4 weights but 2 of them are among "
                                         r"the model's 2 trainable weights"):
        ours.save(tmp_path / "o.keras")
    assert _stored(tmp_path / "o.keras") == (None, [])


def test_bfloat16_slots_travel_as_keras_stores_them(tmp_path):
    keras = keras_module()

    def build(lib):
        return lib.Sequential([lib.Input((3,)), lib.layers.Dense(4, dtype="bfloat16"),
                               lib.layers.Dense(1, dtype="bfloat16")])

    theirs = build(keras)
    theirs.compile(optimizer="adam", loss="mse")
    _fit(theirs, X, Y)
    theirs.save(tmp_path / "k.keras")
    ours = kerasish.load_model(tmp_path / "k.keras")
    assert ours.optimizer.iterations == 4
    ours.save(tmp_path / "o.keras")
    again = keras.saving.load_model(tmp_path / "o.keras")
    assert int(again.optimizer.iterations) == 4
    for a, b in zip(theirs.optimizer.variables, again.optimizer.variables):
        assert str(a.dtype) == str(b.dtype)
        np.testing.assert_array_equal(to_numpy(a.value.float()), to_numpy(b.value.float()))
