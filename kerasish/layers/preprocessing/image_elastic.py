"""RandomElasticTransform: displaces the pixels of some images by a smooth random field.

Like the other augmentation layers it acts in training (`training=True`, which `fit`
passes) and on a direct call (Keras's `training=True` default), and returns the images
cast to the layer's dtype in evaluate and predict (`training=False`) or after
`layer.eval()`. It takes an images tensor or Keras's dict form (`{"images": ...,
"labels": ...}`; labels pass through, segmentation masks are moved by the images' field
with nearest interpolation). Bounding boxes are refused, as Keras's layer does not move
them either.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import torch

from kerasish.layers.preprocessing.image_augmentation import INTERPOLATIONS
from kerasish.layers.preprocessing.image_data import ImageDataLayer, Transformation
from kerasish.layers.preprocessing.image_preprocessing import check_choice, parse_factor, parse_value_range
from kerasish.ops.image_geometry import FILL_MODES, depthwise_blur, from_nhwc, sample, to_nhwc

_NAME = "RandomElasticTransform"


class RandomElasticTransform(ImageDataLayer):
    """Moves every pixel of some images by a random, Gaussian-smoothed displacement.

    Per image, a probability `p` is drawn from `factor`'s range (a number f gives
    [0, f]) and the image is transformed with probability `p`. Per call, a strength `s`
    is drawn from `scale`'s range; for images of size `(h, w)` the displacement field is
    white noise smoothed by a Gaussian of standard deviation `sigma = 0.05 * s * min(h, w)`
    (kernel size `int(6 * sigma) | 1`) and scaled by `alpha = 0.1 * s * max(h, w)`, and
    each output pixel reads the input at its position plus the field. Points outside the
    image are filled by `fill_mode`. In training the images are then clipped to
    `value_range` (all of them, as in Keras). With `factor` or `scale` at 0 nothing is
    drawn and the images come back cast, unclipped.

    Seeding: the probability, the threshold and the strength are drawn as Keras draws them
    (one `SeedGenerator` step each), so a seeded layer picks Keras's images and strength.
    The noise differs: Keras's torch backend draws it from torch's global generator,
    ignoring the seed; kerasish draws it (x then y, each `torch.normal` of shape
    `(batch, h, w)` in the layer's dtype) from the strength's generator after the
    strength, so the layer's own seed makes it reproducible and a resumed run repeats it.
    The generator advances three times per call, as Keras's does.

    Deviations from Keras 3.15: segmentation masks are moved by the images' own field
    (Keras draws a second, independent field for them, so its masks no longer line up
    with the images) and are not clipped to `value_range`; the smoothing is done as two
    1-D passes (the same Gaussian, within float rounding of Keras's 2-D kernel) with a
    kernel sized for the largest strength, so no call waits for the device to learn the
    kernel size.

    Args:
        factor: the probability range, a number f in [0, 1] (the range [0, f]) or a pair
            `(lower, upper)` overlapping [0, 1]. Defaults to `1.0`.
        scale: the strength range, a number s in [0, 1] (the range [0, s]) or a pair.
            Defaults to `1.0`.
        interpolation: 'bilinear' or 'nearest'. Defaults to `'bilinear'`.
        fill_mode: 'reflect' (d c b a | a b c d), 'mirror' (c d c b | a b c d), 'wrap',
            'constant' (`fill_value`) or 'nearest'. Defaults to `'reflect'`.
        fill_value: the value of 'constant' fill. Defaults to `0.0`.
        value_range: the range of the input values, `[low, high]`. Defaults to `(0, 255)`.
        seed: an int for a reproducible sequence. Defaults to `None`.
        data_format: 'channels_last' or 'channels_first'. Defaults to `None` (the config's).
        **kwargs: `name`, `dtype`.

    Raises:
        ValueError: for a factor or scale outside [0, 1], a bad value_range or seed.
        NotImplementedError: for an unknown interpolation or fill mode (as Keras), or
            bounding boxes in the input dict.

    Example:
        >>> RandomElasticTransform(scale=0.5, seed=1)(torch.rand(2, 16, 16, 3) * 255, training=True).shape
        torch.Size([2, 16, 16, 3])
    """

    _CAST_IN_INFERENCE = True

    def __init__(self, factor: Any = 1.0, scale: Any = 1.0, interpolation: str = "bilinear",
                 fill_mode: str = "reflect", fill_value: float = 0.0, value_range: Sequence[float] = (0, 255),
                 seed: Optional[int] = None, data_format: Optional[str] = None, **kwargs: Any) -> None:
        factor = parse_factor(factor, (0, 1), "factor", _NAME)
        scale = parse_factor(scale, (0, 1), "scale", _NAME)
        interpolation = check_choice(interpolation, INTERPOLATIONS, "interpolation", _NAME, NotImplementedError)
        fill_mode = check_choice(fill_mode, FILL_MODES, "fill_mode", _NAME, NotImplementedError)
        value_range = parse_value_range(value_range, _NAME)
        super().__init__(data_format=data_format, **kwargs)
        self.factor, self.scale, self.value_range = factor, scale, value_range
        self.interpolation, self.fill_mode, self.fill_value = interpolation, fill_mode, fill_value
        self._make_seed_generator(seed)

    def _active(self, training: Optional[bool]) -> bool:
        # Keras draws nothing and returns the images cast (not clipped) when a range is [.., 0].
        return super()._active(training) and self.factor[1] != 0 and self.scale[1] != 0

    def random_transformation(self, images: torch.Tensor, generator: Optional[torch.Generator]) -> Transformation:
        batch, device = images.shape[0], images.device
        height, width = (images.shape[a] for a in self._spatial_axes)
        apply = self._coin(batch, generator, device, self._next_generator(generator, device))
        field_generator = self._next_generator(generator, device)
        strength = self._rand((1,), field_generator, device, self.scale[0], self.scale[1])
        dtype = self._float_dtype()
        noise = torch.stack([torch.normal(0.0, 1.0, (batch, height, width), generator=field_generator, dtype=dtype,
                                          device=device) for _ in range(2)], dim=1)
        return {"apply": apply, "coords": self._coordinates(noise, strength, height, width)}

    def _coordinates(self, noise: torch.Tensor, strength: torch.Tensor, height: int, width: int) -> list:
        """Where each output pixel reads: `[rows, cols]`, each `(batch, height, width)`."""
        compute = noise.dtype if noise.dtype == torch.float64 else torch.float32
        strength = strength.to(compute)
        # Keras's arithmetic, in its order: alpha = max(h, w) * (0.1 * s), sigma = min(h, w) * (0.05 * s).
        alpha = (strength * 0.1) * max(height, width)
        sigma = (strength * 0.05) * min(height, width)
        # Keras's kernel has int(6 * sigma) | 1 taps; sigma is on the device, so the kernel here has
        # room for the largest sigma and the taps beyond Keras's are zeroed (the same normalized weights).
        taps = (int(6 * 0.05 * self.scale[1] * min(height, width)) + 2) | 1
        offsets = torch.arange(taps, dtype=compute, device=noise.device) - (taps - 1) / 2
        half = ((6 * sigma).to(torch.int64) | 1) // 2
        # A zero sigma (a strength of exactly 0) moves nothing: the noise is scaled by it below.
        weights = torch.exp(-0.5 * (offsets / sigma.clamp_min(1e-12)) ** 2) * (offsets.abs() <= half)
        weights = weights / weights.sum()
        field = noise.to(compute) * sigma
        field = depthwise_blur(depthwise_blur(field, weights.reshape(taps, 1)), weights.reshape(1, taps))
        cols = torch.arange(width, dtype=compute, device=noise.device) + alpha * field[:, 0]
        rows = torch.arange(height, dtype=compute, device=noise.device).reshape(height, 1) + alpha * field[:, 1]
        return [rows, cols]

    def _displace(self, images: torch.Tensor, transformation: Transformation, interpolation: str) -> torch.Tensor:
        nhwc, _ = to_nhwc(images, self.data_format)
        index = torch.arange(nhwc.shape[0], device=nhwc.device).reshape(-1, 1, 1)
        moved = sample(nhwc, transformation["coords"], INTERPOLATIONS.index(interpolation), self.fill_mode,
                       self.fill_value, prefix=(index,))
        moved = from_nhwc(moved, self.data_format, False)
        return torch.where(transformation["apply"].reshape(-1, 1, 1, 1), moved, images)

    def transform_images(self, images: torch.Tensor, transformation: Transformation) -> torch.Tensor:
        out = self._displace(images.to(self._float_dtype()), transformation, self.interpolation)
        return out.clamp(self.value_range[0], self.value_range[1])

    def transform_segmentation_masks(self, masks: torch.Tensor, transformation: Transformation) -> torch.Tensor:
        return self._displace(masks, transformation, "nearest").to(self._float_dtype())

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update({"factor": list(self.factor), "scale": list(self.scale), "interpolation": self.interpolation,
                        "fill_mode": self.fill_mode, "fill_value": self.fill_value,
                        "value_range": list(self.value_range), "seed": self.seed})
        return config_
