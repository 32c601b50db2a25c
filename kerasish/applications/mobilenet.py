"""MobileNet (Howard et al., 2017) as `keras.applications.mobilenet` builds it, on kerasish layers.

Depthwise-separable convolutions all the way down. Layer names and order are Keras's, so
Keras's weight files load unchanged.
"""

from __future__ import annotations

import warnings
from typing import Any, Optional

from kerasish import config
from kerasish.applications import imagenet_utils
from kerasish.layers import (
    Activation, BatchNormalization, Conv2D, DepthwiseConv2D, Dropout, GlobalAveragePooling2D, ReLU, Reshape,
    ZeroPadding2D,
)
from kerasish.models import Model

BASE_WEIGHT_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/"
_ALPHAS = {1.0: "1_0", 0.75: "7_5", 0.50: "5_0", 0.25: "2_5"}
_SIZES = (128, 160, 192, 224)
# (pointwise filters, stride) of the 13 depthwise-separable blocks.
_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1),
           (512, 1), (1024, 2), (1024, 1))


def _conv_block(inputs: Any, filters: int, alpha: float, channel_axis: int) -> Any:
    x = Conv2D(int(filters * alpha), (3, 3), padding="same", use_bias=False, strides=(2, 2), name="conv1")(inputs)
    x = BatchNormalization(axis=channel_axis, name="conv1_bn")(x)
    return ReLU(6.0, name="conv1_relu")(x)


def _depthwise_conv_block(inputs: Any, filters: int, alpha: float, depth_multiplier: int, stride: int,
                          block_id: int, channel_axis: int) -> Any:
    x = inputs
    if stride == 2:
        x = ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
    x = DepthwiseConv2D((3, 3), padding="same" if stride == 1 else "valid", depth_multiplier=depth_multiplier,
                        strides=(stride, stride), use_bias=False, name=f"conv_dw_{block_id}")(x)
    x = BatchNormalization(axis=channel_axis, name=f"conv_dw_{block_id}_bn")(x)
    x = ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
    x = Conv2D(int(filters * alpha), (1, 1), padding="same", use_bias=False, strides=(1, 1),
               name=f"conv_pw_{block_id}")(x)
    x = BatchNormalization(axis=channel_axis, name=f"conv_pw_{block_id}_bn")(x)
    return ReLU(6.0, name=f"conv_pw_{block_id}_relu")(x)


def MobileNet(input_shape: Any = None, alpha: float = 1.0, depth_multiplier: int = 1, dropout: float = 1e-3,
              include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None,
              pooling: Optional[str] = None, classes: int = 1000, classifier_activation: Any = "softmax",
              name: Optional[str] = None) -> Model:
    """The MobileNet image classifier, Keras's `MobileNet` (note: `input_shape` comes first).

    Call `mobilenet.preprocess_input` (tf mode: scaled to [-1, 1]) on images first.

    Args:
        input_shape: `(height, width, 3)`, at least 32x32; with imagenet weights a square of
            128, 160, 192 or 224 picks the matching weights. Defaults to `None`.
        alpha: width multiplier of every layer (0.25, 0.5, 0.75 or 1.0 with imagenet
            weights). Defaults to `1.0`.
        depth_multiplier: channels per input channel of each depthwise convolution (1 with
            imagenet weights). Defaults to `1`.
        dropout: dropout rate before the classifier. Defaults to `1e-3`.
        include_top: whether to end with pooling, dropout and a 1x1 convolution as the
            `classes`-way classifier. Defaults to `True`.
        weights: None (random), `"imagenet"` (Keras's published weights, downloaded into
            `<KERASISH_HOME>/models/`) or the path of a weights file. Defaults to `"imagenet"`.
        input_tensor: a symbolic tensor (`kerasish.layers.Input(...)`) to build the model on.
            Defaults to `None`.
        pooling: without the top: None (4D feature map), `"avg"` or `"max"`. Defaults to `None`.
        classes: number of classes of the top layer; 1000 with imagenet weights. Defaults to `1000`.
        classifier_activation: activation of the top layer; None or `"softmax"` with
            pretrained weights. Defaults to `"softmax"`.
        name: the model's name; None gives `"mobilenet_{alpha:0.2f}_{rows}"`. Defaults to `None`.

    Returns:
        A functional `kerasish.Model`.

    Raises:
        ValueError: for an unknown `weights`; with imagenet weights, `classes != 1000`, a
            `depth_multiplier` other than 1 or an unpublished `alpha`; or an `input_shape`
            the model cannot take.

    Example:
        >>> model = MobileNet((32, 32, 3), weights=None, include_top=False, pooling="avg")
        >>> model.output_shape
        (None, 1024)
    """
    imagenet_utils.check_weights(weights, include_top, classes)
    imagenet_utils.check_pooling(pooling)
    channels_first = config.image_data_format() == "channels_first"
    default_size = 224
    if input_shape is not None:
        rows, cols = input_shape[1:3] if channels_first else input_shape[:2]
        if rows == cols and rows in _SIZES:
            default_size = rows
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=default_size, min_size=32, data_format=config.image_data_format(),
        require_flatten=include_top, weights=weights)
    rows, cols = input_shape[1:] if channels_first else input_shape[:2]
    if weights == "imagenet":
        if depth_multiplier != 1:
            raise ValueError("If imagenet weights are being loaded, depth multiplier must be 1.  "
                             f"Received depth_multiplier={depth_multiplier}")
        if alpha not in _ALPHAS:
            raise ValueError("If imagenet weights are being loaded, alpha can be one of`0.25`, `0.50`, `0.75` or "
                             f"`1.0` only.  Received alpha={alpha}")
        if rows != cols or rows not in _SIZES:
            rows = 224
            warnings.warn("`input_shape` is undefined or non-square, or `rows` is not in [128, 160, 192, 224]. "
                          "Weights for input shape (224, 224) will be loaded as the default.", stacklevel=2)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    channel_axis = 1 if channels_first else -1
    x = _conv_block(img_input, 32, alpha, channel_axis)
    for block_id, (filters, stride) in enumerate(_BLOCKS, start=1):
        x = _depthwise_conv_block(x, filters, alpha, depth_multiplier, stride, block_id, channel_axis)

    def top(x: Any) -> Any:
        x = GlobalAveragePooling2D(keepdims=True)(x)
        x = Dropout(dropout, name="dropout")(x)
        x = Conv2D(classes, (1, 1), padding="same", name="conv_preds")(x)
        x = Reshape((classes,), name="reshape_2")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        return Activation(activation=classifier_activation, name="predictions")(x)

    x = imagenet_utils.pool_or_top(x, include_top, pooling, top)
    if name is None:
        name = f"mobilenet_{alpha:0.2f}_{rows}"
    model = Model(imagenet_utils.source_inputs(input_tensor, img_input), x, name=name)
    file_name = f"mobilenet_{_ALPHAS.get(alpha, '')}_{rows}_tf{'' if include_top else '_no_top'}.h5"
    # Keras publishes no hash for these files.
    return imagenet_utils.load_weights(model, weights, file_name, BASE_WEIGHT_PATH + file_name, None)


def preprocess_input(x: Any, data_format: Optional[str] = None) -> Any:
    """MobileNet's preprocessing: `imagenet_utils.preprocess_input(x, mode="tf")`."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds: Any, top: int = 5) -> list:
    """`imagenet_utils.decode_predictions`: the top ImageNet classes of each prediction."""
    return imagenet_utils.decode_predictions(preds, top=top)
