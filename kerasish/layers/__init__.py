"""Keras layers as torch nn.Modules: `from kerasish.layers import Dense, Dropout`.

Each layer's module loads when its name is first used (PEP 562), so `from kerasish.layers import
Dense` does not import the recurrent, attention, text or preprocessing families. `dir()`, `__all__`
and `from kerasish.layers import *` list every layer as before.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any, List

from kerasish.utils.object_registration import add_builtin_loader as _add_builtin_loader
from kerasish.utils.object_registration import register_builtin as _register_builtin
from kerasish.utils.object_registration import register_builtin_alias as _register_builtin_alias

# Module (under kerasish.layers) -> the public names it defines.
_MODULES = {
    "activations": ("ELU", "LeakyReLU", "PReLU", "ReLU", "Softmax"),
    "attention": (
        "AdditiveAttention", "Attention", "EinsumDense", "GroupedQueryAttention", "GroupQueryAttention",
        "MultiHeadAttention",
    ),
    "convolutional": ("Conv1D", "Conv2D", "Conv2DTranspose"),
    "core": ("Activation", "Dense", "Dropout", "Flatten", "Input", "InputLayer", "Reshape"),
    "embedding": ("Embedding", "Masking", "ReversibleEmbedding"),
    "lambda_layer": ("Lambda",),
    "layer": ("Layer",),
    "input_spec": ("InputSpec",),
    "merging": (
        "Add", "Average", "Concatenate", "Dot", "Maximum", "Minimum", "Multiply", "Subtract", "add", "average",
        "concatenate", "dot", "maximum", "minimum", "multiply", "subtract",
    ),
    "op_layer": ("OpLayer",),
    "wrapper": ("Wrapper",),
    "normalization": ("BatchNormalization", "LayerNormalization"),
    "pooling": (
        "AveragePooling1D", "AveragePooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
        "GlobalMaxPooling1D", "GlobalMaxPooling2D", "MaxPooling1D", "MaxPooling2D",
    ),
    "recurrent": ("GRU", "LSTM", "SimpleRNN"),
    "reshaping": ("SpatialDropout1D", "SpatialDropout2D", "UpSampling2D", "ZeroPadding2D"),
    "text_vectorization": ("TextVectorization",),
    "normalization_more": ("GroupNormalization", "RMSNormalization", "SpectralNormalization", "UnitNormalization"),
    "regularization": (
        "ActivityRegularization", "AlphaDropout", "GaussianDropout", "GaussianNoise", "SpatialDropout3D",
    ),
    "rnn_cells": ("GRUCell", "LSTMCell", "SimpleRNNCell", "StackedRNNCells"),
    "rnn_generic": ("RNN",),
    "reshaping_more": (
        "Cropping1D", "Cropping2D", "Cropping3D", "Permute", "RepeatVector", "UpSampling1D", "UpSampling3D",
        "ZeroPadding1D", "ZeroPadding3D",
    ),
    "structure": ("Identity", "TimeDistributed", "TorchModuleWrapper"),
    "convolutional_more": ("Conv1DTranspose", "Conv3D", "Conv3DTranspose"),
    "convolutional_depthwise": ("DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D"),
    "pooling_more": (
        "AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D",
        "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D", "AveragePooling3D",
        "GlobalAveragePooling3D", "GlobalMaxPooling3D", "MaxPooling3D",
    ),
    "wrappers": ("Bidirectional",),
    "conv_lstm": ("ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"),
    "preprocessing.image_preprocessing": ("AutoContrast", "CenterCrop", "Rescaling", "Resizing"),
    "preprocessing.image_augmentation": (
        "RandomCrop", "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom",
    ),
    "preprocessing.image_color": (
        "RandomBrightness", "RandomContrast", "RandomGrayscale", "RandomHue", "RandomSaturation",
    ),
    "preprocessing.image_pixel_ops": ("Equalization", "RandomInvert", "RandomPosterization", "Solarization"),
    "preprocessing.image_filters": ("RandomColorDegeneration", "RandomGaussianBlur", "RandomSharpness"),
    "preprocessing.image_mixing": ("CutMix", "MixUp", "RandomErasing"),
    "preprocessing.image_warps": ("RandomShear",),
    "preprocessing.image_perspective": ("RandomPerspective",),
    "preprocessing.image_elastic": ("RandomElasticTransform",),
    "preprocessing.image_clahe": ("ContrastLimitedAdaptiveHistogramEqualization",),
    "preprocessing.image_composite": ("Pipeline", "RandomColorJitter"),
    "preprocessing.image_policies": ("AugMix", "RandAugment"),
    "preprocessing.audio": ("MelSpectrogram",),
    "preprocessing.stft": ("STFTSpectrogram",),
    "preprocessing.normalization": ("Normalization",),
    "preprocessing.discretization": ("Discretization",),
    "preprocessing.category_encoding": ("CategoryEncoding",),
    "preprocessing.hashing": ("Hashing",),
    "preprocessing.string_lookup": ("StringLookup",),
    "preprocessing.integer_lookup": ("IntegerLookup",),
}

# Keras's aliases: alias -> the name it stands for.
_ALIASES = {
    "MaxPool1D": "MaxPooling1D", "MaxPool2D": "MaxPooling2D", "MaxPool3D": "MaxPooling3D",
    "AvgPool1D": "AveragePooling1D", "AvgPool2D": "AveragePooling2D", "AvgPool3D": "AveragePooling3D",
    "Convolution1D": "Conv1D", "Convolution2D": "Conv2D", "Convolution3D": "Conv3D",
    "Convolution1DTranspose": "Conv1DTranspose", "Convolution2DTranspose": "Conv2DTranspose",
    "Convolution3DTranspose": "Conv3DTranspose",
    "SeparableConvolution1D": "SeparableConv1D", "SeparableConvolution2D": "SeparableConv2D",
    "GlobalAvgPool1D": "GlobalAveragePooling1D", "GlobalAvgPool2D": "GlobalAveragePooling2D",
    "GlobalAvgPool3D": "GlobalAveragePooling3D",
    "GlobalMaxPool1D": "GlobalMaxPooling1D", "GlobalMaxPool2D": "GlobalMaxPooling2D",
    "GlobalMaxPool3D": "GlobalMaxPooling3D",
}

_WHERE = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "Layer", "Input", "InputLayer", "Dense", "Activation", "Dropout", "Flatten", "Reshape",
    "Conv1D", "Conv2D", "Conv2DTranspose", "SeparableConv2D", "Convolution1D", "Convolution2D",
    "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
    "MaxPool1D", "MaxPool2D", "AvgPool1D", "AvgPool2D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
    "BatchNormalization", "LayerNormalization",
    "ZeroPadding2D", "UpSampling2D", "SpatialDropout1D", "SpatialDropout2D",
    "Embedding", "Masking",
    "SimpleRNN", "LSTM", "GRU", "Bidirectional", "TextVectorization",
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
    "add", "subtract", "multiply", "average", "concatenate", "dot", "maximum", "minimum", "OpLayer", "InputSpec",
    "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "Lambda",
    "GroupNormalization", "UnitNormalization", "RMSNormalization", "SpectralNormalization",
    "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization", "SpatialDropout3D",
    "ReversibleEmbedding", "RNN", "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells",
    "EinsumDense", "MultiHeadAttention", "GroupedQueryAttention", "GroupQueryAttention", "Attention",
    "AdditiveAttention",
    "Cropping1D", "Cropping2D", "Cropping3D", "Permute", "RepeatVector", "UpSampling1D", "UpSampling3D",
    "ZeroPadding1D", "ZeroPadding3D", "Identity", "TimeDistributed", "TorchModuleWrapper",
    "Conv1DTranspose", "Conv3D", "Conv3DTranspose", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D",
    "MaxPooling3D", "AveragePooling3D", "GlobalAveragePooling3D", "GlobalMaxPooling3D",
    "AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D",
    "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D",
    "MaxPool3D", "AvgPool3D", "Convolution3D", "Convolution1DTranspose", "Convolution2DTranspose",
    "Convolution3DTranspose", "SeparableConvolution1D", "SeparableConvolution2D", "GlobalAvgPool1D",
    "GlobalAvgPool2D", "GlobalAvgPool3D", "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D",
    "Rescaling", "Resizing", "CenterCrop", "AutoContrast", "RandomFlip", "RandomRotation", "RandomZoom",
    "RandomTranslation", "RandomCrop", "RandomContrast", "RandomBrightness", "RandomGrayscale", "RandomHue",
    "RandomSaturation",
    "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D",
]

__all__ += [
    "Solarization", "RandomInvert", "RandomPosterization", "Equalization", "RandomColorDegeneration",
    "RandomSharpness", "RandomGaussianBlur", "RandomErasing", "MixUp", "CutMix", "RandomShear", "RandomColorJitter",
    "Pipeline", "RandAugment", "AugMix", "MelSpectrogram", "Wrapper",
]
__all__ += ["Normalization", "Discretization", "CategoryEncoding", "Hashing", "StringLookup", "IntegerLookup"]
__all__ += ["STFTSpectrogram"]
__all__ += ["RandomPerspective", "RandomElasticTransform", "ContrastLimitedAdaptiveHistogramEqualization"]
__all__ += ["serialize", "deserialize"]


def __getattr__(name: str) -> Any:
    target = _ALIASES.get(name, name)
    if name in ("serialize", "deserialize"):  # Keras's keras.layers.serialize / deserialize
        from kerasish.saving import keras_objects

        value = getattr(keras_objects, f"{name}_keras_object")
    elif target in _WHERE:
        value = getattr(importlib.import_module(f"kerasish.layers.{_WHERE[target]}"), target)
    elif name.isidentifier() and not name.startswith("_") and importlib.util.find_spec(f"kerasish.layers.{name}"):
        # A module of the package (kerasish.layers.core ...), as when this package imported them all.
        value = importlib.import_module(f"kerasish.layers.{name}")
    else:
        from kerasish.utils.keras_names import missing_attribute

        raise missing_attribute(__name__, name, __all__)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))


def _register_all() -> None:
    # Saved configs name layers by class; load_model finds kerasish's own in the builtin table
    # (kerasish.saving never imports the layer modules itself). Runs before the first lookup.
    def get(name: str) -> Any:  # an eagerly imported name is a global; a lazy one loads here
        return globals()[name] if name in globals() else __getattr__(name)

    _register_builtin(*[obj for obj in map(get, __all__) if isinstance(obj, type)])
    # Keras 3 calls GroupedQueryAttention `GroupQueryAttention`: configs written by Keras name it so.
    _register_builtin_alias("GroupQueryAttention", get("GroupedQueryAttention"))


_add_builtin_loader(_register_all)

# Installs the recorder that makes `ops.add(keras_tensor, 1)` a graph node (symbolic tensors exist
# only once a layer module is imported, and every one of them imports this package first).
from kerasish.layers import op_layer as _op_layer  # noqa: E402,F401
