"""EfficientNetB0-B7 (Tan & Le, 2019) as `keras.applications.efficientnet` builds them, on kerasish layers.

The networks normalize their own inputs (Rescaling + Normalization layers), so
`preprocess_input` is the identity. Layer names and order are Keras's.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Optional

from kerasish import config
from kerasish.applications import imagenet_utils
from kerasish.layers import (
    Activation, BatchNormalization, Conv2D, Dense, DepthwiseConv2D, Dropout, GlobalAveragePooling2D, Normalization,
    Rescaling, Reshape, ZeroPadding2D, add,
)
from kerasish.layers import Multiply
from kerasish.models import Model

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/keras-applications/"
# (with top, without top) md5 hashes of Keras's published files.
WEIGHTS_HASHES = {
    "b0": ("902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d"),
    "b1": ("1d254153d4ab51201f1646940f018540", "74c4e6b3e1f6a1eea24c589628592432"),
    "b2": ("b15cce36ff4dcbd00b6dd88e7857a6ad", "111f8e2ac8aa800a7a99e3239f7bfb39"),
    "b3": ("ffd1fdc53d0ce67064dc6a9c7960ede0", "af6d107764bb5b1abb91932881670226"),
    "b4": ("18c95ad55216b8f92d7e70b3a046e2fc", "ebc24e6d6c33eaebbd558eafbeedf1ba"),
    "b5": ("ace28f2a6363774853a83a0b21b9421a", "38879255a25d3c92d5e44e04ae6cec6f"),
    "b6": ("165f6e37dce68623721b423839de8be5", "9ecce42647a20130c1f39a5d4cb75743"),
    "b7": ("8c03f828fec3ef71311cd463b6759d99", "cbcfe4450ddf6f3ad90b1b398090fe4a"),
}
# One dict per stage: kernel_size, repeats, filters_in, filters_out, expand_ratio, id_skip, strides, se_ratio.
_STAGES = [(3, 1, 32, 16, 1, 1), (3, 2, 16, 24, 6, 2), (5, 2, 24, 40, 6, 2), (3, 3, 40, 80, 6, 2),
           (5, 3, 80, 112, 6, 1), (5, 4, 112, 192, 6, 2), (3, 1, 192, 320, 6, 1)]
DEFAULT_BLOCKS_ARGS = [
    {"kernel_size": k, "repeats": r, "filters_in": fi, "filters_out": fo, "expand_ratio": e, "id_skip": True,
     "strides": s, "se_ratio": 0.25}
    for k, r, fi, fo, e, s in _STAGES
]
CONV_KERNEL_INITIALIZER = {"class_name": "VarianceScaling",
                           "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"}}
DENSE_KERNEL_INITIALIZER = {"class_name": "VarianceScaling",
                            "config": {"scale": 1.0 / 3.0, "mode": "fan_out", "distribution": "uniform"}}
IMAGENET_STDDEV_RGB = [0.229, 0.224, 0.225]


def _bn_axis() -> int:
    return 3 if config.image_data_format() == "channels_last" else 1


def block(inputs: Any, activation: str = "swish", drop_rate: float = 0.0, name: str = "", filters_in: int = 32,
          filters_out: int = 16, kernel_size: int = 3, strides: int = 1, expand_ratio: int = 1,
          se_ratio: float = 0.0, id_skip: bool = True) -> Any:
    """A mobile inverted bottleneck block with squeeze-and-excitation and stochastic depth."""
    bn_axis = _bn_axis()
    filters = filters_in * expand_ratio
    x = inputs
    if expand_ratio != 1:
        x = Conv2D(filters, 1, padding="same", use_bias=False, kernel_initializer=CONV_KERNEL_INITIALIZER,
                   name=f"{name}expand_conv")(x)
        x = BatchNormalization(axis=bn_axis, name=f"{name}expand_bn")(x)
        x = Activation(activation, name=f"{name}expand_activation")(x)
    padding = "same"
    if strides == 2:
        x = ZeroPadding2D(padding=imagenet_utils.correct_pad(x, kernel_size), name=f"{name}dwconv_pad")(x)
        padding = "valid"
    x = DepthwiseConv2D(kernel_size, strides=strides, padding=padding, use_bias=False,
                        depthwise_initializer=CONV_KERNEL_INITIALIZER, name=f"{name}dwconv")(x)
    x = BatchNormalization(axis=bn_axis, name=f"{name}bn")(x)
    x = Activation(activation, name=f"{name}activation")(x)
    if 0 < se_ratio <= 1:
        filters_se = max(1, int(filters_in * se_ratio))
        se = GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)
        se = Reshape((filters, 1, 1) if bn_axis == 1 else (1, 1, filters), name=f"{name}se_reshape")(se)
        se = Conv2D(filters_se, 1, padding="same", activation=activation,
                    kernel_initializer=CONV_KERNEL_INITIALIZER, name=f"{name}se_reduce")(se)
        se = Conv2D(filters, 1, padding="same", activation="sigmoid", kernel_initializer=CONV_KERNEL_INITIALIZER,
                    name=f"{name}se_expand")(se)
        x = Multiply(name=f"{name}se_excite")([x, se])
    x = Conv2D(filters_out, 1, padding="same", use_bias=False, kernel_initializer=CONV_KERNEL_INITIALIZER,
               name=f"{name}project_conv")(x)
    x = BatchNormalization(axis=bn_axis, name=f"{name}project_bn")(x)
    if id_skip and strides == 1 and filters_in == filters_out:
        if drop_rate > 0:
            x = Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
        x = add([x, inputs], name=f"{name}add")
    return x


def build_efficientnet(width_coefficient: float, depth_coefficient: float, default_size: int, dropout_rate: float,
                       name: str, include_top: bool, weights: Any, input_tensor: Any, input_shape: Any,
                       pooling: Optional[str], classes: int, classifier_activation: Any, weights_name: str,
                       drop_connect_rate: float = 0.2, depth_divisor: int = 8, activation: str = "swish") -> Model:
    """An EfficientNet scaled by `width_coefficient` (filters) and `depth_coefficient` (repeats)."""
    imagenet_utils.check_weights(weights, include_top, classes)
    imagenet_utils.check_pooling(pooling)
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=default_size, min_size=32, data_format=config.image_data_format(),
        require_flatten=include_top, weights=weights)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    bn_axis = _bn_axis()

    def round_filters(filters: float) -> int:
        filters *= width_coefficient
        rounded = max(depth_divisor, int(filters + depth_divisor / 2) // depth_divisor * depth_divisor)
        return int(rounded + depth_divisor if rounded < 0.9 * filters else rounded)

    def round_repeats(repeats: int) -> int:
        return int(math.ceil(depth_coefficient * repeats))

    x = Rescaling(1.0 / 255.0)(img_input)
    x = Normalization(axis=bn_axis)(x)
    if weights == "imagenet":
        # The published weights were trained with this extra scaling after the Normalization layer.
        x = Rescaling([1.0 / math.sqrt(stddev) for stddev in IMAGENET_STDDEV_RGB])(x)
    x = ZeroPadding2D(padding=imagenet_utils.correct_pad(x, 3), name="stem_conv_pad")(x)
    x = Conv2D(round_filters(32), 3, strides=2, padding="valid", use_bias=False,
               kernel_initializer=CONV_KERNEL_INITIALIZER, name="stem_conv")(x)
    x = BatchNormalization(axis=bn_axis, name="stem_bn")(x)
    x = Activation(activation, name="stem_activation")(x)
    stages = copy.deepcopy(DEFAULT_BLOCKS_ARGS)
    total = float(sum(round_repeats(args["repeats"]) for args in stages))
    b = 0
    for i, args in enumerate(stages):
        args["filters_in"] = round_filters(args["filters_in"])
        args["filters_out"] = round_filters(args["filters_out"])
        for j in range(round_repeats(args.pop("repeats"))):
            if j > 0:
                args["strides"] = 1
                args["filters_in"] = args["filters_out"]
            x = block(x, activation, drop_connect_rate * b / total, name=f"block{i + 1}{chr(j + 97)}_", **args)
            b += 1
    x = Conv2D(round_filters(1280), 1, padding="same", use_bias=False, kernel_initializer=CONV_KERNEL_INITIALIZER,
               name="top_conv")(x)
    x = BatchNormalization(axis=bn_axis, name="top_bn")(x)
    x = Activation(activation, name="top_activation")(x)

    def top(x: Any) -> Any:
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = Dropout(dropout_rate, name="top_dropout")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        return Dense(classes, activation=classifier_activation, kernel_initializer=DENSE_KERNEL_INITIALIZER,
                     name="predictions")(x)

    x = imagenet_utils.pool_or_top(x, include_top, pooling, top, ("avg_pool", "max_pool"))
    model = Model(imagenet_utils.source_inputs(input_tensor, img_input), x, name=name)
    file_name = name + (".h5" if include_top else "_notop.h5")
    file_hash = WEIGHTS_HASHES[weights_name][0 if include_top else 1]
    return imagenet_utils.load_weights(model, weights, file_name, BASE_WEIGHTS_PATH + file_name, file_hash)


_DOC = """

    The model rescales and normalizes its own inputs: feed images with values in [0, 255]
    (`efficientnet.preprocess_input` is the identity).

    Args:
        include_top: whether to end with pooling, dropout and the `classes`-way dense layer.
            Defaults to `True`.
        weights: None (random), `"imagenet"` (Keras's published weights, downloaded into
            `<KERASISH_HOME>/models/`) or the path of a weights file. Defaults to `"imagenet"`.
        input_tensor: a symbolic tensor (`kerasish.layers.Input(...)`) to build the model on.
            Defaults to `None`.
        input_shape: `(height, width, 3)`, at least 32x32; only when `include_top=False` or
            `weights=None` (else it must be {size}x{size}). Defaults to `None`.
        pooling: without the top: None (4D feature map), `"avg"` or `"max"`. Defaults to `None`.
        classes: number of classes of the top layer; 1000 with imagenet weights. Defaults to `1000`.
        classifier_activation: activation of the top layer; None or `"softmax"` with
            pretrained weights. Defaults to `"softmax"`.
        name: the model's name (also the weight file's name). Defaults to `"{name}"`.

    Returns:
        A functional `kerasish.Model`.

    Raises:
        ValueError: for an unknown `weights`, `classes != 1000` with imagenet weights and the
            top, or an `input_shape` the model cannot take.
"""


def EfficientNetB0(include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None,
                   input_shape: Any = None, pooling: Optional[str] = None, classes: int = 1000,
                   classifier_activation: Any = "softmax", name: str = "efficientnetb0") -> Model:
    return build_efficientnet(1.0, 1.0, 224, 0.2, name, include_top, weights, input_tensor, input_shape, pooling,
                              classes, classifier_activation, "b0")


def EfficientNetB1(include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None,
                   input_shape: Any = None, pooling: Optional[str] = None, classes: int = 1000,
                   classifier_activation: Any = "softmax", name: str = "efficientnetb1") -> Model:
    return build_efficientnet(1.0, 1.1, 240, 0.2, name, include_top, weights, input_tensor, input_shape, pooling,
                              classes, classifier_activation, "b1")


def EfficientNetB2(include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None,
                   input_shape: Any = None, pooling: Optional[str] = None, classes: int = 1000,
                   classifier_activation: Any = "softmax", name: str = "efficientnetb2") -> Model:
    return build_efficientnet(1.1, 1.2, 260, 0.3, name, include_top, weights, input_tensor, input_shape, pooling,
                              classes, classifier_activation, "b2")


def EfficientNetB3(include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None,
                   input_shape: Any = None, pooling: Optional[str] = None, classes: int = 1000,
                   classifier_activation: Any = "softmax", name: str = "efficientnetb3") -> Model:
    return build_efficientnet(1.2, 1.4, 300, 0.3, name, include_top, weights, input_tensor, input_shape, pooling,
                              classes, classifier_activation, "b3")


def EfficientNetB4(include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None,
                   input_shape: Any = None, pooling: Optional[str] = None, classes: int = 1000,
                   classifier_activation: Any = "softmax", name: str = "efficientnetb4") -> Model:
    return build_efficientnet(1.4, 1.8, 380, 0.4, name, include_top, weights, input_tensor, input_shape, pooling,
                              classes, classifier_activation, "b4")


def EfficientNetB5(include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None,
                   input_shape: Any = None, pooling: Optional[str] = None, classes: int = 1000,
                   classifier_activation: Any = "softmax", name: str = "efficientnetb5") -> Model:
    return build_efficientnet(1.6, 2.2, 456, 0.4, name, include_top, weights, input_tensor, input_shape, pooling,
                              classes, classifier_activation, "b5")


def EfficientNetB6(include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None,
                   input_shape: Any = None, pooling: Optional[str] = None, classes: int = 1000,
                   classifier_activation: Any = "softmax", name: str = "efficientnetb6") -> Model:
    return build_efficientnet(1.8, 2.6, 528, 0.5, name, include_top, weights, input_tensor, input_shape, pooling,
                              classes, classifier_activation, "b6")


def EfficientNetB7(include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None,
                   input_shape: Any = None, pooling: Optional[str] = None, classes: int = 1000,
                   classifier_activation: Any = "softmax", name: str = "efficientnetb7") -> Model:
    return build_efficientnet(2.0, 3.1, 600, 0.5, name, include_top, weights, input_tensor, input_shape, pooling,
                              classes, classifier_activation, "b7")


for _fn, _size in ((EfficientNetB0, 224), (EfficientNetB1, 240), (EfficientNetB2, 260), (EfficientNetB3, 300),
                   (EfficientNetB4, 380), (EfficientNetB5, 456), (EfficientNetB6, 528), (EfficientNetB7, 600)):
    _fn.__doc__ = (f"The {_fn.__name__} image classifier ({_size}x{_size} by default), Keras's `{_fn.__name__}`."
                   + _DOC.format(size=_size, name=_fn.__name__.lower()))


def preprocess_input(x: Any, data_format: Optional[str] = None) -> Any:
    """The identity: EfficientNet models normalize their inputs themselves. `data_format` is unused."""
    return x


def decode_predictions(preds: Any, top: int = 5) -> list:
    """`imagenet_utils.decode_predictions`: the top ImageNet classes of each prediction."""
    return imagenet_utils.decode_predictions(preds, top=top)


def __getattr__(name: str):
    # Only for names this module lacks: says what to use instead, or the closest name it has.
    from kerasish.utils.keras_names import missing_attribute

    raise missing_attribute(__name__, name, globals())
