"""DenseNet121/169/201 (Huang et al., 2017) as `keras.applications.densenet` builds them, on kerasish layers.

Layer names and order are Keras's, so Keras's weight files load unchanged.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from kerasish import config
from kerasish.applications import imagenet_utils
from kerasish.layers import (
    Activation, AveragePooling2D, BatchNormalization, Concatenate, Conv2D, Dense, GlobalAveragePooling2D,
    MaxPooling2D, ZeroPadding2D,
)
from kerasish.models import Model

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/densenet/"
# blocks per stage -> (file stem, md5 with top, md5 without top) of Keras's published files.
WEIGHTS = {
    (6, 12, 24, 16): ("densenet121", "9d60b8095a5708f2dcce2bca79d332c7", "30ee3e1110167f948a6b9946edeeb738"),
    (6, 12, 32, 32): ("densenet169", "d699b8f76981ab1b30698df4c175e90b", "b8c4d4c20dd625c148057b9ff1c1176b"),
    (6, 12, 48, 32): ("densenet201", "1ceb130c1ea1b78c3bf6114dbdfd8807", "c13680b51ded0fb44dff2d8f86ac8bb1"),
}


def _bn(name: str) -> BatchNormalization:
    return BatchNormalization(axis=3, epsilon=1.001e-5, name=name)


def conv_block(x: Any, growth_rate: int, name: str) -> Any:
    """BN-ReLU-1x1 conv, BN-ReLU-3x3 conv to `growth_rate` channels, concatenated to the input."""
    y = _bn(f"{name}_0_bn")(x)
    y = Activation("relu", name=f"{name}_0_relu")(y)
    y = Conv2D(4 * growth_rate, 1, use_bias=False, name=f"{name}_1_conv")(y)
    y = _bn(f"{name}_1_bn")(y)
    y = Activation("relu", name=f"{name}_1_relu")(y)
    y = Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(y)
    return Concatenate(axis=3, name=f"{name}_concat")([x, y])


def dense_block(x: Any, blocks: int, name: str) -> Any:
    """`blocks` conv blocks, each adding 32 channels."""
    for i in range(blocks):
        x = conv_block(x, 32, name=f"{name}_block{i + 1}")
    return x


def transition_block(x: Any, reduction: float, name: str) -> Any:
    """BN-ReLU, a 1x1 conv shrinking the channels by `reduction`, then 2x2 average pooling."""
    x = _bn(f"{name}_bn")(x)
    x = Activation("relu", name=f"{name}_relu")(x)
    x = Conv2D(int(x.shape[3] * reduction), 1, use_bias=False, name=f"{name}_conv")(x)
    return AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def build_densenet(blocks: Sequence[int], include_top: bool, weights: Any, input_tensor: Any, input_shape: Any,
                   pooling: Optional[str], classes: int, classifier_activation: Any, name: str) -> Model:
    """A DenseNet with `blocks` conv blocks in its four dense stages."""
    if config.image_data_format() == "channels_first":
        raise ValueError("DenseNet does not support the `channels_first` image data format. Switch to "
                         "`channels_last` with `kerasish.config.set_image_data_format('channels_last')`.")
    imagenet_utils.check_weights(weights, include_top, classes)
    imagenet_utils.check_pooling(pooling)
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=224, min_size=32, data_format=config.image_data_format(),
        require_flatten=include_top, weights=weights)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    x = ZeroPadding2D(padding=((3, 3), (3, 3)))(img_input)
    x = Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = _bn("conv1_bn")(x)
    x = Activation("relu", name="conv1_relu")(x)
    x = ZeroPadding2D(padding=((1, 1), (1, 1)))(x)
    x = MaxPooling2D(3, strides=2, name="pool1")(x)
    for stage, count in enumerate(blocks, start=2):
        x = dense_block(x, count, name=f"conv{stage}")
        if stage < 5:
            x = transition_block(x, 0.5, name=f"pool{stage}")
    x = _bn("bn")(x)
    x = Activation("relu", name="relu")(x)

    def top(x: Any) -> Any:
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        return Dense(classes, activation=classifier_activation, name="predictions")(x)

    x = imagenet_utils.pool_or_top(x, include_top, pooling, top, ("avg_pool", "max_pool"))
    model = Model(imagenet_utils.source_inputs(input_tensor, img_input), x, name=name)
    stem, top_hash, no_top_hash = WEIGHTS[tuple(blocks)]
    file_name = f"{stem}_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"
    return imagenet_utils.load_weights(model, weights, file_name, BASE_WEIGHTS_PATH + file_name,
                                       top_hash if include_top else no_top_hash)


_DOC = """

    Call `densenet.preprocess_input` (torch mode: scaled to [0, 1], then normalized per
    channel) on images first. Channels-last only.

    Args:
        include_top: whether to end with global average pooling and the `classes`-way dense
            layer. Defaults to `True`.
        weights: None (random), `"imagenet"` (Keras's published weights, downloaded into
            `<KERASISH_HOME>/models/`) or the path of a weights file. Defaults to `"imagenet"`.
        input_tensor: a symbolic tensor (`kerasish.layers.Input(...)`) to build the model on.
            Defaults to `None`.
        input_shape: `(height, width, 3)`, at least 32x32; only when `include_top=False` or
            `weights=None` (else it must be 224x224). Defaults to `None`.
        pooling: without the top: None (4D feature map), `"avg"` or `"max"`. Defaults to `None`.
        classes: number of classes of the top layer; 1000 with imagenet weights. Defaults to `1000`.
        classifier_activation: activation of the top layer; None or `"softmax"` with
            pretrained weights. Defaults to `"softmax"`.
        name: the model's name. Defaults to `"{name}"`.

    Returns:
        A functional `kerasish.Model`.

    Raises:
        ValueError: under the `channels_first` data format, for an unknown `weights`,
            `classes != 1000` with imagenet weights and the top, or an `input_shape` the model
            cannot take.
"""


def DenseNet121(include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None,
                input_shape: Any = None, pooling: Optional[str] = None, classes: int = 1000,
                classifier_activation: Any = "softmax", name: str = "densenet121") -> Model:
    return build_densenet((6, 12, 24, 16), include_top, weights, input_tensor, input_shape, pooling, classes,
                          classifier_activation, name)


def DenseNet169(include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None,
                input_shape: Any = None, pooling: Optional[str] = None, classes: int = 1000,
                classifier_activation: Any = "softmax", name: str = "densenet169") -> Model:
    return build_densenet((6, 12, 32, 32), include_top, weights, input_tensor, input_shape, pooling, classes,
                          classifier_activation, name)


def DenseNet201(include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None,
                input_shape: Any = None, pooling: Optional[str] = None, classes: int = 1000,
                classifier_activation: Any = "softmax", name: str = "densenet201") -> Model:
    return build_densenet((6, 12, 48, 32), include_top, weights, input_tensor, input_shape, pooling, classes,
                          classifier_activation, name)


for _fn in (DenseNet121, DenseNet169, DenseNet201):
    _fn.__doc__ = (f"The {_fn.__name__} image classifier, Keras's `{_fn.__name__}`."
                   + _DOC.format(name=_fn.__name__.lower()))


def preprocess_input(x: Any, data_format: Optional[str] = None) -> Any:
    """DenseNet's preprocessing: `imagenet_utils.preprocess_input(x, mode="torch")`."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="torch")


def decode_predictions(preds: Any, top: int = 5) -> list:
    """`imagenet_utils.decode_predictions`: the top ImageNet classes of each prediction."""
    return imagenet_utils.decode_predictions(preds, top=top)
