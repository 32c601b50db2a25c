"""ResNet50V2/101V2/152V2 (He et al., 2016, pre-activation) as `keras.applications.resnet_v2` builds them."""

from __future__ import annotations

from typing import Any, Callable, Optional

from kerasish.applications import imagenet_utils
from kerasish.applications.resnet import _RESNET_DOC, build_resnet, stack_residual_blocks_v2
from kerasish.models import Model


def _v2_stages(depths: tuple) -> Callable[[Any], Any]:
    def stack_fn(x: Any) -> Any:
        for stage, (filters, blocks) in enumerate(zip((64, 128, 256, 512), depths), start=2):
            x = stack_residual_blocks_v2(x, filters, blocks, stride1=1 if stage == 5 else 2, name=f"conv{stage}")
        return x

    return stack_fn


def ResNet50V2(include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None,
               input_shape: Any = None, pooling: Optional[str] = None, classes: int = 1000,
               classifier_activation: Any = "softmax", name: str = "resnet50v2") -> Model:
    return build_resnet(_v2_stages((3, 4, 6, 3)), True, True, include_top, weights, input_tensor, input_shape,
                        pooling, classes, classifier_activation, name, "resnet50v2")


def ResNet101V2(include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None,
                input_shape: Any = None, pooling: Optional[str] = None, classes: int = 1000,
                classifier_activation: Any = "softmax", name: str = "resnet101v2") -> Model:
    return build_resnet(_v2_stages((3, 4, 23, 3)), True, True, include_top, weights, input_tensor, input_shape,
                        pooling, classes, classifier_activation, name, "resnet101v2")


def ResNet152V2(include_top: bool = True, weights: Any = "imagenet", input_tensor: Any = None,
                input_shape: Any = None, pooling: Optional[str] = None, classes: int = 1000,
                classifier_activation: Any = "softmax", name: str = "resnet152v2") -> Model:
    return build_resnet(_v2_stages((3, 8, 36, 3)), True, True, include_top, weights, input_tensor, input_shape,
                        pooling, classes, classifier_activation, name, "resnet152v2")


for _fn, _blocks in ((ResNet50V2, 50), (ResNet101V2, 101), (ResNet152V2, 152)):
    _fn.__doc__ = (f"The pre-activation ResNet{_blocks}V2 image classifier, Keras's `ResNet{_blocks}V2`."
                   + _RESNET_DOC.format(module="resnet_v2", name=f"resnet{_blocks}v2")
                   .replace("caffe mode: BGR, mean-subtracted, unscaled", "tf mode: scaled to [-1, 1]"))


def preprocess_input(x: Any, data_format: Optional[str] = None) -> Any:
    """ResNetV2's preprocessing: `imagenet_utils.preprocess_input(x, mode="tf")`."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds: Any, top: int = 5) -> list:
    """`imagenet_utils.decode_predictions`: the top ImageNet classes of each prediction."""
    return imagenet_utils.decode_predictions(preds, top=top)
