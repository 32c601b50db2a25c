"""Keras's `ops.numpy` joining, splitting, indexing, sorting and set ops on torch.

Ops whose output size depends on the data (`nonzero`, one-argument `where`, `unique`,
`bincount`, `repeat` with tensor counts) wait for the device to know that size: each is
marked `# host sync` where it happens.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple, Union

import torch

from kerasish import config
from kerasish.ops.dtypes import dtype_of, result_type, to_torch_dtype
from kerasish.ops.numpy_math import weak_scalar
from kerasish.ops.numpy_shape import as_tensor, as_tensors, canonical_axis, int_sequence, shape_of
from kerasish.ops.operation import op

Sections = Union[int, Sequence[int], torch.Tensor]
_FLOAT32_MAX = 3.4028234663852886e38
_INDEX_DTYPES = (torch.int32, torch.int64)


# ---------------------------------------------------------------- joining
def _same_shapes_except(xs: List[torch.Tensor], axis: Optional[int], op_name: str) -> None:
    shapes = [shape_of(x) for x in xs]
    ranks = {len(s) for s in shapes}
    ok = len(ranks) == 1 and len({s[:axis] + s[axis + 1:] if axis is not None else s for s in shapes}) == 1
    if not ok:
        where = f"except along axis={axis}" if axis is not None else ""
        raise ValueError(f"ops.{op_name}: all inputs must have the same shape {where}. Received shapes {shapes}.")


def _common_rank(xs: Any) -> int:
    """The rank of the tensors `xs` (a non-empty list or tuple of tensors of one rank), else -1.

    Given such `xs`, torch.cat and torch.stack check all that `concatenate` and `stack`
    check, except the range of a concatenation axis (torch.cat skips 1-D empty tensors,
    also when that leaves no others, and then ignores the axis).
    """
    if type(xs) is not list and type(xs) is not tuple or not xs or not isinstance(xs[0], torch.Tensor):
        return -1
    ndim = xs[0].ndim
    for x in xs:
        if not isinstance(x, torch.Tensor) or x.ndim != ndim:
            return -1
    return ndim


@op("numpy")
def concatenate(xs: Sequence[Any], axis: int = 0) -> torch.Tensor:
    """The tensors `xs` joined along an existing `axis`."""
    rank = _common_rank(xs) if type(axis) is int else -1
    if rank >= 0 and -rank <= axis < rank:
        try:  # the common case; on failure the checked path below says what is wrong
            return torch.cat(xs, axis)
        except (RuntimeError, IndexError):
            pass
    xs = as_tensors(*xs)
    if not xs:
        raise ValueError("ops.concatenate needs at least one tensor. Received: xs=[].")
    if axis is None:
        return torch.cat([x.reshape(-1) for x in xs])
    axis = canonical_axis(axis, xs[0].ndim, "concatenate")
    _same_shapes_except(xs, axis, "concatenate")
    return torch.cat(xs, dim=axis)


@op("numpy")
def append(x1: Any, x2: Any, axis: Optional[int] = None) -> torch.Tensor:
    """`x2` appended to `x1` along `axis` (both flattened when None)."""
    x1, x2 = as_tensors(x1, x2)
    if axis is None:
        return torch.cat((x1.reshape(-1), x2.reshape(-1)))
    return concatenate([x1, x2], axis=axis)


@op("numpy")
def stack(x: Sequence[Any], axis: int = 0) -> torch.Tensor:
    """The same-shape tensors `x` joined along a new `axis`."""
    if type(axis) is int and _common_rank(x) >= 0:
        try:  # the common case; on failure the checked path below says what is wrong
            return torch.stack(x, axis)
        except (RuntimeError, IndexError):
            pass
    xs = as_tensors(*x)
    if not xs:
        raise ValueError("ops.stack needs at least one tensor. Received: x=[].")
    _same_shapes_except(xs, None, "stack")
    return torch.stack(xs, dim=canonical_axis(axis, xs[0].ndim + 1, "stack"))


@op("numpy")
def hstack(xs: Sequence[Any]) -> torch.Tensor:
    """`xs` joined along axis 1 (axis 0 for 1-D tensors)."""
    return torch.hstack(as_tensors(*xs))


@op("numpy")
def vstack(xs: Sequence[Any]) -> torch.Tensor:
    """`xs` joined along axis 0, 1-D tensors as rows."""
    return torch.vstack(as_tensors(*xs))


@op("numpy")
def dstack(xs: Sequence[Any]) -> torch.Tensor:
    """`xs` joined along axis 2, lower-rank tensors first made 3-D."""
    return torch.dstack(as_tensors(*xs))


# ---------------------------------------------------------------- splitting
def _sections(indices_or_sections: Sections, op_name: str) -> Union[int, List[int]]:
    if isinstance(indices_or_sections, int):
        if indices_or_sections <= 0:
            raise ValueError(
                f"ops.{op_name}: a number of sections must be positive. "
                f"Received: indices_or_sections={indices_or_sections}."
            )
        return indices_or_sections
    return list(int_sequence(indices_or_sections, op_name, "indices_or_sections"))


@op("numpy")
def split(x: Any, indices_or_sections: Sections, axis: int = 0) -> List[torch.Tensor]:
    """`x` split along `axis` into equal sections (an int, which must divide the axis) or at the given indices."""
    x = as_tensor(x)
    axis = canonical_axis(axis, x.ndim, "split")
    sections = _sections(indices_or_sections, "split")
    if isinstance(sections, int) and x.shape[axis] % sections:
        raise ValueError(
            f"ops.split: indices_or_sections={sections} (a number of sections) does not divide "
            f"x.shape[{axis}]={x.shape[axis]} (x.shape={shape_of(x)}). Use ops.array_split for unequal "
            "sections, or pass split indices."
        )
    return list(torch.tensor_split(x, sections, dim=axis))


@op("numpy")
def array_split(x: Any, indices_or_sections: Sections, axis: int = 0) -> List[torch.Tensor]:
    """`x` split along `axis` into sections that may differ in size by one (or at the given indices)."""
    x = as_tensor(x)
    axis = canonical_axis(axis, x.ndim, "array_split")
    return list(torch.tensor_split(x, _sections(indices_or_sections, "array_split"), dim=axis))


def _directional_split(x: Any, indices_or_sections: Sections, axis: int, rank: int, op_name: str) -> List[torch.Tensor]:
    x = as_tensor(x)
    if x.ndim < rank:
        raise ValueError(
            f"ops.{op_name} needs a tensor with at least {rank} dimensions. Received: x.shape={shape_of(x)}."
        )
    return split(x, indices_or_sections, axis=axis if x.ndim > 1 else 0)


@op("numpy")
def hsplit(x: Any, indices_or_sections: Sections) -> List[torch.Tensor]:
    """`x` split along axis 1 (axis 0 for 1-D tensors)."""
    return _directional_split(x, indices_or_sections, 1, 1, "hsplit")


@op("numpy")
def vsplit(x: Any, indices_or_sections: Sections) -> List[torch.Tensor]:
    """`x` split along axis 0 (at least 2-D)."""
    return _directional_split(x, indices_or_sections, 0, 2, "vsplit")


@op("numpy")
def dsplit(x: Any, indices_or_sections: Sections) -> List[torch.Tensor]:
    """`x` split along axis 2 (at least 3-D)."""
    return _directional_split(x, indices_or_sections, 2, 3, "dsplit")


# ---------------------------------------------------------------- indexing
@op("numpy")
def get_item(x: Any, key: Any) -> torch.Tensor:
    """`x[key]` (ints, slices, None, Ellipsis, integer or boolean index tensors)."""
    return as_tensor(x)[key]


def _wrap_negative(indices: Any, n: int, like: torch.Tensor) -> torch.Tensor:
    """`indices` as int64 on `like`'s device, negative ones counted back from `n`."""
    idx = as_tensors(like, indices)[1].to(device=like.device, dtype=torch.int64)
    return torch.where(idx < 0, idx + n, idx)


@op("numpy")
def take(x: Any, indices: Any, axis: Optional[int] = None) -> torch.Tensor:
    """The elements of `x` at `indices` along `axis` (of the flattened `x` when None); negative indices count back.

    With axis=None, a negative index counts back from the end of the flattened `x`, as in
    NumPy and Keras's documentation (Keras's torch backend counts from `x.shape[0]`).
    """
    if (isinstance(x, torch.Tensor) and isinstance(indices, torch.Tensor) and indices.ndim
            and indices.dtype in _INDEX_DTYPES and indices.get_device() == x.get_device()
            and (axis is None or type(axis) is int and -x.ndim <= axis < x.ndim)):
        # The common cases, as one torch call; whatever they reject (negative or out-of-range
        # indices) takes the path below, which counts back or raises its error.
        source, dim = (x.reshape(-1), 0) if axis is None else (x, axis % x.ndim)
        try:
            if x.is_cpu and indices.ndim == 1:  # index_select raises on negative indices on the CPU
                return torch.index_select(source, dim, indices)
            if not x.is_cpu:  # advanced indexing counts negative indices back (and copies: ndim > 0)
                return source[indices] if dim == 0 else source[(slice(None),) * dim + (indices,)]
        except (IndexError, RuntimeError):
            pass
    x = as_tensor(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    axis = canonical_axis(axis, x.ndim, "take")
    idx = _wrap_negative(indices, x.shape[axis], x)
    out = torch.index_select(x, axis, idx.reshape(-1))
    return out.reshape(x.shape[:axis] + idx.shape + x.shape[axis + 1:])


@op("numpy")
def take_along_axis(x: Any, indices: Any, axis: Optional[int] = None) -> torch.Tensor:
    """The elements of `x` at `indices` (same rank, broadcast) along `axis`; None uses the flattened `x`.

    As `take`, a negative index with axis=None counts back from the end of the flattened `x`.
    """
    x = as_tensor(x)
    if axis is None:
        idx = _wrap_negative(indices, x.numel(), x)
        return torch.take_along_dim(x.reshape(-1), idx.reshape(-1))
    axis = canonical_axis(axis, x.ndim, "take_along_axis")
    idx = _wrap_negative(indices, x.shape[axis], x)
    if idx.ndim != x.ndim:
        raise ValueError(
            f"ops.take_along_axis: `indices` must have the rank of x ({x.ndim}). "
            f"Received: indices.shape={shape_of(idx)}, x.shape={shape_of(x)}."
        )
    return torch.take_along_dim(x, idx, dim=axis)


@op("numpy")
def where(condition: Any, x1: Any = None, x2: Any = None) -> torch.Tensor:
    """`x1` where `condition` is true, else `x2`; with only `condition`, the (ndim, n) int64 indices of true entries."""
    if (x1 is None) != (x2 is None):
        raise ValueError(
            "ops.where: `x1` and `x2` must both be given (to choose between them) or both be None (to get the "
            f"indices where condition is true). Received: x1={'None' if x1 is None else 'a value'}, "
            f"x2={'None' if x2 is None else 'a value'}."
        )
    if (isinstance(condition, torch.Tensor) and condition.dtype is torch.bool and isinstance(x1, torch.Tensor)
            and (isinstance(x2, torch.Tensor) or (weak_scalar(x1, x2) and -_FLOAT32_MAX <= x2 <= _FLOAT32_MAX))):
        # The common case, without conversions. (torch.where refuses a finite scalar beyond float32's
        # range, where the converted 0-d tensor holds inf: those take the path below.)
        return torch.where(condition, x1, x2)
    if x1 is None:
        cond = as_tensor(condition).to(torch.bool)
        # host sync: the number of true entries sets the output shape
        return torch.stack(torch.where(cond), dim=0)
    cond, x1, x2 = as_tensors(condition, x1, x2)
    return torch.where(cond.to(torch.bool), x1, x2)


@op("numpy")
def select(condlist: Sequence[Any], choicelist: Sequence[Any], default: Any = 0) -> torch.Tensor:
    """For each element, the entry of the first choice whose condition is true, else `default`."""
    if not isinstance(condlist, (list, tuple)) or not isinstance(choicelist, (list, tuple)):
        raise ValueError(
            "ops.select: condlist and choicelist must be lists. "
            f"Received: {type(condlist).__name__} and {type(choicelist).__name__}."
        )
    if not condlist or len(condlist) != len(choicelist):
        raise ValueError(
            "ops.select: condlist and choicelist must be non-empty and of the same length. "
            f"Received lengths {len(condlist)} and {len(choicelist)}."
        )
    everything = as_tensors(*condlist, *choicelist, default)
    conds, choices, out = everything[: len(condlist)], everything[len(condlist): -1], everything[-1]
    for cond, choice in zip(reversed(conds), reversed(choices)):
        out = torch.where(cond.to(torch.bool), choice, out)
    return out


@op("numpy")
def nonzero(x: Any) -> torch.Tensor:
    """The (ndim, n) int32 indices of the non-zero entries of `x` (one row per axis, as Keras's torch backend)."""
    # host sync: the number of non-zero entries sets the output shape
    return torch.nonzero(as_tensor(x)).T.to(torch.int32)


@op("numpy")
def unravel_index(indices: Any, shape: Sequence[int]) -> Tuple[torch.Tensor, ...]:
    """The coordinates in an array of `shape` of the flat `indices`, one tensor per axis."""
    indices = as_tensor(indices)
    dtype = to_torch_dtype(result_type(dtype_of(indices)))
    coords = torch.unravel_index(indices, int_sequence(shape, "unravel_index", "shape"))
    return tuple(c.to(dtype) for c in coords)


# ---------------------------------------------------------------- sorting and searching
def _sortable(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.uint8) if x.dtype == torch.bool else x


@op("numpy")
def sort(x: Any, axis: Optional[int] = -1) -> torch.Tensor:
    """`x` sorted ascending along `axis` (the flattened `x` when None)."""
    x = as_tensor(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    axis = canonical_axis(axis, x.ndim, "sort")
    return torch.sort(_sortable(x), dim=axis).values.to(x.dtype)


@op("numpy")
def argsort(x: Any, axis: Optional[int] = -1) -> torch.Tensor:
    """The int32 indices that sort `x` along `axis` (stable; the flattened `x` when None)."""
    x = as_tensor(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    axis = canonical_axis(axis, x.ndim, "argsort")
    return torch.argsort(_sortable(x), dim=axis, stable=True).to(torch.int32)


@op("numpy")
def argpartition(x: Any, kth: int, axis: Optional[int] = -1) -> torch.Tensor:
    """int32 indices that put the `kth` element of `x` in sorted place along `axis`, smaller ones before it.

    kerasish returns the (stable) full sort order, which satisfies the partition
    contract; the order within each side is unspecified, as in NumPy, and differs from
    Keras's torch backend (which also casts float inputs to int32 first, so its
    partition of floats can be wrong).
    """
    x = as_tensor(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    axis = canonical_axis(axis, x.ndim, "argpartition")
    n = x.shape[axis]
    if not -n <= kth < n:
        raise ValueError(f"ops.argpartition: kth={kth} is out of range for an axis of size {n}.")
    return torch.argsort(_sortable(x), dim=axis, stable=True).to(torch.int32)


@op("numpy")
def searchsorted(sorted_sequence: Any, values: Any, side: str = "left") -> torch.Tensor:
    """Where each of `values` would go in the 1-D ascending `sorted_sequence` to keep it sorted (int32)."""
    seq, values = as_tensors(sorted_sequence, values)
    if seq.ndim != 1:
        raise ValueError(
            "ops.searchsorted only supports 1-D sorted sequences (use ops.vectorized_map for N-D). "
            f"Received: sorted_sequence.shape={shape_of(seq)}."
        )
    if side not in ("left", "right"):
        raise ValueError(f"ops.searchsorted: side must be 'left' or 'right'. Received: side={side!r}.")
    common = to_torch_dtype(result_type(dtype_of(seq), dtype_of(values)))
    out_int32 = seq.shape[0] <= torch.iinfo(torch.int32).max
    return torch.searchsorted(seq.to(common), values.to(common), side=side, out_int32=out_int32)


@op("numpy")
def digitize(x: Any, bins: Any) -> torch.Tensor:
    """The int32 index of the bin of each element: i where bins[i-1] <= x < bins[i] (`bins` ascending)."""
    x, bins = as_tensors(x, bins)
    if bins.ndim != 1:
        raise ValueError(f"ops.digitize: `bins` must be 1-D. Received: bins.shape={shape_of(bins)}.")
    return torch.bucketize(_sortable(x), bins, right=True).to(torch.int32)


# ---------------------------------------------------------------- sets and counting
@op("numpy")
def unique(x: Any, sorted: bool = True, return_index: bool = False, return_inverse: bool = False,
           return_counts: bool = False, axis: Optional[int] = None, size: Optional[int] = None,
           fill_value: Any = None) -> Any:
    """The unique elements of `x` (or unique slices along `axis`), with optional first indices, inverse and counts.

    With `size`, the result is cut or padded to `size` entries: values with `fill_value`
    (default 0), counts with 0 and indices with 1, as Keras's torch backend pads. The
    index/inverse/count tensors are int64. Returns a tensor, or a tuple (values, [index],
    [inverse], [counts]) when any return_* is set.
    """
    x = as_tensor(x)
    dim = None if axis is None else canonical_axis(axis, x.ndim, "unique")
    # host sync: the number of unique elements sets the output shape
    out = torch.unique(x, sorted=sorted, return_inverse=return_inverse or return_index,
                       return_counts=return_counts, dim=dim)
    out = list(out) if isinstance(out, tuple) else [out]
    values = out[0]
    inverse = out[1] if (return_inverse or return_index) else None
    counts = out[-1] if return_counts else None
    along = 0 if dim is None else dim
    index = None
    if return_index:
        flat = inverse.reshape(-1)
        positions = torch.arange(flat.numel(), device=flat.device)
        index = torch.full((values.shape[along],), flat.numel(), dtype=torch.int64, device=flat.device)
        index = index.scatter_reduce(0, flat, positions, reduce="amin")
    if size is not None:
        have = values.shape[along]
        if have > size:
            values = values.narrow(along, 0, size)
            counts = None if counts is None else counts[:size]
            index = None if index is None else index[:size]
        elif have < size:
            extra = size - have
            pad_shape = list(values.shape)
            pad_shape[along] = extra
            fill = torch.full(pad_shape, 0 if fill_value is None else fill_value, dtype=values.dtype,
                              device=values.device)
            values = torch.cat([values, fill], dim=along)
            if counts is not None:
                counts = torch.cat([counts, counts.new_zeros(extra)])
            if index is not None:
                index = torch.cat([index, index.new_ones(extra)])
    results = [values] + [r for r, want in ((index, return_index), (inverse, return_inverse), (counts, return_counts))
                          if want]
    return results[0] if len(results) == 1 else tuple(results)


@op("numpy")
def isin(x1: Any, x2: Any, assume_unique: bool = False, invert: bool = False) -> torch.Tensor:
    """Elementwise: is each element of `x1` among the elements of `x2` (bool)."""
    x1, x2 = as_tensors(x1, x2)
    common = result_type(dtype_of(x1), dtype_of(x2))
    common = to_torch_dtype("int32" if common == "bool" else common)
    return torch.isin(x1.to(common), x2.to(common), assume_unique=assume_unique, invert=invert)


@op("numpy")
def bincount(x: Any, weights: Any = None, minlength: int = 0, sparse: bool = False) -> torch.Tensor:
    """How often each non-negative integer occurs in the 1-D `x` (per row for a 2-D `x`), optionally weighted.

    int32 counts without weights; with them, Keras's promotion of the two dtypes. A 2-D
    `x` gives rows of one common length (Keras's torch backend fails when rows differ).
    """
    if sparse:
        raise ValueError("ops.bincount(sparse=True) is not supported: kerasish tensors are dense. Pass sparse=False.")
    x = as_tensor(x)
    if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
        raise TypeError(f"ops.bincount counts integers; received a tensor of dtype {dtype_of(x)}. Cast it first.")
    if x.ndim not in (1, 2):
        raise ValueError(f"ops.bincount needs a 1-D or 2-D tensor. Received: x.shape={shape_of(x)}.")
    if weights is None:
        dtype = "int32"
    else:
        x, weights = as_tensors(x, weights)
        dtype = result_type(dtype_of(x), dtype_of(weights))
        weights = weights.to(torch.float64 if weights.dtype == torch.float64 else torch.float32)
    if x.ndim == 1:
        # host sync: the output length is the largest value + 1
        return torch.bincount(x, weights, minlength).to(to_torch_dtype(dtype))
    rows = x.shape[0]
    # host sync: the common row length is the largest value + 1
    length = max(int(x.max()) + 1 if x.numel() else 0, minlength)
    offsets = torch.arange(rows, device=x.device, dtype=torch.int64).unsqueeze(1) * length
    flat = (x.to(torch.int64) + offsets).reshape(-1)
    counts = torch.bincount(flat, None if weights is None else weights.reshape(-1), rows * length)
    return counts.reshape(rows, length).to(to_torch_dtype(dtype))


@op("numpy")
def histogram(x: Any, bins: int = 10, range: Optional[Tuple[float, float]] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Counts of the 1-D `x` in `bins` equal-width bins over `range` (the data's min and max when None), and the edges.

    The last bin includes its right edge; values outside `range` are not counted. Both
    results have the input's float dtype (integers give floatx). Runs on any device
    without a host sync (Keras's torch backend uses torch.histogram, CPU-only).
    """
    if not isinstance(bins, int) or isinstance(bins, bool):
        raise TypeError(f"ops.histogram: `bins` must be an int. Received: bins={bins!r}.")
    if bins < 0:
        raise ValueError(f"ops.histogram: `bins` must be a non-negative integer. Received: bins={bins}.")
    if range is not None:
        if not isinstance(range, tuple) or len(range) != 2:
            raise ValueError(f"ops.histogram: `range` must be a tuple of two numbers. Received: range={range!r}.")
        if range[1] < range[0]:
            raise ValueError(f"ops.histogram: range[1] must not be below range[0]. Received: range={range}.")
    x = as_tensor(x)
    if x.ndim > 1:
        raise ValueError(f"ops.histogram needs a 1-D tensor. Received: x.shape={shape_of(x)}.")
    if not x.is_floating_point():
        x = x.to(to_torch_dtype(config.floatx()))
    if range is None:
        lo, hi = (x.min(), x.max()) if x.numel() else (x.new_tensor(0.0), x.new_tensor(1.0))
    else:
        lo, hi = x.new_tensor(float(range[0])), x.new_tensor(float(range[1]))
    same = lo == hi
    lo, hi = torch.where(same, lo - 0.5, lo), torch.where(same, hi + 0.5, hi)
    edges = torch.lerp(lo, hi, torch.arange(bins + 1, device=x.device, dtype=x.dtype) / max(bins, 1))
    index = torch.bucketize(x, edges, right=True) - 1
    index = torch.where(x == hi, bins - 1, index)  # the last bin is closed on the right
    inside = (index >= 0) & (index < bins)
    counts = torch.zeros(bins, dtype=x.dtype, device=x.device)
    counts.scatter_add_(0, index.clamp(0, max(bins - 1, 0)), inside.to(x.dtype))
    return counts, edges


__all__ = [
    "append", "argpartition", "argsort", "array_split", "bincount", "concatenate", "digitize", "dsplit", "dstack",
    "get_item", "histogram", "hsplit", "hstack", "isin", "nonzero", "searchsorted", "select", "sort", "split",
    "stack", "take", "take_along_axis", "unique", "unravel_index", "vsplit", "vstack", "where",
]
