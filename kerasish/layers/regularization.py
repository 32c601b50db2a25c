"""Regularization layers: GaussianNoise, GaussianDropout, AlphaDropout, ActivityRegularization
and SpatialDropout3D.

The noise layers act only in training (`training=True`, which `fit` sets); at inference they
return their input. With an int `seed` they draw from a `kerasish.random.SeedGenerator`
saved with the layer, so the same seed gives the numbers Keras's own layer gives on the CPU;
without one they draw from torch's global generator (seeded by `set_random_seed`).
"""

from __future__ import annotations

import math
from typing import Any, Dict, Optional, Sequence, Tuple

import torch

from kerasish import config, regularizers
from kerasish.layers.convolutional import normalize_data_format
from kerasish.layers.layer import Layer, Shape
from kerasish.layers.reshaping import BaseSpatialDropout
from kerasish.random.seed_generator import make_generator

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _fraction(value: Any, arg: str, layer: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(
            f"{layer}: {arg} must be a number between 0 and 1. Received: {arg}={value!r}. "
            f"Example: {layer}(0.1)."
        )
    return float(value)


def _check_seed(seed: Any, layer: str) -> Optional[int]:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"{layer}: seed must be an int or None, received seed={seed!r}. Example: seed=1337.")
    return seed


class _Noise(Layer):
    """A layer that draws noise in training: `seed` handling shared by the noise layers."""

    supports_masking = True

    def __init__(self, seed: Optional[int] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed = _check_seed(seed, type(self).__name__)
        if seed is not None:
            from kerasish.random import SeedGenerator

            self.seed_generator = SeedGenerator(seed)
        self.built = True

    def _generator(self, device: torch.device) -> Optional[torch.Generator]:
        """A generator for one draw (the seeded sequence advances), or None for torch's global one."""
        if self.seed is None:
            return None
        return make_generator(self.seed_generator, device)

    def _active(self, training: Optional[bool]) -> bool:
        # The call's flag (True in fit); a direct call without it follows the module's mode.
        return self.training if training is None else bool(training)

    def _normal(self, inputs: torch.Tensor, mean: float, stddev: float) -> torch.Tensor:
        return torch.normal(mean, stddev, size=tuple(inputs.shape), generator=self._generator(inputs.device),
                            dtype=inputs.dtype, device=inputs.device)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_["seed"] = self.seed
        return config_


class GaussianNoise(_Noise):
    """Adds zero-mean Gaussian noise of standard deviation `stddev` during training.

    Args:
        stddev: the noise's standard deviation, in [0, 1].
        seed: an int for a reproducible noise sequence (Keras's own on the CPU). Defaults to `None`.
        **kwargs: `input_shape`, `name`, `dtype`.

    Raises:
        ValueError: for `stddev` outside [0, 1] or a seed that is not an int.

    Example:
        >>> layer = GaussianNoise(0.1, seed=1)
        >>> bool((layer(torch.ones(2, 3)) == 1).all())  # inference: unchanged
        True
    """

    def __init__(self, stddev: float, seed: Optional[int] = None, **kwargs: Any) -> None:
        stddev = _fraction(stddev, "stddev", "GaussianNoise")
        super().__init__(seed=seed, **kwargs)
        self.stddev = stddev

    def call(self, inputs: torch.Tensor, training: Optional[bool] = None) -> torch.Tensor:
        if not self._active(training) or self.stddev == 0:
            return inputs
        return inputs + self._normal(inputs, 0.0, self.stddev)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_["stddev"] = self.stddev
        return config_


class GaussianDropout(_Noise):
    """Multiplies the inputs by Gaussian noise of mean 1 and variance `rate / (1 - rate)` in training.

    Args:
        rate: the drop probability of the equivalent Dropout, in [0, 1].
        seed: an int for a reproducible noise sequence (Keras's own on the CPU). Defaults to `None`.
        **kwargs: `input_shape`, `name`, `dtype`.

    Raises:
        ValueError: for `rate` outside [0, 1] or a seed that is not an int.

    Example:
        >>> GaussianDropout(0.2)(torch.ones(2, 3), training=True).shape
        torch.Size([2, 3])
    """

    def __init__(self, rate: float, seed: Optional[int] = None, **kwargs: Any) -> None:
        rate = _fraction(rate, "rate", "GaussianDropout")
        super().__init__(seed=seed, **kwargs)
        self.rate = rate

    def call(self, inputs: torch.Tensor, training: Optional[bool] = None) -> torch.Tensor:
        if not self._active(training) or self.rate == 0:
            return inputs
        return inputs * self._normal(inputs, 1.0, math.sqrt(self.rate / (1.0 - self.rate)))

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_["rate"] = self.rate
        return config_


class AlphaDropout(_Noise):
    """Dropout for SELU networks: dropped inputs take SELU's negative saturation value, then an
    affine map keeps the mean and variance of the inputs.

    Args:
        rate: the drop probability, in [0, 1].
        noise_shape: the shape of the keep/drop mask, None entries taking the input's size.
            Defaults to `None` (the input's shape).
        seed: an int for a reproducible mask sequence (Keras's own on the CPU). Defaults to `None`.
        **kwargs: `input_shape`, `name`, `dtype`.

    Raises:
        ValueError: for `rate` outside [0, 1], a bad `noise_shape` or a seed that is not an int.

    Example:
        >>> AlphaDropout(0.1)(torch.ones(2, 3), training=True).shape
        torch.Size([2, 3])
    """

    def __init__(self, rate: float, noise_shape: Optional[Sequence[Optional[int]]] = None,
                 seed: Optional[int] = None, **kwargs: Any) -> None:
        rate = _fraction(rate, "rate", "AlphaDropout")
        if noise_shape is not None and not (isinstance(noise_shape, (list, tuple)) and all(
                d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in noise_shape)):
            raise ValueError(
                f"AlphaDropout: noise_shape must be a tuple of positive ints or None entries, received "
                f"noise_shape={noise_shape!r}. Example: noise_shape=(None, 1, 64)."
            )
        super().__init__(seed=seed, **kwargs)
        self.rate = rate
        self.noise_shape = None if noise_shape is None else list(noise_shape)

    def _mask_shape(self, inputs: torch.Tensor) -> Tuple[int, ...]:
        if self.noise_shape is None:
            return tuple(inputs.shape)
        if len(self.noise_shape) != inputs.dim():
            raise ValueError(
                f"AlphaDropout {self.name!r}: noise_shape={self.noise_shape} needs one entry per input axis, "
                f"received an input of shape {tuple(inputs.shape)}."
            )
        return tuple(size if d is None else d for d, size in zip(self.noise_shape, inputs.shape))

    def call(self, inputs: torch.Tensor, training: Optional[bool] = None) -> torch.Tensor:
        if not self._active(training) or self.rate == 0:
            return inputs
        alpha_p = -_SELU_ALPHA * _SELU_SCALE
        # Drawn in floatx whatever the input's dtype, as Keras, so a seed gives Keras's mask.
        uniform = torch.rand(self._mask_shape(inputs), generator=self._generator(inputs.device),
                             dtype=config.floatx_dtype(), device=inputs.device)
        kept = (uniform >= self.rate).to(inputs.dtype)
        a = ((1 - self.rate) * (1 + self.rate * alpha_p ** 2)) ** -0.5
        b = -a * alpha_p * self.rate
        return a * (inputs * kept + alpha_p * (1 - kept)) + b

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update(rate=self.rate, noise_shape=self.noise_shape)
        return config_


class ActivityRegularization(Layer):
    """Returns its input unchanged and adds `l1 * sum(|x|) + l2 * sum(x**2)` (per sample, as
    Keras 3: divided by the batch size) to the layer's `losses`.

    Args:
        l1: the L1 factor. Defaults to `0.0`.
        l2: the L2 factor. Defaults to `0.0`.
        **kwargs: `input_shape`, `name`, `dtype`.

    Example:
        >>> layer = ActivityRegularization(l1=0.1)
        >>> _ = layer(torch.ones(2, 3))
        >>> [round(float(v), 4) for v in layer.losses]
        [0.3]
    """

    supports_masking = True

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs: Any) -> None:
        if "activity_regularizer" in kwargs:
            raise TypeError(
                "ActivityRegularization takes l1 and l2, not activity_regularizer=. "
                "Example: ActivityRegularization(l1=0.01)."
            )
        super().__init__(activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.l1 = l1
        self.l2 = l2
        self.built = True

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.pop("activity_regularizer", None)
        config_.update(l1=self.l1, l2=self.l2)
        return config_


_LAYOUT_3D = {"channels_last": "(batch, depth, height, width, channels)",
              "channels_first": "(batch, channels, depth, height, width)"}


class SpatialDropout3D(BaseSpatialDropout):
    """Drops whole feature maps of `(batch, depth, height, width, channels)` volumes during training.

    Args:
        rate: fraction of channels to drop, in [0, 1).
        data_format: `'channels_last'` or `'channels_first'`. Defaults to `None` (`'channels_last'`).
        seed: an int makes the masks a reproducible sequence (Keras's own for the same seed on the CPU).
            Defaults to `None` (torch's generator, seeded by kerasish.utils.set_random_seed).
        **kwargs: `input_shape`, `name`, `dtype`.

    Raises:
        ValueError: for a rate outside [0, 1) or an unknown `data_format`.

    Example:
        >>> SpatialDropout3D(0.5)(torch.ones(2, 3, 3, 3, 4), training=True).shape
        torch.Size([2, 3, 3, 3, 4])
    """

    rank = 3

    def __init__(self, rate: float, data_format: Optional[str] = None, seed: Optional[int] = None,
                 **kwargs: Any) -> None:
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = normalize_data_format(data_format, "SpatialDropout3D")

    def _layout(self) -> str:
        return _LAYOUT_3D[self.data_format]

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_["data_format"] = self.data_format
        return config_
