"""kerasish.ops products (matmul, dot, einsum ...), correlate, trapezoid and vectorize against Keras 3."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish.ops as kops
from tests.keras_parity import keras_module
from tests.ops.ops_parity import check_op

rng = np.random.default_rng(2)
A = rng.standard_normal((3, 4)).astype("float32")
Bm = rng.standard_normal((4, 5)).astype("float32")
Bt = rng.standard_normal((2, 3, 4)).astype("float32")
Ct = rng.standard_normal((2, 4, 5)).astype("float32")
V3 = rng.standard_normal((3,)).astype("float32")
V4 = rng.standard_normal((4,)).astype("float32")
I34 = rng.integers(-4, 4, (3, 4)).astype("int32")
I45 = rng.integers(-4, 4, (4, 5)).astype("int32")
I8a = rng.integers(-100, 100, (3, 4)).astype("int8")
I8b = rng.integers(-100, 100, (4, 2)).astype("int8")
BOOL34 = rng.random((3, 4)) > 0.5
BOOL45 = rng.random((4, 5)) > 0.5
SQ = rng.standard_normal((2, 3, 3)).astype("float32")
P3 = rng.standard_normal((4, 3)).astype("float32")
Q3 = rng.standard_normal((4, 3)).astype("float32")

CASES = [
    ("matmul", (A, Bm), {}),
    ("matmul", (Bt, Ct), {}),
    ("matmul", (Bt, Bm), {}),
    ("matmul", (V4, Bm), {}),
    ("matmul", (A, V4), {}),
    ("matmul", (V4, V4), {}),
    ("matmul", (I34, I45), {}),
    ("matmul", (I8a, I8b), {}),
    ("matmul", (BOOL34, BOOL45), {}),
    ("matmul", (I34, Bm), {}),
    ("matmul", (A.astype("float16"), Bm.astype("float16")), {"atol": 1e-2, "rtol": 1e-2}),
    ("matmul", (A.astype("float64"), Bm.astype("float64")), {}),
    ("matmul", (np.zeros((0, 4), "float32"), Bm), {}),
    ("dot", (A, Bm), {}),
    ("dot", (V4, V4), {}),
    ("dot", (A, V4), {}),
    ("dot", (Bt, Bm), {}),
    ("dot", (V4, Ct), {}),
    ("dot", (I34, I45), {}),
    ("dot", (A, np.float32(2.0)), {}),
    ("dot", (np.int32(3), I34), {}),
    ("inner", (A, V4), {}),
    ("inner", (A, A), {}),
    ("inner", (I34, I34), {}),
    ("inner", (V4, np.float32(2.0)), {}),
    ("outer", (V3, V4), {}),
    ("outer", (A, V3), {}),
    ("outer", (np.arange(3, dtype="int32"), V4), {}),
    ("vdot", (V4, V4), {}),
    ("vdot", (np.arange(3, dtype="int32"), np.arange(3, dtype="int32")), {}),
    ("tensordot", (A, Bm), {"axes": 1}),
    ("tensordot", (Bt, Ct), {"axes": ([0, 2], [0, 1])}),
    ("tensordot", (A, A), {}),
    ("tensordot", (A, Bm), {"axes": (1, 0)}),
    ("tensordot", (I34, I45), {"axes": 1}),
    ("tensordot", (V3, V4), {"axes": 0}),
    ("einsum", ("ij,jk->ik", A, Bm), {}),
    ("einsum", ("bij,bjk->bik", Bt, Ct), {}),
    ("einsum", ("ii->i", SQ[0]), {}),
    ("einsum", ("...ij->...ji", Bt), {}),
    ("einsum", ("i,i->", V4, V4), {}),
    ("einsum", ("ij,jk->ik", I34, I45), {}),
    ("einsum", ("ij,jk->ik", I8a, I8b), {}),
    ("einsum", ("ij->", A), {}),
    ("kron", (A[:2, :2], A[:3, :2]), {}),
    ("kron", (np.arange(2, dtype="int32"), np.ones(3, "int8")), {}),
    ("kron", (V3, V4), {}),
    ("cross", (V3, V3[::-1].copy()), {}),
    ("cross", (P3, Q3), {}),
    ("cross", (P3.T.copy(), Q3.T.copy()), {"axis": 0}),
    ("cross", (P3.astype("int32"), Q3.astype("int32")), {}),
    ("trace", (A,), {}),
    ("trace", (SQ,), {"offset": 1, "axis1": 1, "axis2": 2}),
    ("trace", (I34,), {"offset": -1}),
    ("trace", (BOOL34,), {}),
    ("trace", (I8a,), {}),
    ("trace", (A.astype("float64"),), {}),
    ("trace", (np.ones((3, 3), "int64"),), {}),
    ("slogdet", (SQ[0],), {}),
    ("slogdet", (SQ,), {}),
    ("correlate", (np.array([1.0, 2, 3, 4, 5], "float32"), np.array([0.0, 1, 0.5], "float32")), {}),
    ("correlate", (np.array([1.0, 2, 3, 4, 5], "float32"), np.array([0.0, 1, 0.5], "float32")), {"mode": "same"}),
    ("correlate", (np.array([1.0, 2, 3, 4, 5], "float32"), np.array([0.0, 1, 0.5], "float32")), {"mode": "full"}),
    ("correlate", (np.array([1.0, 2, 3], "float32"), np.array([0.0, 1, 0.5, 2], "float32")), {"mode": "full"}),
    ("correlate", (np.array([1.0, 2, 3], "float32"), np.array([0.0, 1, 0.5, 2], "float32")), {}),
    ("correlate", (np.arange(5, dtype="int32"), np.arange(2, dtype="int32")), {}),
    ("correlate", (np.arange(5, dtype="int64"), np.arange(2, dtype="int64")), {"mode": "full"}),
    ("correlate", (rng.standard_normal((2, 6)).astype("float32"), rng.standard_normal((2, 3)).astype("float32")),
     {"mode": "full"}),
    ("vander", (V3,), {}),
    ("vander", (np.array([1, 2, 3], "int32"),), {"N": 4, "increasing": True}),
    ("vander", (np.array([1, 2, 3], "int64"),), {}),
    ("vander", (V3,), {"N": 0}),
    ("trapezoid", (V4,), {}),
    ("trapezoid", (A,), {"axis": 0}),
    ("trapezoid", (A,), {"dx": 0.5}),
    ("trapezoid", (V4, np.array([0.0, 1.0, 3.0, 4.0], "float32")), {}),
    ("trapezoid", (np.array([1, 2, 3], "int32"),), {}),
    ("trapezoid", (np.array([1, 2, 3], "int32"), np.array([1, 2, 4], "int32")), {}),
    ("trapezoid", (BOOL34,), {}),
]


@pytest.mark.parametrize("name,args,kwargs", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_matches_keras(name, args, kwargs):
    check_op(name, *args, **kwargs)


def test_beyond_keras_torch_follows_numpy():
    x, y = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    np.testing.assert_allclose(kops.cross(torch.from_numpy(x), torch.from_numpy(y), axisa=0, axisb=0).numpy(),
                               np.cross(x, y, axisa=0, axisb=0), rtol=1e-6)
    np.testing.assert_allclose(kops.cross(torch.from_numpy(x), torch.from_numpy(y), axisa=0, axisb=0, axisc=0).numpy(),
                               np.cross(x, y, axisa=0, axisb=0, axisc=0), rtol=1e-6)
    m = rng.standard_normal((3, 4))
    np.testing.assert_allclose(kops.vdot(torch.from_numpy(m), torch.from_numpy(m)).numpy(), np.vdot(m, m), rtol=1e-6)
    np.testing.assert_allclose(kops.cross(torch.from_numpy(P3), torch.from_numpy(V3)).numpy(), np.cross(P3, V3),
                               rtol=1e-5, atol=1e-6)
    for n, m in [(2, 3), (2, 4), (1, 5), (3, 3), (5, 2)]:
        a, v = rng.standard_normal(n), rng.standard_normal(m)
        for mode in ("full", "same", "valid"):
            ours = kops.correlate(torch.from_numpy(a), torch.from_numpy(v), mode=mode).numpy()
            np.testing.assert_allclose(ours, np.correlate(a, v, mode), rtol=1e-6, atol=1e-12, err_msg=f"{n} {m} {mode}")
    assert kops.correlate(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])).shape == (1,)
    mixed = kops.einsum("i,i->", torch.ones(3), torch.ones(3, dtype=torch.int32))
    assert mixed.dtype == torch.float32 and float(mixed) == 3.0
    sign, logdet = kops.slogdet(torch.tensor([[2, 0], [0, 3]]))
    assert float(sign) == 1.0 and abs(float(logdet) - np.log(6.0)) < 1e-6


def test_integer_matmul_is_exact():
    big = torch.full((2, 2), 2 ** 20, dtype=torch.int32)
    one = torch.ones((2, 2), dtype=torch.int32)
    assert kops.matmul(big + 1, one).tolist() == [[2 ** 21 + 2] * 2] * 2


def test_vectorize_maps_over_leading_axes_like_keras():
    keras = keras_module()
    x, y = torch.from_numpy(A), torch.from_numpy(V4)
    for fn, signature, args in [
        (lambda a, b: a * b + 1.0, None, (x, y)),
        (lambda a: torch.sum(a), "(n)->()", (x,)),
        (lambda a, b: torch.dot(a, b), "(n),(n)->()", (x, y)),
        (lambda a: (a.sum(), a.max()), "(n)->(),()", (torch.from_numpy(Bt),)),
        (lambda a: a * 2, None, (torch.from_numpy(A[:1]),)),
    ]:
        ours = kops.vectorize(fn, signature=signature)(*args)
        theirs = keras.ops.vectorize(fn, signature=signature)(*args)
        if isinstance(theirs, tuple):
            for o, t in zip(ours, theirs):
                np.testing.assert_allclose(o.numpy(), t.numpy(), rtol=1e-6)
                assert o.shape == t.shape
        else:
            np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)
            assert ours.shape == theirs.shape


def test_vectorize_passes_excluded_and_none_arguments_through():
    seen = []

    def scale(a, factors, offset=None):
        seen.append(factors)
        return a * factors[1] + (0.0 if offset is None else offset)

    out = kops.vectorize(scale, excluded={1})(torch.arange(3.0), [10.0, 2.0], None)
    assert out.tolist() == [0.0, 2.0, 4.0]
    assert seen[0] == [10.0, 2.0]


ERRORS = [
    (lambda: kops.matmul(np.ones((2, 3)), np.ones((4, 2))), ValueError,
     r"last axis of x1 \(3\) must match the second-to-last axis of x2 \(4\). Received: x1.shape=\(2, 3\), "
     r"x2.shape=\(4, 2\)"),
    (lambda: kops.matmul(np.ones((2, 3)), np.ones(4)), ValueError, r"the only axis of x2 \(4\)"),
    (lambda: kops.matmul(np.ones((2, 2, 3)), np.ones((3, 3, 2))), ValueError, "batch axes"),
    (lambda: kops.matmul(np.float32(2.0), np.ones(3)), ValueError, "ops.multiply"),
    (lambda: kops.dot(np.ones((2, 3, 4)), np.ones((2, 4, 5))), NotImplementedError, "ops.tensordot"),
    (lambda: kops.dot(np.ones((2, 3)), np.ones((2, 3))), ValueError, "must match"),
    (lambda: kops.inner(np.ones((2, 3)), np.ones(4)), ValueError, "last axes"),
    (lambda: kops.vdot(np.ones(3), np.ones(4)), ValueError, "as many elements"),
    (lambda: kops.tensordot(np.ones((2, 3)), np.ones((4, 2)), axes=1), ValueError, r"axis 1 of x1 \(size 3\)"),
    (lambda: kops.tensordot(np.ones((2, 3)), np.ones((3, 2)), axes=3), ValueError, "exceeds the rank"),
    (lambda: kops.tensordot(np.ones((2, 3)), np.ones((3, 2)), axes=([0, 1], [0])), ValueError, "as many axes"),
    (lambda: kops.einsum("ij,jk->ik", np.ones((2, 3)), np.ones((4, 5))), ValueError,
     r"cannot apply subscripts='ij,jk->ik' to operands of shapes \[\(2, 3\), \(4, 5\)\]"),
    (lambda: kops.einsum("ij->i", np.ones(3)), ValueError, "cannot apply subscripts"),
    (lambda: kops.einsum("i->i", np.ones(3), precision="high"), TypeError, "precision"),
    (lambda: kops.cross(np.ones((3, 3)), np.ones((3, 3))), NotImplementedError, "axis=-1"),
    (lambda: kops.cross(np.ones((2, 4)), np.ones((2, 4))), ValueError, "size 3"),
    (lambda: kops.trace(np.ones((2, 2)), axis1=1, axis2=1), ValueError, "cannot be the same"),
    (lambda: kops.slogdet(np.ones((2, 3))), ValueError, "square matrices"),
    (lambda: kops.correlate(np.ones(3), np.ones(2), mode="middle"), ValueError, "mode must be one of"),
    (lambda: kops.vander(np.ones((2, 2))), ValueError, "1-D"),
    (lambda: kops.vander(np.ones(2), N=2.0), TypeError, "`N` must be an int"),
    (lambda: kops.vander(np.ones(2), N=-1), ValueError, "non-negative"),
    (lambda: kops.vander(np.ones(2), increasing=1), TypeError, "must be a bool"),
    (lambda: kops.trapezoid(np.ones(3), axis=1), ValueError, "out of range"),
    (lambda: kops.vectorize(3), ValueError, "callable"),
    (lambda: kops.vectorize(lambda a: a, signature="(n->()"), ValueError, "invalid signature"),
    (lambda: kops.vectorize(lambda a, b: a, signature="(n)->()")(np.ones(2), np.ones(2)), TypeError,
     "expects 1 mapped arguments, got 2"),
    (lambda: kops.vectorize(lambda a, b: a, signature="(n),(n)->()")(np.ones(2), np.ones(3)), ValueError,
     "inconsistent size for core dimension 'n'"),
    (lambda: kops.vectorize(lambda a, scale=1: a)(np.ones(2), scale=2), TypeError, "excluded"),
]


@pytest.mark.parametrize("call,error,match", ERRORS, ids=[f"err-{i}" for i in range(len(ERRORS))])
def test_errors_are_clear(call, error, match):
    with pytest.raises(error, match=match):
        call()
