"""Keras's `ops.math` on torch: segment reductions, top-k, special functions and Fourier transforms.

Keras passes complex numbers as `(real, imag)` pairs of float tensors: `fft`, `fft2`,
`ifft2`, `irfft` and `istft` take such a pair, and `fft`, `fft2`, `ifft2`, `rfft` and
`stft` return one. `view_as_complex` / `view_as_real` convert between a trailing axis of
size 2 and a complex tensor.
"""

from __future__ import annotations

import difflib
import math as _math
from typing import Any, Optional, Sequence, Tuple, Union

import torch

from kerasish.ops.core import normalize_axis, tensors
from kerasish.ops.dtypes import standardize_dtype
from kerasish.ops.operation import op

__all__ = [
    "cdist", "erf", "erfc", "erfinv", "extract_sequences", "fft", "fft2", "ifft2", "in_top_k", "irfft", "istft",
    "logdet", "logsumexp", "rfft", "rsqrt", "segment_max", "segment_min", "segment_prod", "segment_sum", "stft",
    "top_k", "view_as_complex", "view_as_real",
]

Pair = Tuple[torch.Tensor, torch.Tensor]
_WINDOWS = ("hann", "hamming")


# ---------------------------------------------------------------- segment reductions
def _segment(name: str, data: Any, segment_ids: Any, num_segments: Optional[int], reduce: str) -> torch.Tensor:
    data, ids = tensors(data, segment_ids)
    if ids.ndim != 1:
        raise ValueError(
            f"ops.{name}: segment_ids must be a 1-D vector. Received shape {tuple(ids.shape)}. Flatten both: "
            "segment_ids.reshape(-1) and data.reshape((-1,) + data.shape[segment_ids.ndim:])."
        )
    if data.ndim == 0 or ids.shape[0] != data.shape[0]:
        raise ValueError(f"ops.{name}: segment_ids needs one entry per row of data. Received segment_ids.shape="
                         f"{tuple(ids.shape)} and data.shape={tuple(data.shape)}.")
    if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise TypeError(f"ops.{name}: segment_ids must be integers. Received dtype {standardize_dtype(ids.dtype)}.")
    if num_segments is None:
        # host sync: the output's first dimension is read from the ids.
        num_segments = int(ids.max()) + 1 if ids.numel() else 0
    n = int(num_segments)  # host sync when num_segments is a device tensor
    ids = ids.long()
    # Ids outside [0, n) go to one extra row, dropped at the end (Keras drops them too).
    ids = torch.where((ids >= 0) & (ids < n), ids, n)
    # 16-bit floats reduce in float32 and come back, as in Keras's torch backend.
    work = data.float() if data.dtype in (torch.float16, torch.bfloat16) else data
    if reduce == "sum":
        fill: Union[int, float] = 0
    elif reduce == "prod":
        fill = 1
    elif work.is_floating_point():
        fill = -_math.inf if reduce == "amax" else _math.inf
    else:
        info = torch.iinfo(work.dtype)
        fill = info.min if reduce == "amax" else info.max
    out = torch.full((n + 1,) + tuple(data.shape[1:]), fill, dtype=work.dtype, device=data.device)
    index = ids.reshape((-1,) + (1,) * (data.ndim - 1)).expand(data.shape)
    out.scatter_reduce_(0, index, work, reduce, include_self=True)
    return out[:-1].to(data.dtype)


@op("math")
def segment_sum(data: Any, segment_ids: Any, num_segments: Optional[int] = None, sorted: bool = False) -> torch.Tensor:
    """Sums the rows of `data` with the same segment id; `num_segments` rows (default max(id) + 1).

    Ids outside [0, num_segments) are dropped. `sorted` is accepted and unused, as in Keras's
    torch backend. Without `num_segments` the output size is read from the ids (a host sync).
    """
    return _segment("segment_sum", data, segment_ids, num_segments, "sum")


@op("math")
def segment_max(data: Any, segment_ids: Any, num_segments: Optional[int] = None, sorted: bool = False) -> torch.Tensor:
    """Maximum over rows with the same segment id (as `segment_sum`); empty segments give -inf (ints: the minimum)."""
    return _segment("segment_max", data, segment_ids, num_segments, "amax")


@op("math")
def segment_min(data: Any, segment_ids: Any, num_segments: Optional[int] = None, sorted: bool = False) -> torch.Tensor:
    """Minimum over rows with the same segment id; empty segments give +inf.

    For integer data an empty segment gives the dtype's maximum; Keras's torch backend casts
    +inf to the integer dtype there (undefined behaviour, INT_MIN on x86).
    """
    return _segment("segment_min", data, segment_ids, num_segments, "amin")


@op("math")
def segment_prod(data: Any, segment_ids: Any, num_segments: Optional[int] = None,
                 sorted: bool = False) -> torch.Tensor:
    """Product over rows with the same segment id (as `segment_sum`); empty segments give 1."""
    return _segment("segment_prod", data, segment_ids, num_segments, "prod")


# ---------------------------------------------------------------- top-k and reductions
def _check_k(k: Any, x: torch.Tensor, name: str) -> int:
    size = x.shape[-1] if x.ndim else 1
    if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k <= size:
        raise ValueError(f"ops.{name}: k must be an int in [0, {size}] (the size of the last axis of shape "
                         f"{tuple(x.shape)}). Received: k={k!r}.")
    return k


@op("math")
def top_k(x: Any, k: int, sorted: bool = True) -> Any:
    """The `k` largest values along the last axis and their indices, as `(values, indices)`.

    The indices are int64, as Keras's torch backend returns them (its docs say int32).
    """
    x = tensors(x)[0]
    return torch.topk(x, _check_k(k, x, "top_k"), sorted=sorted)


@op("math")
def in_top_k(targets: Any, predictions: Any, k: int) -> torch.Tensor:
    """For each row, whether the target class scores at least the k-th largest prediction (ties count)."""
    targets, predictions = tensors(targets, predictions)
    if predictions.ndim != 2 or targets.shape != predictions.shape[:1]:
        raise ValueError(f"ops.in_top_k: expected predictions of shape (batch, classes) and targets of shape "
                         f"(batch,). Received: targets.shape={tuple(targets.shape)}, predictions.shape="
                         f"{tuple(predictions.shape)}.")
    k = _check_k(k, predictions, "in_top_k")
    if k == 0:
        return torch.zeros(targets.shape, dtype=torch.bool, device=predictions.device)
    kth = torch.topk(predictions, k).values[:, -1:]
    scores = torch.take_along_dim(predictions, targets.long()[:, None], dim=-1)
    return (scores >= kth).squeeze(-1)


@op("math")
def logsumexp(x: Any, axis: Union[None, int, Sequence[int]] = None, keepdims: bool = False) -> torch.Tensor:
    """`log(sum(exp(x)))` over `axis` (None: all axes), computed stably."""
    x = tensors(x)[0]
    if axis is None:
        dims: Tuple[int, ...] = tuple(range(x.ndim))
    else:
        items = axis if isinstance(axis, (list, tuple)) else (axis,)
        dims = tuple(normalize_axis(a, x.ndim, "logsumexp") for a in items)
    if not dims:  # torch.logsumexp needs a dim; over no axes it is the identity (in a float dtype)
        return torch.logsumexp(x.reshape(x.shape + (1,)), dim=-1)
    return torch.logsumexp(x, dim=dims, keepdim=keepdims)


@op("math")
def cdist(x: Any, y: Any) -> torch.Tensor:
    """Euclidean distances between the rows of `x` (..., m, d) and `y` (..., n, d): shape (..., m, n).

    Batch dimensions broadcast. Computed with `torch.cdist` without its matmul shortcut, so
    the values match the difference-based formula of Keras.
    """
    x, y = tensors(x, y)
    if x.ndim < 2 or y.ndim < 2 or x.shape[-1] != y.shape[-1]:
        raise ValueError(f"ops.cdist: expected x of shape (..., m, d) and y of shape (..., n, d) with the same d. "
                         f"Received: x.shape={tuple(x.shape)}, y.shape={tuple(y.shape)}.")
    dtype = torch.promote_types(x.dtype, y.dtype)
    if not dtype.is_floating_point:
        dtype = torch.get_default_dtype()  # integers: the float torch's sqrt gives them, as in Keras
    return torch.cdist(x.to(dtype), y.to(dtype), compute_mode="donot_use_mm_for_euclid_dist")


@op("math")
def extract_sequences(x: Any, sequence_length: int, sequence_stride: int) -> torch.Tensor:
    """Frames of `sequence_length` every `sequence_stride` along the last axis: (..., num_frames, sequence_length).

    Returns a view of `x` (frames overlap in memory when the stride is shorter than the length).
    """
    x = tensors(x)[0]
    if x.ndim < 1:
        raise ValueError("ops.extract_sequences: x must have rank >= 1. Received a scalar.")
    for arg, value in (("sequence_length", sequence_length), ("sequence_stride", sequence_stride)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"ops.extract_sequences: {arg} must be a positive int. Received: {arg}={value!r}.")
    if sequence_length > x.shape[-1]:
        raise ValueError(f"ops.extract_sequences: sequence_length={sequence_length} is longer than the last axis "
                         f"of x (shape {tuple(x.shape)}). Pass a sequence_length <= {x.shape[-1]}.")
    return x.unfold(-1, sequence_length, sequence_stride)


# ---------------------------------------------------------------- elementwise special functions
@op("math")
def rsqrt(x: Any) -> torch.Tensor:
    """`1 / sqrt(x)` elementwise; integer and bool inputs give float32 (torch's default float), as in Keras."""
    return torch.rsqrt(tensors(x)[0])


@op("math")
def erf(x: Any) -> torch.Tensor:
    """The error function, elementwise (integers and bools give float32)."""
    return torch.erf(tensors(x)[0])


@op("math")
def erfc(x: Any) -> torch.Tensor:
    """The complementary error function `1 - erf(x)`, elementwise (integers and bools give float32)."""
    return torch.erfc(tensors(x)[0])


@op("math")
def erfinv(x: Any) -> torch.Tensor:
    """The inverse error function, elementwise on (-1, 1) (integers and bools give float32)."""
    return torch.erfinv(tensors(x)[0])


@op("math")
def logdet(x: Any) -> torch.Tensor:
    """`log(det(x))` of square matrices (..., M, M); NaN where the determinant is negative."""
    x = tensors(x)[0]
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"ops.logdet: expected square matrices of shape (..., M, M). Received shape {tuple(x.shape)}.")
    if not (x.is_floating_point() or x.is_complex()):
        raise TypeError(f"ops.logdet: expected a float or complex matrix. Received dtype "
                        f"{standardize_dtype(x.dtype)}; cast it first, e.g. ops.cast(x, 'float32').")
    return torch.logdet(x)


# ---------------------------------------------------------------- complex numbers and Fourier transforms
def _complex(x: Any, name: str, min_rank: int = 1) -> torch.Tensor:
    """The complex tensor for a `(real, imag)` pair of float tensors of the same shape."""
    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise ValueError(f"ops.{name}: x must be a pair (real, imag) of float tensors. Received: "
                         f"{type(x).__name__}{'' if not isinstance(x, (tuple, list)) else f' of length {len(x)}'}.")
    real, imag = tensors(*x)
    if real.shape != imag.shape:
        raise ValueError(f"ops.{name}: the real and imaginary parts must have the same shape. Received: "
                         f"x[0].shape={tuple(real.shape)}, x[1].shape={tuple(imag.shape)}.")
    if not (real.is_floating_point() and imag.is_floating_point()):
        raise ValueError(f"ops.{name}: the real and imaginary parts must be float tensors. Received dtypes "
                         f"{standardize_dtype(real.dtype)} and {standardize_dtype(imag.dtype)}; cast them first.")
    if real.ndim < min_rank:
        raise ValueError(f"ops.{name}: x must have rank >= {min_rank}. Received shape {tuple(real.shape)}.")
    dtype = torch.promote_types(real.dtype, imag.dtype)
    return torch.complex(real.to(dtype), imag.to(dtype))


def _pair(z: torch.Tensor) -> Pair:
    return z.real, z.imag


@op("math")
def fft(x: Pair) -> Pair:
    """The 1-D discrete Fourier transform over the last axis of a `(real, imag)` pair."""
    return _pair(torch.fft.fft(_complex(x, "fft")))


@op("math")
def fft2(x: Pair) -> Pair:
    """The 2-D discrete Fourier transform over the last two axes of a `(real, imag)` pair."""
    return _pair(torch.fft.fft2(_complex(x, "fft2", min_rank=2)))


@op("math")
def ifft2(x: Pair) -> Pair:
    """The inverse 2-D discrete Fourier transform over the last two axes of a `(real, imag)` pair."""
    return _pair(torch.fft.ifft2(_complex(x, "ifft2", min_rank=2)))


@op("math")
def rfft(x: Any, fft_length: Optional[int] = None) -> Pair:
    """The FFT of a real signal over its last axis: the `fft_length // 2 + 1` non-negative frequencies."""
    x = tensors(x)[0]
    if x.ndim < 1:
        raise ValueError("ops.rfft: x must have rank >= 1. Received a scalar.")
    return _pair(torch.fft.rfft(x, n=fft_length, dim=-1))


@op("math")
def irfft(x: Pair, fft_length: Optional[int] = None) -> torch.Tensor:
    """The real signal whose `rfft` is the `(real, imag)` pair (length `fft_length`, default 2 * (n - 1))."""
    return torch.fft.irfft(_complex(x, "irfft"), n=fft_length, dim=-1)


def _window(window: Any, sequence_length: int, dtype: torch.dtype, device: torch.device,
            name: str) -> Optional[torch.Tensor]:
    if window is None:
        return None
    if isinstance(window, str):
        if window not in _WINDOWS:
            close = difflib.get_close_matches(window, _WINDOWS, n=1)
            raise ValueError(f"ops.{name}: unknown window {window!r}. Expected 'hann', 'hamming', a tensor of shape "
                             "(sequence_length,) or None" + (f"; did you mean {close[0]!r}?" if close else "."))
        make = torch.hann_window if window == "hann" else torch.hamming_window
        return make(sequence_length, periodic=True, dtype=dtype, device=device)
    win = tensors(window)[0].to(device=device, dtype=dtype)
    if tuple(win.shape) != (sequence_length,):
        raise ValueError(f"ops.{name}: window must have shape (sequence_length,) = ({sequence_length},). "
                         f"Received shape {tuple(win.shape)}.")
    return win


def _check_frames(name: str, sequence_length: int, sequence_stride: int, fft_length: int) -> None:
    for arg, value in (("sequence_length", sequence_length), ("sequence_stride", sequence_stride),
                       ("fft_length", fft_length)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"ops.{name}: {arg} must be a positive int. Received: {arg}={value!r}.")
    if fft_length < sequence_length:
        raise ValueError(f"ops.{name}: fft_length must be >= sequence_length. Received: "
                         f"sequence_length={sequence_length}, fft_length={fft_length}.")


@op("math")
def stft(x: Any, sequence_length: int, sequence_stride: int, fft_length: int, window: Any = "hann",
         center: bool = True) -> Pair:
    """Short-time Fourier transform over the last axis: a pair of shape (..., num_frames, fft_length // 2 + 1).

    `x` must be float32 or float64. With `center=True` the signal is reflect-padded by
    fft_length // 2 on each side so that frame t is centred at t * sequence_stride.
    """
    _check_frames("stft", sequence_length, sequence_stride, fft_length)
    x = tensors(x)[0]
    if x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"ops.stft: x must be float32 or float64. Received dtype {standardize_dtype(x.dtype)}; "
                        "cast it first, e.g. ops.cast(x, 'float32').")
    win = _window(window, sequence_length, x.dtype, x.device, "stft")
    if win is None:
        win = torch.ones(sequence_length, dtype=x.dtype, device=x.device)
    batch = x.shape[:-1]
    z = torch.stft(x.reshape(-1, x.shape[-1]), n_fft=fft_length, hop_length=sequence_stride,
                   win_length=sequence_length, window=win, center=center, return_complex=True)
    z = z.reshape(batch + z.shape[-2:]).transpose(-2, -1)
    return _pair(z)


@op("math")
def istft(x: Pair, sequence_length: int, sequence_stride: int, fft_length: int, length: Optional[int] = None,
          window: Any = "hann", center: bool = True) -> torch.Tensor:
    """Inverse of `stft` (same arguments) for a pair of shape (..., num_frames, fft_length // 2 + 1).

    With `sequence_length == fft_length`, `center=True` and a window this is `torch.istft`;
    otherwise, as in Keras, frames are windowed with the window divided by the overlapping
    sum of its squares and overlap-added. `length` trims or sets the output length.
    """
    _check_frames("istft", sequence_length, sequence_stride, fft_length)
    z = _complex(x, "istft", min_rank=2)
    dtype = z.real.dtype
    win = _window(window, sequence_length, dtype, z.device, "istft")
    batch, (frames, bins) = z.shape[:-2], z.shape[-2:]
    if sequence_length == fft_length and center and win is not None:
        out = torch.istft(z.reshape(-1, frames, bins).transpose(-2, -1), n_fft=fft_length,
                          hop_length=sequence_stride, win_length=sequence_length, window=win, center=True,
                          length=length, return_complex=False)
        return out.reshape(batch + out.shape[-1:])
    signal = torch.fft.irfft(z, n=fft_length, dim=-1)  # (..., frames, fft_length)
    if win is not None:
        left = (fft_length - sequence_length) // 2
        win = torch.nn.functional.pad(win, (left, fft_length - sequence_length - left))
        # Each sample is covered by ceil(fft_length / stride) frames; normalise by their summed squares.
        overlaps = -(-fft_length // sequence_stride)
        squares = torch.nn.functional.pad(win.square(), (0, overlaps * sequence_stride - fft_length))
        denom = squares.reshape(overlaps, sequence_stride).sum(0).repeat(overlaps)[:fft_length]
        signal = signal * (win / denom)
    total = fft_length + sequence_stride * (frames - 1)
    flat = signal.reshape(-1, frames, fft_length).transpose(1, 2)  # (batch, fft_length, frames)
    added = torch.nn.functional.fold(flat, output_size=(1, total), kernel_size=(1, fft_length),
                                     stride=(1, sequence_stride))  # overlap-add
    added = added.reshape(batch + (total,))
    start = fft_length // 2 if center else 0
    if length is not None:
        return added[..., start:start + length]
    return added[..., start:total - start]


@op("math")
def view_as_complex(x: Any) -> torch.Tensor:
    """A complex64 tensor from a real one whose last axis (size 2) holds (real, imag); always complex64, as Keras."""
    x = tensors(x)[0]
    if x.ndim < 1 or x.shape[-1] != 2:
        raise ValueError(f"ops.view_as_complex: the last axis must have size 2 (real, imag). "
                         f"Received shape {tuple(x.shape)}.")
    parts = x.to(torch.float32)
    return torch.complex(parts[..., 0], parts[..., 1])


@op("math")
def view_as_real(x: Any) -> torch.Tensor:
    """A real tensor of shape x.shape + (2,) holding the real and imaginary parts of a complex tensor."""
    x = tensors(x)[0]
    if not x.is_complex():
        raise TypeError(f"ops.view_as_real expects a complex tensor. Received dtype {standardize_dtype(x.dtype)}; "
                        "for a real tensor stack it with zeros: ops.stack([x, ops.zeros_like(x)], axis=-1).")
    return torch.stack((x.real, x.imag), dim=-1)
