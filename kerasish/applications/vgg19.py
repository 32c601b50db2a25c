"""VGG19 as `keras.applications.vgg19` builds it: VGG16 with four convolutions in blocks 3 to 5."""

from __future__ import annotations

from typing import Any, Optional

from kerasish.applications import imagenet_utils
from kerasish.applications.vgg16 import build_vgg
from kerasish.models import Model

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/"
WEIGHTS = ("vgg19_weights_tf_dim_ordering_tf_kernels.h5", "cbe5617147190e668d6c5d5026f83318")
WEIGHTS_NO_TOP = ("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", "253f8cb515780f3b799900260a226db6")


def VGG19(include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None, input_shape: Any = None,
          pooling: Optional[str] = None, classes: int = 1000, classifier_activation: Any = "softmax",
          name: str = "vgg19") -> Model:
    """The VGG19 image classifier (16 convolutions, 3 dense layers), Keras's `VGG19`.

    Arguments, errors and preprocessing (caffe mode) are those of `kerasish.applications.VGG16`;
    `name` defaults to `"vgg19"`.

    Example:
        >>> VGG19(weights=None, include_top=False, input_shape=(32, 32, 3)).output_shape
        (None, 1, 1, 512)
    """
    return build_vgg((2, 2, 4, 4, 4), include_top, weights, input_tensor, input_shape, pooling, classes,
                     classifier_activation, name, BASE_WEIGHTS_PATH, (WEIGHTS, WEIGHTS_NO_TOP))


def preprocess_input(x: Any, data_format: Optional[str] = None) -> Any:
    """VGG19's preprocessing: `imagenet_utils.preprocess_input(x, mode="caffe")`."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


def decode_predictions(preds: Any, top: int = 5) -> list:
    """`imagenet_utils.decode_predictions`: the top ImageNet classes of each prediction."""
    return imagenet_utils.decode_predictions(preds, top=top)
