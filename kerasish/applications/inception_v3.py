"""InceptionV3 (Szegedy et al., 2016) as `keras.applications.inception_v3` builds it, on kerasish layers.

Keras leaves the convolutions unnamed, so their names carry kerasish's per-process counters
(`conv2d_12`); the weights files map by layer order, so Keras's files load unchanged.
"""

from __future__ import annotations

from typing import Any, Optional

from kerasish import config
from kerasish.applications import imagenet_utils
from kerasish.layers import (
    Activation, AveragePooling2D, BatchNormalization, Conv2D, Dense, GlobalAveragePooling2D, MaxPooling2D,
    concatenate,
)
from kerasish.models import Model

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
# (file name, md5 hash) of Keras's published files.
WEIGHTS = ("inception_v3_weights_tf_dim_ordering_tf_kernels.h5", "9a0d58056eeedaa3f26cb7ebd46da564")
WEIGHTS_NO_TOP = ("inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5", "bcbd6486424b2319ff4ef7d526e38f63")


def _bn_axis() -> int:
    return 1 if config.image_data_format() == "channels_first" else 3


def conv2d_bn(x: Any, filters: int, num_row: int, num_col: int, padding: str = "same", strides: tuple = (1, 1),
              name: Optional[str] = None) -> Any:
    """Convolution (no bias), batch normalization (no scale), ReLU: Inception's unit."""
    x = Conv2D(filters, (num_row, num_col), strides=strides, padding=padding, use_bias=False,
               name=None if name is None else f"{name}_conv")(x)
    x = BatchNormalization(axis=_bn_axis(), scale=False, name=None if name is None else f"{name}_bn")(x)
    return Activation("relu", name=name)(x)


def _chain(x: Any, *convs: tuple) -> Any:
    # conv2d_bn applied in turn: each entry is (filters, rows, cols[, padding, strides]).
    for args in convs:
        x = conv2d_bn(x, *args)
    return x


def _avg_branch(x: Any, filters: int) -> Any:
    return conv2d_bn(AveragePooling2D((3, 3), strides=(1, 1), padding="same")(x), filters, 1, 1)


def _block_35(x: Any, pool_filters: int, name: str) -> Any:
    # mixed0-2: 35x35 grid, four branches.
    branches = [conv2d_bn(x, 64, 1, 1), _chain(x, (48, 1, 1), (64, 5, 5)),
                _chain(x, (64, 1, 1), (96, 3, 3), (96, 3, 3)), _avg_branch(x, pool_filters)]
    return concatenate(branches, axis=_bn_axis(), name=name)


def _block_17(x: Any, width: int, name: str) -> Any:
    # mixed4-7: 17x17 grid, factorized 7x7 convolutions of `width` inner channels.
    branches = [conv2d_bn(x, 192, 1, 1), _chain(x, (width, 1, 1), (width, 1, 7), (192, 7, 1)),
                _chain(x, (width, 1, 1), (width, 7, 1), (width, 1, 7), (width, 7, 1), (192, 1, 7)),
                _avg_branch(x, 192)]
    return concatenate(branches, axis=_bn_axis(), name=name)


def _block_8(x: Any, i: int) -> Any:
    # mixed9-10: 8x8 grid, split 3x3 convolutions.
    axis = _bn_axis()
    b1 = conv2d_bn(x, 320, 1, 1)
    b3 = conv2d_bn(x, 384, 1, 1)
    b3 = concatenate([conv2d_bn(b3, 384, 1, 3), conv2d_bn(b3, 384, 3, 1)], axis=axis, name=f"mixed9_{i}")
    b3dbl = _chain(x, (448, 1, 1), (384, 3, 3))
    b3dbl = concatenate([conv2d_bn(b3dbl, 384, 1, 3), conv2d_bn(b3dbl, 384, 3, 1)], axis=axis)
    return concatenate([b1, b3, b3dbl, _avg_branch(x, 192)], axis=axis, name=f"mixed{9 + i}")


def InceptionV3(include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None,
                input_shape: Any = None, pooling: Optional[str] = None, classes: int = 1000,
                classifier_activation: Any = "softmax", name: str = "inception_v3") -> Model:
    """The InceptionV3 image classifier (299x299 by default), Keras's `InceptionV3`.

    Call `inception_v3.preprocess_input` (tf mode: scaled to [-1, 1]) on images first.

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
        name: the model's name. Defaults to `"inception_v3"`.

    Returns:
        A functional `kerasish.Model`.

    Raises:
        ValueError: for an unknown `weights`, `classes != 1000` with imagenet weights and the
            top, or an `input_shape` the model cannot take.

    Example:
        >>> model = InceptionV3(weights=None, include_top=False, input_shape=(75, 75, 3), pooling="avg")
        >>> model.output_shape
        (None, 2048)
    """
    imagenet_utils.check_weights(weights, include_top, classes)
    imagenet_utils.check_pooling(pooling)
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=299, min_size=75, data_format=config.image_data_format(),
        require_flatten=include_top, weights=weights)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    axis = _bn_axis()
    x = _chain(img_input, (32, 3, 3, "valid", (2, 2)), (32, 3, 3, "valid"), (64, 3, 3))
    x = MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = _chain(x, (80, 1, 1, "valid"), (192, 3, 3, "valid"))
    x = MaxPooling2D((3, 3), strides=(2, 2))(x)
    for i, pool_filters in enumerate((32, 64, 64)):
        x = _block_35(x, pool_filters, f"mixed{i}")
    x = concatenate([conv2d_bn(x, 384, 3, 3, "valid", (2, 2)),
                     _chain(x, (64, 1, 1), (96, 3, 3), (96, 3, 3, "valid", (2, 2))),
                     MaxPooling2D((3, 3), strides=(2, 2))(x)], axis=axis, name="mixed3")
    for i, width in enumerate((128, 160, 160, 192)):
        x = _block_17(x, width, f"mixed{4 + i}")
    x = concatenate([_chain(x, (192, 1, 1), (320, 3, 3, "valid", (2, 2))),
                     _chain(x, (192, 1, 1), (192, 1, 7), (192, 7, 1), (192, 3, 3, "valid", (2, 2))),
                     MaxPooling2D((3, 3), strides=(2, 2))(x)], axis=axis, name="mixed8")
    for i in range(2):
        x = _block_8(x, i)

    def top(x: Any) -> Any:
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        return Dense(classes, activation=classifier_activation, name="predictions")(x)

    x = imagenet_utils.pool_or_top(x, include_top, pooling, top)
    model = Model(imagenet_utils.source_inputs(input_tensor, img_input), x, name=name)
    file_name, file_hash = WEIGHTS if include_top else WEIGHTS_NO_TOP
    return imagenet_utils.load_weights(model, weights, file_name, BASE_WEIGHTS_PATH + file_name, file_hash)


def preprocess_input(x: Any, data_format: Optional[str] = None) -> Any:
    """InceptionV3's preprocessing: `imagenet_utils.preprocess_input(x, mode="tf")`."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds: Any, top: int = 5) -> list:
    """`imagenet_utils.decode_predictions`: the top ImageNet classes of each prediction."""
    return imagenet_utils.decode_predictions(preds, top=top)
