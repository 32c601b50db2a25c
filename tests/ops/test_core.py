"""kerasish.ops.core (casts, shapes, scatter/slice, control flow, custom gradients) against Keras 3 (torch backend)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish
import kerasish.ops as kops
from kerasish.ops.operation import get_op, registered_ops
from tests.keras_parity import keras_module
from tests.ops.ops_parity import assert_same, check_op

rng = np.random.default_rng(0)


def rand(*shape, dtype="float32", scale=3.0):
    return (scale * rng.standard_normal(shape)).astype(dtype)


ALL_CORE = sorted("""associative_scan cast cond convert_to_numpy convert_to_tensor custom_gradient dtype fori_loop
is_tensor map saturate_cast scan scatter scatter_update shape slice slice_update stop_gradient switch unstack
vectorized_map while_loop""".split())


def test_every_core_op_is_registered_flat_and_in_keras():
    keras = keras_module()
    assert sorted(k[5:] for k in registered_ops() if k.startswith("core.")) == ALL_CORE
    for name in ALL_CORE:
        assert getattr(kops.core, name) is getattr(kops, name) is get_op(f"core.{name}")
        assert hasattr(keras.ops, name)


# ---------------------------------------------------------------- dtypes and shapes
CAST_TARGETS = ["float16", "float32", "float64", "bfloat16", "int8", "int16", "int32", "int64", "uint8", "bool"]


@pytest.mark.parametrize("target", CAST_TARGETS)
@pytest.mark.parametrize("source", ["float32", "int32", "bool", "float64"])
def test_cast(source, target):
    x = (rand(3, 4) > 0) if source == "bool" else rand(3, 4).astype(source)
    check_op("cast", x, target)


@pytest.mark.parametrize("x,target", [([1, 2], "float16"), (3, "float16"), (2.5, "int32"), ([], "int8"),
                                      (np.ones((2, 0)), "int32")])
def test_cast_python_values_and_empty(x, target):
    check_op("cast", x, target)


def test_cast_accepts_torch_and_numpy_dtypes():
    x = rand(2, 3)
    check_op("cast", x, torch.float64)
    check_op("cast", x, np.int16)


def test_cast_unknown_dtype_names_the_valid_ones():
    with pytest.raises(ValueError, match=r"Invalid dtype: 'flaot32'.*'float32'"):
        kops.cast(torch.ones(2), "flaot32")


SATURATE = [
    (np.array([-1.0, 256.0, np.inf, -np.inf, 1.5, 254.6], "float32"), "uint8"),
    (np.array([-1, 300, 5], "int32"), "uint8"),
    (np.array([-1e10, 1e10, 3.0], "float64"), "float16"),
    (np.array([0, 255, 100], "uint8"), "int8"),
    (np.array([-1, 5], "int8"), "int32"),
    (np.array([True, False]), "float32"),
    (np.array([0.5, -2.0, 0.0], "float32"), "bool"),
    (np.array([-1, 300000], "int32"), "float16"),
    (np.array([-1e5, 1e5, 7.0], "float32"), "int16"),
]


@pytest.mark.parametrize("x,target", SATURATE, ids=[f"{x.dtype}-{t}" for x, t in SATURATE])
def test_saturate_cast(x, target):
    check_op("saturate_cast", x, target)


def test_saturate_cast_float_to_int32_saturates_where_keras_torch_wraps():
    # kerasish differs from Keras's torch backend here on purpose: Keras's float32 bound for
    # int32 rounds up to 2**31 and the cast wraps to INT_MIN; the op's promise is saturation.
    out = kops.saturate_cast(torch.tensor([-1e10, 1e10, 3.7]), "int32")
    assert out.dtype == torch.int32
    assert out.tolist() == [-2147483648, 2147483520, 3]
    out = kops.saturate_cast(torch.tensor([-1e30, 1e30]), "int64")
    assert out.tolist() == [-(2 ** 63), 2 ** 63 - 2 ** 39]


@pytest.mark.parametrize("x", [rand(2, 3), rand(0, 4), rand(), rand(1, 2, 3, 4).astype("int8")])
def test_shape(x):
    assert check_op("shape", x) == x.shape
    assert check_op("shape", x, numpy_inputs=True) == x.shape


@pytest.mark.parametrize("x", [rand(2, 3), rand(2).astype("int32"), rand(2) > 0, rand(2).astype("float16")])
def test_dtype(x):
    check_op("dtype", x)
    check_op("dtype", x, numpy_inputs=True)


def test_shape_dtype_is_tensor_of_a_keras_tensor_record_no_node():
    x = kerasish.Input(shape=(3,))
    assert kops.shape(x) == (None, 3)
    assert kops.dtype(x) == "float32"
    assert kops.is_tensor(x) is False
    with pytest.raises(TypeError, match="cannot become a NumPy array"):
        kops.convert_to_numpy(x)
    y = kops.cast(x, "int32")  # an ordinary op still records a node
    assert type(y).__name__ == "KerasTensor" and y.dtype == "int32" and y.shape == (None, 3)


def test_shape_and_dtype_of_python_values():
    assert kops.shape([[1, 2, 3], [4, 5, 6]]) == (2, 3)
    assert kops.dtype(3) == "int32" and kops.dtype(2.0) == "float32"


@pytest.mark.parametrize("numpy_inputs", [False, True])
def test_is_tensor(numpy_inputs):
    check_op("is_tensor", rand(2), numpy_inputs=numpy_inputs)
    check_op("is_tensor", [1, 2])


@pytest.mark.parametrize("x,dtype", [([1, 2.0], None), ([1, 2], None), (3, None), (2.5, "float16"), (True, None),
                                     (rand(2, 3).astype("float64"), None), (rand(2, 3), "int8"),
                                     (rand(2) > 0, "float32"), ([[1, 2], [3, 4]], "bfloat16")])
def test_convert_to_tensor(x, dtype):
    check_op("convert_to_tensor", x, dtype=dtype)
    check_op("convert_to_tensor", x, dtype=dtype, numpy_inputs=True)


def test_convert_to_tensor_refuses_sparse():
    with pytest.raises(ValueError, match=r"sparse=True\) is not supported"):
        kops.convert_to_tensor([1, 2], sparse=True)


@pytest.mark.parametrize("x", [rand(2, 3), rand(3).astype("int32"), rand(0, 2), 3, [torch.ones(2), torch.zeros(2)]])
def test_convert_to_numpy(x):
    ours = check_op("convert_to_numpy", x)
    theirs = keras_module().ops.convert_to_numpy(torch.from_numpy(x) if isinstance(x, np.ndarray) else x)
    assert isinstance(ours, np.ndarray) and ours.dtype == theirs.dtype and ours.shape == theirs.shape


def test_convert_to_numpy_bfloat16_is_float32():
    # Known difference: Keras returns ml_dtypes.bfloat16; kerasish (no ml_dtypes dependency) float32.
    out = kops.convert_to_numpy(torch.tensor([1.5, 2.0], dtype=torch.bfloat16))
    assert out.dtype == np.float32 and out.tolist() == [1.5, 2.0]


def test_stop_gradient():
    check_op("stop_gradient", rand(2, 3))
    assert kops.stop_gradient(np.ones(2)).tolist() == [1.0, 1.0]  # Keras's torch backend fails on arrays
    x = torch.ones(3, requires_grad=True)
    y = kops.stop_gradient(x * 2)
    assert not y.requires_grad and (kops.stop_gradient(x) * x).sum().requires_grad


@pytest.mark.parametrize("shape,axis,num", [((2, 3), 0, None), ((2, 3), 1, 3), ((2, 3, 4), -1, None),
                                            ((0, 3), 1, None), ((4,), 0, 4)])
def test_unstack(shape, axis, num):
    check_op("unstack", rand(*shape), num=num, axis=axis)
    check_op("unstack", rand(*shape).astype("int32"), axis=axis)


def test_unstack_of_arrays_and_errors():
    assert [t.tolist() for t in kops.unstack([[1, 2], [3, 4]])] == [[1, 2], [3, 4]]
    with pytest.raises(ValueError, match="num=3 but axis 0 of the input"):
        kops.unstack(torch.ones(2, 3), num=3)
    with pytest.raises(ValueError, match="axis 2 is out of range for a tensor of rank 2"):
        kops.unstack(torch.ones(2, 3), axis=2)


# ---------------------------------------------------------------- scatter and slices
SCATTER = [
    ([[0, 1], [1, 1], [0, 1]], np.array([1.0, 2.0, 3.0], "float32"), (2, 2)),  # repeated index adds up
    ([[0], [1]], rand(2, 3), (2, 3)),
    ([[2], [0], [2]], rand(3, 2, 2).astype("float64"), (4, 2, 2)),
    ([[0], [1]], np.array([1, 2], "int32"), (3,)),
    ([[[0, 1]], [[-1, 0]]], rand(2, 1), (2, 3)),  # batched indices, negative index
    (np.zeros((0, 1), "int64"), rand(0, 3), (2, 3)),
]


@pytest.mark.parametrize("indices,values,shape", SCATTER)
def test_scatter(indices, values, shape):
    check_op("scatter", indices, values, shape)
    check_op("scatter", np.asarray(indices), values, list(shape))


def test_scatter_mismatched_shapes():
    with pytest.raises(ValueError, match=r"values must have shape .* = \(2,\)"):
        kops.scatter([[0], [1]], torch.ones(3), (3,))
    with pytest.raises(ValueError, match=r"= \(2,\).*values.shape=\(2, 3\)"):
        kops.scatter([[0, 0], [1, 1]], torch.ones(2, 3), (3, 3))
    with pytest.raises(TypeError, match="indices must be integers"):
        kops.scatter(torch.tensor([[0.0]]), torch.ones(1), (2,))


SCATTER_UPDATE = [
    (rand(3, 3), [[0, 1], [2, 2]], rand(2)),
    (rand(3), [[0], [0]], np.array([1.0, 2.0], "float32")),  # repeated index: the last write wins
    (rand(4, 2), [[1], [3]], rand(2, 2)),
    (rand(3, 2).astype("int32"), [[0], [-1]], rand(2, 2).astype("int32")),
    (rand(3), [[0]], [5]),  # updates become inputs' dtype
    (rand(2, 3, 4).astype("float64"), [[0, 1], [1, 2], [0, 1]], rand(3, 4).astype("float64")),
]


@pytest.mark.parametrize("reduction", [None, "add", "max", "min", "mul", "ADD"])
@pytest.mark.parametrize("case", range(len(SCATTER_UPDATE)))
def test_scatter_update(case, reduction):
    inputs, indices, updates = SCATTER_UPDATE[case]
    if reduction is None and case == 5:
        indices = indices[:2]
        updates = updates[:2]  # no repeated index: torch's last-write order is not guaranteed on CUDA
    check_op("scatter_update", inputs, indices, updates, reduction=reduction)


def test_scatter_update_errors():
    with pytest.raises(ValueError, match=r"invalid reduction='maxx'.*did you mean 'max'"):
        kops.scatter_update(torch.ones(3), [[0]], torch.ones(1), reduction="maxx")
    with pytest.raises(ValueError, match=r"invalid reduction='sum'. Expected one of \[None, 'add'"):
        kops.scatter_update(torch.ones(3), [[0]], torch.ones(1), reduction="sum")
    with pytest.raises(ValueError, match=r"\(num_updates,\) \+ inputs.shape\[k:\].*updates.shape=\(2, 2\)"):
        kops.scatter_update(torch.ones(3, 2), [[0]], torch.ones(2, 2))
    with pytest.raises(ValueError, match="k <= inputs.ndim"):
        kops.scatter_update(torch.ones(3), [[0, 1]], torch.ones(1))


SLICES = [((3, 4), [1, 1], [2, 2]), ((3, 4), [0, 0], [3, 4]), ((5, 5), [3, 3], [2, 2]), ((3, 4), [2, 4], [1, 0]),
          ((2, 3, 4), [1, 0, 2], [1, 3, 2])]


@pytest.mark.parametrize("shape,start,size", SLICES)
def test_slice(shape, start, size):
    x = rand(*shape)
    check_op("slice", x, start, size)
    check_op("slice", x.astype("int32"), tuple(start), np.array(size))
    check_op("slice", x, np.array(start), size)  # tensor start indices


def test_slice_errors():
    x = torch.arange(12).reshape(3, 4)
    with pytest.raises(ValueError, match=r"start_indices must have one entry per dimension of inputs \(2"):
        kops.slice(x, [1], [2, 2])
    with pytest.raises(ValueError, match=r"start_indices must have one entry per dimension.*Received 3"):
        kops.slice(x, torch.tensor([1, 1, 1]), [2, 2, 2])
    with pytest.raises(ValueError, match=r"shape must have one entry per dimension"):
        kops.slice(x, [1, 1], [2])
    with pytest.raises(ValueError, match=r"does not fit in inputs of shape \(3, 4\) \(dimension 0: start 2, size 2\)"):
        kops.slice(x, [2, 2], [2, 2])
    with pytest.raises(ValueError, match="a size of -1 is not supported"):
        kops.slice(x, [1, 1], [-1, 2])


@pytest.mark.parametrize("shape,start,upd_shape", [((3, 4), [1, 1], (2, 2)), ((3, 4), [0, 0], (3, 4)),
                                                   ((2, 3, 4), [1, 1, 0], (1, 2, 4)), ((3, 4), [3, 0], (0, 4))])
def test_slice_update(shape, start, upd_shape):
    check_op("slice_update", rand(*shape), start, rand(*upd_shape))
    check_op("slice_update", rand(*shape).astype("int32"), start, rand(*upd_shape))  # updates cast to int32
    check_op("slice_update", rand(*shape), np.array(start), rand(*upd_shape))  # tensor start indices


def test_slice_update_errors():
    with pytest.raises(ValueError, match=r"the update at start_indices=\[2, 2\] does not fit"):
        kops.slice_update(torch.zeros(3, 4), [2, 2], torch.ones(2, 2))
    with pytest.raises(ValueError, match=r"updates must have the rank of inputs \(2\)"):
        kops.slice_update(torch.zeros(3, 4), [1, 1], torch.ones(2))
    with pytest.raises(ValueError, match="start_indices must have one entry per dimension"):
        kops.slice_update(torch.zeros(3, 4), [1], torch.ones(2, 2))


# ---------------------------------------------------------------- control flow
@pytest.mark.parametrize("pred", [True, False, torch.tensor(True), torch.tensor([False]), np.bool_(True)])
def test_cond(pred):
    x = torch.arange(3.0)
    check_op("cond", pred, lambda: x + 1, lambda: x - 1)
    check_op("cond", pred, lambda: (x, 1), lambda: (x * 2, 2))


def test_cond_needs_a_scalar_predicate():
    with pytest.raises(ValueError, match=r"pred must be a scalar boolean.*shape \(2,\)"):
        kops.cond(torch.tensor([True, False]), lambda: 1, lambda: 2)


@pytest.mark.parametrize("index", [0, 1, 2, 5, -3, torch.tensor(1), np.int64(0)])
def test_switch(index):
    branches = [lambda x, y: x + y, lambda x, y: x - y, lambda x, y: x * y]
    check_op("switch", index, branches, torch.tensor(2.0), torch.tensor(0.5))


def test_switch_needs_branches():
    with pytest.raises(ValueError, match="branches is empty"):
        kops.switch(0, [], 1)


WHILE = [
    (lambda i: i < 10, lambda i: i + 1, 0, None),
    (lambda x, y: x < 10, lambda x, y: (x + 1, y + 2), (0, 1), 3),
    (lambda x, y: x < 10, lambda x, y: [x + 1, y * 2.0], [0, 1.0], None),
    (lambda i: i < 10, lambda i: i + 1, torch.tensor(0.0), 4),
    (lambda i: i < 0, lambda i: i + 1, np.array(5), None),
]


@pytest.mark.parametrize("cond,body,loop_vars,maximum_iterations", WHILE)
def test_while_loop(cond, body, loop_vars, maximum_iterations):
    check_op("while_loop", cond, body, loop_vars, maximum_iterations=maximum_iterations)


def test_while_loop_body_must_keep_the_loop_variables():
    with pytest.raises(ValueError, match="body returned 1 loop variables but loop_vars has 2"):
        kops.while_loop(lambda x, y: x < 3, lambda x, y: x + 1, (0, 1))


@pytest.mark.parametrize("lower,upper,init", [(0, 5, 0), (2, 5, torch.tensor(0.5)), (3, 3, torch.ones(2)),
                                              (torch.tensor(1), 4, 1.0)])
def test_fori_loop(lower, upper, init):
    check_op("fori_loop", lower, upper, lambda i, v: v + i, init)


def _cumulative(c, x):
    return c + x, c * x


SCANS = [
    (_cumulative, np.float32(0.0), rand(5), {}),
    (_cumulative, 0, np.arange(5, dtype="int64"), {"reverse": True}),
    (lambda c, x: (c + 1, c), 0, None, {"length": 3}),
    (lambda c, x: (c + 1, None), 0, None, {"length": 3}),  # y=None stacks zeros like the carry
    (lambda c, x: ((c[0] + x[0], c[1]), [x[1] * 2, c[0]]), (0.0, 1), (rand(4), rand(4, 2)), {"unroll": 2}),
    (lambda c, x: (c @ x, c.sum()), np.eye(3, dtype="float32"), rand(4, 3, 3, scale=0.5), {"unroll": True}),
]


@pytest.mark.parametrize("f,init,xs,kwargs", SCANS)
def test_scan(f, init, xs, kwargs):
    init = torch.tensor(init) if isinstance(init, np.ndarray) else init
    check_op("scan", f, init, xs, **kwargs)


def test_scan_with_dict_inputs():
    carry, ys = kops.scan(lambda c, x: (c + x["a"], {"y": x["a"] * 2}), 0.0, {"a": torch.arange(3.0)})
    assert carry.item() == 3.0 and ys["y"].tolist() == [0.0, 2.0, 4.0]


def test_scan_errors():
    with pytest.raises(ValueError, match="pass xs to scan over, or length"):
        kops.scan(lambda c, x: (c, x), 0)
    with pytest.raises(ValueError, match="unroll must be a positive int or a bool. Received: unroll=0"):
        kops.scan(lambda c, x: (c, x), 0, torch.ones(2), unroll=0)
    with pytest.raises(TypeError, match="f must be a callable"):
        kops.scan(None, 0, torch.ones(2))
    with pytest.raises(ValueError, match="leading axis of length 2"):
        kops.scan(lambda c, x: (c, x), 0, (torch.ones(2), torch.ones(3)))
    with pytest.raises(ValueError, match="loop runs zero times"):
        kops.scan(lambda c, x: (c, x), 0, torch.ones(0))


@pytest.mark.parametrize("f,xs", [(lambda x: x * 2, np.arange(4)), (lambda x: x.sum(), rand(3, 4)),
                                  (lambda x: (x[0] + x[1], x[0]), (rand(3, 2), rand(3, 2)))])
def test_map(f, xs):
    check_op("map", f, xs)
    check_op("map", f, xs, numpy_inputs=True)


@pytest.mark.parametrize("f,elements", [(lambda x: x.sum(), rand(3, 4)), (lambda x: x @ x.T, rand(5, 2, 3)),
                                        (lambda xs: xs[0] + xs[1], [rand(3, 4), rand(3, 4)]),
                                        (lambda x: (x * 2, x.max()), rand(2, 3))])
def test_vectorized_map(f, elements):
    check_op("vectorized_map", f, elements)


def test_vectorized_map_of_arrays_and_of_an_unbatchable_function():
    out = kops.vectorized_map(lambda x: x * 2, np.ones((3, 2)))
    assert out.shape == (3, 2) and out.dtype == torch.float64
    with pytest.raises(RuntimeError, match=r"torch.vmap cannot vectorize.*ops.map\(function, elements\)"):
        kops.vectorized_map(lambda x: x * x.sum().item(), torch.ones(3, 2))


ASSOC = [
    (lambda a, b: a + b, rand(5), {}),
    (lambda a, b: a + b, rand(2, 7), {"axis": 1, "reverse": True}),
    (lambda a, b: a + b, rand(6, 2), {"axis": -2}),
    (lambda a, b: torch.maximum(a, b), rand(9), {}),
    (lambda a, b: [a[0] + b[0], a[1] * b[1]], [rand(4), rand(4, scale=1.0)], {}),
    (lambda a, b: a @ b, rand(5, 2, 2, scale=0.5), {}),  # associative, not commutative: order matters
    (lambda a, b: a @ b, rand(6, 2, 2, scale=0.5), {"reverse": True}),
    (lambda a, b: a + b, rand(1, 3), {}),
]


@pytest.mark.parametrize("f,elems,kwargs", ASSOC)
def test_associative_scan(f, elems, kwargs):
    check_op("associative_scan", f, elems, **kwargs)


def test_associative_scan_keeps_integer_and_bool_dtypes():
    # Known difference: Keras's torch backend returns float32 for int inputs (and fails on bool).
    out = kops.associative_scan(lambda a, b: a + b, torch.arange(6))
    assert out.dtype == torch.int64 and out.tolist() == [0, 1, 3, 6, 10, 15]
    out = kops.associative_scan(lambda a, b: a | b, torch.tensor([False, True, False]))
    assert out.tolist() == [False, True, True]


def test_associative_scan_errors():
    with pytest.raises(ValueError, match=r"the same size along axis 0.*\[\(3,\), \(4,\)\]"):
        kops.associative_scan(lambda a, b: a, [torch.ones(3), torch.ones(4)])
    with pytest.raises(ValueError, match="axis 1 is out of range"):
        kops.associative_scan(lambda a, b: a + b, torch.ones(3), axis=1)


# ---------------------------------------------------------------- custom gradients
def _log1pexp(ops):
    @ops.custom_gradient
    def log1pexp(x):
        e = torch.exp(x)

        def grad(*args, upstream=None):
            return upstream * (1.0 - 1.0 / (1 + e))

        return torch.log(1 + e), grad

    return log1pexp


def _scaled_product(ops):
    @ops.custom_gradient
    def product(x, y):
        def grad(x, y, upstream):
            return upstream * y * 10, upstream * x * 10

        return x * y, grad

    return product


@pytest.mark.parametrize("make,args", [(_log1pexp, (rand(4),)), (_scaled_product, (rand(3), rand(3)))])
def test_custom_gradient_matches_keras(make, args):
    keras = keras_module()
    results = []
    for ops in (keras.ops, kops):
        inputs = [torch.tensor(a, requires_grad=True) if isinstance(a, np.ndarray) else a for a in args]
        out = make(ops)(*inputs)
        out.sum().backward()
        results.append((out, [t.grad for t in inputs if isinstance(t, torch.Tensor)]))
    assert_same(results[1], results[0])


def test_custom_gradient_with_non_tensor_and_keyword_arguments():
    # Keras's torch backend cannot save a float for backward; kerasish passes it back to grad_fn.
    @kops.custom_gradient
    def scaled(x, scale, offset=0.0):
        return x * scale + offset, lambda x, scale, upstream: (upstream * scale, None)

    x = torch.ones(2, requires_grad=True)
    out = scaled(x, 3.0, offset=1.0)
    out.sum().backward()
    assert out.tolist() == [4.0, 4.0] and x.grad.tolist() == [3.0, 3.0]


def test_custom_gradient_uses_the_given_gradient():
    @kops.custom_gradient
    def clip_grad(x):
        return x * 3, lambda x, upstream: upstream.clamp(-0.5, 0.5)

    x = torch.ones(2, requires_grad=True)
    clip_grad(x).sum().backward()
    assert x.grad.tolist() == [0.5, 0.5]


def test_custom_gradient_errors():
    @kops.custom_gradient
    def no_pair(x):
        return x * 2

    with pytest.raises(TypeError, match=r"must return a pair \(output, grad_fn\)"):
        no_pair(torch.ones(2, requires_grad=True))

    @kops.custom_gradient
    def too_many(x):
        return x * 2, lambda x, upstream: (upstream, upstream)

    with pytest.raises(ValueError, match="grad_fn returned 2 gradients for 1 arguments"):
        too_many(torch.ones(2, requires_grad=True)).sum().backward()
    with pytest.raises(TypeError, match="decorates a function"):
        kops.custom_gradient(3)


def test_ops_of_the_three_namespaces_record_nodes_in_a_functional_model():
    inputs = kerasish.Input(shape=(4,))
    total = kops.logsumexp(kops.cast(inputs, "float64"), axis=-1)
    values, indices = kops.top_k(inputs, 2)
    length = kops.norm(inputs, axis=-1)
    model = kerasish.Model(inputs, [total, values, indices, length])
    x = torch.from_numpy(rand(3, 4))
    out = model(x)
    assert_same(out, [torch.logsumexp(x.double(), -1), *torch.topk(x, 2), torch.linalg.norm(x, dim=-1)])
