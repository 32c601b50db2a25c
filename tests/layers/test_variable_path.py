"""`Variable.path` as Keras 3 writes it: the layers whose build or call made the weight, then its name.

Every case builds the same thing in Keras (torch backend) and in kerasish, each after
`clear_session()` so the automatic layer names agree, and compares the paths of all weights.
"""

import copy

import numpy as np
import pytest

import kerasish
from tests.keras_parity import keras_module

X = np.ones((2, 3), "float32")
SEQ = np.ones((2, 4, 3), "float32")


def _custom(lib):
    """The same custom layers, written on `lib`'s Layer."""
    L = lib.layers

    class BuildsInBuild(L.Layer):  # a sublayer made and built in build, and an own weight
        def build(self, input_shape):
            self.dense = L.Dense(2)
            self.dense.build(input_shape)
            self.scale = self.add_weight(shape=(2,), name="scale")

        def call(self, x):
            return self.dense(x) * self.scale

    class BuildsOnCall(L.Layer):  # a sublayer made in __init__, built by the first call
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = L.Dense(2)

        def call(self, x):
            return self.dense(x)

    class Holder(L.Layer):  # a custom layer holding both kinds: nested two levels deep
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.first = BuildsInBuild()
            self.second = BuildsOnCall()

        def call(self, x):
            return self.second(self.first(x))

    class Outermost(L.Layer):  # three levels
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.holder = Holder()

        def call(self, x):
            return self.holder(x)

    class WeightInInit(L.Layer):  # add_weight in the constructor, before any build
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.w = self.add_weight(shape=(3,), name="w")

        def call(self, x):
            return x * self.w

    class MakesLayerInBuild(L.Layer):  # ... and that layer made by another layer's build
        def build(self, input_shape):
            self.inner = WeightInInit()

        def call(self, x):
            return self.inner(x)

    class Wraps(L.Layer):  # a layer given an already built sublayer
        def __init__(self, inner, **kwargs):
            super().__init__(**kwargs)
            self.inner = inner

        def call(self, x):
            return self.inner(x)

    class SubModel(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = L.Dense(3)
            self.holder = Holder()

        def call(self, x):
            return self.holder(self.dense(x))

    return {c.__name__: c for c in (BuildsInBuild, BuildsOnCall, Holder, Outermost, WeightInInit,
                                     MakesLayerInBuild, Wraps, SubModel)}


def _called(layer, x=X):
    layer(x)
    return layer


def _built(model, input_shape):
    model.build(input_shape)
    return model


def _added(model, *layers):
    for layer in layers:
        model.add(layer)
    return model


def _built_wraps(lib, c):
    dense = lib.layers.Dense(2)
    dense.build((None, 3))  # built on its own: it keeps 'dense/kernel' inside the wrapper
    return _called(c["Wraps"](dense))


def _shared(lib, c):
    dense = lib.layers.Dense(2)
    first, second = c["Wraps"](dense), c["Wraps"](dense)
    _called(first)
    _called(second)  # the weights keep the path of the call that built them
    return second


def _functional(lib, apply):
    """A functional model of `apply` (a layer, or a function of layers) on one input."""
    inputs = lib.layers.Input((3,))
    return lib.Model(inputs, apply(inputs))


MODELS = {
    "sequential with Input": lambda lib, L, c: lib.Sequential([L.Input((3,)), L.Dense(4), L.Dense(1)]),
    "sequential built on a call": lambda lib, L, c: _called(lib.Sequential([L.Dense(4), L.Dense(1)])),
    "sequential.build()": lambda lib, L, c: _built(lib.Sequential([L.Dense(4), L.Dense(1)]), (None, 3)),
    "sequential.add()": lambda lib, L, c: _added(lib.Sequential(), L.Input((3,)), L.Dense(2)),
    "first layer with input_shape=": lambda lib, L, c: lib.Sequential([L.Dense(4, input_shape=(3,)), L.Dense(1)]),
    "functional": lambda lib, L, c: _functional(lib, lambda x: L.Dense(1)(L.Dense(4)(x))),
    "sequential in sequential": lambda lib, L, c: lib.Sequential(
        [L.Input((3,)), lib.Sequential([L.Dense(4), L.Dense(2)]), L.Dense(1)]),
    "sequential in sequential, lazily": lambda lib, L, c: _called(
        lib.Sequential([lib.Sequential([L.Dense(4), L.Dense(2)]), L.Dense(1)])),
    "functional in sequential": lambda lib, L, c: lib.Sequential(
        [L.Input((3,)), _functional(lib, L.Dense(2)), L.Dense(1)]),
    "sublayer built in build": lambda lib, L, c: _called(c["BuildsInBuild"]()),
    "sublayer built on the first call": lambda lib, L, c: _called(c["BuildsOnCall"]()),
    "custom layers two levels deep": lambda lib, L, c: _called(c["Holder"]()),
    "custom layers three levels deep": lambda lib, L, c: _called(c["Outermost"]()),
    "custom layers in a functional model": lambda lib, L, c: _functional(lib, c["Holder"]()),
    "custom layers in a sequential model": lambda lib, L, c: lib.Sequential([L.Input((3,)), c["Outermost"]()]),
    "subclassed model": lambda lib, L, c: _called(c["SubModel"]()),
    "a weight made in a constructor": lambda lib, L, c: _called(c["WeightInInit"]()),
    "... of a layer made in a build": lambda lib, L, c: _called(c["MakesLayerInBuild"]()),
    "an already built sublayer": lambda lib, L, c: _built_wraps(lib, c),
    "a sublayer shared by two layers": lambda lib, L, c: _shared(lib, c),
}

RECURRENT = {
    "LSTM": lambda L: L.LSTM(2),
    "GRU": lambda L: L.GRU(2),
    "SimpleRNN": lambda L: L.SimpleRNN(2),
    "Bidirectional": lambda L: L.Bidirectional(L.LSTM(2)),
    "TimeDistributed": lambda L: L.TimeDistributed(L.Dense(2)),
}


def _paths(lib, make):
    lib.backend.clear_session()
    return [w.path for w in make().weights]


def _both(make):
    """The weight paths `make(lib)` gives in Keras and in kerasish."""
    keras = keras_module()
    return _paths(keras, lambda: make(keras)), _paths(kerasish, lambda: make(kerasish))


@pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`")
@pytest.mark.parametrize("case", sorted(MODELS))
def test_weight_paths_are_keras_paths(case):
    theirs, ours = _both(lambda lib: MODELS[case](lib, lib.layers, _custom(lib)))
    assert theirs  # the case makes weights
    assert ours == theirs


@pytest.mark.parametrize("layer", sorted(RECURRENT))
def test_recurrent_and_wrapper_weight_paths_are_keras_paths(layer):
    theirs, ours = _both(lambda lib: lib.Sequential([lib.layers.Input((4, 3)), RECURRENT[layer](lib.layers)]))
    assert ours == theirs


def test_multi_head_attention_in_a_functional_model_has_keras_paths():
    def make(lib):
        x = lib.layers.Input((4, 3))
        return lib.Model(x, lib.layers.MultiHeadAttention(2, 4)(x, x))

    theirs, ours = _both(make)
    assert ours == theirs and ours[0] == "multi_head_attention/query/kernel"


def test_clone_model_gives_keras_paths():
    def make(lib, sequential):
        L = lib.layers
        model = lib.Sequential([L.Input((4, 3)), L.LSTM(2), L.Dense(1)]) if sequential else \
            _functional(lib, L.Dense(2))
        return lib.models.clone_model(model)

    for sequential in (True, False):
        theirs, ours = _both(lambda lib: make(lib, sequential))
        assert ours == theirs


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_a_loaded_model_has_keras_paths(kind, tmp_path):
    # Keras builds each layer of a loaded Sequential on its own: 'dense/kernel', no 'sequential/'.
    def make(lib):
        L = lib.layers
        model = lib.Sequential([L.Input((4, 3)), L.LSTM(2), L.Dense(1)]) if kind == "sequential" else \
            _functional(lib, L.Dense(2))
        path = str(tmp_path / f"{lib.__name__}.keras")
        model.save(path)
        return lib.models.load_model(path)

    theirs, ours = _both(make)
    assert ours == theirs


def test_paths_are_unique_in_a_model_of_repeated_custom_blocks():
    def make(lib):
        c, L = _custom(lib), lib.layers
        return lib.Sequential([L.Input((3,)), c["Holder"](), L.Dense(3), c["Holder"]()])

    theirs, ours = _both(make)
    assert ours == theirs and len(set(ours)) == len(ours) == 12


def test_a_layer_keeps_its_path_when_called_elsewhere_later():
    def make(lib):
        holder = _called(_custom(lib)["Holder"]())
        lib.Sequential([lib.layers.Input((3,)), holder, lib.layers.Dense(1)])(X)  # not 'sequential/holder/...'
        return holder

    theirs, ours = _both(make)
    assert ours == theirs and ours[0] == "holder/builds_in_build/scale"


def test_copies_keep_the_path():
    kerasish.backend.clear_session()
    holder = _called(_custom(kerasish)["Holder"]())
    twin = copy.deepcopy(holder)
    assert [w.path for w in twin.weights] == [w.path for w in holder.weights]


def test_a_failing_call_leaves_no_scope_open():
    class Fails(kerasish.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = kerasish.layers.Dense(2)

        def call(self, x):
            self.dense(x)
            raise RuntimeError("the call fails after building its sublayer")

    kerasish.backend.clear_session()
    failing = Fails()
    with pytest.raises(RuntimeError, match="fails after building"):
        failing(X)
    assert failing.dense.kernel.path == "fails/dense/kernel"
    after = kerasish.layers.Dense(2)
    after.build((None, 3))
    assert after.kernel.path == "dense_1/kernel"  # not under 'fails/'
