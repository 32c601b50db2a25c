"""More reshaping layers: cropping, zero padding and upsampling in 1-D and 3-D, Permute, RepeatVector.

Cropping1D/2D/3D, ZeroPadding1D/3D, UpSampling1D/3D, Permute and RepeatVector follow Keras 3's
arguments, defaults, configs and errors. None of them has weights, and none passes a mask on
(Keras 3 drops the mask at each of them too). Every call is slicing, `F.pad` or
`repeat_interleave`: no host syncs.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from kerasish.layers.convolutional import check_rank, normalize_data_format, normalize_tuple
from kerasish.layers.layer import Layer, Shape

Pairs = Tuple[Tuple[int, int], ...]

_LAYOUTS = {
    (1, "channels_last"): "(batch, steps, channels)",
    (1, "channels_first"): "(batch, channels, steps)",
    (2, "channels_last"): "(batch, height, width, channels)",
    (2, "channels_first"): "(batch, channels, height, width)",
    (3, "channels_last"): "(batch, depth, height, width, channels)",
    (3, "channels_first"): "(batch, channels, depth, height, width)",
}
_ORDINALS = ("1st", "2nd", "3rd")


def _check_shape_rank(layer: Layer, input_shape: Shape, rank: int, layout: str) -> None:
    if len(input_shape) != rank:
        raise ValueError(
            f"Input of layer {layer.name!r} ({type(layer).__name__}) must have rank {rank} {layout}, "
            f"received input shape {tuple(input_shape)}. Reshape the input to {layout}."
        )


def _spatial_axes(rank: int, data_format: str) -> Tuple[int, ...]:
    start = 1 if data_format == "channels_last" else 2
    return tuple(range(start, start + rank))


def normalize_pairs(value: Any, rank: int, arg: str, layer: str) -> Pairs:
    """Keras's `(before, after)` amounts per spatial axis for cropping and padding.

    Rank 1 takes an int or one `(before, after)` pair. Rank 2 and 3 take an int (all sides), a
    tuple of `rank` ints (symmetric per axis) or a tuple of `rank` `(before, after)` pairs.
    """
    if rank == 1:
        return (normalize_tuple(value, 2, arg, layer, allow_zero=True),)
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(
                f"{layer}: {arg} cannot be negative, received {arg}={value!r}. Use 0 to leave an axis unchanged."
            )
        return ((value, value),) * rank
    example = ", ".join(["(1, 1)"] * rank)
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != rank:
        raise ValueError(
            f"{layer}: {arg} must be an int, a tuple of {rank} ints or a tuple of {rank} (before, after) pairs of "
            f"non-negative ints, received {arg}={value!r}. Example: {arg}=({example})."
        )
    return tuple(normalize_tuple(v, 2, f"{_ORDINALS[i]} entry of {arg}", layer, allow_zero=True)
                 for i, v in enumerate(value))


class _Spatial(Layer):
    """Shared parts of the data-format-aware cropping, padding and upsampling layers."""

    rank = 1

    def _layout(self) -> str:
        return _LAYOUTS[(self.rank, getattr(self, "data_format", "channels_last"))]

    def _axes(self) -> Tuple[int, ...]:
        return _spatial_axes(self.rank, getattr(self, "data_format", "channels_last"))


# --------------------------------------------------------------------------- cropping
class _Cropping(_Spatial):
    def _cropped_sizes(self, shape: Sequence[Optional[int]], what: str) -> Dict[int, Optional[int]]:
        sizes = {}
        for axis, (a, b) in zip(self._axes(), self.cropping):
            size = shape[axis]
            if size is not None and size - a - b <= 0:
                raise ValueError(
                    f"{type(self).__name__} {self.name!r}: cropping={self._pairs_for_message()} removes all of axis "
                    f"{axis} (size {size}) of {what}={tuple(shape)}. Each cropping pair must sum to less than its axis' "
                    "size: crop less, or feed a larger input."
                )
            sizes[axis] = None if size is None else size - a - b
        return sizes

    def _pairs_for_message(self) -> Any:
        return self.cropping[0] if self.rank == 1 else self.cropping

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        _check_shape_rank(self, input_shape, self.rank + 2, self._layout())
        out = list(input_shape)
        for axis, size in self._cropped_sizes(input_shape, "input_shape").items():
            out[axis] = size
        return tuple(out)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        check_rank(inputs, self.rank + 2, self, self._layout())
        self._cropped_sizes(tuple(inputs.shape), "inputs.shape")  # Python ints: no host sync
        index = [slice(None)] * inputs.dim()
        for axis, (a, b) in zip(self._axes(), self.cropping):
            index[axis] = slice(a, inputs.shape[axis] - b)
        return inputs[tuple(index)]


class Cropping1D(_Cropping):
    """Crops `(batch, steps, features)` sequences along the time axis.

    Args:
        cropping: int (the same at both ends) or `(start, end)`: steps removed. Defaults to `(1, 1)`.
        **kwargs: `input_shape`, `name`, `dtype`.

    Example:
        >>> Cropping1D((1, 2))(torch.ones(2, 6, 3)).shape
        torch.Size([2, 3, 3])
    """

    rank = 1

    def __init__(self, cropping: Any = (1, 1), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cropping: Pairs = normalize_pairs(cropping, 1, "cropping", "Cropping1D")
        self.built = True

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_["cropping"] = list(self.cropping[0])
        return config_


class Cropping2D(_Cropping):
    """Crops rows and columns of `(batch, height, width, channels)` images.

    Args:
        cropping: int (all four sides), `(symmetric_height, symmetric_width)`, or
            `((top, bottom), (left, right))`. Defaults to `((0, 0), (0, 0))`.
        data_format: `'channels_last'` or `'channels_first'`. Defaults to `None` (`'channels_last'`).
        **kwargs: `input_shape`, `name`, `dtype`.

    Example:
        >>> Cropping2D(((1, 0), (2, 2)))(torch.ones(1, 5, 7, 2)).shape
        torch.Size([1, 4, 3, 2])
    """

    rank = 2

    def __init__(self, cropping: Any = ((0, 0), (0, 0)), data_format: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = normalize_data_format(data_format, "Cropping2D")
        self.cropping = normalize_pairs(cropping, 2, "cropping", "Cropping2D")
        self.built = True

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update(cropping=[list(p) for p in self.cropping], data_format=self.data_format)
        return config_


class Cropping3D(_Cropping):
    """Crops the three spatial axes of `(batch, depth, height, width, channels)` volumes.

    Args:
        cropping: int (all sides), a tuple of 3 ints (symmetric per axis), or 3 `(start, end)` pairs.
            Defaults to `((1, 1), (1, 1), (1, 1))`.
        data_format: `'channels_last'` or `'channels_first'`. Defaults to `None` (`'channels_last'`).
        **kwargs: `input_shape`, `name`, `dtype`.

    Example:
        >>> Cropping3D()(torch.ones(1, 4, 5, 6, 2)).shape
        torch.Size([1, 2, 3, 4, 2])
    """

    rank = 3

    def __init__(self, cropping: Any = ((1, 1), (1, 1), (1, 1)), data_format: Optional[str] = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = normalize_data_format(data_format, "Cropping3D")
        self.cropping = normalize_pairs(cropping, 3, "cropping", "Cropping3D")
        self.built = True

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update(cropping=[list(p) for p in self.cropping], data_format=self.data_format)
        return config_


# --------------------------------------------------------------------------- zero padding
class _ZeroPadding(_Spatial):
    def compute_output_shape(self, input_shape: Shape) -> Shape:
        _check_shape_rank(self, input_shape, self.rank + 2, self._layout())
        out = list(input_shape)
        for axis, (a, b) in zip(self._axes(), self.padding):
            out[axis] = None if out[axis] is None else out[axis] + a + b
        return tuple(out)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        check_rank(inputs, self.rank + 2, self, self._layout())
        # F.pad lists (before, after) from the last axis backwards.
        pads = [0, 0] * inputs.dim()
        for axis, (a, b) in zip(self._axes(), self.padding):
            back = inputs.dim() - 1 - axis
            pads[2 * back], pads[2 * back + 1] = a, b
        while pads and pads[-1] == 0 and pads[-2] == 0:
            pads = pads[:-2]
        return F.pad(inputs, pads)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        padding = list(self.padding[0]) if self.rank == 1 else [list(p) for p in self.padding]
        config_.update(padding=padding, data_format=self.data_format)
        return config_


class ZeroPadding1D(_ZeroPadding):
    """Adds zero steps at the start and end of `(batch, steps, features)` sequences.

    Args:
        padding: int (the same at both ends) or `(start, end)`. Defaults to `1`.
        data_format: `'channels_last'` or `'channels_first'`. Defaults to `None` (`'channels_last'`).
        **kwargs: `input_shape`, `name`, `dtype`.

    Example:
        >>> ZeroPadding1D((1, 2))(torch.ones(2, 3, 4)).shape
        torch.Size([2, 6, 4])
    """

    rank = 1

    def __init__(self, padding: Any = 1, data_format: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = normalize_data_format(data_format, "ZeroPadding1D")
        self.padding: Pairs = normalize_pairs(padding, 1, "padding", "ZeroPadding1D")
        self.built = True


class ZeroPadding3D(_ZeroPadding):
    """Adds zeros around the three spatial axes of `(batch, depth, height, width, channels)` volumes.

    Args:
        padding: int (all sides), a tuple of 3 ints (symmetric per axis), or 3 `(start, end)` pairs.
            Defaults to `((1, 1), (1, 1), (1, 1))`.
        data_format: `'channels_last'` or `'channels_first'`. Defaults to `None` (`'channels_last'`).
        **kwargs: `input_shape`, `name`, `dtype`.

    Example:
        >>> ZeroPadding3D(((1, 0), 0, (2, 2)))(torch.ones(1, 2, 3, 4, 5)).shape
        torch.Size([1, 3, 3, 8, 5])
    """

    rank = 3

    def __init__(self, padding: Any = ((1, 1), (1, 1), (1, 1)), data_format: Optional[str] = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = normalize_data_format(data_format, "ZeroPadding3D")
        self.padding = normalize_pairs(padding, 3, "padding", "ZeroPadding3D")
        self.built = True


# --------------------------------------------------------------------------- upsampling
class _UpSampling(_Spatial):
    def compute_output_shape(self, input_shape: Shape) -> Shape:
        _check_shape_rank(self, input_shape, self.rank + 2, self._layout())
        out = list(input_shape)
        for axis, s in zip(self._axes(), self.size_tuple):
            out[axis] = None if out[axis] is None else out[axis] * s
        return tuple(out)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        check_rank(inputs, self.rank + 2, self, self._layout())
        # repeat_interleave is Keras's `ops.repeat`: exact nearest-neighbour for every dtype.
        out = inputs
        for axis, s in zip(self._axes(), self.size_tuple):
            if s != 1:
                out = out.repeat_interleave(s, dim=axis)
        return out


class UpSampling1D(_UpSampling):
    """Repeats each time step of `(batch, steps, features)` sequences `size` times.

    Args:
        size: positive int, the upsampling factor. Defaults to `2`.
        **kwargs: `input_shape`, `name`, `dtype`.

    Example:
        >>> UpSampling1D(3)(torch.arange(4.).reshape(1, 2, 2))[0, :, 0]
        tensor([0., 0., 0., 2., 2., 2.])
    """

    rank = 1

    def __init__(self, size: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(size, bool) or not isinstance(size, int):
            raise TypeError(
                f"UpSampling1D: size must be an int, received size={size!r} of type {type(size).__name__}. "
                "Example: UpSampling1D(size=2)."
            )
        if size <= 0:
            raise ValueError(f"UpSampling1D: size must be a positive int, received size={size}. Example: size=2.")
        self.size = size
        self.size_tuple = (size,)
        self.built = True

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_["size"] = self.size
        return config_


class UpSampling3D(_UpSampling):
    """Repeats the depth, rows and columns of `(batch, depth, height, width, channels)` volumes.

    Args:
        size: int or tuple of 3 ints, the upsampling factors. Defaults to `(2, 2, 2)`.
        data_format: `'channels_last'` or `'channels_first'`. Defaults to `None` (`'channels_last'`).
        **kwargs: `input_shape`, `name`, `dtype`.

    Example:
        >>> UpSampling3D((1, 2, 3))(torch.ones(1, 2, 2, 2, 4)).shape
        torch.Size([1, 2, 4, 6, 4])
    """

    rank = 3

    def __init__(self, size: Any = (2, 2, 2), data_format: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = normalize_data_format(data_format, "UpSampling3D")
        self.size = normalize_tuple(size, 3, "size", "UpSampling3D")
        self.size_tuple = self.size
        self.built = True

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update(size=list(self.size), data_format=self.data_format)
        return config_


# --------------------------------------------------------------------------- axes
class Permute(Layer):
    """Permutes the non-batch axes of its input.

    Args:
        dims: the new order of the axes, 1-based (the batch axis 0 stays first), e.g. `(2, 1)`
            swaps the two axes of `(batch, steps, features)`.
        **kwargs: `input_shape`, `name`, `dtype`.

    Example:
        >>> Permute((2, 1))(torch.ones(4, 10, 64)).shape
        torch.Size([4, 64, 10])
    """

    def __init__(self, dims: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        try:
            dims = tuple(dims)
        except TypeError:
            dims = (dims,)
        ints = all(isinstance(d, int) and not isinstance(d, bool) for d in dims)
        if not dims or not ints or sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(
                f"Permute: dims must list each axis 1..{len(dims)} exactly once (the batch axis 0 is not "
                f"included), received dims={dims!r}. Example: Permute((2, 1)) swaps the two axes of a sequence."
            )
        self.dims: Tuple[int, ...] = tuple(int(d) for d in dims)
        self.built = True

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        _check_shape_rank(self, input_shape, len(self.dims) + 1, f"(batch + {len(self.dims)} axes)")
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        check_rank(inputs, len(self.dims) + 1, self, f"(batch + {len(self.dims)} axes)")
        return inputs.permute((0,) + self.dims)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_["dims"] = list(self.dims)
        return config_


class RepeatVector(Layer):
    """Repeats a `(batch, features)` input `n` times: `(batch, n, features)`.

    Args:
        n: positive int, the number of repetitions.
        **kwargs: `input_shape`, `name`, `dtype`.

    Example:
        >>> RepeatVector(3)(torch.ones(2, 32)).shape
        torch.Size([2, 3, 32])
    """

    def __init__(self, n: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(
                f"RepeatVector: n must be an int, received n={n!r} of type {type(n).__name__}. "
                "Example: RepeatVector(3)."
            )
        if n <= 0:
            raise ValueError(f"RepeatVector: n must be a positive int, received n={n}. Example: RepeatVector(3).")
        self.n = n
        self.built = True

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        _check_shape_rank(self, input_shape, 2, "(batch, features)")
        return (input_shape[0], self.n, input_shape[1])

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        check_rank(inputs, 2, self, "(batch, features)")
        # A broadcast view made contiguous: one copy, as Keras's repeat.
        return inputs.unsqueeze(1).expand(-1, self.n, -1).contiguous()

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_["n"] = self.n
        return config_
