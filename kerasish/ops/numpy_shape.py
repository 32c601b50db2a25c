"""Keras's `ops.numpy` shape and layout ops on torch: reshape, transpose, flips, pads, diagonals.

These ops move or copy elements without arithmetic, so the result keeps the input's
dtype. The public helpers at the top (not in `__all__`) are shared with the other
`numpy_*` array modules: tensor conversion onto the inputs' device, and axis checks
whose errors name the op, the received axis and the valid range.
"""

from __future__ import annotations

import difflib
from typing import Any, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

from kerasish.ops.dtypes import convert_to_tensor
from kerasish.ops.operation import op

Axis = Optional[Union[int, Sequence[int]]]


# ---------------------------------------------------------------- helpers (shared with numpy_index/linear/array)
def as_tensors(*xs: Any) -> List[torch.Tensor]:
    """Each argument as a tensor (Keras's conversion); non-tensors go on the first tensor argument's device."""
    for x in xs:
        if not isinstance(x, torch.Tensor):
            break
    else:  # the common case: nothing to convert
        return list(xs)
    like = next((x for x in xs if isinstance(x, torch.Tensor)), None)
    device = None if like is None else like.device
    return [x if isinstance(x, torch.Tensor) else convert_to_tensor(x, device=device) for x in xs]


def as_tensor(x: Any) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else convert_to_tensor(x)


def canonical_axis(axis: int, ndim: int, op_name: str, arg: str = "axis") -> int:
    """`axis` in [0, ndim), or a ValueError naming the op, the axis and the valid range."""
    if not isinstance(axis, int) or isinstance(axis, bool):
        raise TypeError(f"ops.{op_name}: `{arg}` must be an int. Received: {arg}={axis!r} ({type(axis).__name__}).")
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"ops.{op_name}: {arg}={axis} is out of range for a tensor of rank {ndim}. Expected an axis in "
            f"[{-ndim}, {ndim - 1}]" + (" (a rank-0 tensor has no axes)." if ndim == 0 else ".")
        )
    return axis % ndim


def canonical_axes(axis: Union[int, Sequence[int]], ndim: int, op_name: str, arg: str = "axis") -> Tuple[int, ...]:
    """One or more axes in [0, ndim); repeated axes are an error."""
    axes = tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)
    out = tuple(canonical_axis(a, ndim, op_name, arg) for a in axes)
    if len(set(out)) != len(out):
        raise ValueError(f"ops.{op_name}: `{arg}` names an axis twice. Received: {arg}={axis!r}.")
    return out


def int_sequence(value: Any, op_name: str, arg: str) -> Tuple[int, ...]:
    """A shape-like argument (int, sequence of ints, or an integer tensor) as a tuple of Python ints."""
    if isinstance(value, torch.Tensor):
        return tuple(int(v) for v in value.reshape(-1).tolist())  # host sync: a tensor shape argument is data
    if isinstance(value, int):
        return (value,)
    try:
        return tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(
            f"ops.{op_name}: `{arg}` must be an int or a sequence of ints. Received: {arg}={value!r}."
        ) from None


def shape_of(x: torch.Tensor) -> Tuple[int, ...]:
    return tuple(x.shape)


# ---------------------------------------------------------------- reshaping
@op("numpy")
def reshape(x: Any, newshape: Any) -> torch.Tensor:
    """`x` with shape `newshape`; one entry may be -1 (inferred)."""
    if isinstance(x, torch.Tensor) and type(newshape) in (tuple, list):
        try:  # the common case; torch rejects every shape the checks below reject
            return torch.reshape(x, newshape)
        except (RuntimeError, TypeError):
            pass  # the checked path below says what is wrong (or converts what torch would not take)
    x = as_tensor(x)
    shape = int_sequence(newshape, "reshape", "newshape")
    if any(d < -1 for d in shape) or shape.count(-1) > 1:
        raise ValueError(
            "ops.reshape: each entry of `newshape` must be a non-negative integer, or -1 for one inferred "
            f"dimension (at most one). Received: newshape={shape}."
        )
    known = 1
    for d in shape:
        known *= d if d != -1 else 1
    n = x.numel()
    if (-1 in shape and (known == 0 or n % known)) or (-1 not in shape and known != n):
        raise ValueError(
            f"ops.reshape cannot reshape a tensor of shape {shape_of(x)} ({n} elements) into "
            f"newshape={shape}. The new shape must hold the same number of elements."
        )
    return torch.reshape(x, shape)


@op("numpy")
def ravel(x: Any) -> torch.Tensor:
    """`x` flattened to 1-D."""
    return torch.ravel(as_tensor(x))


@op("numpy")
def expand_dims(x: Any, axis: Union[int, Sequence[int]]) -> torch.Tensor:
    """`x` with new size-1 axes at `axis` (positions in the result)."""
    if isinstance(x, torch.Tensor) and type(axis) is int and -x.ndim - 1 <= axis <= x.ndim:  # the common case
        return torch.unsqueeze(x, axis)
    x = as_tensor(x)
    count = 1 if isinstance(axis, int) else len(tuple(axis))
    for a in sorted(canonical_axes(axis, x.ndim + count, "expand_dims")):
        x = torch.unsqueeze(x, a)
    return x


@op("numpy")
def squeeze(x: Any, axis: Axis = None) -> torch.Tensor:
    """`x` without its size-1 axes (or only those in `axis`, which must have size 1).

    Differs from Keras's torch backend, which silently keeps a named axis of size > 1:
    kerasish raises, as Keras's other backends and its symbolic shapes do.
    """
    x = as_tensor(x)
    if axis is None:
        return torch.squeeze(x)
    axes = canonical_axes(axis, x.ndim, "squeeze")
    bad = [a for a in axes if x.shape[a] != 1]
    if bad:
        raise ValueError(
            f"ops.squeeze cannot squeeze axis {bad[0]} of a tensor of shape {shape_of(x)}: its size is "
            f"{x.shape[bad[0]]}, not 1. Received: axis={axis!r}. Pass only axes of size 1, or axis=None."
        )
    return torch.squeeze(x, dim=axes)


@op("numpy")
def transpose(x: Any, axes: Optional[Sequence[int]] = None) -> torch.Tensor:
    """`x` with its axes permuted by `axes` (reversed when None)."""
    x = as_tensor(x)
    if axes is None:
        if x.ndim == 2:  # the common case; the varargs form is torch's fastest
            return x.permute(1, 0)
        return x.permute(tuple(range(x.ndim - 1, -1, -1)))
    perm = canonical_axes(tuple(axes), x.ndim, "transpose", "axes")
    if len(perm) != x.ndim:
        raise ValueError(
            f"ops.transpose: `axes` must be a permutation of all {x.ndim} axes of a tensor of shape "
            f"{shape_of(x)}. Received: axes={tuple(axes)}."
        )
    return x.permute(perm)


@op("numpy")
def swapaxes(x: Any, axis1: int, axis2: int) -> torch.Tensor:
    """`x` with `axis1` and `axis2` exchanged."""
    x = as_tensor(x)
    a = canonical_axis(axis1, x.ndim, "swapaxes", "axis1")
    b = canonical_axis(axis2, x.ndim, "swapaxes", "axis2")
    return torch.swapaxes(x, a, b)


@op("numpy")
def moveaxis(x: Any, source: Union[int, Sequence[int]], destination: Union[int, Sequence[int]]) -> torch.Tensor:
    """`x` with the axes `source` moved to positions `destination`."""
    x = as_tensor(x)
    src = canonical_axes(source, x.ndim, "moveaxis", "source")
    dst = canonical_axes(destination, x.ndim, "moveaxis", "destination")
    if len(src) != len(dst):
        raise ValueError(
            "ops.moveaxis: `source` and `destination` must name as many axes. "
            f"Received: source={source!r}, destination={destination!r}."
        )
    return torch.movedim(x, src, dst)


@op("numpy")
def broadcast_to(x: Any, shape: Sequence[int]) -> torch.Tensor:
    """`x` broadcast to `shape` (a view, no copy)."""
    x = as_tensor(x)
    shape = int_sequence(shape, "broadcast_to", "shape")
    try:
        return torch.broadcast_to(x, shape)
    except RuntimeError:
        raise ValueError(
            f"ops.broadcast_to cannot broadcast a tensor of shape {shape_of(x)} to shape={shape}: each axis "
            "of x (aligned from the right) must be 1 or equal to the target's."
        ) from None


@op("numpy")
def ndim(x: Any) -> int:
    """The number of axes of `x` (a Python int)."""
    return as_tensor(x).ndim


@op("numpy")
def size(x: Any) -> torch.Tensor:
    """The number of elements of `x`, as a 0-d int64 tensor (as Keras's torch backend returns)."""
    x = as_tensor(x)
    return torch.tensor(x.numel(), dtype=torch.int64, device=x.device)


# ---------------------------------------------------------------- flips, rolls, repeats
@op("numpy")
def flip(x: Any, axis: Axis = None) -> torch.Tensor:
    """`x` reversed along `axis` (all axes when None)."""
    x = as_tensor(x)
    axes = tuple(range(x.ndim)) if axis is None else canonical_axes(axis, x.ndim, "flip")
    return torch.flip(x, axes)


def _require_rank(x: torch.Tensor, rank: int, op_name: str) -> None:
    if x.ndim < rank:
        raise ValueError(
            f"ops.{op_name} needs a tensor with at least {rank} dimension{'s' if rank > 1 else ''}. "
            f"Received: x.shape={shape_of(x)}."
        )


@op("numpy")
def fliplr(x: Any) -> torch.Tensor:
    """`x` reversed along axis 1 (at least 2-D)."""
    x = as_tensor(x)
    _require_rank(x, 2, "fliplr")
    return torch.fliplr(x)


@op("numpy")
def flipud(x: Any) -> torch.Tensor:
    """`x` reversed along axis 0 (at least 1-D)."""
    x = as_tensor(x)
    _require_rank(x, 1, "flipud")
    return torch.flipud(x)


@op("numpy")
def rot90(array: Any, k: int = 1, axes: Tuple[int, int] = (0, 1)) -> torch.Tensor:
    """`array` rotated by 90 degrees `k` times in the plane of `axes` (from the first towards the second)."""
    x = as_tensor(array)
    if x.ndim < 2:
        raise ValueError(f"ops.rot90 needs an array with at least 2 dimensions. Received: array.ndim={x.ndim}.")
    if len(axes) != 2:
        raise ValueError(f"ops.rot90: `axes` must name two axes. Received: axes={axes!r}.")
    plane = canonical_axes(tuple(axes), x.ndim, "rot90", "axes")
    return torch.rot90(x, k, plane)


@op("numpy")
def roll(x: Any, shift: Union[int, Sequence[int]], axis: Axis = None) -> torch.Tensor:
    """`x` rolled by `shift` along `axis` (over the flattened tensor when None)."""
    x = as_tensor(x)
    if axis is None:
        return torch.roll(x, shift)
    axes = (canonical_axis(axis, x.ndim, "roll"),) if isinstance(axis, int) else tuple(
        canonical_axis(a, x.ndim, "roll") for a in axis)
    shifts = (shift,) * len(axes) if isinstance(shift, int) and len(axes) > 1 else shift
    return torch.roll(x, shifts, axes)


@op("numpy")
def repeat(x: Any, repeats: Any, axis: Optional[int] = None) -> torch.Tensor:
    """Each element of `x` repeated `repeats` times along `axis` (of the flattened `x` when None)."""
    x = as_tensor(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    axis = canonical_axis(axis, x.ndim, "repeat")
    if isinstance(repeats, int):
        # A static output shape, without repeat_interleave's data-dependent size.
        shape = list(x.shape)
        expanded = x.unsqueeze(axis + 1).expand(*shape[: axis + 1], repeats, *shape[axis + 1:])
        shape[axis] *= repeats
        return expanded.reshape(shape)
    if isinstance(repeats, torch.Tensor):
        # host sync: the output length is the sum of a tensor's values
        return torch.repeat_interleave(x, repeats.to(device=x.device, dtype=torch.int64), dim=axis)
    counts = [int(r) for r in repeats]
    if len(counts) not in (1, x.shape[axis]):
        raise ValueError(
            f"ops.repeat: `repeats` must hold one count or one per element along axis {axis} "
            f"({x.shape[axis]}). Received {len(counts)} counts for x.shape={shape_of(x)}."
        )
    if len(counts) == 1:
        return repeat(x, counts[0], axis=axis)
    index = torch.tensor(counts, dtype=torch.int64, device=x.device)
    return torch.repeat_interleave(x, index, dim=axis, output_size=sum(counts))


@op("numpy")
def tile(x: Any, repeats: Any) -> torch.Tensor:
    """`x` repeated as a whole `repeats` times along each axis."""
    return torch.tile(as_tensor(x), int_sequence(repeats, "tile", "repeats"))


# ---------------------------------------------------------------- triangles and diagonals
@op("numpy")
def tril(x: Any, k: int = 0) -> torch.Tensor:
    """`x` with the elements above the `k`-th diagonal zeroed (last two axes)."""
    x = as_tensor(x)
    _require_rank(x, 2, "tril")
    return torch.tril(x, diagonal=k)


@op("numpy")
def triu(x: Any, k: int = 0) -> torch.Tensor:
    """`x` with the elements below the `k`-th diagonal zeroed (last two axes)."""
    x = as_tensor(x)
    _require_rank(x, 2, "triu")
    return torch.triu(x, diagonal=k)


@op("numpy")
def diag(x: Any, k: int = 0) -> torch.Tensor:
    """The `k`-th diagonal of a 2-D `x`, or a 2-D tensor with the 1-D `x` on its `k`-th diagonal."""
    x = as_tensor(x)
    if x.ndim not in (1, 2):
        raise ValueError(f"ops.diag needs a 1-D or 2-D tensor. Received: x.shape={shape_of(x)}.")
    return torch.diag(x, diagonal=k)


@op("numpy")
def diagflat(x: Any, k: int = 0) -> torch.Tensor:
    """A 2-D tensor with the flattened `x` on its `k`-th diagonal."""
    return torch.diagflat(as_tensor(x), offset=k)


@op("numpy")
def diagonal(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> torch.Tensor:
    """The diagonal of `x` in the plane (`axis1`, `axis2`), moved to the last axis."""
    x = as_tensor(x)
    a = canonical_axis(axis1, x.ndim, "diagonal", "axis1")
    b = canonical_axis(axis2, x.ndim, "diagonal", "axis2")
    if a == b:
        raise ValueError(
            f"ops.diagonal: `axis1` and `axis2` cannot be the same. Received: axis1={axis1}, axis2={axis2}."
        )
    return torch.diagonal(x, offset=offset, dim1=a, dim2=b)


# ---------------------------------------------------------------- pad
_PAD_MODES = ("constant", "edge", "reflect", "wrap")
_NUMPY_ONLY_PAD_MODES = ("symmetric", "linear_ramp", "maximum", "mean", "median", "minimum", "empty")


def _pad_pairs(pad_width: Any, ndim: int) -> List[Tuple[int, int]]:
    if isinstance(pad_width, int):
        pairs = [(pad_width, pad_width)]
    else:
        pad_width = list(pad_width)
        if pad_width and all(isinstance(p, int) for p in pad_width):
            pad_width = [tuple(pad_width)]
        pairs = []
        for pw in pad_width:
            pw = tuple(int(p) for p in pw)
            if len(pw) not in (1, 2):
                raise ValueError(
                    f"ops.pad: each entry of `pad_width` must be (before, after) or (both,). Received: {pw}."
                )
            pairs.append((pw[0], pw[-1]))
    if len(pairs) == 1 and ndim > 1:
        raise NotImplementedError(
            f"ops.pad with one (before, after) pair for a {ndim}-D tensor is ambiguous in Keras: its "
            "documentation pads every axis, its torch backend only the last. kerasish refuses rather than "
            f"pick one. Pass one pair per axis, e.g. pad_width={[pairs[0]] * ndim}."
        )
    if len(pairs) != ndim:
        raise ValueError(
            f"ops.pad: `pad_width` must have one (before, after) pair per axis of x ({ndim}). "
            f"Received {len(pairs)} pairs: pad_width={pairs}."
        )
    if any(p < 0 for pair in pairs for p in pair):
        raise ValueError(f"ops.pad: pad widths must be non-negative. Received: pad_width={pairs}.")
    return pairs


def _pad_index(n: int, before: int, after: int, mode: str, device: torch.device) -> torch.Tensor:
    """The source index of each padded position along one axis."""
    i = torch.arange(-before, n + after, device=device)
    if mode == "edge" or (mode == "reflect" and n == 1):
        return i.clamp(0, n - 1)
    if mode == "wrap":
        return torch.remainder(i, n)
    period = 2 * (n - 1)  # reflect: mirror about the edge elements, which are not repeated
    i = torch.remainder(i, period)
    return torch.where(i >= n, period - i, i)


@op("numpy")
def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: Any = None) -> torch.Tensor:
    """`x` padded by `pad_width` ((before, after) per axis) in `mode`.

    Modes 'constant' (with scalar `constant_values`, default 0), 'edge', 'reflect' and
    'wrap' follow NumPy; 'edge' and 'wrap' are beyond Keras's torch backend (which
    raises for them). 'symmetric' raises NotImplementedError: Keras's torch backend
    returns 'edge' padding for it, unlike its documentation.
    """
    x = as_tensor(x)
    if constant_values is not None and mode != "constant":
        raise ValueError(
            f"ops.pad: `constant_values` can only be given with mode='constant'. Received: mode={mode!r}."
        )
    if mode == "symmetric":
        raise NotImplementedError(
            "ops.pad(mode='symmetric') is not supported: Keras's torch backend returns mode='edge' padding "
            "for it, unlike its documentation and other backends. Use mode='edge' for what Keras-on-torch "
            "computes, or mode='reflect'."
        )
    if mode in _NUMPY_ONLY_PAD_MODES:
        raise NotImplementedError(
            f"ops.pad(mode={mode!r}) is not supported (Keras's torch backend lacks it too). "
            f"Supported modes: {list(_PAD_MODES)}."
        )
    if mode not in _PAD_MODES:
        close = difflib.get_close_matches(str(mode), _PAD_MODES, n=1)
        raise ValueError(
            f"ops.pad: unknown mode={mode!r}. Expected one of {list(_PAD_MODES)}"
            + (f"; did you mean {close[0]!r}?" if close else ".")
        )
    pairs = _pad_pairs(pad_width, x.ndim)
    if mode == "constant":
        value = 0 if constant_values is None else constant_values
        if isinstance(value, torch.Tensor) and value.ndim == 0:
            value = value.item()  # host sync: F.pad takes the fill value as a Python number
        if not isinstance(value, (int, float, bool)):
            raise ValueError(
                f"ops.pad: `constant_values` must be a scalar. Received: constant_values={constant_values!r}."
            )
        flat = [w for pair in reversed(pairs) for w in pair]
        return F.pad(x, flat, mode="constant", value=value)
    for axis, (before, after) in enumerate(pairs):
        if before == 0 and after == 0:
            continue
        if x.shape[axis] == 0:
            raise ValueError(f"ops.pad(mode={mode!r}) cannot pad the empty axis {axis} of x.shape={shape_of(x)}.")
        x = x.index_select(axis, _pad_index(x.shape[axis], before, after, mode, x.device))
    return x


__all__ = [
    "broadcast_to", "diag", "diagflat", "diagonal", "expand_dims", "flip", "fliplr", "flipud", "moveaxis", "ndim",
    "pad", "ravel", "repeat", "reshape", "roll", "rot90", "size", "squeeze", "swapaxes", "tile", "transpose",
    "tril", "triu",
]
