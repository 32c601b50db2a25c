"""Conv3D, the transposed 1D/3D convolutions, depthwise and separable 1D convolutions, 3D pooling,
global 3D pooling and adaptive pooling, held against Keras 3 (torch backend)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import kerasish
from kerasish.layers import convolutional_depthwise, convolutional_more, pooling_more
from kerasish.layers.convolutional_depthwise import DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D
from kerasish.layers.convolutional_more import Conv1DTranspose, Conv3D, Conv3DTranspose
from kerasish.layers.pooling_more import (
    AdaptiveAveragePooling1D, AdaptiveAveragePooling2D, AdaptiveAveragePooling3D, AdaptiveMaxPooling1D,
    AdaptiveMaxPooling2D, AdaptiveMaxPooling3D, AveragePooling3D, GlobalAveragePooling3D, GlobalMaxPooling3D,
    MaxPooling3D,
)
from kerasish.utils.object_registration import register_builtin
from tests.keras_parity import assert_close, keras_module

NEW = (Conv3D, Conv1DTranspose, Conv3DTranspose, DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D, MaxPooling3D,
       AveragePooling3D, GlobalAveragePooling3D, GlobalMaxPooling3D, AdaptiveAveragePooling1D,
       AdaptiveAveragePooling2D, AdaptiveAveragePooling3D, AdaptiveMaxPooling1D, AdaptiveMaxPooling2D,
       AdaptiveMaxPooling3D)
register_builtin(*NEW)

CF = {"data_format": "channels_first"}
CONV_CASES = [
    ("Conv3D", (4, 3), {}, (2, 5, 6, 7, 3)),
    ("Conv3D", (4, 3), {"strides": 2, "padding": "same"}, (2, 5, 6, 7, 3)),
    ("Conv3D", (4, (3, 1, 2)), {"dilation_rate": (2, 1, 2), "padding": "same", "use_bias": False}, (1, 6, 5, 7, 2)),
    ("Conv3D", (6, 2), {"groups": 2, "strides": (1, 2, 3)}, (2, 4, 5, 7, 4)),
    ("Conv3D", (4, 3), {"padding": "same", **CF}, (2, 3, 5, 6, 4)),
    ("Conv1DTranspose", (4, 3), {}, (2, 7, 3)),
    ("Conv1DTranspose", (4, 3), {"strides": 2, "padding": "same"}, (2, 7, 3)),
    ("Conv1DTranspose", (4, 2), {"strides": 3}, (2, 7, 3)),
    ("Conv1DTranspose", (4, 3), {"strides": 2, "output_padding": 1}, (2, 7, 3)),
    ("Conv1DTranspose", (4, 4), {"strides": 3, "padding": "same", "output_padding": 2}, (2, 7, 3)),
    ("Conv1DTranspose", (4, 3), {"dilation_rate": 2, "padding": "same", **CF}, (2, 3, 7)),
    ("Conv3DTranspose", (3, 3), {"strides": 2, "padding": "same"}, (2, 3, 4, 5, 2)),
    ("Conv3DTranspose", (3, 2), {"strides": (1, 2, 3), "output_padding": (0, 1, 2)}, (2, 3, 4, 5, 2)),
    ("Conv3DTranspose", (3, 3), {"dilation_rate": 2, **CF}, (2, 2, 3, 4, 5)),
    ("DepthwiseConv1D", (3,), {}, (2, 9, 4)),
    ("DepthwiseConv1D", (3,), {"depth_multiplier": 2, "strides": 2, "padding": "same"}, (2, 9, 4)),
    ("DepthwiseConv1D", (3,), {"dilation_rate": 2, "use_bias": False}, (2, 9, 4)),
    ("DepthwiseConv1D", (4,), {"depth_multiplier": 3, "padding": "same", **CF}, (2, 4, 9)),
    ("DepthwiseConv2D", (3,), {"depth_multiplier": 2}, (2, 7, 8, 3)),
    ("DepthwiseConv2D", ((2, 3),), {"strides": 2, "padding": "same"}, (2, 7, 8, 3)),
    ("DepthwiseConv2D", (3,), {"dilation_rate": (2, 1), "padding": "same", "depth_multiplier": 2, **CF},
     (2, 3, 7, 8)),
    ("SeparableConv1D", (5, 3), {}, (2, 9, 4)),
    ("SeparableConv1D", (5, 3), {"depth_multiplier": 2, "strides": 2, "padding": "same"}, (2, 9, 4)),
    ("SeparableConv1D", (5, 3), {"dilation_rate": 2, "use_bias": False}, (2, 9, 4)),
    ("SeparableConv1D", (5, 2), {"depth_multiplier": 3, "padding": "same", **CF}, (2, 4, 9)),
]

POOL_CASES = [
    ("MaxPooling3D", (), {}, (2, 4, 5, 6, 3)),
    ("MaxPooling3D", ((2, 3, 2),), {"strides": (1, 2, 3), "padding": "same"}, (2, 4, 5, 6, 3)),
    ("MaxPooling3D", (3,), {"strides": 2, **CF}, (2, 3, 5, 6, 7)),
    ("AveragePooling3D", (2,), {}, (2, 4, 5, 6, 3)),
    ("AveragePooling3D", (3,), {"strides": 1, "padding": "same"}, (2, 4, 5, 6, 3)),
    ("AveragePooling3D", ((1, 2, 3),), {"strides": (1, 1, 2), **CF}, (2, 3, 4, 5, 6)),
    ("GlobalAveragePooling3D", (), {}, (2, 3, 4, 5, 6)),
    ("GlobalAveragePooling3D", (), {"keepdims": True, **CF}, (2, 3, 4, 5, 6)),
    ("GlobalMaxPooling3D", (), {}, (2, 3, 4, 5, 6)),
    ("GlobalMaxPooling3D", (), {"keepdims": True, **CF}, (2, 3, 4, 5, 6)),
    ("AdaptiveAveragePooling1D", (3,), {}, (2, 10, 4)),
    ("AdaptiveMaxPooling1D", (4,), CF, (2, 3, 10)),
    ("AdaptiveAveragePooling2D", ((3, 2),), {}, (2, 7, 5, 3)),
    ("AdaptiveMaxPooling2D", (3,), CF, (2, 3, 7, 5)),
    ("AdaptiveAveragePooling3D", ((2, 3, 1),), CF, (2, 3, 5, 7, 4)),
    ("AdaptiveMaxPooling3D", (2,), {}, (2, 5, 7, 4, 3)),
]


def _ours(name):
    for module in (convolutional_more, convolutional_depthwise, pooling_more):
        if hasattr(module, name):
            return getattr(module, name)
    raise AssertionError(name)


def _jsonable(value):
    return [_jsonable(v) for v in value] if isinstance(value, (list, tuple)) else value


def _check_config(ours, theirs):
    ours_cfg, theirs_cfg = ours.get_config(), theirs.get_config()
    for key, value in theirs_cfg.items():
        if key not in ("dtype", "name") and not key.endswith(("initializer", "regularizer", "constraint")):
            assert ours_cfg[key] == _jsonable(value), key
    # kerasish leaves out a None activity_regularizer (as every kerasish layer does)
    assert set(theirs_cfg) - {"dtype", "activity_regularizer"} <= set(ours_cfg)
    again = type(ours).from_config(json.loads(json.dumps(ours_cfg)))
    assert again.get_config() == ours_cfg


def _compare(name, args, kwargs, shape, atol=1e-5):
    k = keras_module()
    theirs, ours = getattr(k.layers, name)(*args, **kwargs), _ours(name)(*args, **kwargs)
    batchless = (None,) + shape[1:]
    theirs.build(batchless)
    ours.build_from_shape(batchless)
    rng = np.random.default_rng(0)
    for w in theirs.weights:
        w.assign(rng.normal(size=tuple(w.shape)).astype("float32"))
    ours.set_weights(theirs.get_weights())
    assert [w.path.split("/")[-1] for w in theirs.weights] == [w.name for w in ours.weights]
    assert_close(ours.get_weights(), theirs.get_weights(), atol=0)
    x = rng.normal(size=shape).astype("float32")
    xt, xk = torch.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours(xt), theirs(xk)
    assert tuple(out.shape) == tuple(ref.shape)
    assert_close(out, ref, atol=atol, rtol=1e-4)
    # gradients of the input and of each weight, for a loss that weighs every output differently
    weights = torch.tensor(rng.normal(size=tuple(out.shape)).astype("float32"))
    (out * weights).sum().backward()
    (ref * weights).sum().backward()
    assert_close(xt.grad, xk.grad, atol=1e-4, rtol=1e-4)
    # weight gradients compared in Keras's layout: set them as weights and read them back
    grads_layer = _ours(name)(*args, **kwargs)
    grads_layer.build_from_shape(batchless)
    with torch.no_grad():
        for dst, src in zip(grads_layer.weights, ours.weights):
            dst.copy_(src.grad)
    assert_close(grads_layer.get_weights(), [b.value.grad for b in theirs.weights], atol=1e-4, rtol=1e-4)
    assert ours.compute_output_shape(batchless) == tuple(theirs.compute_output_shape(batchless))
    assert ours.count_params() == theirs.count_params()
    _check_config(ours, theirs)


@pytest.mark.parametrize("name, args, kwargs, shape", CONV_CASES)
def test_convolution_matches_keras(name, args, kwargs, shape):
    _compare(name, args, kwargs, shape)


@pytest.mark.parametrize("name, args, kwargs, shape", POOL_CASES)
def test_pooling_matches_keras(name, args, kwargs, shape):
    _compare(name, args, kwargs, shape)


def test_depthwise_constraint_sees_keras_layout():
    k = keras_module()
    constraint = {"class_name": "UnitNorm", "config": {"axis": [0, 1]}}
    theirs = k.layers.DepthwiseConv2D(3, depth_multiplier=2, depthwise_constraint=k.constraints.UnitNorm([0, 1]))
    ours = DepthwiseConv2D(3, depth_multiplier=2, depthwise_constraint=kerasish.constraints.get(constraint))
    theirs.build((None, 5, 5, 3))
    ours.build_from_shape((None, 5, 5, 3))
    ours.set_weights(theirs.get_weights())
    projected = ours.kernel.constraint(ours.kernel.data)
    with torch.no_grad():
        ours.kernel.copy_(projected)
    assert_close(ours.get_weights()[0], theirs.depthwise_constraint(theirs.kernel), atol=1e-6)


@pytest.mark.parametrize("make, shape, match", [
    (lambda: Conv3D(4, 3, strides=2, dilation_rate=2), None, r"strides > 1 cannot be combined.*Set one of them"),
    (lambda: Conv3D(5, 3, groups=2), None, r"filters must be divisible by groups"),
    (lambda: Conv3D(4, 3, groups=2), (None, 4, 4, 4, 3), r"input channels \(3\) must be divisible by groups=2"),
    (lambda: Conv3D(4, (3, 3)), None, r"kernel_size must be a positive int or a tuple of 3"),
    (lambda: Conv1DTranspose(4, 3, strides=2, output_padding=2), None, r"output_padding must be smaller"),
    (lambda: Conv3DTranspose(4, 3, strides=2, dilation_rate=2), None, r"strides > 1 cannot be combined"),
    (lambda: Conv1DTranspose(4, 3, padding="causal"), None, r"padding must be 'valid' or 'same'.*'causal'"),
    (lambda: DepthwiseConv2D(3, depth_multiplier=0), None, r"depth_multiplier must be a positive integer"),
    (lambda: DepthwiseConv1D(3, padding="full"), None, r"DepthwiseConv1D: padding must be"),
    (lambda: SeparableConv1D(4, 3, depth_multiplier=-1), None, r"SeparableConv1D: depth_multiplier must be"),
    (lambda: SeparableConv1D(4, 3), (None, 8, None), r"needs a known channel dimension"),
    (lambda: DepthwiseConv2D(3), (None, 8, 3), r"must have rank 4"),
    (lambda: MaxPooling3D(pool_size=(2, 2)), None, r"pool_size must be a positive int or a tuple of 3"),
    (lambda: AveragePooling3D(2, data_format="nhwc"), None, r"data_format must be 'channels_last' or"),
    (lambda: GlobalMaxPooling3D(), (None, 4, 4, 3), r"must have rank 5"),
    (lambda: AdaptiveAveragePooling2D((1, 2, 3)), None, r"output_size must be a positive int or a tuple of 2"),
    (lambda: AdaptiveMaxPooling1D(0), None, r"AdaptiveMaxPooling1D\(output_size=4\)"),
    (lambda: AdaptiveMaxPooling3D(2), (None, 4, 4, 3), r"must have rank 5"),
])
def test_bad_arguments_are_named(make, shape, match):
    with pytest.raises((ValueError, TypeError), match=match):
        layer = make()
        if shape is not None:
            layer.compute_output_shape(shape)
            layer.build_from_shape(shape)


def test_inputs_of_the_wrong_rank_are_refused_at_call():
    with pytest.raises(ValueError, match=r"must have rank 5 \(batch, depth, height, width, channels\)"):
        MaxPooling3D()(torch.ones(2, 4, 4, 3))
    with pytest.raises(ValueError, match=r"must have rank 3 \(batch, channels, steps\)"):
        AdaptiveAveragePooling1D(2, data_format="channels_first")(torch.ones(2, 4, 4, 3))


def test_functional_model_with_every_new_layer_saves_and_reloads(tmp_path):
    layers = kerasish.layers
    volume = layers.Input(shape=(6, 6, 6, 2))
    v = Conv3D(4, 3, padding="same", activation="relu")(volume)
    v = MaxPooling3D()(v)
    v = Conv3DTranspose(3, 2, strides=2)(v)
    v = AveragePooling3D(pool_size=3, strides=1, padding="same")(v)
    v = AdaptiveAveragePooling3D(2)(v)
    v = AdaptiveMaxPooling3D((1, 2, 2))(v)
    a, b = GlobalMaxPooling3D()(v), GlobalAveragePooling3D()(v)
    seq = layers.Input(shape=(10, 4))
    s = DepthwiseConv1D(3, depth_multiplier=2, padding="same")(seq)
    s = SeparableConv1D(5, 3, strides=2)(s)
    s = Conv1DTranspose(3, 3, strides=2, padding="same")(s)
    s = AdaptiveMaxPooling1D(4)(s)
    s = layers.Flatten()(AdaptiveAveragePooling1D(2)(s))
    image = layers.Input(shape=(8, 8, 3))
    i = DepthwiseConv2D(3, depth_multiplier=2, data_format="channels_last")(image)
    i = layers.Flatten()(AdaptiveAveragePooling2D(2)(AdaptiveMaxPooling2D((4, 3))(i)))
    outputs = layers.Dense(2)(layers.Concatenate()([a, b, s, i]))
    model = kerasish.Model([volume, seq, image], outputs)
    data = [torch.randn(2, 6, 6, 6, 2), torch.randn(2, 10, 4), torch.randn(2, 8, 8, 3)]
    path = str(tmp_path / "m.kerasish")
    model.save(path)
    again = kerasish.saving.load_model(path)
    assert_close(again.predict(data, verbose=0), model.predict(data, verbose=0), atol=1e-5)
    assert again.count_params() == model.count_params()
    assert [type(layer).__name__ for layer in again.layers] == [type(layer).__name__ for layer in model.layers]
    assert_close(again.get_weights(), model.get_weights())


def test_average_pooling_3d_same_padding_averages_only_real_values():
    # Asymmetric 'same' padding (TensorFlow/JAX semantics): the last window holds one real step.
    x = torch.arange(5.0).reshape(1, 5, 1, 1, 1).expand(1, 5, 2, 2, 1)
    out = AveragePooling3D((2, 1, 1), strides=(2, 1, 1), padding="same")(x)
    assert out[0, :, 0, 0, 0].tolist() == [0.5, 2.5, 4.0]


@pytest.mark.parametrize("kwargs", [
    dict(filters=3, kernel_size=3, padding="causal"),
    dict(filters=3, kernel_size=3, padding="causal", strides=2),
    dict(filters=3, kernel_size=2, padding="causal", dilation_rate=3),
    dict(filters=4, kernel_size=3, padding="causal", groups=2, data_format="channels_first"),
])
def test_conv1d_causal_padding_matches_keras(kwargs):
    k = keras_module()
    import kerasish

    shape = (2, 4, 9) if kwargs.get("data_format") == "channels_first" else (2, 9, 4)
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    theirs, ours = k.layers.Conv1D(**kwargs), kerasish.layers.Conv1D(**kwargs)
    theirs.build(shape)
    ours.build(shape)
    ours.set_weights(theirs.get_weights())
    assert_close(ours(torch.from_numpy(x)), theirs(x), atol=1e-5)
    assert ours.compute_output_shape(shape) == tuple(theirs.compute_output_shape(shape))
    with pytest.raises(ValueError, match=r"padding must be 'valid' or 'same', received padding='causal'"):
        kerasish.layers.Conv2D(3, 3, padding="causal")
