"""kerasish.ops.nn convolution, pooling and block ops against Keras 3 (torch backend)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish.ops as kops
from tests.ops.ops_parity import check_op

rng = np.random.default_rng(0)


def rand(*shape, dtype="float32"):
    return rng.standard_normal(shape).astype(dtype)


def image(n, size, channels, data_format):
    spatial = (size,) * n if isinstance(size, int) else size
    shape = (2, *spatial, channels) if data_format == "channels_last" else (2, channels, *spatial)
    return rand(*shape)


# (spatial dims, input size, kernel size, strides, padding, dilation)
CONV_CASES = [
    (1, 9, 3, 1, "valid", 1),
    (1, 9, 4, 2, "same", 1),
    (1, 10, 3, 3, "same", 2),
    (2, 7, 3, 1, "same", 1),
    (2, 8, 2, 2, "same", 1),
    (2, (7, 9), (3, 2), (2, 1), "same", 1),
    (2, 9, 3, 1, "valid", 2),
    (2, 9, 3, 1, "same", (2, 1)),
    (2, 6, 4, 3, "valid", 1),
    (3, 6, 3, 1, "same", 1),
    (3, 7, 2, 2, "same", 1),
    (3, 6, 2, 1, "valid", 2),
]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("n,size,k,s,padding,d", CONV_CASES)
def test_conv(n, size, k, s, padding, d, data_format):
    ks = (k,) * n if isinstance(k, int) else k
    x = image(n, size, 4, data_format)
    check_op("conv", x, rand(*ks, 4, 3), strides=s, padding=padding, data_format=data_format, dilation_rate=d,
             atol=1e-4)


def test_conv_grouped_and_padding_case_insensitive():
    check_op("conv", rand(2, 8, 8, 4), rand(3, 3, 2, 6), padding="SAME", atol=1e-4)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("n,size,k,s,padding,d", [c for c in CONV_CASES if c[3] == 1 or c[5] == 1])
def test_depthwise_and_separable_conv(n, size, k, s, padding, d, data_format):
    ks = (k,) * n if isinstance(k, int) else k
    x = image(n, size, 3, data_format)
    depthwise = rand(*ks, 3, 2)
    check_op("depthwise_conv", x, depthwise, strides=s, padding=padding, data_format=data_format, dilation_rate=d,
             atol=1e-4)
    check_op("separable_conv", x, depthwise, rand(*(1,) * n, 6, 5), strides=s, padding=padding,
             data_format=data_format, dilation_rate=d, atol=1e-4)


# (spatial dims, input size, kernel size, strides, padding, output_padding, dilation)
TRANSPOSE_CASES = [
    (1, 5, 3, 1, "valid", None, 1),
    (1, 5, 3, 2, "same", None, 1),
    (1, 5, 4, 2, "same", None, 1),
    (1, 5, 3, 2, "valid", 1, 1),
    (1, 6, 3, 1, "same", None, 2),
    (2, 4, 3, 2, "same", None, 1),
    (2, 4, 3, 2, "same", 1, 1),
    (2, (4, 5), (2, 3), (2, 3), "valid", None, 1),
    (2, 4, 5, 3, "same", None, 1),
    (3, 3, 2, 2, "same", None, 1),
    (3, 3, 3, 1, "valid", None, 1),
]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("n,size,k,s,padding,op_,d", TRANSPOSE_CASES)
def test_conv_transpose(n, size, k, s, padding, op_, d, data_format):
    ks = (k,) * n if isinstance(k, int) else k
    x = image(n, size, 3, data_format)
    check_op("conv_transpose", x, rand(*ks, 4, 3), strides=s, padding=padding, output_padding=op_,
             data_format=data_format, dilation_rate=d, atol=1e-4)


# (spatial dims, input size, pool size, strides, padding)
POOL_CASES = [
    (1, 8, 2, None, "valid"),
    (1, 9, 2, 2, "same"),
    (1, 9, 3, 1, "same"),
    (2, 7, 3, 2, "valid"),
    (2, 7, 2, None, "same"),
    (2, 8, 3, 2, "same"),
    (2, (6, 7), (2, 3), (1, 2), "same"),
    (3, 6, 2, None, "valid"),
    (3, 5, 3, 2, "same"),
]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("n,size,pool,s,padding", POOL_CASES)
def test_max_pool(n, size, pool, s, padding, data_format):
    check_op("max_pool", image(n, size, 3, data_format), pool, strides=s, padding=padding, data_format=data_format)


def test_max_pool_integer_input():
    x = rng.integers(-9, 9, (2, 7, 7, 2)).astype("int32")
    check_op("max_pool", x, 2, padding="same")


def _keras_torch_average_pool_counts_padding(n, size, pool, s):
    """Whether Keras's torch backend averages replicated edge values here (asymmetric 'same' padding)."""
    sizes = (size,) * n if isinstance(size, int) else size
    pools = (pool,) * n if isinstance(pool, int) else pool
    strides = pools if s is None else ((s,) * n if isinstance(s, int) else s)
    totals = [max((-(-L // st) - 1) * st + k - L, 0) for L, k, st in zip(sizes, pools, strides)]
    return any(t % 2 for t in totals)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("n,size,pool,s,padding", POOL_CASES)
def test_average_pool(n, size, pool, s, padding, data_format):
    x = image(n, size, 3, data_format)
    if padding == "same" and _keras_torch_average_pool_counts_padding(n, size, pool, s):
        pytest.skip("Keras's torch backend counts replicated padding here; test_average_pool_same_excludes_padding")
    check_op("average_pool", x, pool, strides=s, padding=padding, data_format=data_format)


def _numpy_average_pool_same_1d(x, pool, stride):
    n = x.shape[1]
    out = -(-n // stride)
    total = max((out - 1) * stride + pool - n, 0)
    start = -(total // 2)
    rows = []
    for i in range(out):
        lo, hi = max(start + i * stride, 0), min(start + i * stride + pool, n)
        rows.append(x[:, lo:hi].mean(axis=1))
    return np.stack(rows, axis=1)


@pytest.mark.parametrize("pool,stride", [(4, 1), (3, 2), (2, 1), (4, 3)])
def test_average_pool_same_excludes_padding(pool, stride):
    # Keras's TensorFlow and JAX backends average only the real elements of each window.
    x = rand(2, 7, 3)
    ours = kops.nn.average_pool(torch.from_numpy(x), pool, stride, "same").numpy()
    np.testing.assert_allclose(ours, _numpy_average_pool_same_1d(x, pool, stride), rtol=1e-5, atol=1e-6)


def test_average_pool_same_2d_asymmetric_matches_separable_1d():
    x = rand(1, 5, 6, 1)
    ours = kops.nn.average_pool(torch.from_numpy(x), (4, 3), (1, 2), "same").numpy()
    rows = _numpy_average_pool_same_1d(x[..., 0], 4, 1)  # (1, 5, 6) averaged along axis 1
    both = _numpy_average_pool_same_1d(rows.transpose(0, 2, 1), 3, 2).transpose(0, 2, 1)
    np.testing.assert_allclose(ours[..., 0], both, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["adaptive_average_pool", "adaptive_max_pool"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("n,size,out", [(1, 9, 4), (2, 7, 3), (2, (8, 6), (3, 4)), (3, 5, 2)])
def test_adaptive_pools(name, n, size, out, data_format):
    check_op(name, image(n, size, 2, data_format), out, data_format=data_format)


@pytest.mark.parametrize("kernel,dilation,padding,stride", [(2, 1, 0, 1), (3, 2, 1, 2), ((2, 3), 1, (1, 0), (2, 1))])
def test_unfold_and_fold(kernel, dilation, padding, stride):
    x = rand(2, 3, 8, 7)
    patches = check_op("unfold", x, kernel, dilation=dilation, padding=padding, stride=stride)
    check_op("fold", patches.numpy(), (8, 7), kernel, dilation=dilation, padding=padding, stride=stride)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("block", [2, 3])
def test_depth_to_space_and_back(block, data_format):
    x = image(2, 6, 2 * block * block, data_format)
    y = check_op("depth_to_space", x, block, data_format=data_format)
    check_op("space_to_depth", y.numpy(), block, data_format=data_format)
    np.testing.assert_array_equal(kops.nn.space_to_depth(y, block, data_format=data_format).numpy(), x)


def test_default_data_format_is_channels_last_and_configurable():
    from kerasish import config

    x = rand(1, 4, 4, 2)
    assert tuple(kops.nn.max_pool(torch.from_numpy(x), 2).shape) == (1, 2, 2, 2)
    config.set_image_data_format("channels_first")
    try:
        assert tuple(kops.nn.max_pool(torch.from_numpy(x), 2).shape) == (1, 4, 2, 1)
    finally:
        config.set_image_data_format("channels_last")


@pytest.mark.parametrize("call,match", [
    (lambda: kops.nn.conv(rand(1, 5, 5, 2), rand(3, 3, 2, 4), padding="full"), "padding must be 'valid' or 'same'"),
    (lambda: kops.nn.conv(rand(1, 5, 5, 2), rand(3, 3, 2, 4), data_format="NHWC"), "data_format must be"),
    (lambda: kops.nn.conv(rand(1, 5, 5, 3), rand(3, 3, 2, 4)), r"input channels \(3\) must be a multiple"),
    (lambda: kops.nn.conv(rand(1, 5, 5, 2), rand(3, 2, 4)), "kernel must have rank 4"),
    (lambda: kops.nn.conv(rand(5, 2), rand(3, 2, 4)), "must have rank 3, 4 or 5"),
    (lambda: kops.nn.conv(rand(1, 5, 5, 2), rand(3, 3, 2, 4), strides=(1, 2, 3)), "strides must be a positive int"),
    (lambda: kops.nn.conv(rand(1, 5, 5, 2), rand(3, 3, 2, 4), dilation_rate=0), "dilation_rate must be a positive"),
    (lambda: kops.nn.conv(np.ones((1, 5, 2), "int32"), np.ones((3, 2, 4), "int32")), "floating-point inputs"),
    (lambda: kops.nn.depthwise_conv(rand(1, 5, 5, 3), rand(3, 3, 2, 1)), r"input channels \(3\) must equal"),
    (lambda: kops.nn.separable_conv(rand(1, 5, 3), rand(3, 2, 1), rand(1, 2, 4)), r"input channels \(3\) must equal"),
    (lambda: kops.nn.conv_transpose(rand(1, 5, 3), rand(3, 4, 2)), r"input channels \(3\) must equal"),
    (lambda: kops.nn.max_pool(rand(1, 5, 5, 2), 2, padding="causal"), "padding must be 'valid' or 'same'"),
    (lambda: kops.nn.average_pool(np.ones((1, 4, 2), "int32"), 2), "average_pool expects a floating-point"),
    (lambda: kops.nn.adaptive_average_pool(np.ones((1, 4, 2), "int32"), 2), "floating-point tensor"),
    (lambda: kops.nn.adaptive_max_pool(rand(1, 4, 4, 2), (2, 2, 2)), "output_size must be"),
    (lambda: kops.nn.unfold(rand(3, 8, 8), 2), "4D"),
    (lambda: kops.nn.fold(rand(1, 5, 9), (4, 4), 2), r"multiple of kH\*kW = 4"),
    (lambda: kops.nn.depth_to_space(rand(1, 2, 2, 6), 2), "multiple of block_size"),
    (lambda: kops.nn.depth_to_space(rand(1, 2, 2, 4), 1), "block_size must be an int of at least 2"),
    (lambda: kops.nn.space_to_depth(rand(1, 3, 4, 1), 2), r"height \(3\) and width \(4\)"),
    (lambda: kops.nn.space_to_depth(rand(2, 4, 4), 2), "4D image batch"),
])
def test_errors(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
