"""Color augmentation layers: RandomContrast, RandomBrightness, RandomGrayscale, RandomHue and
RandomSaturation.

Like the geometric layers (`image_augmentation`), they augment in training (`training=True`,
which `fit` passes) and on a direct call (Keras's default), draw one value per image per call
from the layer's own `SeedGenerator` on the images' device, and return the images unchanged
in evaluate and predict (`training=False`) or after `layer.eval()`. `value_range` is the range the
input values live in: (0, 255) for raw pixels, (0, 1) after `Rescaling(1/255)`.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import torch

from kerasish.layers.preprocessing.image_preprocessing import (
    BaseImagePreprocessingLayer, parse_factor, parse_value_range,
)
from kerasish.ops import image as ops_image


def _per_image(values: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """(batch,) values shaped to broadcast over 4-D images, or a 0-D one over a single image."""
    return values.reshape(-1, 1, 1, 1) if images.dim() == 4 else values.reshape(())


def _per_plane(values: torch.Tensor, images: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(batch,) values in `dtype`, shaped to broadcast over one HSV plane of 4-D images (0-D for one image)."""
    return values.to(dtype).reshape((-1, 1, 1) if images.dim() == 4 else ())


def _edit_hsv(layer: BaseImagePreprocessingLayer, images: torch.Tensor, edit: Any) -> torch.Tensor:
    """`images` (in `layer.value_range`) scaled to [0, 1] and taken to HSV, where `edit(hue, saturation,
    value)` returns the new planes; the result in RGB, still in [0, 1]. RandomHue's and RandomSaturation's path."""
    low, high = layer.value_range
    hsv = ops_image.rgb_to_hsv((images - low) / (high - low), data_format=layer.data_format)
    planes = edit(*hsv.unbind(layer._channel_axis))
    return ops_image.hsv_to_rgb(torch.stack(planes, dim=layer._channel_axis), data_format=layer.data_format)


class RandomContrast(BaseImagePreprocessingLayer):
    """Scales each image's contrast by a random factor in training.

    Each channel of each image moves away from (or towards) its mean by a factor drawn
    from `[1 - lower, 1 + upper]`, then is clipped to `value_range`. As in Keras, a
    single number f gives lower = 0 (factor range [1, 1 + f]); pass `(lower, upper)` for
    reductions too, e.g. `(0.2, 0.2)` for [0.8, 1.2]. Training outputs are in the layer's
    dtype; inference returns the input unchanged.

    Args:
        factor: a number or a pair `(lower, upper)`, within [0, 1].
        value_range: the range of the input values. Defaults to `(0, 255)`.
        seed: an int for a reproducible sequence. Defaults to `None`.
        data_format: 'channels_last' or 'channels_first'. Defaults to `None` (the config's).
        **kwargs: `name`, `dtype`, `input_shape`.

    Raises:
        ValueError: for a factor outside [0, 1], a bad value_range or seed.

    Example:
        >>> RandomContrast(0.2, seed=1)(torch.rand(2, 4, 4, 3) * 255, training=True).shape
        torch.Size([2, 4, 4, 3])
    """

    def __init__(self, factor: Any, value_range: Sequence[float] = (0, 255), seed: Optional[int] = None,
                 data_format: Optional[str] = None, **kwargs: Any) -> None:
        factor = parse_factor(factor, (0, 1), "factor", "RandomContrast")
        value_range = parse_value_range(value_range, "RandomContrast")
        super().__init__(data_format=data_format, **kwargs)
        self.factor, self.value_range = factor, value_range
        self._make_seed_generator(seed)

    def call(self, inputs: torch.Tensor, training: Optional[bool] = None) -> torch.Tensor:
        x = self._images(inputs)
        if not self._active(training):
            return x
        images = x.to(self._float_dtype())
        generator = self._torch_generator(images.device)
        contrast = self._uniform((self._batch_size(images),), 1.0 - self.factor[0], 1.0 + self.factor[1], generator,
                                 images.device, images.dtype)
        axes = tuple(images.dim() + a for a in self._spatial_axes)
        mean = images.mean(dim=axes, keepdim=True)
        out = (images - mean) * _per_image(contrast, images) + mean
        return out.clamp(self.value_range[0], self.value_range[1])

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update({"factor": list(self.factor), "value_range": list(self.value_range), "seed": self.seed})
        return config_


class RandomBrightness(BaseImagePreprocessingLayer):
    """Adds a random brightness offset to each image in training.

    The offset is drawn from `factor`'s range (a fraction of the value range: f gives
    [-f, f]) times `value_range[1] - value_range[0]`, added to every pixel, and the result
    is clipped to `value_range`. The output keeps the input's dtype. Deviation: integer
    images are computed in float and rounded back (Keras's torch backend truncates the
    offset to the integer dtype first).

    Args:
        factor: a number f (the range [-f, f]) or a pair `(lower, upper)`, within [-1, 1].
        value_range: the range of the input values. Defaults to `(0, 255)`.
        seed: an int for a reproducible sequence. Defaults to `None`.
        data_format: 'channels_last' or 'channels_first'. Defaults to `None` (the config's).
        **kwargs: `name`, `dtype`, `input_shape`.

    Raises:
        ValueError: for a factor outside [-1, 1], a bad value_range or seed.

    Example:
        >>> layer = RandomBrightness((0.1, 0.1), value_range=(0, 1))  # always +0.1
        >>> round(layer(torch.zeros(1, 2, 2, 3), training=True).max().item(), 4)
        0.1
    """

    def __init__(self, factor: Any, value_range: Sequence[float] = (0, 255), seed: Optional[int] = None,
                 data_format: Optional[str] = None, **kwargs: Any) -> None:
        factor = parse_factor(factor, (-1, 1), "factor", "RandomBrightness")
        value_range = parse_value_range(value_range, "RandomBrightness")
        super().__init__(data_format=data_format, **kwargs)
        self.factor, self.value_range = factor, value_range
        self._make_seed_generator(seed)

    def call(self, inputs: torch.Tensor, training: Optional[bool] = None) -> torch.Tensor:
        x = self._images(inputs)
        if not self._active(training):
            return x
        images = x if x.is_floating_point() else x.to(self._float_dtype())
        generator = self._torch_generator(images.device)
        delta = self._uniform((self._batch_size(images),), self.factor[0], self.factor[1], generator, images.device)
        delta = (delta * (self.value_range[1] - self.value_range[0])).to(images.dtype)
        out = (images + _per_image(delta, images)).clamp(self.value_range[0], self.value_range[1])
        return out if x.is_floating_point() else out.round().to(x.dtype)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update({"factor": list(self.factor), "value_range": list(self.value_range), "seed": self.seed})
        return config_


class RandomGrayscale(BaseImagePreprocessingLayer):
    """Turns each image to grayscale with probability `factor` in training.

    A chosen image gets its luma `0.2989 R + 0.587 G + 0.114 B` in all three channels
    (the channel count is kept). The output keeps the input's dtype.

    Args:
        factor: the probability of turning an image gray, in [0, 1]. Defaults to `0.5`.
        data_format: 'channels_last' or 'channels_first'. Defaults to `None` (the config's).
        seed: an int for a reproducible sequence. Defaults to `None`.
        **kwargs: `name`, `dtype`, `input_shape`.

    Raises:
        ValueError: for a factor outside [0, 1], images without 3 (or 1) channels, or a
            bad seed.

    Example:
        >>> out = RandomGrayscale(1.0)(torch.rand(2, 4, 4, 3), training=True)
        >>> bool((out[..., 0] == out[..., 1]).all())
        True
    """

    def __init__(self, factor: float = 0.5, data_format: Optional[str] = None, seed: Optional[int] = None,
                 **kwargs: Any) -> None:
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 <= factor <= 1:
            raise ValueError(
                f"RandomGrayscale: `factor` must be a probability between 0 and 1. Received: factor={factor!r}. "
                "Example: factor=0.2 turns about one image in five gray."
            )
        super().__init__(data_format=data_format, **kwargs)
        self.factor = float(factor)
        self._make_seed_generator(seed)

    def call(self, inputs: torch.Tensor, training: Optional[bool] = None) -> torch.Tensor:
        images = self._images(inputs)
        if not self._active(training):
            return images
        if images.shape[self._channel_axis] not in (1, 3):
            raise ValueError(
                f"RandomGrayscale expects 3 (RGB) or 1 channels on axis {self._channel_axis} for "
                f"data_format={self.data_format!r}. Received: inputs.shape={tuple(images.shape)}. "
                "Check data_format."
            )
        generator = self._torch_generator(images.device)
        apply = torch.rand(self._batch_size(images), generator=generator, device=images.device) < self.factor
        gray = ops_image.rgb_to_grayscale(images, data_format=self.data_format)
        return torch.where(_per_image(apply, images), gray, images)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_["factor"] = self.factor  # Keras 3's RandomGrayscale writes no `seed`: a saved config loses it
        return config_


class RandomHue(BaseImagePreprocessingLayer):
    """Rotates each image's hue by a random amount in training.

    The shift is drawn from `factor`'s range (as in Keras, a number f gives [0, f]) with
    a random sign, times half a turn: `factor=1.0` allows any hue. The images are taken
    from `value_range` to [0, 1], shifted in HSV and mapped back. Training outputs are in
    the layer's dtype; inference returns the input unchanged.

    Args:
        factor: a number or a pair `(lower, upper)`, within [0, 1].
        value_range: the range of the input values. Defaults to `(0, 255)`.
        data_format: 'channels_last' or 'channels_first'. Defaults to `None` (the config's).
        seed: an int for a reproducible sequence. Defaults to `None`.
        **kwargs: `name`, `dtype`, `input_shape`.

    Raises:
        ValueError: for a factor outside [0, 1], a bad value_range or seed.

    Example:
        >>> RandomHue(0.5, value_range=(0, 1), seed=1)(torch.rand(2, 4, 4, 3), training=True).shape
        torch.Size([2, 4, 4, 3])
    """

    def __init__(self, factor: Any, value_range: Sequence[float] = (0, 255), data_format: Optional[str] = None,
                 seed: Optional[int] = None, **kwargs: Any) -> None:
        factor = parse_factor(factor, (0, 1), "factor", "RandomHue")
        value_range = parse_value_range(value_range, "RandomHue")
        super().__init__(data_format=data_format, **kwargs)
        self.factor, self.value_range = factor, value_range
        self._make_seed_generator(seed)

    def call(self, inputs: torch.Tensor, training: Optional[bool] = None) -> torch.Tensor:
        x = self._images(inputs)
        if not self._active(training):
            return x
        images = x.to(self._float_dtype())
        low, high = self.value_range
        generator = self._torch_generator(images.device)
        batch = self._batch_size(images)
        sign = self._random_sign(batch, generator, images.device)
        shift = sign * self._uniform((batch,), self.factor[0], self.factor[1], generator, images.device) * 0.5

        def rotate(hue: torch.Tensor, saturation: torch.Tensor, value: torch.Tensor) -> Tuple[torch.Tensor, ...]:
            hue = hue + _per_plane(shift, images, hue.dtype)
            hue = torch.where(hue > 1.0, hue - 1.0, hue)
            return torch.where(hue < 0.0, hue + 1.0, hue), saturation, value

        return _edit_hsv(self, images, rotate).clamp(0.0, 1.0) * (high - low) + low

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update({"factor": list(self.factor), "value_range": list(self.value_range), "seed": self.seed})
        return config_


class RandomSaturation(BaseImagePreprocessingLayer):
    """Scales each image's saturation by a random amount in training.

    A value `f` drawn from `factor`'s range becomes the saturation multiplier
    `f / (1 - f)`: 0.5 leaves the image as it is, 0 makes it gray (each pixel its
    brightest channel), 1 saturates it fully. A pair `(lower, upper)` draws from that
    range (`(0.5, 0.5)` always gives 0.5); a single number f draws from [-f, f], as Keras
    3's code does (its docstring says [0, f]): a negative draw is a negative multiplier,
    so the saturation is clipped to 0 and that image turns gray. Keras writes
    `factor=0.5` to its config as `(-0.5, 0.5)`, and kerasish computes the same thing from
    either. The saturation is clipped to [0, 1].

    Deviation from Keras 3.15: it clips the saturation to `value_range`, so with (0, 255)
    images oversaturated pixels leave the value range. With `value_range=(0, 1)`, kerasish
    gives Keras's pixels.

    Args:
        factor: a number in [-1, 1] or a pair `(lower, upper)` overlapping it.
        value_range: the range of the input values. Defaults to `(0, 255)`.
        data_format: 'channels_last' or 'channels_first'. Defaults to `None` (the config's).
        seed: an int for a reproducible sequence. Defaults to `None`.
        **kwargs: `name`, `dtype`, `input_shape`.

    Raises:
        ValueError: for a factor outside [-1, 1], a bad value_range or seed.

    Example:
        >>> x = torch.rand(2, 4, 4, 3)
        >>> bool(torch.allclose(RandomSaturation((0.5, 0.5), value_range=(0, 1))(x, training=True), x, atol=1e-5))
        True
    """

    def __init__(self, factor: Any, value_range: Sequence[float] = (0, 255), data_format: Optional[str] = None,
                 seed: Optional[int] = None, **kwargs: Any) -> None:
        factor = parse_factor(factor, (-1, 1), "factor", "RandomSaturation")
        value_range = parse_value_range(value_range, "RandomSaturation")
        super().__init__(data_format=data_format, **kwargs)
        self.factor, self.value_range = factor, value_range
        self._make_seed_generator(seed)

    def call(self, inputs: torch.Tensor, training: Optional[bool] = None) -> torch.Tensor:
        x = self._images(inputs)
        if not self._active(training):
            return x
        images = x.to(self._float_dtype())
        low, high = self.value_range
        generator = self._torch_generator(images.device)
        f = self._uniform((self._batch_size(images),), self.factor[0], self.factor[1], generator, images.device)
        from kerasish import config

        scale = f / (1.0 - f + config.epsilon())

        def saturate(hue: torch.Tensor, saturation: torch.Tensor, value: torch.Tensor) -> Tuple[torch.Tensor, ...]:
            return hue, (saturation * _per_plane(scale, images, saturation.dtype)).clamp(0.0, 1.0), value

        return _edit_hsv(self, images, saturate) * (high - low) + low

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update({"factor": list(self.factor), "value_range": list(self.value_range), "seed": self.seed})
        return config_
