"""Blending filters: RandomColorDegeneration, RandomSharpness and RandomGaussianBlur.

Each blends images with a filtered copy of themselves (their grayscale, a 3x3 smoothing, a
Gaussian blur) by a random amount. As in Keras 3 they act in training (`training=True`,
which `fit` passes) and on a direct call, and not in evaluate and predict (`training=False`)
or after `layer.eval()`. They take an images tensor or Keras's dict form
(`{"images": ..., "labels": ...}`; labels pass through), and clip to `value_range`.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from kerasish.layers.preprocessing.image_data import ImageDataLayer, Transformation
from kerasish.layers.preprocessing.image_preprocessing import parse_factor, parse_value_range
from kerasish.ops import image as ops_image


class RandomColorDegeneration(ImageDataLayer):
    """Moves each image towards (or away from) its grayscale version by a random amount.

    Per image, `f` is drawn from `factor`'s range (a number f gives [-f, f], as Keras's
    code does) and the image becomes `x + f * (gray - x)`, clipped to `value_range`: f = 1
    is fully gray, 0 unchanged, a negative f saturates. Training outputs are in the layer's
    dtype; inference returns the input unchanged. The images need 3 channels.

    Args:
        factor: a number in [-1, 1] or a pair `(lower, upper)` overlapping it.
        value_range: the range of the input values. Defaults to `(0, 255)`.
        data_format: 'channels_last' or 'channels_first'. Defaults to `None` (the config's).
        seed: an int for a reproducible sequence. Defaults to `None`.
        **kwargs: `name`, `dtype`.

    Raises:
        ValueError: for a factor outside [-1, 1], a bad value_range or seed, or images
            without 3 channels.

    Example:
        >>> out = RandomColorDegeneration((1, 1))(torch.rand(2, 4, 4, 3) * 255, training=True)
        >>> bool(torch.allclose(out[..., 0], out[..., 2]))
        True
    """

    def __init__(self, factor: Any, value_range: Sequence[float] = (0, 255), data_format: Optional[str] = None,
                 seed: Optional[int] = None, **kwargs: Any) -> None:
        factor = parse_factor(factor, (-1, 1), "factor", "RandomColorDegeneration")
        value_range = parse_value_range(value_range, "RandomColorDegeneration")
        super().__init__(data_format=data_format, **kwargs)
        self.factor, self.value_range = factor, value_range
        self._make_seed_generator(seed)

    def random_transformation(self, images: torch.Tensor, generator: Optional[torch.Generator]) -> Transformation:
        if images.shape[self._channel_axis] != 3:
            raise ValueError(
                f"RandomColorDegeneration expects RGB images, 3 channels on axis {self._channel_axis} for "
                f"data_format={self.data_format!r}. Received: inputs.shape={tuple(images.shape)}. Check data_format."
            )
        factor = self._rand((images.shape[0], 1, 1, 1), generator, images.device, self.factor[0], self.factor[1])
        return {"factor": factor}

    def transform_images(self, images: torch.Tensor, transformation: Transformation) -> torch.Tensor:
        x = images.to(self._float_dtype())
        gray = ops_image.rgb_to_grayscale(x, data_format=self.data_format)
        out = x + transformation["factor"] * (gray - x)
        return out.clamp(self.value_range[0], self.value_range[1])

    def compute_output_shape(self, input_shape: Any) -> Any:
        channels = tuple(input_shape)[self._channel_axis] if len(input_shape) in (3, 4) else None
        if channels is not None and channels != 3:
            raise ValueError(
                f"RandomColorDegeneration expects RGB images with 3 channels. Received: input_shape="
                f"{tuple(input_shape)}. Check data_format ({self.data_format!r})."
            )
        return tuple(input_shape)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update({"factor": list(self.factor), "value_range": list(self.value_range), "seed": self.seed})
        return config_


def _smoothing_kernel(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """RandomSharpness's 3x3 smoothing filter `[[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13`."""
    kernel = torch.ones(3, 3, dtype=dtype, device=device)
    kernel[1, 1] = 5.0
    return kernel / 13.0


class RandomSharpness(ImageDataLayer):
    """Sharpens or softens each image by a random amount.

    Per image, `f` is drawn from `factor`'s range (a number f gives [0, f]) and the image
    becomes `x + (1 - 2 f) * (smooth - x)`, clipped to `value_range`, where `smooth` is `x`
    filtered per channel with the 3x3 kernel `[[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13` and
    zero padding (as Keras: border pixels darken when smoothed). f = 0.5 leaves the image
    unchanged, 0 gives the smoothed image, 1 sharpens. The output is in the layer's dtype,
    in inference too (the input cast), as in Keras.

    Args:
        factor: a number in [0, 1] or a pair `(lower, upper)` overlapping it.
        value_range: the range of the input values. Defaults to `(0, 255)`.
        data_format: 'channels_last' or 'channels_first'. Defaults to `None` (the config's).
        seed: an int for a reproducible sequence. Defaults to `None`.
        **kwargs: `name`, `dtype`.

    Raises:
        ValueError: for a factor outside [0, 1], a bad value_range or seed.

    Example:
        >>> x = torch.rand(2, 5, 5, 3) * 255
        >>> bool(torch.allclose(RandomSharpness((0.5, 0.5))(x, training=True), x))
        True
    """

    _CAST_IN_INFERENCE = True

    def __init__(self, factor: Any, value_range: Sequence[float] = (0, 255), data_format: Optional[str] = None,
                 seed: Optional[int] = None, **kwargs: Any) -> None:
        factor = parse_factor(factor, (0, 1), "factor", "RandomSharpness")
        value_range = parse_value_range(value_range, "RandomSharpness")
        super().__init__(data_format=data_format, **kwargs)
        self.factor, self.value_range = factor, value_range
        self._make_seed_generator(seed)

    def random_transformation(self, images: torch.Tensor, generator: Optional[torch.Generator]) -> Transformation:
        factor = self._rand((images.shape[0],), generator, images.device, self.factor[0], self.factor[1],
                            torch.float32)
        return {"factor": factor}

    def transform_images(self, images: torch.Tensor, transformation: Transformation) -> torch.Tensor:
        dtype = self._float_dtype()
        x = images.to(dtype)
        nchw = x if self.data_format == "channels_first" else x.permute(0, 3, 1, 2)
        channels = nchw.shape[1]
        kernel = self._constant("smoothing_kernel", dtype, x.device, _smoothing_kernel).expand(channels, 1, 3, 3)
        smooth = F.conv2d(nchw, kernel, padding=1, groups=channels)
        sharpness = (transformation["factor"] * 2).to(dtype).reshape(-1, 1, 1, 1)
        out = (nchw + (1.0 - sharpness) * (smooth - nchw)).clamp(self.value_range[0], self.value_range[1])
        return out if self.data_format == "channels_first" else out.permute(0, 2, 3, 1)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update({"factor": list(self.factor), "value_range": list(self.value_range), "seed": self.seed})
        return config_


def _kernel_size(value: Any) -> Tuple[int, int]:
    message = (f"RandomGaussianBlur: `kernel_size` must be an odd positive int, or a pair of them. "
               f"Received: kernel_size={value!r}.")
    sizes = list(value) if isinstance(value, (tuple, list)) else [value, value]
    if len(sizes) != 2 or not all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in sizes):
        raise ValueError(message + " Example: kernel_size=3 or kernel_size=(5, 5).")
    if not all(k > 0 and k % 2 == 1 for k in sizes):
        raise ValueError(message + " Use an odd size such as 3 or 5.")
    if sizes[0] != sizes[1]:
        raise NotImplementedError(
            f"RandomGaussianBlur: non-square kernels are not supported (Keras's backends disagree on them). "
            f"Received: kernel_size={value!r}. Pass one odd int, e.g. kernel_size={sizes[0]}."
        )
    return int(sizes[0]), int(sizes[1])


class RandomGaussianBlur(ImageDataLayer):
    """Blurs some images with a Gaussian kernel of random width.

    Per image, a probability is drawn from `factor`'s range (a number f gives [0, f]) and
    the image is blurred with that probability. One pair of standard deviations (width,
    height) per batch is drawn from `sigma`'s range; the `kernel_size` kernel is applied per
    channel with zero padding, and the result is clipped to `value_range`. The output is in
    the layer's dtype, in inference too (the input cast), as in Keras.

    Args:
        factor: a number in [0, 1] or a pair `(lower, upper)` overlapping it.
            Defaults to `1.0`.
        kernel_size: an odd positive int (or a pair of equal ones). Defaults to `3`.
        sigma: a number in [0, 1] (the range [0, sigma]) or a pair: the range of the
            standard deviation. Defaults to `1.0`.
        value_range: the range of the input values. Defaults to `(0, 255)`.
        data_format: 'channels_last' or 'channels_first'. Defaults to `None` (the config's).
        seed: an int for a reproducible sequence. Defaults to `None`.
        **kwargs: `name`, `dtype`.

    Raises:
        ValueError: for a factor or sigma outside [0, 1], an even kernel size, a bad
            value_range or seed.
        NotImplementedError: for a non-square kernel size.

    Example:
        >>> RandomGaussianBlur(seed=1)(torch.rand(2, 8, 8, 3) * 255, training=True).shape
        torch.Size([2, 8, 8, 3])
    """

    _CAST_IN_INFERENCE = True

    def __init__(self, factor: Any = 1.0, kernel_size: Any = 3, sigma: Any = 1.0,
                 value_range: Sequence[float] = (0, 255), data_format: Optional[str] = None,
                 seed: Optional[int] = None, **kwargs: Any) -> None:
        factor = parse_factor(factor, (0, 1), "factor", "RandomGaussianBlur")
        kernel_size = _kernel_size(kernel_size)
        sigma = parse_factor(sigma, (0, 1), "sigma", "RandomGaussianBlur")
        value_range = parse_value_range(value_range, "RandomGaussianBlur")
        super().__init__(data_format=data_format, **kwargs)
        self.factor, self.kernel_size, self.sigma, self.value_range = factor, kernel_size, sigma, value_range
        self._make_seed_generator(seed)

    def random_transformation(self, images: torch.Tensor, generator: Optional[torch.Generator]) -> Transformation:
        batch, device = images.shape[0], images.device
        apply = self._coin(batch, generator, device)
        sigma = self._rand((2,), generator, device, self.sigma[0], self.sigma[1]) + 1e-6
        return {"apply": apply, "sigma": sigma}

    def transform_images(self, images: torch.Tensor, transformation: Transformation) -> torch.Tensor:
        x = images.to(self._float_dtype())
        blurred = ops_image.gaussian_blur(x, kernel_size=self.kernel_size, sigma=transformation["sigma"],
                                          data_format=self.data_format)
        out = torch.where(transformation["apply"].reshape(-1, 1, 1, 1), blurred, x)
        return out.clamp(self.value_range[0], self.value_range[1])

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update({"factor": list(self.factor), "kernel_size": list(self.kernel_size),
                        "sigma": list(self.sigma), "value_range": list(self.value_range), "seed": self.seed})
        return config_
