"""The Layer and Model attributes Keras 3 users read and write, held against Keras 3 (torch backend).

Layer: dtype_policy / compute_dtype / variable_dtype / input_dtype / quantization_mode, path,
metrics_variables, add_metric, quantize, stateless_call, compute_output_spec, symbolic_call.
Model: jit_compile, run_eagerly, make_*_function, get_state_tree / set_state_tree.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import kerasish
from kerasish import layers, mixed_precision
from tests.keras_parity import assert_close, copy_weights, keras_module, to_numpy

X = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
Y = np.random.default_rng(1).normal(size=(6, 3)).astype("float32")


def _pair(keras, build):
    """The same thing built by `build(lib)` in Keras and kerasish."""
    return build(keras), build(kerasish)


# ----------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("dtype", [None, "float32", "float64", "bfloat16", "mixed_float16", "mixed_bfloat16"])
def test_dtype_attributes_match_keras(dtype):
    keras = keras_module()
    k, s = _pair(keras, lambda lib: lib.layers.Dense(3, dtype=dtype))
    for attr in ("compute_dtype", "variable_dtype", "input_dtype", "quantization_mode", "dtype"):
        assert getattr(s, attr) == getattr(k, attr), attr
    assert s.dtype_policy.name == k.dtype_policy.name
    assert s.dtype_policy.compute_dtype == k.dtype_policy.compute_dtype
    assert s.dtype_policy.variable_dtype == k.dtype_policy.variable_dtype
    assert isinstance(s.dtype_policy, mixed_precision.DTypePolicy)
    policy = s.dtype_policy
    assert type(policy).from_config(policy.get_config()).compute_dtype == policy.compute_dtype


def test_layer_without_dtype_follows_a_mixed_global_policy_as_keras():
    keras = keras_module()
    mixed_precision.set_global_policy("mixed_bfloat16")
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        k, s = _pair(keras, lambda lib: lib.layers.Dense(3))
        assert (s.dtype_policy.name, s.compute_dtype, s.variable_dtype) == (
            k.dtype_policy.name, k.compute_dtype, k.variable_dtype) == ("mixed_bfloat16", "bfloat16", "float32")
    finally:
        mixed_precision.set_global_policy("float32")
        keras.mixed_precision.set_global_policy("float32")


def test_setting_dtype_policy_changes_the_computation_as_keras():
    keras = keras_module()
    k, s = _pair(keras, lambda lib: lib.layers.Dense(3))
    k.dtype_policy = "mixed_bfloat16"
    s.dtype_policy = "mixed_bfloat16"
    assert (s.compute_dtype, s.variable_dtype) == (k.compute_dtype, k.variable_dtype) == ("bfloat16", "float32")
    k_out, s_out = k(X), s(torch.as_tensor(X))
    assert str(s_out.dtype) == str(k_out.dtype) == "torch.bfloat16"
    assert s.kernel.dtype == torch.float32
    assert s.get_config()["dtype"]["config"]["name"] == "mixed_bfloat16"


def test_setting_a_quantized_or_weight_changing_policy_is_refused():
    layer = layers.Dense(3)
    with pytest.raises(ValueError, match="quantized dtype policy 'int8_from_float32'.*does not quantize"):
        layer.dtype_policy = "int8_from_float32"
    layer.build((None, 4))
    with pytest.raises(ValueError, match=r"built with \['float32'\] weights.*dtype_policy='float64'.*Pass dtype="):
        layer.dtype_policy = "float64"
    assert layer.compute_dtype == "float32"  # nothing changed
    with pytest.raises(ValueError, match="Unknown dtype 'floot32'"):
        layer.dtype_policy = "floot32"


# ----------------------------------------------------------------------------- path
def test_paths_match_keras():
    keras = keras_module()

    def build(lib):
        standalone = lib.layers.Dense(2, name="standalone")
        unbuilt = lib.layers.Dense(2, name="unbuilt")
        standalone.build((None, 4))
        seq = lib.Sequential([lib.Input((4,)), lib.layers.Dense(3, name="d"), lib.layers.ReLU(name="r")], name="seq")

        class Net(lib.Model):
            def __init__(self):
                super().__init__(name="net")
                self.inner = lib.layers.Dense(2, name="inner")

            def call(self, x):
                return self.inner(x)

        net = Net()
        before = (net.path, net.inner.path)
        net(X)
        inp = lib.Input((4,))
        fd = lib.layers.Dense(2, name="fd")
        fn = lib.Model(inp, fd(inp), name="fn")
        inner = lib.Sequential([lib.layers.Dense(2, name="a")], name="inner")
        lib.Sequential([lib.Input((4,)), inner, lib.layers.Dense(1, name="b")], name="outer")
        emb = lib.layers.Embedding(5, 2, name="emb")
        emb(np.zeros((1, 2), "int32"))
        return [standalone.path, unbuilt.path, seq.path, seq.layers[0].path, seq.layers[1].path, before,
                net.path, net.inner.path, fd.path, fn.path, inner.path, inner.layers[0].path, emb.path]

    k, s = _pair(keras, build)
    assert s == k
    assert s[:4] == ["standalone", None, "seq", "seq/d"] and s[-4:] == ["fn", "outer/inner", "outer/inner/a", "emb"]


def test_path_cannot_be_assigned():
    layer = layers.Dense(2)
    with pytest.raises(AttributeError):
        layer.path = "other"


# ----------------------------------------------------------------------------- metrics
def test_metrics_variables_match_keras():
    keras = keras_module()

    def build(lib):
        class Count(lib.metrics.Metric):
            def __init__(self, name="count"):
                super().__init__(name=name)
                self.n = self.add_variable((), "zeros", name="n")

            def update_state(self, values):
                self.n.assign(self.n + values.shape[0])

            def result(self):
                return self.n

        class Counting(lib.layers.Layer):
            def __init__(self):
                super().__init__()
                self.counter = Count()

            def call(self, x):
                self.counter.update_state(x)
                return x

        layer = Counting()
        layer(X)
        return layer

    k, s = _pair(keras, build)
    assert [tuple(v.shape) for v in s.metrics_variables] == [tuple(v.shape) for v in k.metrics_variables] == [()]
    assert_close(s.metrics_variables, k.metrics_variables)
    assert layers.Dense(2).metrics_variables == []


def test_add_metric_is_removed_as_in_keras():
    keras = keras_module()
    with pytest.raises(NotImplementedError, match="add_metric"):
        keras.layers.Dense(2).add_metric(1.0)
    with pytest.raises(NotImplementedError, match=r"add_metric\(\) was removed in Keras 3.*compile\(metrics="):
        layers.Dense(2).add_metric(1.0)


def test_quantize_is_refused_with_the_way_out():
    model = kerasish.Sequential([kerasish.Input((4,)), layers.Dense(2)])
    with pytest.raises(NotImplementedError, match=r"quantize\(mode='int8'\).*torch.ao.quantization"):
        model.quantize("int8")
    with pytest.raises(NotImplementedError, match="does not quantize"):
        model.layers[0].quantize("int8")
    assert model.layers[0].quantization_mode is None


# ----------------------------------------------------------------------------- stateless_call
def _bn_model(lib):
    return lib.Sequential([lib.Input((4,)), lib.layers.Dense(3, kernel_regularizer="l2"),
                           lib.layers.BatchNormalization()])


def test_stateless_call_matches_keras_and_changes_no_state():
    keras = keras_module()
    k, s = _pair(keras, _bn_model)
    copy_weights(k, s)
    new_trainable = [to_numpy(v) * 0.5 for v in k.trainable_variables]
    k_nt = [to_numpy(v) for v in k.non_trainable_variables]
    k_out, k_state, k_losses = k.stateless_call([keras.ops.convert_to_tensor(v) for v in new_trainable],
                                                [keras.ops.convert_to_tensor(v) for v in k_nt], X,
                                                training=True, return_losses=True)
    before = [v.detach().clone() for v in s.weights]
    s_out, s_state, s_losses = s.stateless_call([torch.as_tensor(v) for v in new_trainable],
                                                [v for v in s.non_trainable_variables], torch.as_tensor(X),
                                                training=True, return_losses=True)
    assert_close(s_out, k_out, atol=1e-5)
    assert_close(s_state, k_state, atol=1e-5)  # the moving statistics after one training call
    assert len(s_losses) == len(k_losses) == 1
    assert_close(s_losses[0], k_losses[0], atol=1e-6)  # the l2 penalty of the given kernel
    for old, now in zip(before, s.weights):
        assert torch.equal(old, now.detach())
    assert not torch.allclose(s_state[0], s.non_trainable_variables[0])


def test_stateless_call_keeps_the_losses_of_the_last_call_as_keras():
    keras = keras_module()

    def run(lib, full):
        class Penalised(lib.layers.Layer):
            def call(self, x):
                self.add_loss(lib.ops.sum(lib.ops.abs(x)))
                return x

        layer = Penalised()
        layer(full((2, 2), 1.0))
        _, _, losses = layer.stateless_call([], [], full((2, 2), 3.0), return_losses=True)
        return [float(to_numpy(v)) for v in losses], [float(to_numpy(v)) for v in layer.losses]

    assert run(kerasish, torch.full) == run(keras, keras.ops.full) == ([12.0], [4.0])


def test_stateless_call_gradients_reach_the_given_tensors():
    layer = layers.Dense(2)
    layer.build((None, 4))
    kernel = torch.ones(4, 2, requires_grad=True)
    bias = torch.zeros(2, requires_grad=True)
    out, state = layer.stateless_call([kernel, bias], [], torch.as_tensor(X))
    out.sum().backward()
    assert state == []
    assert_close(kernel.grad, np.repeat(X.sum(0)[:, None], 2, axis=1))
    assert layer.kernel.grad is None


def test_stateless_call_errors():
    keras = keras_module()
    with pytest.raises(ValueError, match="must be built"):
        keras.layers.Dense(2).stateless_call([], [], X)
    with pytest.raises(ValueError, match=r"stateless_call\(\) needs Dense 'unbuilt_dense' built.*layer.build"):
        layers.Dense(2, name="unbuilt_dense").stateless_call([], [], X)
    layer = layers.Dense(2)
    layer.build((None, 4))
    with pytest.raises(ValueError, match=r"`trainable_variables` must hold one tensor per Dense\(\).trainable_"
                                         r"variables.*received 1, expected 2"):
        layer.stateless_call([layer.kernel], [], X)
    with pytest.raises(ValueError, match=r"`non_trainable_variables`.*received 1, expected 0"):
        layer.stateless_call(layer.trainable_variables, [layer.kernel], X)


# ----------------------------------------------------------------------------- specs
def test_compute_output_spec_and_symbolic_call_match_keras():
    keras = keras_module()
    for lib in (keras, kerasish):
        dense = lib.layers.Dense(3)
        spec = dense.compute_output_spec(lib.Input((4,)))
        assert (tuple(spec.shape), spec.dtype) == ((None, 3), "float32")
        with pytest.raises((ValueError, AttributeError)):
            dense.output  # a spec is not a call of the graph: still no output
        out = dense.symbolic_call(lib.Input((4,)))
        assert (tuple(out.shape), out.dtype) == ((None, 3), "float32")
        with pytest.raises((ValueError, AttributeError)):
            dense.output  # Keras's layers record nodes in __call__, not in symbolic_call
        called = dense(lib.Input((4,)))
        assert tuple(dense.output.shape) == tuple(called.shape) == (None, 3)
    k_spec = keras.layers.Dense(3).compute_output_spec(keras.ops.zeros((2, 4)))
    s_spec = layers.Dense(3).compute_output_spec(torch.zeros(2, 4))
    assert (tuple(s_spec.shape), s_spec.dtype) == (tuple(k_spec.shape), k_spec.dtype) == ((2, 3), "float32")
    k_spec = keras.layers.Dense(3).compute_output_spec(keras.Input((2, 4), dtype="float64"))
    s_spec = layers.Dense(3).compute_output_spec(kerasish.Input((2, 4), dtype="float64"))
    assert (tuple(s_spec.shape), s_spec.dtype) == (tuple(k_spec.shape), k_spec.dtype)


# ----------------------------------------------------------------------------- jit_compile / run_eagerly
@pytest.mark.parametrize("kwargs", [{}, {"run_eagerly": True}, {"jit_compile": True}, {"jit_compile": False},
                                    {"jit_compile": "auto"}, {"run_eagerly": True, "jit_compile": True}])
def test_compiled_settings_read_as_keras(kwargs):
    keras = keras_module()

    def build(lib):
        model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(3)])
        before = (model.jit_compile, model.run_eagerly)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.compile("sgd", "mse", **kwargs)
        return before, (model.jit_compile, model.run_eagerly), any("jit_compile" in str(w.message) for w in caught)

    k, s = _pair(keras, build)
    assert s == k


def test_settings_made_before_compile_are_replaced_by_compile_as_keras():
    keras = keras_module()

    def build(lib):
        model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(3)])
        model.run_eagerly = True
        model.jit_compile = False
        read = (model.run_eagerly, model.jit_compile)
        model.compile("sgd", "mse")
        return read, (model.run_eagerly, model.jit_compile)

    k, s = _pair(keras, build)
    assert s == k == ((True, False), (False, False))


def _fit_twice(model):
    model.fit(X, Y, batch_size=2, epochs=1, verbose=0)
    return model.__dict__.get("compile_time_s", 0.0)


def test_setting_jit_compile_after_compile_takes_effect_on_the_next_fit():
    model = kerasish.Sequential([kerasish.Input((4,)), layers.Dense(3)])
    model.compile("sgd", "mse")
    model.jit_compile = {"backend": "aot_eager"}
    assert model.jit_compile == {"backend": "aot_eager"}
    assert _fit_twice(model) > 0  # torch.compile ran, as with compile(jit_compile={...})

    eager = kerasish.Sequential([kerasish.Input((4,)), layers.Dense(3)])
    eager.compile("sgd", "mse", jit_compile={"backend": "aot_eager"})
    eager.jit_compile = False
    assert eager.jit_compile is False
    assert _fit_twice(eager) == 0.0  # nothing compiled


def test_run_eagerly_true_turns_torch_compile_off():
    model = kerasish.Sequential([kerasish.Input((4,)), layers.Dense(3)])
    model.compile("sgd", "mse", jit_compile={"backend": "aot_eager"})
    with pytest.warns(UserWarning, match="run_eagerly = True.*jit_compile is turned off") as caught:
        model.run_eagerly = True
    assert caught[0].filename == __file__  # points at the user's line
    assert (model.run_eagerly, model.jit_compile) == (True, False)
    assert _fit_twice(model) == 0.0
    with pytest.raises(ValueError, match=r"run_eagerly is True.*Set model.run_eagerly = False first"):
        model.jit_compile = True
    model.run_eagerly = False
    model.jit_compile = True
    assert model.jit_compile is True


def test_jit_compile_refuses_what_compile_refuses():
    model = kerasish.Sequential([kerasish.Input((4,)), layers.Dense(3)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="jit_compile must be True, False, 'auto' or a dict"):
        model.jit_compile = "xla"
    assert model.jit_compile is False


# ----------------------------------------------------------------------------- step functions
def test_step_functions_match_keras():
    keras = keras_module()
    k, s = _pair(keras, lambda lib: lib.Sequential([lib.Input((4,)), lib.layers.Dense(3)]))
    copy_weights(k, s)
    results = []
    for model in (k, s):
        model.compile(keras.optimizers.SGD(0.1) if model is k else kerasish.optimizers.SGD(0.1), "mse")
        made = (model.train_function, model.make_train_function(), model.make_test_function(),
                model.make_predict_function())
        assert made == (None, None, None, None)
        assert model.make_train_function() is model.train_function is not None
        logs = model.train_function([(X, Y)])
        # Keras's functions keep adding to the metrics until reset_metrics(); kerasish's restart each call.
        model.reset_metrics()
        test_logs = model.test_function([(X, Y)])
        preds = model.predict_function([X])
        results.append((float(to_numpy(logs["loss"])), float(to_numpy(test_logs["loss"])), to_numpy(preds)))
        model.compile("sgd", "mse")
        assert model.train_function is None  # compile clears them, as Keras's
    (k_loss, k_test, k_pred), (s_loss, s_test, s_pred) = results
    assert s_loss == pytest.approx(k_loss, rel=1e-5)
    assert s_test == pytest.approx(k_test, rel=1e-5)
    assert_close(s_pred, k_pred)
    assert_close(s.get_weights(), k.get_weights())


def test_train_function_runs_an_overridden_train_step():
    class Stepped(kerasish.Sequential):
        def train_step(self, data):
            x, y = data
            self.zero_grad()
            loss = self.compute_loss(y=y, y_pred=self(x, training=True))
            loss.backward()
            self.optimizer.apply([w.grad for w in self.trainable_weights], self.trainable_weights)
            return {"loss": loss.detach(), "calls": torch.tensor(1.0)}

    model = Stepped([kerasish.Input((4,)), layers.Dense(3)])
    model.compile("sgd", "mse")
    model(torch.as_tensor(X))
    before = model.get_weights()
    model.make_train_function()
    logs = model.train_function([(torch.as_tensor(X), torch.as_tensor(Y))])
    assert sorted(logs) == ["calls", "loss"]
    assert not np.allclose(model.get_weights()[0], before[0])


def test_overriding_make_train_function_is_refused_by_fit():
    class Custom(kerasish.Sequential):
        def make_train_function(self, force=False):
            return None

    model = Custom([kerasish.Input((4,)), layers.Dense(3)])
    model.compile("sgd", "mse")
    with pytest.raises(NotImplementedError, match=r"overrides make_train_function\(\).*Override train_step"):
        model.fit(X, Y, verbose=0)


# ----------------------------------------------------------------------------- state trees
def test_set_state_tree_takes_keras_variable_trees():
    keras = keras_module()
    k, s = _pair(keras, lambda lib: lib.Sequential([lib.Input((4,)), lib.layers.Dense(3, name="d"),
                                                    lib.layers.BatchNormalization(name="bn")], name="m"))
    k.compile("adam", "mse")
    k.fit(X, Y, epochs=2, verbose=0)
    tree = k.get_state_tree(value_format="numpy_array")
    s.set_state_tree({key: tree[key] for key in ("trainable_variables", "non_trainable_variables")})
    assert_close(s.get_weights(), k.get_weights())
    assert_close(s(torch.as_tensor(X)), k(X))


def test_state_tree_errors():
    model = kerasish.Sequential([kerasish.Input((4,)), layers.Dense(3)])
    model.compile("adam", "mse")
    with pytest.raises(ValueError, match=r"Invalid `value_format` argument"):
        model.get_state_tree("tensor")
    before = model.get_weights()
    tree = {"trainable_variables": {"sequential": {"dense": {"kernel": np.zeros((4, 3))}}},
            "optimizer_variables": {"adam": {"nope": 0.0}}}
    with pytest.raises(ValueError, match=r"'optimizer_variables' match no variable.*nothing was assigned"):
        model.set_state_tree(tree)
    assert_close(model.get_weights(), before)
    with pytest.raises(ValueError, match=r"Unknown variable name: weights"):
        model.set_state_tree({"weights": {}})
