"""kerasish.ops.math (segments, top-k, special functions, FFTs) against Keras 3 (torch backend)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish.ops as kops
from kerasish.ops.operation import get_op, registered_ops
from tests.keras_parity import keras_module
from tests.ops.ops_parity import check_op

rng = np.random.default_rng(0)


def rand(*shape, dtype="float32", scale=3.0):
    return (scale * rng.standard_normal(shape)).astype(dtype)


ALL_MATH = sorted("""cdist erf erfc erfinv extract_sequences fft fft2 ifft2 in_top_k irfft istft logdet logsumexp
rfft rsqrt segment_max segment_min segment_prod segment_sum stft top_k view_as_complex view_as_real""".split())


def test_every_math_op_is_registered_flat_and_in_keras():
    keras = keras_module()
    assert sorted(k[5:] for k in registered_ops() if k.startswith("math.")) == ALL_MATH
    for name in ALL_MATH:
        assert getattr(kops.math, name) is getattr(kops, name) is get_op(f"math.{name}")
        assert hasattr(keras.ops, name)


# ---------------------------------------------------------------- segment reductions
SEGMENT_OPS = ["segment_sum", "segment_max", "segment_min", "segment_prod"]
SEGMENTS = [
    (rand(6), [0, 0, 1, 1, 2, 2], 3),
    (rand(5, 3), [0, 2, 2, 0, 1], None),
    (rand(4, 2, 2).astype("float64"), [1, 3, 3, 0], 5),  # segment 2 and 4 are empty
    (rand(5, 2), [0, 7, -1, 1, 1], 2),  # out-of-range ids are dropped
    (rand(6).astype("float16"), [0, 1, 2, 0, 1, 2], 3),
    (rand(0, 3), np.zeros((0,), "int32"), 2),
]


@pytest.mark.parametrize("name", SEGMENT_OPS)
@pytest.mark.parametrize("data,ids,num_segments", SEGMENTS)
def test_segment_float(name, data, ids, num_segments):
    atol = 1e-2 if data.dtype == np.float16 else 1e-5
    check_op(name, data, np.asarray(ids, "int64"), num_segments=num_segments, atol=atol, rtol=atol)
    check_op(name, data, np.asarray(ids, "int32"), num_segments, True, atol=atol, rtol=atol)  # sorted positional


@pytest.mark.parametrize("name", SEGMENT_OPS)
@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_segment_int(name, dtype):
    data = rng.integers(-5, 6, size=(6, 2)).astype(dtype)
    ids = np.array([0, 0, 2, 1, 2, 2])
    check_op(name, data, ids, num_segments=3)
    check_op(name, data, ids)


def test_segment_empty_integer_segments_are_the_identity_of_the_reduction():
    # Known difference: for an empty integer segment Keras's torch backend casts +-inf to the
    # integer dtype (INT_MIN for both max and min on x86); kerasish gives the dtype's min for
    # max and its max for min.
    data = torch.tensor([[1, 2], [3, 4]], dtype=torch.int32)
    ids = torch.tensor([0, 0])
    assert kops.segment_max(data, ids, 2)[1].tolist() == [-(2 ** 31)] * 2
    assert kops.segment_min(data, ids, 2)[1].tolist() == [2 ** 31 - 1] * 2
    assert kops.segment_sum([1.0, 2.0, 4.0], [1, 1, 0]).tolist() == [4.0, 3.0]  # lists accepted


def test_segment_errors():
    with pytest.raises(ValueError, match=r"segment_ids must be a 1-D vector. Received shape \(3, 2\)"):
        kops.segment_sum(torch.ones(3, 2), torch.zeros(3, 2, dtype=torch.int32))
    with pytest.raises(ValueError, match=r"one entry per row of data.*\(4,\).*\(3, 2\)"):
        kops.segment_max(torch.ones(3, 2), torch.zeros(4, dtype=torch.int32))
    with pytest.raises(TypeError, match="segment_ids must be integers"):
        kops.segment_min(torch.ones(3), torch.zeros(3))


# ---------------------------------------------------------------- top-k and reductions
@pytest.mark.parametrize("x,k,sorted_", [(rand(3, 5), 2, True), (rand(7), 7, True), (rand(2, 3, 4), 1, True),
                                         (rng.permutation(6).astype("int32"), 3, True), (rand(4, 6), 0, True),
                                         (rand(2, 5).astype("float64"), 3, True)])
def test_top_k(x, k, sorted_):
    check_op("top_k", x, k, sorted=sorted_)


def test_top_k_unsorted_holds_the_same_values():
    x = rand(3, 8)
    values, indices = kops.top_k(x, 3, sorted=False)
    theirs = keras_module().ops.top_k(torch.from_numpy(x), 3, sorted=False)
    assert indices.dtype == theirs[1].dtype == torch.int64
    assert torch.equal(values.sort(-1).values, theirs[0].sort(-1).values)


def test_top_k_bad_k():
    with pytest.raises(ValueError, match=r"k must be an int in \[0, 3\].*Received: k=5"):
        kops.top_k(torch.ones(2, 3), 5)


@pytest.mark.parametrize("k", [1, 2, 5])
def test_in_top_k(k):
    predictions = rand(6, 5)
    predictions[0] = [1.0, 2.0, 2.0, 2.0, 0.0]  # ties with the k-th value count as in the top k
    targets = np.array([1, 4, 0, 3, 2, 1], "int32")
    check_op("in_top_k", targets, predictions, k)
    check_op("in_top_k", targets.astype("int64"), predictions.astype("float64"), k)


def test_in_top_k_errors():
    with pytest.raises(ValueError, match=r"predictions of shape \(batch, classes\).*targets.shape=\(3,\)"):
        kops.in_top_k(torch.tensor([0, 1, 2]), torch.ones(2, 5), 1)
    with pytest.raises(ValueError, match=r"k must be an int in \[0, 5\]"):
        kops.in_top_k(torch.tensor([0, 1]), torch.ones(2, 5), 6)


@pytest.mark.parametrize("axis,keepdims", [(None, False), (None, True), (0, False), (-1, True), ((0, 2), False),
                                           ([1], True)])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_logsumexp(axis, keepdims, dtype):
    check_op("logsumexp", rand(2, 3, 4).astype(dtype), axis=axis, keepdims=keepdims)


def test_logsumexp_edge_cases():
    check_op("logsumexp", rand(0, 3), axis=0)
    check_op("logsumexp", rand(5, scale=100.0))  # stable for large values
    check_op("logsumexp", np.array([-np.inf, -np.inf], "float32"))
    with pytest.raises(ValueError, match="axis 3 is out of range for a tensor of rank 2"):
        kops.logsumexp(torch.ones(2, 3), axis=3)


@pytest.mark.parametrize("x_shape,y_shape", [((2, 3), (4, 3)), ((5, 2, 3), (4, 3)), ((2, 1, 4, 3), (5, 2, 3)),
                                             ((30, 2), (40, 2)), ((0, 3), (2, 3))])
def test_cdist(x_shape, y_shape):
    check_op("cdist", rand(*x_shape), rand(*y_shape), atol=1e-4)


def test_cdist_dtypes_and_errors():
    check_op("cdist", rand(3, 2).astype("float64"), rand(4, 2))
    check_op("cdist", rng.integers(0, 5, (3, 2)).astype("int32"), rng.integers(0, 5, (4, 2)).astype("int32"))
    with pytest.raises(ValueError, match=r"the same d. Received: x.shape=\(2, 3\), y.shape=\(4, 2\)"):
        kops.cdist(torch.ones(2, 3), torch.ones(4, 2))
    with pytest.raises(ValueError, match=r"x of shape \(..., m, d\)"):
        kops.cdist(torch.ones(3), torch.ones(4, 3))


@pytest.mark.parametrize("shape,length,stride", [((10,), 3, 2), ((2, 10), 4, 1), ((2, 3, 8), 8, 3), ((5,), 2, 5)])
@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_extract_sequences(shape, length, stride, dtype):
    check_op("extract_sequences", rand(*shape).astype(dtype), length, stride)


def test_extract_sequences_errors():
    with pytest.raises(ValueError, match="sequence_length=5 is longer than the last axis"):
        kops.extract_sequences(torch.arange(4), 5, 1)
    with pytest.raises(ValueError, match="sequence_stride must be a positive int. Received: sequence_stride=0"):
        kops.extract_sequences(torch.arange(4), 2, 0)


# ---------------------------------------------------------------- elementwise special functions
@pytest.mark.parametrize("name", ["rsqrt", "erf", "erfc", "erfinv"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int32", "bool"])
def test_special_functions(name, dtype):
    if name == "erfinv" and dtype not in ("int32", "bool"):
        x = rng.uniform(-0.99, 0.99, (3, 4)).astype(dtype)
    elif name == "rsqrt" and dtype not in ("bool",):
        x = (np.abs(rand(3, 4)) + 0.1).astype(dtype)
    else:
        x = rand(3, 4).astype(dtype) if dtype != "bool" else rand(3, 4) > 0
    tol = 2e-3 if dtype == "float16" else 1e-5
    check_op(name, x, atol=tol, rtol=tol)
    check_op(name, x[:0])


def test_special_functions_of_python_values():
    check_op("erf", [0.5, -1.0])
    check_op("rsqrt", 4.0)


@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4), (0, 2, 2)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_logdet(shape, dtype):
    a = rand(*shape, scale=1.0)
    spd = a @ np.swapaxes(a, -1, -2) + 3 * np.eye(shape[-1])
    check_op("logdet", spd.astype(dtype), atol=1e-4)
    check_op("logdet", -np.eye(3, dtype=dtype))  # negative determinant: NaN in both


def test_logdet_errors():
    with pytest.raises(ValueError, match=r"square matrices of shape \(..., M, M\). Received shape \(2, 3\)"):
        kops.logdet(torch.ones(2, 3))
    with pytest.raises(TypeError, match=r"expected a float or complex matrix.*int32.*ops.cast"):
        kops.logdet(torch.eye(3, dtype=torch.int32))


# ---------------------------------------------------------------- complex numbers and Fourier transforms
def pair(*shape, dtype="float32"):
    return rand(*shape).astype(dtype), rand(*shape).astype(dtype)


@pytest.mark.parametrize("name,shape", [("fft", (8,)), ("fft", (2, 5)), ("fft2", (4, 4)), ("fft2", (2, 3, 5)),
                                        ("ifft2", (4, 6)), ("ifft2", (2, 2, 3))])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_complex_transforms(name, shape, dtype):
    check_op(name, pair(*shape, dtype=dtype), atol=1e-4)
    check_op(name, list(pair(*shape, dtype=dtype)), atol=1e-4, numpy_inputs=True)


@pytest.mark.parametrize("shape,fft_length", [((8,), None), ((2, 7), None), ((2, 8), 5), ((3, 4), 12)])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_rfft(shape, fft_length, dtype):
    check_op("rfft", rand(*shape).astype(dtype), fft_length, atol=1e-4)


@pytest.mark.parametrize("shape,fft_length", [((5,), None), ((2, 5), 9), ((2, 5), 8), ((3, 4), 3)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_irfft(shape, fft_length, dtype):
    check_op("irfft", pair(*shape, dtype=dtype), fft_length, atol=1e-5)


def test_fft_pair_errors():
    with pytest.raises(ValueError, match=r"x must be a pair \(real, imag\).*Tensor"):
        kops.fft(torch.ones(4))
    with pytest.raises(ValueError, match=r"same shape. Received: x\[0\].shape=\(4,\), x\[1\].shape=\(3,\)"):
        kops.fft((torch.ones(4), torch.ones(3)))
    with pytest.raises(ValueError, match="must be float tensors. Received dtypes int32 and int32"):
        kops.fft((torch.ones(4, dtype=torch.int32), torch.ones(4, dtype=torch.int32)))
    with pytest.raises(ValueError, match=r"rank >= 2. Received shape \(4,\)"):
        kops.fft2((torch.ones(4), torch.ones(4)))


def test_fft_promotes_mixed_precision_parts():
    real, imag = kops.fft((torch.ones(4, dtype=torch.float64), torch.zeros(4)))  # Keras's torch backend fails
    assert real.dtype == imag.dtype == torch.float64 and real.tolist() == [4.0, 0.0, 0.0, 0.0]


STFT = [
    ((20,), 8, 4, 8, "hann", True),
    ((2, 20), 8, 4, 16, "hamming", True),
    ((2, 3, 32), 8, 3, 16, "hann", False),
    ((33,), 10, 5, 10, None, False),
    ((2, 25), 6, 2, 8, "window", True),
]


@pytest.mark.parametrize("shape,seq_len,stride,fft_len,window,center", STFT)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_stft(shape, seq_len, stride, fft_len, window, center, dtype):
    if window == "window":
        window = rng.uniform(0.1, 1.0, seq_len).astype(dtype)
    check_op("stft", rand(*shape).astype(dtype), seq_len, stride, fft_len, window=window, center=center, atol=1e-4)


@pytest.mark.parametrize("shape,seq_len,stride,fft_len,window,center", STFT)
@pytest.mark.parametrize("length", [None, 18])
def test_istft(shape, seq_len, stride, fft_len, window, center, length):
    if window == "window":
        window = rng.uniform(0.1, 1.0, seq_len).astype("float32")
    keras = keras_module()
    spectrum = tuple(t.numpy() for t in keras.ops.stft(torch.from_numpy(rand(*shape)), seq_len, stride, fft_len,
                                                       window=window, center=center))
    check_op("istft", spectrum, seq_len, stride, fft_len, length=length, window=window, center=center, atol=1e-4)


def test_stft_istft_round_trip():
    x = torch.from_numpy(rand(2, 64))
    back = kops.istft(kops.stft(x, 16, 4, 16), 16, 4, 16, length=64)
    torch.testing.assert_close(back, x, atol=1e-4, rtol=1e-4)


def test_stft_errors():
    x = torch.ones(20)
    with pytest.raises(TypeError, match="x must be float32 or float64. Received dtype int32"):
        kops.stft(torch.ones(20, dtype=torch.int32), 8, 4, 8)
    with pytest.raises(ValueError, match=r"unknown window 'han'.*did you mean 'hann'"):
        kops.stft(x, 8, 4, 8, window="han")
    with pytest.raises(ValueError, match="fft_length must be >= sequence_length"):
        kops.stft(x, 8, 4, 4)
    with pytest.raises(ValueError, match="sequence_stride must be a positive int"):
        kops.istft((torch.ones(3, 5), torch.ones(3, 5)), 8, 0, 8)
    with pytest.raises(ValueError, match=r"window must have shape \(sequence_length,\) = \(8,\)"):
        kops.stft(x, 8, 4, 8, window=torch.ones(7))


@pytest.mark.parametrize("x", [rand(3, 2), rand(2, 4, 2).astype("float64"), rand(2).astype("float16"),
                               np.arange(6, dtype="int32").reshape(3, 2), rand(0, 2)])
def test_view_as_complex(x):
    check_op("view_as_complex", x, atol=1e-3)


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_view_as_real(dtype):
    x = (rand(3, 4) + 1j * rand(3, 4)).astype(dtype)
    check_op("view_as_real", x)
    check_op("view_as_real", x[:0])
    check_op("view_as_real", kops.view_as_complex(rand(5, 2)))


def test_view_as_complex_and_real_errors():
    with pytest.raises(ValueError, match=r"last axis must have size 2.*\(3, 3\)"):
        kops.view_as_complex(torch.ones(3, 3))
    with pytest.raises(TypeError, match="expects a complex tensor. Received dtype float32"):
        kops.view_as_real(torch.ones(3))
