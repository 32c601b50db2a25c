"""The catalogue: every layer class `kerasish.layers` exports, held against its Keras 3 twin.

Each case builds one layer inside a functional model in both libraries (same constructor
arguments, same input shapes) and checks what a user sees: the layer's parameter counts
(total, trainable, non-trainable), the Total/Trainable/Non-trainable lines of `summary()`,
the model's output shapes, the number and shapes of `get_weights()`, and, with Keras's
(randomised) weights copied over by `set_weights`, the inference outputs on one random input.

A class exported by `kerasish.layers` without a case fails `test_every_exported_layer_has_a_case`;
the only exceptions are the commented `NO_KERAS_TWIN` and `NOT_COMPARABLE` tables below.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import pytest
import torch

import kerasish
from kerasish import layers as klayers
from tests.keras_parity import assert_close, keras_module, to_numpy

BATCH = 2


@dataclass(frozen=True)
class Nested:
    """A layer argument that is itself a layer (`Bidirectional(layer=...)`, `RNN(cell=...)`)."""

    name: str
    kwargs: Dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Fresh:
    """A layer argument built anew for each library (a torch module must not be shared)."""

    make: Callable[[], Any]


@dataclass(frozen=True)
class Case:
    name: str  # the class's name in kerasish.layers
    kwargs: Dict[str, Any]
    shapes: Tuple[Tuple[int, ...], ...]  # one per input, without the batch axis
    call: str = "one"  # "one": layer(x); "list": layer([x, y, ...]); "args": layer(x, y, ...)
    dtype: str = "float32"  # input dtype; int inputs are drawn from [0, high)
    high: int = 10
    keras_name: Optional[str] = None  # the Keras class, when its name differs
    outputs: bool = True  # False: eager outputs are not compared (the case's comment says why)


def case(id: str, name: str, kwargs: Optional[Dict[str, Any]], *shapes: Tuple[int, ...], xfail: str = "",
         **options: Any) -> Any:
    """One parametrized case. `xfail="<the exact difference>"` marks a known mismatch with Keras (strict, so
    the case fails again once kerasish is fixed and the mark must go); `options` are Case's other fields."""
    marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
    return pytest.param(Case(name, kwargs or {}, tuple(shapes), **options), id=id, marks=marks)


def _double(x: Any) -> Any:
    return x * 2.0 + 1.0


# Each kerasish.layers class with one or more cases. Keep shapes small: the whole file runs in seconds.
CASES = [
    # core
    case("Dense", "Dense", dict(units=4, activation="relu"), (3, 5)),
    case("Dense_no_bias", "Dense", dict(units=3, use_bias=False), (5,)),
    case("Dense_frozen", "Dense", dict(units=3, trainable=False), (5,)),
    case("EinsumDense", "EinsumDense", dict(equation="ab,bc->ac", output_shape=4, bias_axes="c"), (5,)),
    case("EinsumDense_3d", "EinsumDense", dict(equation="abc,cde->abde", output_shape=(None, 2, 3), bias_axes="de"),
         (4, 5)),
    case("Activation", "Activation", dict(activation="gelu"), (5,)),
    case("Identity", "Identity", {}, (5,)),
    case("Lambda", "Lambda", dict(function=_double), (5,)),
    case("Masking", "Masking", dict(mask_value=0.0), (4, 3)),
    case("Embedding", "Embedding", dict(input_dim=10, output_dim=4), (5,), dtype="int32"),
    case("Embedding_mask_zero", "Embedding", dict(input_dim=10, output_dim=3, mask_zero=True), (5,), dtype="int32"),
    case("ReversibleEmbedding", "ReversibleEmbedding", dict(input_dim=10, output_dim=4, tie_weights=False), (5,),
         dtype="int32"),
    case("TorchModuleWrapper", "TorchModuleWrapper", dict(module=Fresh(lambda: torch.nn.Linear(5, 3)), output_shape=(None, 3)), (5,)),
    # activations
    case("ReLU", "ReLU", dict(max_value=2.0, negative_slope=0.1), (5,)),
    case("LeakyReLU", "LeakyReLU", dict(negative_slope=0.2), (5,)),
    case("PReLU", "PReLU", {}, (4, 5)),
    case("PReLU_shared", "PReLU", dict(shared_axes=[1]), (4, 5)),
    case("PReLU_image", "PReLU", dict(shared_axes=[1, 2]), (3, 3, 2)),
    case("ELU", "ELU", dict(alpha=0.5), (5,)),
    case("Softmax", "Softmax", dict(axis=-1), (4, 5)),
    # convolutions
    case("Conv1D", "Conv1D", dict(filters=3, kernel_size=3, padding="same"), (7, 2)),
    case("Conv1D_no_bias_causal", "Conv1D", dict(filters=3, kernel_size=3, padding="causal", use_bias=False), (7, 2)),
    case("Conv2D", "Conv2D", dict(filters=4, kernel_size=3, strides=2), (7, 6, 3)),
    case("Conv2D_groups", "Conv2D", dict(filters=4, kernel_size=3, groups=2, padding="same"), (5, 5, 4)),
    case("Conv2D_channels_first", "Conv2D", dict(filters=3, kernel_size=2, data_format="channels_first"), (2, 5, 4)),
    case("Conv3D", "Conv3D", dict(filters=2, kernel_size=2), (4, 4, 4, 2)),
    case("Conv1DTranspose", "Conv1DTranspose", dict(filters=3, kernel_size=3, strides=2), (5, 2)),
    case("Conv2DTranspose", "Conv2DTranspose", dict(filters=3, kernel_size=3, strides=2, padding="same"), (4, 5, 2)),
    case("Conv3DTranspose", "Conv3DTranspose", dict(filters=2, kernel_size=2, strides=2), (3, 3, 3, 2)),
    case("DepthwiseConv1D", "DepthwiseConv1D", dict(kernel_size=3, depth_multiplier=2), (7, 3)),
    case("DepthwiseConv2D", "DepthwiseConv2D", dict(kernel_size=3, depth_multiplier=2, padding="same"), (5, 5, 3)),
    case("SeparableConv1D", "SeparableConv1D", dict(filters=4, kernel_size=3, depth_multiplier=2), (7, 3)),
    case("SeparableConv2D", "SeparableConv2D", dict(filters=4, kernel_size=3), (6, 6, 3)),
    case("SeparableConv2D_no_bias", "SeparableConv2D", dict(filters=4, kernel_size=3, depth_multiplier=2,
                                                           use_bias=False, padding="same"), (5, 5, 2)),
    case("Convolution1D", "Convolution1D", dict(filters=2, kernel_size=2), (5, 3)),
    case("Convolution2D", "Convolution2D", dict(filters=2, kernel_size=2), (4, 4, 3)),
    case("Convolution3D", "Convolution3D", dict(filters=2, kernel_size=2), (3, 3, 3, 1)),
    case("Convolution1DTranspose", "Convolution1DTranspose", dict(filters=2, kernel_size=2), (4, 3)),
    case("Convolution2DTranspose", "Convolution2DTranspose", dict(filters=2, kernel_size=2), (3, 3, 2)),
    case("Convolution3DTranspose", "Convolution3DTranspose", dict(filters=2, kernel_size=2), (2, 2, 2, 1)),
    case("SeparableConvolution1D", "SeparableConvolution1D", dict(filters=2, kernel_size=2), (5, 3)),
    case("SeparableConvolution2D", "SeparableConvolution2D", dict(filters=2, kernel_size=2), (4, 4, 3)),
    # pooling
    case("MaxPooling1D", "MaxPooling1D", dict(pool_size=2), (6, 3)),
    case("MaxPooling2D", "MaxPooling2D", dict(pool_size=2, padding="same"), (5, 5, 2)),
    case("MaxPooling3D", "MaxPooling3D", dict(pool_size=2), (4, 4, 4, 2)),
    case("AveragePooling1D", "AveragePooling1D", dict(pool_size=3, strides=2, padding="same"), (7, 3)),
    case("AveragePooling2D", "AveragePooling2D", dict(pool_size=2), (6, 6, 2)),
    case("AveragePooling3D", "AveragePooling3D", dict(pool_size=2), (4, 4, 4, 2)),
    case("MaxPool1D", "MaxPool1D", {}, (6, 3)),
    case("MaxPool2D", "MaxPool2D", {}, (4, 4, 2)),
    case("MaxPool3D", "MaxPool3D", {}, (4, 4, 4, 1)),
    case("AvgPool1D", "AvgPool1D", dict(pool_size=2), (6, 3)),
    case("AvgPool2D", "AvgPool2D", dict(pool_size=2), (4, 4, 2)),
    case("AvgPool3D", "AvgPool3D", dict(pool_size=2), (4, 4, 4, 1)),
    case("GlobalAveragePooling1D", "GlobalAveragePooling1D", {}, (5, 3)),
    case("GlobalAveragePooling2D", "GlobalAveragePooling2D", dict(keepdims=True), (4, 5, 3)),
    case("GlobalAveragePooling3D", "GlobalAveragePooling3D", {}, (3, 3, 3, 2)),
    case("GlobalMaxPooling1D", "GlobalMaxPooling1D", {}, (5, 3)),
    case("GlobalMaxPooling2D", "GlobalMaxPooling2D", {}, (4, 5, 3)),
    case("GlobalMaxPooling3D", "GlobalMaxPooling3D", dict(keepdims=True), (3, 3, 3, 2)),
    case("GlobalAvgPool1D", "GlobalAvgPool1D", {}, (5, 3)),
    case("GlobalAvgPool2D", "GlobalAvgPool2D", {}, (4, 5, 3)),
    case("GlobalAvgPool3D", "GlobalAvgPool3D", {}, (3, 3, 3, 2)),
    case("GlobalMaxPool1D", "GlobalMaxPool1D", {}, (5, 3)),
    case("GlobalMaxPool2D", "GlobalMaxPool2D", {}, (4, 5, 3)),
    case("GlobalMaxPool3D", "GlobalMaxPool3D", {}, (3, 3, 3, 2)),
    case("AdaptiveAveragePooling1D", "AdaptiveAveragePooling1D", dict(output_size=3), (7, 2)),
    case("AdaptiveAveragePooling2D", "AdaptiveAveragePooling2D", dict(output_size=(2, 3)), (5, 7, 2)),
    case("AdaptiveAveragePooling3D", "AdaptiveAveragePooling3D", dict(output_size=2), (5, 4, 3, 2)),
    case("AdaptiveMaxPooling1D", "AdaptiveMaxPooling1D", dict(output_size=3), (7, 2)),
    case("AdaptiveMaxPooling2D", "AdaptiveMaxPooling2D", dict(output_size=(2, 3)), (5, 7, 2)),
    case("AdaptiveMaxPooling3D", "AdaptiveMaxPooling3D", dict(output_size=2), (5, 4, 3, 2)),
    # normalization
    case("BatchNormalization", "BatchNormalization", {}, (4, 3)),
    case("BatchNormalization_axis1", "BatchNormalization", dict(axis=1, center=False), (3, 4)),
    case("BatchNormalization_no_affine", "BatchNormalization", dict(center=False, scale=False), (3, 4)),
    case("LayerNormalization_axes", "LayerNormalization", dict(axis=[1, 2], center=False), (3, 4)),
    case("GroupNormalization_no_center", "GroupNormalization", dict(groups=3, center=False), (2, 6)),
    case("LayerNormalization", "LayerNormalization", {}, (4, 5)),
    case("GroupNormalization", "GroupNormalization", dict(groups=2), (4, 6)),
    case("UnitNormalization", "UnitNormalization", {}, (4, 5)),
    case("UnitNormalization_axes", "UnitNormalization", dict(axis=[1, 2]), (3, 4)),
    case("RMSNormalization", "RMSNormalization", {}, (4, 5)),
    case("SpectralNormalization", "SpectralNormalization", dict(layer=Nested("Dense", dict(units=3))), (5,)),
    case("SpectralNormalization_conv", "SpectralNormalization",
         dict(layer=Nested("Conv2D", dict(filters=2, kernel_size=2)), power_iterations=2), (4, 4, 3)),
    # regularization (all are the identity in inference)
    case("Dropout", "Dropout", dict(rate=0.5), (5,)),
    case("SpatialDropout1D", "SpatialDropout1D", dict(rate=0.5), (4, 3)),
    case("SpatialDropout2D", "SpatialDropout2D", dict(rate=0.5), (4, 4, 3)),
    case("SpatialDropout3D", "SpatialDropout3D", dict(rate=0.5), (3, 3, 3, 2)),
    case("GaussianNoise", "GaussianNoise", dict(stddev=0.3), (5,)),
    case("GaussianDropout", "GaussianDropout", dict(rate=0.3), (5,)),
    case("AlphaDropout", "AlphaDropout", dict(rate=0.3), (5,)),
    case("ActivityRegularization", "ActivityRegularization", dict(l1=0.01, l2=0.01), (5,)),
    # reshaping
    case("Flatten", "Flatten", {}, (3, 4)),
    case("Reshape", "Reshape", dict(target_shape=(4, 3)), (3, 4)),
    case("Reshape_infer", "Reshape", dict(target_shape=(-1, 2)), (3, 4)),
    case("Permute", "Permute", dict(dims=(2, 1)), (3, 4)),
    case("RepeatVector", "RepeatVector", dict(n=3), (4,)),
    case("Cropping1D", "Cropping1D", dict(cropping=(1, 2)), (6, 3)),
    case("Cropping2D", "Cropping2D", dict(cropping=((1, 0), (0, 2))), (5, 5, 2)),
    case("Cropping2D_channels_first", "Cropping2D", dict(cropping=1, data_format="channels_first"), (2, 5, 5)),
    case("Cropping3D", "Cropping3D", dict(cropping=1), (4, 4, 4, 1)),
    case("ZeroPadding1D", "ZeroPadding1D", dict(padding=(1, 2)), (4, 3)),
    case("ZeroPadding2D", "ZeroPadding2D", dict(padding=((1, 2), (0, 1))), (3, 4, 2)),
    case("ZeroPadding3D", "ZeroPadding3D", dict(padding=1), (2, 3, 2, 1)),
    case("UpSampling1D", "UpSampling1D", dict(size=3), (4, 2)),
    case("UpSampling2D", "UpSampling2D", dict(size=(2, 3)), (3, 4, 2)),
    case("UpSampling2D_bilinear", "UpSampling2D", dict(size=2, interpolation="bilinear"), (3, 4, 2)),
    case("UpSampling3D", "UpSampling3D", dict(size=2), (2, 2, 2, 1)),
    # merging
    case("Add", "Add", {}, (4,), (4,), call="list"),
    case("Subtract", "Subtract", {}, (4,), (4,), call="list"),
    case("Multiply", "Multiply", {}, (4,), (4,), (4,), call="list"),
    case("Average", "Average", {}, (4,), (4,), call="list"),
    case("Maximum", "Maximum", {}, (4,), (4,), call="list"),
    case("Minimum", "Minimum", {}, (4,), (4,), call="list"),
    case("Concatenate", "Concatenate", dict(axis=-1), (3, 4), (3, 2), call="list"),
    case("Dot", "Dot", dict(axes=1, normalize=True), (4,), (4,), call="list"),
    case("Dot_rank3", "Dot", dict(axes=(2, 2)), (3, 4), (5, 4), call="list"),
    # attention
    case("MultiHeadAttention", "MultiHeadAttention", dict(num_heads=2, key_dim=3), (4, 5), (6, 5), call="args"),
    case("MultiHeadAttention_value_dim", "MultiHeadAttention", dict(num_heads=2, key_dim=3, value_dim=2, output_shape=4),
         (4, 5), (6, 5), (6, 3), call="args"),
    case("MultiHeadAttention_no_bias", "MultiHeadAttention", dict(num_heads=3, key_dim=2, use_bias=False),
         (4, 5), (4, 5), call="args"),
    case("MultiHeadAttention_2d_axes", "MultiHeadAttention", dict(num_heads=2, key_dim=2, attention_axes=(1, 2)),
         (3, 2, 4), (3, 2, 4), call="args"),
    case("GroupQueryAttention", "GroupQueryAttention", dict(head_dim=3, num_query_heads=4, num_key_value_heads=2),
         (4, 5), (6, 5), call="args"),
    case("GroupedQueryAttention", "GroupedQueryAttention",
         dict(head_dim=2, num_query_heads=2, num_key_value_heads=1, use_bias=False), (4, 5), (6, 5), call="args",
         keras_name="GroupQueryAttention"),
    case("Attention", "Attention", dict(use_scale=True, score_mode="concat"), (4, 3), (5, 3), call="list"),
    case("Attention_dot", "Attention", {}, (4, 3), (5, 3), (5, 3), call="list"),
    case("AdditiveAttention", "AdditiveAttention", {}, (4, 3), (5, 3), call="list"),
    # recurrent
    case("SimpleRNN", "SimpleRNN", dict(units=3, return_sequences=True), (5, 4)),
    case("LSTM", "LSTM", dict(units=3, return_state=True), (5, 4)),
    case("LSTM_no_bias", "LSTM", dict(units=2, use_bias=False, return_sequences=True), (5, 4)),
    case("SimpleRNN_state", "SimpleRNN", dict(units=3, return_state=True), (5, 4)),
    case("GRU_state_sequences", "GRU", dict(units=2, return_sequences=True, return_state=True), (5, 4)),
    case("GRU", "GRU", dict(units=3), (5, 4)),
    case("GRU_reset_before", "GRU", dict(units=3, reset_after=False), (5, 4)),
    case("RNN", "RNN", dict(cell=Nested("SimpleRNNCell", dict(units=3))), (5, 4)),
    case("SimpleRNNCell", "SimpleRNNCell", dict(cell=Nested("SimpleRNNCell", dict(units=2, use_bias=False))), (5, 4)),
    case("LSTMCell", "LSTMCell", dict(cell=Nested("LSTMCell", dict(units=3)), return_sequences=True), (5, 4)),
    case("GRUCell", "GRUCell", dict(cell=Nested("GRUCell", dict(units=3))), (5, 4)),
    case("StackedRNNCells", "StackedRNNCells",
         dict(cell=Nested("StackedRNNCells", dict(cells=[Nested("LSTMCell", dict(units=3)),
                                                         Nested("GRUCell", dict(units=2))]))), (5, 4)),
    case("Bidirectional", "Bidirectional", dict(layer=Nested("LSTM", dict(units=3, return_sequences=True))), (5, 4)),
    case("Bidirectional_sum", "Bidirectional", dict(layer=Nested("GRU", dict(units=3)), merge_mode="sum"), (5, 4)),
    case("Bidirectional_none", "Bidirectional", dict(layer=Nested("SimpleRNN", dict(units=2)), merge_mode=None),
         (5, 4)),
    case("TimeDistributed", "TimeDistributed", dict(layer=Nested("Dense", dict(units=3))), (4, 5)),
    case("TimeDistributed_conv", "TimeDistributed", dict(layer=Nested("Conv2D", dict(filters=2, kernel_size=2))),
         (3, 4, 4, 2)),
    case("TimeDistributed_batchnorm", "TimeDistributed", dict(layer=Nested("BatchNormalization")), (3, 4)),
    case("ConvLSTM1D", "ConvLSTM1D", dict(filters=2, kernel_size=2), (3, 5, 2)),
    case("ConvLSTM2D", "ConvLSTM2D", dict(filters=2, kernel_size=2, padding="same", return_sequences=True),
         (3, 4, 4, 2)),
    case("ConvLSTM2D_state", "ConvLSTM2D", dict(filters=2, kernel_size=2, return_state=True), (3, 4, 4, 2)),
    case("ConvLSTM3D", "ConvLSTM3D", dict(filters=2, kernel_size=2), (2, 3, 3, 3, 1)),
    # preprocessing (augmentations are the identity in inference)
    case("Rescaling", "Rescaling", dict(scale=1 / 255.0, offset=-0.5), (4, 4, 3)),
    case("Resizing", "Resizing", dict(height=3, width=5), (6, 4, 3)),
    case("Resizing_crop_nearest", "Resizing", dict(height=3, width=3, interpolation="nearest",
                                                 crop_to_aspect_ratio=True), (6, 4, 3)),
    case("CenterCrop", "CenterCrop", dict(height=3, width=2), (5, 4, 3)),
    case("AutoContrast", "AutoContrast", {}, (4, 4, 3)),
    case("RandomFlip", "RandomFlip", {}, (4, 4, 3)),
    case("RandomRotation", "RandomRotation", dict(factor=0.2), (4, 4, 3)),
    case("RandomZoom", "RandomZoom", dict(height_factor=0.2), (4, 4, 3)),
    case("RandomTranslation", "RandomTranslation", dict(height_factor=0.2, width_factor=0.2), (4, 4, 3)),
    case("RandomCrop", "RandomCrop", dict(height=3, width=2), (3, 2, 3)),
    # Keras 3.15's RandomCrop returns a larger input unchanged in inference, although its docstring
    # and its compute_output_shape (3, 2) say it is resized and centre-cropped, as kerasish does.
    case("RandomCrop_larger", "RandomCrop", dict(height=3, width=2), (5, 4, 3), outputs=False),
    case("RandomContrast", "RandomContrast", dict(factor=0.2), (4, 4, 3)),
    case("RandomBrightness", "RandomBrightness", dict(factor=0.2), (4, 4, 3)),
    case("RandomGrayscale", "RandomGrayscale", {}, (4, 4, 3)),
    case("RandomHue", "RandomHue", dict(factor=0.2), (4, 4, 3)),
    case("RandomSaturation", "RandomSaturation", dict(factor=0.5), (4, 4, 3)),
    case("Solarization", "Solarization", dict(threshold_factor=0.5), (4, 4, 3)),
    case("RandomInvert", "RandomInvert", {}, (4, 4, 3)),
    case("RandomPosterization", "RandomPosterization", dict(factor=4), (4, 4, 3)),
    case("RandomColorDegeneration", "RandomColorDegeneration", dict(factor=0.5), (4, 4, 3)),
    case("RandomSharpness", "RandomSharpness", dict(factor=0.5), (4, 4, 3)),
    case("RandomGaussianBlur", "RandomGaussianBlur", {}, (4, 4, 3)),
    case("RandomErasing", "RandomErasing", {}, (4, 4, 3)),
    case("MixUp", "MixUp", {}, (4, 4, 3)),
    case("CutMix", "CutMix", {}, (4, 4, 3)),
    case("RandomShear", "RandomShear", dict(x_factor=0.2, y_factor=0.1), (4, 4, 3)),
    case("RandomPerspective", "RandomPerspective", dict(scale=0.5), (4, 4, 3)),
    case("RandomElasticTransform", "RandomElasticTransform", dict(scale=0.5), (4, 4, 3)),
    # 8x8 tiles: the clip limit 4 * 64 / 256 is whole, where Keras's torch backend agrees (see the layer).
    case("ContrastLimitedAdaptiveHistogramEqualization", "ContrastLimitedAdaptiveHistogramEqualization",
         dict(value_range=(-3, 3), tile_grid_size=(2, 2)), (16, 16, 1)),
    case("RandomColorJitter", "RandomColorJitter", dict(brightness_factor=0.2, hue_factor=0.1), (4, 4, 3)),
    case("Pipeline", "Pipeline", dict(layers=[Nested("RandomFlip"), Nested("Solarization")]), (4, 4, 3)),
    case("RandAugment", "RandAugment", {}, (4, 4, 3)),
    case("MelSpectrogram", "MelSpectrogram",
         dict(fft_length=64, sequence_stride=16, num_mel_bins=8, sampling_rate=8000), (256,)),
    case("STFTSpectrogram", "STFTSpectrogram", dict(mode="psd", frame_length=16, frame_step=8), (64, 2)),
    case("AugMix", "AugMix", {}, (4, 4, 3)),
    # Given mean and variance, Keras's layer holds no weights; unadapted, it holds mean, variance and count.
    case("Normalization", "Normalization", dict(mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 9.0]), (3,)),
    case("Normalization_unadapted", "Normalization", {}, (3,)),
    case("Discretization", "Discretization", dict(bin_boundaries=[-0.5, 0.0, 0.5]), (4,)),
    case("CategoryEncoding", "CategoryEncoding", dict(num_tokens=5, output_mode="multi_hot"), (3,), dtype="int32",
         high=5),
    case("CategoryEncoding_count", "CategoryEncoding", dict(num_tokens=6, output_mode="count"), (4,), dtype="int32",
         high=6),
    case("IntegerLookup", "IntegerLookup", dict(vocabulary=[1, 3, 5, 7]), (4,), dtype="int32"),
    case("Hashing", "Hashing", dict(num_bins=4), (4,), dtype="int32"),
]

# Classes kerasish.layers exports that Keras 3 lacks.
NO_KERAS_TWIN = {
    "OpLayer": "kerasish's symbolic node for a kerasish.ops call on a KerasTensor; Keras records those as "
               "operations, not layers.",
}

# Classes both have, that this catalogue cannot hold against Keras, each with the reason.
NOT_COMPARABLE = {
    "Layer": "the abstract base: it has no weights or call of its own (subclasses are the cases).",
    "Wrapper": "the abstract base of wrapping layers: no call of its own (tests/layers/test_wrapper.py).",
    "InputLayer": "kerasish.Input creates it in every case; it has no weights and no output but its input.",
    "StringLookup": "takes string tensors, which Keras's torch backend cannot carry through a functional model.",
    "TextVectorization": "takes string tensors, which Keras's torch backend cannot carry through a functional model.",
    "Equalization": "Keras 3.15's Equalization.compute_output_spec returns its input, so a Keras functional model "
                    "with it is a cycle; tests/layers/test_image_data.py holds it against Keras eagerly.",
}

# Keras 3's layer classes kerasish had when this test was written: coverage may only grow.
MIN_COVERAGE = 154


# --------------------------------------------------------------------------- building
def _arg(lib: Any, value: Any) -> Any:
    if isinstance(value, Nested):
        return getattr(lib.layers, value.name)(**{k: _arg(lib, v) for k, v in value.kwargs.items()})
    if isinstance(value, Fresh):
        return value.make()
    if isinstance(value, list):
        return [_arg(lib, v) for v in value]
    return value


def _layer(lib: Any, c: Case) -> Any:
    # A cell's case is the RNN that drives it (a cell alone cannot sit in a model).
    name = "RNN" if "cell" in c.kwargs else c.name
    if lib is not kerasish:
        name = c.keras_name or name
    return getattr(lib.layers, name)(**{k: _arg(lib, v) for k, v in c.kwargs.items()})


def _model(lib: Any, c: Case) -> Tuple[Any, Any]:
    lib.backend.clear_session(free_memory=False)  # names restart; a gc pass per case would dominate the runtime
    inputs = [lib.Input(shape=s, dtype=c.dtype) for s in c.shapes]
    try:
        layer = _layer(lib, c)
    except ImportError as e:  # Keras's lookup and hashing layers run on TensorFlow, whatever the backend
        if lib is kerasish or "TensorFlow" not in str(e):
            raise
        pytest.skip(f"the Keras oracle for {c.name} needs TensorFlow (pip install tensorflow): {e}")
    if c.call == "list":
        out = layer(inputs)
    elif c.call == "args":
        out = layer(*inputs)
    else:
        out = layer(inputs[0])
    return lib.Model(inputs if len(inputs) > 1 else inputs[0], out), layer


def _data(c: Case, rng: np.random.Generator) -> List[np.ndarray]:
    if c.dtype.startswith("int"):
        return [rng.integers(0, c.high, size=(BATCH,) + s).astype(c.dtype) for s in c.shapes]
    return [rng.standard_normal((BATCH,) + s).astype("float32") for s in c.shapes]


def _randomised(keras_layer: Any, rng: np.random.Generator) -> List[np.ndarray]:
    """Keras's weights, floats redrawn (variances kept positive) so that copying is really exercised."""
    out = []
    for v, w in zip(keras_layer.weights, keras_layer.get_weights()):
        if not np.issubdtype(w.dtype, np.floating):
            out.append(w)
        elif "variance" in v.name:
            out.append(rng.uniform(0.5, 1.5, size=w.shape).astype(w.dtype))
        else:
            out.append((0.5 * rng.standard_normal(w.shape)).astype(w.dtype))
    return out


def _counts(layer: Any) -> Tuple[int, int, int]:
    def size(weights: Any) -> int:
        return int(sum(np.prod(tuple(w.shape), dtype=np.int64) for w in weights))

    return layer.count_params(), size(layer.trainable_weights), size(layer.non_trainable_weights)


def _totals(model: Any) -> List[str]:
    lines: List[str] = []
    model.summary(print_fn=lambda text, *args, **kwargs: lines.append(text), line_length=120)
    return [line.strip() for line in "\n".join(lines).splitlines() if "params:" in line]


def _shapes(tensors: Any) -> List[Tuple[Any, ...]]:
    tensors = tensors if isinstance(tensors, (list, tuple)) else [tensors]
    return [tuple(t.shape) for t in tensors]


def _outputs(model: Any, xs: List[np.ndarray]) -> List[np.ndarray]:
    tensors = [torch.as_tensor(x) for x in xs]
    out = model(tensors if len(tensors) > 1 else tensors[0], training=False)
    return [to_numpy(t) for t in (out if isinstance(out, (list, tuple)) else [out])]


# --------------------------------------------------------------------------- the catalogue
@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # Keras draws the summary with rich, which crops to the terminal


@pytest.mark.parametrize("c", CASES)
def test_layer_matches_keras(c: Case) -> None:
    keras = keras_module()
    torch.manual_seed(0)
    theirs_model, theirs = _model(keras, c)
    ours_model, ours = _model(kerasish, c)

    assert _counts(ours) == _counts(theirs), "(count_params, trainable, non-trainable) differ from Keras's"
    theirs_totals = _totals(theirs_model)
    assert [line.split(":")[0] for line in theirs_totals] == ["Total params", "Trainable params", "Non-trainable params"]
    assert _totals(ours_model) == theirs_totals
    assert _shapes(ours_model.outputs) == _shapes(theirs_model.outputs)
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    if c.name != "TorchModuleWrapper":  # a wrapped module's own torch Parameters have no Keras names
        assert [w.name for w in ours.weights] == [w.name for w in theirs.weights], "weight names differ from Keras's"

    rng = np.random.default_rng(0)
    theirs.set_weights(_randomised(theirs, rng))
    ours.set_weights(theirs.get_weights())
    xs = _data(c, rng)
    got = _outputs(ours_model, xs)
    symbolic = [(BATCH,) + tuple(s[1:]) for s in _shapes(ours_model.outputs)]
    known = [tuple(e if s is None else s for e, s in zip(g.shape, sym)) for g, sym in zip(got, symbolic)]
    assert known == [g.shape for g in got], f"eager output shapes {_shapes(got)} disagree with the symbolic {symbolic}"
    if c.outputs:
        assert_close(got, _outputs(theirs_model, xs), atol=1e-4, rtol=1e-4)


def _exported_layer_classes() -> Dict[str, type]:
    # Every public name, loaded (the namespace is lazy: `vars()` holds only what was used so far).
    names = set(klayers.__all__) | {n for n in dir(klayers) if not n.startswith("_")}
    exported = {name: getattr(klayers, name) for name in names}
    return {name: obj for name, obj in exported.items()
            if inspect.isclass(obj) and issubclass(obj, torch.nn.Module)}


def test_every_exported_layer_has_a_case() -> None:
    covered = {p.values[0].name for p in CASES} | set(NO_KERAS_TWIN) | set(NOT_COMPARABLE)
    missing = sorted(set(_exported_layer_classes()) - covered)
    assert not missing, (
        f"kerasish.layers exports {missing} without a catalogue case. Add a case(...) for each to CASES in "
        f"tests/layers/test_layer_catalogue.py (or, with its reason, an entry in NO_KERAS_TWIN/NOT_COMPARABLE)."
    )


def test_cases_name_exported_classes() -> None:
    exported = _exported_layer_classes()
    stale = sorted({p.values[0].name for p in CASES} - set(exported))
    assert not stale, f"CASES name classes kerasish.layers does not export: {stale}"
    both = set(NO_KERAS_TWIN) & set(NOT_COMPARABLE)
    assert not both, f"{sorted(both)} are in both NO_KERAS_TWIN and NOT_COMPARABLE; keep one reason each"


def test_coverage_of_keras_layers(capsys: pytest.CaptureFixture) -> None:
    keras = keras_module()
    theirs = sorted(name for name, obj in vars(keras.layers).items()
                    if inspect.isclass(obj) and issubclass(obj, keras.layers.Layer))
    ours = set(_exported_layer_classes())
    missing = [name for name in theirs if name not in ours]
    have = len(theirs) - len(missing)
    with capsys.disabled():
        print(f"\nkerasish has {have} of Keras 3's {len(theirs)} layer classes; missing: {', '.join(missing)}")
    assert have >= MIN_COVERAGE, f"coverage dropped: kerasish has {have} of Keras's layer classes, had {MIN_COVERAGE}"
    no_twin = sorted(name for name in NO_KERAS_TWIN if name in theirs)
    assert not no_twin, f"{no_twin} are listed in NO_KERAS_TWIN but Keras has them: give them cases"
