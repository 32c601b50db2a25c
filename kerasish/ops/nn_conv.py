"""Keras ops, nn namespace: convolutions, pooling and the image rearrangements.

Images are channels-last by default (`data_format=None` reads
`kerasish.config.image_data_format()`, 'channels_last' as in Keras): torch's kernels
want channels-first, so the ops permute in and out (a permuted channels-last tensor is
torch's `channels_last` memory format, which its convolutions run natively). Kernels
have Keras's layout, `(*kernel_size, in_channels, out_channels)`.

'same' padding is Keras's (TensorFlow's): a total of `max((ceil(n/s)-1)*s + k_eff - n, 0)`,
the odd element at the end. Where that is asymmetric the ops pad explicitly; average
pooling then divides by the number of real (unpadded) elements in each window, as Keras's
TensorFlow and JAX backends do. Keras's torch backend counts replicated edge values
instead when the padding is asymmetric (a bug there); kerasish does not copy it.

These ops are re-exported by `kerasish.ops.nn`.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

from kerasish import config
from kerasish.ops.dtypes import convert_to_tensor, result_type, standardize_dtype, to_torch_dtype
from kerasish.ops.operation import op

IntOrTuple = Union[int, Sequence[int]]

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
_ADAPTIVE_AVG = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}
_ADAPTIVE_MAX = {1: F.adaptive_max_pool1d, 2: F.adaptive_max_pool2d, 3: F.adaptive_max_pool3d}


# ----------------------------------------------------------------- shared argument checks
def standardize_data_format(data_format: Optional[str], name: str) -> str:
    """'channels_last' or 'channels_first' (None: the configured default), or a ValueError naming the op."""
    if data_format is None:
        return config.image_data_format()
    value = data_format.lower() if isinstance(data_format, str) else data_format
    if value not in ("channels_last", "channels_first"):
        raise ValueError(
            f"ops.{name}: data_format must be 'channels_last' or 'channels_first', received {data_format!r}. "
            "Pass data_format='channels_last' for (batch, ..., channels) inputs."
        )
    return value


def _padding(padding: Any, name: str) -> str:
    value = padding.lower() if isinstance(padding, str) else padding
    if value not in ("valid", "same"):
        raise ValueError(f"ops.{name}: padding must be 'valid' or 'same', received padding={padding!r}.")
    return value


def _tuple(value: Any, n: int, arg: str, name: str, allow_zero: bool = False) -> Tuple[int, ...]:
    """`value` (an int or n ints) as n positive ints."""
    items = (value,) * n if isinstance(value, int) and not isinstance(value, bool) else value
    try:
        items = tuple(int(v) for v in items)
        ok = len(items) == n and all(v >= (0 if allow_zero else 1) for v in items)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        least = "non-negative" if allow_zero else "positive"
        raise ValueError(
            f"ops.{name}: {arg} must be a {least} int or a tuple of {n} {least} ints (one per spatial "
            f"dimension), received {arg}={value!r}."
        )
    return items


def float_input(x: Any, name: str) -> torch.Tensor:
    """`x` as a tensor, or a TypeError when it is not floating point (torch's kernels need floats)."""
    x = convert_to_tensor(x)
    if not x.is_floating_point():
        raise TypeError(
            f"ops.{name} expects a floating-point tensor, received dtype {standardize_dtype(x.dtype)}. "
            f"Cast it first, e.g. ops.{name}(ops.cast(x, 'float32'), ...)."
        )
    return x


def _spatial_input(inputs: Any, name: str, what: str = "inputs") -> Tuple[torch.Tensor, int]:
    x = convert_to_tensor(inputs)
    if x.dim() not in (3, 4, 5):
        raise ValueError(
            f"ops.{name}: {what} must have rank 3, 4 or 5 (batch, spatial dims, channels) for 1D, 2D or 3D "
            f"data, received shape {tuple(x.shape)}."
        )
    return x, x.dim() - 2


def _to_channels_first(x: torch.Tensor, data_format: str) -> torch.Tensor:
    return x.movedim(-1, 1) if data_format == "channels_last" else x


def _from_channels_first(x: torch.Tensor, data_format: str) -> torch.Tensor:
    return x.movedim(1, -1) if data_format == "channels_last" else x


def _same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> Tuple[int, int]:
    """Keras's (TensorFlow's) 'same' padding of one dimension: (before, after), the extra one after."""
    effective = (kernel - 1) * dilation + 1
    total = max((-(-size // stride) - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def _torch_pad(pads: List[Tuple[int, int]]) -> List[int]:
    # F.pad lists the last dimension first.
    return [p for pair in reversed(pads) for p in pair]


# ----------------------------------------------------------------- convolutions
def _conv_cf(x: torch.Tensor, kernel: torch.Tensor, strides: Tuple[int, ...], padding: str,
             dilation: Tuple[int, ...], groups: int) -> torch.Tensor:
    """A channels-first convolution with a torch-layout kernel and Keras's padding."""
    n = x.dim() - 2
    pad: Any = 0
    if padding == "same":
        pads = [_same_pads(x.shape[2 + i], kernel.shape[2 + i], strides[i], dilation[i]) for i in range(n)]
        if all(a == b for a, b in pads):
            pad = [a for a, _ in pads]
        else:
            x = F.pad(x, _torch_pad(pads))
    return _CONV[n](x, kernel, stride=strides, padding=pad, dilation=dilation, groups=groups)


def _same_float_dtype(name: str, *tensors: torch.Tensor) -> List[torch.Tensor]:
    dtype = to_torch_dtype(result_type(*[t.dtype for t in tensors]))
    if not dtype.is_floating_point:
        raise TypeError(
            f"ops.{name} expects floating-point inputs and kernels, received dtypes "
            f"{[standardize_dtype(t.dtype) for t in tensors]}. Cast them with ops.cast(x, 'float32')."
        )
    return [t.to(dtype) for t in tensors]


def _kernel_to_torch(kernel: torch.Tensor) -> torch.Tensor:
    # Keras (*k, in, out) -> torch (out, in, *k).
    return kernel.permute(kernel.dim() - 1, kernel.dim() - 2, *range(kernel.dim() - 2))


def _check_kernel_rank(kernel: torch.Tensor, n: int, name: str, arg: str = "kernel") -> None:
    if kernel.dim() != n + 2:
        raise ValueError(
            f"ops.{name}: {arg} must have rank {n + 2} (*kernel_size, in_channels, out_channels) for inputs "
            f"with {n} spatial dimensions, received {arg} shape {tuple(kernel.shape)}."
        )


@op("nn")
def conv(inputs: Any, kernel: Any, strides: IntOrTuple = 1, padding: str = "valid", data_format: Optional[str] = None,
         dilation_rate: IntOrTuple = 1) -> torch.Tensor:
    """N-D convolution (1D/2D/3D); a kernel with fewer input channels than `inputs` runs as a grouped convolution."""
    data_format = standardize_data_format(data_format, "conv")
    padding = _padding(padding, "conv")
    x, n = _spatial_input(inputs, "conv")
    kernel = convert_to_tensor(kernel)
    _check_kernel_rank(kernel, n, "conv")
    strides = _tuple(strides, n, "strides", "conv")
    dilation = _tuple(dilation_rate, n, "dilation_rate", "conv")
    x, kernel = _same_float_dtype("conv", x, kernel)
    channels = x.shape[-1] if data_format == "channels_last" else x.shape[1]
    if kernel.shape[-2] == 0 or channels % kernel.shape[-2]:
        raise ValueError(
            f"ops.conv: the input channels ({channels}) must be a multiple of the kernel's input channels "
            f"({kernel.shape[-2]}, kernel shape {tuple(kernel.shape)}); data_format={data_format!r}. Check that "
            "data_format matches where the channels of `inputs` are."
        )
    groups = channels // kernel.shape[-2]
    y = _conv_cf(_to_channels_first(x, data_format), _kernel_to_torch(kernel), strides, padding, dilation, groups)
    return _from_channels_first(y, data_format)


def _check_channels(x: torch.Tensor, kernel: torch.Tensor, data_format: str, name: str, k_axis: int = -2) -> int:
    channels = x.shape[-1] if data_format == "channels_last" else x.shape[1]
    if channels != kernel.shape[k_axis]:
        raise ValueError(
            f"ops.{name}: the input channels ({channels}) must equal the kernel's input channels "
            f"({kernel.shape[k_axis]}, kernel shape {tuple(kernel.shape)}); data_format={data_format!r}."
        )
    return channels


@op("nn")
def depthwise_conv(inputs: Any, kernel: Any, strides: IntOrTuple = 1, padding: str = "valid",
                   data_format: Optional[str] = None, dilation_rate: IntOrTuple = 1) -> torch.Tensor:
    """Depthwise convolution; `kernel` is `(*kernel_size, in_channels, depth_multiplier)`."""
    data_format = standardize_data_format(data_format, "depthwise_conv")
    padding = _padding(padding, "depthwise_conv")
    x, n = _spatial_input(inputs, "depthwise_conv")
    kernel = convert_to_tensor(kernel)
    _check_kernel_rank(kernel, n, "depthwise_conv")
    strides = _tuple(strides, n, "strides", "depthwise_conv")
    dilation = _tuple(dilation_rate, n, "dilation_rate", "depthwise_conv")
    x, kernel = _same_float_dtype("depthwise_conv", x, kernel)
    channels = _check_channels(x, kernel, data_format, "depthwise_conv")
    # (*k, C, M) -> torch (C*M, 1, *k): output channel c*M + m reads input channel c.
    torch_kernel = kernel.reshape(*kernel.shape[:-2], 1, channels * kernel.shape[-1])
    y = _conv_cf(_to_channels_first(x, data_format), _kernel_to_torch(torch_kernel), strides, padding, dilation,
                 channels)
    return _from_channels_first(y, data_format)


@op("nn")
def separable_conv(inputs: Any, depthwise_kernel: Any, pointwise_kernel: Any, strides: IntOrTuple = 1,
                   padding: str = "valid", data_format: Optional[str] = None,
                   dilation_rate: IntOrTuple = 1) -> torch.Tensor:
    """A depthwise convolution followed by a 1x1 (pointwise) convolution."""
    data_format = standardize_data_format(data_format, "separable_conv")
    x = convert_to_tensor(inputs)
    depthwise_kernel = convert_to_tensor(depthwise_kernel)
    _check_channels(x, depthwise_kernel, data_format, "separable_conv")
    y = depthwise_conv(x, depthwise_kernel, strides, padding, data_format, dilation_rate)
    return conv(y, pointwise_kernel, 1, "valid", data_format, dilation_rate)


def _transpose_pads(kernel: int, stride: int, dilation: int, padding: str,
                    output_padding: Optional[int]) -> Tuple[int, int]:
    """Keras's conv_transpose padding of one dimension, as (before, after) padding of the dilated input."""
    effective = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(effective, stride) - effective if output_padding is None else output_padding
        return effective - 1, effective - 1 + extra
    if output_padding is None:
        total = stride + effective - 2
    else:
        total = effective + effective % 2 - 2 + output_padding
    before = min(total // 2 + total % 2, effective - 1)
    return before, total - before


@op("nn")
def conv_transpose(inputs: Any, kernel: Any, strides: IntOrTuple = 1, padding: str = "valid",
                   output_padding: Optional[IntOrTuple] = None, data_format: Optional[str] = None,
                   dilation_rate: IntOrTuple = 1) -> torch.Tensor:
    """Transposed convolution; `kernel` is `(*kernel_size, out_channels, in_channels)`."""
    data_format = standardize_data_format(data_format, "conv_transpose")
    padding = _padding(padding, "conv_transpose")
    x, n = _spatial_input(inputs, "conv_transpose")
    kernel = convert_to_tensor(kernel)
    _check_kernel_rank(kernel, n, "conv_transpose")
    strides = _tuple(strides, n, "strides", "conv_transpose")
    dilation = _tuple(dilation_rate, n, "dilation_rate", "conv_transpose")
    out_pad = (None,) * n if output_padding is None else _tuple(output_padding, n, "output_padding",
                                                                "conv_transpose", allow_zero=True)
    x, kernel = _same_float_dtype("conv_transpose", x, kernel)
    _check_channels(x, kernel, data_format, "conv_transpose", k_axis=-1)
    # Keras (*k, out, in) -> torch (in, out, *k).
    torch_kernel = kernel.permute(n + 1, n, *range(n))
    y = _CONV_T[n](_to_channels_first(x, data_format), torch_kernel, stride=strides, dilation=dilation)
    # torch gave the full output ((n-1)*s + k_eff); Keras's padding crops it (or extends it with zeros).
    crops = []
    for i in range(n):
        before, after = _transpose_pads(kernel.shape[i], strides[i], dilation[i], padding, out_pad[i])
        effective = (kernel.shape[i] - 1) * dilation[i] + 1
        crops.append((effective - 1 - before, effective - 1 - after))
    y = F.pad(y, _torch_pad([(-a, -b) for a, b in crops]))  # negative pads crop
    return _from_channels_first(y, data_format)


# ----------------------------------------------------------------- pooling
def _pool_args(inputs: Any, pool_size: IntOrTuple, strides: Optional[IntOrTuple], padding: str,
               data_format: Optional[str], name: str
               ) -> Tuple[torch.Tensor, int, Tuple[int, ...], Tuple[int, ...], str, str]:
    data_format = standardize_data_format(data_format, name)
    padding = _padding(padding, name)
    x, n = _spatial_input(inputs, name)
    pool = _tuple(pool_size, n, "pool_size", name)
    strides = pool if strides is None else _tuple(strides, n, "strides", name)
    return _to_channels_first(x, data_format), n, pool, strides, padding, data_format


@op("nn")
def max_pool(inputs: Any, pool_size: IntOrTuple, strides: Optional[IntOrTuple] = None, padding: str = "valid",
             data_format: Optional[str] = None) -> torch.Tensor:
    """Max pooling over 1, 2 or 3 spatial dimensions (`strides` defaults to `pool_size`)."""
    x, n, pool, strides, padding, data_format = _pool_args(inputs, pool_size, strides, padding, data_format,
                                                           "max_pool")
    if padding == "same":
        pads = [_same_pads(x.shape[2 + i], pool[i], strides[i]) for i in range(n)]
        # Repeating the edge value never changes a window's max (and works for every dtype).
        x = F.pad(x, _torch_pad(pads), mode="replicate") if any(a or b for a, b in pads) else x
    y = _MAX[n](x, kernel_size=pool, stride=strides)
    return _from_channels_first(y, data_format)


@op("nn")
def average_pool(inputs: Any, pool_size: IntOrTuple, strides: Optional[IntOrTuple] = None, padding: str = "valid",
                 data_format: Optional[str] = None) -> torch.Tensor:
    """Average pooling over 1, 2 or 3 spatial dimensions; 'same' windows average their real elements only.

    Differs from Keras's torch backend (not from its TensorFlow/JAX ones) where 'same'
    padding is asymmetric: see the module docstring.
    """
    x, n, pool, strides, padding, data_format = _pool_args(inputs, pool_size, strides, padding, data_format,
                                                           "average_pool")
    if not x.is_floating_point():
        raise TypeError(
            f"ops.average_pool expects a floating-point tensor, received dtype {standardize_dtype(x.dtype)}. "
            "Cast it first: ops.average_pool(ops.cast(x, 'float32'), ...)."
        )
    pads = [_same_pads(x.shape[2 + i], pool[i], strides[i]) for i in range(n)] if padding == "same" else []
    if all(a == b for a, b in pads):
        y = _AVG[n](x, kernel_size=pool, stride=strides, padding=[a for a, _ in pads] or 0, count_include_pad=False)
    else:
        # Sum over zero-padded windows, divided by each window's count of real elements.
        flat = _torch_pad(pads)
        ones = torch.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype, device=x.device)
        y = _AVG[n](F.pad(x, flat), kernel_size=pool, stride=strides) / _AVG[n](F.pad(ones, flat),
                                                                                  kernel_size=pool, stride=strides)
    return _from_channels_first(y, data_format)


def _adaptive(inputs: Any, output_size: IntOrTuple, data_format: Optional[str], name: str,
              table: dict) -> torch.Tensor:
    data_format = standardize_data_format(data_format, name)
    x, n = _spatial_input(inputs, name)
    size = _tuple(output_size, n, "output_size", name)
    y = table[n](_to_channels_first(x, data_format), size)
    y = y[0] if isinstance(y, tuple) else y
    return _from_channels_first(y, data_format)


@op("nn")
def adaptive_average_pool(inputs: Any, output_size: IntOrTuple, data_format: Optional[str] = None) -> torch.Tensor:
    """Average pooling to a fixed output size (torch's adaptive windows)."""
    if not convert_to_tensor(inputs).is_floating_point():
        float_input(inputs, "adaptive_average_pool")
    return _adaptive(inputs, output_size, data_format, "adaptive_average_pool", _ADAPTIVE_AVG)


@op("nn")
def adaptive_max_pool(inputs: Any, output_size: IntOrTuple, data_format: Optional[str] = None) -> torch.Tensor:
    """Max pooling to a fixed output size (torch's adaptive windows)."""
    return _adaptive(inputs, output_size, data_format, "adaptive_max_pool", _ADAPTIVE_MAX)


# ----------------------------------------------------------------- patches and blocks
def _pair(value: IntOrTuple, arg: str, name: str, allow_zero: bool = False) -> Tuple[int, int]:
    return _tuple(value, 2, arg, name, allow_zero)  # type: ignore[return-value]


@op("nn")
def unfold(x: Any, kernel_size: IntOrTuple, dilation: IntOrTuple = 1, padding: IntOrTuple = 0,
           stride: IntOrTuple = 1) -> torch.Tensor:
    """Sliding patches of a channels-first image batch `(N, C, H, W)` as `(N, C*kH*kW, L)` (torch's unfold)."""
    x = convert_to_tensor(x)
    if x.dim() != 4:
        raise ValueError(f"ops.unfold: x must be a 4D (N, C, H, W) tensor, received shape {tuple(x.shape)}.")
    return F.unfold(x, _pair(kernel_size, "kernel_size", "unfold"), _pair(dilation, "dilation", "unfold"),
                    _pair(padding, "padding", "unfold", True), _pair(stride, "stride", "unfold"))


@op("nn")
def fold(x: Any, output_size: IntOrTuple, kernel_size: IntOrTuple, dilation: IntOrTuple = 1,
         padding: IntOrTuple = 0, stride: IntOrTuple = 1) -> torch.Tensor:
    """Sums sliding patches `(N, C*kH*kW, L)` back into `(N, C, H, W)` (torch's fold, the inverse layout of unfold)."""
    x = convert_to_tensor(x)
    if x.dim() != 3:
        raise ValueError(f"ops.fold: x must be a 3D (N, C*kH*kW, L) tensor, received shape {tuple(x.shape)}.")
    k = _pair(kernel_size, "kernel_size", "fold")
    if x.shape[1] % (k[0] * k[1]):
        raise ValueError(
            f"ops.fold: the second dimension of x ({x.shape[1]}) must be a multiple of kH*kW = {k[0] * k[1]} "
            f"(kernel_size={kernel_size!r})."
        )
    return F.fold(x, _pair(output_size, "output_size", "fold"), k, _pair(dilation, "dilation", "fold"),
                  _pair(padding, "padding", "fold", True), _pair(stride, "stride", "fold"))


def _blocks_input(x: Any, block_size: int, data_format: str, name: str) -> Tuple[torch.Tensor, str]:
    data_format = standardize_data_format(data_format, name)
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 2:
        raise ValueError(f"ops.{name}: block_size must be an int of at least 2, received block_size={block_size!r}.")
    x = convert_to_tensor(x)
    if x.dim() != 4:
        raise ValueError(f"ops.{name} needs a 4D image batch, received shape {tuple(x.shape)}.")
    return x, data_format


@op("nn")
def depth_to_space(x: Any, block_size: int, data_format: str = "channels_last") -> torch.Tensor:
    """Moves channel blocks into `block_size` x `block_size` spatial tiles (TensorFlow's depth_to_space)."""
    t, data_format = _blocks_input(x, block_size, data_format, "depth_to_space")
    b = block_size
    c = t.shape[-1] if data_format == "channels_last" else t.shape[1]
    if c % (b * b):
        raise ValueError(f"ops.depth_to_space: the channels ({c}) must be a multiple of block_size**2 = {b * b}.")
    if data_format == "channels_first":
        return F.pixel_shuffle(t, b)  # channel c*b*b + i*b + j goes to tile offset (i, j) of channel c
    n, h, w, _ = t.shape  # channels-last: channel (i*b + j)*C' + c goes to tile offset (i, j) of channel c
    return t.reshape(n, h, w, b, b, c // (b * b)).permute(0, 1, 3, 2, 4, 5).reshape(n, h * b, w * b, c // (b * b))


@op("nn")
def space_to_depth(x: Any, block_size: int, data_format: str = "channels_last") -> torch.Tensor:
    """Moves `block_size` x `block_size` spatial tiles into channels (TensorFlow's space_to_depth)."""
    t, data_format = _blocks_input(x, block_size, data_format, "space_to_depth")
    b = block_size
    h, w = (t.shape[1], t.shape[2]) if data_format == "channels_last" else (t.shape[2], t.shape[3])
    if h % b or w % b:
        raise ValueError(
            f"ops.space_to_depth: height ({h}) and width ({w}) must be multiples of block_size ({b}).")
    if data_format == "channels_first":
        return F.pixel_unshuffle(t, b)
    n, _, _, c = t.shape
    return t.reshape(n, h // b, b, w // b, b, c).permute(0, 1, 3, 2, 4, 5).reshape(n, h // b, w // b, c * b * b)


__all__: List[str] = [
    "adaptive_average_pool", "adaptive_max_pool", "average_pool", "conv", "conv_transpose", "depth_to_space",
    "depthwise_conv", "fold", "max_pool", "separable_conv", "space_to_depth", "unfold",
]
