"""Keras's `ops.core` on torch: casts, shapes, scatter and slice updates, and control flow.

Control flow runs eagerly in Python, as in Keras's torch backend: `cond`, `switch`,
`while_loop` and `fori_loop` are Python branches and loops around torch calls (every
tensor predicate they read is a host sync, labelled below); `scan` and `map` loop over the
leading axis; `vectorized_map` is `torch.vmap`; `associative_scan` makes log2(n) calls of
its combining function. `shape`, `dtype`, `is_tensor` and `convert_to_numpy` answer about a
symbolic KerasTensor themselves (or refuse) instead of recording a graph node.

The public helpers at the top (`tensors`, `normalize_axis`; not ops) are shared with
`kerasish.ops.math` and `kerasish.ops.linalg`.
"""

from __future__ import annotations

import builtins
import difflib
import functools
import math as _math
import operator
from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch

from kerasish import tree
from kerasish.ops import dtypes, operation
from kerasish.ops.dtypes import standardize_dtype, to_torch_dtype
from kerasish.ops.keras_tensor import KerasTensor
from kerasish.ops.operation import op

__all__ = [
    "associative_scan", "cast", "cond", "convert_to_numpy", "convert_to_tensor", "custom_gradient", "dtype",
    "fori_loop", "is_tensor", "map", "saturate_cast", "scan", "scatter", "scatter_update", "shape", "slice",
    "slice_update", "stop_gradient", "switch", "unstack", "vectorized_map", "while_loop",
]

_REDUCTIONS = (None, "add", "max", "min", "mul")


# ---------------------------------------------------------------- helpers (shared with math, linalg)
def tensors(*xs: Any) -> List[torch.Tensor]:
    """Each argument as a tensor; non-tensors go on the device of the first tensor argument."""
    like = next((x for x in xs if isinstance(x, torch.Tensor)), None)
    device = None if like is None else like.device
    return [x if isinstance(x, torch.Tensor) else dtypes.convert_to_tensor(x, device=device) for x in xs]


def normalize_axis(axis: Any, ndim: int, name: str) -> int:
    """`axis` as a non-negative int below `ndim`, or a ValueError naming the op and the valid range."""
    try:
        a = operator.index(axis)
    except TypeError:
        raise TypeError(f"ops.{name}: axis must be an int. Received: axis={axis!r}.") from None
    if not -ndim <= a < ndim:
        raise ValueError(f"ops.{name}: axis {a} is out of range for a tensor of rank {ndim}. Expected an axis "
                         f"in [{-ndim}, {ndim - 1}]; negative axes count from the end.")
    return a % ndim


def _plain(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Registers `fn` as `core.<name>` *without* the symbolic path of `@op`.

    `shape`, `dtype`, `is_tensor` and `convert_to_numpy` return Python values (or refuse) for a
    KerasTensor, as Keras does; `@op` would record a graph node for them instead. `op()`
    registers the name (so `get_op` and the flat `kerasish.ops` namespace know it), then the
    registry entry is pointed at the plain function. operation.py has no public way to
    register an op without its symbolic path, hence the private registry write here.
    """
    key = op("core")(fn).op_name  # type: ignore[attr-defined]
    fn.op_name = key  # type: ignore[attr-defined]
    operation._REGISTRY[key] = fn
    return fn


def _ints(values: Any, what: str, name: str) -> Tuple[int, ...]:
    """A shape-like argument as Python ints (a tensor is read on the host)."""
    if isinstance(values, torch.Tensor):
        values = values.tolist()  # host sync: an output shape must be known on the host
    elif isinstance(values, np.ndarray):
        values = values.tolist()
    try:
        return tuple(operator.index(v) for v in values)
    except TypeError:
        raise TypeError(f"ops.{name}: {what} must be a sequence of ints. Received: {what}={values!r}.") from None


def _leaf_tensors(structure: Any) -> List[torch.Tensor]:
    return [dtypes.convert_to_tensor(leaf) for leaf in tree.flatten(structure)]


# ---------------------------------------------------------------- dtypes and shapes
@op("core")
def cast(x: Any, dtype: Any) -> torch.Tensor:
    """`x` as a tensor of `dtype` (a name such as 'float16', a torch or NumPy dtype).

    Unlike Keras's torch backend, 'uint16' and 'uint32' are torch's own unsigned dtypes here
    (Keras maps them to int32 and int64).
    """
    dt = to_torch_dtype(dtype)
    if isinstance(x, torch.Tensor):
        return x if x.dtype == dt else x.to(dt)
    return dtypes.convert_to_tensor(x, dtype=dt)


def _range_of(dt: torch.dtype) -> Tuple[Any, Any]:
    if dt == torch.bool:
        return 0, 1
    info = torch.finfo(dt) if (dt.is_floating_point or dt.is_complex) else torch.iinfo(dt)
    return info.min, info.max


def _limit_in(value: Any, in_dt: torch.dtype, out_range: Tuple[Any, Any]) -> Any:
    """`value` as representable in `in_dt`, nudged toward zero where rounding pushed it out of `out_range`."""
    t = torch.tensor(value, dtype=in_dt)  # a CPU constant: no device sync
    # Compared as Python numbers (exact), not in in_dt: float32(2**31 - 1) rounds to 2**31.
    if t.is_floating_point() and not out_range[0] <= t.item() <= out_range[1]:
        t = torch.nextafter(t, torch.zeros_like(t))
    return t.item()


@op("core")
def saturate_cast(x: Any, dtype: Any) -> torch.Tensor:
    """`cast` that clips `x` to the range of `dtype` first, so out-of-range values saturate.

    kerasish differs from Keras's torch backend for float -> int32/int64: Keras's clip bound
    rounds up past the int range in float32 (2**31), so large values wrap to the minimum;
    here they saturate to the largest float32 below the bound (2147483520 for int32).
    """
    target = to_torch_dtype(dtype)
    x = tensors(x)[0]
    if x.dtype == torch.bool:
        return x.to(target)  # 0 and 1 fit every dtype
    in_min, in_max = _range_of(x.dtype)
    out_min, out_max = _range_of(target)
    lo = _limit_in(builtins.max(in_min, out_min), x.dtype, (out_min, out_max))
    hi = _limit_in(builtins.min(in_max, out_max), x.dtype, (out_min, out_max))
    return x.clamp(lo, hi).to(target)


@_plain
def shape(x: Any) -> Tuple[Optional[int], ...]:
    """The shape as a tuple of ints; a KerasTensor's static shape (None for unknown sizes), no graph node."""
    if isinstance(x, (torch.Tensor, KerasTensor, np.ndarray)):
        return tuple(x.shape)
    return tuple(tensors(x)[0].shape)


@_plain
def dtype(x: Any) -> str:
    """The dtype name of a tensor, array, KerasTensor or Python value ('float32', 'int32' ...)."""
    if hasattr(x, "dtype"):  # tensors, arrays, KerasTensors
        return standardize_dtype(x.dtype)
    return standardize_dtype(tensors(x)[0].dtype)


@_plain
def is_tensor(x: Any) -> bool:
    """True for a torch tensor (a kerasish Variable is one); False for arrays and KerasTensors."""
    return isinstance(x, torch.Tensor)


@op("core")
def convert_to_tensor(x: Any, dtype: Any = None, sparse: Optional[bool] = None,
                      ragged: Optional[bool] = None) -> torch.Tensor:
    """A tensor for `x` with Keras's dtypes (Python int -> int32, float -> floatx, NumPy keeps its dtype)."""
    return dtypes.convert_to_tensor(x, dtype=None if dtype is None else standardize_dtype(dtype),
                                    sparse=sparse, ragged=ragged)


@_plain
def convert_to_numpy(x: Any) -> np.ndarray:
    """A NumPy array for a tensor (detached, on the CPU), a list of tensors, an array or a scalar.

    kerasish differs from Keras for bfloat16 tensors: the array is float32 (Keras returns
    ml_dtypes' bfloat16, a package kerasish does not depend on). A KerasTensor has no values
    and raises TypeError.
    """
    if isinstance(x, (list, tuple)) and any(isinstance(e, torch.Tensor) for e in x):
        return np.array([dtypes.convert_to_numpy(e) for e in x])
    return dtypes.convert_to_numpy(x)


@op("core")
def stop_gradient(variable: Any) -> torch.Tensor:
    """The same values cut from the autograd graph (`detach`)."""
    return tensors(variable)[0].detach()


@op("core")
def unstack(x: Any, num: Optional[int] = None, axis: int = 0) -> Tuple[torch.Tensor, ...]:
    """The slices of `x` along `axis`, as a tuple (as Keras's torch backend returns)."""
    x = tensors(x)[0]
    ax = normalize_axis(axis, x.ndim, "unstack")
    if num is not None and num != x.shape[ax]:
        raise ValueError(f"ops.unstack: num={num} but axis {axis} of the input (shape {tuple(x.shape)}) has "
                         f"{x.shape[ax]} entries. Pass num={x.shape[ax]} or num=None.")
    return x.unbind(ax)


# ---------------------------------------------------------------- scatter and slices
def _index_tensor(indices: Any, name: str, device: torch.device) -> torch.Tensor:
    idx = dtypes.convert_to_tensor(indices, device=device) if not isinstance(indices, torch.Tensor) else indices
    if idx.is_floating_point() or idx.is_complex() or idx.dtype == torch.bool:
        raise TypeError(f"ops.{name}: indices must be integers. Received a tensor of dtype "
                        f"{standardize_dtype(idx.dtype)}; cast it with ops.cast(indices, 'int32').")
    if idx.ndim < 1:
        raise ValueError(f"ops.{name}: indices must have shape (num_updates, index_depth). Received a scalar.")
    return idx.long()


@op("core")
def scatter(indices: Any, values: Any, shape: Sequence[int]) -> torch.Tensor:
    """A zero tensor of `shape` with `values` added at `indices` (repeated indices add up, as in Keras).

    `indices` has shape `(..., k)`, each row an index into the first k dims of `shape`;
    `values` has shape `indices.shape[:-1] + shape[k:]`.
    """
    if not isinstance(values, torch.Tensor):
        values = dtypes.convert_to_tensor(values, device=indices.device if isinstance(indices, torch.Tensor) else None)
    idx = _index_tensor(indices, "scatter", values.device)
    out_shape = _ints(shape, "shape", "scatter")
    k = idx.shape[-1]
    expected = tuple(idx.shape[:-1]) + out_shape[k:]
    if k > len(out_shape) or tuple(values.shape) != expected:
        raise ValueError(
            f"ops.scatter: values must have shape indices.shape[:-1] + shape[index_depth:] = {expected}. "
            f"Received: indices.shape={tuple(idx.shape)}, values.shape={tuple(values.shape)}, shape={out_shape}."
        )
    out = torch.zeros(out_shape, dtype=values.dtype, device=values.device)
    flat_idx = idx.reshape(-1, k).unbind(-1)
    return out.index_put_(flat_idx, values.reshape((-1,) + out_shape[k:]), accumulate=True)


@op("core")
def scatter_update(inputs: Any, indices: Any, updates: Any, reduction: Optional[str] = None) -> torch.Tensor:
    """A copy of `inputs` with `updates` written at `indices` (`inputs[indices] = updates`).

    `indices` is `(num_updates, k)`; `updates` is `(num_updates,) + inputs.shape[k:]`.
    `reduction` says how a repeated index combines: None (the last write wins), 'add',
    'max', 'min' or 'mul' (with the value already in `inputs` as well).
    """
    red = reduction.lower() if isinstance(reduction, str) else reduction
    if red not in _REDUCTIONS:
        close = difflib.get_close_matches(str(reduction).lower(), [r for r in _REDUCTIONS if r], n=1)
        raise ValueError(f"ops.scatter_update: invalid reduction={reduction!r}. Expected one of {list(_REDUCTIONS)}"
                         + (f"; did you mean {close[0]!r}?" if close else "."))
    inputs = tensors(inputs)[0]
    idx = _index_tensor(indices, "scatter_update", inputs.device)
    updates = dtypes.convert_to_tensor(updates, dtype=inputs.dtype, device=inputs.device)
    k = idx.shape[-1]
    expected = (idx.shape[0],) + tuple(inputs.shape[k:])
    if idx.ndim != 2 or k > inputs.ndim or not _broadcasts_to(updates.shape, expected):
        raise ValueError(
            f"ops.scatter_update: expected indices of shape (num_updates, k) with k <= inputs.ndim and updates "
            f"of shape (num_updates,) + inputs.shape[k:]. Received: inputs.shape={tuple(inputs.shape)}, "
            f"indices.shape={tuple(idx.shape)}, updates.shape={tuple(updates.shape)}."
        )
    out = inputs.clone()
    if red is None or red == "add":
        return out.index_put_(tuple(idx.unbind(-1)), updates, accumulate=red == "add")
    # max/min/mul: one index_reduce over the first k dims flattened into one.
    sizes = torch.tensor(inputs.shape[:k], device=idx.device)
    idx = torch.where(idx < 0, idx + sizes, idx)  # negative indices count from the end, as in indexing
    strides = torch.tensor([_math.prod(inputs.shape[i + 1:k]) for i in range(k)], device=idx.device)
    rows = (idx * strides).sum(-1)
    src = updates.expand(expected)
    rows = rows.reshape((-1,) + (1,) * (src.ndim - 1)).expand(src.shape)
    mode = {"max": "amax", "min": "amin", "mul": "prod"}[red]
    out.view((-1,) + tuple(inputs.shape[k:])).scatter_reduce_(0, rows, src, mode, include_self=True)
    return out


def _broadcasts_to(shape: Any, target: Tuple[int, ...]) -> bool:
    try:
        return tuple(torch.broadcast_shapes(tuple(shape), target)) == tuple(target)
    except RuntimeError:
        return False


def _check_start(start: Sequence[int], sizes: Sequence[int], x: torch.Tensor, name: str, what: str) -> None:
    for d, (s, n) in enumerate(zip(start, sizes)):
        if n < 0 or s < 0 or s + n > x.shape[d]:
            raise ValueError(
                f"ops.{name}: the {what} at start_indices={list(start)} does not fit in inputs of shape "
                f"{tuple(x.shape)} (dimension {d}: start {s}, size {n}). Expected 0 <= start and "
                "start + size <= inputs.shape[d]" + (" (a size of -1 is not supported: pass the "
                                                     "remaining length)." if n < 0 else ".")
            )


def _window_index(start: torch.Tensor, sizes: Sequence[int]) -> Tuple[torch.Tensor, ...]:
    """Broadcasting index tensors for the window `start + arange(size)` in each dim (no host sync)."""
    start = start.to(torch.long)
    n = len(sizes)
    return tuple(
        (start[d] + torch.arange(size, device=start.device)).reshape((1,) * d + (-1,) + (1,) * (n - d - 1))
        for d, size in enumerate(sizes)
    )


def _start_list(start_indices: Any, x: torch.Tensor, name: str) -> Any:
    """Python ints when given ints, else a 1-D integer tensor; checks the length either way."""
    if isinstance(start_indices, (list, tuple)) and all(isinstance(s, (int, np.integer)) for s in start_indices):
        start: Any = [int(s) for s in start_indices]
    else:
        start = start_indices if isinstance(start_indices, torch.Tensor) else \
            dtypes.convert_to_tensor(start_indices, device=x.device)
        start = start.to(x.device).reshape(-1)
    if len(start) != x.ndim:
        raise ValueError(f"ops.{name}: start_indices must have one entry per dimension of inputs "
                         f"({x.ndim} for shape {tuple(x.shape)}). Received {len(start)}: start_indices="
                         f"{start_indices!r}.")
    return start


@op("core")
def slice(inputs: Any, start_indices: Any, shape: Any) -> torch.Tensor:
    """The block of `inputs` of `shape` starting at `start_indices` (`inputs[s0:s0+n0, s1:s1+n1, ...]`).

    Python-int starts are bounds-checked (ValueError) and give a view. Tensor starts stay
    on the device (no host sync) and gather the block; an out-of-range tensor start is an
    index error raised by torch (a device-side assert on CUDA).
    """
    x = tensors(inputs)[0]
    start = _start_list(start_indices, x, "slice")
    sizes = _ints(shape, "shape", "slice")
    if len(sizes) != x.ndim:
        raise ValueError(f"ops.slice: shape must have one entry per dimension of inputs ({x.ndim} for shape "
                         f"{tuple(x.shape)}). Received shape={sizes}.")
    if isinstance(start, list):
        _check_start(start, sizes, x, "slice", "slice")
        return x[tuple(builtins.slice(s, s + n) for s, n in zip(start, sizes))]
    if any(n < 0 for n in sizes):
        raise ValueError(f"ops.slice: sizes must be >= 0 (-1 is not supported). Received shape={sizes}.")
    return x[_window_index(start, sizes)]


@op("core")
def slice_update(inputs: Any, start_indices: Any, updates: Any) -> torch.Tensor:
    """A copy of `inputs` with the block at `start_indices` replaced by `updates` (cast to inputs' dtype).

    As `slice`: Python-int starts are bounds-checked; tensor starts stay on the device.
    """
    x = tensors(inputs)[0]
    upd = dtypes.convert_to_tensor(updates, dtype=x.dtype, device=x.device)
    start = _start_list(start_indices, x, "slice_update")
    if upd.ndim != x.ndim:
        raise ValueError(f"ops.slice_update: updates must have the rank of inputs ({x.ndim}). Received "
                         f"updates.shape={tuple(upd.shape)} for inputs.shape={tuple(x.shape)}.")
    out = x.clone()
    if isinstance(start, list):
        _check_start(start, upd.shape, x, "slice_update", "update")
        out[tuple(builtins.slice(s, s + n) for s, n in zip(start, upd.shape))] = upd
        return out
    return out.index_put_(_window_index(start, tuple(upd.shape)), upd)


# ---------------------------------------------------------------- control flow
@op("core")
def cond(pred: Any, true_fn: Callable[[], Any], false_fn: Callable[[], Any]) -> Any:
    """`true_fn()` if `pred` else `false_fn()`; only the chosen branch runs."""
    size = pred.numel() if isinstance(pred, torch.Tensor) else int(np.size(pred))
    if size != 1:
        raise ValueError(f"ops.cond: pred must be a scalar boolean. Received a value of shape {tuple(np.shape(pred))}; "
                         "reduce it first (ops.any / ops.all).")
    take = bool(pred)  # host sync when pred is a device tensor: the branch is chosen in Python
    return true_fn() if take else false_fn()


@op("core")
def switch(index: Any, branches: Sequence[Callable[..., Any]], *operands: Any) -> Any:
    """`branches[index](*operands)`, with `index` clamped to the valid range as in Keras."""
    if not branches:
        raise ValueError("ops.switch: branches is empty. Pass a non-empty list of callables.")
    i = int(index)  # host sync when index is a device tensor: the branch is chosen in Python
    return branches[builtins.min(builtins.max(i, 0), len(branches) - 1)](*operands)


@op("core")
def while_loop(cond: Callable[..., Any], body: Callable[..., Any], loop_vars: Any,
               maximum_iterations: Optional[int] = None) -> Any:
    """Runs `loop_vars = body(*loop_vars)` while `cond(*loop_vars)`, at most `maximum_iterations` times.

    A list or tuple of loop variables is passed positionally and returned as a tuple; a
    single value is passed and returned as itself. Leaves become tensors first.
    """
    is_seq = isinstance(loop_vars, (list, tuple))
    state = tuple(loop_vars) if is_seq else (loop_vars,)
    state = tree.map_structure(dtypes.convert_to_tensor, state)
    done = 0
    # host sync: each test of cond reads a device boolean, once per iteration.
    while (maximum_iterations is None or done < maximum_iterations) and bool(cond(*state)):
        new = body(*state)
        new = tuple(new) if isinstance(new, (list, tuple)) else (new,)
        if len(new) != len(state):
            raise ValueError(f"ops.while_loop: body returned {len(new)} loop variables but loop_vars has "
                             f"{len(state)}. Return one value per loop variable.")
        state = new
        done += 1
    return state if is_seq else state[0]


@op("core")
def fori_loop(lower: Any, upper: Any, body_fun: Callable[[int, Any], Any], init_val: Any) -> Any:
    """`val = body_fun(i, val)` for i in range(lower, upper), starting from `init_val`."""
    val = init_val
    for i in range(int(lower), int(upper)):  # host sync when a bound is a device tensor
        val = body_fun(i, val)
    return val


def _stack_outputs(ys: List[Any], name: str) -> Any:
    if not ys:
        raise ValueError(f"ops.{name}: the loop runs zero times, so the stacked outputs have no shape. "
                         "Pass at least one element along the leading axis.")
    return tree.map_structure(lambda *leaves: torch.stack(tensors(*leaves)), *ys)


@op("core")
def scan(f: Callable[[Any, Any], Tuple[Any, Any]], init: Any, xs: Any = None, length: Optional[int] = None,
         reverse: bool = False, unroll: Any = 1) -> Tuple[Any, Any]:
    """Carries `carry, y = f(carry, x)` over the leading axis of `xs`; returns `(carry, stacked ys)`.

    `unroll` is accepted and checked but has no effect (an eager loop). A step that returns
    `y=None` stacks zeros like the carry's leaves, as Keras's torch backend does.
    """
    if not callable(f):
        raise TypeError(f"ops.scan: f must be a callable f(carry, x) -> (carry, y). Received: f={f!r}.")
    if not isinstance(unroll, bool) and (not isinstance(unroll, int) or unroll < 1):
        raise ValueError(f"ops.scan: unroll must be a positive int or a bool. Received: unroll={unroll!r}.")
    if xs is None and length is None:
        raise ValueError("ops.scan: pass xs to scan over, or length for a scan without inputs.")
    xs_flat = [] if xs is None else _leaf_tensors(xs)
    if not xs_flat and length is None:
        raise ValueError(f"ops.scan: xs has no tensors to scan over ({xs!r}). Pass length as well.")
    n = int(length) if length is not None else xs_flat[0].shape[0]
    for x in xs_flat:
        if x.ndim == 0 or x.shape[0] != n:
            raise ValueError(f"ops.scan: every leaf of xs needs a leading axis of length {n} (length=" +
                             f"{length}). Received leaves of shapes {[tuple(t.shape) for t in xs_flat]}.")
    init_flat = _leaf_tensors(init)
    carry = tree.pack_sequence_as(init, init_flat)
    zeros = [torch.zeros_like(t) for t in init_flat]
    ys = []
    for i in (reversed(range(n)) if reverse else range(n)):
        x = tree.pack_sequence_as(xs, [t[i] for t in xs_flat]) if xs_flat else None
        carry, y = f(carry, x)
        ys.append(zeros if y is None else y)
    if reverse:
        ys.reverse()
    return carry, _stack_outputs(ys, "scan")


@op("core")
def map(f: Callable[[Any], Any], xs: Any) -> Any:
    """`f` applied to each slice along the leading axis of `xs` (a tensor or a structure), stacked."""
    xs_flat = _leaf_tensors(xs)
    n = xs_flat[0].shape[0]
    return _stack_outputs([f(tree.pack_sequence_as(xs, [t[i] for t in xs_flat])) for i in range(n)], "map")


@op("core")
def vectorized_map(function: Callable[[Any], Any], elements: Any) -> Any:
    """`function` mapped over axis 0 of `elements` (a tensor or a structure) with `torch.vmap`.

    A function torch.vmap cannot batch (one that reads values on the host with `.item()`,
    or branches on tensor values) raises; `ops.map` runs such a function one slice at a time.
    """
    elements = tree.map_structure(lambda t: tensors(t)[0], elements)
    try:
        return torch.vmap(function)(elements)
    except RuntimeError as e:
        if "vmap" not in str(e) and "Batching rule" not in str(e):
            raise
        raise RuntimeError(f"ops.vectorized_map: torch.vmap cannot vectorize this function: {e} Use "
                           "ops.map(function, elements) to apply it one slice at a time.") from e


@op("core")
def associative_scan(f: Callable[[Any, Any], Any], elems: Any, reverse: bool = False, axis: int = 0) -> Any:
    """Inclusive scan of the associative `f` along `axis`: `[a, f(a, b), f(f(a, b), c), ...]`.

    Runs ceil(log2(n)) batched calls of `f` (a Hillis-Steele scan). Result dtypes are those
    `f` returns; Keras's torch backend instead returns float32 for every input (and fails
    on bool inputs and off-CPU tensors), so only float32 inputs agree with it exactly.
    """
    if not callable(f):
        raise TypeError(f"ops.associative_scan: f must be a callable f(a, b). Received: f={f!r}.")
    flat = _leaf_tensors(elems)
    ax = normalize_axis(axis, flat[0].ndim, "associative_scan")
    n = flat[0].shape[ax]
    if any(t.shape[ax] != n for t in flat):
        raise ValueError(f"ops.associative_scan: every leaf of elems needs the same size along axis {axis}. "
                         f"Received shapes {[tuple(t.shape) for t in flat]}.")
    if reverse:
        flat = [t.flip(ax) for t in flat]

    def combine(a: List[torch.Tensor], b: List[torch.Tensor]) -> List[torch.Tensor]:
        return tree.flatten(f(tree.pack_sequence_as(elems, a), tree.pack_sequence_as(elems, b)))

    step = 1
    while step < n:
        earlier = [t.narrow(ax, 0, n - step) for t in flat]
        later = [t.narrow(ax, step, n - step) for t in flat]
        merged = combine(earlier, later)
        flat = [torch.cat([t.narrow(ax, 0, step), m], dim=ax) for t, m in zip(flat, merged)]
        step *= 2
    if reverse:
        flat = [t.flip(ax) for t in flat]
    return tree.pack_sequence_as(elems, flat)


# ---------------------------------------------------------------- gradients
class _CustomGradient(torch.autograd.Function):
    """Runs `fn(*args) -> (output, grad_fn)` forward and `grad_fn(*args, upstream=...)` backward."""

    @staticmethod
    def forward(ctx: Any, fn: Callable[..., Any], *args: Any) -> Any:  # type: ignore[override]
        result = fn(*args)
        if not (isinstance(result, (tuple, list)) and len(result) == 2 and callable(result[1])):
            raise TypeError(
                "ops.custom_gradient: the decorated function must return a pair (output, grad_fn), where "
                f"grad_fn(*args, upstream) returns one gradient per argument. Received: {type(result).__name__}."
            )
        output, ctx.grad_fn = result
        ctx.is_tensor = [isinstance(a, torch.Tensor) for a in args]
        ctx.others = [None if t else a for a, t in zip(args, ctx.is_tensor)]
        ctx.save_for_backward(*[a for a in args if isinstance(a, torch.Tensor)])
        return output

    @staticmethod
    def backward(ctx: Any, *upstream: torch.Tensor) -> Any:  # type: ignore[override]
        saved = iter(ctx.saved_tensors)
        args = [next(saved) if t else other for t, other in zip(ctx.is_tensor, ctx.others)]
        grads = ctx.grad_fn(*args, upstream=upstream[0] if len(upstream) == 1 else upstream)
        grads = tuple(grads) if isinstance(grads, (tuple, list)) else (grads,)
        if len(grads) != len(args):
            raise ValueError(f"ops.custom_gradient: grad_fn returned {len(grads)} gradients for {len(args)} "
                             "arguments. Return one gradient (or None) per positional argument.")
        return (None,) + tuple(g if t else None for g, t in zip(grads, ctx.is_tensor))


@op("core")
def custom_gradient(f: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: `f(*args)` returns `(output, grad_fn)`; calls return `output`, gradients come from `grad_fn`.

    Keras's torch-backend contract: `grad_fn(*args, upstream)` receives the call's positional
    arguments and the upstream gradient (a tuple of them when `output` is a tuple) by keyword,
    and returns one gradient per positional argument. Keyword arguments of the call reach
    `f` but get no gradient.
    """
    if not callable(f):
        raise TypeError(f"ops.custom_gradient decorates a function. Received: {f!r}.")

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        fn = functools.partial(f, **kwargs) if kwargs else f
        return _CustomGradient.apply(fn, *args)

    return wrapper
