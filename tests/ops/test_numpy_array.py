"""kerasish.ops array creation and shape ops against Keras 3 (torch backend), plus their errors.

Indexing/sorting/sets are in test_numpy_array_index.py, products in test_numpy_array_linear.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish.ops as kops
from kerasish.ops import numpy_array
from tests.keras_parity import keras_module
from tests.ops.ops_parity import check_op

rng = np.random.default_rng(0)
F = rng.standard_normal((2, 3, 4)).astype("float32")
M = rng.standard_normal((3, 4)).astype("float32")
V = rng.standard_normal((5,)).astype("float32")
I = rng.integers(-5, 5, (3, 4)).astype("int32")
B = rng.random((3, 4)) > 0.5
E = np.zeros((0, 3), "float32")

EXPECTED_OPS = sorted(
    "append arange argpartition argsort array array_split bartlett bincount blackman broadcast_to concatenate copy "
    "correlate cross diag diagflat diagonal digitize dot dsplit dstack einsum empty empty_like expand_dims eye flip "
    "fliplr flipud full full_like geomspace get_item hamming hanning histogram hsplit hstack identity inner isin "
    "kaiser kron linspace logspace matmul meshgrid moveaxis ndim nonzero ones ones_like outer pad ravel repeat "
    "reshape roll rot90 searchsorted select size slogdet sort split squeeze stack swapaxes take take_along_axis "
    "tensordot tile trace transpose trapezoid tri tril triu unique unravel_index vander vdot vectorize view vsplit "
    "vstack where zeros zeros_like".split()
)


def test_all_lists_exactly_the_array_ops_and_each_is_registered():
    assert numpy_array.__all__ == EXPECTED_OPS
    registered = kops.registered_ops()
    for name in EXPECTED_OPS:
        assert registered[f"numpy.{name}"] is getattr(numpy_array, name)
        assert getattr(kops, name) is getattr(numpy_array, name)


CREATION = [
    ("arange", (5,), {}),
    ("arange", (0.5,), {}),
    ("arange", (1, 7, 2), {}),
    ("arange", (1, 4.0), {}),
    ("arange", (np.int64(3),), {}),
    ("arange", (torch.tensor(4),), {}),
    ("arange", (0, 1, 0.25), {"dtype": "float16"}),
    ("arange", (5,), {"dtype": "int64"}),
    ("array", ([1, 2, 3],), {}),
    ("array", ([1, 2.5],), {}),
    ("array", (I,), {"dtype": "float32"}),
    ("array", (np.arange(3, dtype="float64"),), {}),
    ("zeros", ((2, 3),), {}),
    ("zeros", (4,), {"dtype": "int32"}),
    ("zeros", ((0, 2),), {"dtype": "bool"}),
    ("ones", ((2, 3),), {}),
    ("ones", (3,), {"dtype": "bfloat16"}),
    ("full", ((2, 3), 7), {}),
    ("full", ((2,), 3), {"dtype": "int32"}),
    ("full", ((2, 3), 1.5), {"dtype": "float16"}),
    ("full", ((2, 3), np.array([1.0, 2.0, 3.0], "float32")), {}),
    ("full", ((2, 2), True), {}),
    ("zeros_like", (I,), {}),
    ("zeros_like", (M,), {"dtype": "int32"}),
    ("ones_like", (B,), {}),
    ("ones_like", (F,), {"dtype": "float64"}),
    ("full_like", (I, 3), {}),
    ("full_like", (M, 2.5), {}),
    ("full_like", (I, 2.5), {"dtype": "float32"}),
    ("copy", (M,), {}),
    ("copy", (B,), {}),
    ("view", (M,), {"dtype": "int32"}),
    ("view", (I,), {"dtype": "uint8"}),
    ("eye", (3,), {}),
    ("eye", (3, 4), {"k": 1}),
    ("eye", (4, 3), {"k": -2, "dtype": "int32"}),
    ("eye", (3,), {"k": 1, "dtype": "bfloat16"}),
    ("eye", (2, 5), {"k": 3}),
    ("identity", (3,), {}),
    ("identity", (2,), {"dtype": "bool"}),
    ("tri", (3,), {}),
    ("tri", (3, 4), {"k": 1}),
    ("tri", (4, 2), {"k": -1, "dtype": "int32"}),
    ("linspace", (0, 1), {}),
    ("linspace", (0, 10, 5), {}),
    ("linspace", (1, 2, 4), {"endpoint": False}),
    ("linspace", (0, 10, 4), {"dtype": "int32"}),
    ("linspace", (0, 1, 5), {"retstep": True}),
    ("linspace", (np.array([0.0, 1.0], "float32"), np.array([1.0, 3.0], "float32"), 4), {}),
    ("linspace", (-1.0, 1.0, 1), {}),
    ("linspace", (2, 3, 0), {}),
    ("logspace", (0, 2, 3), {}),
    ("logspace", (0, 2, 4), {"base": 2, "endpoint": False}),
    ("logspace", (1, 3, 5), {"dtype": "float64"}),
    ("logspace", (np.array([0.0, 1.0], "float32"), np.array([2.0, 3.0], "float32"), 3), {}),
    ("geomspace", (1, 1000, 4), {}),
    ("geomspace", (-1, -16, 5), {}),
    ("geomspace", (2.0, 32.0, 4), {"endpoint": False}),
    ("meshgrid", (np.arange(3.0), np.arange(2.0)), {}),
    ("meshgrid", (np.arange(3), np.arange(2)), {"indexing": "ij"}),
    ("bartlett", (5,), {}),
    ("blackman", (6,), {}),
    ("hamming", (7,), {}),
    ("hanning", (4,), {}),
    ("kaiser", (5, 3.0), {}),
    ("hamming", (1,), {}),
    ("hanning", (0,), {}),
]


@pytest.mark.parametrize("name,args,kwargs", CREATION, ids=[f"{c[0]}-{i}" for i, c in enumerate(CREATION)])
def test_creation_matches_keras(name, args, kwargs):
    check_op(name, *args, **kwargs)


def test_dtypes_of_creation_follow_keras():
    assert kops.arange(5).dtype == torch.int32
    assert kops.arange(0.5).dtype == torch.float32
    assert kops.ones((2,)).dtype == torch.float32
    assert kops.full((2,), 3).dtype == torch.float32
    assert kops.linspace(0, 1, 3).dtype == torch.float32


def test_empty_has_the_shape_and_dtype_of_keras():
    keras = keras_module()
    for args, kwargs in [(((2, 3),), {}), (((4,),), {"dtype": "int32"})]:
        ours, theirs = kops.empty(*args, **kwargs), keras.ops.empty(*args, **kwargs)
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    x = torch.from_numpy(I)
    ours, theirs = kops.empty_like(x, dtype="float16"), keras.ops.empty_like(x, dtype="float16")
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype


def test_spaces_along_other_axes_and_int_bounds_follow_numpy():
    start, stop = np.array([0.0, 1.0], "float32"), np.array([1.0, 3.0], "float32")
    np.testing.assert_allclose(kops.linspace(start, stop, 4, axis=1).numpy(), np.linspace(start, stop, 4, axis=1),
                               rtol=1e-6)
    np.testing.assert_allclose(kops.logspace(start, stop, 3, axis=-1).numpy(), np.logspace(start, stop, 3, axis=-1),
                               rtol=1e-5)
    np.testing.assert_allclose(kops.geomspace(1, 256, 9).numpy(), np.geomspace(1, 256, 9), rtol=1e-5)
    out, step = kops.linspace(start, stop, 5, retstep=True)
    np.testing.assert_allclose(step.numpy(), (stop - start) / 4)
    assert kops.tri(3, 0).shape == (3, 0)


CREATION_ERRORS = [
    (lambda: kops.arange(0, 5, 0), ValueError, "step"),
    (lambda: kops.eye(2.5), TypeError, "`N` must be an integer"),
    (lambda: kops.eye(3, 2.0), TypeError, "`M` must be an integer"),
    (lambda: kops.zeros("abc"), TypeError, "shape"),
    (lambda: kops.full((2, 3), np.ones((1, 3))), NotImplementedError, "broadcast_to"),
    (lambda: kops.linspace(0, 1, -1), ValueError, "non-negative"),
    (lambda: kops.linspace(np.zeros(2), np.ones(2), 3, axis=3), ValueError, "out of range"),
    (lambda: kops.geomspace(0, 10, 3), ValueError, "cannot include zero"),
    (lambda: kops.meshgrid(np.arange(2), indexing="yx"), ValueError, "indexing must be"),
    (lambda: kops.hamming(-1), ValueError, "non-negative"),
    (lambda: kops.zeros((2,), dtype="float33"), ValueError, "Invalid dtype"),
]


@pytest.mark.parametrize("call,error,match", CREATION_ERRORS, ids=[f"err-{i}" for i in range(len(CREATION_ERRORS))])
def test_creation_errors_are_clear(call, error, match):
    with pytest.raises(error, match=match):
        call()


SHAPES = [
    ("reshape", (F, (4, 6)), {}),
    ("reshape", (F, (-1, 4)), {}),
    ("reshape", (F, -1), {}),
    ("reshape", (E, (3, 0)), {}),
    ("reshape", (I, [2, -1, 2]), {}),
    ("ravel", (F,), {}),
    ("ravel", (B,), {}),
    ("expand_dims", (M, 0), {}),
    ("expand_dims", (M, -1), {}),
    ("expand_dims", (M, (0, 3)), {}),
    ("expand_dims", (I, (-1, 1)), {}),
    ("squeeze", (np.ones((1, 3, 1), "float32"),), {}),
    ("squeeze", (np.ones((1, 3, 1), "int32"),), {"axis": -1}),
    ("squeeze", (np.ones((1, 3, 1), "float32"),), {"axis": (0, 2)}),
    ("transpose", (F,), {}),
    ("transpose", (F, (1, 0, 2)), {}),
    ("transpose", (F, (-1, 0, 1)), {}),
    ("transpose", (V,), {}),
    ("swapaxes", (F, 0, -1), {}),
    ("swapaxes", (B, 0, 1), {}),
    ("moveaxis", (F, 0, -1), {}),
    ("moveaxis", (F, (0, 1), (2, 0)), {}),
    ("broadcast_to", (V, (2, 5)), {}),
    ("broadcast_to", (np.ones((3, 1), "int32"), (2, 3, 4)), {}),
    ("ndim", (F,), {}),
    ("ndim", (np.float32(1.0),), {}),
    ("size", (F,), {}),
    ("size", (E,), {}),
    ("flip", (F,), {}),
    ("flip", (F, 1), {}),
    ("flip", (I, (0, -1)), {}),
    ("fliplr", (M,), {}),
    ("flipud", (V,), {}),
    ("flipud", (B,), {}),
    ("rot90", (M,), {}),
    ("rot90", (F,), {"k": 3, "axes": (1, 2)}),
    ("rot90", (I,), {"k": -1, "axes": (1, 0)}),
    ("roll", (V, 2), {}),
    ("roll", (M, -1), {}),
    ("roll", (M, 1), {"axis": 1}),
    ("roll", (F, (1, 2)), {"axis": (0, 2)}),
    ("repeat", (M, 2), {}),
    ("repeat", (M, 2), {"axis": 0}),
    ("repeat", (I, 3), {"axis": -1}),
    ("repeat", (M, np.array([1, 0, 2])), {"axis": 0}),
    ("repeat", (B, 0), {"axis": 1}),
    ("tile", (V, 2), {}),
    ("tile", (M, (2, 1)), {}),
    ("tile", (V, (2, 1, 2)), {}),
    ("tril", (M,), {}),
    ("tril", (F,), {"k": 1}),
    ("triu", (I,), {"k": -1}),
    ("triu", (B,), {}),
    ("diag", (V,), {}),
    ("diag", (V,), {"k": -2}),
    ("diag", (M,), {"k": 1}),
    ("diagflat", (M,), {}),
    ("diagflat", (np.arange(3),), {"k": 1}),
    ("diagonal", (M,), {}),
    ("diagonal", (F,), {"offset": 1, "axis1": 1, "axis2": 2}),
    ("diagonal", (F,), {"offset": -1, "axis1": -1, "axis2": 0}),
    ("pad", (V, [(1, 2)]), {}),
    ("pad", (V, 2), {}),
    ("pad", (V, (1, 3)), {}),
    ("pad", (M, [(1, 0), (2, 2)]), {}),
    ("pad", (M, [(1,), (2,)]), {}),
    ("pad", (M, [(1, 1), (2, 0)]), {"constant_values": 5.5}),
    ("pad", (I, [(1, 1), (0, 2)]), {"constant_values": 7}),
    ("pad", (B, [(1, 1), (1, 1)]), {}),
    ("pad", (V, [(2, 3)]), {"mode": "reflect"}),
    ("pad", (M, [(1, 2), (3, 1)]), {"mode": "reflect"}),
    ("pad", (F, [(0, 0), (1, 1), (2, 2)]), {"mode": "reflect"}),
    ("pad", (E, [(0, 1), (0, 0)]), {}),
]


@pytest.mark.parametrize("name,args,kwargs", SHAPES, ids=[f"{c[0]}-{i}" for i, c in enumerate(SHAPES)])
def test_shape_ops_match_keras(name, args, kwargs):
    check_op(name, *args, **kwargs)


@pytest.mark.parametrize("mode", ["edge", "wrap", "reflect"])
@pytest.mark.parametrize("x,widths", [
    (np.arange(4.0), [(2, 3)]),
    (np.arange(12).reshape(3, 4), [(4, 1), (5, 2)]),
    (np.arange(24.0).reshape(2, 3, 4), [(1, 0), (0, 2), (3, 3)]),
    (np.array([3.0]), [(2, 2)]),
])
def test_pad_modes_beyond_keras_torch_match_numpy(mode, x, widths):
    ours = kops.pad(torch.from_numpy(x), widths, mode=mode)
    np.testing.assert_array_equal(ours.numpy(), np.pad(x, widths, mode=mode))
    assert ours.dtype == torch.from_numpy(x).dtype


def test_tensor_shape_arguments_are_accepted():
    x = torch.arange(6)
    assert kops.reshape(x, torch.tensor([2, 3])).shape == (2, 3)
    assert kops.tile(x, torch.tensor([2])).shape == (12,)
    assert kops.repeat(x, torch.tensor(2), axis=0).shape == (12,)


SHAPE_ERRORS = [
    (lambda: kops.reshape(np.ones(6), (4, -1)), ValueError, r"cannot reshape a tensor of shape \(6,\)"),
    (lambda: kops.reshape(np.ones(6), (4, 2)), ValueError, "same number of elements"),
    (lambda: kops.reshape(np.ones(6), (-1, -1)), ValueError, "at most one"),
    (lambda: kops.reshape(np.ones(6), (-2, 3)), ValueError, "non-negative"),
    (lambda: kops.reshape(np.ones((0, 3)), (3, 0, -1)), ValueError, "same number of elements"),
    (lambda: kops.expand_dims(np.ones(3), 3), ValueError, r"axis=3 is out of range for a tensor of rank 2"),
    (lambda: kops.expand_dims(np.ones(3), (0, 0)), ValueError, "names an axis twice"),
    (lambda: kops.squeeze(np.ones((1, 3)), 1), ValueError, "cannot squeeze axis 1"),
    (lambda: kops.transpose(np.ones((2, 3)), (0,)), ValueError, "permutation"),
    (lambda: kops.transpose(np.ones((2, 3)), (0, 0)), ValueError, "twice"),
    (lambda: kops.swapaxes(np.ones((2, 3)), 0, 2), ValueError, "axis2=2 is out of range"),
    (lambda: kops.moveaxis(np.ones((2, 3)), (0, 1), 0), ValueError, "as many axes"),
    (lambda: kops.broadcast_to(np.ones(3), (2, 4)), ValueError, r"cannot broadcast a tensor of shape \(3,\)"),
    (lambda: kops.flip(np.ones(3), 1.5), TypeError, "must be an int"),
    (lambda: kops.fliplr(np.ones(3)), ValueError, "at least 2 dimensions"),
    (lambda: kops.rot90(np.ones(3)), ValueError, "at least 2 dimensions"),
    (lambda: kops.rot90(np.ones((2, 2)), axes=(0, 0)), ValueError, "twice"),
    (lambda: kops.rot90(np.ones((2, 2)), axes=(0, 1, 2)), ValueError, "two axes"),
    (lambda: kops.repeat(np.ones((2, 3)), [1, 2], axis=1), ValueError, "one count or one per element"),
    (lambda: kops.tril(np.ones(3)), ValueError, "at least 2 dimensions"),
    (lambda: kops.diag(np.ones((2, 2, 2))), ValueError, "1-D or 2-D"),
    (lambda: kops.diagonal(np.ones((2, 2)), 0, 1, -1), ValueError, "cannot be the same"),
    (lambda: kops.pad(np.ones((2, 3)), 1), NotImplementedError, "one pair per axis"),
    (lambda: kops.pad(np.ones(3), [(1, 1)], mode="symmetric"), NotImplementedError, "mode='edge'"),
    (lambda: kops.pad(np.ones(3), [(1, 1)], mode="mean"), NotImplementedError, "Supported modes"),
    (lambda: kops.pad(np.ones(3), [(1, 1)], mode="reflct"), ValueError, "did you mean 'reflect'"),
    (lambda: kops.pad(np.ones(3), [(1, 1)], mode="edge", constant_values=1), ValueError, "only be given with"),
    (lambda: kops.pad(np.ones((2, 3)), [(1, 1)] * 3), ValueError, "one \\(before, after\\) pair per axis"),
    (lambda: kops.pad(np.ones(3), [(-1, 1)]), ValueError, "non-negative"),
    (lambda: kops.pad(np.ones(3), [(1, 2, 3)]), ValueError, r"\(before, after\)"),
    (lambda: kops.pad(np.ones(3), [(1, 1)], constant_values=[1, 2]), ValueError, "must be a scalar"),
    (lambda: kops.pad(np.ones(0), [(1, 1)], mode="edge"), ValueError, "empty axis"),
]


@pytest.mark.parametrize("call,error,match", SHAPE_ERRORS, ids=[f"err-{i}" for i in range(len(SHAPE_ERRORS))])
def test_shape_errors_are_clear(call, error, match):
    with pytest.raises(error, match=match):
        call()
