"""Keras's `ops.numpy` reductions and statistics on torch: sum, mean, max, argmax, quantile, var ...

`axis` is None (every axis), an int or a tuple/list of ints; negative axes count from the
end; `axis=()` reduces nothing. Result dtypes are Keras's: integer `mean`/`var`/`std`
give float32, `sum` of bool and small ints int32, `argmax` int32, and where Keras's torch
backend applies `result_type` (`var`, `median`, `cumsum`, `prod` ...) 64-bit narrows to
32-bit as it does there.

Where Keras's torch backend departs from its own contract (NumPy's semantics, and
Keras's symbolic shapes), kerasish keeps the contract: `keepdims=True` with `axis=None`
keeps every axis in `max`, `min`, `amax`, `amin`, `sum`, `prod`, `nanprod` and `ptp`;
`axis=()` reduces nothing (also in `std`, `nanmax`, `nanmin`) and gives the reduction's
dtype; `count_nonzero` does not transpose its result; `average` broadcasts 1-D `weights`
along any `axis`; `max`/`min` give empty slices `initial` in x's dtype and the reduced
shape; the nan-ops replace NaN only (not +-inf); quantiles take `q` of any rank.
"""

from __future__ import annotations

import builtins
import difflib
import math as _math
import operator
from typing import Any, Optional, Sequence, Tuple, Union

import torch

from kerasish.ops.dtypes import dtype_of, result_type, standardize_dtype, to_torch_dtype
from kerasish.ops.numpy_math import floatx_dtype, is_int_or_bool, tensors
from kerasish.ops.operation import op

Axis = Union[None, int, Sequence[int]]

_SMALL_INTS = (torch.bool, torch.uint8, torch.int8, torch.int16)
_MEAN_IN_PLACE_DTYPES = (torch.float32, torch.float64, torch.complex64, torch.complex128)
_QUANTILE_METHODS = ("linear", "lower", "higher", "midpoint", "nearest")


def _axes(axis: Axis, x: torch.Tensor, name: str) -> Tuple[int, ...]:
    """`axis` as a tuple of non-negative dims of `x` (None: all of them), checked."""
    if axis is None:
        return tuple(range(x.ndim))
    items = tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)
    rank = builtins.max(x.ndim, 1)  # torch (and so Keras's backend) lets a 0-d tensor reduce over axis 0
    out = []
    for a in items:
        try:
            a = operator.index(a)
        except TypeError:
            raise TypeError(
                f"ops.{name}: axis must be None, an int or a tuple of ints. Received: axis={axis!r}."
            ) from None
        if not -rank <= a < rank:
            raise ValueError(
                f"ops.{name}: axis {a} is out of bounds for a tensor of rank {x.ndim} (shape {tuple(x.shape)}). "
                f"Expected an axis in [{-rank}, {rank - 1}]; negative axes count from the end."
            )
        out.append(a % rank)
    if len(set(out)) != len(out):
        raise ValueError(f"ops.{name}: axis {axis!r} repeats an axis. Name each axis once.")
    return tuple(out) if x.ndim else ()


def _one_axis(axis: Any, x: torch.Tensor, name: str) -> int:
    if isinstance(axis, (list, tuple)):
        raise TypeError(f"ops.{name} takes a single int axis (or None). Received: axis={axis!r}.")
    axes = _axes(axis, x, name)
    return axes[0] if axes else 0  # a 0-d tensor: axis 0 or -1, as torch takes it


def _reduced_shape(x: torch.Tensor, axes: Tuple[int, ...], keepdims: bool) -> Tuple[int, ...]:
    if keepdims:
        return tuple(1 if d in axes else n for d, n in enumerate(x.shape))
    return tuple(n for d, n in enumerate(x.shape) if d not in axes)


def _check_not_empty(x: torch.Tensor, axes: Tuple[int, ...], name: str, fix: str = "") -> None:
    if builtins.any(x.shape[d] == 0 for d in axes):
        raise ValueError(
            f"ops.{name} cannot reduce an empty axis: x has shape {tuple(x.shape)} and axis covers {axes}. "
            + (fix or "Reduce over non-empty axes only.")
        )


# ---------------------------------------------------------------- sum, prod, mean
def _sum_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.int32 if x.dtype in _SMALL_INTS else x.dtype


@op("numpy")
def sum(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Sum over `axis`. bool, uint8, int8 and int16 give int32; other dtypes are kept."""
    if isinstance(x, torch.Tensor) and x.ndim and x.is_floating_point():  # the common cases: one axis, or all
        # (Floats keep their dtype, so no `dtype=`, which costs torch's argument parser a microsecond.)
        if type(axis) is int and -x.ndim <= axis < x.ndim:
            return torch.sum(x, dim=axis, keepdim=keepdims)
        if axis is None:
            return torch.sum(x, dim=tuple(range(x.ndim)), keepdim=keepdims)
    x = tensors(x)[0]
    axes, dtype = _axes(axis, x, "sum"), _sum_dtype(x)
    if not axes:
        return x.to(dtype)
    return torch.sum(x, dim=axes, keepdim=keepdims, dtype=dtype)


@op("numpy")
def nansum(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Sum over `axis` treating NaN as 0; dtypes as `sum`."""
    x = tensors(x)[0]
    axes, dtype = _axes(axis, x, "nansum"), _sum_dtype(x)
    if not axes:
        return _replace_nan(x, 0).to(dtype)
    return torch.nansum(x, dim=axes, keepdim=keepdims).to(dtype)


def _prod_dtype(x: torch.Tensor, dtype: Any) -> torch.dtype:
    if dtype is not None:
        return to_torch_dtype(standardize_dtype(dtype))
    name = result_type(dtype_of(x))
    return torch.int32 if name in ("bool", "uint8", "int8", "int16") else to_torch_dtype(name)


def _prod(x: torch.Tensor, axes: Tuple[int, ...], keepdims: bool, dtype: torch.dtype) -> torch.Tensor:
    if not axes:
        return x.to(dtype)
    if len(axes) == x.ndim and not keepdims:
        return torch.prod(x, dtype=dtype)
    for a in sorted(axes, reverse=True):  # torch.prod takes one axis at a time
        x = torch.prod(x, dim=a, keepdim=keepdims, dtype=dtype)
    return x


@op("numpy")
def prod(x: Any, axis: Axis = None, keepdims: bool = False, dtype: Any = None) -> torch.Tensor:
    """Product over `axis`. Without `dtype`: small ints and bool give int32, 64-bit narrows to 32-bit as in Keras."""
    x = tensors(x)[0]
    return _prod(x, _axes(axis, x, "prod"), keepdims, _prod_dtype(x, dtype))


@op("numpy")
def nanprod(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Product over `axis` treating NaN as 1; dtypes as `prod`."""
    x = tensors(x)[0]
    return _prod(_replace_nan(x, 1), _axes(axis, x, "nanprod"), keepdims, _prod_dtype(x, None))


@op("numpy")
def mean(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Arithmetic mean over `axis`. Integers and bool give float32; float16/bfloat16 accumulate in float32."""
    if isinstance(x, torch.Tensor) and x.ndim and x.dtype in _MEAN_IN_PLACE_DTYPES:  # the common cases: no casts
        if type(axis) is int and -x.ndim <= axis < x.ndim:
            return torch.mean(x, dim=axis, keepdim=keepdims)
        if axis is None:
            return torch.mean(x, dim=tuple(range(x.ndim)), keepdim=keepdims)
    x = tensors(x)[0]
    axes = _axes(axis, x, "mean")
    result = torch.float32 if is_int_or_bool(x) else x.dtype
    compute = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else result
    if not axes:
        return x.to(result)
    return torch.mean(x.to(compute), dim=axes, keepdim=keepdims).to(result)


@op("numpy")
def nanmean(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Mean over `axis` ignoring NaN, in Keras's result_type(x, float) (so float64 gives float32, as in Keras)."""
    x = tensors(x)[0]
    x = x.to(to_torch_dtype(result_type(dtype_of(x), float)))
    axes = _axes(axis, x, "nanmean")
    return torch.nanmean(x, dim=axes, keepdim=keepdims) if axes else x


@op("numpy")
def average(x: Any, axis: Axis = None, weights: Any = None) -> torch.Tensor:
    """Weighted mean over `axis`. `weights` has x's shape, or is 1-D of length x.shape[axis] for a single axis."""
    x = tensors(x)[0]
    w = None if weights is None else tensors(x, weights)[1]
    dtype = to_torch_dtype(result_type(dtype_of(x), float, *([] if w is None else [dtype_of(w)])))
    x = x.to(dtype)
    axes = _axes(axis, x, "average")
    if not axes:
        return x
    if w is None:
        return torch.mean(x, dim=axes)
    w = w.to(dtype)
    if w.shape != x.shape:
        if axis is None:
            raise ValueError(
                f"ops.average: weights of shape {tuple(w.shape)} differ from x's shape {tuple(x.shape)}, so `axis` "
                "must say which axis the 1-D weights run along. Pass axis=..., or weights of x's shape."
            )
        if w.ndim != 1 or len(axes) != 1 or w.shape[0] != x.shape[axes[0]]:
            raise ValueError(
                f"ops.average: weights of shape {tuple(w.shape)} fit neither x's shape {tuple(x.shape)} nor "
                f"axis={axis!r}. Expected weights of x's shape, or 1-D weights of length x.shape[axis]."
            )
        w = w.reshape([-1 if d == axes[0] else 1 for d in range(x.ndim)])
    return torch.sum(x * w, dim=axes) / torch.sum(w.expand_as(x), dim=axes)


# ---------------------------------------------------------------- variance
@op("numpy")
def var(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Population variance (ddof=0) over `axis`, in Keras's result_type(x, float) (float64 gives float32)."""
    x = tensors(x)[0]
    compute = to_torch_dtype(result_type(dtype_of(x), "float32"))
    result = to_torch_dtype(result_type(dtype_of(x), float))
    axes = _axes(axis, x, "var")
    if not axes:
        return torch.zeros(x.shape, dtype=result, device=x.device)
    return torch.var(x.to(compute), dim=axes, keepdim=keepdims, correction=0).to(result)


@op("numpy")
def std(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Population standard deviation (ddof=0) over `axis`; integers and bool give float32."""
    x = tensors(x)[0]
    if is_int_or_bool(x):
        x = x.to(torch.float32)
    axes = _axes(axis, x, "std")
    if not axes:
        return torch.zeros(x.shape, dtype=x.real.dtype, device=x.device)
    return torch.std(x, dim=axes, keepdim=keepdims, correction=0)


@op("numpy")
def nanvar(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Population variance over `axis` ignoring NaN (NaN where a slice is all NaN)."""
    x = tensors(x)[0]
    x = x.to(to_torch_dtype(result_type(dtype_of(x), float)))
    axes = _axes(axis, x, "nanvar")
    valid = ~torch.isnan(x)
    if not axes:
        return torch.where(valid, torch.zeros((), dtype=x.dtype, device=x.device), x)
    centered = torch.where(valid, x - torch.nanmean(x, dim=axes, keepdim=True), 0)
    squares = centered.abs().square() if centered.is_complex() else centered.square()
    return torch.sum(squares, dim=axes, keepdim=keepdims) / torch.sum(valid, dim=axes, keepdim=keepdims)


@op("numpy")
def nanstd(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Population standard deviation over `axis` ignoring NaN."""
    return torch.sqrt(nanvar(x, axis=axis, keepdims=keepdims))


# ---------------------------------------------------------------- max, min, argmax
def _extreme(x: Any, axis: Axis, keepdims: bool, initial: Any, name: str, torch_fn: Any, pick: Any) -> torch.Tensor:
    x = tensors(x)[0]
    axes = _axes(axis, x, name)
    if builtins.any(x.shape[d] == 0 for d in axes):
        if initial is None:
            fix = ("Pass `initial=` (the value an empty slice gives)." if name in ("max", "min")
                   else "Use ops.max/ops.min with `initial=` to give empty slices a value.")
            _check_not_empty(x, axes, name, fix)
        return torch.full(_reduced_shape(x, axes, keepdims), initial, dtype=x.dtype, device=x.device)
    out = torch_fn(x, dim=axes, keepdim=keepdims) if axes else x
    if initial is not None:
        out = pick(out, torch.full((), initial, dtype=out.dtype, device=out.device))
    return out


@op("numpy")
def max(x: Any, axis: Axis = None, keepdims: bool = False, initial: Any = None) -> torch.Tensor:
    """Maximum over `axis`, at least `initial` when given (which empty slices then take)."""
    return _extreme(x, axis, keepdims, initial, "max", torch.amax, torch.maximum)


@op("numpy")
def min(x: Any, axis: Axis = None, keepdims: bool = False, initial: Any = None) -> torch.Tensor:
    """Minimum over `axis`, at most `initial` when given (which empty slices then take)."""
    return _extreme(x, axis, keepdims, initial, "min", torch.amin, torch.minimum)


@op("numpy")
def amax(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Maximum over `axis`; NaN propagates."""
    return _extreme(x, axis, keepdims, None, "amax", torch.amax, None)


@op("numpy")
def amin(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Minimum over `axis`; NaN propagates."""
    return _extreme(x, axis, keepdims, None, "amin", torch.amin, None)


@op("numpy")
def ptp(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Range (max - min) over `axis`; keeps the dtype."""
    x = tensors(x)[0]
    if x.dtype == torch.bool:
        raise TypeError("ops.ptp does not support bool tensors (max - min of bools). Cast to int first.")
    return amax(x, axis, keepdims) - amin(x, axis, keepdims)


def _nan_extreme(x: Any, axis: Axis, keepdims: bool, name: str, torch_fn: Any, fill: float) -> torch.Tensor:
    x = tensors(x)[0]
    if not x.is_floating_point():
        return _extreme(x, axis, keepdims, None, name, torch_fn, None)
    axes = _axes(axis, x, name)
    _check_not_empty(x, axes, name)
    if not axes:
        return x
    nan = torch.isnan(x)
    out = torch_fn(torch.where(nan, fill, x), dim=axes, keepdim=keepdims)
    return torch.where(torch.all(nan, dim=axes, keepdim=keepdims), torch.nan, out)


@op("numpy")
def nanmax(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Maximum over `axis` ignoring NaN (NaN where a slice is all NaN)."""
    return _nan_extreme(x, axis, keepdims, "nanmax", torch.amax, -torch.inf)


@op("numpy")
def nanmin(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Minimum over `axis` ignoring NaN (NaN where a slice is all NaN)."""
    return _nan_extreme(x, axis, keepdims, "nanmin", torch.amin, torch.inf)


def _arg(x: Any, axis: Any, keepdims: bool, name: str, torch_fn: Any, nan_fill: Optional[float]) -> torch.Tensor:
    x = tensors(x)[0]
    dim = None if axis is None else _one_axis(axis, x, name)
    _check_not_empty(x, (dim,) if dim is not None and x.ndim else tuple(range(x.ndim)), name)
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)
    if nan_fill is None or not x.is_floating_point():
        return torch_fn(x, dim=dim, keepdim=keepdims).to(torch.int32)
    nan = torch.isnan(x)
    index = torch_fn(torch.where(nan, nan_fill, x), dim=dim, keepdim=keepdims).to(torch.int32)
    all_nan = torch.all(nan, dim=dim, keepdim=keepdims) if dim is not None else torch.all(nan).reshape(index.shape)
    return torch.where(all_nan, -1, index)


@op("numpy")
def argmax(x: Any, axis: Optional[int] = None, keepdims: bool = False) -> torch.Tensor:
    """Index (int32) of the maximum along `axis`, or into the flattened tensor when axis is None."""
    return _arg(x, axis, keepdims, "argmax", torch.argmax, None)


@op("numpy")
def argmin(x: Any, axis: Optional[int] = None, keepdims: bool = False) -> torch.Tensor:
    """Index (int32) of the minimum along `axis`, or into the flattened tensor when axis is None."""
    return _arg(x, axis, keepdims, "argmin", torch.argmin, None)


@op("numpy")
def nanargmax(x: Any, axis: Optional[int] = None, keepdims: bool = False) -> torch.Tensor:
    """`argmax` ignoring NaN; -1 where a slice is all NaN."""
    return _arg(x, axis, keepdims, "nanargmax", torch.argmax, -torch.inf)


@op("numpy")
def nanargmin(x: Any, axis: Optional[int] = None, keepdims: bool = False) -> torch.Tensor:
    """`argmin` ignoring NaN; -1 where a slice is all NaN."""
    return _arg(x, axis, keepdims, "nanargmin", torch.argmin, torch.inf)


# ---------------------------------------------------------------- logic and counting
@op("numpy")
def all(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Whether every element along `axis` is truthy (bool)."""
    x = tensors(x)[0]
    axes = _axes(axis, x, "all")
    return (torch.all(x, dim=axes, keepdim=keepdims) if axes else x).to(torch.bool)  # torch keeps uint8


@op("numpy")
def any(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Whether some element along `axis` is truthy (bool)."""
    x = tensors(x)[0]
    axes = _axes(axis, x, "any")
    return (torch.any(x, dim=axes, keepdim=keepdims) if axes else x).to(torch.bool)  # torch keeps uint8


@op("numpy")
def count_nonzero(x: Any, axis: Axis = None) -> torch.Tensor:
    """Number of non-zero elements along `axis` (int32)."""
    x = tensors(x)[0]
    axes = _axes(axis, x, "count_nonzero")
    if not axes:
        return (x != 0).to(torch.int32)
    return torch.count_nonzero(x, dim=axes).to(torch.int32)


# ---------------------------------------------------------------- cumulative and differences
def _replace_nan(x: torch.Tensor, value: float) -> torch.Tensor:
    return torch.where(torch.isnan(x), value, x) if x.is_floating_point() or x.is_complex() else x


def _cumulative(x: Any, axis: Optional[int], dtype: Any, name: str, torch_fn: Any,
                nan: Optional[float]) -> torch.Tensor:
    x = tensors(x)[0]
    if nan is not None:
        x = _replace_nan(x, nan)
    if axis is None:
        x, dim = x.reshape(-1), 0
    else:
        dim = _one_axis(axis, x, name)
    name_ = result_type(dtype_of(x) if dtype is None else standardize_dtype(dtype))
    return torch_fn(x, dim=dim, dtype=torch.int32 if name_ == "bool" else to_torch_dtype(name_))


@op("numpy")
def cumsum(x: Any, axis: Optional[int] = None, dtype: Any = None) -> torch.Tensor:
    """Cumulative sum along `axis` (flattened when None); bool gives int32, 64-bit narrows to 32-bit as in Keras."""
    return _cumulative(x, axis, dtype, "cumsum", torch.cumsum, None)


@op("numpy")
def cumprod(x: Any, axis: Optional[int] = None, dtype: Any = None) -> torch.Tensor:
    """Cumulative product along `axis` (flattened when None); dtypes as `cumsum`."""
    return _cumulative(x, axis, dtype, "cumprod", torch.cumprod, None)


@op("numpy")
def nancumsum(x: Any, axis: Optional[int] = None, dtype: Any = None) -> torch.Tensor:
    """`cumsum` treating NaN as 0 (infinities are kept)."""
    return _cumulative(x, axis, dtype, "nancumsum", torch.cumsum, 0.0)


@op("numpy")
def nancumprod(x: Any, axis: Optional[int] = None, dtype: Any = None) -> torch.Tensor:
    """`cumprod` treating NaN as 1 (infinities are kept)."""
    return _cumulative(x, axis, dtype, "nancumprod", torch.cumprod, 1.0)


@op("numpy")
def diff(a: Any, n: int = 1, axis: int = -1) -> torch.Tensor:
    """The n-th discrete difference along `axis`."""
    a = tensors(a)[0]
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"ops.diff: n must be a non-negative int (the order of the difference). Received: n={n!r}.")
    if a.ndim == 0:
        raise ValueError("ops.diff needs a tensor of rank 1 or more. Received a 0-d tensor.")
    return torch.diff(a, n=n, dim=_one_axis(axis, a, "diff")) if n else a


@op("numpy")
def corrcoef(x: Any) -> torch.Tensor:
    """Pearson correlation coefficients of the rows of `x` (variables in rows, observations in columns)."""
    x = tensors(x)[0]
    if x.dtype == torch.int64:
        x = x.to(torch.float64)
    elif is_int_or_bool(x):
        x = x.to(floatx_dtype())
    if x.ndim > 2:
        raise ValueError(f"ops.corrcoef takes a 1-D or 2-D tensor. Received shape {tuple(x.shape)}.")
    return torch.corrcoef(x)


# ---------------------------------------------------------------- quantiles
def _quantile(x: Any, q: Any, axis: Axis, method: str, keepdims: bool, name: str, scale: float = 1.0) -> torch.Tensor:
    if method not in _QUANTILE_METHODS:
        close = difflib.get_close_matches(str(method), _QUANTILE_METHODS, n=1)
        raise ValueError(
            f"ops.{name}: unknown method={method!r}. Expected one of {list(_QUANTILE_METHODS)}"
            + (f"; did you mean {close[0]!r}?" if close else ".")
        )
    x = tensors(x)[0]
    result = to_torch_dtype(result_type(dtype_of(x), float))
    x = x.to(to_torch_dtype(result_type(dtype_of(x), "float32")))
    if isinstance(q, (int, float)) and not isinstance(q, bool):
        q = q / scale
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"ops.{name}: q={q * scale!r} is out of range; expected [0, {scale:g}].")
    else:
        q = tensors(x, q)[1].to(x.dtype) / scale
    axes = _axes(axis, x, name)
    other = [d for d in range(x.ndim) if d not in axes]
    y = x.permute(other + list(axes)).reshape([x.shape[d] for d in other] + [_math.prod(x.shape[d] for d in axes)])
    if y.shape[-1] == 0:
        raise ValueError(f"ops.{name} needs at least one element along axis={axis!r}; x has shape {tuple(x.shape)}.")
    fn = torch.nanquantile if name.startswith("nan") else torch.quantile
    q_shape = () if isinstance(q, float) else tuple(q.shape)
    # torch takes a 0-d or 1-D q; NumPy any shape, whose dimensions lead the result.
    y = fn(y, q.reshape(-1) if len(q_shape) > 1 else q, dim=-1, interpolation=method)
    return y.reshape(q_shape + _reduced_shape(x, axes, keepdims)).to(result)


@op("numpy")
def quantile(x: Any, q: Any, axis: Axis = None, method: str = "linear", keepdims: bool = False) -> torch.Tensor:
    """The q-th quantiles (q in [0, 1]) over `axis`, q's dimensions first (method: linear, lower, higher ...)."""
    return _quantile(x, q, axis, method, keepdims, "quantile")


@op("numpy")
def nanquantile(x: Any, q: Any, axis: Axis = None, method: str = "linear", keepdims: bool = False) -> torch.Tensor:
    """`quantile` ignoring NaN."""
    return _quantile(x, q, axis, method, keepdims, "nanquantile")


@op("numpy")
def percentile(x: Any, q: Any, axis: Axis = None, method: str = "linear", keepdims: bool = False) -> torch.Tensor:
    """The q-th percentiles (q in [0, 100]) over `axis`."""
    return _quantile(x, q, axis, method, keepdims, "percentile", scale=100.0)


@op("numpy")
def nanpercentile(x: Any, q: Any, axis: Axis = None, method: str = "linear", keepdims: bool = False) -> torch.Tensor:
    """`percentile` ignoring NaN."""
    return _quantile(x, q, axis, method, keepdims, "nanpercentile", scale=100.0)


@op("numpy")
def median(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Median over `axis` (the mean of the two middle values for even counts)."""
    return _quantile(x, 0.5, axis, "linear", keepdims, "median")


@op("numpy")
def nanmedian(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Median over `axis` ignoring NaN."""
    return _quantile(x, 0.5, axis, "linear", keepdims, "nanmedian")


__all__ = [
    "all", "amax", "amin", "any", "argmax", "argmin", "average", "corrcoef", "count_nonzero", "cumprod", "cumsum",
    "diff", "max", "mean", "median", "min", "nanargmax", "nanargmin", "nancumprod", "nancumsum", "nanmax",
    "nanmean", "nanmedian", "nanmin", "nanpercentile", "nanprod", "nanquantile", "nanstd", "nansum", "nanvar",
    "percentile", "prod", "ptp", "quantile", "std", "sum", "var",
]
