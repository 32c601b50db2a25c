"""kerasish.constraints against Keras 3 itself: formulas, configs, names and errors."""

import json

import numpy as np
import pytest
import torch

from kerasish import constraints
from kerasish.constraints import Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm
from kerasish.utils import custom_object_scope, register_keras_serializable
from tests.keras_parity import keras_module

CASES = [
    ("MaxNorm", {}),
    ("MaxNorm", {"max_value": 0.5, "axis": 1}),
    ("MaxNorm", {"max_value": 1.0, "axis": [0, 1, 2]}),
    ("MinMaxNorm", {}),
    ("MinMaxNorm", {"min_value": 1.5, "max_value": 2.5, "rate": 0.5, "axis": 0}),
    ("MinMaxNorm", {"min_value": 0.2, "max_value": 0.4, "axis": [1, 3]}),
    ("NonNeg", {}),
    ("UnitNorm", {}),
    ("UnitNorm", {"axis": -1}),
    ("UnitNorm", {"axis": [0, 1, 2]}),
]


def _weights(kwargs):
    rng = np.random.default_rng(0)
    rank = 4 if isinstance(kwargs.get("axis"), list) else 2
    shape = (3, 3, 4, 5) if rank == 4 else (6, 5)
    w = rng.normal(size=shape).astype("float32") * 2
    w[..., 0] = 0.0  # an all-zero slice: the epsilon keeps it finite, as in Keras
    return w


@pytest.mark.parametrize("name,kwargs", CASES)
def test_constraint_matches_keras(name, kwargs):
    keras = keras_module()
    w = _weights(kwargs)
    ours = getattr(constraints, name)(**kwargs)(torch.tensor(w))
    theirs = getattr(keras.constraints, name)(**kwargs)(keras.ops.convert_to_tensor(w))
    np.testing.assert_allclose(ours.numpy(), keras.ops.convert_to_numpy(theirs), rtol=1e-6, atol=1e-6)
    assert ours.shape == w.shape


@pytest.mark.parametrize("name,kwargs", CASES)
def test_serialize_is_keras_format_and_round_trips(name, kwargs):
    keras = keras_module()
    ours = getattr(constraints, name)(**kwargs)
    config = constraints.serialize(ours)
    assert config == keras.constraints.serialize(getattr(keras.constraints, name)(**kwargs))
    rebuilt = constraints.get(json.loads(json.dumps(config)))
    assert type(rebuilt) is type(ours)
    assert constraints.serialize(rebuilt) == config
    assert type(ours).from_config(ours.get_config()).get_config() == ours.get_config()


def test_get_accepts_keras_identifiers():
    assert constraints.get(None) is None
    for name, cls in [("max_norm", MaxNorm), ("MaxNorm", MaxNorm), ("non_neg", NonNeg), ("NonNeg", NonNeg),
                      ("unit_norm", UnitNorm), ("UnitNorm", UnitNorm), ("min_max_norm", MinMaxNorm),
                      ("MinMaxNorm", MinMaxNorm)]:
        assert type(constraints.get(name)) is cls
    assert constraints.get("max_norm").get_config() == {"max_value": 2, "axis": 0}
    given = MaxNorm(3)
    assert constraints.get(given) is given
    assert type(constraints.get(UnitNorm)) is UnitNorm
    fn = torch.abs
    assert constraints.get(fn) is fn
    keras_dict = {"class_name": "MaxNorm", "config": {"max_value": 4, "axis": [0, 1]}}  # Keras 2's envelope
    assert constraints.get(keras_dict).get_config() == {"max_value": 4, "axis": [0, 1]}


def test_lowercase_aliases_are_the_classes():
    assert constraints.max_norm is MaxNorm and constraints.non_neg is NonNeg
    assert constraints.unit_norm is UnitNorm and constraints.min_max_norm is MinMaxNorm


def test_base_constraint_is_identity_and_user_subclass_works():
    w = torch.randn(3, 2)
    assert torch.equal(Constraint()(w), w)

    class Clip(Constraint):
        def __init__(self, limit=1.0):
            self.limit = limit

        def __call__(self, w):
            return w.clamp(-self.limit, self.limit)

        def get_config(self):
            return {"limit": self.limit}

    assert Clip(0.5)(torch.tensor([2.0, -3.0])).tolist() == [0.5, -0.5]
    assert Clip.from_config({"limit": 0.1}).limit == 0.1


def test_unknown_name_lists_valid_names_and_closest_match():
    match = r"Unknown constraint 'maxnorm'.*max_norm, min_max_norm.*Did you mean 'max_norm'"
    with pytest.raises(ValueError, match=match):
        constraints.get("maxnorm")


def test_unknown_class_name_in_config_dict():
    with pytest.raises(ValueError, match=r"Unknown constraint 'MaxNrom'.*Did you mean 'MaxNorm'"):
        constraints.get({"class_name": "MaxNrom", "config": {}})


def test_config_dict_without_class_name():
    with pytest.raises(ValueError, match="needs a 'class_name' key"):
        constraints.get({"max_value": 2})


def test_wrong_identifier_type():
    with pytest.raises(TypeError, match="constraint must be a name, a config dict, a Constraint or a callable"):
        constraints.get(3.0)


def test_registered_constraint_round_trips_by_name():
    @register_keras_serializable(package="test_constraints")
    class Halve(Constraint):
        def __call__(self, w):
            return w / 2

    config = constraints.serialize(Halve())
    assert config["registered_name"] == "test_constraints>Halve"
    assert type(constraints.get(json.loads(json.dumps(config)))) is Halve


def test_constraint_in_custom_object_scope_and_registered_function():
    class Zero(Constraint):
        def __call__(self, w):
            return w * 0

    config = constraints.serialize(Zero())
    with pytest.raises(ValueError, match="Unknown constraint 'Zero'"):
        constraints.get(config)
    with custom_object_scope({"Zero": Zero}):
        assert type(constraints.get(config)) is Zero
        assert type(constraints.get("Zero")) is Zero

    @register_keras_serializable(package="test_constraints")
    def clip_unit(w):
        return w.clamp(-1, 1)

    config = constraints.serialize(clip_unit)  # Keras's function envelope, as keras.constraints.serialize
    assert config["config"] == "test_constraints>clip_unit"
    assert constraints.get(config) is clip_unit
    assert constraints.get("test_constraints>clip_unit") is clip_unit


@pytest.mark.parametrize("make,match", [
    (lambda: MaxNorm(axis="rows"), "MaxNorm: axis must be an int or a non-empty list of ints"),
    (lambda: UnitNorm(axis=[]), "UnitNorm: axis must be an int or a non-empty list of ints"),
    (lambda: MaxNorm(max_value=-1), r"MaxNorm: max_value must be a number >= 0, received max_value=-1"),
    (lambda: MinMaxNorm(rate="fast"), r"MinMaxNorm: rate must be a number >= 0"),
    (lambda: MinMaxNorm(min_value=2.0, max_value=1.0), "min_value must not exceed max_value"),
])
def test_invalid_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_all_zero_weights_stay_finite():
    w = torch.zeros(4, 3)
    for c in (MaxNorm(), UnitNorm(), MinMaxNorm(min_value=1.0)):
        assert torch.equal(c(w), w)
