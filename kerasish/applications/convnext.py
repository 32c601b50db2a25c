"""ConvNeXt Tiny to XLarge (Liu et al., 2022) as `keras.applications.convnext` builds them, on kerasish layers.

The networks normalize their own inputs (`include_preprocessing=True`), so `preprocess_input` is
the identity. Layer names, the nested stem/downsampling `Sequential`s and the `LayerScale`
weights follow Keras, so Keras's weight files load unchanged.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from kerasish import config, initializers
from kerasish.applications import imagenet_utils
from kerasish.layers import Activation, Conv2D, Dense, GlobalAveragePooling2D, LayerNormalization, Normalization
from kerasish.layers.layer import Layer
from kerasish.models import Model
from kerasish.models import Sequential
from kerasish.utils.object_registration import register_builtin

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/convnext/"
# (with top, without top) sha256 hashes of Keras's published files.
WEIGHTS_HASHES = {
    "convnext_tiny": ("8ae6e78ce2933352b1ef4008e6dd2f17bc40771563877d156bc6426c7cf503ff",
                      "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1"),
    "convnext_small": ("ce1277d8f1ee5a0ef0e171469089c18f5233860ceaf9b168049cb9263fd7483c",
                       "6fc8009faa2f00c1c1dfce59feea9b0745eb260a7dd11bee65c8e20843da6eab"),
    "convnext_base": ("52cbb006d3dadd03f6e095a8ca1aca47aecdd75acb4bc74bce1f5c695d0086e6",
                      "40a20c5548a5e9202f69735ecc06c990e6b7c9d2de39f0361e27baeb24cb7c45"),
    "convnext_large": ("070c5ed9ed289581e477741d3b34beffa920db8cf590899d6d2c67fba2a198a6",
                       "96f02b6f0753d4f543261bc9d09bed650f24dd6bc02ddde3066135b63d23a1cd"),
    "convnext_xlarge": ("c1f5ccab661354fc3a79a10fa99af82f0fbf10ec65cb894a3ae0815f17a889ee",
                        "de3f8a54174130e0cecdc71583354753d557fcf1f4487331558e2a16ba0cfe05"),
}
# variant -> (blocks per stage, channels per stage)
MODEL_CONFIGS = {
    "tiny": ((3, 3, 9, 3), (96, 192, 384, 768)),
    "small": ((3, 3, 27, 3), (96, 192, 384, 768)),
    "base": ((3, 3, 27, 3), (128, 256, 512, 1024)),
    "large": ((3, 3, 27, 3), (192, 384, 768, 1536)),
    "xlarge": ((3, 3, 27, 3), (256, 512, 1024, 2048)),
}
_IMAGENET_MEAN = [0.485 * 255, 0.456 * 255, 0.406 * 255]
_IMAGENET_VARIANCE = [(0.229 * 255) ** 2, (0.224 * 255) ** 2, (0.225 * 255) ** 2]


class LayerScale(Layer):
    """Multiplies its input by a learned per-channel scale, initialized to `init_values`.

    Args:
        init_values: the scale's initial value. No default.
        projection_dim: the number of channels (last axis). No default.
    """

    def __init__(self, init_values: float, projection_dim: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.init_values = init_values
        self.projection_dim = projection_dim

    def build(self, input_shape: Any) -> None:
        self.gamma = self.add_weight(shape=(self.projection_dim,),
                                     initializer=initializers.Constant(self.init_values), trainable=True)

    def call(self, inputs: Any) -> Any:
        return inputs * self.gamma

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "init_values": self.init_values, "projection_dim": self.projection_dim}


# Saved ConvNeXt models name LayerScale; loading finds it once this module is imported.
register_builtin(LayerScale)


def _block(x: Any, projection_dim: int, layer_scale_init_value: Optional[float], name: str) -> Any:
    # A 7x7 depthwise conv, LayerNorm, an MLP (4x wider, GELU) on channels, layer scale, plus the input.
    inputs = x
    x = Conv2D(projection_dim, kernel_size=7, padding="same", groups=projection_dim,
               name=f"{name}_depthwise_conv")(x)
    x = LayerNormalization(epsilon=1e-6, name=f"{name}_layernorm")(x)
    x = Dense(4 * projection_dim, name=f"{name}_pointwise_conv_1")(x)
    x = Activation("gelu", name=f"{name}_gelu")(x)
    x = Dense(projection_dim, name=f"{name}_pointwise_conv_2")(x)
    if layer_scale_init_value is not None:
        x = LayerScale(layer_scale_init_value, projection_dim, name=f"{name}_layer_scale")(x)
    return inputs + Activation("linear", name=f"{name}_identity")(x)


def build_convnext(depths: Sequence[int], projection_dims: Sequence[int], default_size: int, name: str,
                   include_preprocessing: bool, include_top: bool, weights: Any, input_tensor: Any,
                   input_shape: Any, pooling: Optional[str], classes: int, classifier_activation: Any,
                   weights_name: str, layer_scale_init_value: float = 1e-6) -> Model:
    """A ConvNeXt: a 4x4 patchify stem, four stages of ConvNeXt blocks with downsampling between."""
    if config.image_data_format() == "channels_first":
        raise ValueError("ConvNeXt does not support the `channels_first` image data format. Switch to "
                         "`channels_last` with `kerasish.config.set_image_data_format('channels_last')`.")
    imagenet_utils.check_weights(weights, include_top, classes)
    imagenet_utils.check_pooling(pooling)
    if weights == "imagenet" and weights_name not in name:
        raise ValueError(
            f'Model name "{name}" does not match weights variant "{weights_name}". When using imagenet weights, '
            f'model name must contain the weights variant (e.g., "{weights_name}").'
        )
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=default_size, min_size=32, data_format=config.image_data_format(),
        require_flatten=include_top, weights=weights)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    x = img_input
    if include_preprocessing and input_shape[2] == 3:
        x = Normalization(mean=_IMAGENET_MEAN, variance=_IMAGENET_VARIANCE, name=f"{name}_prestem_normalization")(x)
    stem = Sequential([Conv2D(projection_dims[0], kernel_size=4, strides=4, name=f"{name}_stem_conv"),
                       LayerNormalization(epsilon=1e-6, name=f"{name}_stem_layernorm")], name=f"{name}_stem")
    downsampling = [stem] + [
        Sequential([LayerNormalization(epsilon=1e-6, name=f"{name}_downsampling_layernorm_{i}"),
                    Conv2D(projection_dims[i + 1], kernel_size=2, strides=2, name=f"{name}_downsampling_conv_{i}")],
                   name=f"{name}_downsampling_block_{i}")
        for i in range(3)
    ]
    for stage, blocks in enumerate(depths):
        x = downsampling[stage](x)
        for j in range(blocks):
            x = _block(x, projection_dims[stage], layer_scale_init_value, name=f"{name}_stage_{stage}_block_{j}")
    if include_top:
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = GlobalAveragePooling2D(name=f"{name}_head_gap")(x)
        x = LayerNormalization(epsilon=1e-6, name=f"{name}_head_layernorm")(x)
        x = Dense(classes, activation=classifier_activation, name=f"{name}_head_dense")(x)
    else:
        x = imagenet_utils.pool_or_top(x, False, pooling, lambda y: y)
        x = LayerNormalization(epsilon=1e-6)(x)
    model = Model(imagenet_utils.source_inputs(input_tensor, img_input), x, name=name)
    file_name = name + (".h5" if include_top else "_notop.h5")
    file_hash = WEIGHTS_HASHES[weights_name][0 if include_top else 1]
    return imagenet_utils.load_weights(model, weights, file_name, BASE_WEIGHTS_PATH + file_name, file_hash)


_DOC = """

    The model normalizes its own inputs (values in [0, 255]) when `include_preprocessing`;
    `convnext.preprocess_input` is the identity. Channels-last only.

    Args:
        include_top: whether to end with pooling, LayerNorm and the `classes`-way dense layer.
            Defaults to `True`.
        include_preprocessing: whether to start with a Normalization layer holding the
            ImageNet channel statistics. Defaults to `True`.
        weights: None (random), `"imagenet"` (Keras's published weights, downloaded into
            `<KERASISH_HOME>/models/`) or the path of a weights file. Defaults to `"imagenet"`.
        input_tensor: a symbolic tensor (`kerasish.layers.Input(...)`) to build the model on.
            Defaults to `None`.
        input_shape: `(height, width, 3)`, at least 32x32; only when `include_top=False` or
            `weights=None` (else it must be 224x224). Defaults to `None`.
        pooling: without the top: None, `"avg"` or `"max"` (a final LayerNorm follows in every
            case, as in Keras). Defaults to `None`.
        classes: number of classes of the top layer; 1000 with imagenet weights. Defaults to `1000`.
        classifier_activation: activation of the top layer; None or `"softmax"` with
            pretrained weights. Defaults to `"softmax"`.
        name: the model's name, also the prefix of every layer name and the weight file's
            name. Defaults to `"{name}"`.

    Returns:
        A functional `kerasish.Model`.

    Raises:
        ValueError: under the `channels_first` data format, for an unknown `weights`,
            `classes != 1000` with imagenet weights and the top, or an `input_shape` the model
            cannot take.
"""


def _variant(variant: str):
    depths, dims = MODEL_CONFIGS[variant]
    default_name = f"convnext_{variant}"

    def builder(include_top: bool = True, include_preprocessing: bool = True, weights: Any = "imagenet",
                input_tensor: Any = None, input_shape: Any = None, pooling: Optional[str] = None,
                classes: int = 1000, classifier_activation: Any = "softmax", name: str = default_name) -> Model:
        return build_convnext(depths, dims, 224, name, include_preprocessing, include_top, weights, input_tensor,
                              input_shape, pooling, classes, classifier_activation, default_name)

    builder.__name__ = builder.__qualname__ = "ConvNeXt" + {"xlarge": "XLarge"}.get(variant, variant.title())
    builder.__doc__ = f"The {builder.__name__} image classifier, Keras's `{builder.__name__}`." + _DOC.format(
        name=default_name)
    return builder


ConvNeXtTiny = _variant("tiny")
ConvNeXtSmall = _variant("small")
ConvNeXtBase = _variant("base")
ConvNeXtLarge = _variant("large")
ConvNeXtXLarge = _variant("xlarge")


def preprocess_input(x: Any, data_format: Optional[str] = None) -> Any:
    """The identity: ConvNeXt models normalize their inputs themselves. `data_format` is unused."""
    return x


def decode_predictions(preds: Any, top: int = 5) -> list:
    """`imagenet_utils.decode_predictions`: the top ImageNet classes of each prediction."""
    return imagenet_utils.decode_predictions(preds, top=top)
