"""Pixel-value maps: Solarization, RandomInvert, RandomPosterization and Equalization.

Each maps every pixel value through a function of the value alone (and, for Equalization,
of the batch's histogram). As in Keras 3 they act in training (`training=True`, which
`fit` passes) and on a direct call (Keras's `training=True` default), and leave images alone
in evaluate and predict (`training=False`) or after `layer.eval()`; Equalization too, though
it draws nothing. `value_range` is the range the inputs live in: (0, 255) for raw pixels,
(0, 1) after `Rescaling(1/255)`. They take an images tensor or Keras's dict form
(`{"images": ..., "labels": ...}`; labels pass through).
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import torch

from kerasish.layers.preprocessing.image_data import ImageDataLayer, Transformation
from kerasish.layers.preprocessing.image_preprocessing import parse_factor, parse_unit_range, parse_value_range

_PIXELS = (0, 255)


def _batch_shape(images: torch.Tensor) -> Tuple[int, int, int, int]:
    return (images.shape[0], 1, 1, 1)


class Solarization(ImageDataLayer):
    """Solarizes images: pixels at or above a threshold become `high - x + low`.

    With the defaults every pixel is inverted. Per image, an addition and a threshold are
    drawn from `addition_factor` and `threshold_factor` (fractions of the 0-255 range: a
    number f gives [0, f]); the images are taken to [0, 255], the addition is added and the
    result clipped to [0, 255], pixels at or above the threshold are mapped to `255 - x`, and
    the result goes back to `value_range`. The output is in the layer's dtype (floatx),
    in training and inference alike (inference returns the input cast), as in Keras.

    Deviation from Keras 3.15: its code draws an addition and a threshold from
    `[lower, upper * 255]` (only the upper end scaled); kerasish scales both ends, as its
    docstring says. The two agree whenever the lower end is 0 (a number factor).

    Args:
        addition_factor: a number f in [0, 1] (the range [0, f]) or a pair within [0, 1].
            Defaults to `0.0`.
        threshold_factor: likewise, for the threshold. Defaults to `0.0`.
        value_range: the range of the input values. Defaults to `(0, 255)`.
        seed: an int for a reproducible sequence. Defaults to `None`.
        **kwargs: `name`, `dtype`, `data_format`.

    Raises:
        ValueError: for a factor outside [0, 1], a bad value_range or seed.

    Example:
        >>> Solarization()(torch.tensor([[[[0.0, 100.0, 255.0]]]]), training=True).flatten().tolist()
        [255.0, 155.0, 0.0]
    """

    _CAST_IN_INFERENCE = True

    def __init__(self, addition_factor: Any = 0.0, threshold_factor: Any = 0.0,
                 value_range: Sequence[float] = (0, 255), seed: Optional[int] = None, **kwargs: Any) -> None:
        addition_factor = parse_unit_range(addition_factor, "addition_factor", "Solarization")
        threshold_factor = parse_unit_range(threshold_factor, "threshold_factor", "Solarization")
        value_range = parse_value_range(value_range, "Solarization")
        super().__init__(**kwargs)
        self.addition_factor, self.threshold_factor, self.value_range = addition_factor, threshold_factor, value_range
        self._make_seed_generator(seed)

    def random_transformation(self, images: torch.Tensor, generator: Optional[torch.Generator]) -> Transformation:
        shape, device = _batch_shape(images), images.device
        additions = self._rand(shape, generator, device, self.addition_factor[0] * 255,
                               self.addition_factor[1] * 255)
        thresholds = self._rand(shape, generator, device, self.threshold_factor[0] * 255,
                                self.threshold_factor[1] * 255)
        return {"additions": additions, "thresholds": thresholds}

    def transform_images(self, images: torch.Tensor, transformation: Transformation) -> torch.Tensor:
        x = self._to_range(images.to(self._float_dtype()), self.value_range, _PIXELS)
        x = (x + transformation["additions"]).clamp(0, 255)
        x = torch.where(x < transformation["thresholds"], x, 255 - x)
        return self._to_range(x, _PIXELS, self.value_range)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update({"value_range": list(self.value_range), "addition_factor": list(self.addition_factor),
                        "threshold_factor": list(self.threshold_factor), "seed": self.seed})
        return config_


class RandomInvert(ImageDataLayer):
    """Inverts the colors of some images: `x` becomes `low + high - x`.

    Per image, a probability is drawn from `factor`'s range (a number f gives [0, f]) and
    the image is inverted with that probability; `factor=1.0` inverts about half of them,
    `(1, 1)` all. Training outputs are in the layer's dtype; inference returns the input
    unchanged (an integer input stays integer), as in Keras.

    Deviation from Keras 3.15: Keras computes `high - x`, which leaves `value_range` when
    its low end is not 0 (e.g. (-1, 1)); kerasish reflects inside the range. The two agree
    for ranges starting at 0, such as (0, 255) and (0, 1).

    Args:
        factor: a number in [0, 1] or a pair `(lower, upper)` overlapping it.
            Defaults to `1.0`.
        value_range: the range of the input values. Defaults to `(0, 255)`.
        seed: an int for a reproducible sequence. Defaults to `None`.
        data_format: 'channels_last' or 'channels_first'. Defaults to `None` (the config's).
        **kwargs: `name`, `dtype`.

    Raises:
        ValueError: for a factor outside [0, 1], a bad value_range or seed.

    Example:
        >>> RandomInvert((1, 1))(torch.tensor([[[[0.0, 55.0]]]]), training=True).flatten().tolist()
        [255.0, 200.0]
    """

    def __init__(self, factor: Any = 1.0, value_range: Sequence[float] = (0, 255), seed: Optional[int] = None,
                 data_format: Optional[str] = None, **kwargs: Any) -> None:
        factor = parse_factor(factor, (0, 1), "factor", "RandomInvert")
        value_range = parse_value_range(value_range, "RandomInvert")
        super().__init__(data_format=data_format, **kwargs)
        self.factor, self.value_range = factor, value_range
        self._make_seed_generator(seed)

    def random_transformation(self, images: torch.Tensor, generator: Optional[torch.Generator]) -> Transformation:
        return {"apply": self._coin(images.shape[0], generator, images.device)}

    def transform_images(self, images: torch.Tensor, transformation: Transformation) -> torch.Tensor:
        x = images.to(self._float_dtype())
        inverted = (self.value_range[0] + self.value_range[1]) - x
        return torch.where(transformation["apply"].reshape(-1, 1, 1, 1), inverted, x)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update({"factor": list(self.factor), "value_range": list(self.value_range), "seed": self.seed})
        return config_


class RandomPosterization(ImageDataLayer):
    """Keeps only the top bits of each 8-bit channel value (posterization).

    The images are taken to [0, 255] and truncated to 8-bit integers, the low
    `8 - bits` bits are zeroed, and the result goes back to `value_range`. As in Keras's
    code, a number f gives the range (1, f) and, when its ends differ, each image's `bits`
    is drawn from the integers in `[lower, upper)` (the upper end excluded: `factor=4`
    keeps 1 to 3 bits); a pair with equal ends, `(4, 4)`, always keeps that many.
    Training outputs are in the layer's dtype; inference returns the input unchanged.

    Args:
        factor: the number of bits to keep, in [1, 8], or a pair `(lower, upper)`.
        value_range: the range of the input values. Defaults to `(0, 255)`.
        data_format: 'channels_last' or 'channels_first'. Defaults to `None` (the config's).
        seed: an int for a reproducible sequence. Defaults to `None`.
        **kwargs: `name`, `dtype`.

    Raises:
        ValueError: for a factor outside [1, 8], a bad value_range or seed.

    Example:
        >>> RandomPosterization((1, 1))(torch.tensor([[[[200.0, 100.0]]]]), training=True).flatten().tolist()
        [128.0, 0.0]
    """

    def __init__(self, factor: Any, value_range: Sequence[float] = (0, 255), data_format: Optional[str] = None,
                 seed: Optional[int] = None, **kwargs: Any) -> None:
        factor = parse_factor(factor, (1, 8), "factor", "RandomPosterization")
        value_range = parse_value_range(value_range, "RandomPosterization")
        super().__init__(data_format=data_format, **kwargs)
        self.factor, self.value_range = factor, value_range
        self._make_seed_generator(seed)

    def random_transformation(self, images: torch.Tensor, generator: Optional[torch.Generator]) -> Transformation:
        batch, device = images.shape[0], images.device
        low, high = int(self.factor[0]), int(self.factor[1])
        if low != high:
            bits = torch.randint(low, high, (batch,), generator=generator, device=device, dtype=torch.uint8)
        else:
            bits = torch.full((batch,), low, dtype=torch.uint8, device=device)
        return {"shift": (8 - bits).reshape(-1, 1, 1, 1)}

    def transform_images(self, images: torch.Tensor, transformation: Transformation) -> torch.Tensor:
        dtype = self._float_dtype()
        x = self._to_range(images.to(dtype), self.value_range, _PIXELS).to(torch.uint8)
        shift = transformation["shift"]
        x = torch.bitwise_left_shift(torch.bitwise_right_shift(x, shift), shift)
        return self._to_range(x.to(dtype), _PIXELS, self.value_range)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update({"factor": list(self.factor), "value_range": list(self.value_range), "seed": self.seed})
        return config_


class Equalization(ImageDataLayer):
    """Equalizes the histogram of each channel, spreading the frequent values out.

    Each channel's values are binned (`bins` bins over [0, 255] after taking the images
    from `value_range`), and every value is replaced by its bin's rank in the cumulative
    histogram, scaled to [0, 255] and taken back to `value_range`. A channel whose values
    all fall into one bin is left as it is. As in Keras 3, the histogram of a channel is
    counted over the whole batch (every image of the batch shares it); pass one image, or
    a batch of one, to equalize images separately. Though nothing is random, Keras applies
    it in training only (and on a direct call); inference returns the input unchanged.
    Training outputs are in the layer's dtype.

    Args:
        value_range: the range of the input values. Defaults to `(0, 255)`.
        bins: the number of histogram bins, a positive int. Defaults to `256`.
        data_format: 'channels_last' or 'channels_first'. Defaults to `None` (the config's).
        **kwargs: `name`, `dtype`.

    Raises:
        ValueError: for a bad value_range or a bins that is not a positive int.

    Example:
        >>> Equalization()(torch.tensor([[[[10.0], [20.0]]]]), training=True).flatten().tolist()
        [0.0, 255.0]
    """

    def __init__(self, value_range: Sequence[float] = (0, 255), bins: int = 256, data_format: Optional[str] = None,
                 **kwargs: Any) -> None:
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
            raise ValueError(f"Equalization: `bins` must be a positive int. Received: bins={bins!r}. "
                             "Example: bins=256 for 8-bit images.")
        value_range = parse_value_range(value_range, "Equalization")
        super().__init__(data_format=data_format, **kwargs)
        self.value_range, self.bins = value_range, bins
        self.train(True)  # Keras's training=True default, as for the random layers

    def _scale(self, x: torch.Tensor, source: Tuple[float, float], target: Tuple[float, float]) -> torch.Tensor:
        # Keras's own arithmetic (scale and offset as Python floats), so the bins match.
        scale = (target[1] - target[0]) / (source[1] - source[0])
        return x * scale + (target[0] - source[0] * scale)

    def transform_images(self, images: torch.Tensor, transformation: Transformation) -> torch.Tensor:
        x = self._scale(images.to(self._float_dtype()), self.value_range, _PIXELS)
        channels = x.movedim(self._channel_axis, 0)  # (channels, batch, height, width)
        flat = channels.reshape(channels.shape[0], -1)
        bins = self.bins
        index = (flat.float() * (bins - 1) / 255.0).to(torch.int64).clamp(0, bins - 1)
        hist = torch.zeros(flat.shape[0], bins, dtype=torch.int64, device=x.device)
        hist.scatter_add_(1, index, torch.ones_like(index))
        cdf = hist.cumsum(1)
        # The first non-zero count of the (non-decreasing) cumulative histogram.
        cdf_min = torch.where(cdf > 0, cdf, cdf[:, -1:]).amin(1, keepdim=True)
        span = cdf[:, -1:] - cdf_min
        table = (((cdf - cdf_min) * 255) / torch.where(span == 0, torch.ones_like(span), span)).round().clamp(0, 255)
        lookup = (flat / 255.0 * (bins - 1)).clamp(0, bins - 1).to(torch.int64)
        equalized = torch.gather(table.to(flat.dtype), 1, lookup)
        flat_channel = (hist > 0).sum(1, keepdim=True) <= 1
        out = torch.where(flat_channel, flat, equalized).reshape(channels.shape).movedim(0, self._channel_axis)
        return self._scale(out, _PIXELS, self.value_range)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update({"bins": self.bins, "value_range": list(self.value_range)})
        return config_
