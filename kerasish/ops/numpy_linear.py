"""Keras's `ops.numpy` products and other linear-algebra-like ops on torch, and `vectorize`.

Dtypes follow Keras: the result is Keras's promotion of the inputs (64-bit narrowed to
32-bit), computed in a float type where torch's kernels lack integer support, then cast
back. Integer matmuls run exactly: in int64 on the CPU, in float64 elsewhere (Keras uses
floatx on CUDA, which rounds integers above 2**24).
"""

from __future__ import annotations

import functools
import re
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

from kerasish import config
from kerasish.ops.dtypes import INT_TYPES, dtype_of, result_type, to_torch_dtype
from kerasish.ops.numpy_shape import as_tensor, as_tensors, canonical_axis, shape_of
from kerasish.ops.operation import op


def _compute_dtype(result: str, device: torch.device, floating: bool = False) -> torch.dtype:
    """The dtype to run a product in for a `result` dtype: one torch supports on `device`."""
    name = result_type(result, float) if floating else result
    if name == "bool":
        name = config.floatx()
    if name in INT_TYPES:
        name = "int64" if device.type == "cpu" else "float64"
    if device.type == "cpu" and name == "float16":
        name = "float32"
    return to_torch_dtype(name)


def _product(fn: Callable[..., torch.Tensor], x1: torch.Tensor, x2: torch.Tensor, result: str,
             floating: bool = False, **kwargs: Any) -> torch.Tensor:
    compute = _compute_dtype(result, x1.device, floating)
    return fn(x1.to(compute), x2.to(compute), **kwargs).to(to_torch_dtype(result))


# The dtypes a matmul of two same-dtype tensors is computed and returned in, as torch would
# (float16 on the CPU and 64-bit types are computed or returned otherwise: see `_compute_dtype`).
_MATMUL_IN_PLACE_DTYPES = (torch.float32, torch.bfloat16)


def _check_matmul_shapes(x1: torch.Tensor, x2: torch.Tensor, op_name: str) -> None:
    shapes = f"Received: x1.shape={shape_of(x1)}, x2.shape={shape_of(x2)}."
    if x1.ndim == 0 or x2.ndim == 0:
        raise ValueError(
            f"ops.{op_name} needs inputs with at least one dimension (use ops.multiply for scalars). {shapes}"
        )
    k1 = x1.shape[-1]
    k2 = x2.shape[-2] if x2.ndim > 1 else x2.shape[0]
    if k1 != k2:
        which = "second-to-last" if x2.ndim > 1 else "only"
        raise ValueError(
            f"ops.{op_name}: the last axis of x1 ({k1}) must match the {which} axis of x2 ({k2}). {shapes}"
        )
    try:
        torch.broadcast_shapes(x1.shape[:-2], x2.shape[:-2])
    except RuntimeError:
        raise ValueError(f"ops.{op_name}: the batch axes of x1 and x2 do not broadcast. {shapes}") from None


@op("numpy")
def matmul(x1: Any, x2: Any) -> torch.Tensor:
    """The matrix product of `x1` and `x2`, batched over leading axes (int8 x int8 gives int32)."""
    if (isinstance(x1, torch.Tensor) and isinstance(x2, torch.Tensor) and x1.dtype is x2.dtype
            and x1.dtype in _MATMUL_IN_PLACE_DTYPES):
        # The common case: torch computes and returns this dtype itself. Its checks cover the shape
        # checks below, which run (for their clearer message) only when it fails.
        try:
            return torch.matmul(x1, x2)
        except RuntimeError:
            pass
    x1, x2 = as_tensors(x1, x2)
    _check_matmul_shapes(x1, x2, "matmul")
    d1, d2 = dtype_of(x1), dtype_of(x2)
    result = "int32" if d1 == d2 == "int8" else result_type(d1, d2)
    return _product(torch.matmul, x1, x2, result)


@op("numpy")
def dot(x1: Any, x2: Any) -> torch.Tensor:
    """NumPy's dot: products of scalars, vectors, matrices; sums over the last axis of x1 and second-to-last of x2.

    Raises NotImplementedError for x1 of rank >= 2 with x2 of rank >= 3, where Keras's
    torch backend computes a batched matmul instead of NumPy's dot.
    """
    x1, x2 = as_tensors(x1, x2)
    result = result_type(dtype_of(x1), dtype_of(x2))
    if x1.ndim == 0 or x2.ndim == 0:
        return _product(torch.multiply, x1, x2, result, floating=True)
    if x1.ndim >= 2 and x2.ndim >= 3:
        raise NotImplementedError(
            f"ops.dot of shapes {shape_of(x1)} and {shape_of(x2)}: Keras's torch backend computes a batched "
            "matmul here, unlike NumPy's dot (and Keras's documentation). Use ops.matmul for the batched "
            "product, or ops.tensordot(x1, x2, axes=([-1], [-2])) for NumPy's dot."
        )
    _check_matmul_shapes(x1, x2, "dot")
    return _product(torch.matmul, x1, x2, result, floating=True)


@op("numpy")
def inner(x1: Any, x2: Any) -> torch.Tensor:
    """Sum of products over the last axes of `x1` and `x2` (a product when one is a scalar)."""
    x1, x2 = as_tensors(x1, x2)
    if x1.ndim and x2.ndim and x1.shape[-1] != x2.shape[-1]:
        raise ValueError(
            f"ops.inner: the last axes of x1 and x2 must match. Received: x1.shape={shape_of(x1)}, "
            f"x2.shape={shape_of(x2)}."
        )
    return _product(torch.inner, x1, x2, result_type(dtype_of(x1), dtype_of(x2)), floating=True)


@op("numpy")
def outer(x1: Any, x2: Any) -> torch.Tensor:
    """The outer product of the flattened `x1` and `x2`."""
    x1, x2 = as_tensors(x1, x2)
    return torch.outer(x1.reshape(-1), x2.reshape(-1))


@op("numpy")
def vdot(x1: Any, x2: Any) -> torch.Tensor:
    """The dot product of the flattened `x1` and `x2`, conjugating `x1` (N-D inputs are flattened, as NumPy)."""
    x1, x2 = as_tensors(x1, x2)
    if x1.numel() != x2.numel():
        raise ValueError(
            f"ops.vdot needs inputs with as many elements. Received: x1.shape={shape_of(x1)}, x2.shape={shape_of(x2)}."
        )
    return _product(torch.vdot, x1.reshape(-1), x2.reshape(-1), result_type(dtype_of(x1), dtype_of(x2)),
                    floating=True)


@op("numpy")
def tensordot(x1: Any, x2: Any, axes: Union[int, Sequence[Any]] = 2) -> torch.Tensor:
    """Sum of products over `axes`: the last `axes` of x1 with the first of x2 (an int), or the listed pairs."""
    x1, x2 = as_tensors(x1, x2)
    if isinstance(axes, (list, tuple)):
        if len(axes) != 2:
            raise ValueError(
                f"ops.tensordot: `axes` must be an int or a pair (axes of x1, axes of x2). Received: {axes!r}."
            )
        first, second = ((a,) if isinstance(a, int) else tuple(a) for a in axes)
        if len(first) != len(second):
            raise ValueError(f"ops.tensordot: both entries of `axes` must name as many axes. Received: axes={axes!r}.")
        dims: Any = ([canonical_axis(a, x1.ndim, "tensordot", "axes") for a in first],
                     [canonical_axis(a, x2.ndim, "tensordot", "axes") for a in second])
        pairs = list(zip(*dims))
    else:
        dims = int(axes)
        if not 0 <= dims <= min(x1.ndim, x2.ndim):
            raise ValueError(f"ops.tensordot: axes={axes} exceeds the rank of x1 ({x1.ndim}) or x2 ({x2.ndim}).")
        pairs = list(zip(range(x1.ndim - dims, x1.ndim), range(dims)))
    for a, b in pairs:
        if x1.shape[a] != x2.shape[b]:
            raise ValueError(
                f"ops.tensordot: axis {a} of x1 (size {x1.shape[a]}) cannot be contracted with axis {b} of x2 "
                f"(size {x2.shape[b]}). Received: x1.shape={shape_of(x1)}, x2.shape={shape_of(x2)}, axes={axes!r}."
            )
    return _product(torch.tensordot, x1, x2, result_type(dtype_of(x1), dtype_of(x2)), floating=True, dims=dims)


@op("numpy")
def einsum(subscripts: str, *operands: Any, **kwargs: Any) -> torch.Tensor:
    """Einstein summation of `operands` by `subscripts` (e.g. 'ij,jk->ik', '...ij->...ji').

    Operands of different dtypes are promoted (Keras's torch backend raises); all-int8
    operands give int32. `optimize` is accepted and ignored (torch plans the contraction).
    """
    unknown = set(kwargs) - {"optimize"}
    if unknown:
        raise TypeError(f"ops.einsum got unexpected keyword arguments {sorted(unknown)}; only `optimize` is accepted.")
    xs = as_tensors(*operands)
    names = {dtype_of(x) for x in xs}
    result = "int32" if names == {"int8"} else result_type(*names)
    compute = _compute_dtype(result, xs[0].device) if xs else None
    try:
        out = torch.einsum(subscripts, *[x.to(compute) for x in xs])
    except RuntimeError as e:
        raise ValueError(
            f"ops.einsum cannot apply subscripts={subscripts!r} to operands of shapes "
            f"{[shape_of(x) for x in xs]}: {e}"
        ) from None
    return out.to(to_torch_dtype(result))


@op("numpy")
def kron(x1: Any, x2: Any) -> torch.Tensor:
    """The Kronecker product of `x1` and `x2`."""
    x1, x2 = as_tensors(x1, x2)
    return torch.kron(x1, x2)


@op("numpy")
def cross(x1: Any, x2: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1,
          axis: Optional[int] = None) -> torch.Tensor:
    """The cross product of 3-vectors along the given axes (`axis` sets all three).

    `axisa`/`axisb`/`axisc` work as in NumPy (Keras's torch backend raises for them).
    With axis=None and default axes, a size-3 axis before the last raises
    NotImplementedError: Keras's torch backend picks the first size-3 axis there.
    """
    x1, x2 = as_tensors(x1, x2)
    if axis is None and (axisa, axisb, axisc) == (-1, -1, -1):
        try:
            shape = torch.broadcast_shapes(x1.shape, x2.shape)
        except RuntimeError:
            shape = x1.shape
        if 3 in tuple(shape)[:-1]:
            raise NotImplementedError(
                f"ops.cross of shapes {shape_of(x1)} and {shape_of(x2)} without `axis`: Keras's torch backend "
                "takes the first axis of size 3, NumPy the last. Pass axis=-1 (NumPy's choice, which Keras "
                "then also uses) or the axis you mean."
            )
    if axis is not None:
        axisa = axisb = axisc = axis
    a = torch.movedim(x1, canonical_axis(axisa, x1.ndim, "cross", "axisa"), -1)
    b = torch.movedim(x2, canonical_axis(axisb, x2.ndim, "cross", "axisb"), -1)
    if a.shape[:-1] != b.shape[:-1]:
        lead = torch.broadcast_shapes(a.shape[:-1], b.shape[:-1])
        a, b = a.expand(*lead, a.shape[-1]), b.expand(*lead, b.shape[-1])
    if a.shape[-1] != 3 or b.shape[-1] != 3:
        raise ValueError(
            f"ops.cross needs vectors of size 3 along the chosen axes. Received: x1.shape={shape_of(x1)} "
            f"(axis {axisa}), x2.shape={shape_of(x2)} (axis {axisb})."
        )
    result = result_type(dtype_of(x1), dtype_of(x2))
    compute = _compute_dtype(result, a.device)
    if compute == torch.bfloat16 and a.device.type != "cpu":
        compute = torch.float32
    out = torch.linalg.cross(a.to(compute), b.to(compute), dim=-1).to(to_torch_dtype(result))
    return torch.movedim(out, -1, canonical_axis(axisc, out.ndim, "cross", "axisc"))


@op("numpy")
def trace(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> torch.Tensor:
    """The sum of the `offset` diagonal in the plane (`axis1`, `axis2`); bool and small ints sum as int32."""
    x = as_tensor(x)
    a = canonical_axis(axis1, x.ndim, "trace", "axis1")
    b = canonical_axis(axis2, x.ndim, "trace", "axis2")
    if a == b:
        raise ValueError(f"ops.trace: `axis1` and `axis2` cannot be the same. Received: axis1={axis1}, axis2={axis2}.")
    name = dtype_of(x)
    dtype = to_torch_dtype("int32" if name in ("bool", "int8", "int16", "uint8") else name)
    return torch.sum(torch.diagonal(x, offset, a, b), dim=-1, dtype=dtype)


@op("numpy")
def slogdet(x: Any) -> Tuple[torch.Tensor, torch.Tensor]:
    """(sign, log|det|) of the square matrices `x` (integer inputs are computed in floatx)."""
    x = as_tensor(x)
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"ops.slogdet needs square matrices (shape (..., n, n)). Received: x.shape={shape_of(x)}.")
    if not (x.is_floating_point() or x.is_complex()):
        x = x.to(to_torch_dtype(config.floatx()))
    return tuple(torch.linalg.slogdet(x))


_CORRELATE_MODES = ("valid", "same", "full")


@op("numpy")
def correlate(x1: Any, x2: Any, mode: str = "valid") -> torch.Tensor:
    """The cross-correlation of the 1-D sequences `x1` and `x2` (leading axes broadcast as a batch).

    Lengths follow NumPy: 'full' n+m-1, 'same' max(n, m), 'valid' max(n, m)-min(n, m)+1.
    Differs from Keras's torch backend, which squeezes size-1 axes of the result (a
    length-1 'valid' result becomes 0-d) and gives 'same' the length of x1.
    """
    if mode not in _CORRELATE_MODES:
        raise ValueError(f"ops.correlate: mode must be one of {list(_CORRELATE_MODES)}. Received: mode={mode!r}.")
    x1, x2 = as_tensors(x1, x2)
    if x1.ndim == 0 or x2.ndim == 0:
        raise ValueError(f"ops.correlate needs 1-D sequences. Received shapes {shape_of(x1)} and {shape_of(x2)}.")
    name = result_type(dtype_of(x1), dtype_of(x2))
    dtype = to_torch_dtype("float64" if name in ("int64", "float64") else name if name in ("bfloat16", "float16")
                           else "float32")
    compute = torch.float32 if dtype == torch.float16 and x1.device.type == "cpu" else dtype
    n, m = x1.shape[-1], x2.shape[-1]
    lead = torch.broadcast_shapes(x1.shape[:-1], x2.shape[:-1])
    a = x1.to(compute).expand(*lead, n).reshape(-1, n)
    v = x2.to(compute).expand(*lead, m).reshape(-1, m)
    full = F.conv1d(a.unsqueeze(0), v.unsqueeze(1), padding=m - 1, groups=a.shape[0]).squeeze(0)
    length = {"full": n + m - 1, "same": max(n, m), "valid": max(n, m) - min(n, m) + 1}[mode]
    # NumPy swaps the inputs when x2 is longer, which rounds an odd margin the other way.
    start = (n + m - length) // 2 if m > n else (n + m - 1 - length) // 2
    return full[:, start: start + length].reshape(*lead, length).to(dtype)


@op("numpy")
def vander(x: Any, N: Optional[int] = None, increasing: bool = False) -> torch.Tensor:
    """The Vandermonde matrix of the 1-D `x`: columns are powers of `x` (decreasing unless `increasing`)."""
    x = as_tensor(x)
    if x.ndim != 1:
        raise ValueError(f"ops.vander needs a 1-D tensor. Received: x.shape={shape_of(x)}.")
    if N is not None and (not isinstance(N, int) or isinstance(N, bool)):
        raise TypeError(f"ops.vander: `N` must be an int. Received: N={N!r} of type {type(N).__name__}.")
    if N is not None and N < 0:
        raise ValueError(f"ops.vander: `N` must be non-negative. Received: N={N}.")
    if not isinstance(increasing, bool):
        raise TypeError(f"ops.vander: `increasing` must be a bool. Received: increasing={increasing!r}.")
    return torch.vander(x, N=N, increasing=increasing).to(to_torch_dtype(result_type(dtype_of(x))))


@op("numpy")
def trapezoid(y: Any, x: Any = None, dx: float = 1.0, axis: int = -1) -> torch.Tensor:
    """The integral of `y` along `axis` by the trapezoidal rule, at sample points `x` or spacing `dx`."""
    y = as_tensor(y)
    if y.dtype == torch.bool:
        y = y.to(to_torch_dtype(config.floatx()))
    axis = canonical_axis(axis, y.ndim, "trapezoid")
    if x is not None:
        return torch.trapezoid(y, as_tensors(y, x)[1], dim=axis)
    return torch.trapezoid(y, dx=as_tensors(y, dx)[1], dim=axis)


# ---------------------------------------------------------------- vectorize
_CORE = r"\((?:\w+(?:,\s*\w+)*)?\)"
_SIGNATURE = re.compile(rf"^\s*{_CORE}(?:\s*,\s*{_CORE})*\s*->\s*{_CORE}(?:\s*,\s*{_CORE})*\s*$")


def _parse_signature(signature: str) -> Tuple[List[Tuple[str, ...]], List[Tuple[str, ...]]]:
    if not _SIGNATURE.match(signature):
        raise ValueError(
            f"ops.vectorize: invalid signature {signature!r}. Expected NumPy's gufunc form, e.g. '(n),(n)->()' "
            "or '(m,n)->(n,m)'."
        )
    inputs, outputs = signature.split("->")

    def cores(part: str) -> List[Tuple[str, ...]]:
        return [tuple(d.strip() for d in group.split(",") if d.strip()) for group in re.findall(r"\(([^)]*)\)", part)]

    return cores(inputs), cores(outputs)


@op("numpy")
def vectorize(pyfunc: Callable[..., Any], *, excluded: Optional[set] = None,
              signature: Optional[str] = None) -> Callable[..., Any]:
    """`pyfunc` made to map over the leading (broadcast) axes of its tensor arguments, with torch.vmap.

    `signature` (NumPy's gufunc form, e.g. '(n),(n)->()') names the core axes each
    argument keeps. Positional arguments listed in `excluded`, and None arguments, are
    passed through unmapped (Keras's torch backend ignores `excluded`). Keyword arguments
    must be excluded.
    """
    if not callable(pyfunc):
        raise ValueError(f"ops.vectorize expects a callable `pyfunc`. Received: pyfunc={pyfunc!r}.")
    static_names = set(excluded or ())
    in_cores, _ = _parse_signature(signature) if signature is not None else (None, None)

    @functools.wraps(pyfunc)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        mapped_kwargs = sorted(k for k in kwargs if k not in static_names)
        if mapped_kwargs:
            raise TypeError(
                f"ops.vectorize: keyword arguments {mapped_kwargs} are not mapped over. Pass them positionally, "
                "or list them in `excluded` to pass them through unchanged."
            )
        static: Dict[int, Any] = {i: a for i, a in enumerate(args) if i in static_names or a is None}
        dynamic = as_tensors(*[a for i, a in enumerate(args) if i not in static])
        cores = in_cores if in_cores is not None else [()] * len(dynamic)
        if len(cores) != len(dynamic):
            raise TypeError(f"ops.vectorize: the signature expects {len(cores)} mapped arguments, got {len(dynamic)}.")

        def call(*mapped: Any) -> Any:
            it = iter(mapped)
            full = [static[i] if i in static else next(it) for i in range(len(args))]
            return pyfunc(*full, **kwargs)

        sizes: Dict[str, int] = {}
        loop_shapes = []
        for t, core in zip(dynamic, cores):
            if t.ndim < len(core):
                raise ValueError(
                    f"ops.vectorize: an argument of shape {shape_of(t)} has fewer axes than its core {core}."
                )
            for name, n in zip(core, t.shape[t.ndim - len(core):]):
                if sizes.setdefault(name, n) != n:
                    raise ValueError(
                        f"ops.vectorize: inconsistent size for core dimension {name!r}: {n} vs {sizes[name]}."
                    )
            loop_shapes.append(tuple(t.shape[: t.ndim - len(core)]))
        batch = tuple(torch.broadcast_shapes(*loop_shapes)) if loop_shapes else ()
        padded = [(1,) * (len(batch) - len(s)) + s for s in loop_shapes]
        # Size-1 loop axes are dropped and not mapped over: the function sees those arguments whole.
        squeezed = [t.reshape(tuple(n for n in p if n != 1) + tuple(t.shape[len(s):]))
                    for t, p, s in zip(dynamic, padded, loop_shapes)]
        fn = call
        unmapped = []
        for d in reversed(range(len(batch))):
            in_dims = tuple(None if p[d] == 1 else 0 for p in padded)
            if all(i is None for i in in_dims):
                unmapped.append(d)
            else:
                fn = torch.vmap(fn, in_dims=in_dims)
        out = fn(*squeezed)

        def restore(r: torch.Tensor) -> torch.Tensor:
            for d in sorted(unmapped):
                r = r.unsqueeze(d)
            return r

        return tuple(restore(r) for r in out) if isinstance(out, tuple) else restore(out)

    return wrapped


__all__ = [
    "correlate", "cross", "dot", "einsum", "inner", "kron", "matmul", "outer", "slogdet", "tensordot", "trace",
    "trapezoid", "vander", "vdot", "vectorize",
]
