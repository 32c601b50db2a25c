"""tree.MAP_TO_NONE: replaces a node with None in traverse, and means nothing to map_structure, as in Keras."""

import pytest

from kerasish import tree
from tests.keras_parity import keras_module

STRUCTURE = [1, (2, 3), {"a": (4,), "b": 5}]


@pytest.mark.parametrize("top_down", [True, False])
def test_traverse_replaces_with_none_as_keras(top_down):
    keras = keras_module()
    ours = tree.traverse(lambda x: tree.MAP_TO_NONE if isinstance(x, tuple) else None, STRUCTURE, top_down=top_down)
    theirs = keras.tree.traverse(lambda x: keras.tree.MAP_TO_NONE if isinstance(x, tuple) else None, STRUCTURE,
                                 top_down=top_down)
    assert ours == theirs == [1, None, {"a": None, "b": 5}]
    # Keras's own MAP_TO_NONE works here too (it is recognised by name, as Keras recognises dm-tree's).
    assert tree.traverse(lambda x: keras.tree.MAP_TO_NONE if isinstance(x, tuple) else None, STRUCTURE,
                         top_down=top_down) == ours


def test_map_structure_leaves_it_as_returned():
    keras = keras_module()
    ours = tree.map_structure(lambda x: tree.MAP_TO_NONE, [1, (2,)])
    theirs = keras.tree.map_structure(lambda x: keras.tree.MAP_TO_NONE, [1, (2,)])
    assert ours == [tree.MAP_TO_NONE, (tree.MAP_TO_NONE,)]
    assert [type(v) for v in ours] == [type(v) for v in theirs]
