"""ContrastLimitedAdaptiveHistogramEqualization (CLAHE): local histogram equalization.

Unlike the augmentation layers it is deterministic and acts in training and inference
alike, as Keras's does. It takes an images tensor or Keras's dict form (`{"images": ...,
"labels": ...}`); labels and segmentation masks pass through unchanged.
"""

from __future__ import annotations

import numbers
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from kerasish.layers.preprocessing.image_data import ImageDataLayer, Transformation
from kerasish.layers.preprocessing.image_preprocessing import parse_value_range

_NAME = "ContrastLimitedAdaptiveHistogramEqualization"
_PIXELS = (0, 255)
_BINS = 256


def _grid_size(tile_grid_size: Any) -> Tuple[int, int]:
    if (isinstance(tile_grid_size, (tuple, list)) and len(tile_grid_size) == 2
            and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in tile_grid_size)):
        return int(tile_grid_size[0]), int(tile_grid_size[1])
    raise ValueError(
        f"{_NAME}: `tile_grid_size` must be a pair of positive ints (tile rows, tile columns). Received: "
        f"tile_grid_size={tile_grid_size!r}. Example: tile_grid_size=(8, 8)."
    )


def _symmetric(length: int, size: int, device: torch.device) -> torch.Tensor:
    """Indices `0 .. length - 1` into an axis of `size`, continued past its end by mirroring
    with the edge repeated (NumPy's 'symmetric' padding: a b c d | d c b a | a b ...)."""
    index = torch.arange(length, device=device).remainder(2 * size)
    return torch.where(index < size, index, 2 * size - 1 - index)


def _tile_maps(pixels: torch.Tensor, grid: Tuple[int, int], tile: Tuple[int, int], clip_limit: float) -> torch.Tensor:
    """The clipped, equalized mapping of every tile: `(batch, grid_h, grid_w, channels, 256)`, in [0, 255].

    `pixels` are the int64 values in [0, 255] of the images padded to whole tiles, NHWC.
    """
    batch, _, _, channels = pixels.shape
    (grid_h, grid_w), (tile_h, tile_w) = grid, tile
    area = tile_h * tile_w
    tiles = pixels.reshape(batch, grid_h, tile_h, grid_w, tile_w, channels).permute(0, 1, 3, 5, 2, 4)
    tiles = tiles.reshape(-1, area)  # one row per (image, tile row, tile column, channel)
    # One scatter counts every histogram at once (Keras sums a one-hot tensor 256 times the images' size).
    offsets = torch.arange(tiles.shape[0], device=pixels.device).unsqueeze(1) * _BINS
    counts = torch.zeros(tiles.shape[0] * _BINS, dtype=torch.float32, device=pixels.device)
    counts.scatter_add_(0, (tiles + offsets).reshape(-1), torch.ones_like(tiles, dtype=torch.float32).reshape(-1))
    hist = counts.reshape(batch, grid_h, grid_w, channels, _BINS)
    if clip_limit > 0:
        clipped = hist.clamp(0, clip_limit * area / 256.0)
        hist = clipped + (hist - clipped).sum(-1, keepdim=True) / 256.0
    cdf = hist.cumsum(-1)
    cdf_min = cdf.amin(-1, keepdim=True)
    denominator = area - cdf_min
    denominator = torch.where(denominator == 0, torch.ones_like(denominator), denominator)
    return ((cdf - cdf_min) * 255.0 / denominator).clamp(0, 255)


def _neighbours(length: int, tile: int, grid: int, device: torch.device) -> Tuple[torch.Tensor, ...]:
    """Along one axis: each pixel's two nearest tile centres (indices into the tiles) and the
    weight of the second, as Keras computes them (float32, edges held by the outer tiles)."""
    position = (torch.arange(length, dtype=torch.float32, device=device) - (tile / 2.0)) / tile + 1.0
    lower = torch.floor(position)
    weight = position - lower
    # Keras pads the grid of maps by one tile on each side (copies of the edge tiles).
    first = (lower.clamp(0, grid + 1) - 1).clamp(0, grid - 1).to(torch.int64)
    second = (lower + 1.0).clamp(0, grid + 1).sub(1).clamp(0, grid - 1).to(torch.int64)
    return first, second, weight


def clahe(images: torch.Tensor, grid: Tuple[int, int], clip_limit: float) -> torch.Tensor:
    """CLAHE of float NHWC `images` in [0, 255] (values are truncated to 256 integer levels);
    a float32 result of the same shape."""
    batch, height, width, channels = images.shape
    grid_h, grid_w = grid
    tile_h, tile_w = -(-height // grid_h), -(-width // grid_w)
    device = images.device
    pixels = images.clamp(0, 255).to(torch.int64)
    padded = pixels
    if (tile_h * grid_h, tile_w * grid_w) != (height, width):
        padded = padded.index_select(1, _symmetric(tile_h * grid_h, height, device))
        padded = padded.index_select(2, _symmetric(tile_w * grid_w, width, device))
    maps = _tile_maps(padded, grid, (tile_h, tile_w), clip_limit)
    y0, y1, wy = _neighbours(height, tile_h, grid_h, device)
    x0, x1, wx = _neighbours(width, tile_w, grid_w, device)
    b = torch.arange(batch, device=device).reshape(batch, 1, 1, 1)
    c = torch.arange(channels, device=device).reshape(1, 1, 1, channels)
    rows0, rows1 = y0.reshape(1, height, 1, 1), y1.reshape(1, height, 1, 1)
    cols0, cols1 = x0.reshape(1, 1, width, 1), x1.reshape(1, 1, width, 1)
    wy, wx = wy.reshape(1, height, 1, 1), wx.reshape(1, 1, width, 1)
    top = maps[b, rows0, cols0, c, pixels] * (1.0 - wx) + maps[b, rows0, cols1, c, pixels] * wx
    bottom = maps[b, rows1, cols0, c, pixels] * (1.0 - wx) + maps[b, rows1, cols1, c, pixels] * wx
    return top * (1.0 - wy) + bottom * wy


class ContrastLimitedAdaptiveHistogramEqualization(ImageDataLayer):
    """Contrast Limited Adaptive Histogram Equalization: equalizes each region of an image.

    The images (taken from `value_range` to [0, 255] and truncated to 256 levels) are
    split into `tile_grid_size` tiles, padded at the bottom and right to whole tiles. Each
    tile of each channel gets its histogram, clipped at `clip_limit` times the mean bin
    count with the excess spread evenly over the bins, and the mapping its cumulative
    histogram gives; each pixel takes the bilinear blend of the mappings of the four
    nearest tile centres, so tiles meet without seams. The result goes back to
    `value_range` in the input's dtype if it is an integer one (truncated, as in Keras), else
    in the layer's dtype. It is
    applied in training and inference alike. Histograms are counted with one scatter, not
    Keras's one-hot tensor, so memory stays near the images' size.

    Deviations from Keras 3.15 on torch, where kerasish does what Keras's code asks for
    and its TensorFlow, JAX and NumPy backends do: the histograms are float counts, so
    the clip limit `clip_limit * tile_area / 256` keeps its fraction (Keras's torch
    backend counts in int64 and truncates the limit: a limit below 1 clips every bin
    to 0 and flattens the mapping; results agree when the limit is a whole number, e.g.
    the defaults on 32x32 tiles); an image whose size is not a multiple of the grid is
    padded by mirroring ('symmetric'; Keras's torch backend repeats the edge row and
    column instead, which differs once the padding is two or more pixels). A dict
    input's labels and segmentation masks pass through unchanged (Keras raises
    NotImplementedError for them).

    Args:
        value_range: the range of the input values, `[low, high]`. Defaults to `(0, 255)`.
        clip_limit: the histogram clip, in multiples of the mean bin count; 0 or less
            turns clipping off (plain adaptive equalization). Defaults to `4.0`.
        tile_grid_size: `(rows, columns)` of tiles. Defaults to `(8, 8)`.
        data_format: 'channels_last' or 'channels_first'. Defaults to `None` (the config's).
        **kwargs: `name`, `dtype`.

    Raises:
        ValueError: for a bad value_range, a clip_limit that is not a number, or a
            tile_grid_size that is not two positive ints.

    Example:
        >>> layer = ContrastLimitedAdaptiveHistogramEqualization(tile_grid_size=(2, 2))
        >>> layer(torch.rand(1, 16, 16, 3) * 100).shape
        torch.Size([1, 16, 16, 3])
    """

    def __init__(self, value_range: Sequence[float] = (0, 255), clip_limit: float = 4.0,
                 tile_grid_size: Sequence[int] = (8, 8), data_format: Optional[str] = None, **kwargs: Any) -> None:
        value_range = parse_value_range(value_range, _NAME)
        if isinstance(clip_limit, bool) or not isinstance(clip_limit, numbers.Real):
            raise ValueError(
                f"{_NAME}: `clip_limit` must be a number. Received: clip_limit={clip_limit!r}. Example: "
                "clip_limit=4.0 (or 0 for no clipping)."
            )
        grid = _grid_size(tile_grid_size)
        super().__init__(data_format=data_format, **kwargs)
        self.value_range, self.clip_limit, self.tile_grid_size = value_range, clip_limit, grid

    def _active(self, training: Optional[bool]) -> bool:
        return True  # deterministic, and applied in inference too, as Keras's layer is

    def transform_images(self, images: torch.Tensor, transformation: Transformation) -> torch.Tensor:
        if images.is_floating_point():  # Keras converts floats to the compute dtype; integers keep theirs
            images = images.to(self._float_dtype())
        nhwc = images.permute(0, 2, 3, 1) if self.data_format == "channels_first" else images
        x = self._to_range(nhwc.to(torch.float32), self.value_range, _PIXELS)
        out = self._to_range(clahe(x, self.tile_grid_size, self.clip_limit), _PIXELS, self.value_range)
        out = out.to(images.dtype)
        return out.permute(0, 3, 1, 2) if self.data_format == "channels_first" else out

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update({"value_range": list(self.value_range), "clip_limit": self.clip_limit,
                        "tile_grid_size": list(self.tile_grid_size)})
        return config_
