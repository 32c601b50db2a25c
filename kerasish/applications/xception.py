"""Xception (Chollet, 2017) as `keras.applications.xception` builds it, on kerasish layers.

Layer names and order are Keras's (the unnamed shortcut convolutions included), so Keras's
weight files load unchanged.
"""

from __future__ import annotations

from typing import Any, Optional

from kerasish import config
from kerasish.applications import imagenet_utils
from kerasish.layers import (
    Activation, BatchNormalization, Conv2D, Dense, GlobalAveragePooling2D, MaxPooling2D, SeparableConv2D, add,
)
from kerasish.models import Model

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/xception/"
WEIGHTS = ("xception_weights_tf_dim_ordering_tf_kernels.h5", "0a58e3b7378bc2990ea3b43d5981f1f6")
WEIGHTS_NO_TOP = ("xception_weights_tf_dim_ordering_tf_kernels_notop.h5", "b0042744bf5b25fce3cb969f33bebb97")


def _channel_axis() -> int:
    return 1 if config.image_data_format() == "channels_first" else -1


def _sep_bn(x: Any, filters: int, name: str) -> Any:
    x = SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=name)(x)
    return BatchNormalization(axis=_channel_axis(), name=f"{name}_bn")(x)


def _downsampling_block(x: Any, block: int, filters: tuple, first_relu: bool) -> Any:
    # Two separable convolutions and a strided max pool, plus a strided 1x1 projection shortcut.
    residual = Conv2D(filters[1], (1, 1), strides=(2, 2), padding="same", use_bias=False)(x)
    residual = BatchNormalization(axis=_channel_axis())(residual)
    if first_relu:
        x = Activation("relu", name=f"block{block}_sepconv1_act")(x)
    x = _sep_bn(x, filters[0], f"block{block}_sepconv1")
    x = Activation("relu", name=f"block{block}_sepconv2_act")(x)
    x = _sep_bn(x, filters[1], f"block{block}_sepconv2")
    x = MaxPooling2D((3, 3), strides=(2, 2), padding="same", name=f"block{block}_pool")(x)
    return add([x, residual])


def Xception(include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None, input_shape: Any = None,
             pooling: Optional[str] = None, classes: int = 1000, classifier_activation: Any = "softmax",
             name: str = "xception") -> Model:
    """The Xception image classifier (299x299 by default), Keras's `Xception`.

    Call `xception.preprocess_input` (tf mode: scaled to [-1, 1]) on images first.

    Args:
        include_top: whether to end with global average pooling and the `classes`-way dense
            layer. Defaults to `True`.
        weights: None (random), `"imagenet"` (Keras's published weights, downloaded into
            `<KERASISH_HOME>/models/`) or the path of a weights file. Defaults to `"imagenet"`.
        input_tensor: a symbolic tensor (`kerasish.layers.Input(...)`) to build the model on.
            Defaults to `None`.
        input_shape: `(height, width, 3)`, at least 71x71; only when `include_top=False` or
            `weights=None` (else it must be 299x299). Defaults to `None`.
        pooling: without the top: None (4D feature map), `"avg"` or `"max"`. Defaults to `None`.
        classes: number of classes of the top layer; 1000 with imagenet weights. Defaults to `1000`.
        classifier_activation: activation of the top layer; None or `"softmax"` with
            pretrained weights. Defaults to `"softmax"`.
        name: the model's name. Defaults to `"xception"`.

    Returns:
        A functional `kerasish.Model`.

    Raises:
        ValueError: for an unknown `weights`, `classes != 1000` with imagenet weights and the
            top, or an `input_shape` the model cannot take.
    """
    imagenet_utils.check_weights(weights, include_top, classes)
    imagenet_utils.check_pooling(pooling)
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=299, min_size=71, data_format=config.image_data_format(),
        require_flatten=include_top, weights=weights)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    axis = _channel_axis()
    x = Conv2D(32, (3, 3), strides=(2, 2), use_bias=False, name="block1_conv1")(img_input)
    x = BatchNormalization(axis=axis, name="block1_conv1_bn")(x)
    x = Activation("relu", name="block1_conv1_act")(x)
    x = Conv2D(64, (3, 3), use_bias=False, name="block1_conv2")(x)
    x = BatchNormalization(axis=axis, name="block1_conv2_bn")(x)
    x = Activation("relu", name="block1_conv2_act")(x)
    x = _downsampling_block(x, 2, (128, 128), first_relu=False)
    x = _downsampling_block(x, 3, (256, 256), first_relu=True)
    x = _downsampling_block(x, 4, (728, 728), first_relu=True)
    for block in range(5, 13):  # the middle flow: eight residual blocks of three separable convolutions
        residual = x
        for conv in (1, 2, 3):
            x = Activation("relu", name=f"block{block}_sepconv{conv}_act")(x)
            x = _sep_bn(x, 728, f"block{block}_sepconv{conv}")
        x = add([x, residual])
    x = _downsampling_block(x, 13, (728, 1024), first_relu=True)
    x = _sep_bn(x, 1536, "block14_sepconv1")
    x = Activation("relu", name="block14_sepconv1_act")(x)
    x = _sep_bn(x, 2048, "block14_sepconv2")
    x = Activation("relu", name="block14_sepconv2_act")(x)

    def top(x: Any) -> Any:
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        return Dense(classes, activation=classifier_activation, name="predictions")(x)

    x = imagenet_utils.pool_or_top(x, include_top, pooling, top)
    model = Model(imagenet_utils.source_inputs(input_tensor, img_input), x, name=name)
    file_name, file_hash = WEIGHTS if include_top else WEIGHTS_NO_TOP
    return imagenet_utils.load_weights(model, weights, file_name, BASE_WEIGHTS_PATH + file_name, file_hash)


def preprocess_input(x: Any, data_format: Optional[str] = None) -> Any:
    """Xception's preprocessing: `imagenet_utils.preprocess_input(x, mode="tf")`."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds: Any, top: int = 5) -> list:
    """`imagenet_utils.decode_predictions`: the top ImageNet classes of each prediction."""
    return imagenet_utils.decode_predictions(preds, top=top)
