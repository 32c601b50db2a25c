"""EfficientNetV2 B0-B3, S, M and L (Tan & Le, 2021) as `keras.applications.efficientnet_v2` builds them.

By default the networks normalize their own inputs (a `Rescaling`, plus a `Normalization` for
the B variants), so `preprocess_input` is the identity. Layer names and order are Keras's, so
Keras's weight files load unchanged.
"""

from __future__ import annotations

import inspect
import math
import os
from typing import Any, Optional

from kerasish import config
from kerasish.applications import imagenet_utils
from kerasish.applications.efficientnet import CONV_KERNEL_INITIALIZER, DENSE_KERNEL_INITIALIZER
from kerasish.layers import (
    Activation, BatchNormalization, Conv2D, Dense, DepthwiseConv2D, Dropout, GlobalAveragePooling2D, Normalization,
    Rescaling, Reshape, add, multiply,
)
from kerasish.models import Model

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/efficientnet_v2/"
# (with top, without top) md5 hashes of Keras's published files.
WEIGHTS_HASHES = {
    "b0": ("21ecbf6da12460d5c40bb2f29ceb2188", "893217f2bb855e2983157299931e43ff"),
    "b1": ("069f0534ff22adf035c89e2d9547a9dc", "0e80663031ca32d657f9caa404b6ec37"),
    "b2": ("424e49f28180edbde1e94797771950a7", "1dfe2e7a5d45b6632553a8961ea609eb"),
    "b3": ("1f1fc43bd98a6e4fd8fdfd551e02c7a0", "f6abf7b5849ac99a89b50dd3fd532856"),
    "-s": ("e1d88a8495beba45748fedd0cecbe016", "af0682fb74e8c54910f2d4393339c070"),
    "-m": ("a3bf6aa3276309f4fc6a34aa114c95cd", "1b8dc055df72dde80d614482840fe342"),
    "-l": ("27e6d408b53c7ebc868fefa357689935", "b0b66b5c863aef5b46e8608fe1711615"),
}
# Each stage: (kernel_size, num_repeat, input_filters, output_filters, expand_ratio, se_ratio, strides,
# fused): a fused stage uses one full convolution where the other expands, then convolves depthwise.
_B = ((3, 1, 32, 16, 1, 0, 1, True), (3, 2, 16, 32, 4, 0, 2, True), (3, 2, 32, 48, 4, 0, 2, True),
      (3, 3, 48, 96, 4, 0.25, 2, False), (3, 5, 96, 112, 6, 0.25, 1, False), (3, 8, 112, 192, 6, 0.25, 2, False))
STAGES = {
    "b": _B,
    "s": ((3, 2, 24, 24, 1, 0, 1, True), (3, 4, 24, 48, 4, 0, 2, True), (3, 4, 48, 64, 4, 0, 2, True),
          (3, 6, 64, 128, 4, 0.25, 2, False), (3, 9, 128, 160, 6, 0.25, 1, False),
          (3, 15, 160, 256, 6, 0.25, 2, False)),
    "m": ((3, 3, 24, 24, 1, 0, 1, True), (3, 5, 24, 48, 4, 0, 2, True), (3, 5, 48, 80, 4, 0, 2, True),
          (3, 7, 80, 160, 4, 0.25, 2, False), (3, 14, 160, 176, 6, 0.25, 1, False),
          (3, 18, 176, 304, 6, 0.25, 2, False), (3, 5, 304, 512, 6, 0.25, 1, False)),
    "l": ((3, 4, 32, 32, 1, 0, 1, True), (3, 7, 32, 64, 4, 0, 2, True), (3, 7, 64, 96, 4, 0, 2, True),
          (3, 10, 96, 192, 4, 0.25, 2, False), (3, 19, 192, 224, 6, 0.25, 1, False),
          (3, 25, 224, 384, 6, 0.25, 2, False), (3, 7, 384, 640, 6, 0.25, 1, False)),
}


def round_filters(filters: float, width_coefficient: float, min_depth: int, depth_divisor: int) -> int:
    """`filters` scaled by `width_coefficient`, rounded to a multiple of `depth_divisor`."""
    filters *= width_coefficient
    return int(max(min_depth or depth_divisor, int(filters + depth_divisor / 2) // depth_divisor * depth_divisor))


def _bn_axis() -> int:
    return 3 if config.image_data_format() == "channels_last" else 1


def _conv(filters: int, kernel_size: int, name: str, strides: int = 1, **kwargs: Any) -> Conv2D:
    return Conv2D(filters, kernel_size=kernel_size, strides=strides, kernel_initializer=CONV_KERNEL_INITIALIZER,
                  padding="same", use_bias=False, name=name, **kwargs)


def _squeeze_excite(x: Any, filters: int, input_filters: int, se_ratio: float, activation: str, name: str) -> Any:
    se = GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)
    se = Reshape((filters, 1, 1) if _bn_axis() == 1 else (1, 1, filters), name=f"{name}se_reshape")(se)
    se = Conv2D(max(1, int(input_filters * se_ratio)), 1, padding="same", activation=activation,
                kernel_initializer=CONV_KERNEL_INITIALIZER, name=f"{name}se_reduce")(se)
    se = Conv2D(filters, 1, padding="same", activation="sigmoid", kernel_initializer=CONV_KERNEL_INITIALIZER,
                name=f"{name}se_expand")(se)
    return multiply([x, se], name=f"{name}se_excite")


def _block(inputs: Any, input_filters: int, output_filters: int, expand_ratio: int, kernel_size: int, strides: int,
           se_ratio: float, fused: bool, bn_momentum: float, activation: str, survival_probability: float,
           name: str) -> Any:
    """An MBConv block (`fused=False`) or a Fused-MBConv block (`fused=True`), with Keras's layer names."""
    bn_axis = _bn_axis()
    filters = input_filters * expand_ratio
    x = inputs
    if expand_ratio != 1:
        x = _conv(filters, kernel_size if fused else 1, f"{name}expand_conv", strides if fused else 1)(x)
        x = BatchNormalization(axis=bn_axis, momentum=bn_momentum, name=f"{name}expand_bn")(x)
        x = Activation(activation, name=f"{name}expand_activation")(x)
    if not fused:
        x = DepthwiseConv2D(kernel_size=kernel_size, strides=strides, depthwise_initializer=CONV_KERNEL_INITIALIZER,
                            padding="same", use_bias=False, name=f"{name}dwconv2")(x)
        x = BatchNormalization(axis=bn_axis, momentum=bn_momentum, name=f"{name}bn")(x)
        x = Activation(activation, name=f"{name}activation")(x)
    if 0 < se_ratio <= 1:
        x = _squeeze_excite(x, filters, input_filters, se_ratio, activation, name)
    project_alone = fused and expand_ratio == 1  # the only convolution of the block: full kernel and stride
    x = _conv(output_filters, kernel_size if project_alone else 1, f"{name}project_conv",
              strides if project_alone else 1)(x)
    x = BatchNormalization(axis=bn_axis, momentum=bn_momentum, name=f"{name}project_bn")(x)
    if project_alone:
        x = Activation(activation, name=f"{name}project_activation")(x)
    if strides == 1 and input_filters == output_filters:
        if survival_probability:
            x = Dropout(survival_probability, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
        x = add([x, inputs], name=f"{name}add")
    return x


def build_efficientnet_v2(width_coefficient: float, depth_coefficient: float, default_size: int, name: str,
                          include_top: bool, weights: Any, input_tensor: Any, input_shape: Any,
                          pooling: Optional[str], classes: int, classifier_activation: Any,
                          include_preprocessing: bool, weights_name: str, dropout_rate: float = 0.2,
                          drop_connect_rate: float = 0.2, depth_divisor: int = 8, min_depth: int = 8,
                          bn_momentum: float = 0.9, activation: str = "swish") -> Model:
    """An EfficientNetV2 of the stage table `STAGES[weights_name]`, scaled by width and depth."""
    if not (weights in ("imagenet", None) or (isinstance(weights, (str, os.PathLike)) and os.path.exists(weights))):
        raise ValueError(
            "The `weights` argument should be either `None` (random initialization), `imagenet` (pre-training on "
            f"ImageNet), or the path to the weights file to be loaded.Received: weights={weights}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError('If using `weights="imagenet"` with `include_top` as true, `classes` should be 1000. '
                         f"Received: classes={classes}")
    imagenet_utils.check_pooling(pooling)
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=default_size, min_size=32, data_format=config.image_data_format(),
        require_flatten=include_top, weights=weights)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    bn_axis = _bn_axis()
    x = img_input
    if include_preprocessing:
        # Keras decides by the model's name: the B variants were trained on ImageNet-normalized inputs.
        if name.split("-")[-1].startswith("b") and input_shape[bn_axis - 1] == 3:
            x = Rescaling(scale=1.0 / 255)(x)
            x = Normalization(mean=[0.485, 0.456, 0.406], variance=[0.229 ** 2, 0.224 ** 2, 0.225 ** 2],
                              axis=bn_axis)(x)
        else:
            x = Rescaling(scale=1.0 / 128.0, offset=-1)(x)

    def filters(n: float) -> int:
        return round_filters(n, width_coefficient, min_depth, depth_divisor)

    stages = STAGES[weights_name.strip("-")[0]]
    x = _conv(filters(stages[0][2]), 3, "stem_conv", 2)(x)
    x = BatchNormalization(axis=bn_axis, momentum=bn_momentum, name="stem_bn")(x)
    x = Activation(activation, name="stem_activation")(x)
    total = float(sum(stage[1] for stage in stages))  # Keras counts unscaled repeats here
    b = 0
    for i, (kernel_size, repeats, f_in, f_out, expand_ratio, se_ratio, strides, fused) in enumerate(stages):
        f_in, f_out = filters(f_in), filters(f_out)
        for j in range(int(math.ceil(depth_coefficient * repeats))):
            x = _block(x, f_in if j == 0 else f_out, f_out, expand_ratio, kernel_size, strides if j == 0 else 1,
                       se_ratio, fused, bn_momentum, activation, drop_connect_rate * b / total,
                       f"block{i + 1}{chr(j + 97)}_")
            b += 1
    x = _conv(filters(1280), 1, "top_conv")(x)
    x = BatchNormalization(axis=bn_axis, momentum=bn_momentum, name="top_bn")(x)
    x = Activation(activation, name="top_activation")(x)

    def top(x: Any) -> Any:
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = Dropout(dropout_rate, name="top_dropout")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        return Dense(classes, activation=classifier_activation, kernel_initializer=DENSE_KERNEL_INITIALIZER,
                     bias_initializer="zeros", name="predictions")(x)

    x = imagenet_utils.pool_or_top(x, include_top, pooling, top, ("avg_pool", "max_pool"))
    model = Model(imagenet_utils.source_inputs(input_tensor, img_input), x, name=name)
    file_name = name + (".h5" if include_top else "_notop.h5")
    file_hash = WEIGHTS_HASHES[weights_name][0 if include_top else 1]
    return imagenet_utils.load_weights(model, weights, file_name, BASE_WEIGHTS_PATH + file_name, file_hash)


_DOC = """

    By default the model normalizes its inputs itself: feed images with values in [0, 255]
    (`efficientnet_v2.preprocess_input` is the identity). With `include_preprocessing=False`
    feed what the first convolution expects.

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
        include_preprocessing: whether the model starts with its own rescaling (and, for the
            B variants, ImageNet normalization). Defaults to `True`.
        name: the model's name (also the weight file's name). Defaults to `"{name}"`.

    Returns:
        A functional `kerasish.Model`.

    Raises:
        ValueError: for an unknown `weights`, `classes != 1000` with imagenet weights and the
            top, or an `input_shape` the model cannot take.
"""

def EfficientNetV2B0(include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None,
                     input_shape: Any = None, pooling: Optional[str] = None, classes: int = 1000,
                     classifier_activation: Any = "softmax", include_preprocessing: bool = True,
                     name: str = "efficientnetv2-b0") -> Model:
    return build_efficientnet_v2(1.0, 1.0, 224, name, include_top, weights, input_tensor, input_shape, pooling,
                                 classes, classifier_activation, include_preprocessing, "b0")


def EfficientNetV2B1(include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None,
                     input_shape: Any = None, pooling: Optional[str] = None, classes: int = 1000,
                     classifier_activation: Any = "softmax", include_preprocessing: bool = True,
                     name: str = "efficientnetv2-b1") -> Model:
    return build_efficientnet_v2(1.0, 1.1, 240, name, include_top, weights, input_tensor, input_shape, pooling,
                                 classes, classifier_activation, include_preprocessing, "b1")


def EfficientNetV2B2(include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None,
                     input_shape: Any = None, pooling: Optional[str] = None, classes: int = 1000,
                     classifier_activation: Any = "softmax", include_preprocessing: bool = True,
                     name: str = "efficientnetv2-b2") -> Model:
    return build_efficientnet_v2(1.1, 1.2, 260, name, include_top, weights, input_tensor, input_shape, pooling,
                                 classes, classifier_activation, include_preprocessing, "b2")


def EfficientNetV2B3(include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None,
                     input_shape: Any = None, pooling: Optional[str] = None, classes: int = 1000,
                     classifier_activation: Any = "softmax", include_preprocessing: bool = True,
                     name: str = "efficientnetv2-b3") -> Model:
    return build_efficientnet_v2(1.2, 1.4, 300, name, include_top, weights, input_tensor, input_shape, pooling,
                                 classes, classifier_activation, include_preprocessing, "b3")


def EfficientNetV2S(include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None,
                    input_shape: Any = None, pooling: Optional[str] = None, classes: int = 1000,
                    classifier_activation: Any = "softmax", include_preprocessing: bool = True,
                    name: str = "efficientnetv2-s") -> Model:
    return build_efficientnet_v2(1.0, 1.0, 384, name, include_top, weights, input_tensor, input_shape, pooling,
                                 classes, classifier_activation, include_preprocessing, "-s")


def EfficientNetV2M(include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None,
                    input_shape: Any = None, pooling: Optional[str] = None, classes: int = 1000,
                    classifier_activation: Any = "softmax", include_preprocessing: bool = True,
                    name: str = "efficientnetv2-m") -> Model:
    return build_efficientnet_v2(1.0, 1.0, 480, name, include_top, weights, input_tensor, input_shape, pooling,
                                 classes, classifier_activation, include_preprocessing, "-m")


def EfficientNetV2L(include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None,
                    input_shape: Any = None, pooling: Optional[str] = None, classes: int = 1000,
                    classifier_activation: Any = "softmax", include_preprocessing: bool = True,
                    name: str = "efficientnetv2-l") -> Model:
    return build_efficientnet_v2(1.0, 1.0, 480, name, include_top, weights, input_tensor, input_shape, pooling,
                                 classes, classifier_activation, include_preprocessing, "-l")


for _fn, _size in ((EfficientNetV2B0, 224), (EfficientNetV2B1, 240), (EfficientNetV2B2, 260), (EfficientNetV2B3, 300),
                   (EfficientNetV2S, 384), (EfficientNetV2M, 480), (EfficientNetV2L, 480)):
    _fn.__doc__ = (f"The {_fn.__name__} image classifier ({_size}x{_size} by default), Keras's `{_fn.__name__}`."
                   + _DOC.format(size=_size, name=inspect.signature(_fn).parameters["name"].default))


def preprocess_input(x: Any, data_format: Optional[str] = None) -> Any:
    """The identity: EfficientNetV2 models normalize their inputs themselves. `data_format` is unused."""
    return x


def decode_predictions(preds: Any, top: int = 5) -> list:
    """`imagenet_utils.decode_predictions`: the top ImageNet classes of each prediction."""
    return imagenet_utils.decode_predictions(preds, top=top)
