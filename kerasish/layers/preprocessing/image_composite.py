"""Layers made of layers: RandomColorJitter and Pipeline.

RandomColorJitter chains kerasish's RandomBrightness, RandomContrast, RandomSaturation and
RandomHue; Pipeline runs any list of layers in order (Keras's lightweight Sequential for
preprocessing, which also passes Keras's dict form `{"images": ..., "labels": ...}` along).
Both follow the augmentation layers' mode: they act in training (`training=True`, which
`fit` passes) and on a direct call, and not in evaluate and predict or after `layer.eval()`.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import torch

from kerasish.layers.layer import Layer, Shape
from kerasish.layers.preprocessing.image_color import RandomBrightness, RandomContrast, RandomHue, RandomSaturation
from kerasish.layers.preprocessing.image_data import ImageDataLayer, Transformation
from kerasish.layers.preprocessing.image_preprocessing import (
    BaseImagePreprocessingLayer, check_seed, config_value, parse_factor, parse_value_range,
)

# (argument, the layer it configures, the bounds of its factor)
_JITTERS = (
    ("brightness_factor", RandomBrightness, (-1, 1)),
    ("contrast_factor", RandomContrast, (0, 1)),
    ("saturation_factor", RandomSaturation, (-1, 1)),
    ("hue_factor", RandomHue, (0, 1)),
)


class RandomColorJitter(ImageDataLayer):
    """Randomly changes brightness, contrast, saturation and hue, in that order.

    Each factor that is not None adds the matching layer (`RandomBrightness`,
    `RandomContrast`, `RandomSaturation`, `RandomHue`, see their docs for what a factor
    means) with this layer's `value_range`; in training the images are cast to the layer's
    dtype and passed through each. Inference returns the input unchanged (an integer input
    stays integer), as in Keras. The sublayers' generators are seeded `seed`, `seed + 1`,
    ... (so the four draws are not the same numbers), and are saved in the state dict.

    Args:
        value_range: the range of the input values. Defaults to `(0, 255)`.
        brightness_factor: RandomBrightness's factor, or None to skip it. Defaults to `None`.
        contrast_factor: RandomContrast's factor, or None. Defaults to `None`.
        saturation_factor: RandomSaturation's factor, or None. Defaults to `None`.
        hue_factor: RandomHue's factor, or None. Defaults to `None`.
        seed: an int for a reproducible sequence. Defaults to `None`.
        data_format: 'channels_last' or 'channels_first'. Defaults to `None` (the config's).
        **kwargs: `name`, `dtype`.

    Raises:
        ValueError: for a factor outside its layer's bounds, a bad value_range or seed.

    Example:
        >>> jitter = RandomColorJitter(value_range=(0, 1), brightness_factor=0.2, hue_factor=0.1, seed=1)
        >>> jitter(torch.rand(2, 4, 4, 3), training=True).shape
        torch.Size([2, 4, 4, 3])
    """

    def __init__(self, value_range: Sequence[float] = (0, 255), brightness_factor: Any = None,
                 contrast_factor: Any = None, saturation_factor: Any = None, hue_factor: Any = None,
                 seed: Optional[int] = None, data_format: Optional[str] = None, **kwargs: Any) -> None:
        factors = {"brightness_factor": brightness_factor, "contrast_factor": contrast_factor,
                   "saturation_factor": saturation_factor, "hue_factor": hue_factor}
        for arg, _, bounds in _JITTERS:
            if factors[arg] is not None:
                parse_factor(factors[arg], bounds, arg, "RandomColorJitter")
        value_range = parse_value_range(value_range, "RandomColorJitter")
        seed = check_seed(seed, "RandomColorJitter")
        super().__init__(data_format=data_format, **kwargs)
        self.value_range, self.seed = value_range, seed
        self.brightness_factor, self.contrast_factor = brightness_factor, contrast_factor
        self.saturation_factor, self.hue_factor = saturation_factor, hue_factor
        self.jitters = [
            cls(factors[arg], value_range=value_range, seed=None if seed is None else seed + i,
                data_format=self.data_format, dtype=kwargs.get("dtype"))
            for i, (arg, cls, _) in enumerate(_JITTERS) if factors[arg] is not None
        ]
        self.train(True)  # Keras's training=True default (the sublayers start in train mode too)

    def transform_images(self, images: torch.Tensor, transformation: Transformation) -> torch.Tensor:
        x = images.to(self._float_dtype())
        for layer in self.jitters:
            x = layer(x, training=True)
        return x

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update({"value_range": list(self.value_range),
                        "brightness_factor": config_value(self.brightness_factor),
                        "contrast_factor": config_value(self.contrast_factor),
                        "saturation_factor": config_value(self.saturation_factor),
                        "hue_factor": config_value(self.hue_factor),
                        "seed": self.seed})
        return config_


class Pipeline(Layer):
    """Applies a list of layers in order: a light Sequential for preprocessing.

    Unlike `Sequential` it is a layer, not a model, and passes anything between its layers:
    a tensor, or Keras's dict form `{"images": ..., "labels": ...}`. Each layer gets this
    call's `training` flag; a direct call uses the pipeline's mode, which starts as training
    (Keras's `training=True` default), so `pipeline(images)` augments and `pipeline.eval()`
    turns every layer off. Layers that take only an images tensor (RandomFlip, RandomRotation,
    RandomContrast ... in kerasish) get `inputs["images"]`, and the rest of the dict passes
    through (their labels are unchanged, as in Keras).

    Args:
        layers: a list of kerasish layers.
        name: the layer's name. Defaults to `None` (a unique 'pipeline').

    Raises:
        TypeError: when `layers` is not a list of kerasish layers.

    Example:
        >>> from kerasish.layers import RandomFlip, Solarization
        >>> pipeline = Pipeline([RandomFlip(seed=1), Solarization(value_range=(0, 1), seed=2)])
        >>> pipeline(torch.rand(2, 4, 4, 3)).shape
        torch.Size([2, 4, 4, 3])
    """

    def __init__(self, layers: Sequence[Layer], name: Optional[str] = None) -> None:
        if not isinstance(layers, (list, tuple)) or not all(isinstance(layer, Layer) for layer in layers):
            kinds = [type(layer).__name__ for layer in layers] if isinstance(layers, (list, tuple)) else \
                type(layers).__name__
            raise TypeError(
                f"Pipeline: `layers` must be a list of kerasish layers. Received: {kinds}. Wrap a torch module in "
                "kerasish.layers.TorchModuleWrapper, or a function in kerasish.layers.Lambda."
            )
        super().__init__(name=name)
        self._pipeline_layers = list(layers)
        self.train(True)

    def build(self, input_shape: Shape) -> None:
        # Each layer is built with the shape it receives; the image layers are built at
        # construction, so they only note it (Keras writes it as their `build_config`).
        shape = input_shape
        for layer in self._pipeline_layers:
            if not layer.built:
                layer.build_from_shape(shape)
            _note_shape(layer, shape)
            shape = layer.compute_output_shape(shape)

    @property
    def layers(self) -> List[Layer]:
        return list(self._pipeline_layers)

    def call(self, inputs: Any, training: Optional[bool] = None) -> Any:
        training = self.training if training is None else bool(training)
        for layer in self._pipeline_layers:
            inputs = _apply(layer, inputs, training)
        return inputs

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        for layer in self._pipeline_layers:
            input_shape = layer.compute_output_shape(input_shape)
        return input_shape

    def get_config(self) -> Dict[str, Any]:
        from kerasish.layers.nested_config import serialize_layer

        return {"layers": [serialize_layer(layer) for layer in self._pipeline_layers], "name": self.name}

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Pipeline":
        from kerasish.layers.nested_config import deserialize_layer

        layers = config.get("layers")
        if not isinstance(layers, (list, tuple)):
            raise ValueError(
                f"Pipeline: the config needs a 'layers' list of serialized layers. Received: layers={layers!r}. "
                "Use the dict Pipeline.get_config() returns."
            )
        built = [deserialize_layer(spec) for spec in layers]
        for layer, spec in zip(built, layers):
            shape = (spec.get("build_config") or {}).get("input_shape") if isinstance(spec, dict) else None
            if shape is not None:
                _note_shape(layer, tuple(shape))
        return cls(**{**config, "layers": built})


def _note_shape(layer: Layer, shape: Shape) -> None:
    """Records the input shape of a layer that was built without one (at construction)."""
    if layer.get_build_config() is None and isinstance(shape, (tuple, list)):
        layer._build_input_shape = tuple(shape)


def _apply(layer: Layer, inputs: Any, training: bool) -> Any:
    if not isinstance(inputs, dict) or isinstance(layer, ImageDataLayer) or \
            not isinstance(layer, BaseImagePreprocessingLayer):
        return layer(inputs, training=training)
    # A kerasish image layer that takes images only: transform them, pass the labels on.
    moved = sorted(k for k in ("segmentation_masks", "bounding_boxes") if k in inputs)
    if moved:
        raise NotImplementedError(
            f"Pipeline: {type(layer).__name__} transforms images only, so it cannot move the {moved} of the input "
            "dict. Pass {'images': ..., 'labels': ...}, or apply it to the images and masks yourself."
        )
    return {**inputs, "images": layer(inputs["images"], training=training)}
