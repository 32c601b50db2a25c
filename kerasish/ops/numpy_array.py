"""Keras's `ops.numpy` array ops on torch: creation here, the rest from three sibling modules.

This module creates tensors (`zeros`, `arange`, `linspace`, `eye`, windows ...) on the
current device (`kerasish.ops.dtypes.current_device`), with Keras's dtypes: `floatx` by
default for `zeros`/`ones`/`full`/`eye`, the promoted argument types for `arange`
(`arange(5)` is int32, `arange(0.5)` float32) and the float promotion for `linspace`.
It also re-exports, so that `from kerasish.ops.numpy_array import *` gives every array op:

- `numpy_shape`: reshape, transpose, flips, pads, diagonals;
- `numpy_index`: joining, splitting, indexing, sorting, sets and counting;
- `numpy_linear`: products (matmul, dot, einsum ...), correlate, vectorize.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from kerasish import config
from kerasish.ops import numpy_index, numpy_linear, numpy_shape
from kerasish.ops.dtypes import (convert_to_tensor, current_device, dtype_of, result_type, standardize_dtype,
                                 to_torch_dtype)
from kerasish.ops.numpy_index import *  # noqa: F401,F403 - re-exported ops
from kerasish.ops.numpy_linear import *  # noqa: F401,F403 - re-exported ops
from kerasish.ops.numpy_shape import *  # noqa: F401,F403 - re-exported ops
from kerasish.ops.numpy_shape import as_tensor, as_tensors, canonical_axis, int_sequence
from kerasish.ops.operation import op

Shape = Union[int, Sequence[int]]


def _dtype(dtype: Any) -> torch.dtype:
    return to_torch_dtype(config.floatx() if dtype is None else dtype)


def _shape(shape: Any, op_name: str) -> Tuple[int, ...]:
    return int_sequence(shape, op_name, "shape")


def _count(n: Any, op_name: str, arg: str) -> int:
    """A size argument (int or integer tensor) as a Python int."""
    if isinstance(n, torch.Tensor):
        if n.is_floating_point() or n.numel() != 1:
            raise TypeError(f"ops.{op_name}: `{arg}` must be an integer or an integer tensor. Received: {arg}={n!r}.")
        return int(n)  # host sync: a tensor size argument is data
    if isinstance(n, (float, np.floating)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"ops.{op_name}: `{arg}` must be an integer or an integer tensor. Received: {arg}={n!r}.")
    return int(n)


def _fill(shape: Tuple[int, ...], fill_value: Any, dt: torch.dtype, device: torch.device) -> torch.Tensor:
    if isinstance(fill_value, (bool, int, float)):
        return torch.full(shape, fill_value, dtype=dt, device=device)
    value = fill_value if isinstance(fill_value, torch.Tensor) else convert_to_tensor(fill_value, device=device)
    value = value.to(dt)
    if value.ndim and tuple(value.shape) != shape[len(shape) - value.ndim:]:
        raise NotImplementedError(
            f"ops.full with a fill_value of shape {tuple(value.shape)} for shape={shape}: Keras's torch backend "
            "tiles it without broadcasting, giving another shape. Pass a fill_value that matches the trailing "
            "axes of shape, or ops.broadcast_to(fill_value, shape)."
        )
    return value.expand(shape).clone()


# ---------------------------------------------------------------- filled tensors
@op("numpy")
def zeros(shape: Shape, dtype: Optional[str] = None) -> torch.Tensor:
    """A tensor of zeros (floatx unless `dtype`)."""
    return torch.zeros(_shape(shape, "zeros"), dtype=_dtype(dtype), device=current_device())


@op("numpy")
def ones(shape: Shape, dtype: Optional[str] = None) -> torch.Tensor:
    """A tensor of ones (floatx unless `dtype`)."""
    return torch.ones(_shape(shape, "ones"), dtype=_dtype(dtype), device=current_device())


@op("numpy")
def empty(shape: Shape, dtype: Optional[str] = None) -> torch.Tensor:
    """An uninitialized tensor (floatx unless `dtype`)."""
    return torch.empty(_shape(shape, "empty"), dtype=_dtype(dtype), device=current_device())


@op("numpy")
def full(shape: Shape, fill_value: Any, dtype: Optional[str] = None) -> torch.Tensor:
    """A tensor of `shape` filled with `fill_value` (floatx unless `dtype`).

    A tensor `fill_value` must match the trailing axes of `shape`; one that needs
    broadcasting raises NotImplementedError (Keras's torch backend returns a tensor of
    the wrong shape then).
    """
    return _fill(_shape(shape, "full"), fill_value, _dtype(dtype), current_device())


@op("numpy")
def zeros_like(x: Any, dtype: Optional[str] = None) -> torch.Tensor:
    """Zeros with the shape of `x` (and its dtype unless `dtype`)."""
    x = as_tensor(x)
    return torch.zeros_like(x, dtype=None if dtype is None else to_torch_dtype(dtype))


@op("numpy")
def ones_like(x: Any, dtype: Optional[str] = None) -> torch.Tensor:
    """Ones with the shape of `x` (and its dtype unless `dtype`)."""
    x = as_tensor(x)
    return torch.ones_like(x, dtype=None if dtype is None else to_torch_dtype(dtype))


@op("numpy")
def empty_like(x: Any, dtype: Optional[str] = None) -> torch.Tensor:
    """An uninitialized tensor with the shape of `x` (and its dtype unless `dtype`)."""
    x = as_tensor(x)
    return torch.empty_like(x, dtype=None if dtype is None else to_torch_dtype(dtype))


@op("numpy")
def full_like(x: Any, fill_value: Any, dtype: Optional[str] = None) -> torch.Tensor:
    """`fill_value` in the shape of `x` (and its dtype unless `dtype`)."""
    x = as_tensor(x)
    return _fill(tuple(x.shape), fill_value, x.dtype if dtype is None else to_torch_dtype(dtype), x.device)


@op("numpy")
def array(x: Any, dtype: Optional[str] = None) -> torch.Tensor:
    """`x` as a tensor (Python ints int32, floats floatx, NumPy arrays keep their dtype)."""
    return convert_to_tensor(x, dtype=dtype)


@op("numpy")
def copy(x: Any) -> torch.Tensor:
    """A copy of `x`."""
    return torch.clone(as_tensor(x))


@op("numpy")
def view(x: Any, dtype: Optional[str] = None) -> torch.Tensor:
    """The bytes of `x` reinterpreted as `dtype` (the last axis rescales when the item sizes differ)."""
    x = as_tensor(x)
    return x if dtype is None else x.view(to_torch_dtype(dtype))


# ---------------------------------------------------------------- identity-like matrices
@op("numpy")
def eye(N: int, M: Optional[int] = None, k: int = 0, dtype: Optional[str] = None) -> torch.Tensor:
    """An N x M tensor with ones on the `k`-th diagonal (floatx unless `dtype`)."""
    n = _count(N, "eye", "N")
    m = n if M is None else _count(M, "eye", "M")
    k = 0 if k is None else int(k)
    dt = _dtype(dtype)
    # tril/triu of ones leaves the k-th diagonal; it works for every dtype, unlike torch.eye's offsets.
    return torch.ones((n, m), dtype=dt, device=current_device()).tril(k).triu(k)


@op("numpy")
def identity(n: int, dtype: Optional[str] = None) -> torch.Tensor:
    """The n x n identity matrix (floatx unless `dtype`)."""
    return eye(n, dtype=dtype)


@op("numpy")
def tri(N: int, M: Optional[int] = None, k: int = 0, dtype: Optional[str] = None) -> torch.Tensor:
    """An N x M tensor with ones at and below the `k`-th diagonal (floatx unless `dtype`).

    M=0 gives an N x 0 tensor, as NumPy (Keras's torch backend treats M=0 as M=N).
    """
    n = _count(N, "tri", "N")
    m = n if M is None else _count(M, "tri", "M")
    return torch.ones((n, m), dtype=_dtype(dtype), device=current_device()).tril(k)


# ---------------------------------------------------------------- ranges
_INT_OR_NONE = (int, type(None))


@op("numpy")
def arange(start: Any, stop: Any = None, step: Any = None, dtype: Optional[str] = None) -> torch.Tensor:
    """Evenly spaced values in [start, stop) by `step`; the dtype promotes the arguments' (int32 for ints)."""
    if dtype is None and type(start) is int and type(stop) in _INT_OR_NONE and type(step) in _INT_OR_NONE and step != 0:
        # The common case, Python ints: result_type gives int32 for them (for any floatx but float16/bfloat16).
        if config.floatx() in ("float32", "float64"):
            if stop is None:
                start, stop = 0, start
            if step is None:  # torch parses the two-bound form faster
                return torch.arange(start, stop, dtype=torch.int32, device=current_device())
            return torch.arange(start, stop, step, dtype=torch.int32, device=current_device())
    if dtype is None:
        dtype = result_type(*[dtype_of(v) for v in (start, stop, step) if v is not None])
    if stop is None:
        start, stop = 0, start
    step = 1 if step is None else step
    if isinstance(step, (int, float)) and step == 0:
        raise ValueError("ops.arange: `step` must not be zero. Received: step=0.")
    # torch.arange reads tensor bounds on the host (a sync) when they are tensors.
    return torch.arange(start, stop, step, dtype=to_torch_dtype(dtype), device=current_device())


def _space_dtype(start: Any, stop: Any, dtype: Any) -> torch.dtype:
    if dtype is not None:
        return to_torch_dtype(standardize_dtype(dtype))
    bounds = [as_tensor(v) if isinstance(v, (list, tuple)) else v for v in (start, stop)]
    return to_torch_dtype(result_type(*[dtype_of(v) for v in bounds], float))


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.number)) and not isinstance(v, bool)


def _fractions(num: int, endpoint: bool, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The positions 0 .. 1 (or just below 1 without `endpoint`) of `num` evenly spaced points."""
    compute = dtype if dtype.is_floating_point else to_torch_dtype(config.floatx())
    steps = num - 1 if endpoint else num
    return torch.arange(num, device=device, dtype=compute) / max(steps, 1)


def _space(start: Any, stop: Any, num: int, endpoint: bool, dt: torch.dtype, axis: int, op_name: str) -> torch.Tensor:
    """`num` points from start to stop for tensor bounds, along a new `axis`."""
    if num < 0:
        raise ValueError(f"ops.{op_name}: `num` must be non-negative. Received: num={num}.")
    start, stop = as_tensors(start, stop)
    compute = dt if dt.is_floating_point else to_torch_dtype(config.floatx())
    start, stop = torch.broadcast_tensors(start.to(compute), stop.to(compute))
    frac = _fractions(num, endpoint, start.device, compute).reshape((num,) + (1,) * start.ndim)
    out = start.unsqueeze(0) + frac * (stop - start).unsqueeze(0)
    return torch.movedim(out, 0, canonical_axis(axis, out.ndim, op_name))


@op("numpy")
def linspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True, retstep: bool = False,
             dtype: Optional[str] = None, axis: int = 0) -> Any:
    """`num` evenly spaced values from `start` to `stop` (excluded unless `endpoint`), float-promoted.

    Tensor `start`/`stop` give one sequence per element, along a new `axis` (any axis;
    Keras's torch backend accepts only 0). With `retstep`, returns (values, step).
    """
    dt = _space_dtype(start, stop, dtype)
    if _is_number(start) and _is_number(stop) and axis in (0, -1):
        if num < 0:
            raise ValueError(f"ops.linspace: `num` must be non-negative. Received: num={num}.")
        step = (stop - start) / (num - 1 if endpoint else num) if num > (1 if endpoint else 0) else math.nan
        end = stop if endpoint or num <= 1 else stop - (stop - start) / num
        out = torch.linspace(start, end, num, dtype=dt, device=current_device())
    else:
        out = _space(start, stop, num, endpoint, dt, axis, "linspace").to(dt)
        if retstep:
            s, e = as_tensors(start, stop)
            step = (e - s) / (num - 1 if endpoint else num) if num > (1 if endpoint else 0) else math.nan
    return (out, step) if retstep else out


@op("numpy")
def logspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True, base: float = 10,
             dtype: Optional[str] = None, axis: int = 0) -> torch.Tensor:
    """`num` values `base ** e` for exponents evenly spaced from `start` to `stop`, float-promoted."""
    dt = _space_dtype(start, stop, dtype)
    if _is_number(start) and _is_number(stop) and axis in (0, -1):
        if num < 0:
            raise ValueError(f"ops.logspace: `num` must be non-negative. Received: num={num}.")
        end = stop if endpoint or num == 0 else stop - (stop - start) / num
        compute = torch.float32 if dt == torch.float16 and current_device().type == "cpu" else dt
        return torch.logspace(start, end, num, base=base, dtype=compute, device=current_device()).to(dt)
    exponents = _space(start, stop, num, endpoint, dt, axis, "logspace")
    return torch.pow(base, exponents).to(dt)


@op("numpy")
def geomspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True, dtype: Optional[str] = None,
              axis: int = 0) -> torch.Tensor:
    """`num` values evenly spaced on a log scale from `start` to `stop` (same sign, not zero)."""
    if (_is_number(start) and start == 0) or (_is_number(stop) and stop == 0):
        raise ValueError(
            f"ops.geomspace: a geometric sequence cannot include zero. Received: start={start}, stop={stop}."
        )
    dt = _space_dtype(start, stop, dtype)
    compute = dt if dt.is_floating_point else to_torch_dtype(config.floatx())
    start, stop = as_tensors(start, stop)
    start, stop = start.to(compute), stop.to(compute)
    exponents = _space(torch.log10(torch.abs(start)), torch.log10(torch.abs(stop)), num, endpoint, compute, 0,
                       "geomspace")
    out = torch.pow(10, exponents) * torch.sign(start)
    return torch.movedim(out, 0, canonical_axis(axis, out.ndim, "geomspace")).to(dt)


@op("numpy")
def meshgrid(*x: Any, indexing: str = "xy") -> Tuple[torch.Tensor, ...]:
    """Coordinate grids from 1-D coordinate vectors; 'xy' (Cartesian) or 'ij' (matrix) indexing.

    Vectors of different dtypes are promoted to a common one (Keras's torch backend raises).
    """
    if indexing not in ("xy", "ij"):
        raise ValueError(f"ops.meshgrid: indexing must be 'xy' or 'ij'. Received: indexing={indexing!r}.")
    xs = as_tensors(*x)
    if len({t.dtype for t in xs}) > 1:
        common = to_torch_dtype(result_type(*[dtype_of(t) for t in xs]))
        xs = [t.to(common) for t in xs]
    return tuple(torch.meshgrid(*xs, indexing=indexing))


# ---------------------------------------------------------------- windows
def _window(fn: Any, x: Any, op_name: str, **kwargs: Any) -> torch.Tensor:
    m = _count(x, op_name, "x")
    if m < 0:
        raise ValueError(f"ops.{op_name}: the window length must be non-negative. Received: x={m}.")
    return fn(m, device=current_device(), **kwargs)


@op("numpy")
def bartlett(x: int) -> torch.Tensor:
    """The Bartlett (triangular) window of `x` points (float32, as torch's default dtype)."""
    return _window(torch.signal.windows.bartlett, x, "bartlett")


@op("numpy")
def blackman(x: int) -> torch.Tensor:
    """The Blackman window of `x` points."""
    return _window(torch.signal.windows.blackman, x, "blackman")


@op("numpy")
def hamming(x: int) -> torch.Tensor:
    """The Hamming window of `x` points."""
    return _window(torch.signal.windows.hamming, x, "hamming")


@op("numpy")
def hanning(x: int) -> torch.Tensor:
    """The Hann window of `x` points."""
    return _window(torch.signal.windows.hann, x, "hanning")


@op("numpy")
def kaiser(x: int, beta: float) -> torch.Tensor:
    """The Kaiser window of `x` points with shape parameter `beta`."""
    return _window(torch.signal.windows.kaiser, x, "kaiser", beta=float(beta))


_CREATION = [
    "arange", "array", "bartlett", "blackman", "copy", "empty", "empty_like", "eye", "full", "full_like",
    "geomspace", "hamming", "hanning", "identity", "kaiser", "linspace", "logspace", "meshgrid", "ones", "ones_like",
    "tri", "view", "zeros", "zeros_like",
]
__all__ = sorted(_CREATION + numpy_shape.__all__ + numpy_index.__all__ + numpy_linear.__all__)
