"""kerasish.ops.numpy reductions and statistics (numpy_reduce) against Keras 3 (torch backend) and NumPy.

Keras is the oracle wherever its torch backend keeps Keras's contract; where it does not
(keepdims ignored with axis=None, a transposed count_nonzero, ...), NumPy is.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kerasish.ops import numpy as knp
from tests.ops.ops_parity import check_op

rng = np.random.default_rng(0)
DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64"]


def tensor(dtype, shape=(2, 3, 4), nan=False):
    if dtype == "bool":
        return torch.from_numpy(rng.random(shape) > 0.5)
    if "int" in dtype:
        return torch.from_numpy(rng.integers(0 if dtype.startswith("u") else -5, 6, shape)).to(getattr(torch, dtype))
    x = torch.from_numpy(rng.uniform(-2, 2, shape)).to(getattr(torch, dtype))
    if nan:
        x[0, 1, 2] = x[1, 0, 0] = float("nan")
        x[1, 2, :] = float("nan")  # an all-NaN slice along the last axis
    return x


def tol(dtype):
    return {"atol": 2e-2, "rtol": 2e-2} if dtype in ("float16", "bfloat16") else {"atol": 1e-5, "rtol": 1e-5}


# ------------------------------------------------------------------ axis / keepdims grid against Keras
# Ops whose Keras torch backend honours keepdims with axis=None (the others are checked against NumPy below).
KEEPDIMS_EVERYWHERE = ["all", "any", "mean", "median", "nanmax", "nanmean", "nanmedian", "nanmin", "nanstd", "nansum",
                       "nanvar", "std", "var"]
KEEPDIMS_WITH_AXIS = ["amax", "amin", "max", "min", "nanprod", "prod", "ptp", "sum"]
AXES = [None, 0, -1, (0, 2), [2, -3]]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", KEEPDIMS_EVERYWHERE + KEEPDIMS_WITH_AXIS)
def test_reductions(name, dtype, axis, keepdims):
    if name == "ptp" and dtype == "bool":
        return  # rejected: tested below
    if keepdims and axis is None and name in KEEPDIMS_WITH_AXIS:
        return  # Keras's torch backend drops keepdims here: see test_keepdims_with_axis_none
    check_op(name, tensor(dtype, nan=name.startswith("nan")), axis=axis, keepdims=keepdims, **tol(dtype))


@pytest.mark.parametrize("name", KEEPDIMS_WITH_AXIS)
@pytest.mark.parametrize("dtype", ["int32", "float32", "bool"])
def test_keepdims_with_axis_none(name, dtype):
    if name == "ptp" and dtype == "bool":
        return
    x = tensor(dtype)
    out = getattr(knp, name)(x, keepdims=True)
    flat = getattr(knp, name)(x)
    assert out.shape == (1, 1, 1) and out.dtype == flat.dtype
    torch.testing.assert_close(out.reshape(()), flat)


@pytest.mark.parametrize("name,dtype", [("sum", "int8"), ("sum", "bool"), ("mean", "int32"), ("prod", "int16"),
                                        ("var", "float32"), ("std", "int32"), ("nanmax", "int32"), ("max", "float32"),
                                        ("all", "int32"), ("nansum", "float32"), ("nanmedian", "int64"),
                                        ("count_nonzero", "float32")])
def test_empty_axis_tuple_reduces_nothing(name, dtype):
    # NumPy's axis=(): no axis is reduced, and the result has the reduction's dtype (sum of bool: int32).
    x = tensor(dtype)
    out = getattr(knp, name)(x, axis=())
    assert out.shape == x.shape
    assert out.dtype == getattr(knp, name)(x, axis=0).dtype
    expected = {"var": np.zeros, "std": np.zeros}.get(name)
    ref = expected(x.shape) if expected else (x != 0).numpy() if name in ("all", "count_nonzero") else x.float().numpy()
    np.testing.assert_allclose(out.float().numpy(), ref)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 0, -1, 1])
@pytest.mark.parametrize("name", ["argmax", "argmin", "nanargmax", "nanargmin"])
@pytest.mark.parametrize("dtype", ["bool", "uint8", "int32", "int64", "float16", "float32", "float64"])
def test_argmax_family(name, dtype, axis, keepdims):
    x = tensor(dtype, nan=name.startswith("nan"))
    check_op(name, x, axis=axis, keepdims=keepdims)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["cumsum", "cumprod", "nancumsum", "nancumprod"])
def test_cumulative(name, dtype):
    x = tensor(dtype, (2, 3, 2), nan=False)
    for axis in (None, 0, -1):
        check_op(name, x, axis=axis, **tol(dtype))
    check_op(name, x, axis=1, dtype="float32", **tol(dtype))
    if "float" in dtype:
        check_op(name, tensor(dtype, nan=True), axis=-1, **tol(dtype))


@pytest.mark.parametrize("dtype", ["int32", "float32", "bool", "int8"])
def test_prod_dtype_argument(dtype):
    for out_dtype in ("float32", "int64", "float64"):
        check_op("prod", tensor(dtype), axis=(0, 1), dtype=out_dtype, atol=1e-3, rtol=1e-4)


@pytest.mark.filterwarnings("ignore:.*\\.T.*:UserWarning")  # Keras's backend transposes with the deprecated .T
@pytest.mark.parametrize("dtype", ["bool", "int8", "int32", "float16", "float32", "float64"])
def test_count_nonzero_and_diff(dtype):
    x = tensor(dtype)
    for axis in (None, (0, 2), (0, 1)):  # Keras transposes results of rank 2+: see the next test
        check_op("count_nonzero", x, axis=axis)
    for n, axis in ((1, -1), (2, 0), (0, 1), (3, 2)):
        check_op("diff", x, n=n, axis=axis, **tol(dtype))


def test_count_nonzero_keeps_the_axis_order():
    # Keras's torch backend transposes the result (shape (4, 3) here); NumPy's shape is (3, 4).
    x = tensor("int32")
    out = knp.count_nonzero(x, axis=0)
    assert out.dtype == torch.int32
    np.testing.assert_array_equal(out.numpy(), np.count_nonzero(x.numpy(), axis=0))


@pytest.mark.parametrize("dtype", ["bool", "int32", "int64", "float16", "float32", "float64"])
def test_average(dtype):
    x = tensor(dtype)
    for axis in (None, 0, -1, (0, 2)):
        check_op("average", x, axis=axis, **tol(dtype))
    check_op("average", x, axis=-1, weights=tensor("float32"), **tol(dtype))
    check_op("average", x, axis=-1, weights=np.array([1.0, 2.0, 3.0, 4.0], "float32"), **tol(dtype))


def test_average_weights_follow_numpy():
    # Keras's torch backend only gets weights right along the last axis; NumPy's contract is kept for every axis.
    x, w = tensor("float64"), np.array([1.0, 2.0], "float64")
    np.testing.assert_allclose(knp.average(x, axis=0, weights=w).numpy(), np.average(x.numpy(), axis=0, weights=w),
                               rtol=1e-6)
    full = rng.uniform(0.5, 2, (2, 3, 4))
    for axis in (None, 1, (0, 2)):
        np.testing.assert_allclose(knp.average(x, axis=axis, weights=full).numpy(),
                                   np.average(x.numpy(), axis=axis, weights=full), rtol=1e-6)


def test_max_min_initial():
    x = tensor("float32")
    for name, initial in (("max", 0.5), ("min", -0.5), ("max", 10), ("min", -10)):
        for axis in (None, 1, (0, 2)):
            check_op(name, x, axis=axis, initial=initial)
    check_op("max", tensor("int32"), axis=0, initial=3)


def test_max_min_initial_on_empty_axes():
    # Keras's torch backend returns initial as a 0-d (or all-ones-shaped) tensor of Python's dtype, ignoring axis.
    x = torch.zeros((0, 3), dtype=torch.int32)
    out = knp.max(x, axis=0, initial=-1)
    assert out.dtype == torch.int32 and out.tolist() == [-1, -1, -1]
    assert knp.min(x, axis=0, keepdims=True, initial=7).shape == (1, 3)
    assert knp.max(x, axis=1).shape == (0,)  # nothing empty is reduced: no initial needed
    assert knp.max(x, initial=2.0).dtype == torch.int32


QUANTILE_CASES = [(0.3, None, False), (0.5, 1, True), ([0.1, 0.9], (0, 2), False), ([0.25, 0.75], -1, True),
                  (np.array([0.2, 0.4], "float32"), None, True), (0.0, 0, False), (1.0, (1, 2), True)]


@pytest.mark.parametrize("method", ["linear", "lower", "higher", "midpoint", "nearest"])
@pytest.mark.parametrize("q,axis,keepdims", QUANTILE_CASES, ids=[str(i) for i in range(len(QUANTILE_CASES))])
@pytest.mark.parametrize("name", ["quantile", "percentile", "nanquantile", "nanpercentile"])
def test_quantiles(name, q, axis, keepdims, method):
    if "percentile" in name:
        q = [v * 100 for v in q] if isinstance(q, list) else q * 100
    q = np.array(q, "float32") if isinstance(q, list) else q
    x = tensor("float32", nan=name.startswith("nan"))
    check_op(name, x, q, axis=axis, method=method, keepdims=keepdims)


@pytest.mark.parametrize("axis,keepdims", [(None, False), (1, True), ((0, 2), False)])
def test_quantile_of_2d_q_follows_numpy(axis, keepdims):
    # torch (and so Keras's torch backend) takes a scalar or 1-D q only; NumPy any shape.
    x, q = tensor("float64"), np.array([[0.1, 0.5, 0.7], [0.2, 0.3, 1.0]])
    out = knp.quantile(x, q, axis=axis, keepdims=keepdims)
    ref = np.quantile(x.numpy(), q, axis=axis, keepdims=keepdims)
    assert out.dtype == torch.float32  # Keras narrows float64 here
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5)


@pytest.mark.parametrize("dtype", ["bool", "int32", "int64", "float16", "float64"])
def test_quantile_dtypes(dtype):
    for name, q in (("quantile", 0.4), ("percentile", 40), ("nanquantile", 0.4), ("nanpercentile", 40)):
        check_op(name, tensor(dtype), q, axis=1, **tol(dtype))


def test_nan_ops_keep_infinities():
    # Keras's torch backend turns +-inf into the largest finite float here; NumPy keeps them.
    x = np.array([1.0, np.nan, np.inf, -np.inf, 2.0], "float32")
    np.testing.assert_array_equal(knp.nancumsum(x[:3]).numpy(), np.nancumsum(x[:3]))
    np.testing.assert_array_equal(knp.nancumprod(x).numpy(), np.nancumprod(x))
    np.testing.assert_array_equal(knp.nanprod(x[:3], axis=()).numpy(), np.array([1.0, 1.0, np.inf], "float32"))
    np.testing.assert_array_equal(knp.nansum(x[:3], axis=()).numpy(), np.array([1.0, 0.0, np.inf], "float32"))


def test_reductions_of_python_and_numpy_inputs():
    for name in ("sum", "mean", "max", "argmax", "std", "prod", "any", "median", "cumsum", "count_nonzero"):
        check_op(name, [[1, 2], [3, 4]])
        check_op(name, np.array([[1.5, 2.0], [3.0, -4.0]], "float64"), numpy_inputs=True)
        check_op(name, 3.5)
    for name in ("argmax", "cumsum", "sum", "max", "nanargmin"):
        for axis in (0, -1):  # torch (so Keras's backend) lets a 0-d tensor name axis 0 or -1
            check_op(name, np.float32(2.5), axis=axis)
    check_op("sum", [torch.ones(2), torch.zeros(2)], axis=0)  # a list of tensors is stacked
    check_op("mean", np.zeros((0, 3), "float32"), axis=0)
    check_op("sum", np.zeros((0, 3), "int32"), axis=1)


def test_corrcoef():
    for dtype in ("float32", "float64", "int32", "int64", "bool", "float16"):
        check_op("corrcoef", tensor(dtype, (3, 5)), **tol(dtype))
    check_op("corrcoef", tensor("float32", (5,)))


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("call,error,match", [
    (lambda: knp.sum(np.ones((2, 3)), axis=2), ValueError,
     r"axis 2 is out of bounds for a tensor of rank 2 \(shape \(2, 3\)\)"),
    (lambda: knp.mean(np.ones((2, 3)), axis=-3), ValueError, r"ops.mean: axis -3 is out of bounds.*\[-2, 1\]"),
    (lambda: knp.max(np.ones((2, 3)), axis=(0, -2)), ValueError, "repeats an axis"),
    (lambda: knp.var(np.ones((2, 3)), axis=1.5), TypeError, "axis must be None, an int or a tuple of ints"),
    (lambda: knp.argmax(np.ones((2, 3)), axis=(0, 1)), TypeError, "argmax takes a single int axis"),
    (lambda: knp.argmax(np.float32(1.0), axis=1), ValueError, r"rank 0 \(shape \(\)\).*\[-1, 0\]"),
    (lambda: knp.cumsum(np.ones((2, 3)), axis=5), ValueError, "cumsum: axis 5 is out of bounds"),
    (lambda: knp.max(np.ones((0, 3))), ValueError, r"max cannot reduce an empty axis.*Pass `initial=`"),
    (lambda: knp.amin(np.ones((0, 3)), axis=0), ValueError, r"amin cannot reduce an empty axis.*initial"),
    (lambda: knp.argmax(np.ones((2, 0)), axis=1), ValueError, "argmax cannot reduce an empty axis"),
    (lambda: knp.nanmax(np.ones((0,), "float32")), ValueError, "nanmax cannot reduce an empty axis"),
    (lambda: knp.ptp(np.ones(3, bool)), TypeError, "ptp does not support bool"),
    (lambda: knp.diff(np.ones(3), n=-1), ValueError, "n must be a non-negative int"),
    (lambda: knp.diff(np.float32(1.0)), ValueError, "rank 1 or more"),
    (lambda: knp.corrcoef(np.ones((2, 2, 2))), ValueError, "1-D or 2-D"),
    (lambda: knp.quantile(np.ones(3), 0.5, method="liner"), ValueError,
     "unknown method='liner'.*did you mean 'linear'"),
    (lambda: knp.percentile(np.ones(3), 150), ValueError, r"q=150.* out of range; expected \[0, 100\]"),
    (lambda: knp.quantile(np.ones((2, 0)), 0.5, axis=1), ValueError, "needs at least one element"),
    (lambda: knp.average(np.ones((2, 3)), weights=np.ones(3)), ValueError, "`axis` must say which axis"),
    (lambda: knp.average(np.ones((2, 3)), axis=0, weights=np.ones(3)), ValueError, "1-D weights of length x.shape"),
    (lambda: knp.prod(np.ones(3), dtype="float33"), ValueError, "Invalid dtype"),
])
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
