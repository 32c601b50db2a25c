"""Keras's `ops.linalg` on torch: decompositions, solvers, norms and a forward-mode JVP.

Every op works on the last two axes of a batch of matrices (..., M, N), as `torch.linalg`
does, and returns torch's results (its named tuples for `eig`, `eigh`, `qr` and `svd`).
Like Keras's torch backend, the decompositions and solvers need float or complex inputs;
an integer matrix raises TypeError naming the cast to make. Eigenvectors and singular
vectors are unique only up to sign (and order for `eig`): compare reconstructions.
"""

from __future__ import annotations

import difflib
import math as _math
from typing import Any, Callable, Optional, Sequence, Tuple, Union

import torch

from kerasish import config, tree
from kerasish.ops.core import normalize_axis, tensors
from kerasish.ops.dtypes import result_type, standardize_dtype, to_torch_dtype
from kerasish.ops.operation import op

__all__ = [
    "cholesky", "cholesky_inverse", "det", "eig", "eigh", "inv", "jvp", "lstsq", "lu_factor", "matrix_rank", "norm",
    "pinv", "qr", "solve", "solve_triangular", "svd",
]

_QR_MODES = ("reduced", "complete")
_MATRIX_ORDS = (None, "fro", "nuc", _math.inf, -_math.inf, 1, -1, 2, -2)


def _matrix(x: Any, name: str, square: bool = False) -> torch.Tensor:
    """`x` as a float or complex tensor of rank >= 2 (square if asked), else a clear error."""
    x = tensors(x)[0]
    if x.ndim < 2:
        raise ValueError(f"ops.{name}: expected a matrix or a batch of matrices (rank >= 2). "
                         f"Received shape {tuple(x.shape)}.")
    if square and x.shape[-1] != x.shape[-2]:
        raise ValueError(f"ops.{name}: expected square matrices (..., M, M). Received non-square shape "
                         f"{tuple(x.shape)}.")
    if not (x.is_floating_point() or x.is_complex()):
        raise TypeError(f"ops.{name}: expected a float or complex matrix. Received dtype "
                        f"{standardize_dtype(x.dtype)}; cast it first, e.g. ops.cast(x, 'float32').")
    return x


def _system(a: Any, b: Any, name: str, square: bool = True) -> Tuple[torch.Tensor, torch.Tensor, bool]:
    """`a` (..., M, N) and `b` (..., M) or (..., M, K) in one dtype; the bool says b is a vector (batch)."""
    a, b = tensors(a, b)
    a = _matrix(a, name, square=square)
    if b.ndim < 1:
        raise ValueError(f"ops.{name}: b must have rank >= 1. Received a scalar.")
    vector = b.ndim == a.ndim - 1
    rows = b.shape[-1] if vector else b.shape[-2] if b.ndim >= 2 else None
    if rows != a.shape[-2]:
        raise ValueError(f"ops.{name}: a (..., M, N) and b (..., M) or (..., M, K) must agree on M. Received: "
                         f"a.shape={tuple(a.shape)}, b.shape={tuple(b.shape)}.")
    dtype = torch.promote_types(a.dtype, b.dtype)
    return a.to(dtype), b.to(dtype), vector


def _linalg_error(name: str, err: Exception) -> ValueError:
    return ValueError(f"ops.{name} failed: {err}")


@op("linalg")
def cholesky(x: Any, upper: bool = False) -> torch.Tensor:
    """The Cholesky factor of positive-definite matrices: lower (default) or upper triangular.

    Raises ValueError when a matrix is not positive definite (torch checks on the host).
    """
    x = _matrix(x, "cholesky", square=True)
    try:
        return torch.linalg.cholesky(x, upper=upper)
    except torch.linalg.LinAlgError as e:
        raise _linalg_error("cholesky", e) from None


@op("linalg")
def cholesky_inverse(x: Any, upper: bool = False) -> torch.Tensor:
    """The inverse of `A` from its Cholesky factor `x` (`A = x @ x.T`, or `x.T @ x` with `upper=True`).

    As in every Keras backend, `x` is the triangular factor (from `cholesky`), not `A`.
    """
    x = _matrix(x, "cholesky_inverse", square=True)
    try:
        return torch.cholesky_inverse(x, upper=upper)
    except torch.linalg.LinAlgError as e:
        raise _linalg_error("cholesky_inverse", e) from None


@op("linalg")
def det(x: Any) -> torch.Tensor:
    """The determinant of square matrices: shape (...,)."""
    return torch.linalg.det(_matrix(x, "det", square=True))


@op("linalg")
def eig(x: Any) -> Any:
    """Eigenvalues (..., M) and eigenvectors (..., M, M) of general square matrices, both complex."""
    return torch.linalg.eig(_matrix(x, "eig", square=True))


@op("linalg")
def eigh(x: Any) -> Any:
    """Eigenvalues (ascending, real) and eigenvectors of symmetric / Hermitian matrices (lower triangle read)."""
    return torch.linalg.eigh(_matrix(x, "eigh", square=True))


@op("linalg")
def inv(x: Any) -> torch.Tensor:
    """The inverse of square matrices; ValueError for a singular one (torch checks on the host)."""
    x = _matrix(x, "inv", square=True)
    try:
        return torch.linalg.inv(x)
    except torch.linalg.LinAlgError as e:
        raise _linalg_error("inv", e) from None


@op("linalg")
def lu_factor(x: Any) -> Tuple[torch.Tensor, torch.Tensor]:
    """The packed LU factorisation with partial pivoting: `(lu, pivots)`, pivots 0-based int32."""
    lu, pivots = torch.linalg.lu_factor(_matrix(x, "lu_factor"))
    return lu, pivots - 1


def _norm_dtype(x: torch.Tensor) -> torch.dtype:
    """Keras's norm dtype: int64 -> floatx, else result_type(x, float) narrowed to 32 bits (float64 -> float32)."""
    name = standardize_dtype(x.dtype)
    if name == "int64":
        return to_torch_dtype(config.floatx())
    out = result_type(name, float)
    return to_torch_dtype({"float64": "float32", "complex128": "complex64"}.get(out, out))


@op("linalg")
def norm(x: Any, ord: Union[None, int, float, str] = None, axis: Union[None, int, Sequence[int]] = None,
         keepdims: bool = False) -> torch.Tensor:
    """A vector norm (one axis) or matrix norm (two axes) of `x`.

    `axis=None` is the 2-norm of all of `x` flattened when `ord` is None, else the vector or
    matrix norm of a 1-D or 2-D `x`. Matrix `ord`: None/'fro', 'nuc', inf, -inf, 1, -1, 2, -2.
    Vector `ord`: any number (0 counts non-zeros). Dtypes as Keras: integers give floatx,
    and float64 gives float32.
    """
    x = tensors(x)[0]
    if axis is None:
        dims: Optional[Tuple[int, ...]] = None
        if ord is not None and x.ndim not in (1, 2):
            raise ValueError(f"ops.norm: with ord={ord!r} and axis=None, x must be 1-D or 2-D. Received shape "
                             f"{tuple(x.shape)}; pass axis (one axis: a vector norm, two: a matrix norm).")
        matrix = ord is not None and x.ndim == 2
    else:
        items = tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)
        dims = tuple(normalize_axis(a, x.ndim, "norm") for a in items)
        if len(dims) not in (1, 2) or len(set(dims)) != len(dims):
            raise ValueError(f"ops.norm: axis must name one axis (vector norm) or two distinct axes (matrix norm). "
                             f"Received: axis={axis!r}.")
        matrix = len(dims) == 2
    if matrix and ord not in _MATRIX_ORDS:
        raise ValueError(f"ops.norm: invalid ord={ord!r} for a matrix norm. Expected one of {list(_MATRIX_ORDS)}.")
    if not matrix and isinstance(ord, str):
        raise ValueError(f"ops.norm: ord={ord!r} is a matrix norm, but the norm is over one axis. Use a number for a "
                         "vector norm, or pass two axes.")
    if isinstance(ord, str) and ord not in ("fro", "nuc"):
        raise ValueError(f"ops.norm: invalid ord={ord!r}. String orders are 'fro' and 'nuc'.")
    return torch.linalg.norm(x.to(_norm_dtype(x)), ord=ord, dim=dims, keepdim=keepdims)


@op("linalg")
def qr(x: Any, mode: str = "reduced") -> Any:
    """The QR decomposition `(q, r)` of (..., M, N) matrices, K = min(M, N).

    `mode='reduced'` gives q (..., M, K) and r (..., K, N); 'complete' gives q (..., M, M)
    and r (..., M, N).
    """
    if mode not in _QR_MODES:
        close = difflib.get_close_matches(str(mode), _QR_MODES, n=1)
        raise ValueError(f"ops.qr: invalid mode={mode!r}. Expected 'reduced' or 'complete'"
                         + (f"; did you mean {close[0]!r}?" if close else "."))
    return torch.linalg.qr(_matrix(x, "qr"), mode=mode)


@op("linalg")
def solve(a: Any, b: Any) -> torch.Tensor:
    """The solution of `a @ x = b` for square `a` (..., M, M) and `b` (..., M) or (..., M, K); x has b's shape."""
    a, b, _ = _system(a, b, "solve")
    try:
        return torch.linalg.solve(a, b)
    except torch.linalg.LinAlgError as e:
        raise _linalg_error("solve", e) from None


@op("linalg")
def solve_triangular(a: Any, b: Any, lower: bool = False) -> torch.Tensor:
    """`solve` for triangular `a` (upper unless `lower=True`; the other triangle is ignored)."""
    a, b, vector = _system(a, b, "solve_triangular")
    if vector:
        return torch.linalg.solve_triangular(a, b.unsqueeze(-1), upper=not lower).squeeze(-1)
    return torch.linalg.solve_triangular(a, b, upper=not lower)


@op("linalg")
def svd(x: Any, full_matrices: bool = True, compute_uv: bool = True) -> Any:
    """The singular value decomposition `(u, s, vh)` with `x = u @ diag(s) @ vh`; just `s` when `compute_uv=False`."""
    x = _matrix(x, "svd")
    if not compute_uv:
        return torch.linalg.svdvals(x)
    return torch.linalg.svd(x, full_matrices=full_matrices)


@op("linalg")
def lstsq(a: Any, b: Any, rcond: Optional[float] = None) -> torch.Tensor:
    """The least-squares solution `x` of `a @ x = b` for a (..., M, N), b (..., M) or (..., M, K).

    With `rcond`, singular values below `rcond * largest` are dropped (SVD-based, NumPy's
    meaning: the 'gelsd' driver on CPU, `pinv` on CUDA, as Keras's torch backend does).
    Without it torch's default driver runs (on CUDA it assumes a full-rank, tall `a`).
    """
    a, b, vector = _system(a, b, "lstsq", square=False)
    if vector:
        b = b.unsqueeze(-1)
    if rcond is None:
        x = torch.linalg.lstsq(a, b).solution
    elif a.device.type == "cuda":
        x = torch.linalg.pinv(a, rtol=rcond) @ b
    else:
        x = torch.linalg.lstsq(a, b, rcond=rcond, driver="gelsd").solution
    return x.squeeze(-1) if vector else x


@op("linalg")
def matrix_rank(x: Any, tol: Optional[float] = None) -> torch.Tensor:
    """The number of singular values above `tol` (default: torch's, from the largest one and the size), int32."""
    return torch.linalg.matrix_rank(_matrix(x, "matrix_rank"), atol=tol).to(torch.int32)


@op("linalg")
def pinv(x: Any, rcond: Optional[float] = None) -> torch.Tensor:
    """The Moore-Penrose pseudo-inverse (..., N, M); singular values <= rcond * largest count as zero."""
    return torch.linalg.pinv(_matrix(x, "pinv"), rtol=rcond)


@op("linalg")
def jvp(fun: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any], has_aux: bool = False) -> Any:
    """Forward-mode `(fun(*primals), J @ tangents)` (plus `aux` with `has_aux=True`), by `torch.func.jvp`.

    `primals` and `tangents` are lists or tuples of the same structure and shapes; their
    leaves may be tensors, arrays or numbers.
    """
    if not callable(fun):
        raise TypeError(f"ops.jvp: fun must be a callable. Received: {fun!r}.")
    for arg, value in (("primals", primals), ("tangents", tangents)):
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"ops.jvp: {arg} must be a list or tuple of fun's arguments. Received "
                            f"{type(value).__name__}; wrap a single argument as ({arg[:-1]},).")
    primals = tree.map_structure(lambda t: tensors(t)[0], tuple(primals))
    tangents = tree.map_structure(lambda t: tensors(t)[0], tuple(tangents))
    try:
        tree.assert_same_structure(primals, tangents, check_types=False)
    except ValueError as e:
        raise ValueError(f"ops.jvp: tangents must have the structure of primals. {e}") from None
    for p, t in zip(tree.flatten(primals), tree.flatten(tangents)):
        if p.shape != t.shape:
            raise ValueError(f"ops.jvp: each tangent must have its primal's shape. Received a primal of shape "
                             f"{tuple(p.shape)} with a tangent of shape {tuple(t.shape)}.")
    return torch.func.jvp(fun, primals, tangents, has_aux=has_aux)
