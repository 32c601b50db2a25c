"""Geometric image augmentation layers: RandomFlip, RandomRotation, RandomZoom,
RandomTranslation and RandomCrop.

They augment when `training=True` (what `fit` passes) and, as Keras's layers, on a direct call
`layer(x)` (they start in train mode, Keras's `training=True` default); in evaluate and predict
(`training=False`), or after `layer.eval()`, they return the images cast to the layer's dtype
(RandomCrop: the centre crop, see its docstring). Each training call draws one transform per image from the
layer's own `SeedGenerator`, on the images' device, and warps the whole batch at once
(`warp` below: `grid_sample` for bilinear sampling, Keras's own corner rule from
`kerasish.ops.image.affine_transform` for 'wrap' fill and nearest interpolation), so a
given transform gives Keras's pixels: exactly for the corner-rule cases, and within
float32 rounding of the sampling grid for `grid_sample` (measured: at most 2e-6 of the
value range at 32x32, 4e-6 at 64x48; the error grows with the image size). No host sync.

Deviation from Keras: a model holding these layers, called directly (`model(x)`), is in
inference mode (kerasish models start in eval mode), so the layers do not augment there;
Keras's do. Pass `training=True` (or call `model.train()`) to augment through a model.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Optional, Tuple

import torch

from kerasish.layers.layer import Shape
from kerasish.layers.preprocessing.image_preprocessing import (
    BaseImagePreprocessingLayer, _with_size, check_choice, check_size, config_value, crop_or_resize, parse_factor,
)
from kerasish.ops import image as ops_image

FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")
FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("nearest", "bilinear")


class _AffineLayer(BaseImagePreprocessingLayer):
    """A layer that warps each image by a random affine transform (output pixel -> input pixel)."""

    # Symbolic calls trace the (inference) call on zeros: integer inputs give a float output spec.
    _infer_by_tracing = True

    def __init__(self, fill_mode: str, interpolation: str, seed: Optional[int], fill_value: float,
                 data_format: Optional[str], **kwargs: Any) -> None:
        super().__init__(data_format=data_format, **kwargs)
        name = type(self).__name__
        # Keras raises NotImplementedError for these two.
        self.fill_mode = check_choice(fill_mode, FILL_MODES, "fill_mode", name, NotImplementedError)
        self.interpolation = check_choice(interpolation, INTERPOLATIONS, "interpolation", name, NotImplementedError)
        self.fill_value = fill_value
        self._make_seed_generator(seed)

    def _transforms(self, batch: int, height: int, width: int, generator: Optional[torch.Generator],
                    device: torch.device) -> torch.Tensor:
        """(batch, 8) rows `[a0, a1, a2, b0, b1, b2, 0, 0]` for this batch."""
        raise NotImplementedError

    def call(self, inputs: torch.Tensor, training: Optional[bool] = None) -> torch.Tensor:
        images = self._images(inputs).to(self._float_dtype())
        if not self._active(training):
            return images
        batch = self._batch_size(images)
        height, width = (images.shape[a] for a in self._spatial_axes)
        generator = self._torch_generator(images.device)
        transform = self._transforms(batch, height, width, generator, images.device)
        return warp(images, transform, self.interpolation, self.fill_mode, self.fill_value, self.data_format)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update({"fill_mode": self.fill_mode, "interpolation": self.interpolation, "seed": self.seed,
                        "fill_value": self.fill_value})
        return config_


def _rows(*columns: torch.Tensor) -> torch.Tensor:
    return torch.stack(columns, dim=-1)


# grid_sample's padding modes that fix out-of-range corners as Keras's fill modes do.
_GRID_PADDING = {"reflect": "reflection", "constant": "zeros", "nearest": "border"}


def warp(images: torch.Tensor, transform: torch.Tensor, interpolation: str, fill_mode: str, fill_value: float,
         data_format: str) -> torch.Tensor:
    """Float `images` (3-D or 4-D) warped by `(batch, 8)` output-to-input affine rows.

    Bilinear sampling with 'reflect', 'constant' or 'nearest' fill goes through
    `torch.nn.functional.grid_sample` (one fused kernel): with `align_corners=False` its
    'reflection' mirrors about the pixel edges (d c b a | a b c d), 'zeros' drops each
    out-of-range corner and 'border' clamps, which is what Keras does corner by corner,
    so the pixels agree with Keras's to float32 rounding of the normalized grid (a few
    1e-6 of the value range for small images). 'wrap' fill and nearest interpolation
    (where a rounding tie could flip) use `kerasish.ops.image.affine_transform`, Keras's
    own corner rule, which gives Keras's pixels exactly.
    """
    if interpolation != "bilinear" or fill_mode not in _GRID_PADDING:
        return ops_image.affine_transform(images, transform[0] if images.dim() == 3 else transform,
                                          interpolation=interpolation, fill_mode=fill_mode, fill_value=fill_value,
                                          data_format=data_format)
    single = images.dim() == 3
    x = images.unsqueeze(0) if single else images
    nchw = x.permute(0, 3, 1, 2) if data_format == "channels_last" else x
    _, _, height, width = nchw.shape
    a0, a1, a2, b0, b1, b2 = transform.to(nchw.dtype)[:, :6].unsqueeze(-1).unsqueeze(-1).unbind(1)
    cols = torch.arange(width, dtype=nchw.dtype, device=nchw.device).reshape(1, 1, width)
    rows = torch.arange(height, dtype=nchw.dtype, device=nchw.device).reshape(1, height, 1)
    x_in = a0 * cols + a1 * rows + a2
    y_in = b0 * cols + b1 * rows + b2
    # Pixel centres to grid_sample's [-1, 1] (align_corners=False: -1 is the left edge of pixel 0).
    grid = torch.stack([(2.0 * x_in + 1.0) / width - 1.0, (2.0 * y_in + 1.0) / height - 1.0], dim=-1)
    shift = fill_mode == "constant" and fill_value != 0
    if shift:  # zeros padding around (images - fill) + fill is fill_value padding
        nchw = nchw - fill_value
    out = torch.nn.functional.grid_sample(nchw, grid, mode="bilinear", padding_mode=_GRID_PADDING[fill_mode],
                                          align_corners=False)
    if shift:
        out = out + fill_value
    out = out.permute(0, 2, 3, 1) if data_format == "channels_last" else out
    return out.squeeze(0) if single else out


# ----------------------------------------------------------------- RandomFlip
class RandomFlip(BaseImagePreprocessingLayer):
    """Flips images at random in training: each image is flipped with probability 1/2.

    As in Keras, 'horizontal_and_vertical' draws ONE coin per image: a flipped image is
    flipped along both axes (a half turn), an unflipped one along neither.

    Args:
        mode: 'horizontal' (left-right), 'vertical' (up-down) or
            'horizontal_and_vertical'. Defaults to `'horizontal_and_vertical'`.
        seed: an int for a reproducible sequence of flips. Defaults to `None`.
        data_format: 'channels_last' or 'channels_first'. Defaults to `None` (the config's).
        **kwargs: `name`, `dtype`, `input_shape`.

    Raises:
        ValueError: for an unknown mode or a seed that is not an int.

    Example:
        >>> layer = RandomFlip("horizontal", seed=1)
        >>> x = torch.arange(4.0).reshape(1, 1, 4, 1)
        >>> layer(x, training=True).flatten().tolist() in ([0.0, 1.0, 2.0, 3.0], [3.0, 2.0, 1.0, 0.0])
        True
    """

    _convert_input_args = False  # as Keras: inputs reach call() in their own dtype

    # Symbolic calls trace the (inference) call on zeros: integer inputs give a float output spec.
    _infer_by_tracing = True

    def __init__(self, mode: str = "horizontal_and_vertical", seed: Optional[int] = None,
                 data_format: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(data_format=data_format, **kwargs)
        self.mode = check_choice(mode, FLIP_MODES, "mode", "RandomFlip")
        self._make_seed_generator(seed)

    def call(self, inputs: torch.Tensor, training: Optional[bool] = None) -> torch.Tensor:
        images = self._images(inputs).to(self._float_dtype())
        if not self._active(training):
            return images
        batch = self._batch_size(images)
        generator = self._torch_generator(images.device)
        flips = torch.rand(batch, generator=generator, device=images.device) <= 0.5
        if images.dim() == 3:
            flips = flips.reshape(1, 1, 1)
        else:
            flips = flips.reshape(batch, 1, 1, 1)
        h_axis, w_axis = self._spatial_axes
        dims = {"horizontal": (w_axis,), "vertical": (h_axis,), "horizontal_and_vertical": (h_axis, w_axis)}
        return torch.where(flips, images.flip(dims[self.mode]), images)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update({"mode": self.mode, "seed": self.seed})
        return config_


# ----------------------------------------------------------------- RandomRotation
class RandomRotation(_AffineLayer):
    """Rotates images about their centre by a random angle in training.

    The angle of each image is drawn uniformly from `factor * 360` degrees: `factor=0.1`
    means up to 36 degrees either way, `factor=(-0.1, 0.2)` from -36 to 72 degrees.
    Positive angles turn the image counter-clockwise as displayed with row 0 at the top,
    as Keras does.

    Args:
        factor: a fraction of a full turn, a number f (the range [-f, f]) or a pair
            `(lower, upper)`, within [-1, 1].
        fill_mode: how points outside the image are filled: 'reflect' (d c b a | a b c d),
            'wrap', 'constant' (`fill_value`) or 'nearest'. Defaults to `'reflect'`.
        interpolation: 'bilinear' or 'nearest'. Defaults to `'bilinear'`.
        seed: an int for a reproducible sequence of rotations. Defaults to `None`.
        fill_value: the value of 'constant' fill. Defaults to `0.0`.
        data_format: 'channels_last' or 'channels_first'. Defaults to `None` (the config's).
        **kwargs: `name`, `dtype`, `input_shape`.

    Raises:
        ValueError: for a factor outside [-1, 1] or a seed that is not an int.
        NotImplementedError: for an unknown fill mode or interpolation (as Keras).

    Example:
        >>> layer = RandomRotation(0.1, seed=1)
        >>> layer(torch.rand(2, 8, 8, 3), training=True).shape
        torch.Size([2, 8, 8, 3])
    """

    def __init__(self, factor: Any, fill_mode: str = "reflect", interpolation: str = "bilinear",
                 seed: Optional[int] = None, fill_value: float = 0.0, data_format: Optional[str] = None,
                 **kwargs: Any) -> None:
        factor = parse_factor(factor, (-1, 1), "factor", "RandomRotation")
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.factor = factor

    def _transforms(self, batch: int, height: int, width: int, generator: Optional[torch.Generator],
                    device: torch.device) -> torch.Tensor:
        degrees = self._uniform((batch,), self.factor[0] * 360.0, self.factor[1] * 360.0, generator, device)
        angle = degrees * (math.pi / 180.0)
        cos, sin = torch.cos(angle), torch.sin(angle)
        cx, cy = 0.5 * (width - 1), 0.5 * (height - 1)
        zero = torch.zeros_like(angle)
        # Output (x, y) reads input R (x - c) + c, with R = [[cos, -sin], [sin, cos]].
        return _rows(cos, -sin, cx - cx * cos + cy * sin, sin, cos, cy - cx * sin - cy * cos, zero, zero)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_["factor"] = list(self.factor)
        return config_


# ----------------------------------------------------------------- RandomZoom and RandomTranslation
# RandomZoom's and RandomTranslation's factor rules: (which numbers are valid, that range in words, an example
# pair, an example number). A zoom of -1 would read the whole image from one point.
_SIGNED_RANGES = {
    "RandomZoom": (lambda v: -1.0 < v <= 1.0, "in the range (-1.0, 1.0]", "(-0.2, 0.3)",
                   "0.2 (zoom out or in by up to 20%)"),
    "RandomTranslation": (lambda v: -1.0 <= v <= 1.0, "in the range [-1.0, 1.0] (a fraction of the image size)",
                          "(-0.1, 0.2)", "0.1 (up to 10% either way)"),
}


def _signed_range(factor: Any, arg: str, layer: str) -> Tuple[float, float]:
    """A zoom's or shift's factor as floats: a number f gives (-|f|, |f|); a pair is sorted."""
    valid, expected, pair_example, number_example = _SIGNED_RANGES[layer]
    message = f"{layer}: `{arg}` must be a number, or a list of two numbers, {expected}. Received: {arg}={factor!r}."
    values = factor if isinstance(factor, (tuple, list)) else [factor]
    if isinstance(factor, (tuple, list)) and len(factor) != 2:
        raise ValueError(message + f" Example: {arg}={pair_example}.")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not valid(v):
            raise ValueError(message + f" Example: {arg}={number_example}.")
    if isinstance(factor, (tuple, list)):
        lower, upper = sorted(float(v) for v in factor)
        return lower, upper
    return -abs(float(factor)), abs(float(factor))


class RandomZoom(_AffineLayer):
    """Zooms images in or out about their centre by a random amount in training.

    Each image is scaled by `1 + z` with `z` drawn from the factor's range: a positive z
    reads a larger area (zooms OUT, the image shrinks), a negative one zooms in, as in
    Keras. Without `width_factor` both axes share the height's draw (aspect preserved).

    Args:
        height_factor: a number f (the range [-f, f]) or a pair `(lower, upper)`, within
            (-1, 1].
        width_factor: the same for the width, or None to keep the aspect ratio.
            Defaults to `None`.
        fill_mode: 'reflect', 'wrap', 'constant' or 'nearest'. Defaults to `'reflect'`.
        interpolation: 'bilinear' or 'nearest'. Defaults to `'bilinear'`.
        seed: an int for a reproducible sequence of zooms. Defaults to `None`.
        fill_value: the value of 'constant' fill. Defaults to `0.0`.
        data_format: 'channels_last' or 'channels_first'. Defaults to `None` (the config's).
        **kwargs: `name`, `dtype`, `input_shape`.

    Raises:
        ValueError: for factors outside (-1, 1] or a seed that is not an int.
        NotImplementedError: for an unknown fill mode or interpolation (as Keras).

    Example:
        >>> RandomZoom(0.2, seed=1)(torch.rand(2, 8, 8, 3), training=True).shape
        torch.Size([2, 8, 8, 3])
    """

    def __init__(self, height_factor: Any, width_factor: Any = None, fill_mode: str = "reflect",
                 interpolation: str = "bilinear", seed: Optional[int] = None, fill_value: float = 0.0,
                 data_format: Optional[str] = None, **kwargs: Any) -> None:
        height_range = _signed_range(height_factor, "height_factor", "RandomZoom")
        width_range = None if width_factor is None else _signed_range(width_factor, "width_factor", "RandomZoom")
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self._height_range, self._width_range = height_range, width_range

    def _transforms(self, batch: int, height: int, width: int, generator: Optional[torch.Generator],
                    device: torch.device) -> torch.Tensor:
        lo, hi = self._height_range
        zoom_h = self._uniform((batch,), 1.0 + lo, 1.0 + hi, generator, device)
        if self._width_range is None:
            zoom_w = zoom_h
        else:
            zoom_w = self._uniform((batch,), 1.0 + self._width_range[0], 1.0 + self._width_range[1],
                                   self._next_generator(generator, device), device)
        zero = torch.zeros_like(zoom_h)
        return _rows(zoom_w, zero, (width - 1) / 2.0 * (1.0 - zoom_w), zero, zoom_h,
                     (height - 1) / 2.0 * (1.0 - zoom_h), zero, zero)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update({"height_factor": config_value(self.height_factor),
                        "width_factor": config_value(self.width_factor)})
        return config_


# ----------------------------------------------------------------- RandomTranslation
class RandomTranslation(_AffineLayer):
    """Shifts images by a random fraction of their height and width in training.

    Each image moves down by `dy * height` and right by `dx * width` pixels, with `dy`
    and `dx` drawn from the two factors' ranges (negative values move up / left).

    Args:
        height_factor: a number f (the range [-f, f]) or a pair `(lower, upper)`, within
            [-1, 1], as a fraction of the height.
        width_factor: the same for the width.
        fill_mode: 'reflect', 'wrap', 'constant' or 'nearest'. Defaults to `'reflect'`.
        interpolation: 'bilinear' or 'nearest'. Defaults to `'bilinear'`.
        seed: an int for a reproducible sequence of shifts. Defaults to `None`.
        fill_value: the value of 'constant' fill. Defaults to `0.0`.
        data_format: 'channels_last' or 'channels_first'. Defaults to `None` (the config's).
        **kwargs: `name`, `dtype`, `input_shape`.

    Raises:
        ValueError: for factors outside [-1, 1] or a seed that is not an int.
        NotImplementedError: for an unknown fill mode or interpolation (as Keras).

    Example:
        >>> RandomTranslation(0.1, 0.1, seed=1)(torch.rand(2, 8, 8, 3), training=True).shape
        torch.Size([2, 8, 8, 3])
    """

    def __init__(self, height_factor: Any, width_factor: Any, fill_mode: str = "reflect",
                 interpolation: str = "bilinear", seed: Optional[int] = None, fill_value: float = 0.0,
                 data_format: Optional[str] = None, **kwargs: Any) -> None:
        height_range = _signed_range(height_factor, "height_factor", "RandomTranslation")
        width_range = _signed_range(width_factor, "width_factor", "RandomTranslation")
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self._height_range, self._width_range = height_range, width_range

    def _transforms(self, batch: int, height: int, width: int, generator: Optional[torch.Generator],
                    device: torch.device) -> torch.Tensor:
        dy = self._uniform((batch,), *self._height_range, generator, device) * height
        dx = self._uniform((batch,), *self._width_range, self._next_generator(generator, device), device) * width
        one, zero = torch.ones_like(dx), torch.zeros_like(dx)
        return _rows(one, zero, -dx, zero, one, -dy, zero, zero)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update({"height_factor": config_value(self.height_factor),
                        "width_factor": config_value(self.width_factor)})
        return config_


# ----------------------------------------------------------------- RandomCrop
class RandomCrop(BaseImagePreprocessingLayer):
    """Crops a random `(height, width)` window of each image in training; a centre crop at inference.

    In training, an image larger than the target along both axes gets a window at a
    random position (one per image). Otherwise, and at inference, the largest centred
    window with the target's aspect ratio is taken and resized (bilinear) to
    `(height, width)`, so the output always has the size `compute_output_shape` states.
    The output is in the layer's dtype (floatx by default).

    Deviations from Keras 3.15: Keras draws one window position for the whole batch
    (kerasish draws one per image); and Keras's inference call returns the input
    unchanged, whatever its size (contrary to its docstring and its own
    `compute_output_shape`); kerasish does what that docstring says.

    Args:
        height: the output height, a positive int.
        width: the output width, a positive int.
        seed: an int for a reproducible sequence of windows. Defaults to `None`.
        data_format: 'channels_last' or 'channels_first'. Defaults to `None` (the config's).
        **kwargs: `name`, `dtype`, `input_shape`.

    Raises:
        ValueError: for non-positive sizes or a seed that is not an int.

    Example:
        >>> RandomCrop(4, 4, seed=1)(torch.rand(2, 8, 8, 3), training=True).shape
        torch.Size([2, 4, 4, 3])
    """

    _convert_input_args = False  # as Keras: inputs reach call() in their own dtype

    # Symbolic calls trace the (inference) call on zeros: integer inputs give a float output spec.
    _infer_by_tracing = True

    def __init__(self, height: int, width: int, seed: Optional[int] = None, data_format: Optional[str] = None,
                 **kwargs: Any) -> None:
        super().__init__(data_format=data_format, **kwargs)
        self.height = check_size(height, "height", "RandomCrop")
        self.width = check_size(width, "width", "RandomCrop")
        self._make_seed_generator(seed)

    def call(self, inputs: torch.Tensor, training: Optional[bool] = None) -> torch.Tensor:
        images = self._images(inputs).to(self._float_dtype())
        in_h, in_w = (images.shape[a] for a in self._spatial_axes)
        if not (self._active(training) and in_h > self.height and in_w > self.width):
            return crop_or_resize(images, self.height, self.width, self._spatial_axes, self.data_format)
        single = images.dim() == 3
        x = images.unsqueeze(0) if single else images
        if self.data_format == "channels_first":
            x = x.permute(0, 2, 3, 1)
        batch, device = x.shape[0], x.device
        generator = self._torch_generator(device)
        top = (torch.rand(batch, generator=generator, device=device) * (in_h - self.height + 1)).long()
        left = (torch.rand(batch, generator=generator, device=device) * (in_w - self.width + 1)).long()
        rows = (top[:, None] + torch.arange(self.height, device=device)).clamp_(max=in_h - 1)
        cols = (left[:, None] + torch.arange(self.width, device=device)).clamp_(max=in_w - 1)
        index = torch.arange(batch, device=device)[:, None, None]
        out = x[index, rows[:, :, None], cols[:, None, :]]
        if self.data_format == "channels_first":
            out = out.permute(0, 3, 1, 2)
        return out.squeeze(0) if single else out

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return _with_size(input_shape, self._spatial_axes, self.height, self.width)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update({"height": self.height, "width": self.width, "seed": self.seed})
        return config_
