import json

import pytest
import torch

from kerasish.saving import register_serializable, registered_names
from kerasish.saving.serialization import decode_state, deserialize_optimizer, encode_state, get_registered_class


def test_builtin_classes_are_registered():
    assert {"Dense", "Dropout", "Sequential", "Model", "InputLayer"} <= set(registered_names())


def test_optimizer_like_state_round_trips_through_json():
    state = {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.ones(2, 2)}, 1: {"momentum_buffer": None}},
             "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0, 1], "foreach": None}]}
    structure, tensors = encode_state(state, "optimizer")
    restored = decode_state(json.loads(json.dumps(structure)), tensors)
    assert restored["param_groups"] == state["param_groups"]
    assert isinstance(restored["param_groups"][0]["betas"], tuple)
    assert list(restored["state"]) == [0, 1]
    assert torch.equal(restored["state"][0]["exp_avg"], state["state"][0]["exp_avg"])


def test_encode_refuses_objects_json_cannot_hold():
    with pytest.raises(TypeError, match=r"Cannot store the value at 'x\.fn' of type function .*without pickle"):
        encode_state({"fn": lambda: 1}, "x")


def test_decode_reports_a_missing_tensor():
    with pytest.raises(ValueError, match=r"refers to tensor 'a\.b', which is missing from the file"):
        decode_state({"b": {"__tensor__": "a.b"}}, {})


def test_register_requires_a_class_with_config_methods():
    with pytest.raises(TypeError, match=r"register_serializable expects a class, received 3 of type int"):
        register_serializable(3)
    with pytest.raises(TypeError, match=r"Class Bare cannot be registered: it has no get_config or from_config"):
        @register_serializable
        class Bare:
            pass


def test_register_refuses_a_taken_name():
    class One:
        def get_config(self):
            return {}

        @classmethod
        def from_config(cls, config):
            return cls()

    class Two(One):
        pass

    register_serializable(One, name="tests.taken")
    with pytest.raises(ValueError, match=r"The name 'tests\.taken' is already registered to .*One; received .*Two"):
        register_serializable(Two, name="tests.taken")
    assert get_registered_class("tests.taken") is One


def test_custom_objects_are_consulted():
    class Custom:
        pass

    assert get_registered_class("Custom", {"Custom": Custom}) is Custom


def test_unknown_optimizer_class_lists_known_ones():
    with pytest.raises(ValueError, match=r"optimizer class 'Adamm', which kerasish does not have\. Known optimizers: "
                                         r".*Adam.*Did you mean 'Adam'\?"):
        deserialize_optimizer({"class_name": "Adamm", "config": {}})
    with pytest.raises(ValueError, match=r"torch optimizer 'Nope', which torch\.optim does not have"):
        deserialize_optimizer({"class_name": "TorchOptimizer", "config": {"torch_class": "Nope"}})
