"""Preprocessing layers: image preprocessing and augmentation, and feature preprocessing.

Each module loads when one of its names is first used (PEP 562): importing one layer does not
import the others.
"""

from __future__ import annotations

import importlib
from typing import Any, List

# Module (under kerasish.layers.preprocessing) -> the public names it defines.
_MODULES = {
    "image_preprocessing": ("AutoContrast", "BaseImagePreprocessingLayer", "CenterCrop", "Rescaling", "Resizing"),
    "image_augmentation": ("RandomCrop", "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom"),
    "image_color": ("RandomBrightness", "RandomContrast", "RandomGrayscale", "RandomHue", "RandomSaturation"),
    "image_pixel_ops": ("Equalization", "RandomInvert", "RandomPosterization", "Solarization"),
    "image_filters": ("RandomColorDegeneration", "RandomGaussianBlur", "RandomSharpness"),
    "image_mixing": ("CutMix", "MixUp", "RandomErasing"),
    "image_warps": ("RandomShear",),
    "image_perspective": ("RandomPerspective",),
    "image_elastic": ("RandomElasticTransform",),
    "image_clahe": ("ContrastLimitedAdaptiveHistogramEqualization",),
    "image_composite": ("Pipeline", "RandomColorJitter"),
    "image_policies": ("AugMix", "RandAugment"),
    "audio": ("MelSpectrogram",),
    "stft": ("STFTSpectrogram",),
    "base": ("PreprocessingLayer",),
    "collate": ("collate_with",),
    "normalization": ("Normalization",),
    "discretization": ("Discretization",),
    "category_encoding": ("CategoryEncoding",),
    "hashing": ("Hashing",),
    "string_lookup": ("StringLookup",),
    "integer_lookup": ("IntegerLookup",),
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'kerasish.layers.preprocessing' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"kerasish.layers.preprocessing.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))
