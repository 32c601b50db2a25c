"""kerasish.ops joining, splitting, indexing, sorting and set ops against Keras 3 (torch backend)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish.ops as kops
from tests.ops.ops_parity import check_op

rng = np.random.default_rng(1)
F = rng.standard_normal((2, 3, 4)).astype("float32")
M = rng.standard_normal((3, 4)).astype("float32")
M2 = rng.standard_normal((2, 4)).astype("float32")
V = rng.standard_normal((6,)).astype("float32")
I = rng.integers(-5, 5, (3, 4)).astype("int32")
B = rng.random((3, 4)) > 0.5
E = np.zeros((0, 4), "float32")
SEQ = np.sort(rng.standard_normal(7)).astype("float32")

CASES = [
    # joining
    ("concatenate", ([M, M2],), {}),
    ("concatenate", ([M, M],), {"axis": -1}),
    ("concatenate", ([M, E],), {}),
    ("concatenate", ([I, M],), {}),
    ("append", (M, V), {}),
    ("append", (M, M2), {"axis": 0}),
    ("stack", ([M, M],), {}),
    ("stack", ([V, V, V],), {"axis": -1}),
    ("stack", ([I, I],), {"axis": 1}),
    ("hstack", ([M, M],), {}),
    ("hstack", ([V, V],), {}),
    ("vstack", ([M, M2],), {}),
    ("vstack", ([V, V],), {}),
    ("dstack", ([M, M],), {}),
    ("dstack", ([V, V],), {}),
    # splitting
    ("split", (V, 3), {}),
    ("split", (V, [1, 4]), {}),
    ("split", (M, 2), {"axis": 1}),
    ("split", (M, [1]), {"axis": -1}),
    ("split", (E, 2), {}),
    ("split", (V, [2, 2, 5]), {}),
    ("array_split", (V, 4), {}),
    ("array_split", (M, 3), {"axis": 1}),
    ("hsplit", (M, 2), {}),
    ("hsplit", (V, [2, 3]), {}),
    ("vsplit", (M, 3), {}),
    ("vsplit", (M, [1]), {}),
    ("dsplit", (F, 2), {}),
    ("dsplit", (F, [1, 3]), {}),
    # indexing
    ("get_item", (M, 1), {}),
    ("get_item", (M, (slice(None), 2)), {}),
    ("get_item", (F, (Ellipsis, None, 1)), {}),
    ("get_item", (M, np.array([2, 0])), {}),
    ("get_item", (M, B), {}),
    ("take", (M, np.array([0, 2])), {"axis": 0}),
    ("take", (M, np.array([[1, -1], [0, 3]])), {"axis": 1}),
    ("take", (F, np.array([-1, 0])), {"axis": -2}),
    ("take", (V, np.array([-1, 2])), {}),
    ("take", (M, np.array([1, 5, 11])), {}),
    ("take", (M, 2), {}),
    ("take", (I, np.array([0, 1], "int64")), {"axis": 0}),
    ("take", (B, np.array([1])), {"axis": 1}),
    ("take_along_axis", (M, np.argsort(M, axis=1)), {"axis": 1}),
    ("take_along_axis", (M, np.array([[0, 1, 2, 0]])), {"axis": 0}),
    ("take_along_axis", (F, np.array([[[-1]], [[0]]])), {"axis": -1}),
    ("take_along_axis", (V, np.array([3, 0])), {}),
    ("where", (B, M, 0.0), {}),
    ("where", (B, I, M), {}),
    ("where", (B, 1, 0), {}),
    ("where", (V > 0, V, np.float32(-1.0)), {}),
    ("where", (B,), {}),
    ("where", (I,), {}),
    ("select", ([V > 0.5, V < -0.5], [V, V * 2]), {}),
    ("select", ([B], [I]), {"default": -1}),
    ("nonzero", (I,), {}),
    ("nonzero", (B,), {}),
    ("nonzero", (V,), {}),
    ("unravel_index", (np.array([5, 3, 0]), (2, 3)), {}),
    ("unravel_index", (np.array([7], "int64"), (2, 2, 2)), {}),
    # sorting and searching
    ("sort", (M,), {}),
    ("sort", (M,), {"axis": 0}),
    ("sort", (F,), {"axis": None}),
    ("sort", (I,), {}),
    ("sort", (B,), {}),
    ("argsort", (M,), {}),
    ("argsort", (I,), {"axis": 0}),
    ("argsort", (F,), {"axis": None}),
    ("argsort", (B,), {}),
    ("argsort", (np.array([1, 1, 0, 1]),), {}),
    ("searchsorted", (SEQ, V), {}),
    ("searchsorted", (SEQ, SEQ), {"side": "right"}),
    ("searchsorted", (np.arange(5), np.array([[1, 2], [7, -1]])), {}),
    ("digitize", (V, np.array([-1.0, 0.0, 1.0], "float32")), {}),
    ("digitize", (I, np.array([-2, 0, 2])), {}),
    ("digitize", (B, np.array([0.5])), {}),
    # sets and counting
    ("unique", (np.array([3, 1, 1, 2, 3]),), {}),
    ("unique", (np.array([3, 1, 1, 2]),), {"return_index": True, "return_inverse": True, "return_counts": True}),
    ("unique", (np.array([3, 1, 1, 2]),), {"return_counts": True, "size": 5, "fill_value": -1}),
    ("unique", (np.array([3, 1, 1, 2]),), {"return_index": True, "size": 5}),
    ("unique", (np.array([3, 1, 1, 2, 5, 7]),), {"return_counts": True, "size": 2}),
    ("unique", (np.array([[1, 2], [1, 2], [0, 5]]),), {"axis": 0, "return_inverse": True}),
    ("unique", (np.array([[1, 2], [1, 2], [0, 5]]),), {"axis": 0, "return_counts": True, "size": 3}),
    ("unique", (np.array([[1.5, 2.0], [1.5, 0.0]], "float32"),), {}),
    ("isin", (I, np.array([0, 1, 2])), {}),
    ("isin", (M, M[0]), {"invert": True}),
    ("isin", (B, np.array([True])), {}),
    ("isin", (np.array([1, 2]), np.array([True])), {}),
    ("bincount", (np.array([0, 1, 1, 3]),), {}),
    ("bincount", (np.array([0, 1, 1, 3]),), {"minlength": 6}),
    ("bincount", (np.array([0, 1, 1]),), {"weights": np.array([0.5, 1.0, 2.0], "float32")}),
    ("bincount", (np.array([0, 1, 1]),), {"weights": np.array([1, 2, 3])}),
    ("bincount", (np.array([[0, 1, 2], [2, 2, 0]]),), {}),
    ("bincount", (np.array([[0, 1], [2, 2]]),), {"minlength": 4}),
    ("bincount", (np.zeros(0, "int32"),), {"minlength": 3}),
    ("histogram", (V,), {}),
    ("histogram", (V,), {"bins": 3}),
    ("histogram", (V,), {"bins": 4, "range": (-1.0, 1.0)}),
    ("histogram", (np.array([1.0, 1.0, 1.0], "float32"),), {"bins": 2}),
    ("histogram", (np.array([0.0, 1.0, 2.0, 3.0, 4.0], "float32"),), {"bins": 4}),
    ("histogram", (rng.standard_normal(200),), {"bins": 7}),
]


@pytest.mark.parametrize("name,args,kwargs", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_matches_keras(name, args, kwargs):
    check_op(name, *args, **kwargs)


def test_take_with_negative_indices_and_no_axis_counts_from_the_flat_end():
    x = torch.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(kops.take(x, torch.tensor([-1, 0, -6])).numpy(), np.take(x.numpy(), [-1, 0, -6]))
    np.testing.assert_array_equal(kops.take_along_axis(x, torch.tensor([-1, 1])).numpy(), [5.0, 1.0])
    assert kops.take(x, [[-1]], axis=1).shape == (2, 1, 1)


@pytest.mark.parametrize("x,kth,axis", [
    (rng.standard_normal(9).astype("float32"), 3, -1),
    (rng.standard_normal((3, 5)).astype("float32"), 1, 0),
    (np.array([0.5, 0.2, 0.9, 0.1], "float32"), 1, -1),
    (rng.integers(0, 4, (2, 6)).astype("int32"), -2, 1),
    (rng.standard_normal((2, 3)).astype("float32"), 4, None),
])
def test_argpartition_partitions_floats_and_ints(x, kth, axis):
    out = kops.argpartition(torch.from_numpy(x), kth, axis=axis)
    assert out.dtype == torch.int32
    flat = x.reshape(-1) if axis is None else x
    ax = 0 if axis is None else axis
    parted = np.take_along_axis(flat, out.numpy().astype(np.int64), axis=ax)
    expected = np.partition(flat, kth, axis=ax)
    np.testing.assert_array_equal(np.take(parted, [kth], axis=ax), np.take(expected, [kth], axis=ax))
    pivot = np.take(expected, [kth], axis=ax)
    k = kth % flat.shape[ax]
    assert np.all(np.take(parted, range(k), axis=ax) <= pivot)
    assert np.all(np.take(parted, range(k + 1, flat.shape[ax]), axis=ax) >= pivot)


def test_data_dependent_ops_beyond_keras_torch():
    # 2-D bincount with rows of different extents (Keras's torch backend fails to stack them).
    np.testing.assert_array_equal(kops.bincount(torch.tensor([[0, 1], [3, 3]])).numpy(), [[1, 1, 0, 0], [0, 0, 0, 2]])
    # histogram of integers (Keras's torch backend raises) counts like NumPy.
    counts, edges = kops.histogram(torch.tensor([1, 2, 2, 5]), bins=2)
    np_counts, np_edges = np.histogram([1, 2, 2, 5], bins=2)
    np.testing.assert_array_equal(counts.numpy(), np_counts)
    np.testing.assert_allclose(edges.numpy(), np_edges)
    assert counts.dtype == torch.float32
    # unique's first indices of a 2-D input index the flattened input.
    values, index = kops.unique(torch.tensor([[3, 1], [1, 2]]), return_index=True)
    np.testing.assert_array_equal(index.numpy(), np.unique([[3, 1], [1, 2]], return_index=True)[1])
    # split at unsorted or out-of-range indices follows NumPy's slicing.
    parts = kops.split(torch.arange(5), [3, 1, 9])
    assert [p.tolist() for p in parts] == [list(a) for a in np.split(np.arange(5), [3, 1, 9])]


ERRORS = [
    (lambda: kops.concatenate([np.ones((2, 3)), np.ones((4, 2))]), ValueError,
     r"same shape except along axis=0. Received shapes \[\(2, 3\), \(4, 2\)\]"),
    (lambda: kops.concatenate([np.ones(3), np.ones((1, 3))]), ValueError, "same shape"),
    (lambda: kops.concatenate([np.ones(3)], axis=1), ValueError, "out of range"),
    (lambda: kops.concatenate([]), ValueError, "at least one"),
    (lambda: kops.stack([np.ones(2), np.ones(3)]), ValueError, r"Received shapes \[\(2,\), \(3,\)\]"),
    (lambda: kops.stack([np.ones(2)], axis=2), ValueError, "out of range"),
    (lambda: kops.split(np.ones(5), 2), ValueError, "does not divide x.shape\\[0\\]=5"),
    (lambda: kops.split(np.ones(4), 0), ValueError, "must be positive"),
    (lambda: kops.split(np.ones(4), 2, axis=1), ValueError, "out of range"),
    (lambda: kops.array_split(np.ones(4), -1), ValueError, "must be positive"),
    (lambda: kops.split(np.ones(4), "ab"), TypeError, "must be an int or a sequence"),
    (lambda: kops.vsplit(np.ones(4), 2), ValueError, "at least 2 dimensions"),
    (lambda: kops.dsplit(np.ones((2, 2)), 2), ValueError, "at least 3 dimensions"),
    (lambda: kops.take(np.ones((2, 3)), [0], axis=2), ValueError, "axis=2 is out of range"),
    (lambda: kops.take_along_axis(np.ones((2, 3)), np.zeros(2, "int64"), axis=1), ValueError, "rank of x"),
    (lambda: kops.where(np.ones(2) > 0, np.ones(2)), ValueError, "must both be given"),
    (lambda: kops.select(np.ones(2) > 0, [np.ones(2)]), ValueError, "must be lists"),
    (lambda: kops.select([np.ones(2) > 0], [np.ones(2), np.ones(2)]), ValueError, "same length"),
    (lambda: kops.sort(np.ones((2, 2)), axis=3), ValueError, "out of range"),
    (lambda: kops.argpartition(np.ones(3), 5), ValueError, "kth=5 is out of range"),
    (lambda: kops.searchsorted(np.ones((2, 2)), np.ones(2)), ValueError, "only supports 1-D"),
    (lambda: kops.searchsorted(np.arange(3), np.ones(2), side="middle"), ValueError, "'left' or 'right'"),
    (lambda: kops.digitize(np.ones(3), np.ones((2, 2))), ValueError, "`bins` must be 1-D"),
    (lambda: kops.bincount(np.ones(3, "float32")), TypeError, "counts integers"),
    (lambda: kops.bincount(np.ones((2, 2, 2), "int32")), ValueError, "1-D or 2-D"),
    (lambda: kops.bincount(np.ones(3, "int32"), sparse=True), ValueError, "sparse=True"),
    (lambda: kops.histogram(np.ones(3), bins=2.5), TypeError, "`bins` must be an int"),
    (lambda: kops.histogram(np.ones(3), bins=-1), ValueError, "non-negative"),
    (lambda: kops.histogram(np.ones(3), range=[0, 1]), ValueError, "tuple of two"),
    (lambda: kops.histogram(np.ones(3), range=(1, 0)), ValueError, "must not be below"),
    (lambda: kops.histogram(np.ones((2, 2))), ValueError, "1-D"),
    (lambda: kops.unique(np.ones((2, 2)), axis=2), ValueError, "out of range"),
]


@pytest.mark.parametrize("call,error,match", ERRORS, ids=[f"err-{i}" for i in range(len(ERRORS))])
def test_errors_are_clear(call, error, match):
    with pytest.raises(error, match=match):
        call()
