"""Pooling layers: Max/AveragePooling1D/2D and GlobalAverage/GlobalMaxPooling1D/2D.

Channels-last inputs are pooled through the same no-copy NCHW view as the convolutions.
'same' padding follows Keras (TensorFlow's and JAX's semantics, as `kerasish.ops.average_pool`):
the output has `ceil(size / strides)` steps, the extra padding goes at the end, max pooling pads
with -inf and average pooling averages only the real (unpadded) values of each window. Keras's
torch backend instead averages edge-replicated values in some windows when an axis needs
asymmetric padding; kerasish keeps the TensorFlow/JAX numbers there.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn.functional as F

from kerasish.layers.convolutional import (
    IntOrTuple,
    check_rank,
    conv_output_length,
    from_channels_first,
    normalize_data_format,
    normalize_padding,
    normalize_tuple,
    pad_input,
    spatial_pads,
    to_channels_first,
)
from kerasish.layers.layer import Layer, Shape
from kerasish.ops import opaque

_LAYOUTS = {
    (1, "channels_last"): "(batch, steps, channels)",
    (1, "channels_first"): "(batch, channels, steps)",
    (2, "channels_last"): "(batch, height, width, channels)",
    (2, "channels_first"): "(batch, channels, height, width)",
}


class BasePooling(Layer):
    rank = 2
    mode = "max"

    def __init__(
        self,
        pool_size: IntOrTuple = 2,
        strides: Optional[IntOrTuple] = None,
        padding: str = "valid",
        data_format: Optional[str] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        cls = type(self).__name__
        self.pool_size = normalize_tuple(pool_size, self.rank, "pool_size", cls)
        self.strides = self.pool_size if strides is None else normalize_tuple(strides, self.rank, "strides", cls)
        self.padding = normalize_padding(padding, cls)
        self.data_format = normalize_data_format(data_format, cls)
        self.built = True

    def _spatial(self, shape: Shape) -> Tuple[Optional[int], ...]:
        return tuple(shape[1:-1]) if self.data_format == "channels_last" else tuple(shape[2:])

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        layout = _LAYOUTS[(self.rank, self.data_format)]
        if len(input_shape) != self.rank + 2:
            raise ValueError(
                f"Input of layer {self.name!r} ({type(self).__name__}) must have rank {self.rank + 2} {layout}, "
                f"received input shape {tuple(input_shape)}. Reshape the input to {layout}."
            )
        spatial = tuple(
            conv_output_length(s, k, self.padding, st)
            for s, k, st in zip(self._spatial(input_shape), self.pool_size, self.strides)
        )
        if self.data_format == "channels_last":
            return (input_shape[0],) + spatial + (input_shape[-1],)
        return (input_shape[0], input_shape[1]) + spatial

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        ones = [1] * self.rank
        pads = spatial_pads(x.shape[2:], self.pool_size, self.strides, ones, self.padding)
        if self.mode == "max":
            x, symmetric = pad_input(x, pads, value=float("-inf"))
            if opaque.routes(x):  # compiling with a gradient: aten's kernels, not inductor's scatter backward
                return opaque.max_pool(x, self.pool_size, self.strides, symmetric)
            fn = F.max_pool1d if self.rank == 1 else F.max_pool2d
            # Symmetric padding here is at most half the window, as torch requires.
            return fn(x, self.pool_size, self.strides, symmetric)
        fn = F.avg_pool1d if self.rank == 1 else F.avg_pool2d
        if all(b == a for b, a in pads):
            return fn(x, self.pool_size, self.strides, tuple(b for b, _ in pads), count_include_pad=False)
        # Asymmetric 'same' on some axis: average of the real values = the pooled zero-padded
        # input / the pooled count of real values, every axis padded in full (before and after).
        flat = [p for pair in reversed(pads) for p in pair]  # F.pad lists the last axis first
        ones = torch.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype, device=x.device)
        return fn(F.pad(x, flat), self.pool_size, self.strides) / fn(F.pad(ones, flat), self.pool_size, self.strides)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        check_rank(inputs, self.rank + 2, self, _LAYOUTS[(self.rank, self.data_format)])
        return from_channels_first(self._pool(to_channels_first(inputs, self.data_format)), self.data_format)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update(pool_size=list(self.pool_size), strides=list(self.strides), padding=self.padding,
                       data_format=self.data_format)
        return config_


_POOL_ARGS = """
    Args:
        pool_size: int or tuple, the window size. Defaults to `{default}`.
        strides: int or tuple; None means `pool_size`. Defaults to `None`.
        padding: `'valid'` or `'same'` (output size `ceil(size / strides)`). Defaults to `'valid'`.
        data_format: `'channels_last'` or `'channels_first'`. Defaults to `None` (`'channels_last'`).
        **kwargs: `input_shape`, `name`, `dtype`.
"""


class MaxPooling1D(BasePooling):
    __doc__ = ("Max over windows of `(batch, steps, channels)` inputs.\n" + _POOL_ARGS.format(default=2) + """
    Example:
        >>> MaxPooling1D()(torch.ones(2, 10, 3)).shape
        torch.Size([2, 5, 3])
    """)
    rank = 1
    mode = "max"


class AveragePooling1D(BasePooling):
    __doc__ = ("Mean over windows of `(batch, steps, channels)` inputs.\n" + _POOL_ARGS.format(default=2) + """
    Example:
        >>> AveragePooling1D(3, padding="same")(torch.ones(2, 10, 3)).shape
        torch.Size([2, 4, 3])
    """)
    rank = 1
    mode = "avg"


class MaxPooling2D(BasePooling):
    __doc__ = ("Max over windows of `(batch, height, width, channels)` images.\n"
               + _POOL_ARGS.format(default=2) + """
    Example:
        >>> MaxPooling2D((2, 2))(torch.ones(2, 26, 26, 32)).shape
        torch.Size([2, 13, 13, 32])
    """)
    rank = 2
    mode = "max"


class AveragePooling2D(BasePooling):
    __doc__ = ("Mean over windows of `(batch, height, width, channels)` images.\n"
               + _POOL_ARGS.format(default=2) + """
    Example:
        >>> AveragePooling2D()(torch.ones(2, 4, 4, 3)).shape
        torch.Size([2, 2, 2, 3])
    """)
    rank = 2
    mode = "avg"


class BaseGlobalPooling(Layer):
    rank = 2
    mode = "avg"

    def __init__(self, data_format: Optional[str] = None, keepdims: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = normalize_data_format(data_format, type(self).__name__)
        self.keepdims = bool(keepdims)
        self.built = True

    def _axes(self) -> Tuple[int, ...]:
        if self.data_format == "channels_last":
            return tuple(range(1, self.rank + 1))
        return tuple(range(2, self.rank + 2))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        layout = _LAYOUTS[(self.rank, self.data_format)]
        if len(input_shape) != self.rank + 2:
            raise ValueError(
                f"Input of layer {self.name!r} ({type(self).__name__}) must have rank {self.rank + 2} {layout}, "
                f"received input shape {tuple(input_shape)}. Reshape the input to {layout}."
            )
        axes = self._axes()
        if self.keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(input_shape))
        return tuple(d for i, d in enumerate(input_shape) if i not in axes)

    def call(self, inputs: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        check_rank(inputs, self.rank + 2, self, _LAYOUTS[(self.rank, self.data_format)])
        axes = self._axes()
        if mask is not None and self.rank == 1 and self.mode == "avg":
            # Keras averages only the unmasked steps.
            weights = mask.to(inputs.dtype).unsqueeze(-1 if self.data_format == "channels_last" else 1)
            total = (inputs * weights).sum(dim=axes, keepdim=self.keepdims)
            return total / weights.sum(dim=axes, keepdim=self.keepdims).clamp_min(1.0)
        if self.mode == "avg":
            return inputs.mean(dim=axes, keepdim=self.keepdims)
        return inputs.amax(dim=axes, keepdim=self.keepdims)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update(data_format=self.data_format, keepdims=self.keepdims)
        return config_


_GLOBAL_ARGS = """
    Args:
        data_format: `'channels_last'` or `'channels_first'`. Defaults to `None` (`'channels_last'`).
        keepdims: keep the pooled axes with size 1. Defaults to `False`.
        **kwargs: `input_shape`, `name`, `dtype`.
"""


class GlobalAveragePooling1D(BaseGlobalPooling):
    __doc__ = ("Mean over the steps of `(batch, steps, channels)`; with a mask, over the real steps.\n"
               + _GLOBAL_ARGS + """
    Example:
        >>> GlobalAveragePooling1D()(torch.ones(2, 10, 3)).shape
        torch.Size([2, 3])
    """)
    rank = 1
    mode = "avg"
    accepts_mask = True


class GlobalMaxPooling1D(BaseGlobalPooling):
    __doc__ = ("Max over the steps of `(batch, steps, channels)`.\n" + _GLOBAL_ARGS + """
    Example:
        >>> GlobalMaxPooling1D()(torch.ones(2, 10, 3)).shape
        torch.Size([2, 3])
    """)
    rank = 1
    mode = "max"


class GlobalAveragePooling2D(BaseGlobalPooling):
    __doc__ = ("Mean over height and width of `(batch, height, width, channels)`.\n" + _GLOBAL_ARGS + """
    Example:
        >>> GlobalAveragePooling2D()(torch.ones(2, 5, 5, 3)).shape
        torch.Size([2, 3])
    """)
    rank = 2
    mode = "avg"


class GlobalMaxPooling2D(BaseGlobalPooling):
    __doc__ = ("Max over height and width of `(batch, height, width, channels)`.\n" + _GLOBAL_ARGS + """
    Example:
        >>> GlobalMaxPooling2D(keepdims=True)(torch.ones(2, 5, 5, 3)).shape
        torch.Size([2, 1, 1, 3])
    """)
    rank = 2
    mode = "max"
