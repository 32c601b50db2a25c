"""Spatial reshaping layers: ZeroPadding2D, UpSampling2D, SpatialDropout1D and SpatialDropout2D."""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn.functional as F

from kerasish.layers.convolutional import (
    check_rank,
    from_channels_first,
    normalize_data_format,
    normalize_tuple,
    to_channels_first,
)
from kerasish.layers.layer import Layer, Shape

_LAYOUT_2D = {"channels_last": "(batch, height, width, channels)", "channels_first": "(batch, channels, height, width)"}


def _check_rank_shape(layer: Layer, input_shape: Shape, rank: int, layout: str) -> None:
    if len(input_shape) != rank:
        raise ValueError(
            f"Input of layer {layer.name!r} ({type(layer).__name__}) must have rank {rank} {layout}, "
            f"received input shape {tuple(input_shape)}. Reshape the input to {layout}."
        )


class ZeroPadding2D(Layer):
    """Adds rows and columns of zeros around `(batch, height, width, channels)` images.

    Args:
        padding: int (same on all sides), `(symmetric_height, symmetric_width)`, or
            `((top, bottom), (left, right))`. Defaults to `(1, 1)`.
        data_format: `'channels_last'` or `'channels_first'`. Defaults to `None` (`'channels_last'`).
        **kwargs: `input_shape`, `name`, `dtype`.

    Example:
        >>> ZeroPadding2D(((1, 0), (2, 2)))(torch.ones(1, 3, 3, 2)).shape
        torch.Size([1, 4, 7, 2])
    """

    def __init__(self, padding: Any = (1, 1), data_format: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(padding, int) and not isinstance(padding, bool):
            padding = ((padding, padding), (padding, padding))
        try:
            pairs = tuple(p if isinstance(p, (tuple, list)) else (p, p) for p in padding)
            pads = tuple(normalize_tuple(tuple(p), 2, "padding", "ZeroPadding2D", allow_zero=True) for p in pairs)
        except (TypeError, ValueError):
            pads = ()
        if len(pads) != 2:
            raise ValueError(
                f"ZeroPadding2D: padding must be an int, a tuple of 2 ints or a tuple of 2 (before, after) pairs "
                f"of non-negative ints, received padding={padding!r}. Example: padding=((1, 1), (2, 2))."
            )
        self.padding: Tuple[Tuple[int, int], Tuple[int, int]] = pads  # type: ignore[assignment]
        self.data_format = normalize_data_format(data_format, "ZeroPadding2D")
        self.built = True

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        _check_rank_shape(self, input_shape, 4, _LAYOUT_2D[self.data_format])
        (t, b), (l, r) = self.padding
        hi, wi = (1, 2) if self.data_format == "channels_last" else (2, 3)
        out = list(input_shape)
        out[hi] = None if out[hi] is None else out[hi] + t + b
        out[wi] = None if out[wi] is None else out[wi] + l + r
        return tuple(out)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        check_rank(inputs, 4, self, _LAYOUT_2D[self.data_format])
        (t, b), (l, r) = self.padding
        x = to_channels_first(inputs, self.data_format)
        return from_channels_first(F.pad(x, (l, r, t, b)), self.data_format)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update(padding=[list(p) for p in self.padding], data_format=self.data_format)
        return config_


class UpSampling2D(Layer):
    """Repeats rows and columns of `(batch, height, width, channels)` images.

    Args:
        size: int or tuple of 2 ints, the upsampling factors. Defaults to `(2, 2)`.
        data_format: `'channels_last'` or `'channels_first'`. Defaults to `None` (`'channels_last'`).
        interpolation: `'nearest'` or `'bilinear'`. Defaults to `'nearest'`.
        **kwargs: `input_shape`, `name`, `dtype`.

    Example:
        >>> UpSampling2D()(torch.ones(1, 3, 4, 2)).shape
        torch.Size([1, 6, 8, 2])
    """

    def __init__(self, size: Any = (2, 2), data_format: Optional[str] = None, interpolation: str = "nearest",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size = normalize_tuple(size, 2, "size", "UpSampling2D")
        self.data_format = normalize_data_format(data_format, "UpSampling2D")
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(
                f"UpSampling2D: interpolation must be 'nearest' or 'bilinear', received "
                f"interpolation={interpolation!r}. Use interpolation='nearest' to repeat pixels."
            )
        self.interpolation = interpolation
        self.built = True

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        _check_rank_shape(self, input_shape, 4, _LAYOUT_2D[self.data_format])
        hi, wi = (1, 2) if self.data_format == "channels_last" else (2, 3)
        out = list(input_shape)
        for i, s in zip((hi, wi), self.size):
            out[i] = None if out[i] is None else out[i] * s
        return tuple(out)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        check_rank(inputs, 4, self, _LAYOUT_2D[self.data_format])
        x = to_channels_first(inputs, self.data_format)
        if self.interpolation == "nearest":
            y = F.interpolate(x, scale_factor=self.size, mode="nearest")
        else:
            # Keras (tf.image.resize) uses half-pixel centres: align_corners=False.
            y = F.interpolate(x, scale_factor=self.size, mode="bilinear", align_corners=False)
        return from_channels_first(y, self.data_format)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update(size=list(self.size), data_format=self.data_format, interpolation=self.interpolation)
        return config_


class BaseSpatialDropout(Layer):
    supports_masking = True  # as Keras (a Dropout): an incoming Keras mask passes on to the next layers
    rank = 1

    def __init__(self, rate: float, seed: Optional[int] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(
                f"{type(self).__name__}: rate must be a number in [0, 1), received rate={rate!r}. "
                f"Example: {type(self).__name__}(0.2)."
            )
        self.rate = float(rate)
        self.seed = seed
        if seed is not None:
            from kerasish.random import SeedGenerator

            self.seed_generator = SeedGenerator(seed)
        self.built = True

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def _noise_shape(self, inputs: torch.Tensor) -> Tuple[int, ...]:
        # One keep/drop draw per (sample, channel), shared across the spatial axes.
        shape = [1] * inputs.dim()
        shape[0] = inputs.shape[0]
        channel = -1 if getattr(self, "data_format", "channels_last") == "channels_last" else 1
        shape[channel] = inputs.shape[channel]
        return tuple(shape)

    def call(self, inputs: torch.Tensor, training: Optional[bool] = None) -> torch.Tensor:
        check_rank(inputs, self.rank + 2, self, self._layout())
        if not (self.training if training is None else training) or self.rate == 0:
            return inputs
        if self.seed is not None:
            from kerasish import random

            return random.dropout(inputs, self.rate, noise_shape=self._noise_shape(inputs), seed=self.seed_generator)
        keep = torch.empty(self._noise_shape(inputs), dtype=inputs.dtype, device=inputs.device)
        keep.bernoulli_(1.0 - self.rate)
        return inputs * keep / (1.0 - self.rate)

    def _layout(self) -> str:
        return "(batch, steps, channels)"

    def get_config(self) -> Dict[str, Any]:
        config_ = self._keras_plain_config(super().get_config())  # Keras's SpatialDropout takes no `trainable`
        config_.update(rate=self.rate, seed=self.seed)
        return config_


class SpatialDropout1D(BaseSpatialDropout):
    """Drops whole channels of `(batch, steps, channels)` inputs during training.

    Args:
        rate: fraction of channels to drop, in [0, 1).
        seed: an int makes the masks a reproducible sequence (Keras's own for the same seed on the CPU).
            Defaults to `None` (torch's generator, seeded by kerasish.utils.set_random_seed).
        **kwargs: `input_shape`, `name`, `dtype`.

    Example:
        >>> SpatialDropout1D(0.5)(torch.ones(2, 5, 3), training=True).shape
        torch.Size([2, 5, 3])
    """

    rank = 1


class SpatialDropout2D(BaseSpatialDropout):
    """Drops whole feature maps of `(batch, height, width, channels)` images during training.

    Args:
        rate: fraction of channels to drop, in [0, 1).
        data_format: `'channels_last'` or `'channels_first'`. Defaults to `None` (`'channels_last'`).
        seed: an int makes the masks a reproducible sequence (Keras's own for the same seed on the CPU).
            Defaults to `None` (torch's generator, seeded by kerasish.utils.set_random_seed).
        **kwargs: `input_shape`, `name`, `dtype`.

    Example:
        >>> SpatialDropout2D(0.5).eval()(torch.ones(2, 4, 4, 3)).sum()
        tensor(96.)
    """

    rank = 2

    def __init__(self, rate: float, data_format: Optional[str] = None, seed: Optional[int] = None,
                 **kwargs: Any) -> None:
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = normalize_data_format(data_format, "SpatialDropout2D")

    def _layout(self) -> str:
        return _LAYOUT_2D[self.data_format]

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_["data_format"] = self.data_format
        return config_
