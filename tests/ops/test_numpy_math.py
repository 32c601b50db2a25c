"""kerasish.ops.numpy elementwise math (numpy_math) against Keras 3 (torch backend)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

import kerasish.ops as kops
from kerasish.ops import numpy as knp
from kerasish.ops import numpy_math, numpy_reduce
from kerasish.ops.operation import registered_ops
from tests.keras_parity import keras_module
from tests.ops.ops_parity import check_op

rng = np.random.default_rng(0)
DTYPES = ["bool", "uint8", "int8", "int32", "int64", "float16", "bfloat16", "float32", "float64"]


def tensor(dtype, shape=(2, 3), low=-3.0, high=3.0):
    """A seeded tensor of `dtype`: bools at random, integers in [low, high], floats in (low, high)."""
    if dtype == "bool":
        return torch.from_numpy(rng.random(shape) > 0.5)
    if "int" in dtype:
        values = rng.integers(max(low, 0) if dtype.startswith("u") else low, high + 1, shape)
        return torch.from_numpy(values).to(getattr(torch, dtype))
    return torch.from_numpy(rng.uniform(low, high, shape)).to(getattr(torch, dtype))


def parity(name, *args, **kwargs):
    """check_op, except that where Keras itself raises (e.g. torch has no bool kernel), kerasish must raise too."""
    keras = keras_module()
    try:
        getattr(keras.ops, name)(*args, **{k: v for k, v in kwargs.items() if k not in ("atol", "rtol")})
    except Exception:  # noqa: BLE001 - any failure of the oracle: ours must fail as well
        with pytest.raises(Exception):
            getattr(kops, name)(*args, **{k: v for k, v in kwargs.items() if k not in ("atol", "rtol")})
        return
    check_op(name, *args, **kwargs)


def test_every_op_is_registered_flat_and_keeps_keras_signature():
    keras = keras_module()
    names = numpy_math.__all__ + numpy_reduce.__all__
    assert len(names) == len(set(names)) == 131
    for name in names:
        assert f"numpy.{name}" in registered_ops(), name
        assert getattr(knp, name) is getattr(kops, name), name
        ours = list(inspect.signature(getattr(knp, name)).parameters.values())
        theirs = list(inspect.signature(getattr(keras.ops.numpy, name)).parameters.values())
        assert [(p.name, p.default) for p in ours] == [(p.name, p.default) for p in theirs], name


# ------------------------------------------------------------------ unary ops
# name, (low, high) of the inputs (inside the domain, so values compare)
UNARY = [
    ("abs", (-3, 3)), ("absolute", (-3, 3)), ("angle", (-3, 3)), ("arccos", (-0.9, 0.9)), ("arccosh", (1, 4)),
    ("arcsin", (-0.9, 0.9)), ("arcsinh", (-3, 3)), ("arctan", (-3, 3)), ("arctanh", (-0.9, 0.9)),
    ("cbrt", (-3, 3)), ("ceil", (-3, 3)), ("conj", (-3, 3)), ("conjugate", (-3, 3)), ("cos", (-3, 3)),
    ("cosh", (-3, 3)), ("deg2rad", (-90, 90)), ("exp", (-3, 3)), ("exp2", (-3, 3)), ("expm1", (-3, 3)),
    ("fabs", (-3, 3)), ("floor", (-3, 3)), ("i0", (-3, 3)), ("isfinite", (-3, 3)), ("isinf", (-3, 3)),
    ("isnan", (-3, 3)), ("isneginf", (-3, 3)), ("isposinf", (-3, 3)), ("isreal", (-3, 3)), ("log", (1, 5)),
    ("log10", (1, 5)), ("log1p", (0, 5)), ("log2", (1, 5)), ("logical_not", (-3, 3)), ("rad2deg", (-3, 3)),
    ("real", (-3, 3)), ("reciprocal", (1, 5)), ("round", (-3, 3)), ("sign", (-3, 3)), ("signbit", (-3, 3)),
    ("sin", (-3, 3)), ("sinc", (-3, 3)), ("sinh", (-3, 3)), ("sqrt", (0, 5)), ("square", (-3, 3)),
    ("tan", (-1, 1)), ("tanh", (-3, 3)), ("trunc", (-3, 3)), ("nan_to_num", (-3, 3)),
]
NO_BOOL = {"round"}  # bool is rejected (tested below); Keras's torch backend fails on it too


UNARY_CASES = [(n, d, t) for n, d in UNARY for t in DTYPES if not (t == "bool" and n in NO_BOOL)]


@pytest.mark.parametrize("name,domain,dtype", UNARY_CASES, ids=[f"{n}-{t}" for n, _, t in UNARY_CASES])
def test_unary(name, domain, dtype):
    low, high = domain
    if dtype == "bool" and low >= 1:
        low, high = 1, 1  # True only: inside the domain
    tol = 1e-2 if dtype in ("float16", "bfloat16") else 1e-5
    check_op(name, tensor(dtype, (2, 3), low, high), atol=tol, rtol=tol)


@pytest.mark.parametrize("name", ["negative", "bitwise_invert", "bitwise_not"])
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int32", "int64"] + ["float32", "bool"])
def test_unary_sign_and_bits(name, dtype):
    if (name == "negative" and dtype == "bool") or (name.startswith("bitwise") and "float" in dtype):
        return  # rejected: tested below
    check_op(name, tensor(dtype))


@pytest.mark.parametrize("name", ["exp", "sqrt", "abs", "floor", "sign", "isnan", "square", "log1p", "cbrt"])
@pytest.mark.parametrize("x", [np.zeros((0, 3), "float32"), np.float32(2.5), 2, 2.5, True, [1, 2, 3], [[0.5], [1.5]],
                               np.arange(6, dtype="int64").reshape(2, 3)],
                         ids=["empty", "np0d", "int", "float", "bool", "list", "nested", "np-int64"])
def test_unary_edge_inputs(name, x):
    check_op(name, x)
    check_op(name, x, numpy_inputs=True)


def test_special_values():
    x = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1e30], "float32")
    for name in ("isfinite", "isinf", "isnan", "isneginf", "isposinf", "signbit", "nan_to_num", "sign", "trunc"):
        check_op(name, x)
    check_op("nan_to_num", x, nan=-1.0, posinf=9.0, neginf=-9.0)


@pytest.mark.parametrize("decimals", [0, 1, 2, -1])
@pytest.mark.parametrize("dtype", ["int32", "float32", "float64"])
def test_round_decimals(decimals, dtype):
    x = np.array([[1.25, -2.5, 3.5, 0.5], [12.345, -123.0, 150.0, 0.0]]).astype(dtype) if "float" in dtype else \
        np.array([[12, -25, 35, 5], [123, -150, 149, 0]], dtype)
    check_op("round", x, decimals, atol=1e-4)


def test_complex_parts():
    z = np.array([1 + 2j, -3 - 0.5j, 0j], np.complex64)
    for name in ("real", "imag", "conj", "conjugate", "abs", "angle", "isreal"):
        check_op(name, z, numpy_inputs=True)


def test_imag_of_real_tensor_is_zeros():
    # Keras's torch backend raises here; NumPy and Keras's other backends give zeros of the dtype.
    for dtype in ("float32", "int32"):
        out = knp.imag(np.array([1.5, -2.0]).astype(dtype))
        assert out.dtype == getattr(torch, dtype) and torch.equal(out, torch.zeros(2, dtype=out.dtype))


# ------------------------------------------------------------------ binary ops
BINARY = ["add", "subtract", "multiply", "divide", "true_divide", "divide_no_nan", "floor_divide", "mod", "fmod",
          "power", "maximum", "minimum", "fmax", "fmin", "arctan2", "logaddexp", "logaddexp2", "heaviside", "hypot",
          "nextafter", "equal", "not_equal", "greater", "greater_equal", "less", "less_equal", "logical_and",
          "logical_or", "logical_xor", "isclose", "allclose"]
POSITIVE = {"divide", "true_divide", "floor_divide", "mod", "fmod", "power"}  # keep the divisor / base > 0
PAIRS = [("float32", "float32"), ("int32", "float32"), ("int8", "uint8"), ("bool", "int32"), ("float16", "float32"),
         ("bfloat16", "int32"), ("int64", "int64"), ("float64", "float64"), ("int16", "float16"), ("bool", "bool"),
         ("uint8", "int64"), ("float64", "int8")]


@pytest.mark.parametrize("d1,d2", PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
@pytest.mark.parametrize("name", BINARY)
def test_binary_dtypes(name, d1, d2):
    if name == "subtract" and d1 == d2 == "bool":
        return  # rejected: tested below
    low = 1 if name in POSITIVE else -3
    x1, x2 = tensor(d1, (2, 3), low, 3), tensor(d2, (3,), low, 3)  # broadcasts (2, 3) with (3,)
    if name == "power" and d2 != "bool" and "float" not in d1 + d2:
        x2 = tensor(d2, (3,), 0, 2)  # no huge integer powers
    if name in ("isclose", "allclose"):
        x2 = x1[0].to(x2.dtype)  # some equal, some not
    tol = 1e-2 if "16" in d1 + d2 else 1e-5
    parity(name, x1, x2, atol=tol, rtol=tol)


SCALARS = [("int32", 2), ("float16", 1.5), ("bfloat16", 2), ("bool", 1), ("bool", 2.5), ("int8", 3), ("uint8", True),
           ("int32", 1.5), ("float64", 2), ("int64", 0.5)]


@pytest.mark.parametrize("dtype,scalar", SCALARS, ids=[f"{d}-{s!r}" for d, s in SCALARS])
@pytest.mark.parametrize("name", BINARY)
def test_binary_python_scalars(name, dtype, scalar):
    low = 1 if name in POSITIVE else -3
    x = tensor(dtype, (2, 3), low, 3)
    tol = 1e-2 if "16" in dtype else 1e-5
    if not (name == "subtract" and dtype == "bool" and scalar is True):
        parity(name, x, scalar, atol=tol, rtol=tol)
        parity(name, scalar, x, atol=tol, rtol=tol)


@pytest.mark.parametrize("name", ["add", "multiply", "maximum", "divide", "greater", "arctan2", "power", "mod"])
def test_binary_scalars_lists_and_numpy(name):
    check_op(name, 2, 3)
    check_op(name, 2.5, 4)
    check_op(name, [1.0, 2.0], [[3], [4]])
    check_op(name, np.arange(1, 7, dtype="float64").reshape(2, 3), np.float32(2.0), numpy_inputs=True)
    check_op(name, np.zeros((0, 3), "float32"), np.ones((3,), "float32"))


@pytest.mark.parametrize("name", ["bitwise_and", "bitwise_or", "bitwise_xor", "gcd", "lcm"])
@pytest.mark.parametrize("d1,d2", [("int32", "int32"), ("uint8", "int8"), ("int64", "int16"), ("bool", "bool")])
def test_integer_ops(name, d1, d2):
    if name in ("gcd", "lcm") and d1 == "bool":
        return
    check_op(name, tensor(d1, (2, 3), -20, 20), tensor(d2, (3,), -20, 20))
    check_op(name, tensor(d1, (2, 3), 0, 20), 6)


@pytest.mark.parametrize("name", ["bitwise_left_shift", "bitwise_right_shift", "left_shift", "right_shift"])
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int32", "int64", "bool"])
def test_shifts(name, dtype):
    x = tensor(dtype, (2, 3), 0, 20)
    parity(name, x, 2)  # torch (and so Keras) has no shift for bool: both raise
    parity(name, x, tensor("int32" if dtype != "bool" else "bool", (3,), 0, 3))


@pytest.mark.parametrize("d1,d2", [("float32", "int32"), ("float16", "int8"), ("int32", "int32"), ("float64", "int64")])
def test_ldexp(d1, d2):
    check_op("ldexp", tensor(d1), tensor(d2, (3,), -3, 3), atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("x_min,x_max", [(-1, 1), (-1.5, 0.5), (0, None), (None, 2),
                                         (np.array([-1, 0, 1], "int32"), 2)])
@pytest.mark.parametrize("dtype", ["float32", "int32", "int8", "bool", "float16"])
def test_clip(dtype, x_min, x_max):
    x = tensor(dtype)
    if x_min is None or x_max is None:  # Keras requires both; kerasish also takes one side as NumPy does
        out = knp.clip(x, x_min, x_max)
        assert out.dtype == (torch.int32 if dtype == "bool" else x.dtype)
        np.testing.assert_allclose(out.float().numpy(), np.clip(x.float().numpy(), x_min, x_max), rtol=1e-3)
        return
    check_op("clip", x, x_min, x_max, atol=1e-3)


def test_isclose_arguments():
    a = np.array([1.0, 1.001, np.nan, 5.0], "float32")
    b = np.array([1.0, 1.0, np.nan, 5.1], "float32")
    for kwargs in ({}, {"rtol": 1e-2}, {"atol": 0.2}, {"equal_nan": True}):
        check_op("isclose", a, b, **kwargs)
        check_op("allclose", a, b, **kwargs)


def test_divide_no_nan_zero_divisor():
    check_op("divide_no_nan", np.array([1.0, -2.0, 0.0], "float32"), np.array([0.0, 4.0, 0.0], "float32"))
    check_op("divide_no_nan", np.array([3, 4], "int32"), np.array([0, 2], "int32"))


def test_mixed_devices_stay_with_the_tensor():
    x = torch.ones(3, dtype=torch.float16)
    out = knp.add(x, np.array([1.0, 2.0, 3.0], "float32"))
    assert out.device == x.device and out.dtype == torch.float32


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("call,error,match", [
    (lambda: knp.bitwise_and(np.ones(2, "float32"), np.ones(2, "int32")), TypeError,
     "integer and bool tensors only.*float32"),
    (lambda: knp.bitwise_invert(np.ones(2, "float32")), TypeError, "bitwise_invert works on integer"),
    (lambda: knp.left_shift(np.ones(2, "int32"), 1.5), TypeError, "left_shift works on integer"),
    (lambda: knp.gcd(np.ones(2, "float32"), 2), TypeError, "gcd works on integer"),
    (lambda: knp.ldexp(np.ones(2, "float32"), np.ones(2, "float32")), TypeError, "integer exponent x2"),
    (lambda: knp.fabs(np.ones(2, "complex64")), TypeError, "fabs does not support complex"),
    (lambda: knp.subtract(np.ones(2, bool), np.ones(2, bool)), TypeError, "two bool tensors"),
    (lambda: knp.negative(np.ones(2, bool)), TypeError, "logical_not"),
    (lambda: knp.round(np.ones(2, bool)), TypeError, "round does not support bool"),
    (lambda: knp.clip(np.ones(2), None, None), ValueError, "at least one of x_min and x_max"),
])
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
