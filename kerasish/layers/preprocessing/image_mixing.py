"""Cut and mix: RandomErasing, MixUp and CutMix.

RandomErasing fills a random rectangle of some images; MixUp blends each image with
another image of the batch, CutMix pastes a rectangle of another image into it. MixUp and
CutMix mix the labels by the same weights, so they take Keras's dict form
`{"images": images, "labels": one_hot_labels}` and return one. As in Keras 3 they act in
training (`training=True`, which `fit` passes) and on a direct call, and not in evaluate
and predict (`training=False`) or after `layer.eval()`. Every random number of a call is
drawn from the layer's `SeedGenerator` on the images' device, with no host sync.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import torch

from kerasish.layers.preprocessing.image_data import ImageDataLayer, Transformation
from kerasish.layers.preprocessing.image_preprocessing import _is_number as _number
from kerasish.layers.preprocessing.image_preprocessing import parse_factor, parse_value_range


class _BoxLayer(ImageDataLayer):
    """Shared by RandomErasing and CutMix: a random axis-aligned rectangle per image."""

    def _span(self, batch: int, length: int, ratio: torch.Tensor, generator: Optional[torch.Generator],
              device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
        """A start and end along an axis of `length`: a window `ratio * length` long at a random offset."""
        size = (ratio * length).to(self._float_dtype())
        start = self._rand((batch,), generator, device) * (length - size)
        return start, start + size

    def _box_mask(self, images: torch.Tensor, x: Tuple[torch.Tensor, torch.Tensor],
                  y: Tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """True inside each image's rectangle, shaped to broadcast over the images."""
        h_axis, w_axis = self._spatial_axes
        height, width = images.shape[h_axis], images.shape[w_axis]
        dtype, device = self._float_dtype(), images.device
        rows = torch.arange(height, dtype=dtype, device=device).reshape(1, height, 1)
        cols = torch.arange(width, dtype=dtype, device=device).reshape(1, 1, width)
        (x0, x1), (y0, y1) = [(a.reshape(-1, 1, 1), b.reshape(-1, 1, 1)) for a, b in (x, y)]
        mask = (cols >= x0) & (cols < x1) & (rows >= y0) & (rows < y1)
        return mask.unsqueeze(-1) if self.data_format == "channels_last" else mask.unsqueeze(1)


def _check_labels(labels: torch.Tensor, layer: str) -> None:
    if labels.dim() < 2:
        raise ValueError(
            f"{layer} mixes labels, so they must be one-hot (or soft) with shape (batch, num_classes). Received: "
            f"labels.shape={tuple(labels.shape)}. One-hot encode them first, e.g. "
            "kerasish.ops.one_hot(labels, num_classes)."
        )


def _blend(values: torch.Tensor, transformation: Transformation, float_dtype: torch.dtype) -> torch.Tensor:
    """`w * v + (1 - w) * v[order]` per sample, with the call's `weight` and `order`: MixUp's images and
    labels, CutMix's labels. Floating values keep their dtype, others become `float_dtype`."""
    dtype = values.dtype if values.is_floating_point() else float_dtype
    x = values.to(dtype)
    weight = transformation["weight"].to(dtype).reshape((-1,) + (1,) * (x.dim() - 1))
    return weight * x + (1.0 - weight) * x[transformation["order"]]


class RandomErasing(_BoxLayer):
    """Erases a random rectangle of some images (Cutout / Random Erasing).

    Per image, a probability is drawn from `factor`'s range (a number f gives [0, f]) and
    the image is erased with that probability. The rectangle's width and height are
    `sqrt(s)` of the image's, with one `s` per side drawn from `scale`, at a random place;
    it is filled with `fill_value` (a number, or one per channel) or, by default, Gaussian
    noise times `value_range[1]`, clipped to `value_range`. The output is in the layer's
    dtype, in inference too (the input cast), as in Keras.

    Args:
        factor: a number in [0, 1] or a pair `(lower, upper)` overlapping it.
            Defaults to `1.0`.
        scale: the range of the erased fraction of each side (squared), a number in [0, 1]
            or a pair. Defaults to `(0.02, 0.33)`.
        fill_value: a number, a list of 3 numbers (one per channel) or None (noise).
            Defaults to `None`.
        value_range: the range of the input values. Defaults to `(0, 255)`.
        seed: an int for a reproducible sequence. Defaults to `None`.
        data_format: 'channels_last' or 'channels_first'. Defaults to `None` (the config's).
        **kwargs: `name`, `dtype`.

    Raises:
        ValueError: for a factor or scale outside [0, 1], a bad fill_value, value_range or
            seed.

    Example:
        >>> out = RandomErasing((1, 1), scale=(0.25, 0.25), fill_value=0)(torch.ones(1, 8, 8, 3), training=True)
        >>> int((out == 0).all(-1).sum())
        16
    """

    _CAST_IN_INFERENCE = True

    def __init__(self, factor: Any = 1.0, scale: Any = (0.02, 0.33), fill_value: Any = None,
                 value_range: Sequence[float] = (0, 255), seed: Optional[int] = None,
                 data_format: Optional[str] = None, **kwargs: Any) -> None:
        factor = parse_factor(factor, (0, 1), "factor", "RandomErasing")
        scale = parse_factor(scale, (0, 1), "scale", "RandomErasing")
        fills = list(fill_value) if isinstance(fill_value, (tuple, list)) else [fill_value]
        if fill_value is not None and (len(fills) not in (1, 3) or not all(_number(v) for v in fills)):
            raise ValueError(
                f"RandomErasing: `fill_value` must be a number, a list of three numbers (one per channel) or None "
                f"(Gaussian noise). Received: fill_value={fill_value!r}. Example: fill_value=0 or (124, 116, 104)."
            )
        value_range = parse_value_range(value_range, "RandomErasing")
        super().__init__(data_format=data_format, **kwargs)
        self.factor, self.scale, self.value_range = factor, scale, value_range
        self.fill_value = list(fill_value) if isinstance(fill_value, tuple) else fill_value
        self._make_seed_generator(seed)

    def random_transformation(self, images: torch.Tensor, generator: Optional[torch.Generator]) -> Transformation:
        batch, device = images.shape[0], images.device
        h_axis, w_axis = self._spatial_axes
        sides = self._rand((batch, 2), generator, device, self.scale[0], self.scale[1]).sqrt()
        x = self._span(batch, images.shape[w_axis], sides[:, 0], generator, device)
        y = self._span(batch, images.shape[h_axis], sides[:, 1], generator, device)
        transformation = {"mask": self._box_mask(images, x, y), "apply": self._coin(batch, generator, device)}
        if self.fill_value is None:
            noise = torch.randn(images.shape, generator=generator, device=device, dtype=self._float_dtype())
            transformation["fill"] = (noise * self.value_range[1]).clamp(self.value_range[0], self.value_range[1])
        return transformation

    def _fill_constant(self, dtype: torch.dtype, device: torch.device) -> Any:
        """`fill_value` clamped to the value range: a number as is, per-channel values as a tensor made once
        per dtype and device (a tensor built from host values on every call would copy them each time)."""
        low, high = self.value_range
        if not isinstance(self.fill_value, (list, tuple)):
            return min(max(float(self.fill_value), low), high)
        return self._constant("fill_value", dtype, device, self._channel_fills)

    def _channel_fills(self, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        fill = torch.as_tensor(self.fill_value, dtype=dtype).clamp(self.value_range[0], self.value_range[1])
        return fill.reshape((1, 1, 1, -1) if self.data_format == "channels_last" else (1, -1, 1, 1)).to(device)

    def transform_images(self, images: torch.Tensor, transformation: Transformation) -> torch.Tensor:
        x = images.to(self._float_dtype())
        fill = transformation.get("fill")
        if fill is None:
            fill = self._fill_constant(x.dtype, x.device)
        erase = transformation["mask"] & transformation["apply"].reshape(-1, 1, 1, 1)
        return torch.where(erase, fill, x)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update({"factor": list(self.factor), "scale": list(self.scale), "fill_value": self.fill_value,
                        "value_range": list(self.value_range), "seed": self.seed})
        return config_


class MixUp(ImageDataLayer):
    """Blends each image (and its label) with another of the batch (mixup).

    The batch is paired with a random permutation of itself; each image gets a weight
    `w ~ Beta(alpha, alpha)` and becomes `w * x + (1 - w) * x_other`, its label
    `w * y + (1 - w) * y_other`. Pass `{"images": images, "labels": one_hot_labels}` to
    mix labels too. Training outputs are in the layer's dtype; inference returns the
    input unchanged (an integer input stays integer), as in Keras.

    Deviation from Keras 3.15: segmentation masks are mixed like the images (Keras's code
    indexes them without an axis); rank-1 (sparse) labels are refused instead of being
    broadcast to a (batch, batch) matrix.

    Args:
        alpha: the Beta distribution's concentration, a positive number: small values
            keep images mostly whole, 1 mixes uniformly. Defaults to `0.2`.
        data_format: 'channels_last' or 'channels_first'. Defaults to `None` (the config's).
        seed: an int for a reproducible sequence. Defaults to `None`.
        **kwargs: `name`, `dtype`.

    Raises:
        ValueError: for a non-positive alpha, a bad seed, or labels that are not one-hot.

    Example:
        >>> data = {"images": torch.rand(4, 8, 8, 3), "labels": torch.eye(4)}
        >>> out = MixUp(alpha=0.4, seed=1)(data, training=True)
        >>> [tuple(out["images"].shape), round(out["labels"].sum().item(), 4)]
        [(4, 8, 8, 3), 4.0]
    """

    def __init__(self, alpha: float = 0.2, data_format: Optional[str] = None, seed: Optional[int] = None,
                 **kwargs: Any) -> None:
        if not _number(alpha) or not alpha > 0:
            raise ValueError(
                f"MixUp: `alpha` must be a positive number (the Beta distribution's concentration). Received: "
                f"alpha={alpha!r}. Example: alpha=0.2."
            )
        super().__init__(data_format=data_format, **kwargs)
        self.alpha = alpha
        self._make_seed_generator(seed)

    def random_transformation(self, images: torch.Tensor, generator: Optional[torch.Generator]) -> Transformation:
        batch, device = images.shape[0], images.device
        order = torch.randperm(batch, generator=generator, device=device)
        return {"order": order, "weight": self._beta(self.alpha, batch, generator, device)}

    def transform_images(self, images: torch.Tensor, transformation: Transformation) -> torch.Tensor:
        return _blend(images.to(self._float_dtype()), transformation, self._float_dtype())

    def transform_labels(self, labels: torch.Tensor, transformation: Transformation) -> torch.Tensor:
        _check_labels(labels, "MixUp")
        return _blend(labels, transformation, self._float_dtype())

    def transform_segmentation_masks(self, masks: torch.Tensor, transformation: Transformation) -> torch.Tensor:
        return _blend(masks, transformation, self._float_dtype())

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update({"alpha": self.alpha, "seed": self.seed})
        return config_


class CutMix(_BoxLayer):
    """Pastes a rectangle of another image of the batch into each image (CutMix).

    The batch is paired with a random permutation of itself. Per call a concentration
    `a` is drawn from `factor`'s range (a number f gives [0, f]); per image a weight
    `w ~ Beta(a, a)` sets the rectangle's sides to `sqrt(1 - w)` of the image's, at a
    random place. That rectangle is copied from the paired image, and the label becomes
    `w' * y + (1 - w') * y_other`, `w'` being the fraction of the image left uncovered.
    Pass `{"images": images, "labels": one_hot_labels}` to mix labels too. The output is
    in the layer's dtype, in inference too (the input cast), as in Keras. A single image
    (rank 3) is left as it is, having nothing to mix with.

    Args:
        factor: a number in [0, 1] or a pair `(lower, upper)` overlapping it: the range
            of the Beta concentration. Defaults to `1.0`.
        seed: an int for a reproducible sequence. Defaults to `None`.
        data_format: 'channels_last' or 'channels_first'. Defaults to `None` (the config's).
        **kwargs: `name`, `dtype`.

    Raises:
        ValueError: for a factor outside [0, 1], a bad seed, or labels that are not one-hot.

    Example:
        >>> data = {"images": torch.rand(4, 8, 8, 3), "labels": torch.eye(4)}
        >>> out = CutMix(seed=1)(data, training=True)
        >>> [tuple(out["images"].shape), round(out["labels"].sum().item(), 4)]
        [(4, 8, 8, 3), 4.0]
    """

    _CAST_IN_INFERENCE = True

    def __init__(self, factor: Any = 1.0, seed: Optional[int] = None, data_format: Optional[str] = None,
                 **kwargs: Any) -> None:
        factor = parse_factor(factor, (0, 1), "factor", "CutMix")
        super().__init__(data_format=data_format, **kwargs)
        self.factor = factor
        self._make_seed_generator(seed)

    def call(self, inputs: Any, training: Optional[bool] = None) -> Any:
        images = inputs["images"] if isinstance(inputs, dict) and "images" in inputs else inputs
        if getattr(images, "ndim", None) == 3:
            # One image has no partner: Keras returns it cast, and its labels unchanged.
            return super().call(inputs, training=False)
        return super().call(inputs, training=training)

    def random_transformation(self, images: torch.Tensor, generator: Optional[torch.Generator]) -> Transformation:
        batch, device = images.shape[0], images.device
        h_axis, w_axis = self._spatial_axes
        height, width = images.shape[h_axis], images.shape[w_axis]
        alpha = self._rand((), generator, device, self.factor[0], self.factor[1], torch.float32) + 1e-6
        weight = self._beta(alpha, batch, generator).to(self._float_dtype())
        ratio = (1.0 - weight).sqrt()
        x = self._span(batch, width, ratio, generator, device)
        y = self._span(batch, height, ratio, generator, device)
        covered = (x[1] - x[0]) * (y[1] - y[0]) / (width * height)
        order = torch.randperm(batch, generator=generator, device=device)
        return {"order": order, "mask": self._box_mask(images, x, y), "weight": 1.0 - covered}

    def transform_images(self, images: torch.Tensor, transformation: Transformation) -> torch.Tensor:
        x = images.to(self._float_dtype())
        return torch.where(transformation["mask"], x[transformation["order"]], x)

    def transform_labels(self, labels: torch.Tensor, transformation: Transformation) -> torch.Tensor:
        _check_labels(labels, "CutMix")
        return _blend(labels, transformation, self._float_dtype())

    def transform_segmentation_masks(self, masks: torch.Tensor, transformation: Transformation) -> torch.Tensor:
        return self.transform_images(masks, transformation)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update({"factor": list(self.factor), "seed": self.seed})
        return config_
