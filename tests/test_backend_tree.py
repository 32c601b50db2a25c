"""kerasish.backend, kerasish.config and kerasish.tree against Keras 3's."""

from __future__ import annotations

import collections

import numpy as np
import pytest

import kerasish as keras
from kerasish import backend, config, tree
from tests.keras_parity import keras_module

Point = collections.namedtuple("Point", ["x", "y"])
STRUCTURES = [
    1,
    None,
    [1, None, (2, 3)],
    {"b": [1, 2], "a": (3, 4)},
    [{"d": 4, "c": 5}, (6,)],
    collections.OrderedDict([("z", 1), ("a", [2, 3])]),
    Point(1, [2, 3]),
    [],
    {"k": []},
]


@pytest.mark.parametrize("structure", STRUCTURES, ids=range(len(STRUCTURES)))
def test_tree_matches_keras(structure):
    k = keras_module()
    assert tree.flatten(structure) == k.tree.flatten(structure)
    assert tree.flatten_with_path(structure) == [tuple(p) if isinstance(p, (list, tuple)) else p
                                                  for p in k.tree.flatten_with_path(structure)]
    leaves = list(range(len(tree.flatten(structure))))
    assert tree.pack_sequence_as(structure, leaves) == k.tree.pack_sequence_as(structure, leaves)
    fn = (lambda v: None if v is None else v * 10)
    assert tree.map_structure(fn, structure) == k.tree.map_structure(fn, structure)
    assert tree.is_nested(structure) == k.tree.is_nested(structure)
    assert tree.lists_to_tuples(structure) == k.tree.lists_to_tuples(structure)


def test_tree_errors_name_the_difference():
    with pytest.raises(ValueError, match="the structure has 3 leaves but flat_sequence has 2 items"):
        tree.pack_sequence_as([1, [2, 3]], [1, 2])
    with pytest.raises(ValueError, match=r"The structures differ at \[1\]"):
        tree.assert_same_structure([1, [2]], [1, 2])
    assert tree.map_structure(lambda a, b: a + b, [1, (2,)], [10, (20,)]) == [11, (22,)]


def test_backend_names_match_keras():
    k = keras_module()
    for name in ("backend", "floatx", "epsilon", "image_data_format"):
        assert getattr(backend, name)() == getattr(k.backend, name)(), name
    for dtype in ("float32", "int8", "bool", np.float64, "int"):
        assert backend.standardize_dtype(dtype) == k.backend.standardize_dtype(dtype), dtype
    for pair in [("int32", "float16"), ("int8", "uint8"), ("bfloat16", int), ("int32", float), ("bool", "int8"),
                 ("float16", "bfloat16"), ("uint8", int), ("int64", "float32"), ("uint32", "int32"), (float, int),
                 ("bool", float)]:
        assert backend.result_type(*pair) == k.backend.result_type(*pair), pair
    assert backend.is_float_dtype("bfloat16") and backend.is_int_dtype("uint8") and not backend.is_int_dtype("bool")
    assert backend.is_keras_tensor(keras.Input((3,))) and not backend.is_keras_tensor(np.ones(3))
    assert [backend.get_uid("p"), backend.get_uid("p")] == [1, 2]


def test_clear_session_restarts_names():
    backend.clear_session()
    assert keras.layers.Dense(2).name == "dense"
    assert keras.layers.Dense(2).name == "dense_1"
    backend.clear_session()
    assert keras.layers.Dense(2).name == "dense"


def test_settings_validate_and_image_layers_follow_the_data_format():
    with pytest.raises(ValueError, match="Unknown data_format 'nhwc'"):
        config.set_image_data_format("nhwc")
    with pytest.raises(ValueError, match="epsilon must be a positive number"):
        config.set_epsilon(0)
    config.set_image_data_format("channels_first")
    try:
        assert keras.layers.Conv2D(2, 3).data_format == "channels_first"
        assert keras.layers.Flatten().data_format == "channels_first"
    finally:
        config.set_image_data_format("channels_last")
    assert keras.layers.Conv2D(2, 3).data_format == "channels_last"
    with pytest.raises(ValueError, match="Invalid dtype: 'float31'"):
        backend.standardize_dtype("float31")


def test_result_type_matches_keras_for_every_pair():
    k = keras_module()
    names = ["bool", "uint8", "uint16", "uint32", "int8", "int16", "int32", "int64", "bfloat16", "float16",
             "float32", "float64", "complex64", "complex128", int, float, bool]
    mismatches = []
    for a in names:
        for b in names:
            try:
                theirs = k.backend.result_type(a, b)
            except Exception as e:  # noqa: BLE001 - Keras refuses the pair; so must we
                theirs = type(e).__name__
            ours = backend.result_type(a, b)
            if ours != theirs:
                mismatches.append((a, b, ours, theirs))
    assert not mismatches, mismatches
