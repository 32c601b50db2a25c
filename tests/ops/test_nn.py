"""kerasish.ops.nn (activations, normalization, one-hot, losses, attention) against Keras 3 (torch backend)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import kerasish.ops as kops
from kerasish.ops.operation import registered_ops
from tests.ops.ops_parity import check_op

rng = np.random.default_rng(0)


def rand(*shape, dtype="float32", scale=3.0):
    return (scale * rng.standard_normal(shape)).astype(dtype)


ALL_NN = sorted("""adaptive_average_pool adaptive_max_pool average_pool batch_normalization binary_crossentropy
categorical_crossentropy celu conv conv_transpose ctc_decode ctc_loss depth_to_space depthwise_conv
dot_product_attention elu fold gelu glu hard_shrink hard_sigmoid hard_silu hard_swish hard_tanh layer_normalization
leaky_relu log_sigmoid log_softmax max_pool moments multi_hot normalize one_hot polar psnr relu relu6
rms_normalization selu separable_conv sigmoid silu soft_shrink softmax softplus softsign space_to_depth
sparse_categorical_crossentropy sparse_plus sparse_sigmoid sparsemax squareplus swish tanh_shrink threshold
unfold""".split())


def test_every_keras_nn_op_is_registered_and_flat():
    keras = pytest.importorskip("tests.keras_parity").keras_module()
    keras_names = sorted(n for n in dir(keras.ops.nn) if not n.startswith("_"))
    assert keras_names == ALL_NN
    assert sorted(k[3:] for k in registered_ops() if k.startswith("nn.")) == ALL_NN
    for name in ALL_NN:
        assert getattr(kops.nn, name) is getattr(kops, name)


# name, extra kwargs
FLOAT_ACTIVATIONS = [
    ("celu", {}), ("celu", {"alpha": 0.5}), ("elu", {}), ("elu", {"alpha": 2.0}), ("gelu", {}),
    ("gelu", {"approximate": False}), ("glu", {}), ("glu", {"axis": 0}), ("hard_shrink", {}),
    ("hard_shrink", {"threshold": 1.5}), ("hard_sigmoid", {}), ("hard_silu", {}), ("hard_swish", {}),
    ("hard_tanh", {}), ("leaky_relu", {}), ("leaky_relu", {"negative_slope": 0.01}), ("log_sigmoid", {}),
    ("log_softmax", {}), ("log_softmax", {"axis": 0}), ("log_softmax", {"axis": (0, 1)}),
    ("log_softmax", {"axis": None}), ("relu", {}), ("relu6", {}), ("selu", {}), ("sigmoid", {}), ("silu", {}),
    ("swish", {}), ("soft_shrink", {}), ("soft_shrink", {"threshold": 1.0}), ("softmax", {}), ("softmax", {"axis": 1}),
    ("softmax", {"axis": -2}), ("softmax", {"axis": (0, 2)}), ("softmax", {"axis": None}), ("softplus", {}),
    ("softsign", {}), ("sparse_plus", {}), ("sparse_sigmoid", {}), ("sparsemax", {}), ("sparsemax", {"axis": 0}),
    ("squareplus", {}), ("squareplus", {"b": 2.0}), ("tanh_shrink", {}), ("threshold", {"threshold": 0.5,
                                                                                     "default_value": -1.0}),
]


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("name,kwargs", FLOAT_ACTIVATIONS,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(FLOAT_ACTIVATIONS)])
def test_activations(name, kwargs, dtype):
    x = rand(4, 6, 2, dtype="float32").astype(dtype) if dtype != "bfloat16" else rand(4, 6, 2)
    args = torch.from_numpy(x).to(torch.bfloat16) if dtype == "bfloat16" else x
    tol = {"float16": 2e-3, "bfloat16": 2e-2}.get(dtype, 1e-5)
    check_op(name, args, atol=tol, rtol=tol, **kwargs)


@pytest.mark.parametrize("name", ["relu", "sparse_plus", "softmax", "sparsemax", "gelu"])
def test_activations_edge_cases(name):
    check_op(name, np.zeros((0, 3), "float32"))
    check_op(name, np.array([-1.0, 1.0, -1e30, 1e30, 0.0], "float32"))


@pytest.mark.parametrize("name,kwargs", [
    ("relu", {}), ("relu6", {}), ("hard_tanh", {}), ("sigmoid", {}), ("softsign", {}), ("sparse_plus", {}),
    ("sparse_sigmoid", {}), ("sparsemax", {}), ("squareplus", {}), ("tanh_shrink", {}),
    ("threshold", {"threshold": 1, "default_value": 7}), ("normalize", {}),
])
def test_integer_inputs_keras_accepts(name, kwargs):
    check_op(name, rng.integers(-8, 8, (3, 5)).astype("int32"), **kwargs)


@pytest.mark.parametrize("name", ["sigmoid", "sparse_plus", "sparse_sigmoid", "squareplus", "normalize"])
def test_bool_inputs_keras_accepts(name):
    check_op(name, np.array([[True, False, True]]))


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "elu", "gelu", "silu", "softplus", "leaky_relu", "glu",
                                  "celu", "selu", "hard_sigmoid", "hard_silu", "log_sigmoid", "soft_shrink",
                                  "hard_shrink"])
def test_integer_inputs_keras_rejects(name):
    with pytest.raises(TypeError, match=rf"ops\.{name} expects a floating-point tensor, received dtype int32"):
        getattr(kops.nn, name)(torch.ones(2, 4, dtype=torch.int32))


@pytest.mark.parametrize("name", ["relu", "relu6", "hard_tanh", "softsign", "tanh_shrink", "sparsemax"])
def test_bool_inputs_keras_rejects(name):
    with pytest.raises(TypeError, match=rf"ops\.{name} does not accept bool"):
        getattr(kops.nn, name)(torch.ones(2, 4, dtype=torch.bool))


def test_threshold_needs_its_arguments_and_gelu_defaults_to_tanh():
    with pytest.raises(TypeError):
        kops.nn.threshold(torch.ones(2))  # pylint: disable=no-value-for-parameter
    x = torch.linspace(-3, 3, 7)
    torch.testing.assert_close(kops.nn.gelu(x), torch.nn.functional.gelu(x, approximate="tanh"))


def test_softmax_warns_on_a_size_one_axis_as_keras():
    with pytest.warns(UserWarning, match="that axis has size 1"):
        kops.nn.softmax(torch.ones(3, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kops.nn.softmax(torch.ones(3, 2))


@pytest.mark.parametrize("axis,order", [(-1, 2), (0, 2), ((0, 1), 2), (-1, 1), (1, 3), ((0, 1), 1), (None, 2)])
def test_normalize(axis, order):
    check_op("normalize", rand(3, 4), axis=axis, order=order)
    check_op("normalize", np.zeros((2, 3), "float32"), axis=axis, order=order)


@pytest.mark.parametrize("axes,keepdims", [([0], False), ([0, 1], True), ((1,), False), (-1, True), ([0, 2], False)])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_moments(axes, keepdims, dtype):
    tol = 1e-5 if dtype == "float32" else 2e-3
    check_op("moments", rand(3, 4, 5, scale=1.0).astype(dtype), axes, keepdims=keepdims, atol=tol, rtol=tol)


@pytest.mark.parametrize("axis,with_params", [(-1, True), (1, True), (0, False), (-2, True)])
def test_batch_normalization(axis, with_params):
    x = rand(3, 4, 5)
    n = x.shape[axis]
    params = {"offset": rand(n), "scale": rand(n)} if with_params else {}
    check_op("batch_normalization", x, rand(n), np.abs(rand(n)) + 0.1, axis, epsilon=1e-2, **params)


@pytest.mark.parametrize("axis", [-1, (1, 2), (-2, -1)])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_layer_and_rms_normalization(axis, dtype):
    x = rand(3, 4, 5).astype(dtype)
    shape = (5,) if axis == -1 else (4, 5)
    tol = 1e-5 if dtype == "float32" else 2e-3
    check_op("layer_normalization", x, atol=tol, rtol=tol, axis=axis)
    check_op("layer_normalization", x, rand(*shape), rand(*shape), axis=axis, epsilon=1e-3, atol=tol, rtol=tol)
    check_op("rms_normalization", x, axis=axis, atol=tol, rtol=tol)
    check_op("rms_normalization", x, rand(*shape), axis=axis, epsilon=1e-3, atol=tol, rtol=tol)


def test_layer_and_rms_normalization_over_a_middle_axis():
    # Keras's torch backend hands non-trailing axes to F.layer_norm/F.rms_norm, which normalise the
    # trailing ones; kerasish normalises the axis asked for (as Keras's other backends do).
    x = rand(2, 3, 4)
    gamma, beta = rand(3), rand(3)
    mean, var = x.mean(1, keepdims=True), x.var(1, keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-3) * gamma[:, None] + beta[:, None]
    ours = kops.nn.layer_normalization(torch.from_numpy(x), gamma, beta, axis=1, epsilon=1e-3)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-4, atol=1e-5)
    expected = x / np.sqrt((x ** 2).mean(1, keepdims=True) + 1e-3) * gamma[:, None]
    ours = kops.nn.rms_normalization(torch.from_numpy(x), gamma, axis=1, epsilon=1e-3)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-4, atol=1e-5)


def test_layer_normalization_rms_scaling_warns_as_keras():
    x = rand(2, 6)
    with pytest.warns(UserWarning, match="deprecated"):
        check_op("layer_normalization", x, rand(6), rms_scaling=True)


@pytest.mark.parametrize("shape,axis,dtype", [((5,), -1, None), ((2, 3), -1, "int32"), ((2, 3), 0, None),
                                              ((2, 3), 1, "bool"), ((2, 3), 2, "float16"), ((0,), -1, None)])
def test_one_hot(shape, axis, dtype):
    x = rng.integers(-1, 4, shape).astype("int32")
    check_op("one_hot", x, 4, axis=axis, dtype=dtype)


def test_one_hot_float_indices_truncate():
    check_op("one_hot", np.array([0.0, 1.7, 2.2], "float32"), 3)


@pytest.mark.parametrize("shape,axis", [((3, 4), -1), ((5,), -1), ((2, 3, 4), -1), ((3, 4), 0)])
@pytest.mark.parametrize("dtype", [None, "int32", "bool"])
def test_multi_hot(shape, axis, dtype):
    check_op("multi_hot", rng.integers(0, 5, shape).astype("int32"), 5, axis=axis, dtype=dtype)


def test_multi_hot_num_tokens_alias():
    check_op("multi_hot", np.array([[0, 2], [1, 1]], "int32"), num_tokens=3)


@pytest.mark.parametrize("from_logits", [False, True])
def test_binary_crossentropy(from_logits):
    target = rng.integers(0, 2, (4, 3)).astype("float32")
    output = rand(4, 3) if from_logits else rng.uniform(0, 1, (4, 3)).astype("float32")
    output[0, 0] = 0.0 if not from_logits else output[0, 0]
    check_op("binary_crossentropy", target, output, from_logits=from_logits)


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_categorical_crossentropy(from_logits, axis):
    shape = (4, 5, 3)
    target = rng.uniform(0, 1, shape).astype("float32")  # soft labels
    output = rand(*shape) if from_logits else rng.uniform(0, 1, shape).astype("float32")
    check_op("categorical_crossentropy", target, output, from_logits=from_logits, axis=axis)


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("target_shape,output_shape,axis", [((4,), (4, 3), -1), ((4, 1), (4, 3), -1),
                                                            ((3,), (3,), -1), ((2, 5), (2, 3, 5), 1)])
def test_sparse_categorical_crossentropy(from_logits, target_shape, output_shape, axis):
    classes = output_shape[axis]
    target = rng.integers(0, classes, target_shape).astype("int32") if target_shape != (3,) else np.array(1)
    output = rand(*output_shape) if from_logits else rng.uniform(0.01, 1, output_shape).astype("float32")
    check_op("sparse_categorical_crossentropy", target, output, from_logits=from_logits, axis=axis)


def test_ctc_loss():
    target = np.array([[1, 2, 2, 0], [3, 1, 0, 0]], "int32")
    output = rand(2, 8, 5, scale=1.0)
    check_op("ctc_loss", target, output, np.array([3, 2], "int32"), np.array([8, 6], "int32"), atol=1e-4)
    check_op("ctc_loss", target + 1, output, np.array([3, 2], "int32"), np.array([8, 6], "int32"), mask_index=0,
             atol=1e-4)


@pytest.mark.parametrize("merge_repeated", [True, False])
@pytest.mark.parametrize("mask_index", [0, None, 2])
def test_ctc_decode_greedy(merge_repeated, mask_index):
    x = rng.uniform(0, 1, (3, 9, 4)).astype("float32")
    x[0, 2:5] = [0.0, 0.0, 0.0, 1.0]  # a repeated label
    check_op("ctc_decode", x, np.array([9, 5, 0], "int32"), strategy="greedy", merge_repeated=merge_repeated,
             mask_index=mask_index)


def test_ctc_decode_beam_search_is_refused_clearly():
    with pytest.raises(NotImplementedError, match="beam_search.*strategy='greedy'"):
        kops.nn.ctc_decode(torch.rand(1, 4, 3), torch.tensor([4]), strategy="beam_search")


@pytest.mark.parametrize("max_val", [1.0, 255.0])
def test_psnr(max_val):
    check_op("psnr", rng.uniform(0, 1, (2, 4, 4, 3)).astype("float32"), rng.uniform(0, 1, (2, 4, 4, 3)).astype(
        "float32"), max_val)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_polar(dtype):
    check_op("polar", np.abs(rand(3, 4)).astype(dtype), rand(3, 4).astype(dtype))


ATTENTION = [
    ({}, (2, 5, 4, 8), (2, 6, 4, 8)),
    ({"scale": 0.3}, (2, 5, 4, 8), (2, 5, 4, 8)),
    ({"is_causal": True}, (2, 5, 4, 8), (2, 5, 4, 8)),
    ({"is_causal": True}, (2, 4, 2, 8), (2, 6, 2, 8)),
    ({"mask": True}, (2, 5, 4, 8), (2, 6, 4, 8)),
    ({"mask": True, "is_causal": True}, (2, 5, 4, 8), (2, 5, 4, 8)),
    ({"bias": True}, (2, 5, 4, 8), (2, 6, 4, 8)),
    ({}, (2, 5, 4, 8), (2, 6, 2, 8)),  # grouped-query attention
    ({}, (1, 3, 4, 8), (1, 3, 1, 8)),  # multi-query attention
    ({"flash_attention": False}, (1, 3, 2, 8), (1, 3, 2, 8)),
]


@pytest.mark.parametrize("kwargs,q_shape,kv_shape", ATTENTION)
def test_dot_product_attention(kwargs, q_shape, kv_shape):
    kwargs = dict(kwargs)
    mask_shape = (q_shape[0], q_shape[2], q_shape[1], kv_shape[1])
    if kwargs.get("mask"):
        mask = rng.uniform(size=mask_shape) > 0.3
        mask[0, 0, 0] = False  # a fully masked row
        kwargs["mask"] = mask
    if kwargs.get("bias"):
        kwargs["bias"] = rand(*mask_shape, scale=1.0)
    check_op("dot_product_attention", rand(*q_shape, scale=1.0), rand(*kv_shape, scale=1.0),
             rand(*kv_shape, scale=1.0), atol=1e-5, **kwargs)


def test_dot_product_attention_calls_torch_sdpa(monkeypatch):
    calls = []
    real = torch.nn.functional.scaled_dot_product_attention

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    out = kops.nn.dot_product_attention(torch.randn(1, 3, 2, 4), torch.randn(1, 3, 2, 4), torch.randn(1, 3, 2, 4),
                                        is_causal=True)
    assert out.shape == (1, 3, 2, 4) and calls and calls[0]["is_causal"] is True


def test_dot_product_attention_mixed_dtypes_promote():
    check_op("dot_product_attention", rand(1, 3, 2, 4).astype("float16"), rand(1, 3, 2, 4), rand(1, 3, 2, 4),
             atol=1e-3)


@pytest.mark.parametrize("call,error,match", [
    (lambda: kops.nn.softmax(torch.ones(2, 3), axis=2), ValueError, r"ops\.softmax: axis=2 is out of range"),
    (lambda: kops.nn.softmax(torch.ones(2, 3), axis=(0, 0)), ValueError, "repeats an axis"),
    (lambda: kops.nn.glu(torch.ones(2, 3)), ValueError, "must be even"),
    (lambda: kops.nn.normalize(torch.ones(2, 3), order=0), ValueError, "order must be an int >= 1"),
    (lambda: kops.nn.normalize(torch.ones(2, 3, 4), axis=(0, 1, 2), order=1), ValueError, "one or two axes"),
    (lambda: kops.nn.moments(torch.ones(2, 3), [0], synchronized=True), NotImplementedError, "all_reduce"),
    (lambda: kops.nn.moments(torch.ones(2, 3, dtype=torch.int32), [0]), TypeError, "floating-point"),
    (lambda: kops.nn.batch_normalization(torch.ones(2, 3), torch.ones(2), torch.ones(3), -1), ValueError,
     r"mean must be a vector of length x.shape\[axis\] = 3"),
    (lambda: kops.nn.layer_normalization(torch.ones(2, 3), bogus=1), TypeError, "bogus"),
    (lambda: kops.nn.one_hot(torch.ones(3, dtype=torch.int32), 2, sparse=True), ValueError, "sparse=True"),
    (lambda: kops.nn.one_hot(torch.ones(3, dtype=torch.int32), 2, axis=-2), ValueError, r"axis must be -1 or in"),
    (lambda: kops.nn.one_hot(torch.ones(3, dtype=torch.int32), 2, dtype="float17"), ValueError, "Invalid dtype"),
    (lambda: kops.nn.multi_hot(torch.ones(3, dtype=torch.int32)), ValueError, "num_classes must be given"),
    (lambda: kops.nn.binary_crossentropy(torch.ones(2, 3), torch.ones(3, 2)), ValueError, "same shape"),
    (lambda: kops.nn.categorical_crossentropy(torch.ones(2, 3), torch.ones(2, 4)), ValueError, "same shape"),
    (lambda: kops.nn.sparse_categorical_crossentropy(torch.ones(3), torch.ones(2, 4)), ValueError,
     r"without the class axis, \(2,\)"),
    (lambda: kops.nn.ctc_loss(torch.ones(2, 3), torch.ones(3, 4, 5), torch.ones(2), torch.ones(3)), ValueError,
     "same batch size"),
    (lambda: kops.nn.ctc_decode(torch.ones(2, 3, 4), torch.ones(2), strategy="best"), ValueError, "'greedy' or"),
    (lambda: kops.nn.psnr(torch.ones(2, 3), torch.ones(3, 2), 1.0), ValueError, "same shape"),
    (lambda: kops.nn.dot_product_attention(torch.ones(2, 3, 4), torch.ones(2, 3, 4), torch.ones(2, 3, 4)),
     ValueError, "4D"),
    (lambda: kops.nn.dot_product_attention(*[torch.ones(1, 2, 3, 4)] * 3, bias=torch.ones(1), mask=torch.ones(1)),
     ValueError, "bias or mask, not both"),
    (lambda: kops.nn.dot_product_attention(*[torch.ones(1, 2, 3, 4)] * 3, attn_logits_soft_cap=5.0), ValueError,
     "attn_logits_soft_cap"),
    (lambda: kops.nn.dot_product_attention(torch.ones(1, 2, 3, 4), *[torch.ones(1, 2, 2, 4)] * 2), ValueError,
     r"query heads \(3\) must be a multiple"),
])
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_ops_record_nodes_on_keras_tensors():
    import kerasish

    inp = kerasish.Input((5, 3))
    out = kops.nn.softmax(kops.nn.max_pool(kops.nn.relu(inp), 2, strides=1, padding="same"))
    model = kerasish.Model(inp, out)
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(model(x), torch.softmax(kops.nn.max_pool(x.relu(), 2, 1, "same"), -1))
