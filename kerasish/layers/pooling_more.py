"""More pooling layers: 3D pooling, global 3D pooling and Keras 3's adaptive pooling (1D/2D/3D).

3D pooling runs `kerasish.ops.nn.max_pool` / `average_pool` (channels-last inputs go through
the no-copy channels-first view). 'same' padding is TensorFlow's, as in `pooling.py`: average
pooling averages only the real values of each window, where Keras's torch backend counts
edge-replicated values when an axis needs asymmetric padding (kerasish keeps the TF/JAX numbers).

Adaptive pooling gives a fixed output size whatever the input size, with torch's adaptive
windows (window `i` of `n` over `L` steps is `[floor(i * L / n), ceil((i + 1) * L / n))`),
which is what Keras computes on its torch backend.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch

from kerasish.layers.convolutional import IntOrTuple, check_rank, conv_output_length, normalize_data_format
from kerasish.layers.layer import Layer, Shape
from kerasish.layers.pooling import BaseGlobalPooling, BasePooling
from kerasish.ops import nn as ops_nn

_LAYOUTS = {
    (1, "channels_last"): "(batch, steps, channels)",
    (1, "channels_first"): "(batch, channels, steps)",
    (2, "channels_last"): "(batch, height, width, channels)",
    (2, "channels_first"): "(batch, channels, height, width)",
    (3, "channels_last"): "(batch, depth, height, width, channels)",
    (3, "channels_first"): "(batch, channels, depth, height, width)",
}


def _check_input_shape(layer: Layer, input_shape: Shape) -> str:
    layout = _LAYOUTS[(layer.rank, layer.data_format)]
    if len(input_shape) != layer.rank + 2:
        raise ValueError(
            f"Input of layer {layer.name!r} ({type(layer).__name__}) must have rank {layer.rank + 2} {layout}, "
            f"received input shape {tuple(input_shape)}. Reshape the input to {layout}."
        )
    return layout


class _Pooling3D(BasePooling):
    rank = 3

    def __init__(self, pool_size: IntOrTuple = (2, 2, 2), strides: Optional[IntOrTuple] = None,
                 padding: str = "valid", data_format: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(pool_size, strides=strides, padding=padding, data_format=data_format, **kwargs)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        _check_input_shape(self, input_shape)
        spatial = tuple(
            conv_output_length(s, k, self.padding, st)
            for s, k, st in zip(self._spatial(input_shape), self.pool_size, self.strides)
        )
        if self.data_format == "channels_last":
            return (input_shape[0],) + spatial + (input_shape[-1],)
        return (input_shape[0], input_shape[1]) + spatial

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        check_rank(inputs, 5, self, _LAYOUTS[(3, self.data_format)])
        fn = ops_nn.max_pool if self.mode == "max" else ops_nn.average_pool
        return fn(inputs, self.pool_size, self.strides, self.padding, self.data_format)


_POOL3D_ARGS = """
    Args:
        pool_size: int or tuple of 3 ints, the window size. Defaults to `(2, 2, 2)`.
        strides: int or tuple of 3 ints; None means `pool_size`. Defaults to `None`.
        padding: `'valid'` or `'same'` (output size `ceil(size / strides)`). Defaults to `'valid'`.
        data_format: `'channels_last'` `(batch, d, h, w, c)` or `'channels_first'` `(batch, c, d, h, w)`.
            Defaults to `None` (`'channels_last'`).
        **kwargs: `input_shape`, `name`, `dtype`.
"""


class MaxPooling3D(_Pooling3D):
    __doc__ = ("Max over windows of `(batch, depth, height, width, channels)` volumes.\n" + _POOL3D_ARGS + """
    Example:
        >>> MaxPooling3D()(torch.ones(2, 4, 4, 4, 3)).shape
        torch.Size([2, 2, 2, 2, 3])
    """)
    mode = "max"


class AveragePooling3D(_Pooling3D):
    __doc__ = ("Mean over windows of `(batch, depth, height, width, channels)` volumes.\n"
               + _POOL3D_ARGS.replace("Defaults to `(2, 2, 2)`", "Required, as in Keras") + """
    Example:
        >>> AveragePooling3D(3, strides=1, padding="same")(torch.ones(2, 4, 4, 4, 3)).shape
        torch.Size([2, 4, 4, 4, 3])
    """)
    mode = "avg"

    def __init__(self, pool_size: IntOrTuple, strides: Optional[IntOrTuple] = None, padding: str = "valid",
                 data_format: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(pool_size, strides=strides, padding=padding, data_format=data_format, **kwargs)


class _GlobalPooling3D(BaseGlobalPooling):
    rank = 3

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        _check_input_shape(self, input_shape)
        axes = self._axes()
        if self.keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(input_shape))
        return tuple(d for i, d in enumerate(input_shape) if i not in axes)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        check_rank(inputs, 5, self, _LAYOUTS[(3, self.data_format)])
        if self.mode == "avg":
            return inputs.mean(dim=self._axes(), keepdim=self.keepdims)
        return inputs.amax(dim=self._axes(), keepdim=self.keepdims)


_GLOBAL_ARGS = """
    Args:
        data_format: `'channels_last'` or `'channels_first'`. Defaults to `None` (`'channels_last'`).
        keepdims: keep the pooled axes with size 1. Defaults to `False`.
        **kwargs: `input_shape`, `name`, `dtype`.
"""


class GlobalAveragePooling3D(_GlobalPooling3D):
    __doc__ = ("Mean over depth, height and width of `(batch, depth, height, width, channels)`.\n"
               + _GLOBAL_ARGS + """
    Example:
        >>> GlobalAveragePooling3D()(torch.ones(2, 3, 4, 5, 6)).shape
        torch.Size([2, 6])
    """)
    mode = "avg"


class GlobalMaxPooling3D(_GlobalPooling3D):
    __doc__ = ("Max over depth, height and width of `(batch, depth, height, width, channels)`.\n"
               + _GLOBAL_ARGS + """
    Example:
        >>> GlobalMaxPooling3D(keepdims=True)(torch.ones(2, 3, 4, 5, 6)).shape
        torch.Size([2, 1, 1, 1, 6])
    """)
    mode = "max"


# --------------------------------------------------------------------------- adaptive pooling
class _AdaptivePooling(Layer):
    rank = 2
    mode = "avg"

    def __init__(self, output_size: IntOrTuple, data_format: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.output_size = self._output_size(output_size)
        self.data_format = normalize_data_format(data_format, type(self).__name__)
        self.built = True

    def _output_size(self, value: Any) -> Tuple[int, ...]:
        cls, n = type(self).__name__, self.rank
        if isinstance(value, int) and not isinstance(value, bool):
            value = (value,) * n
        # Keras raises TypeError for a value that is neither an int nor a tuple/list of `rank` ints.
        if not isinstance(value, (tuple, list)) or len(value) != n or any(
                isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value):
            example = 4 if n == 1 else "(" + ", ".join(["4"] * n) + ")"
            raise TypeError(
                f"{cls}: output_size must be a positive int or a tuple of {n} positive ints, received "
                f"output_size={value!r}. Example: {cls}(output_size={example})."
            )
        return tuple(value)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        _check_input_shape(self, input_shape)
        if self.data_format == "channels_last":
            return (input_shape[0],) + self.output_size + (input_shape[-1],)
        return (input_shape[0], input_shape[1]) + self.output_size

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        check_rank(inputs, self.rank + 2, self, _LAYOUTS[(self.rank, self.data_format)])
        fn = ops_nn.adaptive_average_pool if self.mode == "avg" else ops_nn.adaptive_max_pool
        return fn(inputs, self.output_size, data_format=self.data_format)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update(output_size=list(self.output_size), data_format=self.data_format)
        return config_


_ADAPTIVE_ARGS = """
    Args:
        output_size: int or tuple of {rank} ints, the output's spatial size.
        data_format: `'channels_last'` or `'channels_first'`. Defaults to `None` (`'channels_last'`).
        **kwargs: `input_shape`, `name`, `dtype`.
"""


class AdaptiveAveragePooling1D(_AdaptivePooling):
    __doc__ = ("Mean over adaptive windows of `(batch, steps, channels)` to `output_size` steps.\n"
               + _ADAPTIVE_ARGS.format(rank=1) + """
    Example:
        >>> AdaptiveAveragePooling1D(4)(torch.ones(2, 10, 3)).shape
        torch.Size([2, 4, 3])
    """)
    rank = 1
    mode = "avg"


class AdaptiveMaxPooling1D(_AdaptivePooling):
    __doc__ = ("Max over adaptive windows of `(batch, steps, channels)` to `output_size` steps.\n"
               + _ADAPTIVE_ARGS.format(rank=1) + """
    Example:
        >>> AdaptiveMaxPooling1D(4)(torch.ones(2, 10, 3)).shape
        torch.Size([2, 4, 3])
    """)
    rank = 1
    mode = "max"


class AdaptiveAveragePooling2D(_AdaptivePooling):
    __doc__ = ("Mean over adaptive windows of images to an `output_size` of (height, width).\n"
               + _ADAPTIVE_ARGS.format(rank=2) + """
    Example:
        >>> AdaptiveAveragePooling2D((2, 3))(torch.ones(2, 7, 7, 3)).shape
        torch.Size([2, 2, 3, 3])
    """)
    rank = 2
    mode = "avg"


class AdaptiveMaxPooling2D(_AdaptivePooling):
    __doc__ = ("Max over adaptive windows of images to an `output_size` of (height, width).\n"
               + _ADAPTIVE_ARGS.format(rank=2) + """
    Example:
        >>> AdaptiveMaxPooling2D(2)(torch.ones(2, 7, 7, 3)).shape
        torch.Size([2, 2, 2, 3])
    """)
    rank = 2
    mode = "max"


class AdaptiveAveragePooling3D(_AdaptivePooling):
    __doc__ = ("Mean over adaptive windows of volumes to an `output_size` of (depth, height, width).\n"
               + _ADAPTIVE_ARGS.format(rank=3) + """
    Example:
        >>> AdaptiveAveragePooling3D(2)(torch.ones(1, 5, 5, 5, 3)).shape
        torch.Size([1, 2, 2, 2, 3])
    """)
    rank = 3
    mode = "avg"


class AdaptiveMaxPooling3D(_AdaptivePooling):
    __doc__ = ("Max over adaptive windows of volumes to an `output_size` of (depth, height, width).\n"
               + _ADAPTIVE_ARGS.format(rank=3) + """
    Example:
        >>> AdaptiveMaxPooling3D((1, 2, 2))(torch.ones(1, 5, 5, 5, 3)).shape
        torch.Size([1, 1, 2, 2, 3])
    """)
    rank = 3
    mode = "max"
