"""More convolution layers: Conv3D, Conv1DTranspose and Conv3DTranspose.

They share `convolutional.py`'s machinery: kernels are stored in torch's layout (Conv3D
`(filters, in_channels / groups, kd, kh, kw)`, a transposed kernel `(in_channels, filters, *k)`)
so `torch.nn.functional.conv*` uses them as they are, and `get_weights()`/`set_weights()` use
Keras's layout (`(*k, in_channels / groups, filters)`, transposed `(*k, filters, in_channels)`)
through the layer's `KerasLayout`. Padding and output sizes follow Keras (TensorFlow's 'same'
padding, with the odd element at the end; Keras's `output_padding` for the transposed layers).
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import torch
import torch.nn.functional as F

from kerasish import activations
from kerasish.layers.convolutional import (
    Conv2DTranspose,
    IntOrTuple,
    BaseConv,
    normalize_tuple,
    pad_input,
    spatial_pads,
)

_CONV_TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def check_strides_and_dilation(strides: Tuple[int, ...], dilation_rate: Tuple[int, ...], layer: str) -> None:
    """Keras refuses `strides > 1` together with `dilation_rate > 1`; so do we, with the fix."""
    if max(strides) > 1 and max(dilation_rate) > 1:
        raise ValueError(
            f"{layer}: strides > 1 cannot be combined with dilation_rate > 1, received strides={strides} and "
            f"dilation_rate={dilation_rate}. Set one of them to 1."
        )


class Conv3D(BaseConv):
    """3D convolution over `(batch, depth, height, width, channels)` volumes.

    The kernel is stored in torch's layout `(filters, in_channels / groups, kd, kh, kw)`;
    `get_weights()` returns Keras's `[kernel (kd, kh, kw, in_channels / groups, filters), bias]`.

    Args:
        filters: number of output channels.
        kernel_size: int or tuple of 3 ints.
        strides: int or tuple of 3 ints. Defaults to `(1, 1, 1)`.
        padding: `'valid'` or `'same'` (output size `ceil(size / strides)`). Defaults to `'valid'`.
        data_format: `'channels_last'` `(batch, d, h, w, c)` or `'channels_first'`
            `(batch, c, d, h, w)`. Defaults to `None` (`'channels_last'`).
        dilation_rate: int or tuple of 3 ints. Defaults to `(1, 1, 1)`.
        groups: number of channel groups; `filters` and the input channels must divide by it.
            Defaults to `1`.
        activation: activation name or callable. Defaults to `None` (linear).
        use_bias: whether to add a bias. Defaults to `True`.
        kernel_initializer: Defaults to `'glorot_uniform'`.
        bias_initializer: Defaults to `'zeros'`.
        kernel_regularizer: Defaults to `None`.
        bias_regularizer: Defaults to `None`.
        activity_regularizer: penalty on the output, added to the loss. Defaults to `None`.
        kernel_constraint: applied after each optimizer step, in Keras's layout. Defaults to `None`.
        bias_constraint: Defaults to `None`.
        **kwargs: `input_shape`, `name`, `dtype`, `trainable`.

    Raises:
        ValueError: for non-positive sizes, an unknown `padding` or `data_format`, channels that
            do not divide by `groups`, or `strides > 1` together with `dilation_rate > 1`.

    Example:
        >>> layer = Conv3D(4, 3, padding="same", input_shape=(6, 6, 6, 2))
        >>> layer(torch.ones(1, 6, 6, 6, 2)).shape
        torch.Size([1, 6, 6, 6, 4])
    """

    rank = 3
    _calls_convolution_op = True  # as Keras's Conv3D: a subclass's convolution_op is what call runs
    _layout = "(batch, depth, height, width, channels)"
    _layout_first = "(batch, channels, depth, height, width)"

    def __init__(
        self,
        filters: int,
        kernel_size: IntOrTuple,
        strides: IntOrTuple = (1, 1, 1),
        padding: str = "valid",
        data_format: Optional[str] = None,
        dilation_rate: IntOrTuple = (1, 1, 1),
        groups: int = 1,
        activation: activations.ActivationLike = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        check_strides_and_dilation(normalize_tuple(strides, 3, "strides", "Conv3D"),
                                   normalize_tuple(dilation_rate, 3, "dilation_rate", "Conv3D"), "Conv3D")
        super().__init__(
            filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
            dilation_rate=dilation_rate, groups=groups, activation=activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint, **kwargs,
        )

    def _conv(self, x: torch.Tensor) -> torch.Tensor:
        pads = spatial_pads(x.shape[2:], self.kernel_size, self.strides, self.dilation_rate, self.padding)
        x, symmetric = pad_input(x, pads)
        return F.conv3d(x, self._torch_kernel(), self.bias, self.strides, symmetric, self.dilation_rate, self.groups)


class _ConvTranspose(Conv2DTranspose):
    """Conv2DTranspose's crops and output sizes, for any number of spatial axes."""

    rank = 1

    def __init__(
        self,
        filters: int,
        kernel_size: IntOrTuple,
        strides: IntOrTuple = 1,
        padding: str = "valid",
        output_padding: Optional[IntOrTuple] = None,
        data_format: Optional[str] = None,
        dilation_rate: IntOrTuple = 1,
        activation: activations.ActivationLike = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        cls = type(self).__name__
        strides_t = normalize_tuple(strides, self.rank, "strides", cls)
        check_strides_and_dilation(strides_t, normalize_tuple(dilation_rate, self.rank, "dilation_rate", cls), cls)
        self.output_padding = None
        if output_padding is not None:
            self.output_padding = normalize_tuple(output_padding, self.rank, "output_padding", cls, True)
            if any(op >= s for op, s in zip(self.output_padding, strides_t)):
                raise ValueError(
                    f"{cls}: each output_padding must be smaller than the stride, as in Keras, received "
                    f"output_padding={output_padding!r} with strides={strides_t}. Lower output_padding or leave "
                    "it None."
                )
        # Skip Conv2DTranspose's own rank-2 argument checks: the ones above are for this rank.
        BaseConv.__init__(
            self, filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
            dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint, **kwargs,
        )

    def _conv(self, x: torch.Tensor) -> torch.Tensor:
        # As Conv2DTranspose: torch's symmetric `padding` as close to Keras's crops as torch
        # allows, its `output_padding` for an extended end, then a slice (a view) for the rest.
        padding, output_padding, slices = [], [], []
        for axis in range(self.rank):
            before, after = self._crops(axis)
            limit = max(self.strides[axis], self.dilation_rate[axis]) - 1
            p = max(0, min(before, after + limit))
            padding.append(p)
            output_padding.append(max(p - after, 0))
            slices.append((before - p, max(after - p, 0)))
        out = _CONV_TRANSPOSE[self.rank](x, self.kernel, self.bias, self.strides, tuple(padding),
                                         tuple(output_padding), 1, self.dilation_rate)
        if any(b or a for b, a in slices):
            index = (slice(None), slice(None)) + tuple(
                slice(b, out.shape[2 + i] - a) for i, (b, a) in enumerate(slices))
            out = out[index]
        return out


_TRANSPOSE_ARGS = """
    Args:
        filters: number of output channels.
        kernel_size: int or tuple of {rank} ints.
        strides: int or tuple of {rank} ints. Defaults to `{ones}`.
        padding: `'valid'` or `'same'` (output size `size * strides`). Defaults to `'valid'`.
        {order}
        dilation_rate: int or tuple of {rank} ints. Defaults to `{ones}`.
        activation: activation name or callable. Defaults to `None` (linear).
        use_bias: whether to add a bias. Defaults to `True`.
        kernel_initializer: Defaults to `'glorot_uniform'`.
        bias_initializer: Defaults to `'zeros'`.
        kernel_regularizer: Defaults to `None`.
        bias_regularizer: Defaults to `None`.
        activity_regularizer: penalty on the output, added to the loss. Defaults to `None`.
        kernel_constraint: applied after each optimizer step, in Keras's layout
            `(*kernel_size, filters, in_channels)`. Defaults to `None`.
        bias_constraint: Defaults to `None`.
        **kwargs: `input_shape`, `name`, `dtype`, `trainable`.
"""
_OUTPUT_PADDING = ("output_padding: int or tuple added to the output size (each smaller than the stride), "
                   "or None to infer it as Keras does. Defaults to `None`.")
_DATA_FORMAT = "data_format: `'channels_last'` or `'channels_first'`. Defaults to `None` (`'channels_last'`)."


class Conv1DTranspose(_ConvTranspose):
    __doc__ = ("""Transposed 1D convolution over `(batch, steps, channels)`, used to upsample sequences.

    The kernel is stored in torch's layout `(in_channels, filters, k)`; `get_weights()` returns
    Keras's `[kernel (k, filters, in_channels), bias]`. Output sizes and `output_padding`
    follow Keras, as Conv2DTranspose's.
""" + _TRANSPOSE_ARGS.format(rank=1, ones=1, order=_OUTPUT_PADDING + "\n        " + _DATA_FORMAT) + """
    Example:
        >>> layer = Conv1DTranspose(4, 3, strides=2, padding="same", input_shape=(5, 2))
        >>> layer(torch.ones(1, 5, 2)).shape
        torch.Size([1, 10, 4])
    """)

    rank = 1
    _layout = "(batch, steps, channels)"
    _layout_first = "(batch, channels, steps)"


class Conv3DTranspose(_ConvTranspose):
    __doc__ = ("""Transposed 3D convolution over `(batch, depth, height, width, channels)` volumes.

    The kernel is stored in torch's layout `(in_channels, filters, kd, kh, kw)`; `get_weights()`
    returns Keras's `[kernel (kd, kh, kw, filters, in_channels), bias]`. Note Keras's argument
    order here: `data_format` comes before `output_padding`.
""" + _TRANSPOSE_ARGS.format(rank=3, ones=(1, 1, 1), order=_DATA_FORMAT + "\n        " + _OUTPUT_PADDING) + """
    Example:
        >>> layer = Conv3DTranspose(2, 2, strides=2, input_shape=(3, 3, 3, 4))
        >>> layer(torch.ones(1, 3, 3, 3, 4)).shape
        torch.Size([1, 6, 6, 6, 2])
    """)

    rank = 3
    _layout = "(batch, depth, height, width, channels)"
    _layout_first = "(batch, channels, depth, height, width)"

    def __init__(
        self,
        filters: int,
        kernel_size: IntOrTuple,
        strides: IntOrTuple = (1, 1, 1),
        padding: str = "valid",
        data_format: Optional[str] = None,
        output_padding: Optional[IntOrTuple] = None,
        dilation_rate: IntOrTuple = (1, 1, 1),
        activation: activations.ActivationLike = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            filters, kernel_size, strides=strides, padding=padding, output_padding=output_padding,
            data_format=data_format, dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint, **kwargs,
        )
