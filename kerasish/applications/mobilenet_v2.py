"""MobileNetV2 (Sandler et al., 2018) as `keras.applications.mobilenet_v2` builds it, on kerasish layers.

Layer names and order are Keras's, so Keras's weight files load unchanged.
"""

from __future__ import annotations

import warnings
from typing import Any, Optional

from kerasish import config
from kerasish.applications import imagenet_utils
from kerasish.backend import is_keras_tensor
from kerasish.layers import Add, BatchNormalization, Conv2D, Dense, DepthwiseConv2D, ReLU, ZeroPadding2D
from kerasish.models import Model

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
_ALPHAS = (0.35, 0.50, 0.75, 1.0, 1.3, 1.4)
_SIZES = (96, 128, 160, 192, 224)
# (filters, stride, expansion) of the 17 inverted residual blocks.
_BLOCKS = ((16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6), (64, 2, 6), (64, 1, 6),
           (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6), (160, 2, 6), (160, 1, 6), (160, 1, 6),
           (320, 1, 6))


def _make_divisible(v: float, divisor: int, min_value: Optional[int] = None) -> int:
    # The nearest multiple of `divisor`, never more than 10% below `v`.
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * v else rounded


def _square_size(shape: Any, first_row_axis: int) -> int:
    # The size whose imagenet weights fit: a square input of a published size, else 224.
    rows, cols = shape[first_row_axis], shape[first_row_axis + 1]
    return rows if rows == cols and rows in _SIZES else 224


def _check_input_tensor(input_tensor: Any, input_shape: Any) -> None:
    if input_tensor is None or input_shape is None:
        return
    channels_first = config.image_data_format() == "channels_first"
    axis = 1 if channels_first else 2
    if input_tensor.shape[axis] != input_shape[1]:
        raise ValueError(
            f"input_tensor.shape[{axis}] must equal input_shape[1]; Received `input_tensor.shape="
            f"{tuple(input_tensor.shape)}`, `input_shape={tuple(input_shape)}`. Pass an `input_shape` that "
            "matches the tensor, or leave it None."
        )


def _inverted_res_block(inputs: Any, expansion: int, stride: int, alpha: float, filters: int, block_id: int) -> Any:
    channel_axis = 1 if config.image_data_format() == "channels_first" else -1
    in_channels = inputs.shape[channel_axis]
    pointwise_filters = _make_divisible(int(filters * alpha), 8)
    x = inputs
    prefix = f"block_{block_id}_"
    if block_id:
        x = Conv2D(expansion * in_channels, kernel_size=1, padding="same", use_bias=False, activation=None,
                   name=f"{prefix}expand")(x)
        x = BatchNormalization(axis=channel_axis, epsilon=1e-3, momentum=0.999, name=f"{prefix}expand_BN")(x)
        x = ReLU(6.0, name=f"{prefix}expand_relu")(x)
    else:
        prefix = "expanded_conv_"
    if stride == 2:
        x = ZeroPadding2D(padding=imagenet_utils.correct_pad(x, 3), name=f"{prefix}pad")(x)
    x = DepthwiseConv2D(kernel_size=3, strides=stride, activation=None, use_bias=False,
                        padding="same" if stride == 1 else "valid", name=f"{prefix}depthwise")(x)
    x = BatchNormalization(axis=channel_axis, epsilon=1e-3, momentum=0.999, name=f"{prefix}depthwise_BN")(x)
    x = ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
    x = Conv2D(pointwise_filters, kernel_size=1, padding="same", use_bias=False, activation=None,
               name=f"{prefix}project")(x)
    x = BatchNormalization(axis=channel_axis, epsilon=1e-3, momentum=0.999, name=f"{prefix}project_BN")(x)
    if in_channels == pointwise_filters and stride == 1:
        return Add(name=f"{prefix}add")([inputs, x])
    return x


def MobileNetV2(input_shape: Any = None, alpha: float = 1.0, include_top: bool = True, weights: Any = "imagenet",
                input_tensor: Any = None, pooling: Optional[str] = None, classes: int = 1000,
                classifier_activation: Any = "softmax", name: Optional[str] = None) -> Model:
    """The MobileNetV2 image classifier, Keras's `MobileNetV2` (note: `input_shape` comes first).

    Call `mobilenet_v2.preprocess_input` (tf mode: scaled to [-1, 1]) on images first.

    Args:
        input_shape: `(height, width, 3)`, at least 32x32; with imagenet weights a square of
            96, 128, 160, 192 or 224 picks the matching weights. Defaults to `None`.
        alpha: width multiplier of every layer (0.35, 0.5, 0.75, 1.0, 1.3 or 1.4 with
            imagenet weights). Defaults to `1.0`.
        include_top: whether to end with global average pooling and the `classes`-way dense
            layer. Defaults to `True`.
        weights: None (random), `"imagenet"` (Keras's published weights, downloaded into
            `<KERASISH_HOME>/models/`) or the path of a weights file. Defaults to `"imagenet"`.
        input_tensor: a symbolic tensor (`kerasish.layers.Input(...)`) to build the model on.
            Defaults to `None`.
        pooling: without the top: None (4D feature map), `"avg"` or `"max"`. Defaults to `None`.
        classes: number of classes of the top layer; 1000 with imagenet weights. Defaults to `1000`.
        classifier_activation: activation of the top layer; None or `"softmax"` with
            pretrained weights. Defaults to `"softmax"`.
        name: the model's name; None gives `"mobilenetv2_{alpha:0.2f}_{rows}"`. Defaults to `None`.

    Returns:
        A functional `kerasish.Model`.

    Raises:
        ValueError: for an unknown `weights`, `classes != 1000` or an unpublished `alpha`
            with imagenet weights, or an `input_shape` the model cannot take.

    Example:
        >>> model = MobileNetV2((32, 32, 3), weights=None, include_top=False, pooling="avg")
        >>> model.output_shape
        (None, 1280)
    """
    imagenet_utils.check_weights(weights, include_top, classes)
    imagenet_utils.check_pooling(pooling)
    _check_input_tensor(input_tensor, input_shape)
    channels_first = config.image_data_format() == "channels_first"
    if input_shape is not None:
        default_size = _square_size(input_shape, 1 if channels_first else 0)
    elif input_tensor is not None and is_keras_tensor(input_tensor):
        default_size = _square_size(input_tensor.shape, 2 if channels_first else 1)
    else:
        default_size = 224
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=default_size, min_size=32, data_format=config.image_data_format(),
        require_flatten=include_top, weights=weights)
    rows, cols = input_shape[1:] if channels_first else input_shape[:2]
    if weights == "imagenet":
        if alpha not in _ALPHAS:
            raise ValueError(
                "If imagenet weights are being loaded, alpha must be one of `0.35`, `0.50`, `0.75`, `1.0`, "
                f"`1.3` or `1.4` only; Received `alpha={alpha}`"
            )
        if rows != cols or rows not in _SIZES:
            rows = 224
            warnings.warn("`input_shape` is undefined or non-square, or `rows` is not in [96, 128, 160, 192, 224]. "
                          "Weights for input shape (224, 224) will be loaded as the default.", stacklevel=2)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    channel_axis = 1 if channels_first else -1
    x = Conv2D(_make_divisible(32 * alpha, 8), kernel_size=3, strides=(2, 2), padding="same", use_bias=False,
               name="Conv1")(img_input)
    x = BatchNormalization(axis=channel_axis, epsilon=1e-3, momentum=0.999, name="bn_Conv1")(x)
    x = ReLU(6.0, name="Conv1_relu")(x)
    for block_id, (filters, stride, expansion) in enumerate(_BLOCKS):
        x = _inverted_res_block(x, filters=filters, alpha=alpha, stride=stride, expansion=expansion,
                                block_id=block_id)
    last_filters = _make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = Conv2D(last_filters, kernel_size=1, use_bias=False, name="Conv_1")(x)
    x = BatchNormalization(axis=channel_axis, epsilon=1e-3, momentum=0.999, name="Conv_1_bn")(x)
    x = ReLU(6.0, name="out_relu")(x)

    def top(x: Any) -> Any:
        from kerasish.layers import GlobalAveragePooling2D  # noqa: PLC0415

        x = GlobalAveragePooling2D()(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        return Dense(classes, activation=classifier_activation, name="predictions")(x)

    x = imagenet_utils.pool_or_top(x, include_top, pooling, top)
    if name is None:
        name = f"mobilenetv2_{alpha:0.2f}_{rows}"
    model = Model(imagenet_utils.source_inputs(input_tensor, img_input), x, name=name)
    suffix = "" if include_top else "_no_top"
    file_name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}{suffix}.h5"
    # Keras publishes no hash for these files.
    return imagenet_utils.load_weights(model, weights, file_name, BASE_WEIGHTS_PATH + file_name, None)


def preprocess_input(x: Any, data_format: Optional[str] = None) -> Any:
    """MobileNetV2's preprocessing: `imagenet_utils.preprocess_input(x, mode="tf")`."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds: Any, top: int = 5) -> list:
    """`imagenet_utils.decode_predictions`: the top ImageNet classes of each prediction."""
    return imagenet_utils.decode_predictions(preds, top=top)
