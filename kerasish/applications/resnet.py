"""ResNet50/101/152 (He et al., 2015) as `keras.applications.resnet` builds them, on kerasish layers.

`build_resnet` also builds the pre-activation V2 networks of `resnet_v2`. Layer names and order
are Keras's, so Keras's weight files load unchanged.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from kerasish import config
from kerasish.applications import imagenet_utils
from kerasish.layers import (
    Activation, Add, BatchNormalization, Conv2D, Dense, GlobalAveragePooling2D, MaxPooling2D, ZeroPadding2D,
)
from kerasish.models import Model

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
# (with top, without top) md5 hashes of Keras's published files.
WEIGHTS_HASHES = {
    "resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    "resnet50v2": ("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    "resnet101v2": ("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
    "resnet152v2": ("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"),
}


def _bn_axis() -> int:
    return 3 if config.image_data_format() == "channels_last" else 1


def _bn(name: str) -> BatchNormalization:
    return BatchNormalization(axis=_bn_axis(), epsilon=1.001e-5, name=name)


def build_resnet(stack_fn: Callable[[Any], Any], preact: bool, use_bias: bool, include_top: bool, weights: Any,
                 input_tensor: Any, input_shape: Any, pooling: Optional[str], classes: int,
                 classifier_activation: Any, name: str, weights_name: str) -> Model:
    """The ResNet stem, `stack_fn`'s residual stages, then the top or pooling."""
    imagenet_utils.check_weights(weights, include_top, classes)
    imagenet_utils.check_pooling(pooling)
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=224, min_size=32, data_format=config.image_data_format(),
        require_flatten=include_top, weights=weights)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    x = ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(img_input)
    x = Conv2D(64, 7, strides=2, use_bias=use_bias, name="conv1_conv")(x)
    if not preact:
        x = _bn("conv1_bn")(x)
        x = Activation("relu", name="conv1_relu")(x)
    x = ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    x = stack_fn(x)
    if preact:
        x = _bn("post_bn")(x)
        x = Activation("relu", name="post_relu")(x)

    def top(x: Any) -> Any:
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        return Dense(classes, activation=classifier_activation, name="predictions")(x)

    x = imagenet_utils.pool_or_top(x, include_top, pooling, top, ("avg_pool", "max_pool"))
    model = Model(imagenet_utils.source_inputs(input_tensor, img_input), x, name=name)
    suffix = "" if include_top else "_notop"
    file_name = f"{weights_name}_weights_tf_dim_ordering_tf_kernels{suffix}.h5"
    file_hash = WEIGHTS_HASHES[weights_name][0 if include_top else 1]
    return imagenet_utils.load_weights(model, weights, file_name, BASE_WEIGHTS_PATH + file_name, file_hash)


def residual_block_v1(x: Any, filters: int, kernel_size: int = 3, stride: int = 1, conv_shortcut: bool = True,
                      name: str = "") -> Any:
    """A bottleneck block: 1x1, kxk, 1x1 (4 * filters) convolutions plus the shortcut, then ReLU."""
    if conv_shortcut:
        shortcut = Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = _bn(f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    x = Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = _bn(f"{name}_1_bn")(x)
    x = Activation("relu", name=f"{name}_1_relu")(x)
    x = Conv2D(filters, kernel_size, padding="same", name=f"{name}_2_conv")(x)
    x = _bn(f"{name}_2_bn")(x)
    x = Activation("relu", name=f"{name}_2_relu")(x)
    x = Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = _bn(f"{name}_3_bn")(x)
    x = Add(name=f"{name}_add")([shortcut, x])
    return Activation("relu", name=f"{name}_out")(x)


def stack_residual_blocks_v1(x: Any, filters: int, blocks: int, stride1: int = 2, name: str = "") -> Any:
    """`blocks` V1 blocks; the first projects the shortcut and strides by `stride1`."""
    x = residual_block_v1(x, filters, stride=stride1, name=f"{name}_block1")
    for i in range(2, blocks + 1):
        x = residual_block_v1(x, filters, conv_shortcut=False, name=f"{name}_block{i}")
    return x


def residual_block_v2(x: Any, filters: int, kernel_size: int = 3, stride: int = 1, conv_shortcut: bool = False,
                      name: str = "") -> Any:
    """A pre-activation bottleneck block (BN and ReLU before the convolutions)."""
    preact = _bn(f"{name}_preact_bn")(x)
    preact = Activation("relu", name=f"{name}_preact_relu")(preact)
    if conv_shortcut:
        shortcut = Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(preact)
    else:
        shortcut = MaxPooling2D(1, strides=stride)(x) if stride > 1 else x
    x = Conv2D(filters, 1, strides=1, use_bias=False, name=f"{name}_1_conv")(preact)
    x = _bn(f"{name}_1_bn")(x)
    x = Activation("relu", name=f"{name}_1_relu")(x)
    x = ZeroPadding2D(padding=((1, 1), (1, 1)), name=f"{name}_2_pad")(x)
    x = Conv2D(filters, kernel_size, strides=stride, use_bias=False, name=f"{name}_2_conv")(x)
    x = _bn(f"{name}_2_bn")(x)
    x = Activation("relu", name=f"{name}_2_relu")(x)
    x = Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    return Add(name=f"{name}_out")([shortcut, x])


def stack_residual_blocks_v2(x: Any, filters: int, blocks: int, stride1: int = 2, name: str = "") -> Any:
    """`blocks` V2 blocks; the first projects the shortcut, the last strides by `stride1`."""
    x = residual_block_v2(x, filters, conv_shortcut=True, name=f"{name}_block1")
    for i in range(2, blocks):
        x = residual_block_v2(x, filters, name=f"{name}_block{i}")
    return residual_block_v2(x, filters, stride=stride1, name=f"{name}_block{blocks}")


def _v1_stages(depths: tuple) -> Callable[[Any], Any]:
    def stack_fn(x: Any) -> Any:
        for stage, (filters, blocks) in enumerate(zip((64, 128, 256, 512), depths), start=2):
            x = stack_residual_blocks_v1(x, filters, blocks, stride1=1 if stage == 2 else 2, name=f"conv{stage}")
        return x

    return stack_fn


_RESNET_DOC = """

    Call `{module}.preprocess_input` (caffe mode: BGR, mean-subtracted, unscaled) on images first.

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
        ValueError: for an unknown `weights`, `classes != 1000` with imagenet weights and the
            top, or an `input_shape` the model cannot take.
"""


def ResNet50(include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None,
             input_shape: Any = None, pooling: Optional[str] = None, classes: int = 1000,
             classifier_activation: Any = "softmax", name: str = "resnet50") -> Model:
    return build_resnet(_v1_stages((3, 4, 6, 3)), False, True, include_top, weights, input_tensor, input_shape,
                        pooling, classes, classifier_activation, name, "resnet50")


def ResNet101(include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None,
              input_shape: Any = None, pooling: Optional[str] = None, classes: int = 1000,
              classifier_activation: Any = "softmax", name: str = "resnet101") -> Model:
    return build_resnet(_v1_stages((3, 4, 23, 3)), False, True, include_top, weights, input_tensor, input_shape,
                        pooling, classes, classifier_activation, name, "resnet101")


def ResNet152(include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None,
              input_shape: Any = None, pooling: Optional[str] = None, classes: int = 1000,
              classifier_activation: Any = "softmax", name: str = "resnet152") -> Model:
    return build_resnet(_v1_stages((3, 8, 36, 3)), False, True, include_top, weights, input_tensor, input_shape,
                        pooling, classes, classifier_activation, name, "resnet152")


for _fn, _blocks in ((ResNet50, 50), (ResNet101, 101), (ResNet152, 152)):
    _fn.__doc__ = (f"The ResNet{_blocks} image classifier, Keras's `ResNet{_blocks}`."
                   + _RESNET_DOC.format(module="resnet", name=f"resnet{_blocks}"))


def preprocess_input(x: Any, data_format: Optional[str] = None) -> Any:
    """ResNet's preprocessing: `imagenet_utils.preprocess_input(x, mode="caffe")`."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


def decode_predictions(preds: Any, top: int = 5) -> list:
    """`imagenet_utils.decode_predictions`: the top ImageNet classes of each prediction."""
    return imagenet_utils.decode_predictions(preds, top=top)
