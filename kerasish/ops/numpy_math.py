"""Keras's `ops.numpy` elementwise math on torch: arithmetic, comparisons, logic, bitwise.

Each op converts its inputs as Keras's torch backend does (Python ints become int32,
floats floatx, NumPy arrays keep their dtype; non-tensors land on the device of a tensor
argument) and returns the dtype Keras returns, which is mostly torch's promotion. Where
Keras's backend applies its own rule (`result_type`, which reports 64-bit results as
32-bit as JAX does by default), so does kerasish: `maximum(float64, float64)` is
float32 in Keras, and here.

The few public helpers at the top (not in `__all__`) are shared with `numpy_reduce`.
"""

from __future__ import annotations

from typing import Any, List, Optional

import torch

from kerasish import config
from kerasish.ops.dtypes import convert_to_tensor, dtype_of, result_type, to_torch_dtype
from kerasish.ops.operation import op


# ---------------------------------------------------------------- helpers (shared with numpy_reduce)
def tensors(*xs: Any) -> List[torch.Tensor]:
    """Each argument as a tensor; non-tensors go on the device of the first tensor argument."""
    for x in xs:
        if not isinstance(x, torch.Tensor):
            break
    else:  # the common case: nothing to convert
        return list(xs)
    like = next((x for x in xs if isinstance(x, torch.Tensor)), None)
    device = None if like is None else like.device
    return [x if isinstance(x, torch.Tensor) else convert_to_tensor(x, device=device) for x in xs]


def is_int_or_bool(x: torch.Tensor) -> bool:
    return not (x.is_floating_point() or x.is_complex())


def floatx_dtype() -> torch.dtype:
    return to_torch_dtype(config.floatx())


def weak_scalar(x: torch.Tensor, scalar: Any) -> bool:
    """Whether torch, handed the Python `scalar` itself, gives what `tensors(x, scalar)` then torch gives.

    So for a float32 `x` with a float (when floatx is float32) or an int32-range int, and
    for an int32/int64 `x` with an int32-range int: Keras's weak-scalar rule and torch's
    scalar promotion agree there, and the value reaches the kernel rounded alike. Only the
    ops checked bit for bit use it (add, multiply, subtract, comparisons; not power or divide,
    whose kernels treat a Python scalar differently from a 0-d tensor).
    """
    t = type(scalar)
    if t is float:
        return x.dtype is torch.float32 and config.floatx() == "float32"
    return t is int and -2147483648 <= scalar <= 2147483647 and x.dtype in _INT_SCALAR_DTYPES


_INT_SCALAR_DTYPES = (torch.float32, torch.int32, torch.int64)


def _to_float(x: Any) -> torch.Tensor:
    """`x` as a tensor, integers and bools cast to floatx (what Keras does before exp, log, sin ...)."""
    if not isinstance(x, torch.Tensor):
        x = tensors(x)[0]
    return x if x.is_floating_point() or x.is_complex() else x.to(floatx_dtype())


def _require_integer(name: str, *xs: torch.Tensor) -> None:
    for x in xs:
        if x.is_floating_point() or x.is_complex():
            raise TypeError(
                f"ops.{name} works on integer and bool tensors only. Received a tensor of dtype "
                f"{dtype_of(x)}. Cast it first, e.g. ops.cast(x, 'int32')."
            )


# ---------------------------------------------------------------- unary: float results
def _float_unary(torch_fn: Any, name: str, doc: str) -> Any:
    def fn(x: Any) -> torch.Tensor:
        return torch_fn(_to_float(x))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc + " Integer and bool inputs give floatx."
    return op("numpy")(fn)


arccos = _float_unary(torch.arccos, "arccos", "Elementwise inverse cosine.")
arccosh = _float_unary(torch.arccosh, "arccosh", "Elementwise inverse hyperbolic cosine.")
arcsin = _float_unary(torch.arcsin, "arcsin", "Elementwise inverse sine.")
arcsinh = _float_unary(torch.arcsinh, "arcsinh", "Elementwise inverse hyperbolic sine.")
arctan = _float_unary(torch.arctan, "arctan", "Elementwise inverse tangent.")
arctanh = _float_unary(torch.arctanh, "arctanh", "Elementwise inverse hyperbolic tangent.")
cos = _float_unary(torch.cos, "cos", "Elementwise cosine.")
cosh = _float_unary(torch.cosh, "cosh", "Elementwise hyperbolic cosine.")
sin = _float_unary(torch.sin, "sin", "Elementwise sine.")
sinh = _float_unary(torch.sinh, "sinh", "Elementwise hyperbolic sine.")
tan = _float_unary(torch.tan, "tan", "Elementwise tangent.")
tanh = _float_unary(torch.tanh, "tanh", "Elementwise hyperbolic tangent.")
sinc = _float_unary(torch.sinc, "sinc", "Elementwise normalized sinc, sin(pi x) / (pi x).")
exp = _float_unary(torch.exp, "exp", "Elementwise e**x.")
exp2 = _float_unary(torch.exp2, "exp2", "Elementwise 2**x.")
expm1 = _float_unary(torch.expm1, "expm1", "Elementwise exp(x) - 1, accurate near 0.")
log = _float_unary(torch.log, "log", "Elementwise natural logarithm.")
log10 = _float_unary(torch.log10, "log10", "Elementwise base-10 logarithm.")
log1p = _float_unary(torch.log1p, "log1p", "Elementwise log(1 + x), accurate near 0.")
log2 = _float_unary(torch.log2, "log2", "Elementwise base-2 logarithm.")
reciprocal = _float_unary(torch.reciprocal, "reciprocal", "Elementwise 1 / x.")
sqrt = _float_unary(torch.sqrt, "sqrt", "Elementwise square root.")
angle = _float_unary(torch.angle, "angle", "Elementwise argument of a complex number (0 or pi for reals).")


def _int64_to_float64(x: torch.Tensor) -> torch.Tensor:
    # Keras keeps int64's precision for these ops (float64) and gives floatx for smaller ints.
    if x.dtype == torch.int64:
        return x.to(torch.float64)
    return x.to(floatx_dtype()) if is_int_or_bool(x) else x


@op("numpy")
def cbrt(x: Any) -> torch.Tensor:
    """Elementwise cube root. int64 gives float64, other integers and bool floatx."""
    x = _int64_to_float64(tensors(x)[0])
    return torch.sign(x) * torch.abs(x).pow(1.0 / 3.0)


@op("numpy")
def deg2rad(x: Any) -> torch.Tensor:
    """Degrees to radians. int64 gives float64, other integers and bool floatx."""
    return torch.deg2rad(_int64_to_float64(tensors(x)[0]))


@op("numpy")
def rad2deg(x: Any) -> torch.Tensor:
    """Radians to degrees. int64 gives float64, other integers and bool floatx."""
    return torch.rad2deg(_int64_to_float64(tensors(x)[0]))


@op("numpy")
def i0(x: Any) -> torch.Tensor:
    """Modified Bessel function of the first kind, order 0. int64/float64 give float64."""
    x = tensors(x)[0]
    if x.dtype in (torch.int64, torch.float64):
        return torch.i0(x.to(torch.float64))
    if x.dtype in (torch.float16, torch.bfloat16):
        return torch.i0(x)
    return torch.i0(x.to(floatx_dtype()))


def _rounding(torch_fn: Any, name: str, doc: str) -> Any:
    def fn(x: Any) -> torch.Tensor:
        x = tensors(x)[0]
        name_ = dtype_of(x)
        target = config.floatx() if name_ == "int64" else result_type(name_, float)
        return torch_fn(x.to(to_torch_dtype(target)))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc + " Returns a float tensor: floatx for integers and bool; float64 narrows to float32 as in Keras."
    return op("numpy")(fn)


ceil = _rounding(torch.ceil, "ceil", "Elementwise ceiling.")
floor = _rounding(torch.floor, "floor", "Elementwise floor.")


@op("numpy")
def round(x: Any, decimals: int = 0) -> torch.Tensor:
    """Rounds half to even to `decimals` places; integers stay integers (negative `decimals` round to tens ...)."""
    x = tensors(x)[0]
    if x.dtype == torch.bool:
        raise TypeError("ops.round does not support bool tensors. Cast to an integer or float dtype first.")
    if is_int_or_bool(x):
        if decimals >= 0:
            return x
        # float64 holds every int32 exactly (and int64 up to 2**53); Keras rounds in floatx.
        return torch.round(x.to(torch.float64), decimals=decimals).to(x.dtype)
    return torch.round(x, decimals=decimals)


@op("numpy")
def trunc(x: Any) -> torch.Tensor:
    """Elementwise truncation toward zero; keeps the dtype."""
    x = tensors(x)[0]
    return x if x.dtype == torch.bool else torch.trunc(x)


# ---------------------------------------------------------------- unary: dtype kept
@op("numpy")
def absolute(x: Any) -> torch.Tensor:
    """Elementwise absolute value; keeps the dtype (complex gives its real dtype)."""
    x = tensors(x)[0]
    return x if x.dtype == torch.bool else torch.abs(x)


@op("numpy")
def abs(x: Any) -> torch.Tensor:
    """Alias of `absolute`."""
    return absolute(x)


@op("numpy")
def fabs(x: Any) -> torch.Tensor:
    """Elementwise absolute value as a float: integers and bool give floatx; complex is rejected."""
    x = tensors(x)[0]
    if x.is_complex():
        raise TypeError(f"ops.fabs does not support complex inputs. Received: x.dtype={dtype_of(x)}. Use ops.absolute.")
    return torch.abs(_to_float(x))


@op("numpy")
def negative(x: Any) -> torch.Tensor:
    """Elementwise -x."""
    x = tensors(x)[0]
    if x.dtype == torch.bool:
        raise TypeError("ops.negative does not support bool tensors. Use ops.logical_not to invert a mask.")
    return torch.negative(x)


@op("numpy")
def sign(x: Any) -> torch.Tensor:
    """Elementwise sign (-1, 0 or 1); keeps the dtype."""
    return torch.sign(tensors(x)[0])


@op("numpy")
def signbit(x: Any) -> torch.Tensor:
    """Elementwise True where the sign bit is set (includes -0.0)."""
    return torch.signbit(tensors(x)[0])


@op("numpy")
def square(x: Any) -> torch.Tensor:
    """Elementwise x**2; bool gives int32."""
    if not isinstance(x, torch.Tensor):
        x = tensors(x)[0]
    return torch.square(x.to(torch.int32) if x.dtype == torch.bool else x)


@op("numpy")
def conjugate(x: Any) -> torch.Tensor:
    """Elementwise complex conjugate (real tensors come back unchanged)."""
    return torch.conj(tensors(x)[0]).resolve_conj()


@op("numpy")
def conj(x: Any) -> torch.Tensor:
    """Alias of `conjugate`."""
    return conjugate(x)


@op("numpy")
def real(x: Any) -> torch.Tensor:
    """The real part (real tensors come back unchanged)."""
    return torch.real(tensors(x)[0])


@op("numpy")
def imag(x: Any) -> torch.Tensor:
    """The imaginary part. Real tensors give zeros of their dtype (Keras's torch backend raises there)."""
    x = tensors(x)[0]
    return torch.imag(x) if x.is_complex() else torch.zeros_like(x)


@op("numpy")
def nan_to_num(x: Any, nan: float = 0.0, posinf: Optional[float] = None,
               neginf: Optional[float] = None) -> torch.Tensor:
    """Replaces NaN with `nan` and infinities with `posinf`/`neginf` (default: the dtype's largest finite values)."""
    return torch.nan_to_num(tensors(x)[0], nan=nan, posinf=posinf, neginf=neginf)


def _predicate(torch_fn: Any, name: str, doc: str) -> Any:
    def fn(x: Any) -> torch.Tensor:
        return torch_fn(tensors(x)[0])

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc + " Returns bool."
    return op("numpy")(fn)


isfinite = _predicate(torch.isfinite, "isfinite", "Elementwise True where finite.")
isinf = _predicate(torch.isinf, "isinf", "Elementwise True where +-inf.")
isnan = _predicate(torch.isnan, "isnan", "Elementwise True where NaN.")
isneginf = _predicate(torch.isneginf, "isneginf", "Elementwise True where -inf.")
isposinf = _predicate(torch.isposinf, "isposinf", "Elementwise True where +inf.")
isreal = _predicate(torch.isreal, "isreal", "Elementwise True where the imaginary part is 0.")
logical_not = _predicate(torch.logical_not, "logical_not", "Elementwise logical NOT.")


@op("numpy")
def bitwise_invert(x: Any) -> torch.Tensor:
    """Elementwise bitwise NOT of an integer or bool tensor."""
    x = tensors(x)[0]
    _require_integer("bitwise_invert", x)
    return torch.bitwise_not(x)


@op("numpy")
def bitwise_not(x: Any) -> torch.Tensor:
    """Alias of `bitwise_invert`."""
    return bitwise_invert(x)


# ---------------------------------------------------------------- binary: torch's promotion
def _binary(torch_fn: Any, name: str, doc: str, scalars: bool = False) -> Any:
    def fn(x1: Any, x2: Any) -> torch.Tensor:
        if isinstance(x1, torch.Tensor) and (
            isinstance(x2, torch.Tensor) or (scalars and weak_scalar(x1, x2))
        ):  # the common cases, without conversions
            return torch_fn(x1, x2)
        x1, x2 = tensors(x1, x2)
        return torch_fn(x1, x2)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc + " Broadcasts; the dtype follows Keras's promotion (Python scalars are weak)."
    return op("numpy")(fn)


add = _binary(torch.add, "add", "Elementwise x1 + x2.", scalars=True)
multiply = _binary(torch.multiply, "multiply", "Elementwise x1 * x2.", scalars=True)
power = _binary(torch.pow, "power", "Elementwise x1 ** x2.")
equal = _binary(torch.eq, "equal", "Elementwise x1 == x2 (bool).", scalars=True)
not_equal = _binary(torch.ne, "not_equal", "Elementwise x1 != x2 (bool).", scalars=True)
greater = _binary(torch.gt, "greater", "Elementwise x1 > x2 (bool).", scalars=True)
greater_equal = _binary(torch.ge, "greater_equal", "Elementwise x1 >= x2 (bool).", scalars=True)
less = _binary(torch.lt, "less", "Elementwise x1 < x2 (bool).", scalars=True)
less_equal = _binary(torch.le, "less_equal", "Elementwise x1 <= x2 (bool).", scalars=True)
logical_and = _binary(torch.logical_and, "logical_and", "Elementwise logical AND (bool).")
logical_or = _binary(torch.logical_or, "logical_or", "Elementwise logical OR (bool).")
logical_xor = _binary(torch.logical_xor, "logical_xor", "Elementwise logical XOR (bool).")


@op("numpy")
def subtract(x1: Any, x2: Any) -> torch.Tensor:
    """Elementwise x1 - x2. A bool operand takes the other's dtype; two bools are rejected."""
    if isinstance(x1, torch.Tensor) and x1.dtype is not torch.bool and (
        (isinstance(x2, torch.Tensor) and x2.dtype is not torch.bool) or weak_scalar(x1, x2)
    ):
        return torch.subtract(x1, x2)
    x1, x2 = tensors(x1, x2)
    if x1.dtype == torch.bool and x2.dtype == torch.bool:
        raise TypeError("ops.subtract does not support two bool tensors. Use ops.logical_xor, or cast to int first.")
    if x1.dtype == torch.bool:
        x1 = x1.to(x2.dtype)
    if x2.dtype == torch.bool:
        x2 = x2.to(x1.dtype)
    return torch.subtract(x1, x2)


@op("numpy")
def divide(x1: Any, x2: Any) -> torch.Tensor:
    """Elementwise true division; integers give floatx."""
    if not (isinstance(x1, torch.Tensor) and isinstance(x2, torch.Tensor)):
        x1, x2 = tensors(x1, x2)
    return torch.divide(x1, x2)


@op("numpy")
def true_divide(x1: Any, x2: Any) -> torch.Tensor:
    """Alias of `divide`."""
    return divide(x1, x2)


@op("numpy")
def divide_no_nan(x1: Any, x2: Any) -> torch.Tensor:
    """x1 / x2, with 0 where x2 == 0. The dtype is Keras's result_type(x1, x2, float)."""
    dtype = to_torch_dtype(result_type(dtype_of(x1), dtype_of(x2), float))
    x1, x2 = (t.to(dtype) for t in tensors(x1, x2))
    zero = x2 == 0
    return torch.where(zero, torch.zeros((), dtype=dtype, device=x1.device), x1 / torch.where(zero, 1, x2))


@op("numpy")
def floor_divide(x1: Any, x2: Any) -> torch.Tensor:
    """Elementwise floor(x1 / x2), in Keras's result_type(x1, x2)."""
    dtype = to_torch_dtype(result_type(dtype_of(x1), dtype_of(x2)))
    x1, x2 = tensors(x1, x2)
    return torch.floor_divide(x1, x2).to(dtype)


def _bool_to_int32(x1: torch.Tensor, x2: torch.Tensor) -> tuple:
    if x1.dtype == torch.bool and x2.dtype == torch.bool:
        return x1.to(torch.int32), x2.to(torch.int32)
    return x1, x2


@op("numpy")
def mod(x1: Any, x2: Any) -> torch.Tensor:
    """Elementwise remainder with the sign of x2 (Python's %); two bools give int32."""
    return torch.remainder(*_bool_to_int32(*tensors(x1, x2)))


@op("numpy")
def fmod(x1: Any, x2: Any) -> torch.Tensor:
    """Elementwise remainder with the sign of x1 (C's fmod); two bools give int32."""
    return torch.fmod(*_bool_to_int32(*tensors(x1, x2)))


def _same_dtype_binary(torch_fn: Any, name: str, doc: str) -> Any:
    def fn(x1: Any, x2: Any) -> torch.Tensor:
        dtype = to_torch_dtype(result_type(dtype_of(x1), dtype_of(x2)))
        x1, x2 = tensors(x1, x2)
        return torch_fn(x1.to(dtype), x2.to(dtype))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc + " In Keras's result_type(x1, x2) (64-bit narrows to 32-bit as in Keras)."
    return op("numpy")(fn)


maximum = _same_dtype_binary(torch.maximum, "maximum", "Elementwise maximum; NaN propagates.")
minimum = _same_dtype_binary(torch.minimum, "minimum", "Elementwise minimum; NaN propagates.")
fmax = _same_dtype_binary(torch.fmax, "fmax", "Elementwise maximum ignoring NaN.")
fmin = _same_dtype_binary(torch.fmin, "fmin", "Elementwise minimum ignoring NaN.")


def _float_binary(torch_fn: Any, name: str, doc: str) -> Any:
    def fn(x1: Any, x2: Any) -> torch.Tensor:
        x1, x2 = tensors(x1, x2)
        # As in Keras's torch backend, Python scalars count with their converted dtype here (not weakly).
        dtype = to_torch_dtype(result_type(dtype_of(x1), dtype_of(x2), float))
        return torch_fn(x1.to(dtype), x2.to(dtype))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc + " In Keras's result_type(x1, x2, float), a Python float counting as float32."
    return op("numpy")(fn)


arctan2 = _float_binary(torch.arctan2, "arctan2", "Elementwise arctan(x1 / x2) in the right quadrant.")
logaddexp = _float_binary(torch.logaddexp, "logaddexp", "Elementwise log(exp(x1) + exp(x2)).")
logaddexp2 = _float_binary(torch.logaddexp2, "logaddexp2", "Elementwise log2(2**x1 + 2**x2).")


def _int_to_float_binary(torch_fn: Any, name: str, doc: str) -> Any:
    def fn(x1: Any, x2: Any) -> torch.Tensor:
        x1, x2 = tensors(x1, x2)
        dtype = result_type(dtype_of(x1), dtype_of(x2))
        if dtype in ("int8", "int16", "int32", "uint8", "uint16", "uint32"):
            dtype = config.floatx()
        return torch_fn(x1.to(to_torch_dtype(dtype)), x2.to(to_torch_dtype(dtype)))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc + " Integer inputs give floatx."
    return op("numpy")(fn)


heaviside = _int_to_float_binary(torch.heaviside, "heaviside",
                                 "Step function: 0 where x1 < 0, x2 where x1 == 0, 1 above.")
hypot = _int_to_float_binary(torch.hypot, "hypot", "Elementwise sqrt(x1**2 + x2**2).")


@op("numpy")
def nextafter(x1: Any, x2: Any) -> torch.Tensor:
    """The next float after x1 toward x2, computed in float64 and cast to Keras's result_type(x1, x2, float)."""
    x1, x2 = tensors(x1, x2)
    dtype = to_torch_dtype(result_type(dtype_of(x1), dtype_of(x2), float))
    return torch.nextafter(x1.to(torch.float64), x2.to(torch.float64)).to(dtype)


@op("numpy")
def ldexp(x1: Any, x2: Any) -> torch.Tensor:
    """Elementwise x1 * 2**x2; x2 must hold integers."""
    x1, x2 = tensors(x1, x2)
    if x2.dtype == torch.bool or not is_int_or_bool(x2):
        raise TypeError(f"ops.ldexp needs an integer exponent x2. Received: x2.dtype={dtype_of(x2)}. "
                        "Cast it with ops.cast(x2, 'int32').")
    dtype = to_torch_dtype(result_type(dtype_of(x1), dtype_of(x2), float))
    return torch.ldexp(x1, x2).to(dtype)


@op("numpy")
def isclose(x1: Any, x2: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> torch.Tensor:
    """Elementwise |x1 - x2| <= atol + rtol * |x2| (exact equality for integers). Returns bool."""
    x1, x2 = tensors(x1, x2)
    dtype = to_torch_dtype(result_type(dtype_of(x1), dtype_of(x2)))
    x1, x2 = x1.to(dtype), x2.to(dtype)
    if dtype.is_floating_point or dtype.is_complex:
        return torch.isclose(x1, x2, rtol=rtol, atol=atol, equal_nan=equal_nan)
    return torch.eq(x1, x2)


@op("numpy")
def allclose(x1: Any, x2: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> torch.Tensor:
    """Whether `isclose` holds everywhere, as a 0-d bool tensor."""
    return torch.all(isclose(x1, x2, rtol=rtol, atol=atol, equal_nan=equal_nan))


# ---------------------------------------------------------------- integer-only binary ops
def _integer_binary(torch_fn: Any, name: str, doc: str) -> Any:
    def fn(x: Any, y: Any) -> torch.Tensor:
        x, y = tensors(x, y)
        _require_integer(name, x, y)
        return torch_fn(x, y)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return op("numpy")(fn)


bitwise_and = _integer_binary(torch.bitwise_and, "bitwise_and", "Elementwise bitwise AND of integer or bool tensors.")
bitwise_or = _integer_binary(torch.bitwise_or, "bitwise_or", "Elementwise bitwise OR of integer or bool tensors.")
bitwise_xor = _integer_binary(torch.bitwise_xor, "bitwise_xor", "Elementwise bitwise XOR of integer or bool tensors.")


def _gcd_like(torch_fn: Any, name: str, doc: str) -> Any:
    def fn(x1: Any, x2: Any) -> torch.Tensor:
        x1, x2 = tensors(x1, x2)
        _require_integer(name, x1, x2)
        return torch_fn(x1, x2)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return op("numpy")(fn)


gcd = _gcd_like(torch.gcd, "gcd", "Elementwise greatest common divisor of integer tensors.")
lcm = _gcd_like(torch.lcm, "lcm", "Elementwise least common multiple of integer tensors.")


def _shift(x: Any, y: Any, torch_fn: Any, name: str) -> torch.Tensor:
    x = tensors(x)[0]
    # Keras hands a Python int shift to torch as is (so bool << 1 is int64, as torch has it).
    if not isinstance(y, int):
        y = tensors(x, y)[1]
        _require_integer(name, y)
    _require_integer(name, x)
    return torch_fn(x, y)


@op("numpy")
def bitwise_left_shift(x: Any, y: Any) -> torch.Tensor:
    """Elementwise x << y for integers."""
    return _shift(x, y, torch.bitwise_left_shift, "bitwise_left_shift")


@op("numpy")
def left_shift(x: Any, y: Any) -> torch.Tensor:
    """Alias of `bitwise_left_shift`."""
    return _shift(x, y, torch.bitwise_left_shift, "left_shift")


@op("numpy")
def bitwise_right_shift(x: Any, y: Any) -> torch.Tensor:
    """Elementwise x >> y for integers (arithmetic shift for signed types)."""
    return _shift(x, y, torch.bitwise_right_shift, "bitwise_right_shift")


@op("numpy")
def right_shift(x: Any, y: Any) -> torch.Tensor:
    """Alias of `bitwise_right_shift`."""
    return _shift(x, y, torch.bitwise_right_shift, "right_shift")


@op("numpy")
def clip(x: Any, x_min: Any, x_max: Any) -> torch.Tensor:
    """Clamps x into [x_min, x_max] (either may be None); bool inputs clip as int32."""
    x = tensors(x)[0]
    if x.dtype == torch.bool:
        x = x.to(torch.int32)
    lo = None if x_min is None else tensors(x, x_min)[1]
    hi = None if x_max is None else tensors(x, x_max)[1]
    if lo is None and hi is None:
        raise ValueError("ops.clip needs at least one of x_min and x_max. Received: x_min=None, x_max=None.")
    return torch.clip(x, min=lo, max=hi)


__all__ = [
    "abs", "absolute", "add", "allclose", "angle", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2",
    "arctanh", "bitwise_and", "bitwise_invert", "bitwise_left_shift", "bitwise_not", "bitwise_or",
    "bitwise_right_shift", "bitwise_xor", "cbrt", "ceil", "clip", "conj", "conjugate", "cos", "cosh", "deg2rad",
    "divide", "divide_no_nan", "equal", "exp", "exp2", "expm1", "fabs", "floor", "floor_divide", "fmax", "fmin",
    "fmod", "gcd", "greater", "greater_equal", "heaviside", "hypot", "i0", "imag", "isclose", "isfinite", "isinf",
    "isnan", "isneginf", "isposinf", "isreal", "lcm", "ldexp", "left_shift", "less", "less_equal", "log", "log10",
    "log1p", "log2", "logaddexp", "logaddexp2", "logical_and", "logical_not", "logical_or", "logical_xor",
    "maximum", "minimum", "mod", "multiply", "nan_to_num", "negative", "nextafter", "not_equal", "power",
    "rad2deg", "real", "reciprocal", "right_shift", "round", "sign", "signbit", "sin", "sinc", "sinh", "sqrt",
    "square", "subtract", "tan", "tanh", "true_divide", "trunc",
]
