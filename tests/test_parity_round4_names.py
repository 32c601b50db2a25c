"""Keras 3 names added in round 4, each held against Keras 3 itself (torch backend):
utils (clear_session, pack/unpack_x_y_sample_weight, is_keras_tensor, get_source_inputs,
standardize_dtype), metrics.huber and the focal crossentropies, layers.dot/maximum/minimum,
regularizers.OrthogonalRegularizer, and mixed_precision's Keras names."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import kerasish
from kerasish import metrics, mixed_precision, regularizers, utils
from kerasish.layers import merging  # layers.dot/maximum/minimum: exported from kerasish.layers once its diff lands
from tests.keras_parity import assert_close, keras_module, to_numpy


def _rng(seed=0):
    return np.random.default_rng(seed)


# ------------------------------------------------------------------------------------------- utils


def test_clear_session_restarts_layer_names_as_keras():
    keras = keras_module()

    def names(lib, layers):
        lib.utils.clear_session()
        first = [layers.Dense(1).name, layers.Dense(1).name]
        lib.utils.clear_session()
        return first + [layers.Dense(1).name]

    assert names(kerasish, kerasish.layers) == names(keras, keras.layers) == ["dense", "dense_1", "dense"]


def test_clear_session_is_keras_backend_clear_session():
    assert utils.clear_session is kerasish.backend.clear_session
    assert "clear_session" in utils.__all__ and "clear_session" in dir(utils)


@pytest.mark.parametrize("args", [
    ("x",), (("a", "b"),), (["a", "b"],), ("x", "y"), ("x", "y", "w"), ("x", None, "w"), (("a",), "y"),
])
def test_pack_x_y_sample_weight_matches_keras(args):
    keras = keras_module()
    assert utils.pack_x_y_sample_weight(*args) == keras.utils.pack_x_y_sample_weight(*args)


@pytest.mark.parametrize("data", ["x", ("x",), ["x", "y"], ("x", "y"), ("x", "y", "w"), {"a": 1}, (("a", "b"), "y")])
def test_unpack_x_y_sample_weight_matches_keras(data):
    keras = keras_module()
    assert utils.unpack_x_y_sample_weight(data) == keras.utils.unpack_x_y_sample_weight(data)


def test_unpack_x_y_sample_weight_rejects_four_items_as_keras():
    keras = keras_module()
    with pytest.raises(ValueError):
        keras.utils.unpack_x_y_sample_weight((1, 2, 3, 4))
    with pytest.raises(ValueError, match=r"received a tuple of 4 items.*\(\(x1, x2\), y\)"):
        utils.unpack_x_y_sample_weight((1, 2, 3, 4))


def test_is_keras_tensor_matches_keras():
    keras = keras_module()
    for lib in (keras, kerasish):
        x = lib.Input(shape=(3,))
        y = lib.layers.Dense(2)(x)
        assert [lib.utils.is_keras_tensor(v) for v in (x, y, torch.ones(2), np.ones(2), 1.0)] == [
            True, True, False, False, False]


def test_get_source_inputs_matches_keras():
    keras = keras_module()

    def sources(lib):
        a, b, c = lib.Input(shape=(3,)), lib.Input(shape=(3,)), lib.Input(shape=(3,))
        h = lib.layers.Dense(3)(b)
        out = lib.layers.Concatenate()([lib.layers.add([h, a]), lib.layers.Dense(3)(h), c])
        ins = (a, b, c)
        found = lib.utils.get_source_inputs(out)
        return ([next(i for i, t in enumerate(ins) if t is s) for s in found],
                lib.utils.get_source_inputs(a) == [a], lib.utils.get_source_inputs("not a tensor"))

    assert sources(kerasish) == sources(keras)
    assert sources(kerasish)[0] == [1, 0, 2]


@pytest.mark.parametrize("dtype", [
    "float32", "int", "bfloat16", "uint8", "bool", torch.float16, torch.int64, torch.bool, np.float64,
    np.dtype("int32"), np.complex64, float, int, bool,
])
def test_standardize_dtype_matches_keras(dtype):
    keras = keras_module()
    assert utils.standardize_dtype(dtype) == keras.utils.standardize_dtype(dtype)


# ----------------------------------------------------------------------------------------- metrics


@pytest.mark.parametrize("name,kwargs", [
    ("huber", {}), ("huber", {"delta": 0.3}),
    ("binary_focal_crossentropy", {}), ("binary_focal_crossentropy", {"apply_class_balancing": True, "gamma": 3.0}),
    ("binary_focal_crossentropy", {"from_logits": True, "label_smoothing": 0.1}),
    ("categorical_focal_crossentropy", {}), ("categorical_focal_crossentropy", {"from_logits": True, "alpha": 0.5}),
])
def test_metric_functions_match_keras(name, kwargs):
    keras = keras_module()
    rng = _rng(1)
    y_true = rng.integers(0, 2, size=(6, 4)).astype("float32")
    y_pred = rng.uniform(0.05, 0.95, size=(6, 4)).astype("float32")
    if name == "categorical_focal_crossentropy" and not kwargs.get("from_logits"):
        y_pred = y_pred / y_pred.sum(-1, keepdims=True)
    ours = getattr(metrics, name)(torch.from_numpy(y_true), torch.from_numpy(y_pred), **kwargs)
    theirs = getattr(keras.metrics, name)(y_true, y_pred, **kwargs)
    assert_close(ours, theirs, atol=1e-6)
    assert getattr(metrics, name) is getattr(kerasish.losses, name)


# ------------------------------------------------------------------------------------------ layers


@pytest.mark.parametrize("fn,kwargs", [
    ("maximum", {}), ("minimum", {}), ("dot", {}), ("dot", {"axes": 1, "normalize": True}), ("dot", {"axes": (2, 2)}),
])
def test_functional_merge_forms_match_keras(fn, kwargs):
    keras = keras_module()
    rng = _rng(2)
    x1, x2 = rng.normal(size=(4, 3, 5)).astype("float32"), rng.normal(size=(4, 3, 5)).astype("float32")
    if kwargs.get("axes") == 1:
        x1, x2 = x1[:, :, 0], x2[:, :, 0]

    def model(lib, merge):
        a, b = lib.Input(shape=x1.shape[1:]), lib.Input(shape=x2.shape[1:])
        return lib.Model([a, b], merge([a, b], **kwargs))

    ours = model(kerasish, getattr(merging, fn))
    theirs = model(keras, getattr(keras.layers, fn))
    assert tuple(ours.output_shape) == tuple(theirs.output_shape)
    assert_close(ours.predict([x1, x2], verbose=0), theirs.predict([x1, x2], verbose=0), atol=1e-5)
    assert_close(getattr(merging, fn)([torch.from_numpy(x1), torch.from_numpy(x2)], **kwargs),
                 getattr(keras.layers, fn)([x1, x2], **kwargs), atol=1e-5)


# ------------------------------------------------------------------------------------ regularizers


@pytest.mark.parametrize("factor,mode,shape", [(0.01, "rows", (4, 6)), (0.3, "columns", (5, 3)), (2, "rows", (2, 2))])
def test_orthogonal_regularizer_values_and_gradients_match_keras(factor, mode, shape):
    keras = keras_module()
    w = _rng(3).normal(size=shape).astype("float32")
    ours_w = torch.tensor(w, requires_grad=True)
    theirs_w = torch.tensor(w, requires_grad=True)
    ours = regularizers.OrthogonalRegularizer(factor=factor, mode=mode)(ours_w)
    theirs = keras.regularizers.OrthogonalRegularizer(factor=factor, mode=mode)(theirs_w)
    assert_close(ours, theirs, atol=1e-6)
    ours.backward()
    theirs.backward()
    assert_close(ours_w.grad, theirs_w.grad, atol=1e-6)


def test_orthogonal_regularizer_config_round_trips_and_matches_keras():
    keras = keras_module()
    reg = regularizers.orthogonal_regularizer(factor=0.2, mode="columns")
    # Keras keeps factor as a float32 tensor, so its config reads 0.20000000298...; kerasish keeps the argument.
    theirs = keras.regularizers.OrthogonalRegularizer(factor=0.2, mode="columns")
    assert reg.get_config() == {"factor": 0.2, "mode": "columns"}
    assert theirs.get_config() == {"factor": pytest.approx(0.2), "mode": "columns"}
    config = json.loads(json.dumps(reg.get_config()))
    assert regularizers.OrthogonalRegularizer.from_config(config).get_config() == reg.get_config()
    ours_env, theirs_env = regularizers.serialize(reg), keras.regularizers.serialize(theirs)
    assert {k: v for k, v in ours_env.items() if k != "config"} == {k: v for k, v in theirs_env.items() if k != "config"}
    assert regularizers.deserialize(regularizers.serialize(reg)).get_config() == reg.get_config()
    assert isinstance(regularizers.get("orthogonal_regularizer"), regularizers.OrthogonalRegularizer)


def test_orthogonal_regularizer_penalises_a_dense_kernel_in_fit_as_keras():
    keras = keras_module()
    x = _rng(4).normal(size=(8, 5)).astype("float32")
    y = _rng(5).normal(size=(8, 3)).astype("float32")
    kernel = _rng(6).normal(size=(5, 3)).astype("float32")

    def losses(lib):
        model = lib.Sequential([lib.Input(shape=(5,)), lib.layers.Dense(
            3, kernel_regularizer=lib.regularizers.OrthogonalRegularizer(0.5, "columns"))])
        model.layers[-1].set_weights([kernel, np.zeros(3, "float32")])
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse")
        return model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False).history["loss"]

    assert_close(losses(kerasish), losses(keras), atol=1e-5)


def test_orthogonal_regularizer_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"factor must be a finite number >= 0, received factor=-1"):
        regularizers.OrthogonalRegularizer(factor=-1)
    with pytest.raises(ValueError, match=r"mode must be 'rows' or 'columns', received mode='row'\. Did you mean 'rows'"):
        regularizers.OrthogonalRegularizer(mode="row")
    with pytest.raises(ValueError, match=r"applies to 2-D weights, received a weight of shape \(2, 3, 4\)"):
        regularizers.OrthogonalRegularizer()(torch.ones(2, 3, 4))


# --------------------------------------------------------------------------------- mixed precision


@pytest.mark.parametrize("name", ["float32", "mixed_float16", "mixed_bfloat16"])
def test_dtype_policy_matches_keras(name):
    keras = keras_module()
    ours, theirs = mixed_precision.DTypePolicy(name), keras.mixed_precision.DTypePolicy(name)
    assert (ours.name, ours.compute_dtype, ours.variable_dtype) == (
        theirs.name, theirs.compute_dtype, theirs.variable_dtype)
    assert ours.get_config() == theirs.get_config()
    assert mixed_precision.DTypePolicy.from_config(json.loads(json.dumps(ours.get_config()))).name == name
    assert kerasish.DTypePolicy is mixed_precision.DTypePolicy is mixed_precision.Policy


def test_set_dtype_policy_and_dtype_policy_match_keras():
    keras = keras_module()
    try:
        mixed_precision.set_dtype_policy("mixed_bfloat16")
        keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
        assert mixed_precision.dtype_policy().name == keras.mixed_precision.dtype_policy().name == "mixed_bfloat16"
        assert mixed_precision.global_policy().compute_dtype == "bfloat16"
    finally:
        mixed_precision.set_dtype_policy("float32")
        keras.mixed_precision.set_dtype_policy("float32")
    assert mixed_precision.dtype_policy().name == "float32"


def test_loss_scale_optimizer_is_exported_from_mixed_precision():
    from kerasish.optimizers.loss_scale_optimizer import LossScaleOptimizer

    assert mixed_precision.LossScaleOptimizer is LossScaleOptimizer
    assert "LossScaleOptimizer" in mixed_precision.__all__


def test_top_level_aliases_are_the_namespace_classes():
    keras = keras_module()
    pairs = {"Initializer": kerasish.initializers.Initializer, "Regularizer": regularizers.Regularizer,
             "Optimizer": kerasish.optimizers.Optimizer, "KerasTensor": kerasish.ops.KerasTensor}
    for name, cls in pairs.items():
        assert getattr(kerasish, name) is cls and hasattr(keras, name)
    assert isinstance(kerasish.Input(shape=(2,)), kerasish.KerasTensor)


# --------------------------------------------------------------------------------------- InputSpec

_SPECS = [
    {"ndim": 2}, {"min_ndim": 3}, {"max_ndim": 2}, {"axes": {-1: 4}}, {"min_ndim": 2, "axes": {1: 3}},
    {"shape": (None, 3, 4)}, {"shape": (None, 3, 1), "allow_last_axis_squeeze": True}, {"dtype": "int64"},
]
_INPUTS = [(2, 3), (2, 3, 4), (2, 3, 1), (5, 4), (2, 3, 4, 4)]


def _spec_layer(lib, spec_kwargs, name):
    class Twice(lib.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.input_spec = lib.InputSpec(**spec_kwargs)

        def call(self, x):
            return x + x

    return Twice(name=name)


def _accepts(layer, x):
    try:
        layer(x)
        return True
    except ValueError:
        return False


@pytest.mark.parametrize("spec_kwargs", _SPECS)
def test_input_spec_accepts_and_rejects_what_keras_does(spec_kwargs):
    keras = keras_module()
    ours, theirs = _spec_layer(kerasish, spec_kwargs, "checked"), _spec_layer(keras, spec_kwargs, "checked")
    for shape in _INPUTS:
        for dtype in ("float32", "int64"):
            x = np.ones(shape, dtype)
            assert _accepts(ours, torch.from_numpy(x)) == _accepts(theirs, x), (spec_kwargs, shape, dtype)
    assert repr(ours.input_spec) == repr(theirs.input_spec)
    config = ours.input_spec.get_config()
    assert {k: config[k] for k in theirs.input_spec.get_config()} == theirs.input_spec.get_config()
    again = kerasish.InputSpec.from_config(json.loads(json.dumps(config)))
    assert again.get_config() == config


def test_input_spec_checks_symbolic_inputs_and_lists_as_keras():
    keras = keras_module()
    for lib in (keras, kerasish):
        with pytest.raises(ValueError):
            _spec_layer(lib, {"axes": {-1: 4}}, "sym")(lib.Input(shape=(3,)))
        assert tuple(_spec_layer(lib, {"axes": {-1: 4}}, "sym")(lib.Input(shape=(4,))).shape) == (None, 4)
    pair = _spec_layer(kerasish, {"ndim": 2}, "pair")
    pair.input_spec = [kerasish.InputSpec(ndim=2), kerasish.InputSpec(ndim=3)]
    pair.call = lambda xs: xs[0]
    assert tuple(pair([torch.ones(2, 3), torch.ones(2, 3, 4)]).shape) == (2, 3)
    with pytest.raises(ValueError, match=r"Input 1 of layer 'pair' must have rank 3 \(ndim=3\), received rank 2"):
        pair([torch.ones(2, 3), torch.ones(2, 3)])
    with pytest.raises(ValueError, match=r"Layer 'pair' expects 2 input\(s\), but it received 1 input tensor\(s\)"):
        pair(torch.ones(2, 3))


def test_input_spec_messages_name_the_layer_the_expectation_and_the_fix():
    layer = _spec_layer(kerasish, {"min_ndim": 2, "axes": {-1: 4}, "dtype": "float32"}, "my_layer")
    with pytest.raises(ValueError, match=r"Input 0 of layer 'my_layer' must have rank at least 2 \(min_ndim=2\), "
                                         r"received rank 1, shape \(4,\)\. Reshape the input"):
        layer(torch.ones(4))
    with pytest.raises(ValueError, match=r"must have size 4 on axis -1, received shape \(2, 3\)"):
        layer(torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"must have dtype float32, received int64\. Cast it first"):
        layer(torch.ones(2, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"must have rank at most 2 \(max_ndim=2\), received rank 3"):
        _spec_layer(kerasish, {"max_ndim": 2}, "m")(torch.ones(1, 2, 3))
    with pytest.raises(ValueError, match=r"must have shape \(None, 3\) \(None matches any size\), received shape "
                                         r"\(2, 5\)"):
        _spec_layer(kerasish, {"shape": (None, 3)}, "s")(torch.ones(2, 5))
    with pytest.raises(TypeError, match=r"axes must be a dict from integer axes to sizes, received axes=\{'a': 1\}"):
        kerasish.InputSpec(axes={"a": 1})
    with pytest.raises(ValueError, match=r"axis 2 in axes=\{2: 3\} is beyond the last axis \(1\) of an input of rank 2"):
        kerasish.InputSpec(ndim=2, axes={2: 3})


def test_input_spec_checks_the_inputs_argument_given_by_keyword():
    class Keyworded(kerasish.layers.Layer):
        def __init__(self):
            super().__init__(name="kw")
            self.input_spec = kerasish.InputSpec(ndim=2)

        def call(self, inputs, training=None):
            return inputs + 1

    layer = Keyworded()
    x = torch.ones(2, 3)
    assert tuple(layer(training=False, inputs=x).shape) == tuple(layer(inputs=x, training=False).shape) == (2, 3)
    with pytest.raises(ValueError, match=r"Input 0 of layer 'kw' must have rank 2 \(ndim=2\), received rank 3"):
        layer(training=False, inputs=torch.ones(2, 3, 4))


def test_layer_without_input_spec_is_unchecked():
    layer = kerasish.layers.Dense(2)
    assert layer.input_spec is None
    assert tuple(layer(torch.ones(3, 4)).shape) == (3, 2)


def test_plain_dtype_policies_as_keras_and_the_global_one_refused():
    keras = keras_module()
    for name in ("float64", "bfloat16", "float16"):
        ours, theirs = mixed_precision.DTypePolicy(name), keras.DTypePolicy(name)
        assert (ours.compute_dtype, ours.variable_dtype) == (theirs.compute_dtype, theirs.variable_dtype)
    layer = kerasish.layers.Dense(2, dtype="float64")
    assert mixed_precision.DTypePolicy.from_config(layer.dtype_policy.get_config()).compute_dtype == "float64"
    kerasish.config.set_floatx("float64")  # (Keras's default reads its global policy once one was set)
    try:
        assert mixed_precision.DTypePolicy().name == "float64"  # it raised before
    finally:
        kerasish.config.set_floatx("float32")
    with pytest.raises(ValueError, match=r"set_global_policy\('float64'\): kerasish's layers take their weights' "
                                         r"dtype from kerasish.config.floatx\(\).*set_floatx\('float64'\)"):
        mixed_precision.set_global_policy("float64")
    assert mixed_precision.global_policy().name == "float32"


def test_dtype_policy_defaults_to_floatx_as_keras():
    keras = keras_module()
    assert mixed_precision.DTypePolicy().name == keras.mixed_precision.DTypePolicy().name == "float32"
    with pytest.raises(ValueError, match=r"Unknown dtype policy 'mixed_float61'.*Did you mean 'mixed_float16'"):
        mixed_precision.DTypePolicy("mixed_float61")
