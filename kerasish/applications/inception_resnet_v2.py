"""InceptionResNetV2 (Szegedy et al., 2017) as `keras.applications.inception_resnet_v2` builds it.

Inception branches whose sum is scaled (`CustomScaleLayer`) and added back to the block's input.
Layer names and order are Keras's (the unnamed ones carry kerasish's counters); the weights files
map by layer order, so Keras's files load unchanged.
"""

from __future__ import annotations

from typing import Any, Optional

from kerasish import config
from kerasish.applications import imagenet_utils
from kerasish.layers import (
    Activation, AveragePooling2D, BatchNormalization, Concatenate, Conv2D, Dense, GlobalAveragePooling2D,
    MaxPooling2D,
)
from kerasish.layers.layer import Layer
from kerasish.models import Model
from kerasish.utils.object_registration import register_builtin

BASE_WEIGHT_URL = "https://storage.googleapis.com/tensorflow/keras-applications/inception_resnet_v2/"
# (file name, md5 hash) of Keras's published files.
WEIGHTS = ("inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5", "e693bd0210a403b3192acc6073ad2e96")
WEIGHTS_NO_TOP = ("inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
                  "d19885ff4a710c122648d3b5c3b684e4")
# Per block type: the branches, each a list of (filters, kernel size) convolutions.
_BRANCHES = {
    "block35": (((32, 1),), ((32, 1), (32, 3)), ((32, 1), (48, 3), (64, 3))),
    "block17": (((192, 1),), ((128, 1), (160, (1, 7)), (192, (7, 1)))),
    "block8": (((192, 1),), ((192, 1), (224, (1, 3)), (256, (3, 1)))),
}


def _channel_axis() -> int:
    return 1 if config.image_data_format() == "channels_first" else 3


class CustomScaleLayer(Layer):
    """`inputs[0] + inputs[1] * scale`: adds a scaled residual to its input (no weights).

    Args:
        scale: the residual's factor. No default.
    """

    def __init__(self, scale: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, inputs: Any) -> Any:
        return inputs[0] + inputs[1] * self.scale

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape[0]

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale}


# Saved InceptionResNetV2 models name CustomScaleLayer; loading finds it once this module is imported.
register_builtin(CustomScaleLayer)


def conv2d_bn(x: Any, filters: int, kernel_size: Any, strides: int = 1, padding: str = "same",
              activation: Optional[str] = "relu", use_bias: bool = False, name: Optional[str] = None) -> Any:
    """Convolution, then (without a bias) batch normalization without scale, then `activation`."""
    x = Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias, name=name)(x)
    if not use_bias:
        x = BatchNormalization(axis=_channel_axis(), scale=False, name=None if name is None else f"{name}_bn")(x)
    if activation is not None:
        x = Activation(activation, name=None if name is None else f"{name}_ac")(x)
    return x


def _branches(x: Any, branches: tuple) -> list:
    out = []
    for convs in branches:
        y = x
        for filters, size in convs:
            y = conv2d_bn(y, filters, size)
        out.append(y)
    return out


def inception_resnet_block(x: Any, scale: float, block_type: str, block_idx: int,
                           activation: Optional[str] = "relu") -> Any:
    """A residual Inception block: `x + scale * conv(concat(branches))`, then `activation`."""
    if block_type not in _BRANCHES:
        raise ValueError('Unknown Inception-ResNet block type. Expects "block35", "block17" or "block8", '
                         f"but got: {block_type}")
    name = f"{block_type}_{block_idx}"
    axis = _channel_axis()
    mixed = Concatenate(axis=axis, name=f"{name}_mixed")(_branches(x, _BRANCHES[block_type]))
    up = conv2d_bn(mixed, x.shape[axis], 1, activation=None, use_bias=True, name=f"{name}_conv")
    x = CustomScaleLayer(scale)([x, up])
    if activation is not None:
        x = Activation(activation, name=f"{name}_ac")(x)
    return x


def InceptionResNetV2(include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None,
                      input_shape: Any = None, pooling: Optional[str] = None, classes: int = 1000,
                      classifier_activation: Any = "softmax", name: str = "inception_resnet_v2") -> Model:
    """The InceptionResNetV2 image classifier (299x299 by default), Keras's `InceptionResNetV2`.

    Call `inception_resnet_v2.preprocess_input` (tf mode: scaled to [-1, 1]) on images first.

    Args:
        include_top: whether to end with global average pooling and the `classes`-way dense
            layer. Defaults to `True`.
        weights: None (random), `"imagenet"` (Keras's published weights, downloaded into
            `<KERASISH_HOME>/models/`) or the path of a weights file. Defaults to `"imagenet"`.
        input_tensor: a symbolic tensor (`kerasish.layers.Input(...)`) to build the model on.
            Defaults to `None`.
        input_shape: `(height, width, 3)`, at least 75x75; only when `include_top=False` or
            `weights=None` (else it must be 299x299). Defaults to `None`.
        pooling: without the top: None (4D feature map), `"avg"` or `"max"`. Defaults to `None`.
        classes: number of classes of the top layer; 1000 with imagenet weights. Defaults to `1000`.
        classifier_activation: activation of the top layer; None or `"softmax"` with
            pretrained weights. Defaults to `"softmax"`.
        name: the model's name. Defaults to `"inception_resnet_v2"`.

    Returns:
        A functional `kerasish.Model`.

    Raises:
        ValueError: for an unknown `weights`, `classes != 1000` with imagenet weights and the
            top, or an `input_shape` the model cannot take.
    """
    imagenet_utils.check_weights(weights, include_top, classes)
    imagenet_utils.check_pooling(pooling)
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=299, min_size=75, data_format=config.image_data_format(),
        require_flatten=include_top, weights=weights)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    axis = _channel_axis()
    x = conv2d_bn(img_input, 32, 3, strides=2, padding="valid")
    x = conv2d_bn(x, 32, 3, padding="valid")
    x = conv2d_bn(x, 64, 3)
    x = MaxPooling2D(3, strides=2)(x)
    x = conv2d_bn(x, 80, 1, padding="valid")
    x = conv2d_bn(x, 192, 3, padding="valid")
    x = MaxPooling2D(3, strides=2)(x)
    branches = _branches(x, (((96, 1),), ((48, 1), (64, 5)), ((64, 1), (96, 3), (96, 3))))
    pool = conv2d_bn(AveragePooling2D(3, strides=1, padding="same")(x), 64, 1)
    x = Concatenate(axis=axis, name="mixed_5b")(branches + [pool])
    for block_idx in range(1, 11):
        x = inception_resnet_block(x, scale=0.17, block_type="block35", block_idx=block_idx)
    branches = [conv2d_bn(x, 384, 3, strides=2, padding="valid"),
                conv2d_bn(conv2d_bn(conv2d_bn(x, 256, 1), 256, 3), 384, 3, strides=2, padding="valid"),
                MaxPooling2D(3, strides=2, padding="valid")(x)]
    x = Concatenate(axis=axis, name="mixed_6a")(branches)
    for block_idx in range(1, 21):
        x = inception_resnet_block(x, scale=0.1, block_type="block17", block_idx=block_idx)
    branches = [conv2d_bn(conv2d_bn(x, 256, 1), 384, 3, strides=2, padding="valid"),
                conv2d_bn(conv2d_bn(x, 256, 1), 288, 3, strides=2, padding="valid"),
                conv2d_bn(conv2d_bn(conv2d_bn(x, 256, 1), 288, 3), 320, 3, strides=2, padding="valid"),
                MaxPooling2D(3, strides=2, padding="valid")(x)]
    x = Concatenate(axis=axis, name="mixed_7a")(branches)
    for block_idx in range(1, 10):
        x = inception_resnet_block(x, scale=0.2, block_type="block8", block_idx=block_idx)
    x = inception_resnet_block(x, scale=1.0, activation=None, block_type="block8", block_idx=10)
    x = conv2d_bn(x, 1536, 1, name="conv_7b")

    def top(x: Any) -> Any:
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        return Dense(classes, activation=classifier_activation, name="predictions")(x)

    x = imagenet_utils.pool_or_top(x, include_top, pooling, top)
    model = Model(imagenet_utils.source_inputs(input_tensor, img_input), x, name=name)
    file_name, file_hash = WEIGHTS if include_top else WEIGHTS_NO_TOP
    return imagenet_utils.load_weights(model, weights, file_name, BASE_WEIGHT_URL + file_name, file_hash)


def preprocess_input(x: Any, data_format: Optional[str] = None) -> Any:
    """InceptionResNetV2's preprocessing: `imagenet_utils.preprocess_input(x, mode="tf")`."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds: Any, top: int = 5) -> list:
    """`imagenet_utils.decode_predictions`: the top ImageNet classes of each prediction."""
    return imagenet_utils.decode_predictions(preds, top=top)
