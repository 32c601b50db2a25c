"""Preprocessing layers: image preprocessing and augmentation, and feature preprocessing."""

from kerasish.layers.preprocessing.image_preprocessing import (
    AutoContrast, BaseImagePreprocessingLayer, CenterCrop, Rescaling, Resizing,
)
from kerasish.layers.preprocessing.image_augmentation import (
    RandomCrop, RandomFlip, RandomRotation, RandomTranslation, RandomZoom,
)
from kerasish.layers.preprocessing.image_color import (
    RandomBrightness, RandomContrast, RandomGrayscale, RandomHue, RandomSaturation,
)
from kerasish.layers.preprocessing.base import PreprocessingLayer
from kerasish.layers.preprocessing.collate import collate_with
from kerasish.layers.preprocessing.normalization import Normalization
from kerasish.layers.preprocessing.discretization import Discretization
from kerasish.layers.preprocessing.category_encoding import CategoryEncoding
from kerasish.layers.preprocessing.hashing import Hashing
from kerasish.layers.preprocessing.string_lookup import StringLookup
from kerasish.layers.preprocessing.integer_lookup import IntegerLookup
