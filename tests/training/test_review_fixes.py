"""Review fixes, each checked against Keras 3 or by what a user observes.

A: the list `evaluate` / `train_on_batch` / `test_on_batch` return follows Keras's order (the names of
   `model.metrics` first, then every other key sorted), whatever order a custom step's dict has.
B: the shape probe of `Model.ensure_built` restores the state a forward pass may move (buffers, seed
   generators, non-trainable variables) without copying weights frozen by `trainable=False`.
Also: unfreezing keeps `add_weight(trainable=False)` variables non-trainable; an endless PyDataset
warns that `shuffle=True` is ignored.
"""

import warnings

import numpy as np
import pytest
import torch

import kerasish
from kerasish.layers import layer_utils
from kerasish.models import model as model_module
from tests.keras_parity import assert_close, copy_weights, keras_module

RNG = np.random.default_rng(0)
X = RNG.random((16, 3), dtype=np.float32)
Y = RNG.random((16, 1), dtype=np.float32)


def _both():
    return [keras_module(), kerasish]


def _custom_model(lib, returned, metrics_names=None, train=False, own_metric=None):
    """A subclassed model whose test_step (or train_step) returns constants under `returned`'s keys;
    with `metrics_names`, its `metrics` property lists Mean trackers of those names."""

    class Custom(lib.Model):
        def __init__(self):
            super().__init__()
            self.d = lib.layers.Dense(1)
            self.trackers = [lib.metrics.Mean(name=n) for n in metrics_names or []]
            if own_metric is not None:
                self.own = lib.metrics.Mean(name=own_metric)  # tracked by attribute, not by `metrics`

        def call(self, x):
            return self.d(x)

        def _constants(self):
            return {k: lib.ops.convert_to_tensor(v) for k, v in returned.items()}

        if metrics_names is not None:
            @property
            def metrics(self):
                return list(self.trackers)

        if train:
            def train_step(self, data):
                return self._constants()
        else:
            def test_step(self, data):
                return self._constants()

    m = Custom()
    m.compile("sgd", "mse")
    m(X[:2])
    return m


def _floats(result):
    return [float(v) for v in result] if isinstance(result, list) else float(result)


# ------------------------------------------------------------------ A: the order of the results list
@pytest.mark.parametrize("returned", [
    {"zeta": 2.0, "alpha": 1.0},
    {"zz": 4.0, "mae": 2.0, "aaa": 3.0, "loss": 1.0},
    {"only": 5.0},
])
def test_a_custom_test_step_gives_keras_list_order(returned):
    results = {}
    for lib in _both():
        m = _custom_model(lib, returned)
        results[lib.__name__] = (_floats(m.evaluate(X, Y, verbose=0)), _floats(m.test_on_batch(X, Y)))
    assert results["kerasish"] == results["keras"]
    if len(returned) > 1:
        assert results["kerasish"][0] != list(returned.values())  # not the dict's own order


def test_a_custom_train_step_gives_keras_list_order():
    returned = {"zeta": 2.0, "loss": 3.0, "alpha": 1.0}
    results = {lib.__name__: _floats(_custom_model(lib, returned, train=True).train_on_batch(X, Y))
               for lib in _both()}
    assert results["kerasish"] == results["keras"] == [3.0, 1.0, 2.0]


def test_a_an_overridden_metrics_property_leads_the_list():
    # Keras's guide overrides `metrics`; its names come first, in that property's order, then the rest sorted.
    returned = {"zz": 4.0, "loss": 1.0, "mae": 2.0, "aaa": 3.0}
    results = {lib.__name__: _floats(_custom_model(lib, returned, metrics_names=["mae", "loss"]).evaluate(
        X, Y, verbose=0)) for lib in _both()}
    assert results["kerasish"] == results["keras"] == [2.0, 1.0, 3.0, 4.0]


def test_a_a_tracked_metric_sharing_the_loss_name_repeats_as_in_keras():
    # Keras lists its compiled loss tracker and the model's own Mean('loss'): both names lead the list.
    results = {}
    for lib in _both():
        m = _custom_model(lib, {"b": 2.0, "loss": 1.0}, own_metric="loss")
        results[lib.__name__] = _floats(m.evaluate(X, Y, verbose=0))
    assert results["kerasish"] == results["keras"] == [1.0, 1.0, 2.0]


def test_a_compiled_metric_names_lead_a_custom_step_in_compile_order():
    returned = {"aaa": 5.0, "mae": 3.0, "zz": 6.0, "mse": 2.0, "loss": 1.0}
    results = {}
    for lib in _both():
        m = _custom_model(lib, returned)
        m.compile("sgd", "mse", metrics=["mse", "mae"])
        results[lib.__name__] = _floats(m.evaluate(X, Y, verbose=0))
    assert results["kerasish"] == results["keras"] == [1.0, 2.0, 3.0, 5.0, 6.0]


def _single(lib):
    inp = lib.Input((3,))
    m = lib.Model(inp, lib.layers.Dense(1, name="d")(inp))
    m.compile("sgd", "mse", metrics=["mse", "mae"])
    return m


def _multi(lib):
    inp = lib.Input((3,))
    m = lib.Model(inp, [lib.layers.Dense(1, name="b")(inp), lib.layers.Dense(1, name="a")(inp)])
    m.compile("sgd", ["mse", "mae"], metrics=[["mae", "mse"], ["mse"]])
    return m


@pytest.mark.parametrize("build,y", [(_single, Y), (_multi, [Y, 2 * Y])])
def test_a_built_in_steps_keep_keras_list_order(build, y):
    k = keras_module()
    theirs, ours = build(k), build(kerasish)
    copy_weights(theirs, ours)
    expected = theirs.evaluate(X, y, verbose=0)
    got = ours.evaluate(X, y, verbose=0)
    assert len(got) == len(expected)
    assert_close(np.array(got), np.array([float(v) for v in expected]), atol=1e-5)
    assert_close(np.array(ours.test_on_batch(X, y)), np.array([float(v) for v in theirs.test_on_batch(X, y)]),
                 atol=1e-5)


def test_a_weighted_metrics_follow_the_metrics_in_compile_order():
    # Keras 3 lists a weighted metric that shares a plain metric's name twice (its CompileMetrics names
    # it 'mae' while the logs say 'weighted_mae', so the 'mae' value repeats): kerasish gives each once.
    inp = kerasish.Input((3,))
    m = kerasish.Model(inp, kerasish.layers.Dense(1)(inp))
    m.compile("sgd", "mse", metrics=["mse", "mae"], weighted_metrics=["mae"])
    logs = m.evaluate(X, Y, verbose=0, return_dict=True)
    assert m.evaluate(X, Y, verbose=0) == [logs[k] for k in ("loss", "mse", "mae", "weighted_mae")]


# ------------------------------------------------------------------ B: what the shape probe copies
class _Counter(kerasish.layers.Layer):
    """Counts its calls in a non-trainable variable and draws from a seed generator."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = kerasish.random.SeedGenerator(3)

    def build(self, input_shape):
        self.calls = self.add_weight(shape=(), initializer="zeros", trainable=False, name="calls")

    def call(self, x):
        self.calls.assign_add(torch.ones(()))
        return x + 0.0 * kerasish.random.uniform((1,), seed=self.seed_generator)


class _Probed(kerasish.Model):
    def __init__(self):
        super().__init__()
        self.base = kerasish.layers.Dense(64)
        self.norm = kerasish.layers.BatchNormalization()
        self.counter = _Counter()
        self.head = kerasish.layers.Dense(1)

    def call(self, x):
        return self.head(self.counter(self.norm(self.base(x))))


def _probed():
    m = _Probed()
    m.base.build((None, 32))
    m.norm.build((None, 64))
    m.counter.build((None, 64))
    m.base.trainable = False  # a frozen backbone
    return m


def test_b_the_probe_does_not_copy_a_frozen_weight(monkeypatch):
    m = _probed()
    copied = []

    def spy(module):
        saved = layer_utils.state_snapshot(module)
        copied.extend(t for t, _ in saved)
        return saved

    monkeypatch.setattr(model_module, "state_snapshot", spy)
    m.ensure_built(np.ones((4, 32), "float32"))
    ids = {id(t) for t in copied}
    assert id(m.base.kernel) not in ids and id(m.base.bias) not in ids  # frozen: never written by a forward
    for t in (m.norm.moving_mean, m.norm.moving_variance, m.counter.calls, m.counter.seed_generator.state):
        assert id(t) in ids  # state a forward may move
    assert m.output_shape == (None, 1)


def test_b_the_probe_still_restores_what_a_forward_moves():
    m = _probed()
    seed_before = m.counter.seed_generator.state.clone()
    kernel = m.base.kernel.detach().clone()
    m.ensure_built(np.ones((4, 32), "float32"))
    assert float(m.counter.calls) == 0.0  # the probe's call was undone
    assert torch.equal(m.counter.seed_generator.state, seed_before)
    assert torch.equal(m.base.kernel.detach(), kernel)
    m(np.ones((2, 32), "float32"))
    assert float(m.counter.calls) == 1.0  # a real call counts


def test_b_marked_state_is_copied_even_in_a_frozen_layer_and_frozen_weights_are_not():
    layer = _Counter()
    layer.build((None, 2))
    assert any(t is layer.calls for t, _ in layer_utils.state_snapshot(layer))  # a trainable layer's state
    layer_utils.mark_state(layer.calls)  # what add_weight(trainable=False) would record
    layer.trainable = False
    assert any(t is layer.calls for t, _ in layer_utils.state_snapshot(layer))
    dense = kerasish.layers.Dense(2)
    dense.build((None, 2))
    dense.trainable = False
    assert not any(t is dense.kernel or t is dense.bias for t, _ in layer_utils.state_snapshot(dense))


def test_unfreezing_a_layer_leaves_its_non_trainable_weights_non_trainable_as_keras():
    # add_weight(trainable=False) is state: trainable=False then True must not make it trainable.
    k = keras_module()
    flags = {}
    for lib in (k, kerasish):
        class Counter(lib.layers.Layer):
            def build(self, input_shape):
                self.w = self.add_weight(shape=(2,), initializer="ones", trainable=True)
                self.count = self.add_weight(shape=(), initializer="zeros", trainable=False)

            def call(self, x):
                return x * self.w

        layer = Counter()
        layer(np.ones((1, 2), "float32"))
        layer.trainable = False
        layer.trainable = True
        # By identity: Keras numbers unnamed variables per session, so their names depend on earlier tests.
        flags[lib] = ([w is layer.w for w in layer.trainable_weights], [w is layer.count for w in layer.non_trainable_weights])
    assert flags[kerasish] == flags[k] == ([True], [True])


def test_a_copied_layer_keeps_its_state_variables_non_trainable_when_unfrozen():
    import copy

    class Counter(kerasish.layers.Layer):
        def build(self, input_shape):
            self.count = self.add_weight(shape=(), initializer="zeros", trainable=False)

    layer = Counter()
    layer.build((1, 2))
    twin = copy.deepcopy(layer)
    twin.trainable = False
    twin.trainable = True
    assert twin.trainable_weights == [] and len(twin.non_trainable_weights) == 1


@pytest.mark.parametrize("shuffle", [True, False])
def test_an_endless_py_dataset_warns_that_shuffle_is_ignored_as_keras(shuffle):
    k = keras_module()
    warned = {}
    for lib in (k, kerasish):
        class Endless(lib.utils.PyDataset):
            @property
            def num_batches(self):
                return None

            def __getitem__(self, index):
                return np.ones((4, 2), "float32"), np.ones((4, 1), "float32")

        model = lib.Sequential([lib.Input((2,)), lib.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(Endless(), steps_per_epoch=2, epochs=1, shuffle=shuffle, verbose=0)
        warned[lib] = any("shuffle=True" in str(w.message) for w in caught)
    assert warned[kerasish] == warned[k] == shuffle
