"""MobileNetV3Small and MobileNetV3Large (Howard et al., 2019) as `keras.applications.mobilenet_v3` builds them.

By default the model rescales its own inputs (a `Rescaling` layer to [-1, 1]), so
`preprocess_input` is the identity. Layer names and order are Keras's, so Keras's weight files
load unchanged. Unlike most applications, the top works on any input size (it pools first), so
`input_shape` may stay None with `include_top=True`.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Callable, Optional

from kerasish import config
from kerasish.applications import imagenet_utils
from kerasish.backend import is_keras_tensor
from kerasish.layers import (
    Activation, Add, BatchNormalization, Conv2D, DepthwiseConv2D, Dropout, Flatten, GlobalAveragePooling2D,
    Multiply, ReLU, Rescaling, ZeroPadding2D,
)
from kerasish.models import Model

BASE_WEIGHT_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/"
# (with top, without top) md5 hashes of Keras's published files.
WEIGHTS_HASHES = {
    "large_224_0.75_float": ("765b44a33ad4005b3ac83185abf1d0eb", "40af19a13ebea4e2ee0c676887f69a2e"),
    "large_224_1.0_float": ("59e551e166be033d707958cf9e29a6a7", "07fb09a5933dd0c8eaafa16978110389"),
    "large_minimalistic_224_1.0_float": ("675e7b876c45c57e9e63e6d90a36599c", "ec5221f64a2f6d1ef965a614bdae7973"),
    "small_224_0.75_float": ("cb65d4e5be93758266aa0a7f2c6708b7", "ebdb5cc8e0b497cd13a7c275d475c819"),
    "small_224_1.0_float": ("8768d4c2e7dee89b9d02b2d03d65d862", "d3e8ec802a04aa4fc771ee12a9a9b836"),
    "small_minimalistic_224_1.0_float": ("99cd97fb2fcdad2bf028eb838de69e37", "cde8136e733e811080d9fcd8a252f7e4"),
}
# Each stack: (expansion, filters, kernel ("k": 5x5 unless minimalistic), stride, squeeze-excite, activation
# ("relu", or "act": hard swish unless minimalistic)) of every inverted residual block.
_SMALL = ((1, 16, 3, 2, True, "relu"), (72.0 / 16, 24, 3, 2, False, "relu"), (88.0 / 24, 24, 3, 1, False, "relu"),
          (4, 40, "k", 2, True, "act"), (6, 40, "k", 1, True, "act"), (6, 40, "k", 1, True, "act"),
          (3, 48, "k", 1, True, "act"), (3, 48, "k", 1, True, "act"), (6, 96, "k", 2, True, "act"),
          (6, 96, "k", 1, True, "act"), (6, 96, "k", 1, True, "act"))
_LARGE = ((1, 16, 3, 1, False, "relu"), (4, 24, 3, 2, False, "relu"), (3, 24, 3, 1, False, "relu"),
          (3, 40, "k", 2, True, "relu"), (3, 40, "k", 1, True, "relu"), (3, 40, "k", 1, True, "relu"),
          (6, 80, 3, 2, False, "act"), (2.5, 80, 3, 1, False, "act"), (2.3, 80, 3, 1, False, "act"),
          (2.3, 80, 3, 1, False, "act"), (6, 112, 3, 1, True, "act"), (6, 112, 3, 1, True, "act"),
          (6, 160, "k", 2, True, "act"), (6, 160, "k", 1, True, "act"), (6, 160, "k", 1, True, "act"))
_BN = dict(epsilon=1e-3, momentum=0.999)


def _depth(v: float, divisor: int = 8) -> int:
    # The nearest multiple of `divisor`, never more than 10% below `v`.
    rounded = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * v else rounded


def _relu(x: Any) -> Any:
    return ReLU()(x)


def _hard_swish(x: Any) -> Any:
    return Activation("hard_swish")(x)


def _se_block(inputs: Any, filters: int, se_ratio: float, prefix: str) -> Any:
    x = GlobalAveragePooling2D(keepdims=True, name=f"{prefix}squeeze_excite_avg_pool")(inputs)
    x = Conv2D(_depth(filters * se_ratio), kernel_size=1, padding="same", name=f"{prefix}squeeze_excite_conv")(x)
    x = ReLU(name=f"{prefix}squeeze_excite_relu")(x)
    x = Conv2D(filters, kernel_size=1, padding="same", name=f"{prefix}squeeze_excite_conv_1")(x)
    x = ReLU(6.0)(x + 3.0) * (1.0 / 6.0)  # hard sigmoid, as operator nodes (Keras's graph has no layer here)
    return Multiply(name=f"{prefix}squeeze_excite_mul")([inputs, x])


def _inverted_res_block(x: Any, expansion: float, filters: int, kernel_size: int, stride: int,
                        se_ratio: Optional[float], activation: Callable[[Any], Any], block_id: int,
                        channel_axis: int) -> Any:
    shortcut = x
    prefix = "expanded_conv_"
    in_filters = x.shape[channel_axis]
    if block_id:
        prefix = f"expanded_conv_{block_id}_"
        x = Conv2D(_depth(in_filters * expansion), kernel_size=1, padding="same", use_bias=False,
                   name=f"{prefix}expand")(x)
        x = BatchNormalization(axis=channel_axis, name=f"{prefix}expand_bn", **_BN)(x)
        x = activation(x)
    if stride == 2:
        x = ZeroPadding2D(padding=imagenet_utils.correct_pad(x, kernel_size), name=f"{prefix}depthwise_pad")(x)
    x = DepthwiseConv2D(kernel_size, strides=stride, padding="same" if stride == 1 else "valid", use_bias=False,
                        name=f"{prefix}depthwise")(x)
    x = BatchNormalization(axis=channel_axis, name=f"{prefix}depthwise_bn", **_BN)(x)
    x = activation(x)
    if se_ratio:
        x = _se_block(x, _depth(in_filters * expansion), se_ratio, prefix)
    x = Conv2D(filters, kernel_size=1, padding="same", use_bias=False, name=f"{prefix}project")(x)
    x = BatchNormalization(axis=channel_axis, name=f"{prefix}project_bn", **_BN)(x)
    if stride == 1 and in_filters == filters:
        x = Add(name=f"{prefix}add")([shortcut, x])
    return x


def _input_shape(input_shape: Any, input_tensor: Any, channels_first: bool) -> tuple:
    # Keras's rules: the shape must agree with a given tensor's width; without a shape, the tensor's
    # (or any) size is taken.
    if input_shape is not None and input_tensor is not None:
        if not is_keras_tensor(input_tensor):
            imagenet_utils.image_input(input_tensor, input_shape)  # raises kerasish's message
        if channels_first and input_tensor.shape[1] != input_shape[1]:
            raise ValueError(
                "When backend.image_data_format()=channels_first, input_shape[1] must equal input_tensor.shape[1].  "
                f"Received input_shape={input_shape}, input_tensor.shape={tuple(input_tensor.shape)}")
        if not channels_first and input_tensor.shape[2] != input_shape[1]:
            raise ValueError("input_shape[1] must equal input_tensor.shape[2].  "
                             f"Received input_shape={input_shape}, input_tensor.shape={tuple(input_tensor.shape)}")
    if input_shape is None and input_tensor is not None and is_keras_tensor(input_tensor):
        # Keras swaps rows and columns here; both are only used for the size checks below.
        rows, cols = input_tensor.shape[2:4] if channels_first else input_tensor.shape[1:3]
        input_shape = (3, cols, rows) if channels_first else (cols, rows, 3)
    if input_shape is None:
        input_shape = (3, None, None) if channels_first else (None, None, 3)
    return tuple(input_shape)


def _mobilenet_v3(blocks: tuple, last_point_ch: int, input_shape: Any, alpha: float, model_type: str,
                  minimalistic: bool, include_top: bool, weights: Any, input_tensor: Any, classes: int,
                  pooling: Optional[str], dropout_rate: float, classifier_activation: Any,
                  include_preprocessing: bool, name: str) -> Model:
    if not (weights in ("imagenet", None) or (isinstance(weights, (str, os.PathLike)) and os.path.exists(weights))):
        raise ValueError(
            "The `weights` argument should be either `None` (random initialization), `imagenet` (pre-training on "
            f"ImageNet), or the path to the weights file to be loaded.  Received weights={weights}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError('If using `weights="imagenet"` with `include_top` as true, `classes` should be 1000.  '
                         f"Received classes={classes}")
    imagenet_utils.check_pooling(pooling)
    channels_first = config.image_data_format() == "channels_first"
    input_shape = _input_shape(input_shape, input_tensor, channels_first)
    rows, cols = input_shape[1:3] if channels_first else input_shape[:2]
    if rows and cols and (rows < 32 or cols < 32):
        raise ValueError(f"Input size must be at least 32x32; Received `input_shape={input_shape}`")
    if weights == "imagenet":
        if (not minimalistic and alpha not in (0.75, 1.0)) or (minimalistic and alpha != 1.0):
            raise ValueError("If imagenet weights are being loaded, alpha can be one of `0.75`, `1.0` for non "
                             f"minimalistic or `1.0` for minimalistic only. Received: alpha={alpha}, "
                             f"minimalistic={minimalistic}")
        if rows != cols or rows != 224:
            warnings.warn("`input_shape` is undefined or non-square, or `rows` is not 224. Weights for input shape "
                          "(224, 224) will be loaded as the default.", stacklevel=3)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    channel_axis = 1 if channels_first else -1
    kernel, activation, se_ratio = (3, _relu, None) if minimalistic else (5, _hard_swish, 0.25)
    x = img_input
    if include_preprocessing:
        x = Rescaling(scale=1.0 / 127.5, offset=-1.0)(x)
    x = Conv2D(16, kernel_size=3, strides=(2, 2), padding="same", use_bias=False, name="conv")(x)
    x = BatchNormalization(axis=channel_axis, name="conv_bn", **_BN)(x)
    x = activation(x)
    for block_id, (expansion, filters, size, stride, se, act) in enumerate(blocks):
        x = _inverted_res_block(x, expansion, _depth(filters * alpha), kernel if size == "k" else size, stride,
                                se_ratio if se else None, activation if act == "act" else _relu, block_id,
                                channel_axis)
    last_conv_ch = _depth(x.shape[channel_axis] * 6)
    if alpha > 1.0:
        last_point_ch = _depth(last_point_ch * alpha)
    x = Conv2D(last_conv_ch, kernel_size=1, padding="same", use_bias=False, name="conv_1")(x)
    x = BatchNormalization(axis=channel_axis, name="conv_1_bn", **_BN)(x)
    x = activation(x)

    def top(x: Any) -> Any:
        x = GlobalAveragePooling2D(keepdims=True)(x)
        x = Conv2D(last_point_ch, kernel_size=1, padding="same", use_bias=True, name="conv_2")(x)
        x = activation(x)
        if dropout_rate > 0:
            x = Dropout(dropout_rate)(x)
        x = Conv2D(classes, kernel_size=1, padding="same", name="logits")(x)
        x = Flatten()(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        return Activation(activation=classifier_activation, name="predictions")(x)

    x = imagenet_utils.pool_or_top(x, include_top, pooling, top, ("avg_pool", "max_pool"))
    model = Model(imagenet_utils.source_inputs(input_tensor, img_input), x, name=name)
    # float(): Keras would look up "large_224_1_float" for alpha=1 and fail.
    variant = f"{model_type}{'_minimalistic' if minimalistic else ''}_224_{float(alpha)}_float"
    file_name = f"weights_mobilenet_v3_{variant}{'' if include_top else '_no_top_v2'}.h5"
    file_hash = WEIGHTS_HASHES[variant][0 if include_top else 1] if weights == "imagenet" else None
    return imagenet_utils.load_weights(model, weights, file_name, BASE_WEIGHT_PATH + file_name, file_hash)


_DOC = """

    By default the model rescales its inputs itself: feed images with values in [0, 255]
    (`mobilenet_v3.preprocess_input` is the identity); with `include_preprocessing=False`
    feed values in [-1, 1].

    Args:
        input_shape: `(height, width, 3)`, at least 32x32; None takes the shape of
            `input_tensor`, else any size. With imagenet weights, 224x224 matches the
            published weights. Defaults to `None`.
        alpha: width multiplier of every layer (0.75 or 1.0 with imagenet weights, 1.0 when
            minimalistic). Defaults to `1.0`.
        minimalistic: the variant without squeeze-and-excite, hard swish and 5x5 kernels.
            Defaults to `False`.
        include_top: whether to end with pooling, a 1x1 convolution, dropout and the
            `classes`-way 1x1 convolution. Defaults to `True`.
        weights: None (random), `"imagenet"` (Keras's published weights, downloaded into
            `<KERASISH_HOME>/models/`) or the path of a weights file. Defaults to `"imagenet"`.
        input_tensor: a symbolic tensor (`kerasish.layers.Input(...)`) to build the model on.
            Defaults to `None`.
        classes: number of classes of the top layer; 1000 with imagenet weights. Defaults to `1000`.
        pooling: without the top: None (4D feature map), `"avg"` or `"max"`. Defaults to `None`.
        dropout_rate: dropout rate before the classifier. Defaults to `0.2`.
        classifier_activation: activation of the top layer; None or `"softmax"` with
            pretrained weights. Defaults to `"softmax"`.
        include_preprocessing: whether the model starts with a `Rescaling` to [-1, 1].
            Defaults to `True`.
        name: the model's name. Defaults to `"{name}"`.

    Returns:
        A functional `kerasish.Model`.

    Raises:
        ValueError: for an unknown `weights`; with imagenet weights, `classes != 1000` or an
            unpublished `alpha`; an input smaller than 32x32; or an `input_shape` whose width
            differs from `input_tensor`'s.
"""


def MobileNetV3Small(input_shape: Any = None, alpha: float = 1.0, minimalistic: bool = False,
                     include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None,
                     classes: int = 1000, pooling: Optional[str] = None, dropout_rate: float = 0.2,
                     classifier_activation: Any = "softmax", include_preprocessing: bool = True,
                     name: str = "MobileNetV3Small") -> Model:
    return _mobilenet_v3(_SMALL, 1024, input_shape, alpha, "small", minimalistic, include_top, weights,
                         input_tensor, classes, pooling, dropout_rate, classifier_activation, include_preprocessing,
                         name)


def MobileNetV3Large(input_shape: Any = None, alpha: float = 1.0, minimalistic: bool = False,
                     include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None,
                     classes: int = 1000, pooling: Optional[str] = None, dropout_rate: float = 0.2,
                     classifier_activation: Any = "softmax", include_preprocessing: bool = True,
                     name: str = "MobileNetV3Large") -> Model:
    return _mobilenet_v3(_LARGE, 1280, input_shape, alpha, "large", minimalistic, include_top, weights,
                         input_tensor, classes, pooling, dropout_rate, classifier_activation, include_preprocessing,
                         name)


for _fn, _what in ((MobileNetV3Small, "small"), (MobileNetV3Large, "large")):
    _fn.__doc__ = (f"The {_what} MobileNetV3 image classifier, Keras's `{_fn.__name__}`."
                   + _DOC.format(name=_fn.__name__))


def preprocess_input(x: Any, data_format: Optional[str] = None) -> Any:
    """The identity: MobileNetV3 models rescale their inputs themselves. `data_format` is unused."""
    return x


def decode_predictions(preds: Any, top: int = 5) -> list:
    """`imagenet_utils.decode_predictions`: the top ImageNet classes of each prediction."""
    return imagenet_utils.decode_predictions(preds, top=top)
