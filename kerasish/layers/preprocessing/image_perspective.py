"""RandomPerspective: moves the four corners of some images at random, a 3-D-looking tilt.

Like the other augmentation layers it acts in training (`training=True`, which `fit`
passes) and on a direct call (Keras's `training=True` default), and returns the images
cast to the layer's dtype in evaluate and predict (`training=False`) or after
`layer.eval()`. It takes an images tensor or Keras's dict form (`{"images": ...,
"labels": ...}`; labels pass through, segmentation masks get the same warp with nearest
interpolation). Bounding boxes are refused: kerasish does not move boxes.
"""

from __future__ import annotations

import numbers
from typing import Any, Dict, Optional, Tuple

import torch

from kerasish.layers.preprocessing.image_augmentation import INTERPOLATIONS
from kerasish.layers.preprocessing.image_data import ImageDataLayer, Transformation
from kerasish.layers.preprocessing.image_preprocessing import check_choice, parse_factor
from kerasish.ops import image as ops_image


class RandomPerspective(ImageDataLayer):
    """Distorts the perspective of some images by moving their four corners at random.

    Per image, a probability `p` is drawn from `factor`'s range (a number f gives
    [0, f]) and the image is warped with probability `p`: each corner `(x, y)` moves to
    `(x + x * dx, y + y * dy)` with `dx`, `dy` drawn from `[-scale / 2, scale / 2]`
    (so the top-left corner stays put, as in Keras), and the image is resampled by the
    homography that maps the corners onto their new places. Points that fall outside the
    image take `fill_value`. With the same seed the draws are Keras's own (three draws per
    call from the layer's `SeedGenerator`), so a seeded layer gives Keras's pixels.

    Args:
        factor: the probability range, a number f in [0, 1] (the range [0, f]) or a pair
            `(lower, upper)` overlapping [0, 1]. Defaults to `1.0`.
        scale: how far the corners move, a number in [0, 1] (a fraction of the
            corner's coordinate). Defaults to `1.0`.
        interpolation: 'bilinear' or 'nearest'. Defaults to `'bilinear'`.
        fill_value: the value of points outside the image. Defaults to `0.0`.
        seed: an int for a reproducible sequence. Defaults to `None`.
        data_format: 'channels_last' or 'channels_first'. Defaults to `None` (the config's).
        **kwargs: `name`, `dtype`.

    Raises:
        ValueError: for a factor or scale outside [0, 1], or a seed that is not an int.
        TypeError: for a scale that is not a number.
        NotImplementedError: for an unknown interpolation (as Keras), or bounding boxes in
            the input dict.

    Example:
        >>> RandomPerspective(scale=0.5, seed=1)(torch.rand(2, 8, 8, 3), training=True).shape
        torch.Size([2, 8, 8, 3])
    """

    _CAST_IN_INFERENCE = True

    def __init__(self, factor: Any = 1.0, scale: float = 1.0, interpolation: str = "bilinear",
                 fill_value: float = 0.0, seed: Optional[int] = None, data_format: Optional[str] = None,
                 **kwargs: Any) -> None:
        factor = parse_factor(factor, (0, 1), "factor", "RandomPerspective")
        if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
            raise TypeError(
                f"RandomPerspective: `scale` must be a number in the range [0, 1]. Received: scale={scale!r} "
                f"(of type {type(scale).__name__}). Example: scale=0.5."
            )
        if not 0.0 <= scale <= 1.0:
            raise ValueError(
                f"RandomPerspective: `scale` must be a number in the range [0, 1]. Received: scale={scale!r}. "
                "Example: scale=0.5 (corners move by up to a quarter of their coordinate)."
            )
        interpolation = check_choice(interpolation, INTERPOLATIONS, "interpolation", "RandomPerspective",
                                     NotImplementedError)
        super().__init__(data_format=data_format, **kwargs)
        self.factor, self.scale = factor, scale
        self.interpolation, self.fill_value = interpolation, fill_value
        self._make_seed_generator(seed)
        self._corner_cache: Dict[Tuple[int, int, torch.dtype, torch.device], torch.Tensor] = {}

    def _start_points(self, height: int, width: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """The image's corners `(x, y)`: top-left, top-right, bottom-left, bottom-right; made once per
        size, dtype and device (not copied from the host on every call)."""
        key = (height, width, dtype, device)
        if key not in self._corner_cache:
            corners = [[0.0, 0.0], [width - 1, 0.0], [0.0, height - 1], [width - 1, height - 1]]
            with torch.inference_mode(False):  # a normal tensor even when first made during predict
                self._corner_cache[key] = torch.tensor([corners], dtype=dtype, device=device)
        return self._corner_cache[key]

    def random_transformation(self, images: torch.Tensor, generator: Optional[torch.Generator]) -> Transformation:
        batch, device = images.shape[0], images.device
        height, width = (images.shape[a] for a in self._spatial_axes)
        apply = self._coin(batch, generator, device, self._next_generator(generator, device))
        shift = self._rand((batch, 4, 2), self._next_generator(generator, device), device,
                           -0.5 * self.scale, 0.5 * self.scale)
        start = self._start_points(height, width, shift.dtype, device).expand(batch, 4, 2)
        return {"apply": apply, "start_points": start, "end_points": start + start * shift}

    def _warp(self, images: torch.Tensor, transformation: Transformation, interpolation: str) -> torch.Tensor:
        out = ops_image.perspective_transform(images, transformation["start_points"], transformation["end_points"],
                                              interpolation=interpolation, fill_value=self.fill_value,
                                              data_format=self.data_format)
        return torch.where(transformation["apply"].reshape(-1, 1, 1, 1), out, images)

    def transform_images(self, images: torch.Tensor, transformation: Transformation) -> torch.Tensor:
        return self._warp(images.to(self._float_dtype()), transformation, self.interpolation)

    def transform_segmentation_masks(self, masks: torch.Tensor, transformation: Transformation) -> torch.Tensor:
        return self._warp(masks, transformation, "nearest")

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update({"factor": list(self.factor), "scale": self.scale, "interpolation": self.interpolation,
                        "fill_value": self.fill_value, "seed": self.seed})
        return config_
