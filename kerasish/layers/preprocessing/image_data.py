"""The base of the image layers that also take Keras's dict form of a batch.

Keras 3's augmentation layers accept either an images tensor or a dict
`{"images": ..., "labels": ..., "segmentation_masks": ...}`; the layers built on
`ImageDataLayer` do too. The layer draws its random transformation once per call, applies
it to the images, and hands the same draw to the labels (MixUp and CutMix mix them) and
to the segmentation masks. Other keys pass through unchanged, as in Keras.
`"bounding_boxes"` are refused: kerasish's image layers do not move boxes.

A subclass implements `random_transformation(images, generator)`, `transform_images`,
and, where it changes them, `transform_labels` and `transform_segmentation_masks`. Every
hook sees a 4-D batch: a single image (rank 3) gets a batch axis of one on the way in,
and its labels a leading axis too, both removed on the way out.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch

from kerasish.layers.preprocessing.image_preprocessing import BaseImagePreprocessingLayer
from kerasish.ops.dtypes import convert_to_tensor

Transformation = Optional[Dict[str, Any]]  # tensors, and the policies' op choices


def split_data(inputs: Any, layer: str) -> Tuple[Any, Optional[Dict[str, Any]]]:
    """The images of `inputs`, and the dict they came in (None for a plain tensor)."""
    if not isinstance(inputs, dict):
        return inputs, None
    if "images" not in inputs:
        raise ValueError(
            f"{layer} received a dict without an 'images' key. Received keys: {sorted(inputs)}. Pass "
            "{'images': images, 'labels': labels} (labels and segmentation_masks are optional)."
        )
    if "bounding_boxes" in inputs:
        raise NotImplementedError(
            f"{layer}: 'bounding_boxes' in the input dict are not supported; kerasish's image layers transform "
            "images, labels and segmentation masks only. Remove the 'bounding_boxes' key (or transform the "
            "boxes yourself)."
        )
    return inputs["images"], inputs


class ImageDataLayer(BaseImagePreprocessingLayer):
    """An image layer that takes a tensor or Keras's `{"images", "labels", ...}` dict.

    In training (`training=True`, a direct call while the layer is in train mode) it draws
    one transformation for the batch from its `SeedGenerator` and applies it; otherwise it
    calls `inference_images` (the input unchanged, or cast to the compute dtype where
    Keras casts: `_CAST_IN_INFERENCE`).
    """

    # Keras returns some layers' inputs as they are in inference and casts others to the
    # compute dtype; each subclass states which (an integer input stays integer or not).
    _CAST_IN_INFERENCE = False
    # Symbolic calls trace the (inference) call on zeros, so the output spec has the dtype
    # the layer gives: float for the layers that cast, the input's for the others.
    _infer_by_tracing = True

    def call(self, inputs: Any, training: Optional[bool] = None) -> Any:
        images, data = split_data(inputs, type(self).__name__)
        x = self._images(images)
        single = x.dim() == 3
        batch = x.unsqueeze(0) if single else x
        active = self._active(training)
        transformation = None
        if active:
            seeded = getattr(self, "generator", None) is not None  # Equalization draws nothing
            generator = self._torch_generator(batch.device) if seeded else None
            transformation = self.random_transformation(batch, generator)
            out = self.transform_images(batch, transformation)
        else:
            out = batch.to(self._float_dtype()) if self._CAST_IN_INFERENCE else batch
        out = out.squeeze(0) if single else out
        if data is None:
            return out
        result = dict(data)
        result["images"] = out
        for key, transform in (("labels", self.transform_labels),
                               ("segmentation_masks", self.transform_segmentation_masks)):
            if key in data:
                values = self._as_tensor(data[key], batch.device)
                values = values.unsqueeze(0) if single else values
                if active:
                    values = transform(values, transformation)
                result[key] = values.squeeze(0) if single else values
        return result

    @staticmethod
    def _as_tensor(value: Any, device: torch.device) -> torch.Tensor:
        t = value if isinstance(value, torch.Tensor) else convert_to_tensor(value)
        return t.to(device)

    # ------------------------------------------------------------ hooks for subclasses
    def random_transformation(self, images: torch.Tensor, generator: Optional[torch.Generator]) -> Transformation:
        """This call's random draws for a 4-D batch, all from `generator` (None: nothing random)."""
        return None

    def transform_images(self, images: torch.Tensor, transformation: Transformation) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement transform_images.")

    def transform_labels(self, labels: torch.Tensor, transformation: Transformation) -> torch.Tensor:
        return labels

    def transform_segmentation_masks(self, masks: torch.Tensor, transformation: Transformation) -> torch.Tensor:
        return masks

    # ------------------------------------------------------------ helpers
    def _rand(self, shape: Tuple[int, ...], generator: Optional[torch.Generator], device: torch.device,
              low: float = 0.0, high: float = 1.0, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
        """Uniform draws in [low, high) in `dtype` (the compute dtype by default)."""
        return self._uniform(shape, low, high, generator, device, dtype or self._float_dtype())

    def _coin(self, batch: int, generator: Optional[torch.Generator], device: torch.device,
              threshold_generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Which images of a batch to transform, as Keras's "some images" layers draw it: per image a
        probability from `self.factor`'s range, then a uniform threshold (from `threshold_generator`
        where Keras seeds that draw afresh, else from `generator`); an image is transformed where its
        threshold falls below its probability. A (batch,) bool tensor; both draws are float32."""
        probability = self._rand((batch,), generator, device, self.factor[0], self.factor[1], torch.float32)
        threshold = self._rand((batch,), generator if threshold_generator is None else threshold_generator, device,
                               dtype=torch.float32)
        return threshold < probability

    @staticmethod
    def _beta(concentration: Any, batch: int, generator: Optional[torch.Generator],
              device: Optional[torch.device] = None) -> torch.Tensor:
        """`batch` float32 draws of Beta(c, c), the first coordinate of Dirichlet(c, c) samples. `concentration`
        is a 0-d tensor (a value drawn this call) or a positive number, then filled on `device` (no host copy)."""
        if isinstance(concentration, torch.Tensor):
            pairs = concentration.to(torch.float32).expand(batch, 2).contiguous()
        else:
            pairs = torch.full((batch, 2), float(concentration), dtype=torch.float32, device=device)
        return torch._sample_dirichlet(pairs, generator=generator)[:, 0]

    def _to_range(self, images: torch.Tensor, source: Tuple[float, float],
                  target: Tuple[float, float]) -> torch.Tensor:
        """`images` mapped linearly from the value range `source` to `target`."""
        if tuple(source) == tuple(target):
            return images
        return (images - source[0]) / (source[1] - source[0]) * (target[1] - target[0]) + target[0]
