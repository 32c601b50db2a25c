"""Keras ops, image namespace: resampling at computed coordinates.

`map_coordinates`, `affine_transform`, `perspective_transform`, `elastic_transform` and
`scale_and_translate`, plus the argument checks the whole image namespace shares. All
of them are re-exported by `kerasish.ops.image`.

Sampling follows Keras's own rules rather than `grid_sample`'s: each corner of the
interpolation is indexed separately, out-of-range corners are fixed by `fill_mode`
('constant' corners take `fill_value`), nearest rounds half to even, and integer
images are rounded back to their dtype. Whole batches are sampled with one gather
per corner on the images' device; nothing waits for the host.
"""

from __future__ import annotations

import difflib
import itertools
import math
from typing import Any, List, Optional, Sequence, Tuple

import torch

from kerasish import config
from kerasish.ops.dtypes import convert_to_tensor, result_type, standardize_dtype, to_torch_dtype
from kerasish.ops.operation import op

INTERPOLATIONS = ("nearest", "bilinear")
FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")
SCALE_METHODS = ("linear", "bilinear", "trilinear", "triangle", "cubic", "bicubic", "tricubic", "lanczos3", "lanczos5")


# ----------------------------------------------------------------- argument checks shared by ops.image
def image_data_format(data_format: Optional[str], name: str) -> str:
    """'channels_last' or 'channels_first' (None: `kerasish.config.image_data_format()`)."""
    if data_format is None:
        return config.image_data_format()
    value = data_format.lower() if isinstance(data_format, str) else data_format
    if value not in ("channels_last", "channels_first"):
        raise ValueError(
            f"ops.image.{name}: data_format must be 'channels_last' or 'channels_first', received "
            f"data_format={data_format!r}. Use 'channels_last' for (batch, height, width, channels) images."
        )
    return value


def choice(value: Any, valid: Sequence[str], arg: str, name: str) -> str:
    """`value` if it is one of `valid`, else a ValueError listing them and the closest match."""
    if isinstance(value, str) and value in valid:
        return value
    close = difflib.get_close_matches(str(value), list(valid), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"ops.image.{name}: unknown {arg}={value!r}. Expected one of {list(valid)}.{hint}")


def image_input(images: Any, name: str, arg: str = "images", ranks: Tuple[int, ...] = (3, 4)) -> torch.Tensor:
    """`images` as a tensor, or a ValueError when its rank is not one of `ranks`."""
    x = convert_to_tensor(images)
    if x.dim() not in ranks:
        expected = _RANK_WORDS.get(ranks, " or ".join(f"rank {r}" for r in ranks))
        raise ValueError(f"ops.image.{name}: {arg} must have {expected}, received shape {tuple(x.shape)}.")
    return x


_RANK_WORDS = {
    (3, 4): "rank 3 (one image) or rank 4 (a batch of images)",
    (4,): "rank 4 (a batch of images)",
    (4, 5): "rank 4 (one volume) or rank 5 (a batch of volumes)",
}


def to_nhwc(x: torch.Tensor, data_format: str) -> Tuple[torch.Tensor, bool]:
    """A 4-D channels-last view of a 3-D or 4-D image tensor, and whether a batch axis was added."""
    single = x.dim() == 3
    if single:
        x = x.unsqueeze(0)
    return (x.permute(0, 2, 3, 1) if data_format == "channels_first" else x), single


def from_nhwc(x: torch.Tensor, data_format: str, single: bool) -> torch.Tensor:
    x = x.permute(0, 3, 1, 2) if data_format == "channels_first" else x
    return x.squeeze(0) if single else x


def float_dtype_for(dtype: torch.dtype) -> torch.dtype:
    """The dtype Keras computes in for `dtype`: itself when floating, else floatx."""
    return dtype if dtype.is_floating_point else to_torch_dtype(result_type(standardize_dtype(dtype), float))


# ----------------------------------------------------------------- Keras-style corner sampling
def _fix_index(index: torch.Tensor, size: int, fill_mode: str) -> torch.Tensor:
    """Maps out-of-range integer indices into [0, size) as `fill_mode` extends the input."""
    if fill_mode in ("constant", "nearest"):  # 'constant' corners are masked afterwards
        return index.clamp(0, size - 1)
    if fill_mode == "wrap":
        return index.remainder(size)
    if fill_mode == "reflect":  # d c b a | a b c d | d c b a: period 2n, edges repeated
        m = index.remainder(2 * size)
        return torch.where(m < size, m, 2 * size - 1 - m)
    # mirror: c d c b | a b c d | c b a b: period 2(n-1), edges not repeated
    if size == 1:
        return torch.zeros_like(index)
    m = index.remainder(2 * size - 2)
    return torch.where(m < size, m, 2 * size - 2 - m)


def _corners(coord: torch.Tensor, size: int, order: int, fill_mode: str) -> List[Tuple[torch.Tensor, Any, Any]]:
    """(fixed index, valid mask or None, weight or None) for each interpolation node along one axis."""
    if order == 0:
        rounded = torch.round(coord) if coord.is_floating_point() else coord
        nodes = [(rounded.to(torch.int64), None)]
    else:
        if not coord.is_floating_point():
            coord = coord.to(torch.get_default_dtype())
        lower = torch.floor(coord)
        upper_weight = coord - lower
        index = lower.to(torch.int64)
        nodes = [(index, 1 - upper_weight), (index + 1, upper_weight)]
    out = []
    for index, weight in nodes:
        valid = ((index >= 0) & (index < size)) if fill_mode == "constant" else None
        out.append((_fix_index(index, size, fill_mode), valid, weight))
    return out


def sample(values: torch.Tensor, coords: Sequence[torch.Tensor], order: int, fill_mode: str, fill_value: Any,
           prefix: Tuple[torch.Tensor, ...] = ()) -> torch.Tensor:
    """Interpolates `values` along the axes after `prefix` at `coords` (one tensor per axis).

    `prefix` holds integer index tensors for the leading axes (e.g. the batch); axes after
    the interpolated ones (e.g. channels) are carried along. The result has the
    broadcast shape of `prefix` and `coords` followed by the carried axes, in `values`'
    dtype (integers rounded half to even).
    """
    dtype = values.dtype
    integer = not (dtype.is_floating_point or dtype.is_complex)
    if integer and isinstance(fill_value, (int, float)) and not isinstance(fill_value, bool):
        fill_value = int(fill_value)
    rest = values.dim() - len(prefix) - len(coords)
    axes = [_corners(c, values.shape[len(prefix) + i], order, fill_mode) for i, c in enumerate(coords)]
    total = None
    for combo in itertools.product(*axes):
        indices = prefix + tuple(index for index, _, _ in combo)
        contribution = values[indices]
        masks = [valid for _, valid, _ in combo if valid is not None]
        if masks:
            valid = masks[0]
            for m in masks[1:]:
                valid = valid & m
            contribution = torch.where(valid.reshape(valid.shape + (1,) * rest), contribution, fill_value)
        weights = [w for _, _, w in combo if w is not None]
        if weights:
            weight = weights[0]
            for w in weights[1:]:
                weight = weight * w
            contribution = weight.reshape(weight.shape + (1,) * rest) * contribution
        total = contribution if total is None else total + contribution
    if integer and (total.dtype.is_floating_point or total.dtype.is_complex):
        total = torch.round(total)
    return total.to(dtype)


# ----------------------------------------------------------------- map_coordinates
@op("image")
def map_coordinates(inputs: Any, coordinates: Any, order: int, fill_mode: str = "constant",
                    fill_value: Any = 0) -> torch.Tensor:
    """Samples `inputs` at `coordinates` (one array per input axis) by nearest (order 0) or linear (order 1).

    The result has the shape of one coordinate array and the dtype of `inputs`.
    """
    x = convert_to_tensor(inputs)
    if isinstance(coordinates, (list, tuple)):
        coords = [convert_to_tensor(c) for c in coordinates]
    else:
        stacked = convert_to_tensor(coordinates)
        coords = list(stacked.unbind(0)) if stacked.dim() else []
    if len(coords) != x.dim():
        raise ValueError(
            f"ops.image.map_coordinates: coordinates must hold one array per axis of inputs ({x.dim()} for "
            f"inputs of shape {tuple(x.shape)}), received {len(coords)}. Stack them as coordinates[axis]."
        )
    if any(c.dim() < 1 for c in coords):
        raise ValueError(
            "ops.image.map_coordinates: coordinates must have rank >= 2 (axis, *points), received coordinate "
            f"arrays of shapes {[tuple(c.shape) for c in coords]}."
        )
    fill_mode = choice(fill_mode, FILL_MODES, "fill_mode", "map_coordinates")
    if order not in (0, 1):
        raise NotImplementedError(
            f"ops.image.map_coordinates supports order 0 (nearest) and 1 (linear) only, as Keras does; received "
            f"order={order!r}. Spline orders above 1 are not available: pass order=1."
        )
    try:
        coords = list(torch.broadcast_tensors(*[c.to(x.device) for c in coords]))
    except RuntimeError:
        raise ValueError(
            "ops.image.map_coordinates: the coordinate arrays of each axis must have the same shape, received "
            f"{[tuple(c.shape) for c in coords]}."
        ) from None
    return sample(x, coords, order, fill_mode, fill_value)


# ----------------------------------------------------------------- projective sampling of image batches
def _sample_projective(images: torch.Tensor, transform: torch.Tensor, order: int, fill_mode: str,
                       fill_value: Any) -> torch.Tensor:
    """Samples NHWC `images` where each output pixel (x, y) reads input ((a0x+a1y+a2)/k, (b0x+b1y+b2)/k)."""
    batch, height, width, _ = images.shape
    t = transform.reshape(transform.shape[0], 8, 1, 1).unbind(1)
    a0, a1, a2, b0, b1, b2, c0, c1 = t
    x = torch.arange(width, dtype=transform.dtype, device=images.device).reshape(1, 1, width)
    y = torch.arange(height, dtype=transform.dtype, device=images.device).reshape(1, height, 1)
    k = c0 * x + c1 * y + 1.0
    x_in = (a0 * x + a1 * y + a2) / k
    y_in = (b0 * x + b1 * y + b2) / k
    b = torch.arange(batch, device=images.device).reshape(batch, 1, 1)
    x_in, y_in = x_in.expand(batch, height, width), y_in.expand(batch, height, width)
    return sample(images, [y_in, x_in], order, fill_mode, fill_value, prefix=(b,))


def _batched_transform(transform: torch.Tensor, batch: int, name: str, arg: str) -> torch.Tensor:
    if transform.shape[0] not in (1, batch):
        raise ValueError(
            f"ops.image.{name}: {arg} holds {transform.shape[0]} transforms for a batch of {batch} images. "
            f"Pass one {arg} per image, or a single one for all."
        )
    return transform.expand(batch, *transform.shape[1:])


@op("image")
def affine_transform(images: Any, transform: Any, interpolation: str = "bilinear", fill_mode: str = "constant",
                     fill_value: Any = 0, data_format: Optional[str] = None) -> torch.Tensor:
    """Warps images by projective transform rows `[a0, a1, a2, b0, b1, b2, c0, c1]` (output -> input).

    Differs from Keras's torch backend only for nonzero `c0`, `c1`: kerasish divides by
    `k = c0*x + c1*y + 1` as Keras documents (and its TensorFlow backend does); Keras on
    torch mixes them with the channel index instead.
    """
    interpolation = choice(interpolation, INTERPOLATIONS, "interpolation", "affine_transform")
    fill_mode = choice(fill_mode, FILL_MODES, "fill_mode", "affine_transform")
    data_format = image_data_format(data_format, "affine_transform")
    x = image_input(images, "affine_transform")
    t = convert_to_tensor(transform).to(x.device)
    if t.dim() not in (1, 2) or t.shape[-1] != 8:
        raise ValueError(
            "ops.image.affine_transform: transform must have shape (8,) for one transform or (batch, 8), "
            f"received shape {tuple(t.shape)}."
        )
    if not t.is_floating_point():
        t = t.to(to_torch_dtype(config.floatx()))
    nhwc, single = to_nhwc(x, data_format)
    t = _batched_transform(t.reshape(-1, 8), nhwc.shape[0], "affine_transform", "transform")
    out = _sample_projective(nhwc, t, INTERPOLATIONS.index(interpolation), fill_mode, fill_value)
    return from_nhwc(out, data_format, single)


def _homography(start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
    """The 8 coefficients mapping each `end` point (output) onto its `start` point (input), per batch item."""
    compute = to_torch_dtype(result_type(standardize_dtype(start.dtype), "float32"))
    s, e = start.to(compute), end.to(compute)
    sx, sy, ex, ey = s[..., 0], s[..., 1], e[..., 0], e[..., 1]
    one, zero = torch.ones_like(ex), torch.zeros_like(ex)
    row_x = torch.stack([ex, ey, one, zero, zero, zero, -sx * ex, -sx * ey], dim=-1)
    row_y = torch.stack([zero, zero, zero, ex, ey, one, -sy * ex, -sy * ey], dim=-1)
    a = torch.stack([row_x, row_y], dim=2).reshape(-1, 8, 8)
    b = torch.stack([sx, sy], dim=-1).reshape(-1, 8, 1)
    # solve_ex skips the singularity check, which would wait for the device.
    solution, _ = torch.linalg.solve_ex(a, b)
    return solution.reshape(-1, 8).to(start.dtype)


def _points(points: Any, dtype: torch.dtype, device: torch.device, arg: str) -> torch.Tensor:
    p = convert_to_tensor(points).to(device=device, dtype=dtype)
    if p.dim() not in (2, 3) or tuple(p.shape[-2:]) != (4, 2):
        raise ValueError(
            f"ops.image.perspective_transform: {arg} must have shape (4, 2) for one image or (batch, 4, 2), "
            f"received shape {tuple(p.shape)}."
        )
    return p


@op("image")
def perspective_transform(images: Any, start_points: Any, end_points: Any, interpolation: str = "bilinear",
                          fill_value: Any = 0, data_format: Optional[str] = None) -> torch.Tensor:
    """Warps images so that the 4 `start_points` (x, y) land on the 4 `end_points`.

    Points take the images' float dtype (float32 for integer images; Keras's torch backend
    casts them to the integer dtype, truncating fractions and wrapping negatives). A
    degenerate point set gives non-finite pixels instead of an error (checking it would
    wait for the device).
    """
    interpolation = choice(interpolation, INTERPOLATIONS, "interpolation", "perspective_transform")
    data_format = image_data_format(data_format, "perspective_transform")
    x = image_input(images, "perspective_transform")
    dtype = float_dtype_for(x.dtype)
    start = _points(start_points, dtype, x.device, "start_points")
    end = _points(end_points, dtype, x.device, "end_points")
    if start.shape != end.shape:
        raise ValueError(
            "ops.image.perspective_transform: start_points and end_points must have the same shape, received "
            f"{tuple(start.shape)} and {tuple(end.shape)}."
        )
    nhwc, single = to_nhwc(x, data_format)
    h = _batched_transform(_homography(start.reshape(-1, 4, 2), end.reshape(-1, 4, 2)), nhwc.shape[0],
                           "perspective_transform", "start_points")
    out = _sample_projective(nhwc, h, INTERPOLATIONS.index(interpolation), "constant", fill_value)
    return from_nhwc(out, data_format, single)


# ----------------------------------------------------------------- gaussian smoothing (shared with gaussian_blur)
def gaussian_kernel_1d(size: int, sigma: Any, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A normalized Gaussian of `size` taps centred on the middle one (`sigma` a number or 0-d tensor)."""
    x = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()


def depthwise_blur(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Convolves each channel of NCHW `x` with the 2-D `kernel`, 'same' zero padding (extra row/column after)."""
    kh, kw = kernel.shape
    channels = x.shape[1]
    pads = [(kw - 1) // 2, kw // 2, (kh - 1) // 2, kh // 2]
    if pads[0] != pads[1] or pads[2] != pads[3]:
        x, padding = torch.nn.functional.pad(x, pads), 0
    else:
        padding = (pads[2], pads[0])
    weight = kernel.to(x.dtype).expand(channels, 1, kh, kw)
    return torch.nn.functional.conv2d(x, weight, padding=padding, groups=channels)


# ----------------------------------------------------------------- elastic_transform
def _normal(shape: Tuple[int, ...], seed: Any, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    # TODO(kerasish.random): draw with kerasish.random.normal(shape, seed=seed) once it lands, so that
    # SeedGenerator seeds work and draws follow the package's seeding rules.
    if seed is None:
        return torch.randn(shape, dtype=dtype, device=device)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(
            f"ops.image.elastic_transform: seed must be None or an int for now, received {type(seed).__name__}. "
            "Pass an int seed (SeedGenerator seeds arrive with kerasish.random)."
        )
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return torch.randn(shape, generator=generator, dtype=dtype, device=device)


@op("image")
def elastic_transform(images: Any, alpha: float = 20.0, sigma: float = 5.0, interpolation: str = "bilinear",
                      fill_mode: str = "reflect", fill_value: Any = 0.0, seed: Any = None,
                      data_format: Optional[str] = None) -> torch.Tensor:
    """Displaces every pixel by `alpha` times a Gaussian-smoothed (std `sigma`) random field, then resamples.

    `seed` is an int (reproducible draws on the images' device) or None (torch's global
    generator). Keras's torch backend ignores the seed except on the meta device.
    """
    interpolation = choice(interpolation, INTERPOLATIONS, "interpolation", "elastic_transform")
    fill_mode = choice(fill_mode, FILL_MODES, "fill_mode", "elastic_transform")
    data_format = image_data_format(data_format, "elastic_transform")
    x = image_input(images, "elastic_transform")
    if isinstance(sigma, torch.Tensor):
        sigma = float(sigma)  # host sync: the kernel size depends on sigma, once per call
    if not sigma > 0:
        raise ValueError(f"ops.image.elastic_transform: sigma must be > 0, received sigma={sigma!r}.")
    nhwc, single = to_nhwc(x, data_format)
    batch, height, width, _ = nhwc.shape
    dtype = float_dtype_for(x.dtype) if x.dtype in (torch.float32, torch.float64) else torch.float32
    size = int(6 * sigma) | 1
    kernel_1d = gaussian_kernel_1d(size, sigma, dtype, x.device)
    kernel = torch.outer(kernel_1d, kernel_1d)
    noise = _normal((batch, 2, height, width), seed, dtype, x.device) * sigma
    field = depthwise_blur(noise, kernel) * alpha
    xs = torch.arange(width, dtype=dtype, device=x.device).reshape(1, 1, width) + field[:, 0]
    ys = torch.arange(height, dtype=dtype, device=x.device).reshape(1, height, 1) + field[:, 1]
    b = torch.arange(batch, device=x.device).reshape(batch, 1, 1)
    out = sample(nhwc, [ys, xs], INTERPOLATIONS.index(interpolation), fill_mode, fill_value, prefix=(b,))
    return from_nhwc(out, data_format, single)


# ----------------------------------------------------------------- scale_and_translate
def _triangle(x: torch.Tensor) -> torch.Tensor:
    return (1 - x).clamp(min=0)


def _keys_cubic(x: torch.Tensor) -> torch.Tensor:
    # Keys (1981) with a = -0.5, on |x|.
    near = (1.5 * x - 2.5) * x * x + 1.0
    far = ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0
    return torch.where(x < 1.0, near, torch.where(x < 2.0, far, torch.zeros_like(x)))


def _lanczos(radius: float):
    def kernel(x: torch.Tensor) -> torch.Tensor:
        safe = torch.where(x > 1e-3, x, torch.ones_like(x))
        value = radius * torch.sin(math.pi * safe) * torch.sin(math.pi * safe / radius) / (math.pi ** 2 * safe * safe)
        value = torch.where(x > 1e-3, value, torch.ones_like(x))
        return torch.where(x > radius, torch.zeros_like(x), value)
    return kernel


_KERNELS = {"linear": _triangle, "cubic": _keys_cubic, "lanczos3": _lanczos(3.0), "lanczos5": _lanczos(5.0)}
_METHOD_KERNEL = {"linear": "linear", "bilinear": "linear", "trilinear": "linear", "triangle": "linear",
                  "cubic": "cubic", "bicubic": "cubic", "tricubic": "cubic", "lanczos3": "lanczos3",
                  "lanczos5": "lanczos5"}


def _weights(in_size: int, out_size: int, scale: torch.Tensor, translation: torch.Tensor, kernel: Any,
             antialias: bool) -> torch.Tensor:
    """The (in_size, out_size) resampling matrix of one axis (half-pixel centres, inverse warp)."""
    inv = 1.0 / scale
    spread = inv.clamp(min=1.0) if antialias else 1.0
    centres = (torch.arange(out_size, dtype=scale.dtype, device=scale.device) + 0.5) * inv - translation * inv - 0.5
    taps = torch.arange(in_size, dtype=scale.dtype, device=scale.device)
    w = kernel((centres[None, :] - taps[:, None]).abs() / spread)
    total = w.sum(dim=0, keepdim=True)
    eps = 1000.0 * torch.finfo(torch.float32).eps
    w = torch.where(total.abs() > eps, w / torch.where(total != 0, total, torch.ones_like(total)), torch.zeros_like(w))
    inside = (centres >= -0.5) & (centres <= in_size - 0.5)
    return torch.where(inside[None, :], w, torch.zeros_like(w))


@op("image")
def scale_and_translate(images: Any, output_shape: Sequence[int], scale: Any, translation: Any,
                        spatial_dims: Sequence[int], method: str, antialias: bool = True) -> torch.Tensor:
    """Resamples `images` to `output_shape`: input point `(p - translation) / scale` feeds output point `p`.

    Methods: linear (bilinear, trilinear, triangle), cubic (bicubic, tricubic: Keys), lanczos3,
    lanczos5. Keras's torch backend rejects the 'triangle' alias its docstring lists; kerasish accepts it.
    """
    kernel = _KERNELS[_METHOD_KERNEL[choice(method, SCALE_METHODS, "method", "scale_and_translate")]]
    x = convert_to_tensor(images)
    scale_t = convert_to_tensor(scale).to(x.device)
    translation_t = convert_to_tensor(translation).to(x.device)
    dtype = to_torch_dtype(result_type(standardize_dtype(scale_t.dtype), standardize_dtype(translation_t.dtype),
                                       float))
    scale_t, translation_t = scale_t.to(dtype).reshape(-1), translation_t.to(dtype).reshape(-1)
    spatial_dims = tuple(spatial_dims)
    output_shape = tuple(output_shape)
    if len(output_shape) != x.dim():
        raise ValueError(
            f"ops.image.scale_and_translate: output_shape must give a size for each of the {x.dim()} axes of "
            f"images (shape {tuple(x.shape)}), received output_shape={output_shape}."
        )
    if not (scale_t.shape[0] == translation_t.shape[0] == len(spatial_dims)):
        raise ValueError(
            "ops.image.scale_and_translate: scale and translation must hold one value per spatial dim "
            f"({len(spatial_dims)} for spatial_dims={spatial_dims}), received {scale_t.shape[0]} and "
            f"{translation_t.shape[0]}."
        )
    if not spatial_dims:
        return x
    integer = not x.is_floating_point()
    out = x.to(torch.float32) if integer else x
    for i, d in enumerate(spatial_dims):
        d = d % x.dim()
        w = _weights(x.shape[d], output_shape[d], scale_t[i], translation_t[i], kernel, antialias).to(out.dtype)
        out = torch.matmul(out.movedim(d, -1), w).movedim(-1, d)
    if integer:
        out = torch.round(out).clamp(x.min(), x.max()).to(x.dtype)
    return out
