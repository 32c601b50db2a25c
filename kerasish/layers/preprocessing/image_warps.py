"""RandomShear: a random shear of each image, on the geometric layers' warp.

Like the other augmentation layers it acts in training (`training=True`, which `fit`
passes) and on a direct call, and returns the images cast to the layer's dtype in
evaluate and predict (`training=False`) or after `layer.eval()`. It takes an images tensor
or Keras's dict form (`{"images": ..., "labels": ...}`; labels pass through; segmentation
masks are sheared with nearest interpolation).
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import torch

from kerasish.layers.preprocessing.image_augmentation import FILL_MODES, INTERPOLATIONS, warp
from kerasish.layers.preprocessing.image_data import ImageDataLayer, Transformation
from kerasish.layers.preprocessing.image_preprocessing import check_choice, parse_unit_range


class RandomShear(ImageDataLayer):
    """Shears each image by random amounts along x and y in training.

    Per image, a shear `sx` is drawn from `x_factor`'s range and `sy` from `y_factor`'s
    (a number f gives [-f, f]), and both get one random sign; output pixel (x, y) reads the
    input at `(x + sx * y, sy * x + y)`, a shear about the top-left corner, as in Keras.
    Points outside the image are filled by `fill_mode`. The output is in the layer's dtype,
    in inference too (the input cast).

    Deviation from Keras 3.15: a pair may hold negative numbers (within [-1, 1]); Keras
    refuses them, yet writes `x_factor=0.3` to its config as `(-0.3, 0.3)`, a config its own
    `from_config` then refuses. kerasish loads that config.

    Args:
        x_factor: a number in [0, 1] or a pair within [-1, 1]: the horizontal shear.
            Defaults to `0.0`.
        y_factor: likewise, the vertical shear. Defaults to `0.0`.
        interpolation: 'bilinear' or 'nearest'. Defaults to `'bilinear'`.
        fill_mode: 'reflect', 'wrap', 'constant' or 'nearest'. Defaults to `'reflect'`.
        fill_value: the value of 'constant' fill. Defaults to `0.0`.
        data_format: 'channels_last' or 'channels_first'. Defaults to `None` (the config's).
        seed: an int for a reproducible sequence. Defaults to `None`.
        **kwargs: `name`, `dtype`.

    Raises:
        ValueError: for a factor outside [0, 1] or a bad seed.
        NotImplementedError: for an unknown fill mode or interpolation (as Keras).

    Example:
        >>> RandomShear(x_factor=0.2, seed=1)(torch.rand(2, 8, 8, 3), training=True).shape
        torch.Size([2, 8, 8, 3])
    """

    _CAST_IN_INFERENCE = True

    def __init__(self, x_factor: Any = 0.0, y_factor: Any = 0.0, interpolation: str = "bilinear",
                 fill_mode: str = "reflect", fill_value: float = 0.0, data_format: Optional[str] = None,
                 seed: Optional[int] = None, **kwargs: Any) -> None:
        # Keras's own rule refuses pairs outside [0, 1] (see the deviation above): kerasish takes [-1, 1].
        x_factor = parse_unit_range(x_factor, "x_factor", "RandomShear", signed=True)
        y_factor = parse_unit_range(y_factor, "y_factor", "RandomShear", signed=True)
        fill_mode = check_choice(fill_mode, FILL_MODES, "fill_mode", "RandomShear", NotImplementedError)
        interpolation = check_choice(interpolation, INTERPOLATIONS, "interpolation", "RandomShear",
                                     NotImplementedError)
        super().__init__(data_format=data_format, **kwargs)
        self.x_factor, self.y_factor = x_factor, y_factor
        self.interpolation, self.fill_mode, self.fill_value = interpolation, fill_mode, fill_value
        self._make_seed_generator(seed)

    def random_transformation(self, images: torch.Tensor, generator: Optional[torch.Generator]) -> Transformation:
        batch, device = images.shape[0], images.device
        sign = self._random_sign(batch, generator, device, self._float_dtype())
        shear_y = self._rand((batch,), generator, device, self.y_factor[0], self.y_factor[1])
        shear_x = self._rand((batch,), generator, device, self.x_factor[0], self.x_factor[1])
        one, zero = torch.ones_like(sign), torch.zeros_like(sign)
        rows = torch.stack([one, shear_x * sign, zero, shear_y * sign, one, zero, zero, zero], dim=-1)
        return {"transform": rows}

    def _warp(self, images: torch.Tensor, transformation: Transformation, interpolation: str) -> torch.Tensor:
        return warp(images.to(self._float_dtype()), transformation["transform"], interpolation, self.fill_mode,
                    self.fill_value, self.data_format)

    def transform_images(self, images: torch.Tensor, transformation: Transformation) -> torch.Tensor:
        return self._warp(images, transformation, self.interpolation)

    def transform_segmentation_masks(self, masks: torch.Tensor, transformation: Transformation) -> torch.Tensor:
        return self._warp(masks, transformation, "nearest")

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update({"x_factor": list(self.x_factor), "y_factor": list(self.y_factor),
                        "fill_mode": self.fill_mode, "interpolation": self.interpolation, "seed": self.seed,
                        "fill_value": self.fill_value})
        return config_
