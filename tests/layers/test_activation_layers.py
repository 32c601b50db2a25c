"""ReLU, LeakyReLU, PReLU, ELU, Softmax and Lambda against Keras 3, in models, saved and reloaded."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import kerasish as keras
from kerasish import layers
from tests.keras_parity import assert_close, copy_weights, keras_module

X = np.linspace(-3, 3, 24, dtype="float32").reshape(2, 3, 4)


@pytest.mark.parametrize("cls, kwargs", [
    ("ReLU", {}),
    ("ReLU", {"max_value": 1.5}),
    ("ReLU", {"negative_slope": 0.1}),
    ("ReLU", {"threshold": 0.5}),
    ("ReLU", {"max_value": 2.0, "negative_slope": 0.2, "threshold": 0.5}),
    ("ReLU", {"max_value": 6.0}),
    ("LeakyReLU", {}),
    ("LeakyReLU", {"negative_slope": 0.01}),
    ("ELU", {}),
    ("ELU", {"alpha": 0.5}),
    ("Softmax", {}),
    ("Softmax", {"axis": 1}),
    ("Softmax", {"axis": [1, 2]}),
    ("PReLU", {}),
    ("PReLU", {"alpha_initializer": "ones", "shared_axes": [1]}),
])
def test_activation_layers_match_keras(cls, kwargs):
    k = keras_module()
    theirs, ours = getattr(k.layers, cls)(**kwargs), getattr(layers, cls)(**kwargs)
    theirs.build(X.shape)
    ours.build(X.shape)
    if theirs.get_weights():
        w = [np.random.default_rng(0).uniform(-1, 1, a.shape).astype("float32") for a in theirs.get_weights()]
        theirs.set_weights(w)
        copy_weights(theirs, ours)
        assert [v.name for v in ours.weights] == [v.name for v in theirs.weights]
    assert_close(ours(torch.from_numpy(X)), theirs(X), atol=1e-6)
    # Configs are Keras's: an initializer name is written as its envelope, as Keras writes it.
    assert {k_: v for k_, v in ours.get_config().items() if k_ in kwargs} == {
        k_: keras.initializers.serialize(v) if k_.endswith("_initializer") else v for k_, v in kwargs.items()}
    assert {k_: v for k_, v in ours.get_config().items() if k_ in kwargs} == {
        k_: v for k_, v in theirs.get_config().items() if k_ in kwargs}


def test_softmax_mask_matches_keras():
    k = keras_module()
    mask = np.array([[True, False, True, True]] * 3)
    assert_close(layers.Softmax()(torch.from_numpy(X), mask=torch.from_numpy(mask)),
                 k.layers.Softmax()(X, mask=mask), atol=1e-6)
    with pytest.raises(ValueError, match="the mask must broadcast to the inputs"):
        layers.Softmax()(torch.from_numpy(X), mask=torch.ones(5, dtype=torch.bool))


def test_leaky_relu_accepts_keras2_alpha_with_a_warning():
    with pytest.warns(DeprecationWarning, match="`alpha` is deprecated"):
        layer = layers.LeakyReLU(alpha=0.1)
    assert layer.negative_slope == 0.1


@pytest.mark.parametrize("make, match", [
    (lambda: layers.ReLU(max_value=-1), r"ReLU: max_value must be a number >= 0 or None, received max_value=-1"),
    (lambda: layers.ReLU(negative_slope=None), r"negative_slope must be a number >= 0, received negative_slope=None"),
    (lambda: layers.LeakyReLU(negative_slope=-0.1), r"LeakyReLU: negative_slope must be a number >= 0"),
    (lambda: layers.Softmax(axis="last"), r"Softmax: axis must be an int or a list of ints"),
    (lambda: layers.PReLU(shared_axes=[0]), r"shared_axes must be axis numbers >= 1"),
    (lambda: layers.Lambda(3), r"Lambda: function must be callable"),
])
def test_bad_arguments_are_named(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_softmax_refuses_integer_inputs():
    with pytest.raises(TypeError, match="Softmax expects float inputs, received dtype int64"):
        layers.Softmax()(torch.arange(4))


def _scaled(t):
    return t * 3.0


def _model():
    inp = keras.Input((4,))
    x = layers.Dense(6)(inp)
    x = layers.ReLU(max_value=2.0)(x)
    x = layers.LeakyReLU(0.1)(x)
    x = layers.PReLU(alpha_initializer="ones")(x)
    x = layers.ELU(0.7)(x)
    x = layers.Lambda(lambda t, k: t * k, arguments={"k": 0.5})(x)
    x = layers.Lambda(_scaled)(x)
    x = layers.Lambda(keras.ops.tanh if hasattr(keras.ops, "tanh") else torch.tanh)(x)
    out = layers.Softmax()(layers.Dense(3)(x))
    return keras.Model(inp, out)


def test_activation_and_lambda_layers_survive_save_and_load(tmp_path):
    if not hasattr(keras.ops, "tanh"):
        pytest.skip("kerasish.ops.tanh is not built yet")
    model = _model()
    x = np.random.default_rng(1).normal(size=(5, 4)).astype("float32")
    expected = model.predict(x, verbose=0)
    path = str(tmp_path / "m.kerasish")
    model.save(path)
    with pytest.raises(ValueError, match=r"Lambda layer .* holds Python source \(lambda\).* safe_mode=False"):
        keras.saving.load_model(path)
    loaded = keras.saving.load_model(path, safe_mode=False)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in model.layers]


def test_a_lambda_of_a_registered_function_or_an_op_loads_in_safe_mode(tmp_path):
    @keras.utils.register_keras_serializable(package="test_lambda")
    def cube(t):
        return t * t * t

    inp = keras.Input((3,))
    model = keras.Model(inp, layers.Lambda(cube)(layers.Lambda(keras.activations.get("relu"))(inp)))
    x = np.array([[-1.0, 0.5, 2.0]], "float32")
    path = str(tmp_path / "m.kerasish")
    model.save(path)
    np.testing.assert_allclose(keras.saving.load_model(path).predict(x, verbose=0), [[0.0, 0.125, 8.0]])


def test_lambdas_that_a_file_cannot_hold_are_refused_at_save(tmp_path):
    factor = 2.0
    inp = keras.Input((3,))
    closure = keras.Model(inp, layers.Lambda(lambda t: t * factor)(inp))
    with pytest.raises(ValueError, match=r"reads variables of an enclosing function \(\['factor'\]\).*arguments=\{...\}"):
        closure.save(str(tmp_path / "a.kerasish"))
    global _GLOBAL_SCALE
    _GLOBAL_SCALE = 3.0
    inp = keras.Input((3,))
    glob = keras.Model(inp, layers.Lambda(lambda t: t * _GLOBAL_SCALE)(inp))
    with pytest.raises(ValueError, match=r"reads the global name\(s\) \['_GLOBAL_SCALE'\]"):
        glob.save(str(tmp_path / "b.kerasish"))
    assert os.listdir(tmp_path) == []


def test_lambda_receives_mask_and_training_when_it_declares_them():
    seen = {}

    def fn(t, mask=None, training=None):
        seen["mask"], seen["training"] = mask, training
        return t

    layer = layers.Lambda(fn)
    layer(torch.ones(2, 3), mask=torch.ones(2, 3, dtype=torch.bool), training=True)
    assert seen["training"] is True and seen["mask"].shape == (2, 3)


def test_lambda_output_shape_and_symbolic_tracing():
    inp = keras.Input((4, 2))
    traced = layers.Lambda(lambda t: t.sum(-1))(inp)
    given = layers.Lambda(lambda t: t.reshape(t.shape[0], -1), output_shape=(8,))(inp)
    assert traced.shape == (None, 4) and given.shape == (None, 8)
