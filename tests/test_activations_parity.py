"""kerasish.activations against keras.activations (torch backend): values, signatures, get/serialize/deserialize."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from kerasish import activations
from kerasish.saving import custom_object_scope, register_keras_serializable
from tests.keras_parity import keras_module
from tests.ops.ops_parity import assert_same

NAMES = sorted("""celu elu exponential gelu glu hard_shrink hard_sigmoid hard_silu hard_swish hard_tanh leaky_relu
linear log_sigmoid log_softmax mish relu relu6 selu sigmoid silu soft_shrink softmax softplus softsign sparse_plus
sparse_sigmoid sparsemax squareplus swish tanh tanh_shrink threshold""".split())

rng = np.random.default_rng(0)
X = (4 * rng.standard_normal((3, 6))).astype("float32")


def both(name, *args, **kwargs):
    keras = keras_module()
    ours = getattr(activations, name)(torch.from_numpy(X), *args, **kwargs)
    theirs = getattr(keras.activations, name)(torch.from_numpy(X), *args, **kwargs)
    assert_same(ours, theirs, where=f"activations.{name}")


def test_the_set_and_signatures_match_keras():
    keras = keras_module()
    public = sorted(n for n in dir(keras.activations) if not n.startswith("_") and n not in
                    ("get", "serialize", "deserialize"))
    assert public == NAMES
    for name in NAMES:
        ours = inspect.signature(getattr(activations, name))
        theirs = inspect.signature(getattr(keras.activations, name))
        assert [(p.name, p.default) for p in ours.parameters.values()] == [
            (p.name, p.default) for p in theirs.parameters.values()], name


@pytest.mark.parametrize("name", [n for n in NAMES if n != "threshold"])
def test_default_arguments_called_with_x_only(name):
    both(name)


@pytest.mark.parametrize("name,kwargs", [
    ("relu", {"negative_slope": 0.1}), ("relu", {"max_value": 6.0}), ("relu", {"max_value": 2.5}),
    ("relu", {"threshold": 1.0}), ("relu", {"threshold": -1.0}), ("relu", {"negative_slope": 0.3, "max_value": 4.0}),
    ("relu", {"negative_slope": 0.3, "threshold": 0.5}),
    ("relu", {"negative_slope": 0.2, "max_value": 3.0, "threshold": 1.5}), ("leaky_relu", {"negative_slope": 0.5}),
    ("softmax", {"axis": 0}), ("softmax", {"axis": (0, 1)}), ("log_softmax", {"axis": 0}), ("elu", {"alpha": 0.5}),
    ("celu", {"alpha": 2.0}), ("gelu", {"approximate": True}), ("glu", {"axis": 1}),
    ("soft_shrink", {"threshold": 1.0}),
    ("hard_shrink", {"threshold": 2.0}), ("squareplus", {"b": 1.0}), ("sparsemax", {"axis": 0}),
    ("threshold", {"threshold": 0.5, "default_value": -2.0}),
])
def test_non_default_arguments(name, kwargs):
    both(name, **kwargs)


def test_integer_input_to_relu_variants():
    keras = keras_module()
    x = torch.arange(-4, 5, dtype=torch.int32)
    for kwargs in ({}, {"max_value": 2}, {"threshold": 1}):
        assert_same(activations.relu(x, **kwargs), keras.activations.relu(x, **kwargs), where=str(kwargs))
    for name in ("tanh", "exponential", "sigmoid"):
        assert_same(getattr(activations, name)(x), getattr(keras.activations, name)(x), where=name)


def test_dense_gelu_is_the_exact_gelu_as_in_keras():
    keras = keras_module()
    from kerasish.layers import Dense

    theirs = keras.layers.Dense(4, activation="gelu")
    theirs.build((None, 6))
    ours = Dense(4, activation="gelu")
    ours.build((None, 6))
    ours.set_weights(theirs.get_weights())
    x = torch.from_numpy(X)
    assert_same(ours(x), theirs(x), where="Dense(activation='gelu')")
    exact = torch.nn.functional.gelu(x)
    assert torch.allclose(activations.get("gelu")(x), exact) and not torch.allclose(
        activations.get("gelu")(x), torch.nn.functional.gelu(x, approximate="tanh"))


@pytest.mark.parametrize("name", NAMES)
def test_get_and_serialize_match_keras_for_builtins(name):
    keras = keras_module()
    assert activations.serialize(activations.get(name)) == keras.activations.serialize(keras.activations.get(name))
    fn = activations.get(name)
    assert activations.deserialize(activations.serialize(fn)) is fn
    assert activations.get(activations.serialize(fn)) is fn


def test_aliases_and_layer_config_names():
    keras = keras_module()
    assert activations.swish is activations.silu and activations.hard_swish is activations.hard_silu
    for given in ("swish", "hard_swish", None, "relu"):
        assert activations.serialize(given) == keras.layers.Dense(2, activation=given).get_config()["activation"]
    assert activations.get(None) is activations.linear


def test_get_accepts_callables_and_serialized_dicts():
    keras = keras_module()
    fn = activations.get(keras.activations.serialize(keras.activations.relu))
    assert fn is activations.relu
    envelope = {"module": "keras.activations", "class_name": "function", "config": "tanh", "registered_name": None}
    assert activations.get(envelope) is activations.tanh

    def cube(x):
        return x ** 3

    assert activations.get(cube) is cube


def test_custom_function_round_trip_like_keras():
    keras = keras_module()

    @register_keras_serializable(package="parity_test")
    def squash(x):
        return x / (1 + abs(x))

    def plain(x):
        return 2 * x

    ours = activations.serialize(squash)
    assert ours == {"module": "builtins", "class_name": "function", "config": "parity_test>squash",
                    "registered_name": "function"}
    assert set(ours) == set(keras.activations.serialize(plain))
    assert activations.deserialize(ours) is squash
    assert activations.get(ours) is squash
    envelope = activations.serialize(plain)
    assert envelope["config"] == keras.activations.serialize(plain)["config"] == "plain"
    assert activations.deserialize(envelope, custom_objects={"plain": plain}) is plain
    with custom_object_scope({"plain": plain}):
        assert activations.get(envelope) is plain


@pytest.mark.parametrize("call,error,match", [
    (lambda: activations.get("rellu"), ValueError, r"Unknown activation 'rellu'.*Did you mean 'relu'"),
    (lambda: activations.get(3), TypeError, "activation must be a string name, a serialized dict or a callable"),
    (lambda: activations.deserialize("nope"), ValueError, r"Unknown activation 'nope'.*register_keras_serializable"),
    (lambda: activations.deserialize({"class_name": "function", "config": "nope"}), ValueError, "Unknown activation"),
    (lambda: activations.deserialize(["relu"]), ValueError, "Could not deserialize activation"),
    (lambda: activations.threshold(torch.ones(2)), TypeError, "missing"),  # Keras requires both arguments too
    (lambda: activations.mish(torch.ones(2, dtype=torch.int32)), TypeError, r"ops\.mish expects a floating-point"),
])
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_names_lists_every_builtin():
    assert activations.names() == NAMES


def test_composite_activations_work_on_keras_tensors():
    import kerasish

    inp = kerasish.Input((4,))
    model = kerasish.Model(inp, activations.mish(activations.relu(inp, max_value=2.0, negative_slope=0.1)))
    x = torch.from_numpy(X[:, :4])
    torch.testing.assert_close(model(x), activations.mish(activations.relu(x, max_value=2.0, negative_slope=0.1)))
