"""Depthwise convolutions: DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D and SeparableConv2D.

A depthwise convolution convolves each input channel with its own `depth_multiplier` filters
(torch's grouped convolution with `groups = in_channels`). The depthwise kernel is stored in
torch's layout `(in * depth_multiplier, 1, *k)`, which is Keras's `(*k, in, depth_multiplier)`
viewed as `(in, depth_multiplier, *k)`; `get_weights()`/`set_weights()` use Keras's layout
through the layer's `KerasLayout`, and output channel `c * depth_multiplier + m` is input
channel `c`'s `m`-th filter, as in Keras. Padding follows `convolutional.py` (TensorFlow's 'same').
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from kerasish import activations, constraints, initializers, regularizers
from kerasish.layers.convolutional import (
    IntOrTuple,
    check_positive_int,
    BaseConv,
    conv_output_length,
    pad_input,
    spatial_pads,
)
from kerasish.layers.layer import Shape
from kerasish.layers.weight_layout import KerasLayout, attach_constraint, conv_layout

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def depthwise_layout(rank: int, channels: int, depth_multiplier: int, kernel_size: Tuple[int, ...]) -> KerasLayout:
    """Torch's `(in * dm, 1, *k)` seen as `(in, dm, *k)` and permuted to Keras's `(*k, in, dm)`."""
    return KerasLayout(tuple(range(2, rank + 2)) + (0, 1),
                       grouped_shape=(channels, depth_multiplier) + tuple(kernel_size))


def init_depthwise(layer: BaseConv, kernel: nn.Parameter, initializer: Any, channels: int) -> None:
    if layer._torch_init:
        nn.init.kaiming_uniform_(kernel, a=math.sqrt(5))
        return
    # Keras's (*k, in, dm) kernel has fan_in = in * k and fan_out = dm * k: the torch-layout
    # view (dm, in, *k) gives those fans to the initializer, which fills it in place.
    initializer(kernel.data.reshape((channels, layer.depth_multiplier) + layer.kernel_size).transpose(0, 1))


def _depthwise(x: torch.Tensor, layer: BaseConv, kernel: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
    pads = spatial_pads(x.shape[2:], layer.kernel_size, layer.strides, layer.dilation_rate, layer.padding)
    x, symmetric = pad_input(x, pads)
    return _CONV[layer.rank](x, kernel, bias, layer.strides, symmetric, layer.dilation_rate, x.shape[1])


def _rename(config_: Dict[str, Any]) -> Dict[str, Any]:
    for kind in ("initializer", "regularizer", "constraint"):
        config_[f"depthwise_{kind}"] = config_.pop(f"kernel_{kind}")
    config_.pop("groups")
    return config_


class _DepthwiseConv(BaseConv):
    """DepthwiseConv1D/2D: Keras's weights `kernel (*k, in, depth_multiplier)` and `bias (in * dm,)`."""

    def __init__(
        self,
        kernel_size: IntOrTuple,
        strides: IntOrTuple = 1,
        padding: str = "valid",
        depth_multiplier: int = 1,
        data_format: Optional[str] = None,
        dilation_rate: IntOrTuple = 1,
        activation: activations.ActivationLike = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        cls = type(self).__name__
        self.depth_multiplier = check_positive_int(depth_multiplier, "depth_multiplier", cls,
                                                    f"{cls}(3, depth_multiplier=2)")
        # `BaseConv` keeps `filters` for the output channels; here they are in * depth_multiplier,
        # known at build, so `filters` only carries the (already checked) multiplier through.
        super().__init__(
            self.depth_multiplier, kernel_size, strides=strides, padding=padding, data_format=data_format,
            dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
            kernel_initializer=depthwise_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=depthwise_regularizer, bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer, kernel_constraint=depthwise_constraint,
            bias_constraint=bias_constraint, **kwargs,
        )

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        channels = self._check_input_shape(input_shape)
        spatial = tuple(
            conv_output_length(s, k, self.padding, st, d)
            for s, k, st, d in zip(self._spatial(input_shape), self.kernel_size, self.strides, self.dilation_rate)
        )
        out = channels * self.depth_multiplier
        if self.data_format == "channels_last":
            return (input_shape[0],) + spatial + (out,)
        return (input_shape[0], out) + spatial

    def build(self, input_shape: Shape) -> None:
        channels = self._check_input_shape(input_shape)
        dtype = getattr(torch, self.dtype)
        out = channels * self.depth_multiplier
        self.kernel = nn.Parameter(torch.empty((out, 1) + self.kernel_size, dtype=dtype))
        self.bias = nn.Parameter(torch.empty(out, dtype=dtype)) if self.use_bias else None
        init_depthwise(self, self.kernel, self.kernel_initializer, channels)
        if self.bias is not None:
            if self._torch_init:
                bound = 1.0 / math.sqrt(self.kernel[0].numel())
                with torch.no_grad():
                    self.bias.uniform_(-bound, bound)
            else:
                self.bias_initializer(self.bias.data)
        attach_constraint(self.kernel, self.kernel_constraint,
                          depthwise_layout(self.rank, channels, self.depth_multiplier, self.kernel_size))
        attach_constraint(self.bias, self.bias_constraint)

    def _weight_layouts(self) -> List[Tuple[Optional[nn.Parameter], Optional[KerasLayout]]]:
        if self.kernel is None:
            return []
        channels = self.kernel.shape[0] // self.depth_multiplier
        return [(self.kernel, depthwise_layout(self.rank, channels, self.depth_multiplier, self.kernel_size))]

    def _conv(self, x: torch.Tensor) -> torch.Tensor:
        return _depthwise(x, self, self.kernel, self.bias)

    def get_config(self) -> Dict[str, Any]:
        config_ = _rename(super().get_config())
        config_.pop("filters")
        config_["depth_multiplier"] = self.depth_multiplier
        return config_

    def extra_repr(self) -> str:
        return (f"name={self.name!r}, depth_multiplier={self.depth_multiplier}, kernel_size={self.kernel_size}, "
                f"strides={self.strides}, padding={self.padding!r}")


_DEPTHWISE_ARGS = """
    Args:
        kernel_size: int or tuple of {rank} ints.
        strides: int or tuple of {rank} ints. Defaults to `{ones}`.
        padding: `'valid'` or `'same'` (output size `ceil(size / strides)`). Defaults to `'valid'`.
        depth_multiplier: output channels per input channel. Defaults to `1`.
        data_format: `'channels_last'` or `'channels_first'`. Defaults to `None` (`'channels_last'`).
        dilation_rate: int or tuple of {rank} ints. Defaults to `{ones}`.
        activation: activation name or callable. Defaults to `None` (linear).
        use_bias: whether to add a bias. Defaults to `True`.
        depthwise_initializer: Defaults to `'glorot_uniform'`.
        bias_initializer: Defaults to `'zeros'`.
        depthwise_regularizer: Defaults to `None`.
        bias_regularizer: Defaults to `None`.
        activity_regularizer: penalty on the output, added to the loss. Defaults to `None`.
        depthwise_constraint: applied after each optimizer step, in Keras's layout
            `(*kernel_size, in_channels, depth_multiplier)`. Defaults to `None`.
        bias_constraint: Defaults to `None`.
        **kwargs: `input_shape`, `name`, `dtype`, `trainable`.
"""


class DepthwiseConv1D(_DepthwiseConv):
    __doc__ = ("""Depthwise 1D convolution: each channel of `(batch, steps, channels)` gets its own filters.

    `get_weights()` returns Keras's `[kernel (k, in_channels, depth_multiplier), bias]`.
""" + _DEPTHWISE_ARGS.format(rank=1, ones=1) + """
    Example:
        >>> layer = DepthwiseConv1D(3, depth_multiplier=2, input_shape=(10, 4))
        >>> layer(torch.ones(2, 10, 4)).shape
        torch.Size([2, 8, 8])
    """)

    rank = 1
    _layout = "(batch, steps, channels)"
    _layout_first = "(batch, channels, steps)"


class DepthwiseConv2D(_DepthwiseConv):
    __doc__ = ("""Depthwise 2D convolution: each channel of an image gets its own filters.

    `get_weights()` returns Keras's `[kernel (kh, kw, in_channels, depth_multiplier), bias]`.
""" + _DEPTHWISE_ARGS.format(rank=2, ones=(1, 1)) + """
    Example:
        >>> layer = DepthwiseConv2D(3, padding="same", input_shape=(8, 8, 3))
        >>> layer(torch.ones(2, 8, 8, 3)).shape
        torch.Size([2, 8, 8, 3])
        >>> layer.count_params()  # 3*3*3 + 3
        30
    """)

    rank = 2

    def __init__(self, kernel_size: IntOrTuple, strides: IntOrTuple = (1, 1), padding: str = "valid",
                 depth_multiplier: int = 1, data_format: Optional[str] = None,
                 dilation_rate: IntOrTuple = (1, 1), **kwargs: Any) -> None:
        super().__init__(kernel_size, strides=strides, padding=padding, depth_multiplier=depth_multiplier,
                         data_format=data_format, dilation_rate=dilation_rate, **kwargs)


class SeparableConv1D(BaseConv):
    """Depthwise separable 1D convolution: a per-channel convolution, then a pointwise one.

    Weights are stored in torch's layout: `depthwise_kernel (in * depth_multiplier, 1, k)`,
    `pointwise_kernel (filters, in * depth_multiplier, 1)`, `bias (filters,)`; `get_weights()`
    returns Keras's `[depthwise_kernel (k, in, depth_multiplier), pointwise_kernel
    (1, in * depth_multiplier, filters), bias]`, and the weights carry Keras's names.

    Args:
        filters: number of output channels.
        kernel_size: int or tuple of 1 int, the depthwise window.
        strides: int or tuple of 1 int. Defaults to `1`.
        padding: `'valid'` or `'same'`. Defaults to `'valid'`.
        data_format: `'channels_last'` or `'channels_first'`. Defaults to `None` (`'channels_last'`).
        dilation_rate: int or tuple of 1 int. Defaults to `1`.
        depth_multiplier: depthwise output channels per input channel. Defaults to `1`.
        activation: activation name or callable. Defaults to `None` (linear).
        use_bias: whether to add a bias. Defaults to `True`.
        depthwise_initializer: Defaults to `'glorot_uniform'`.
        pointwise_initializer: Defaults to `'glorot_uniform'`.
        bias_initializer: Defaults to `'zeros'`.
        depthwise_regularizer: Defaults to `None`.
        pointwise_regularizer: Defaults to `None`.
        bias_regularizer: Defaults to `None`.
        activity_regularizer: penalty on the output, added to the loss. Defaults to `None`.
        depthwise_constraint: in Keras's layout `(k, in, depth_multiplier)`. Defaults to `None`.
        pointwise_constraint: in Keras's layout `(1, in * depth_multiplier, filters)`. Defaults to `None`.
        bias_constraint: Defaults to `None`.
        **kwargs: `input_shape`, `name`, `dtype`, `trainable`.

    Example:
        >>> layer = SeparableConv1D(8, 3, input_shape=(10, 4))
        >>> layer.count_params()  # 3*4 + 4*8 + 8
        52
    """

    rank = 1
    _layout = "(batch, steps, channels)"
    _layout_first = "(batch, channels, steps)"
    regularized_weights = (("kernel_regularizer", "depthwise_kernel"),
                           ("pointwise_regularizer", "pointwise_kernel"), ("bias_regularizer", "bias"))

    def __init__(
        self,
        filters: int,
        kernel_size: IntOrTuple,
        strides: IntOrTuple = 1,
        padding: str = "valid",
        data_format: Optional[str] = None,
        dilation_rate: IntOrTuple = 1,
        depth_multiplier: int = 1,
        activation: activations.ActivationLike = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        pointwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        pointwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        pointwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        self.depth_multiplier = check_positive_int(depth_multiplier, "depth_multiplier", "SeparableConv1D",
                                                    "SeparableConv1D(32, 3, depth_multiplier=2)")
        self._pointwise_init_arg = pointwise_initializer
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.pointwise_constraint = constraints.get(pointwise_constraint)
        self.depthwise_kernel: Optional[nn.Parameter] = None
        self.pointwise_kernel: Optional[nn.Parameter] = None
        super().__init__(
            filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
            dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
            kernel_initializer=depthwise_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=depthwise_regularizer, bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer, kernel_constraint=depthwise_constraint,
            bias_constraint=bias_constraint, **kwargs,
        )

    def build(self, input_shape: Shape) -> None:
        channels = self._check_input_shape(input_shape)
        dtype = getattr(torch, self.dtype)
        mid = channels * self.depth_multiplier
        self.depthwise_kernel = nn.Parameter(torch.empty((mid, 1) + self.kernel_size, dtype=dtype))
        self.pointwise_kernel = nn.Parameter(torch.empty(self.filters, mid, 1, dtype=dtype))
        self.bias = nn.Parameter(torch.empty(self.filters, dtype=dtype)) if self.use_bias else None
        init_depthwise(self, self.depthwise_kernel, self.kernel_initializer, channels)
        if self._torch_init:
            nn.init.kaiming_uniform_(self.pointwise_kernel, a=math.sqrt(5))
            if self.bias is not None:
                nn.init.zeros_(self.bias)
        else:
            self.pointwise_initializer(self.pointwise_kernel.data)
            if self.bias is not None:
                self.bias_initializer(self.bias.data)
        depthwise, pointwise = (layout for _, layout in self._weight_layouts())
        attach_constraint(self.depthwise_kernel, self.kernel_constraint, depthwise)
        attach_constraint(self.pointwise_kernel, self.pointwise_constraint, pointwise)
        attach_constraint(self.bias, self.bias_constraint)

    def _weight_layouts(self) -> List[Tuple[Optional[nn.Parameter], Optional[KerasLayout]]]:
        if self.depthwise_kernel is None:
            return []
        channels = self.depthwise_kernel.shape[0] // self.depth_multiplier
        return [(self.depthwise_kernel, depthwise_layout(1, channels, self.depth_multiplier, self.kernel_size)),
                (self.pointwise_kernel, conv_layout(1))]

    def _conv(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv1d(_depthwise(x, self, self.depthwise_kernel, None), self.pointwise_kernel, self.bias)

    def get_config(self) -> Dict[str, Any]:
        config_ = _rename(super().get_config())
        config_.update(
            depth_multiplier=self.depth_multiplier,
            pointwise_initializer=initializers.serialize(self._pointwise_init_arg),
            pointwise_regularizer=regularizers.serialize(self.pointwise_regularizer),
            pointwise_constraint=constraints.serialize(self.pointwise_constraint),
        )
        return config_


class SeparableConv2D(BaseConv):
    """Depthwise separable 2D convolution: a per-channel convolution, then a 1x1 convolution.

    Weights are stored in torch's layout: depthwise `(in * depth_multiplier, 1, kh, kw)`,
    pointwise `(filters, in * depth_multiplier, 1, 1)`, bias `(filters,)`; `get_weights()`
    returns Keras's `[depthwise_kernel (kh, kw, in, depth_multiplier), pointwise_kernel
    (1, 1, in * depth_multiplier, filters), bias]`.

    Args:
        filters: number of output channels.
        kernel_size: int or tuple of 2 ints for the depthwise step.
        strides: int or tuple of 2 ints. Defaults to `1`.
        padding: `'valid'` or `'same'`. Defaults to `'valid'`.
        data_format: `'channels_last'` or `'channels_first'`. Defaults to `None` (`'channels_last'`).
        dilation_rate: int or tuple of 2 ints. Defaults to `1`.
        depth_multiplier: depthwise output channels per input channel. Defaults to `1`.
        activation: activation name or callable. Defaults to `None` (linear).
        use_bias: whether to add a bias. Defaults to `True`.
        depthwise_initializer: Defaults to `'glorot_uniform'`.
        pointwise_initializer: Defaults to `'glorot_uniform'`.
        bias_initializer: Defaults to `'zeros'`.
        depthwise_regularizer: Defaults to `None`.
        pointwise_regularizer: Defaults to `None`.
        bias_regularizer: Defaults to `None`.
        activity_regularizer: penalty on the output, added to the loss. Defaults to `None`.
        depthwise_constraint: applied to the depthwise kernel after each optimizer step; its
            `axis` refers to Keras's layout `(kh, kw, in_channels, depth_multiplier)`.
            Defaults to `None`.
        pointwise_constraint: applied to the pointwise kernel, Keras's layout
            `(1, 1, in_channels * depth_multiplier, filters)`. Defaults to `None`.
        bias_constraint: applied to the bias after each optimizer step. Defaults to `None`.
        **kwargs: `input_shape`, `name`, `dtype`, `trainable`.

    Example:
        >>> layer = SeparableConv2D(8, 3, input_shape=(10, 10, 4))
        >>> layer.count_params()  # 3*3*4 + 4*8 + 8
        76
    """

    regularized_weights = BaseConv.regularized_weights + (("pointwise_regularizer", "pointwise_kernel"),)
    _weights_made_by_build = BaseConv._weights_made_by_build + ("pointwise_kernel",)

    def __init__(
        self,
        filters: int,
        kernel_size: IntOrTuple,
        strides: IntOrTuple = 1,
        padding: str = "valid",
        data_format: Optional[str] = None,
        dilation_rate: IntOrTuple = 1,
        depth_multiplier: int = 1,
        activation: activations.ActivationLike = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        pointwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        pointwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        pointwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        self.depth_multiplier = check_positive_int(
            depth_multiplier, "depth_multiplier", "SeparableConv2D", "SeparableConv2D(32, 3, depth_multiplier=2)")
        self._pointwise_init_arg = pointwise_initializer
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.pointwise_constraint = constraints.get(pointwise_constraint)
        super().__init__(
            filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
            dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
            kernel_initializer=depthwise_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=depthwise_regularizer, bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer, kernel_constraint=depthwise_constraint,
            bias_constraint=bias_constraint, **kwargs,
        )

    def build(self, input_shape: Shape) -> None:
        channels = self._check_input_shape(input_shape)
        dtype = getattr(torch, self.dtype)
        mid = channels * self.depth_multiplier
        self.kernel = nn.Parameter(torch.empty((mid, 1) + self.kernel_size, dtype=dtype))
        # Keras names it depthwise_kernel (the torch attribute stays `kernel`, shared with BaseConv).
        self.kernel._keras_name = "depthwise_kernel"
        self.pointwise_kernel = nn.Parameter(torch.empty(self.filters, mid, 1, 1, dtype=dtype))
        self.bias = nn.Parameter(torch.empty(self.filters, dtype=dtype)) if self.use_bias else None
        if self._torch_init:
            nn.init.kaiming_uniform_(self.kernel, a=math.sqrt(5))
            nn.init.kaiming_uniform_(self.pointwise_kernel, a=math.sqrt(5))
            if self.bias is not None:
                nn.init.zeros_(self.bias)
        else:
            # Keras's depthwise kernel (kh, kw, in, dm) has fan_in = k, fan_out = dm * k.
            self.kernel_initializer(self.kernel.data.reshape(channels, self.depth_multiplier, *self.kernel_size)
                                    .transpose(0, 1))
            self.pointwise_initializer(self.pointwise_kernel.data)
            if self.bias is not None:
                self.bias_initializer(self.bias.data)
        layouts = dict((id(p), layout) for p, layout in self._weight_layouts())
        attach_constraint(self.kernel, self.kernel_constraint, layouts[id(self.kernel)])
        attach_constraint(self.pointwise_kernel, self.pointwise_constraint, layouts[id(self.pointwise_kernel)])
        attach_constraint(self.bias, self.bias_constraint)

    def _weight_layouts(self) -> List[Tuple[Optional[nn.Parameter], Optional[KerasLayout]]]:
        # Torch's depthwise (in * dm, 1, kh, kw) is Keras's (kh, kw, in, dm); the pointwise
        # (filters, in * dm, 1, 1) is Keras's (1, 1, in * dm, filters).
        if self.kernel is None:
            return []
        channels = self.kernel.shape[0] // self.depth_multiplier
        depthwise = KerasLayout((2, 3, 0, 1), grouped_shape=(channels, self.depth_multiplier) + self.kernel_size)
        return [(self.kernel, depthwise), (self.pointwise_kernel, conv_layout(2))]

    def _conv(self, x: torch.Tensor) -> torch.Tensor:
        pads = spatial_pads(x.shape[2:], self.kernel_size, self.strides, self.dilation_rate, self.padding)
        x, symmetric = pad_input(x, pads)
        x = F.conv2d(x, self.kernel, None, self.strides, symmetric, self.dilation_rate, x.shape[1])
        return F.conv2d(x, self.pointwise_kernel, self.bias)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.pop("groups")
        config_["depthwise_initializer"] = config_.pop("kernel_initializer")
        config_["depthwise_regularizer"] = config_.pop("kernel_regularizer")
        config_["depthwise_constraint"] = config_.pop("kernel_constraint")
        config_.update(
            depth_multiplier=self.depth_multiplier,
            pointwise_initializer=initializers.serialize(self._pointwise_init_arg),
            pointwise_regularizer=regularizers.serialize(self.pointwise_regularizer),
            pointwise_constraint=constraints.serialize(self.pointwise_constraint),
        )
        return config_
