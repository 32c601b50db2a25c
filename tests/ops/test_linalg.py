"""kerasish.ops.linalg (decompositions, solvers, norms, jvp) against Keras 3 (torch backend).

Decompositions are unique only up to signs (eigenvectors, singular vectors, QR's rows and
columns) and, for `eig`, order. Both sides run the same torch routine on the same CPU, so
`check_op` compares them directly; each decomposition test also checks the reconstruction
(which holds whatever signs a LAPACK build picks), so the test does not rest on that.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish.ops as kops
from kerasish.ops.operation import get_op, registered_ops
from tests.keras_parity import keras_module
from tests.ops.ops_parity import check_op

rng = np.random.default_rng(0)


def rand(*shape, dtype="float32", scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(dtype)


def spd(*shape, dtype="float32"):
    a = rand(*shape, dtype="float64")
    return (a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])).astype(dtype)


def close(a, b, atol=1e-4):
    torch.testing.assert_close(a, torch.as_tensor(b, dtype=a.dtype), atol=atol, rtol=atol)


ALL_LINALG = sorted("""cholesky cholesky_inverse det eig eigh inv jvp lstsq lu_factor matrix_rank norm pinv qr solve
solve_triangular svd""".split())

SHAPES = [(3, 3), (2, 4, 4), (1, 1)]
DTYPES = ["float32", "float64"]


def test_every_linalg_op_is_registered_flat_and_in_keras():
    keras = keras_module()
    assert sorted(n for n in dir(keras.ops.linalg) if not n.startswith("_")) == ALL_LINALG
    assert sorted(k[7:] for k in registered_ops() if k.startswith("linalg.")) == ALL_LINALG
    for name in ALL_LINALG:
        assert getattr(kops.linalg, name) is getattr(kops, name) is get_op(f"linalg.{name}")


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky(shape, dtype, upper):
    x = spd(*shape, dtype=dtype)
    factor = check_op("cholesky", x, upper=upper, namespace="linalg")
    rebuilt = factor.mT @ factor if upper else factor @ factor.mT
    close(rebuilt, x)
    inverse = check_op("cholesky_inverse", factor.numpy(), upper=upper, namespace="linalg", atol=1e-4)
    close(inverse @ torch.from_numpy(x), np.broadcast_to(np.eye(shape[-1]), shape).copy())


def test_cholesky_of_lists_and_errors():
    check_op("cholesky", [[4.0, 2.0], [2.0, 5.0]])
    check_op("cholesky_inverse", np.eye(2))
    with pytest.raises(ValueError, match="ops.cholesky failed: .*not positive-definite"):
        kops.cholesky(-torch.eye(3))
    with pytest.raises(ValueError, match=r"expected square matrices \(..., M, M\). Received non-square shape \(2, 3\)"):
        kops.cholesky(torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"rank >= 2\). Received shape \(3,\)"):
        kops.cholesky_inverse(torch.ones(3))


@pytest.mark.parametrize("shape", SHAPES + [(0, 3, 3)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_det_and_inv(shape, dtype):
    x = rand(*shape, dtype=dtype) + 2 * np.eye(shape[-1], dtype=dtype)
    check_op("det", x, atol=1e-4)
    check_op("inv", x, atol=1e-4, rtol=1e-4)


def test_det_and_inv_errors():
    with pytest.raises(ValueError, match=r"inv: expected square matrices.*\(2, 3\)"):
        kops.inv(torch.ones(2, 3))
    with pytest.raises(TypeError, match=r"det: expected a float or complex matrix. Received dtype int32.*ops.cast"):
        kops.det(torch.eye(3, dtype=torch.int32))
    with pytest.raises(ValueError, match="ops.inv failed: .*singular"):
        kops.inv(torch.zeros(2, 2))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_eig(shape, dtype):
    # Eigenvalue order and eigenvector scale are not unique: also check A v = lambda v.
    x = rand(*shape, dtype=dtype)
    values, vectors = check_op("eig", x, atol=1e-4)
    close(torch.from_numpy(x).to(vectors.dtype) @ vectors, vectors * values[..., None, :], atol=1e-3)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_eigh(shape, dtype):
    # Eigenvector signs are not unique: also check V diag(w) V^T == A.
    x = spd(*shape, dtype=dtype)
    values, vectors = check_op("eigh", x, atol=1e-4)
    close(vectors @ torch.diag_embed(values) @ vectors.mT, x, atol=1e-3)
    assert bool((values[..., 1:] >= values[..., :-1]).all())


@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 5), (2, 3, 4)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_lu_factor(shape, dtype):
    x = rand(*shape, dtype=dtype)
    lu, pivots = check_op("lu_factor", x)
    assert pivots.dtype == torch.int32 and int(pivots.min()) >= 0
    # Rebuild P L U from the packed factors and the 0-based pivots.
    p, l, u = torch.lu_unpack(lu, (pivots + 1))
    close(p @ l @ u, x)


NORMS = [
    ({}, (2, 3, 4)),
    ({"axis": -1}, (2, 3, 4)),
    ({"axis": 1, "keepdims": True, "ord": 1}, (2, 3, 4)),
    ({"axis": (0, 2), "ord": "fro"}, (2, 3, 4)),
    ({"axis": [1, 2], "ord": "nuc"}, (2, 3, 4)),
    ({"axis": (0, 1), "ord": np.inf, "keepdims": True}, (2, 3, 4)),
    ({"axis": (-1, -2), "ord": -2}, (2, 3, 4)),
    ({"ord": 2}, (3, 4)),
    ({"ord": -np.inf}, (5,)),
    ({"ord": 0}, (5,)),
    ({"ord": 3.5, "axis": 0}, (4, 2)),
    ({"ord": "fro"}, (3, 4)),
    ({}, (0, 3)),
]


@pytest.mark.parametrize("kwargs,shape", NORMS, ids=[str(k) for k, _ in NORMS])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int32", "int64", "bool"])
def test_norm(kwargs, shape, dtype):
    if dtype == "float16" and kwargs.get("ord") in ("nuc", -2, 2):
        pytest.skip("torch has no float16 SVD on the CPU (Keras fails too)")
    x = rand(*shape, scale=3.0)
    x = (x > 0) if dtype == "bool" else x.astype(dtype)
    tol = 1e-2 if dtype == "float16" else 1e-4
    check_op("norm", x, atol=tol, rtol=tol, **kwargs)


def test_norm_of_lists_and_errors():
    check_op("norm", [3, 4])
    with pytest.raises(ValueError, match=r"with ord=2 and axis=None, x must be 1-D or 2-D. Received shape \(2, 3, 4\)"):
        kops.norm(torch.ones(2, 3, 4), ord=2)
    with pytest.raises(ValueError, match="invalid ord=3 for a matrix norm"):
        kops.norm(torch.ones(3, 4), ord=3, axis=(0, 1))
    with pytest.raises(ValueError, match="ord='fro' is a matrix norm, but the norm is over one axis"):
        kops.norm(torch.ones(4), ord="fro")
    with pytest.raises(ValueError, match="one axis .* or two distinct axes"):
        kops.norm(torch.ones(3, 4), axis=(0, 1, 1))
    with pytest.raises(ValueError, match="axis 2 is out of range for a tensor of rank 2"):
        kops.norm(torch.ones(3, 4), axis=2)


@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (2, 3, 3)])
@pytest.mark.parametrize("mode", ["reduced", "complete"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_qr(shape, mode, dtype):
    # Signs of Q's columns / R's rows are not unique: also check Q R == A and Q^T Q == I.
    x = rand(*shape, dtype=dtype)
    q, r = check_op("qr", x, mode=mode, atol=1e-4)
    close(q @ r, x)
    close(q.mT @ q, torch.eye(q.shape[-1]).expand(q.shape[:-2] + (q.shape[-1],) * 2))


def test_qr_bad_mode():
    with pytest.raises(ValueError, match=r"invalid mode='complet'.*did you mean 'complete'"):
        kops.qr(torch.ones(3, 3), mode="complet")
    with pytest.raises(TypeError, match="qr: expected a float or complex matrix"):
        kops.qr(torch.eye(3, dtype=torch.int32))


SYSTEMS = [((3, 3), (3,)), ((3, 3), (3, 2)), ((2, 3, 3), (2, 3)), ((2, 3, 3), (2, 3, 4)), ((1, 1), (1,))]


@pytest.mark.parametrize("a_shape,b_shape", SYSTEMS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_solve(a_shape, b_shape, dtype):
    a = rand(*a_shape, dtype=dtype) + 3 * np.eye(a_shape[-1], dtype=dtype)
    check_op("solve", a, rand(*b_shape, dtype=dtype), atol=1e-4)


@pytest.mark.parametrize("a_shape,b_shape", SYSTEMS)
@pytest.mark.parametrize("lower", [False, True])
def test_solve_triangular(a_shape, b_shape, lower):
    a = rand(*a_shape) + 3 * np.eye(a_shape[-1], dtype="float32")
    a = np.tril(a) if lower else np.triu(a)
    check_op("solve_triangular", a, rand(*b_shape), lower=lower, atol=1e-4)
    check_op("solve_triangular", rand(*a_shape) + 3 * np.eye(a_shape[-1], dtype="float32"), rand(*b_shape),
             lower=lower, atol=1e-4)  # the other triangle is ignored


def test_solvers_accept_lists_and_promote():
    check_op("solve", [[2.0, 0.0], [0.0, 4.0]], [1.0, 2.0])
    check_op("solve_triangular", np.eye(2), np.ones(2))
    x = kops.solve(torch.eye(2), torch.ones(2, dtype=torch.float64))  # Keras's torch backend fails here
    assert x.dtype == torch.float64


def test_solve_errors():
    with pytest.raises(ValueError, match=r"must agree on M. Received: a.shape=\(3, 3\), b.shape=\(4,\)"):
        kops.solve(torch.eye(3), torch.ones(4))
    with pytest.raises(ValueError, match=r"must agree on M.*b.shape=\(4, 2\)"):
        kops.solve_triangular(torch.eye(3), torch.ones(4, 2))
    with pytest.raises(ValueError, match="solve: expected square matrices"):
        kops.solve(torch.ones(3, 2), torch.ones(3))
    with pytest.raises(ValueError, match="b must have rank >= 1"):
        kops.solve(torch.eye(3), torch.tensor(1.0))


@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (2, 3, 3)])
@pytest.mark.parametrize("full_matrices", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_svd(shape, full_matrices, dtype):
    # Singular vectors' signs are not unique: also check U diag(S) V^H == A.
    x = rand(*shape, dtype=dtype)
    u, s, vh = check_op("svd", x, full_matrices=full_matrices, atol=1e-4)
    k = s.shape[-1]
    close(u[..., :k] @ torch.diag_embed(s) @ vh[..., :k, :], x)
    check_op("svd", x, compute_uv=False, atol=1e-5)


def test_svd_int_error():
    with pytest.raises(TypeError, match="svd: expected a float or complex matrix. Received dtype int32"):
        kops.svd(torch.eye(3, dtype=torch.int32))


@pytest.mark.parametrize("a_shape,b_shape", [((4, 3), (4,)), ((4, 3), (4, 2)), ((3, 3), (3,)), ((2, 5, 3), (2, 5, 2))])
@pytest.mark.parametrize("rcond", [None, 1e-3])
def test_lstsq(a_shape, b_shape, rcond):
    check_op("lstsq", rand(*a_shape), rand(*b_shape), rcond=rcond, atol=1e-4)
    check_op("lstsq", rand(*a_shape, dtype="float64"), rand(*b_shape, dtype="float64"), rcond=rcond)


def test_lstsq_rank_deficient_with_rcond_and_errors():
    a = np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]], "float64")
    check_op("lstsq", a, np.array([1.0, 2.0, 3.0]), rcond=1e-6)
    with pytest.raises(ValueError, match=r"must agree on M. Received: a.shape=\(4, 3\), b.shape=\(5,\)"):
        kops.lstsq(torch.ones(4, 3), torch.ones(5))


@pytest.mark.parametrize("x,tol", [(np.ones((3, 3), "float32"), None), (spd(3, 3), 100.0), (np.eye(4), None),
                                   (rand(2, 3, 5), None), (rand(3, 2), 1e-3), (np.zeros((0, 2, 2), "float32"), None)])
def test_matrix_rank(x, tol):
    check_op("matrix_rank", x, tol=tol)


@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (2, 3, 3)])
@pytest.mark.parametrize("rcond", [None, 0.5])
def test_pinv(shape, rcond):
    check_op("pinv", rand(*shape), rcond=rcond, atol=1e-4)


def test_matrix_rank_and_pinv_int_errors():
    with pytest.raises(TypeError, match="matrix_rank: expected a float or complex matrix"):
        kops.matrix_rank(torch.eye(3, dtype=torch.int32))
    with pytest.raises(TypeError, match="pinv: expected a float or complex matrix"):
        kops.pinv(torch.eye(3, dtype=torch.int64))


JVPS = [
    (lambda x: x * x, (rand(3),), (rand(3),), False),
    (lambda x, y: x @ y, (rand(2, 3), rand(3)), (rand(2, 3), rand(3)), False),
    (lambda x: (x.sin(), x.cos()), (rand(4),), (np.ones(4, "float32"),), False),
    (lambda x: (x * x, x + 1), (rand(3),), (rand(3),), True),
]


@pytest.mark.parametrize("fun,primals,tangents,has_aux", JVPS)
def test_jvp(fun, primals, tangents, has_aux):
    check_op("jvp", fun, primals, tangents, has_aux=has_aux)


def test_jvp_accepts_lists_and_arrays():
    out, tangent = kops.jvp(lambda x, y: x * y, [np.ones(3), 2 * np.ones(3)], [np.ones(3), np.zeros(3)])
    assert out.tolist() == [2.0] * 3 and tangent.tolist() == [2.0] * 3


def test_jvp_errors():
    with pytest.raises(ValueError, match=r"each tangent must have its primal's shape.*\(3,\).*\(2,\)"):
        kops.jvp(lambda x: x * x, (torch.ones(3),), (torch.ones(2),))
    with pytest.raises(ValueError, match="tangents must have the structure of primals"):
        kops.jvp(lambda x: x, (torch.ones(3),), (torch.ones(3), torch.ones(3)))
    with pytest.raises(TypeError, match=r"primals must be a list or tuple.*wrap a single argument as \(primal,\)"):
        kops.jvp(lambda x: x, torch.ones(3), (torch.ones(3),))
