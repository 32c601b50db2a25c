"""`kerasish.name_scope`: the paths it gives weights, variables and layers, held against Keras 3."""

import numpy as np
import pytest

import kerasish
from tests.keras_parity import keras_module

X = np.ones((1, 3), "float32")


@pytest.fixture(scope="module")
def keras():
    return keras_module()


def _paths(lib):
    """The same scoped program on `lib`; returns the paths and names it produces."""
    lib.utils.clear_session()
    out = {}
    with lib.name_scope("block"):
        dense = lib.layers.Dense(2)
        dense(X)
        var = lib.Variable(np.zeros(2, "float32"), name="v")
        with lib.name_scope("inner"):
            inner = lib.layers.Dense(2, name="e")
            inner.build((None, 3))
        late = lib.layers.Dense(2, name="late")  # made here, first called outside: not scoped
    late(X)
    with lib.name_scope("other"):
        dense(X)  # a second call elsewhere does not move it
    with lib.name_scope("a"):
        with lib.name_scope("b", override_parent="z/y"):
            moved = lib.layers.Dense(1, name="g")
            moved.build((None, 2))
    seq_scope = lib.name_scope("outer")
    with seq_scope:
        model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(2, name="in_seq")])
    out.update(dense=dense.kernel.path, dense_name=dense.name, var=var.path, inner=inner.kernel.path,
               late=late.kernel.path, moved=moved.kernel.path, seq=[w.path for w in model.weights],
               plain=lib.Variable(np.zeros(1, "float32"), name="free").path)
    return out


def test_paths_match_keras(keras):
    ours, theirs = _paths(kerasish), _paths(keras)
    assert ours == theirs
    assert ours["dense"] == "block/dense/kernel" and ours["dense_name"] == "dense"
    assert ours["var"] == "block/v" and ours["moved"] == "z/y/b/g/kernel" and ours["plain"] == "free"


def test_constructor_attributes_match_keras(keras):
    for lib in (kerasish, keras):
        scope = lib.name_scope("x")
        assert (scope.name, scope.caller, scope.deduplicate, scope.override_parent) == ("x", None, True, None)
        with scope as entered:
            assert entered is scope


def test_reopening_the_callers_scope_adds_nothing(keras):
    for lib in (kerasish, keras):
        lib.utils.clear_session()

        class Reopens(lib.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.dense = lib.layers.Dense(2)

            def call(self, x):
                with lib.name_scope(self.name, caller=self):  # already open: no second level
                    return self.dense(x)

        layer = Reopens(name="outer")
        layer(X)
        assert layer.dense.kernel.path == "outer/dense/kernel", lib.__name__


@pytest.mark.parametrize("bad", ["a/b", 3])
def test_bad_names(keras, bad):
    for lib in (kerasish, keras):
        with pytest.raises(ValueError, match="Argument `name` must be a string and cannot contain character `/`"):
            lib.name_scope(bad)
    with pytest.raises(ValueError, match=f"Received: name={bad!r} .*Nest two scopes"):
        kerasish.name_scope(bad)
