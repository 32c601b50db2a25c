"""Keras ops, image namespace: `kerasish.ops.image.<name>` as `keras.ops.image.<name>`.

Images are 3-D (one image) or 4-D (a batch), channels-last unless `data_format` says
'channels_first' (None reads `kerasish.config.image_data_format()`, 'channels_last' by
default as in Keras). Results keep the input's dtype as Keras's torch backend does;
integer images are computed in float and rounded back where Keras rounds. Everything
runs batched on the input's device with no host sync (the augmentation layers are
built on these ops).

This module holds color conversion, resizing, padding and cropping, patches and the
filters; `image_geometry` holds the resampling ops (map_coordinates, affine,
perspective, elastic, scale_and_translate), re-exported here.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

from kerasish.ops.dtypes import convert_to_tensor, result_type, standardize_dtype, to_torch_dtype
from kerasish.ops.image_geometry import (  # noqa: F401 - re-exported ops
    affine_transform,
    elastic_transform,
    map_coordinates,
    perspective_transform,
    scale_and_translate,
)
from kerasish.ops.image_geometry import choice as _choice
from kerasish.ops.image_geometry import depthwise_blur as _depthwise_blur
from kerasish.ops.image_geometry import from_nhwc as _from_nhwc
from kerasish.ops.image_geometry import gaussian_kernel_1d as _gaussian_1d
from kerasish.ops.image_geometry import image_data_format as _data_format
from kerasish.ops.image_geometry import image_input as _image_input
from kerasish.ops.image_geometry import to_nhwc as _to_nhwc
from kerasish.ops.operation import op

IntOrTuple = Union[int, Sequence[int]]
RESIZE_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "lanczos3", "lanczos5")
_TORCH_MODES = {"bilinear": "bilinear", "nearest": "nearest-exact", "bicubic": "bicubic"}


def _channel_axis(data_format: str) -> int:
    return -1 if data_format == "channels_last" else -3


# ----------------------------------------------------------------- color
@op("image")
def rgb_to_grayscale(images: Any, data_format: Optional[str] = None) -> torch.Tensor:
    """Luma `0.2989 R + 0.587 G + 0.114 B` as one channel (one-channel images are copied); input dtype kept."""
    data_format = _data_format(data_format, "rgb_to_grayscale")
    x = _image_input(images, "rgb_to_grayscale")
    axis = _channel_axis(data_format)
    if x.shape[axis] not in (1, 3):
        raise ValueError(
            f"ops.image.rgb_to_grayscale: images must have 3 (RGB) or 1 (grayscale) channels on axis {axis} "
            f"for data_format={data_format!r}, received shape {tuple(x.shape)}. Check data_format."
        )
    if x.shape[axis] == 1:
        return x.clone()
    r, g, b = x.unbind(axis)
    # Integer images truncate back to their dtype, as Keras's torch backend does.
    return (0.2989 * r + 0.587 * g + 0.114 * b).to(x.dtype).unsqueeze(axis)


def _three_float_channels(images: Any, data_format: Optional[str], name: str) -> Tuple[torch.Tensor, int]:
    data_format = _data_format(data_format, name)
    x = _image_input(images, name)
    if not x.is_floating_point():
        raise ValueError(
            f"ops.image.{name} expects float images (values in [0, 1]), received dtype "
            f"{standardize_dtype(x.dtype)}. Cast first: ops.cast(images, 'float32') / 255."
        )
    axis = _channel_axis(data_format)
    if x.shape[axis] != 3:
        raise ValueError(
            f"ops.image.{name}: images must have 3 channels on axis {axis} for data_format={data_format!r}, "
            f"received shape {tuple(x.shape)}. Check data_format."
        )
    return x, axis


@op("image")
def rgb_to_hsv(images: Any, data_format: Optional[str] = None) -> torch.Tensor:
    """RGB in [0, 1] to HSV in [0, 1] (hue as a fraction of the turn); float images only."""
    x, axis = _three_float_channels(images, data_format, "rgb_to_hsv")
    x = torch.where(x.abs() < torch.finfo(x.dtype).eps, torch.zeros_like(x), x)
    r, g, b = x.unbind(axis)
    value = torch.maximum(torch.maximum(r, g), b)
    spread = value - torch.minimum(torch.minimum(r, g), b)
    positive = value > 0
    saturation = torch.where(positive, spread / torch.where(positive, value, torch.ones_like(value)), 0.0)
    sixth = 1.0 / (6.0 * torch.where(spread > 0, spread, torch.ones_like(spread)))
    hue = torch.where(value == g, sixth * (b - r) + 2.0 / 6.0, sixth * (r - g) + 4.0 / 6.0)
    hue = torch.where(value == r, sixth * (g - b), hue)
    hue = torch.where(spread > 0, hue, 0.0) + (hue < 0).to(hue.dtype)
    return torch.stack([hue, saturation, value], dim=axis)


@op("image")
def hsv_to_rgb(images: Any, data_format: Optional[str] = None) -> torch.Tensor:
    """HSV in [0, 1] back to RGB in [0, 1]; float images only."""
    x, axis = _three_float_channels(images, data_format, "hsv_to_rgb")
    hue, saturation, value = x.unbind(axis)
    h6 = torch.remainder(hue, 1.0) * 6.0
    ramps = ((h6 - 3.0).abs() - 1.0, 2.0 - (h6 - 2.0).abs(), 2.0 - (h6 - 4.0).abs())
    grey = 1.0 - saturation
    return torch.stack([value * (grey + saturation * ramp.clamp(0.0, 1.0)) for ramp in ramps], dim=axis)


# ----------------------------------------------------------------- resize
def _aspect_crop(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """The centred window of NCHW `x` with the target aspect ratio (at least one pixel)."""
    height, width = x.shape[-2:]
    crop_h = max(min(height, int(width * size[0] / size[1])), 1)
    crop_w = max(min(width, int(height * size[1] / size[0])), 1)
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    return x[..., top:top + crop_h, left:left + crop_w]


def _aspect_pad(x: torch.Tensor, size: Tuple[int, int], fill_value: float) -> torch.Tensor:
    """NCHW `x` padded evenly on its short side towards the target aspect ratio (same margin both sides)."""
    height, width = x.shape[-2:]
    top = (max(height, int(width * size[0] / size[1])) - height) // 2
    left = (max(width, int(height * size[1] / size[0])) - width) // 2
    if top == 0 and left == 0:
        return x
    return F.pad(x, (left, left, top, top), value=float(fill_value))


@op("image")
def resize(images: Any, size: Sequence[int], interpolation: str = "bilinear", antialias: bool = False,
           crop_to_aspect_ratio: bool = False, pad_to_aspect_ratio: bool = False, fill_mode: str = "constant",
           fill_value: float = 0.0, data_format: Optional[str] = None) -> torch.Tensor:
    """Resizes images to `size` (height, width) by 'bilinear', 'nearest', 'bicubic', 'lanczos3' or 'lanczos5'.

    Non-float32/64 images are resized in float32 and cast back (integers rounded and
    clipped to their range). Keras's torch backend refuses the Lanczos kernels; kerasish
    computes them as Keras's JAX backend does (`scale_and_translate` with scale out/in).
    """
    interpolation = _choice(interpolation, RESIZE_INTERPOLATIONS, "interpolation", "resize")
    data_format = _data_format(data_format, "resize")
    if fill_mode != "constant":
        raise ValueError(
            f"ops.image.resize: fill_mode must be 'constant' (the only mode Keras supports), received "
            f"fill_mode={fill_mode!r}."
        )
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("ops.image.resize: pass at most one of crop_to_aspect_ratio=True and "
                         "pad_to_aspect_ratio=True.")
    try:
        size = tuple(int(s) for s in size)
    except (TypeError, ValueError):
        size = ()
    if len(size) != 2 or min(size) <= 0:
        raise ValueError(f"ops.image.resize: size must be 2 positive ints (height, width), received size={size!r}.")
    x = _image_input(images, "resize")
    dtype = x.dtype
    nchw, single = _to_nhwc(x, data_format)
    nchw = nchw.permute(0, 3, 1, 2)
    if dtype not in (torch.float32, torch.float64):
        nchw = nchw.to(torch.float32)
    if crop_to_aspect_ratio:
        nchw = _aspect_crop(nchw, size)
    elif pad_to_aspect_ratio:
        nchw = _aspect_pad(nchw, size, fill_value)
    if interpolation.startswith("lanczos"):
        height, width = nchw.shape[-2:]
        dims = [(d, n, m) for d, n, m in ((2, size[0], height), (3, size[1], width)) if n != m]
        shape = (*nchw.shape[:2], *size)
        scale = [n / m for _, n, m in dims]
        out = scale_and_translate(nchw, shape, torch.tensor(scale, device=nchw.device),
                                  torch.zeros(len(dims), device=nchw.device), [d for d, _, _ in dims],
                                  interpolation, antialias)
    else:
        smooth = interpolation in ("bilinear", "bicubic")
        out = F.interpolate(nchw, size=size, mode=_TORCH_MODES[interpolation],
                            align_corners=False if smooth else None, antialias=bool(antialias) and smooth)
    if not dtype.is_floating_point:
        info = torch.iinfo(dtype)
        out = torch.round(out).clamp(info.min, info.max)
    return _from_nhwc(out.permute(0, 2, 3, 1).to(dtype), data_format, single)


# ----------------------------------------------------------------- pad and crop
def _two_of_three(values: List[Optional[int]], names: List[str], name: str) -> None:
    if values.count(None) != 1:
        given = ", ".join(f"{n}={v!r}" for n, v in zip(names, values))
        raise ValueError(f"ops.image.{name}: give exactly two of {', '.join(names)}; received {given}.")
    for n, v in zip(names, values):
        if v is not None and v < 0:
            raise ValueError(f"ops.image.{name}: {n} must be >= 0, received {n}={v!r}.")


def _height_width(x: torch.Tensor, data_format: str) -> Tuple[int, int]:
    return (x.shape[-3], x.shape[-2]) if data_format == "channels_last" else (x.shape[-2], x.shape[-1])


@op("image")
def pad_images(images: Any, top_padding: Optional[int] = None, left_padding: Optional[int] = None,
               bottom_padding: Optional[int] = None, right_padding: Optional[int] = None,
               target_height: Optional[int] = None, target_width: Optional[int] = None,
               data_format: Optional[str] = None) -> torch.Tensor:
    """Pads images with zeros; give two of (top, bottom, target_height) and two of (left, right, target_width)."""
    data_format = _data_format(data_format, "pad_images")
    x = _image_input(images, "pad_images")
    _two_of_three([top_padding, bottom_padding, target_height], ["top_padding", "bottom_padding", "target_height"],
                  "pad_images")
    _two_of_three([left_padding, right_padding, target_width], ["left_padding", "right_padding", "target_width"],
                  "pad_images")
    height, width = _height_width(x, data_format)
    top = top_padding if top_padding is not None else target_height - bottom_padding - height
    bottom = bottom_padding if bottom_padding is not None else target_height - top - height
    left = left_padding if left_padding is not None else target_width - right_padding - width
    right = right_padding if right_padding is not None else target_width - left - width
    for arg, value in (("top_padding", top), ("bottom_padding", bottom), ("left_padding", left),
                       ("right_padding", right)):
        if value < 0:
            raise ValueError(
                f"ops.image.pad_images: the target size is smaller than the images ({height}x{width}), which "
                f"leaves {arg}={value}. Use ops.image.crop_images to make images smaller."
            )
    pads = (0, 0, left, right, top, bottom) if data_format == "channels_last" else (left, right, top, bottom)
    return F.pad(x, pads)


@op("image")
def crop_images(images: Any, top_cropping: Optional[int] = None, left_cropping: Optional[int] = None,
                bottom_cropping: Optional[int] = None, right_cropping: Optional[int] = None,
                target_height: Optional[int] = None, target_width: Optional[int] = None,
                data_format: Optional[str] = None) -> torch.Tensor:
    """Crops images; give two of (top, bottom, target_height) and two of (left, right, target_width).

    A crop larger than the image raises (Keras's torch backend silently returns a smaller one).
    """
    data_format = _data_format(data_format, "crop_images")
    x = _image_input(images, "crop_images")
    _two_of_three([top_cropping, bottom_cropping, target_height],
                  ["top_cropping", "bottom_cropping", "target_height"], "crop_images")
    _two_of_three([left_cropping, right_cropping, target_width],
                  ["left_cropping", "right_cropping", "target_width"], "crop_images")
    height, width = _height_width(x, data_format)
    top = top_cropping if top_cropping is not None else height - target_height - bottom_cropping
    out_h = target_height if target_height is not None else height - top - bottom_cropping
    left = left_cropping if left_cropping is not None else width - target_width - right_cropping
    out_w = target_width if target_width is not None else width - left - right_cropping
    if top < 0 or out_h < 0 or top + out_h > height or left < 0 or out_w < 0 or left + out_w > width:
        raise ValueError(
            f"ops.image.crop_images: the crop (top={top}, height={out_h}, left={left}, width={out_w}) does not "
            f"fit in images of height {height} and width {width}. Reduce the cropping or the target size."
        )
    h_axis = x.dim() - (3 if data_format == "channels_last" else 2)
    return x.narrow(h_axis, top, out_h).narrow(h_axis + 1, left, out_w)


# ----------------------------------------------------------------- patches
def _ints(value: IntOrTuple, n: int, arg: str, name: str) -> Tuple[int, ...]:
    items = (value,) * n if isinstance(value, int) and not isinstance(value, bool) else value
    try:
        items = tuple(int(v) for v in items)
    except (TypeError, ValueError):
        items = ()
    if len(items) != n or min(items) < 1:
        raise ValueError(f"ops.image.{name}: {arg} must be a positive int or {n} positive ints, received "
                         f"{arg}={value!r}.")
    return items


def _patches(x: torch.Tensor, size: Tuple[int, ...], strides: Any, dilation_rate: Any, padding: str,
             data_format: str, name: str) -> torch.Tensor:
    """Patches of the n spatial axes of `x` (batched or not), flattened in (*patch, channels) order."""
    n = len(size)
    padding = _choice(padding.lower() if isinstance(padding, str) else padding, ("valid", "same"), "padding", name)
    strides = _ints(size if strides is None else strides, n, "strides", name)
    dilation = _ints(dilation_rate, n, "dilation_rate", name)
    single = x.dim() == n + 1
    if single:
        x = x.unsqueeze(0)
    if data_format == "channels_first":
        x = x.movedim(1, -1)
    effective = [(k - 1) * d + 1 for k, d in zip(size, dilation)]
    spatial = x.shape[1:-1]
    if padding == "same":
        pads = []
        for length, k, s in zip(spatial, effective, strides):
            total = max((-(-length // s) - 1) * s + k - length, 0)
            pads.append((total // 2, total - total // 2))
        x = F.pad(x, [0, 0] + [p for pair in reversed(pads) for p in pair])
    elif any(length < k for length, k in zip(spatial, effective)):
        raise ValueError(
            f"ops.image.{name}: patches of size {size} (dilation_rate {dilation}) do not fit in inputs with "
            f"spatial shape {tuple(spatial)} under padding='valid'. Use smaller patches or padding='same'."
        )
    for i in range(n):
        x = x.unfold(1 + i, effective[i], strides[i])  # appends the window axis after the channels
    x = x[(Ellipsis,) + tuple(slice(None, None, d) for d in dilation)]
    # (batch, *out, channels, *patch) -> (batch, *out, *patch, channels) -> flattened.
    x = x.movedim(n + 1, -1)
    x = x.reshape(*x.shape[:n + 1], -1)
    if data_format == "channels_first":
        x = x.movedim(-1, 1)
    return x.squeeze(0) if single else x


@op("image")
def extract_patches(images: Any, size: IntOrTuple, strides: Optional[IntOrTuple] = None, dilation_rate: IntOrTuple = 1,
                    padding: str = "valid", data_format: Optional[str] = None) -> torch.Tensor:
    """Patches of images (size: int or (h, w)) or of volumes (size: (d, h, w)), flattened onto the channel axis.

    Gathers the pixels exactly (Keras convolves with an identity kernel), so any dtype works.
    """
    if not isinstance(size, int) or isinstance(size, bool):
        if not isinstance(size, (tuple, list)):
            raise TypeError(f"ops.image.extract_patches: size must be an int or a tuple, received "
                            f"{type(size).__name__} {size!r}.")
        if len(size) not in (2, 3):
            raise ValueError(f"ops.image.extract_patches: size must have length 2 (images) or 3 (volumes), "
                             f"received size={size!r}.")
    if not isinstance(size, int) and len(size) == 3:
        return extract_patches_3d(images, size, strides, dilation_rate, padding, data_format)
    data_format = _data_format(data_format, "extract_patches")
    x = _image_input(images, "extract_patches")
    size = _ints(size, 2, "size", "extract_patches")
    return _patches(x, size, strides, dilation_rate, padding, data_format, "extract_patches")


@op("image")
def extract_patches_3d(volumes: Any, size: IntOrTuple, strides: Optional[IntOrTuple] = None,
                       dilation_rate: IntOrTuple = 1, padding: str = "valid",
                       data_format: Optional[str] = None) -> torch.Tensor:
    """Patches of volumes (4-D single or 5-D batch), size (d, h, w), flattened onto the channel axis."""
    data_format = _data_format(data_format, "extract_patches_3d")
    x = _image_input(volumes, "extract_patches_3d", arg="volumes", ranks=(4, 5))
    size = _ints(size, 3, "size", "extract_patches_3d")
    return _patches(x, size, strides, dilation_rate, padding, data_format, "extract_patches_3d")


# ----------------------------------------------------------------- filters
def _float_images(images: Any, name: str, ranks: Tuple[int, ...] = (3, 4)) -> torch.Tensor:
    x = _image_input(images, name, ranks=ranks)
    if not x.is_floating_point():
        raise TypeError(f"ops.image.{name} expects float images, received dtype {standardize_dtype(x.dtype)}. "
                        f"Cast first: ops.image.{name}(ops.cast(images, 'float32'), ...).")
    return x


@op("image")
def gaussian_blur(images: Any, kernel_size: IntOrTuple = (3, 3), sigma: Any = (1.0, 1.0),
                  data_format: Optional[str] = None) -> torch.Tensor:
    """Blurs each channel with a square Gaussian kernel, 'same' zero padding; float images only.

    As in every Keras backend, `sigma[0]` spreads along the width and `sigma[1]` along the
    height. Differences from Keras's torch backend: `data_format=None` means channels_last
    (Keras on torch reads it as channels_first), even sizes pad as 'same' (Keras on torch
    grows the image by one), a non-square kernel_size raises NotImplementedError (Keras's
    backends disagree there), and an int `kernel_size` or scalar `sigma` is accepted.
    """
    data_format = _data_format(data_format, "gaussian_blur")
    x = _float_images(images, "gaussian_blur")
    ks = _ints(kernel_size, 2, "kernel_size", "gaussian_blur")
    if ks[0] != ks[1]:
        raise NotImplementedError(
            f"ops.image.gaussian_blur supports square kernels only, received kernel_size={kernel_size!r} (Keras's "
            "backends give inconsistent results for non-square ones). Pass (k, k), or blur with "
            "ops.depthwise_conv and your own kernel."
        )
    sig = convert_to_tensor(sigma).to(x.device)
    if sig.dim() == 0:
        sig = sig.expand(2)
    if sig.shape != (2,):
        raise ValueError(f"ops.image.gaussian_blur: sigma must be a number or 2 numbers, received sigma={sigma!r}.")
    nhwc, single = _to_nhwc(x, data_format)
    kernel = torch.outer(_gaussian_1d(ks[1], sig[1], x.dtype, x.device), _gaussian_1d(ks[0], sig[0], x.dtype, x.device))
    out = _depthwise_blur(nhwc.permute(0, 3, 1, 2), kernel).permute(0, 2, 3, 1)
    return _from_nhwc(out, data_format, single)


_SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))


@op("image")
def sobel_edges(images: Any, data_format: Optional[str] = None) -> torch.Tensor:
    """Sobel gradients of a batch of images, zero-padded: shape images.shape + (2,), last axis [dy, dx].

    Integer images are computed exactly and wrap to their dtype, as Keras's torch backend does.
    """
    data_format = _data_format(data_format, "sobel_edges")
    x = _image_input(images, "sobel_edges", ranks=(4,))
    nchw = x.permute(0, 3, 1, 2) if data_format == "channels_last" else x
    compute = x.dtype if x.is_floating_point() else torch.float64
    sobel_x = torch.tensor(_SOBEL_X, dtype=compute, device=x.device)
    kernels = torch.stack([sobel_x.t(), sobel_x]).unsqueeze(1).repeat(nchw.shape[1], 1, 1, 1)  # [dy, dx] per channel
    edges = F.conv2d(nchw.to(compute), kernels, padding=1, groups=nchw.shape[1])
    edges = edges.unflatten(1, (nchw.shape[1], 2)).movedim(2, -1)  # (N, C, H, W, 2)
    if not x.is_floating_point():
        edges = edges.to(torch.int64).to(x.dtype)
    return edges.permute(0, 2, 3, 1, 4) if data_format == "channels_last" else edges


@op("image")
def ssim(image1: Any, image2: Any, max_val: float = 1.0, filter_size: int = 11, filter_sigma: float = 1.5,
         k1: float = 0.01, k2: float = 0.03, data_format: Optional[str] = None) -> torch.Tensor:
    """Structural similarity per image pair (Gaussian window, 'valid'), averaged over pixels and channels.

    Returns one value per image (a scalar for single images) in image1's dtype, as Keras
    does (so integer images give 0 or 1).
    """
    data_format = _data_format(data_format, "ssim")
    a = _image_input(image1, "ssim", arg="image1")
    b = _image_input(image2, "ssim", arg="image2").to(a.device)
    if a.shape != b.shape:
        raise ValueError(f"ops.image.ssim: image1 and image2 must have the same shape, received "
                         f"{tuple(a.shape)} and {tuple(b.shape)}.")
    if isinstance(filter_size, bool) or not isinstance(filter_size, int) or filter_size < 1:
        raise ValueError(f"ops.image.ssim: filter_size must be a positive int, received filter_size={filter_size!r}.")
    compute = to_torch_dtype(result_type(standardize_dtype(a.dtype), float))
    a_nhwc, single = _to_nhwc(a.to(compute), data_format)
    b_nhwc, _ = _to_nhwc(b.to(compute), data_format)
    batch, height, width, channels = a_nhwc.shape
    if height < filter_size or width < filter_size:
        raise ValueError(f"ops.image.ssim: images of {height}x{width} pixels are smaller than filter_size="
                         f"{filter_size}. Pass a smaller filter_size.")
    g = _gaussian_1d(filter_size, filter_sigma, compute, a.device)
    window = torch.outer(g, g).reshape(1, 1, filter_size, filter_size)

    def local_mean(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window)

    x = a_nhwc.permute(0, 3, 1, 2).reshape(-1, 1, height, width)
    y = b_nhwc.permute(0, 3, 1, 2).reshape(-1, 1, height, width)
    mu_x, mu_y = local_mean(x), local_mean(y)
    var_x = local_mean(x * x) - mu_x * mu_x
    var_y = local_mean(y * y) - mu_y * mu_y
    cov = local_mean(x * y) - mu_x * mu_y
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    index = ((2.0 * mu_x * mu_y + c1) * (2.0 * cov + c2)) / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))
    per_image = index.mean(dim=(1, 2, 3)).reshape(batch, channels).mean(dim=-1)
    return (per_image.squeeze(0) if single else per_image).to(a.dtype)
