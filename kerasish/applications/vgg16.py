"""VGG16 (Simonyan & Zisserman, 2015) as `keras.applications.vgg16` builds it, on kerasish layers.

The graph, layer names and layer order are Keras's, so Keras's weight files load unchanged.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from kerasish import config
from kerasish.applications import imagenet_utils
from kerasish.layers import Conv2D, Dense, Flatten, MaxPooling2D
from kerasish.models import Model

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
WEIGHTS = ("vgg16_weights_tf_dim_ordering_tf_kernels.h5", "64373286793e3c8b2b4e3219cbf3544b")
WEIGHTS_NO_TOP = ("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "6d6bbae143d832006294945121d1f1fc")


def build_vgg(convs_per_block: Sequence[int], include_top: bool, weights: Any, input_tensor: Any,
              input_shape: Any, pooling: Optional[str], classes: int, classifier_activation: Any,
              name: str, base_url: str, files: Sequence[tuple]) -> Model:
    """A VGG network: five blocks of 3x3 convolutions (`convs_per_block` in each) and max pooling."""
    imagenet_utils.check_weights(weights, include_top, classes)
    imagenet_utils.check_pooling(pooling)
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=224, min_size=32, data_format=config.image_data_format(),
        require_flatten=include_top, weights=weights)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    x = img_input
    for block, (filters, convs) in enumerate(zip((64, 128, 256, 512, 512), convs_per_block), start=1):
        for conv in range(1, convs + 1):
            x = Conv2D(filters, (3, 3), activation="relu", padding="same", name=f"block{block}_conv{conv}")(x)
        x = MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)

    def top(x: Any) -> Any:
        x = Flatten(name="flatten")(x)
        x = Dense(4096, activation="relu", name="fc1")(x)
        x = Dense(4096, activation="relu", name="fc2")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        return Dense(classes, activation=classifier_activation, name="predictions")(x)

    x = imagenet_utils.pool_or_top(x, include_top, pooling, top)
    model = Model(imagenet_utils.source_inputs(input_tensor, img_input), x, name=name)
    file_name, file_hash = files[0] if include_top else files[1]
    return imagenet_utils.load_weights(model, weights, file_name, base_url + file_name, file_hash)


def VGG16(include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None, input_shape: Any = None,
          pooling: Optional[str] = None, classes: int = 1000, classifier_activation: Any = "softmax",
          name: str = "vgg16") -> Model:
    """The VGG16 image classifier (13 convolutions, 3 dense layers), Keras's `VGG16`.

    Call `vgg16.preprocess_input` (caffe mode: BGR, mean-subtracted, unscaled) on images first.

    Args:
        include_top: whether to end with the three dense layers (then the input must be
            224x224, or fixed by `input_shape`). Defaults to `True`.
        weights: None (random), `"imagenet"` (Keras's published weights, downloaded into
            `<KERASISH_HOME>/models/`) or the path of a weights file. Defaults to `"imagenet"`.
        input_tensor: a symbolic tensor (`kerasish.layers.Input(...)`) to build the model on.
            Defaults to `None`.
        input_shape: `(height, width, 3)`, at least 32x32; only when `include_top=False`
            or `weights=None`. Defaults to `None`.
        pooling: without the top: None (4D feature map), `"avg"` or `"max"` (global pooling
            to a 2D output). Defaults to `None`.
        classes: number of classes of the top layer; 1000 with imagenet weights. Defaults to `1000`.
        classifier_activation: activation of the top layer; None or `"softmax"` with
            pretrained weights. Defaults to `"softmax"`.
        name: the model's name. Defaults to `"vgg16"`.

    Returns:
        A functional `kerasish.Model`.

    Raises:
        ValueError: for an unknown `weights`, `classes != 1000` with imagenet weights and the
            top, or an `input_shape` the model cannot take.

    Example:
        >>> model = VGG16(weights=None, include_top=False, input_shape=(32, 32, 3), pooling="avg")
        >>> model.output_shape
        (None, 512)
    """
    return build_vgg((2, 2, 3, 3, 3), include_top, weights, input_tensor, input_shape, pooling, classes,
                     classifier_activation, name, BASE_WEIGHTS_PATH, (WEIGHTS, WEIGHTS_NO_TOP))


def preprocess_input(x: Any, data_format: Optional[str] = None) -> Any:
    """VGG16's preprocessing: `imagenet_utils.preprocess_input(x, mode="caffe")`."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


def decode_predictions(preds: Any, top: int = 5) -> list:
    """`imagenet_utils.decode_predictions`: the top ImageNet classes of each prediction."""
    return imagenet_utils.decode_predictions(preds, top=top)
