"""Image preprocessing layers: the shared base, and the deterministic layers Rescaling,
Resizing, CenterCrop and AutoContrast.

Images are a 3-D tensor (one image) or a 4-D batch, channels-last unless `data_format`
says 'channels_first' (None reads `kerasish.config.image_data_format()`). NumPy inputs
become tensors on the way in. Everything runs batched on the input's device with torch
ops and no host sync; the random layers (`image_augmentation`, `image_color`) build on
`BaseImagePreprocessingLayer` below.
"""

from __future__ import annotations

import numbers
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from kerasish.layers.convolutional import normalize_data_format
from kerasish.layers.layer import Layer, Shape
from kerasish.ops import image as ops_image
from kerasish.ops.dtypes import convert_to_tensor
from kerasish.random.seed_generator import SeedGenerator, make_generator
from kerasish.utils.text import did_you_mean


# ----------------------------------------------------------------- argument checks shared by the image layers
def check_choice(value: Any, valid: Sequence[str], arg: str, layer: str, error: type = ValueError) -> str:
    """`value` if it is one of `valid`; else `error` naming the value, the valid ones and the closest."""
    if isinstance(value, str) and value in valid:
        return value
    raise error(
        f"{layer}: unknown `{arg}` {value!r}. Expected one of {list(valid)}.{did_you_mean(str(value), valid)}"
    )


def check_seed(seed: Any, layer: str) -> Optional[int]:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise ValueError(f"{layer}: `seed` must be an int or None. Received: seed={seed!r}. Example: seed=1337.")
    return None if seed is None else int(seed)


def check_size(value: Any, arg: str, layer: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{layer}: `{arg}` must be a positive int. Received: {arg}={value!r}. Example: {arg}=224.")
    return int(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def parse_factor(factor: Any, bounds: Tuple[float, float], arg: str, layer: str) -> Tuple[float, float]:
    """Keras's `factor` rule: a number f gives (max(-|f|, low), |f|); a pair is sorted.

    A number must lie in `bounds`; a pair is refused only when it lies wholly outside them
    (Keras's own check, so `(-0.3, 0.3)` passes for bounds (0, 1)).
    """
    low, high = bounds
    message = (
        f"{layer}: `{arg}` must be a number, or a list of two numbers, in the range [{low}, {high}]. "
        f"Received: {arg}={factor!r}."
    )
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or not all(_is_number(f) for f in factor):
            raise ValueError(message + f" Example: {arg}=({low}, {high}) or {arg}={high}.")
        if factor[0] > high or factor[1] < low:
            raise ValueError(message + " Put the pair inside that range.")
        lower, upper = sorted(factor)  # the numbers as given (Keras's config keeps 0 an int)
        return lower, upper
    if not _is_number(factor):
        raise ValueError(message + f" Example: {arg}={high}.")
    if not low <= factor <= high:
        raise ValueError(message + " Pick a value inside that range.")
    magnitude = abs(factor)
    return max(-magnitude, low), magnitude


def parse_unit_range(factor: Any, arg: str, layer: str, signed: bool = False) -> Tuple[float, float]:
    """A number f in [0, 1], or a pair, as the range to draw from: a pair is sorted.

    Unsigned (Solarization's rule) a number gives (0, f) and a pair lies within [0, 1];
    signed (RandomShear's rule, whose sign is drawn at random) a number gives (-f, f) and a
    pair lies within [-1, 1].
    """
    if signed:
        expected, pair_example, number_example, why = (
            "a number in the range [0, 1], or a list of two numbers in [-1, 1]", "(0.1, 0.3)", 0.2,
            " (the sign is drawn at random)")
    else:
        expected, pair_example, number_example, why = (
            "a number, or a list of two numbers, in the range [0, 1]", "(0.2, 0.5)", 0.5, "")
    message = f"{layer}: `{arg}` must be {expected}. Received: {arg}={factor!r}."
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or not all(_is_number(f) for f in factor):
            raise ValueError(message + f" Example: {arg}={pair_example} or {arg}={number_example}.")
        if not all((-1 if signed else 0) <= f <= 1 for f in factor):
            raise ValueError(message + f" Put both numbers inside that range{why}.")
        lower, upper = sorted(factor)
        return lower, upper
    if not _is_number(factor):
        raise ValueError(message + f" Example: {arg}={number_example}.")
    if not 0 <= factor <= 1:
        raise ValueError(message + " Pick a value inside that range.")
    return (-abs(factor), abs(factor)) if signed else (0, factor)


def parse_value_range(value_range: Any, layer: str) -> Tuple[float, float]:
    if (not isinstance(value_range, (tuple, list)) or len(value_range) != 2
            or not all(_is_number(v) for v in value_range)):
        raise ValueError(
            f"{layer}: `value_range` must be a list of two numbers, the range of the input values. "
            f"Received: value_range={value_range!r}. Example: value_range=(0, 255), or (0, 1) for scaled images."
        )
    low, high = sorted(value_range)
    return low, high


def config_value(value: Any) -> Any:
    """A factor as `get_config` writes it: a tuple becomes a list (JSON has lists only), the rest as given."""
    return list(value) if isinstance(value, tuple) else value


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return value


# ----------------------------------------------------------------- base
class BaseImagePreprocessingLayer(Layer):
    """The base of kerasish's image layers: data format, rank checks and the seeded generator.

    Subclasses implement `call(inputs, training=None)`. A random layer sets `self.seed`
    and owns `self.generator`, a `kerasish.random.SeedGenerator` (its state is in the
    layer's `state_dict`, so a resumed run continues the same sequence); each training
    call advances it once and draws every random number of the batch from it, on the
    images' device.

    Args:
        data_format: 'channels_last' (`(batch, height, width, channels)`) or
            'channels_first'. Defaults to `None` (`kerasish.config.image_data_format()`).
        **kwargs: `name`, `dtype`, `input_shape`, `trainable`.
    """

    supports_masking = False

    def __init__(self, data_format: Optional[str] = None, **kwargs: Any) -> None:
        if kwargs.pop("bounding_box_format", None) is not None:
            raise NotImplementedError(
                f"{type(self).__name__}: `bounding_box_format` is not supported; kerasish's image layers transform "
                "images only (no bounding boxes, labels or segmentation masks). Leave bounding_box_format=None "
                "and pass the images tensor."
            )
        super().__init__(**kwargs)
        self.data_format = normalize_data_format(data_format, type(self).__name__)
        self.built = True

    # ------------------------------------------------------------ helpers for subclasses
    @property
    def _spatial_axes(self) -> Tuple[int, int]:
        return (-3, -2) if self.data_format == "channels_last" else (-2, -1)

    @property
    def _channel_axis(self) -> int:
        return -1 if self.data_format == "channels_last" else -3

    @staticmethod
    def _batch_size(images: torch.Tensor) -> int:
        """The number of images: the batch axis of a 4-D batch, 1 for a single (3-D) image."""
        return images.shape[0] if images.dim() == 4 else 1

    def _images(self, inputs: Any) -> torch.Tensor:
        """`inputs` as a 3-D or 4-D tensor, or a ValueError that names the received shape."""
        if isinstance(inputs, dict):
            raise ValueError(
                f"{type(self).__name__} received a dict with keys {sorted(inputs)}; kerasish's image layers take "
                "the images tensor only (no bounding boxes, labels or segmentation masks). Pass inputs['images']."
            )
        x = inputs if isinstance(inputs, torch.Tensor) else convert_to_tensor(inputs)
        if x.dim() not in (3, 4):
            layout = "(height, width, channels)" if self.data_format == "channels_last" else \
                "(channels, height, width)"
            raise ValueError(
                f"{type(self).__name__} expects images of rank 3 {layout} or rank 4 (a batch of them). "
                f"Received: inputs.shape={tuple(x.shape)}. Add or remove the batch axis to match."
            )
        return x

    def _float_dtype(self) -> torch.dtype:
        """The layer's compute dtype (Keras casts images to it): the policy's, else `dtype` (floatx)."""
        return self._compute_dtype or getattr(torch, self.dtype)

    def _make_seed_generator(self, seed: Optional[int]) -> None:
        self.seed = check_seed(seed, type(self).__name__)
        self.generator = SeedGenerator(self.seed)
        # Keras's augmentation layers default to training=True: a direct call augments, as
        # `data_augmentation(images)` does in Keras's tutorials. They start in train mode, so
        # `layer.eval()` / `model.eval()` (or training=False, which predict passes) turns them off.
        self.train(True)

    def _torch_generator(self, device: torch.device) -> Optional[torch.Generator]:
        """A generator for this call's draws on `device`; the layer's sequence advances once."""
        return make_generator(self.generator, device)

    def _next_generator(self, generator: Optional[torch.Generator], device: torch.device) -> Optional[torch.Generator]:
        """The generator of a call's next draw. Keras seeds each draw afresh from the layer's seed
        generator, which advances, so a second draw (a zoom's width, a shift's x) is not the
        continuation of the first draw's stream. None (shape inference) stays None."""
        return None if generator is None else self._torch_generator(device)

    def _uniform(self, shape: Tuple[int, ...], low: float, high: float, generator: Optional[torch.Generator],
                 device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        u = torch.rand(shape, generator=generator, device=device, dtype=dtype)
        return u * (high - low) + low

    @staticmethod
    def _random_sign(batch: int, generator: Optional[torch.Generator], device: torch.device,
                     dtype: Optional[torch.dtype] = None) -> torch.Tensor:
        """`batch` signs, -1.0 or 1.0 with equal odds, from uniform draws made in `dtype` (None: torch's
        default dtype)."""
        u = torch.rand(batch, generator=generator, device=device, dtype=dtype)
        return torch.where(u > 0.5, -1.0, 1.0)

    def _constant(self, name: str, dtype: torch.dtype, device: torch.device, make: Any) -> torch.Tensor:
        """The tensor `make(dtype, device)`, made once per name, dtype and device and then reused
        (a constant built on every call would cost a kernel, or a copy from the host, per batch)."""
        cache = self.__dict__.setdefault("_constant_cache", {})
        key = (name, dtype, device)
        if key not in cache:
            # A normal tensor even when first made during predict (inference_mode): an inference tensor
            # cannot be saved for backward, so the next fit would fail.
            with torch.inference_mode(False):
                cache[key] = make(dtype, device)
        return cache[key]

    def _active(self, training: Optional[bool]) -> bool:
        # fit passes True, evaluate/predict False; a direct call follows the module's mode:
        # train for the random layers (Keras's training=True default) until someone calls .eval().
        return self.training if training is None else bool(training)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_["data_format"] = self.data_format
        return config_


# ----------------------------------------------------------------- Rescaling
class Rescaling(Layer):
    """Multiplies the inputs by `scale` and adds `offset`, in training and inference alike.

    `scale=1/255` maps [0, 255] to [0, 1]; `scale=1/127.5, offset=-1` maps it to [-1, 1].
    Integer inputs give float outputs (the layer's dtype). A list of scales (one per
    channel) is laid along the last axis, or along the channel axis of 3-D channels-first
    images when `kerasish.config.image_data_format()` is 'channels_first', as Keras does.

    Args:
        scale: a number, or a list/array of numbers broadcast against the inputs.
        offset: a number or list/array added after scaling. Defaults to `0.0`.
        **kwargs: `name`, `dtype`, `input_shape`.

    Raises:
        ValueError: for a scale or offset that is not numeric.

    Example:
        >>> Rescaling(1 / 255)(torch.full((1, 2, 2, 3), 255.0)).max().item()
        1.0
    """

    supports_masking = True
    # Symbolic calls run the layer on zeros, so an integer Input gives a float output spec.
    _infer_by_tracing = True

    def __init__(self, scale: Any, offset: Any = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for arg, value in (("scale", scale), ("offset", offset)):
            array = np.asarray(value) if not isinstance(value, torch.Tensor) else value.detach().cpu().numpy()
            if array.dtype.kind not in "biuf":
                raise ValueError(
                    f"Rescaling: `{arg}` must be a number or a list of numbers. Received: {arg}={value!r}. "
                    f"Example: Rescaling(scale=1/255, offset=0.0)."
                )
        self.scale = scale
        self.offset = offset
        self._tensors: Dict[Tuple[torch.device, torch.dtype], Tuple[Any, Any]] = {}
        self.built = True

    def _constants(self, device: torch.device, dtype: torch.dtype) -> Tuple[Any, Any]:
        key = (device, dtype)
        if key not in self._tensors:  # built once per device and dtype, not per batch
            from kerasish import config

            values = []
            for value in (self.scale, self.offset):
                if _is_number(value):
                    values.append(float(value))
                    continue
                with torch.inference_mode(False):  # a normal tensor even when first made during predict
                    t = torch.as_tensor(np.asarray(value), dtype=dtype, device=device)
                if t.dim() > 0 and config.image_data_format() == "channels_first":
                    t = t.reshape(tuple(t.shape) + (1,) * (3 - t.dim()))
                values.append(t)
            self._tensors[key] = (values[0], values[1])
        return self._tensors[key]

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        dtype = self._compute_dtype or getattr(torch, self.dtype)
        x = inputs.to(dtype)
        scale, offset = self._constants(x.device, dtype)
        return x * scale + offset

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update({"scale": _jsonable(self.scale), "offset": _jsonable(self.offset)})
        return config_


# ----------------------------------------------------------------- Resizing
class Resizing(BaseImagePreprocessingLayer):
    """Resizes images to `(height, width)`, optionally keeping their aspect ratio.

    With `crop_to_aspect_ratio=True` the largest centred window of the target aspect
    ratio is resized (no distortion, the edges are lost); with `pad_to_aspect_ratio=True`
    the images are first padded evenly with `fill_value` to that ratio. The output keeps
    the input's dtype (integers are rounded and clipped). Bilinear, bicubic and nearest
    use `torch.nn.functional.interpolate` with half-pixel centres as Keras's torch
    backend does; the Lanczos kernels follow Keras's JAX backend (its torch backend
    refuses them).

    Args:
        height: the output height, a positive int.
        width: the output width, a positive int.
        interpolation: 'bilinear', 'nearest', 'bicubic', 'lanczos3' or 'lanczos5'.
            Defaults to `'bilinear'`.
        crop_to_aspect_ratio: crop to the target aspect ratio before resizing.
            Defaults to `False`.
        pad_to_aspect_ratio: pad to the target aspect ratio before resizing.
            Defaults to `False`.
        fill_mode: how padding is filled; only 'constant' exists. Defaults to `'constant'`.
        fill_value: the value of the padding. Defaults to `0.0`.
        antialias: low-pass filter when downsampling (bilinear and bicubic).
            Defaults to `False`.
        data_format: 'channels_last' or 'channels_first'. Defaults to `None` (the config's).
        **kwargs: `name`, `dtype`, `input_shape`.

    Raises:
        ValueError: for non-positive sizes, an unknown interpolation or fill mode, or both
            aspect-ratio options at once.

    Example:
        >>> Resizing(4, 6)(torch.rand(2, 8, 12, 3)).shape
        torch.Size([2, 4, 6, 3])
    """

    def __init__(self, height: int, width: int, interpolation: str = "bilinear", crop_to_aspect_ratio: bool = False,
                 pad_to_aspect_ratio: bool = False, fill_mode: str = "constant", fill_value: float = 0.0,
                 antialias: bool = False, data_format: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(data_format=data_format, **kwargs)
        self.height = check_size(height, "height", "Resizing")
        self.width = check_size(width, "width", "Resizing")
        self.interpolation = check_choice(interpolation, ops_image.RESIZE_INTERPOLATIONS, "interpolation", "Resizing")
        self.fill_mode = check_choice(fill_mode, ("constant",), "fill_mode", "Resizing")
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError(
                "Resizing: `crop_to_aspect_ratio` and `pad_to_aspect_ratio` cannot both be True. Received: "
                "crop_to_aspect_ratio=True, pad_to_aspect_ratio=True. Pick one."
            )
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        self.fill_value = fill_value
        self.antialias = bool(antialias)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        images = self._images(inputs)
        return ops_image.resize(
            images, (self.height, self.width), interpolation=self.interpolation, antialias=self.antialias,
            crop_to_aspect_ratio=self.crop_to_aspect_ratio, pad_to_aspect_ratio=self.pad_to_aspect_ratio,
            fill_mode=self.fill_mode, fill_value=self.fill_value, data_format=self.data_format,
        )

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return _with_size(input_shape, self._spatial_axes, self.height, self.width)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update({
            "height": self.height, "width": self.width, "interpolation": self.interpolation,
            "crop_to_aspect_ratio": self.crop_to_aspect_ratio, "pad_to_aspect_ratio": self.pad_to_aspect_ratio,
            "fill_mode": self.fill_mode, "fill_value": self.fill_value, "antialias": self.antialias,
        })
        return config_


def _with_size(input_shape: Shape, axes: Tuple[int, int], height: int, width: int) -> Shape:
    shape = list(input_shape)
    if len(shape) not in (3, 4):
        raise ValueError(
            f"Image layers take input shapes of rank 3 (one image) or 4 (a batch). Received: "
            f"input_shape={tuple(input_shape)}."
        )
    shape[axes[0]], shape[axes[1]] = height, width
    return tuple(shape)


def center_window(height: int, width: int, target_height: int, target_width: int) -> Tuple[int, int, int, int]:
    """(top, left, crop height, crop width) of the largest centred window with the target aspect ratio."""
    crop_h = max(min(height, int(width * target_height / target_width)), 1)
    crop_w = max(min(width, int(height * target_width / target_height)), 1)
    return (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w


def crop_or_resize(images: torch.Tensor, height: int, width: int, axes: Tuple[int, int],
                   data_format: str) -> torch.Tensor:
    """The largest centred window of the target aspect ratio, resized (bilinear) to (height, width)."""
    in_h, in_w = images.shape[axes[0]], images.shape[axes[1]]
    top, left, crop_h, crop_w = center_window(in_h, in_w, height, width)
    window = images.narrow(images.dim() + axes[0], top, crop_h).narrow(images.dim() + axes[1], left, crop_w)
    if (crop_h, crop_w) == (height, width):
        return window
    return ops_image.resize(window, (height, width), data_format=data_format)


# ----------------------------------------------------------------- CenterCrop
class CenterCrop(BaseImagePreprocessingLayer):
    """Crops the centre `(height, width)` window of each image, in training and inference.

    An image smaller than the target along either axis is instead cropped to the target's
    aspect ratio and resized (bilinear) to it, as Keras does. The output is in the layer's
    dtype (floatx by default).

    Args:
        height: the output height, a positive int.
        width: the output width, a positive int.
        data_format: 'channels_last' or 'channels_first'. Defaults to `None` (the config's).
        **kwargs: `name`, `dtype`, `input_shape`.

    Raises:
        ValueError: for non-positive sizes or inputs that are not rank 3 or 4.

    Example:
        >>> CenterCrop(2, 2)(torch.rand(1, 4, 4, 3)).shape
        torch.Size([1, 2, 2, 3])
    """

    _infer_by_tracing = True  # float output spec for integer inputs (see Rescaling)

    def __init__(self, height: int, width: int, data_format: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(data_format=data_format, **kwargs)
        self.height = check_size(height, "height", "CenterCrop")
        self.width = check_size(width, "width", "CenterCrop")

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        images = self._images(inputs).to(self._float_dtype())
        h_axis, w_axis = (images.dim() + a for a in self._spatial_axes)
        dh, dw = images.shape[h_axis] - self.height, images.shape[w_axis] - self.width
        if dh >= 0 and dw >= 0:
            return images.narrow(h_axis, dh // 2, self.height).narrow(w_axis, dw // 2, self.width)
        return crop_or_resize(images, self.height, self.width, self._spatial_axes, self.data_format)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return _with_size(input_shape, self._spatial_axes, self.height, self.width)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update({"height": self.height, "width": self.width})
        return config_


# ----------------------------------------------------------------- AutoContrast
class AutoContrast(BaseImagePreprocessingLayer):
    """Stretches each channel of each image so its values span the whole `value_range`.

    The darkest value of a channel maps to `value_range[0]` and the brightest to
    `value_range[1]`; a constant channel is left unchanged. It runs in training and
    inference. The output is in the layer's dtype (floatx by default), as in Keras.
    Deviation: Keras reduces over axes (1, 2) whatever the data format; kerasish reduces
    over the spatial axes, so channels-first batches are stretched per channel too.

    Args:
        value_range: the range of the input values, `[low, high]`. Defaults to `(0, 255)`.
        data_format: 'channels_last' or 'channels_first'. Defaults to `None` (the config's).
        **kwargs: `name`, `dtype`, `input_shape`.

    Raises:
        ValueError: for a `value_range` that is not two numbers.

    Example:
        >>> x = torch.tensor([[[[50.0], [100.0]]]])
        >>> AutoContrast()(x).flatten().tolist()
        [0.0, 255.0]
    """

    _infer_by_tracing = True  # float output spec for integer inputs (see Rescaling)

    def __init__(self, value_range: Sequence[float] = (0, 255), data_format: Optional[str] = None,
                 **kwargs: Any) -> None:
        super().__init__(data_format=data_format, **kwargs)
        self.value_range = parse_value_range(value_range, "AutoContrast")

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        x = self._images(inputs)
        dtype = self._float_dtype()
        images = x.to(dtype)
        axes = tuple(images.dim() + a for a in self._spatial_axes)
        low = torch.amin(images, dim=axes, keepdim=True)
        high = torch.amax(images, dim=axes, keepdim=True)
        span = high - low
        flat = span == 0
        # Stretch to [low, high] of value_range directly: (x - min) / (max - min) * range + range_low.
        scale = (self.value_range[1] - self.value_range[0]) / torch.where(flat, torch.ones_like(span), span)
        out = ((images - low) * scale + self.value_range[0]).clamp(self.value_range[0], self.value_range[1])
        return torch.where(flat, images, out)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_["value_range"] = list(self.value_range)
        return config_
