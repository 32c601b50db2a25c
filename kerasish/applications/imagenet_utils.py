"""What every ImageNet application shares: input checks, preprocessing, decoding, weight loading.

`preprocess_input(x, mode=...)` and `decode_predictions(preds)` are Keras's
`keras.applications.imagenet_utils` functions; the rest are the helpers the model builders in
this package call so that each model checks its arguments and finds its weights the same way.
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch

from kerasish import activations, config, ops
from kerasish.backend import is_keras_tensor
from kerasish.layers import Input, InputLayer
from kerasish.utils.file_utils import get_file

# Keras publishes the 1000 ImageNet class names here; tests point these at a local server.
CLASS_INDEX_PATH = "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
CLASS_INDEX_HASH = "c2c37ea517e94d9795004a39431a14cb"
_CLASS_INDEX: Optional[dict] = None

_MEANS = {"caffe": (103.939, 116.779, 123.68), "torch": (0.485, 0.456, 0.406)}
_TORCH_STD = (0.229, 0.224, 0.225)


def _data_format(data_format: Optional[str]) -> str:
    if data_format is None:
        return config.image_data_format()
    if data_format not in ("channels_first", "channels_last"):
        raise ValueError(
            "Expected data_format to be one of `channels_first` or `channels_last`. "
            f"Received: data_format={data_format}"
        )
    return data_format


def _channel_axis(ndim: int, data_format: str) -> int:
    # A 3D array is one image (no batch axis): its channels come first or last.
    if data_format == "channels_last":
        return ndim - 1
    return 0 if ndim == 3 else 1


def preprocess_input(x: Any, data_format: Optional[str] = None, mode: str = "caffe") -> Any:
    """Prepares a batch of images (values in [0, 255]) the way an ImageNet model was trained on.

    A float NumPy array is changed in place, as in Keras (pass `np.copy(x)` to keep yours);
    other dtypes are converted to float32 first. Tensors and symbolic tensors (inside a
    functional model) get a new tensor.

    Args:
        x: a NumPy array, torch tensor or symbolic tensor, 3D (one image) or 4D, 3 channels.
        data_format: `"channels_last"` or `"channels_first"`; None uses
            `kerasish.config.image_data_format()`. Defaults to `None`.
        mode: `"caffe"` (RGB to BGR, then minus the ImageNet channel means, no scaling),
            `"tf"` (scaled to [-1, 1]) or `"torch"` (scaled to [0, 1], then normalized with
            the ImageNet channel means and standard deviations). Defaults to `"caffe"`.

    Returns:
        The preprocessed images, float32 unless the input was another float type.

    Raises:
        ValueError: for an unknown `mode` or `data_format`.

    Example:
        >>> import numpy as np
        >>> preprocess_input(np.full((1, 2, 2, 3), 255.0), mode="tf")[0, 0, 0].tolist()
        [1.0, 1.0, 1.0]
    """
    if mode not in ("caffe", "tf", "torch"):
        raise ValueError(f"Expected mode to be one of `caffe`, `tf` or `torch`. Received: mode={mode}")
    data_format = _data_format(data_format)
    if isinstance(x, np.ndarray):
        return _preprocess_numpy(x, data_format, mode)
    return _preprocess_tensor(x, data_format, mode)


def _preprocess_numpy(x: np.ndarray, data_format: str, mode: str) -> np.ndarray:
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(config.floatx(), copy=False)
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    axis = _channel_axis(x.ndim, data_format)
    if mode == "torch":
        x /= 255.0
    else:
        x = np.flip(x, axis=axis)  # RGB -> BGR, a view: the caller's array is still the one changed
    shape = [1] * x.ndim
    shape[axis] = 3
    x -= np.asarray(_MEANS[mode], dtype=x.dtype).reshape(shape)
    if mode == "torch":
        x /= np.asarray(_TORCH_STD, dtype=x.dtype).reshape(shape)
    return x


def _preprocess_tensor(x: Any, data_format: str, mode: str) -> Any:
    if not is_keras_tensor(x) and not isinstance(x, torch.Tensor):
        x = torch.as_tensor(x)
    if not is_keras_tensor(x) and not x.is_floating_point():
        x = x.to(getattr(torch, config.floatx()))
    if mode == "tf":
        return ops.subtract(ops.divide(x, 127.5), 1.0)
    axis = _channel_axis(len(x.shape), data_format)
    if mode == "torch":
        x = ops.divide(x, 255.0)
    else:
        x = ops.flip(x, axis=axis)
    shape = [1] * len(x.shape)
    shape[axis] = 3
    x = ops.subtract(x, ops.reshape(ops.convert_to_tensor(_MEANS[mode], dtype=x.dtype), shape))
    if mode == "torch":
        x = ops.divide(x, ops.reshape(ops.convert_to_tensor(_TORCH_STD, dtype=x.dtype), shape))
    return x


def decode_predictions(preds: Any, top: int = 5) -> List[List[Tuple[str, str, float]]]:
    """Names the `top` most likely ImageNet classes of each row of `preds`.

    The class index (`imagenet_class_index.json`, 35 KB) is downloaded once into
    `<KERASISH_HOME>/models/` through `kerasish.utils.get_file`.

    Args:
        preds: predictions of shape `(samples, 1000)`, a NumPy array or tensor.
        top: how many classes to return per sample. Defaults to `5`.

    Returns:
        One list per sample of `(class_name, class_description, score)` tuples, best first.

    Raises:
        ValueError: when `preds` is not of shape `(samples, 1000)`.
    """
    global _CLASS_INDEX
    if len(preds.shape) != 2 or preds.shape[1] != 1000:
        raise ValueError(
            "`decode_predictions` expects a batch of predictions (i.e. a 2D array of shape (samples, 1000)). "
            f"Received array with shape: {tuple(preds.shape)}"
        )
    if _CLASS_INDEX is None:
        path = get_file("imagenet_class_index.json", CLASS_INDEX_PATH, cache_subdir="models",
                        file_hash=CLASS_INDEX_HASH)
        with open(path) as f:
            _CLASS_INDEX = json.load(f)
    # host sync: once per call, the user asked for Python tuples
    preds = preds.detach().cpu().numpy() if isinstance(preds, torch.Tensor) else np.asarray(preds)
    results = []
    for row in preds:
        best = row.argsort()[-top:][::-1]
        decoded = [tuple(_CLASS_INDEX[str(i)]) + (row[i],) for i in best]
        decoded.sort(key=lambda item: item[2], reverse=True)
        results.append(decoded)
    return results


def obtain_input_shape(input_shape: Optional[Sequence[Optional[int]]], default_size: int, min_size: int,
                       data_format: str, require_flatten: bool, weights: Any = None) -> tuple:
    """The model's input shape: `input_shape` checked against the model's limits, or its default.

    Raises:
        ValueError: when the shape does not fit the model (wrong rank, channels, size) or a
            model with a classifier top gets no static shape.
    """
    if input_shape is not None:
        input_shape = tuple(input_shape)
    channels_first = data_format == "channels_first"
    if weights != "imagenet" and input_shape and len(input_shape) == 3:
        channels = input_shape[0] if channels_first else input_shape[-1]
        if channels not in (1, 3):
            warnings.warn("This model usually expects 1 or 3 input channels. However, it was passed an "
                          f"input_shape with {channels} input channels.", stacklevel=3)
        default_shape = ((channels, default_size, default_size) if channels_first
                         else (default_size, default_size, channels))
    else:
        default_shape = (3, default_size, default_size) if channels_first else (default_size, default_size, 3)
    if weights == "imagenet" and require_flatten:
        if input_shape is not None and input_shape != default_shape:
            raise ValueError(
                "When setting `include_top=True` and loading `imagenet` weights, "
                f"`input_shape` should be {default_shape}.  Received: input_shape={input_shape}"
            )
        return default_shape
    if input_shape:
        if len(input_shape) != 3:
            raise ValueError(f"`input_shape` must be a tuple of three integers. Received: input_shape={input_shape}")
        channels = input_shape[0] if channels_first else input_shape[-1]
        if channels != 3 and weights == "imagenet":
            raise ValueError(f"The input must have 3 channels; Received `input_shape={input_shape}`")
        rows, cols = input_shape[1:] if channels_first else input_shape[:2]
        if (rows is not None and rows < min_size) or (cols is not None and cols < min_size):
            raise ValueError(f"Input size must be at least {min_size}x{min_size}; Received: input_shape={input_shape}")
    elif require_flatten:
        input_shape = default_shape
    else:
        input_shape = (3, None, None) if channels_first else (None, None, 3)
    if require_flatten and None in input_shape:
        raise ValueError("If `include_top` is True, you should specify a static `input_shape`. "
                         f"Received: input_shape={input_shape}")
    return input_shape


def correct_pad(inputs: Any, kernel_size: Any) -> tuple:
    """The `ZeroPadding2D` padding that makes a stride-2 'valid' convolution match TF's 'same'."""
    first = 2 if config.image_data_format() == "channels_first" else 1
    size = tuple(inputs.shape[first:first + 2])
    if isinstance(kernel_size, int):
        kernel_size = (kernel_size, kernel_size)
    adjust = (1, 1) if size[0] is None else (1 - size[0] % 2, 1 - size[1] % 2)
    half = (kernel_size[0] // 2, kernel_size[1] // 2)
    return ((half[0] - adjust[0], half[0]), (half[1] - adjust[1], half[1]))


def validate_activation(classifier_activation: Any, weights: Any) -> None:
    """Pretrained classifier weights allow only a softmax or no activation on the top layer."""
    if weights is None:
        return
    chosen = activations.get(classifier_activation)
    if chosen not in (activations.get("softmax"), activations.get(None)):
        raise ValueError(
            "Only `None` and `softmax` activations are allowed for the `classifier_activation` argument "
            "when using pretrained weights, with `include_top=True`; Received: "
            f"classifier_activation={classifier_activation}"
        )


# ---- helpers shared by the model builders --------------------------------------------------------


def check_weights(weights: Any, include_top: bool, classes: int) -> None:
    """Keras's two checks of `weights` before any layer is built."""
    if not (weights in ("imagenet", None) or (isinstance(weights, (str, os.PathLike)) and os.path.exists(weights))):
        raise ValueError(
            "The `weights` argument should be either `None` (random initialization), 'imagenet' "
            "(pre-training on ImageNet), or the path to the weights file to be loaded.  "
            f"Received: weights={weights}"
        )
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(
            "If using `weights='imagenet'` with `include_top=True`, `classes` should be 1000.  "
            f"Received classes={classes}"
        )


def check_pooling(pooling: Optional[str]) -> None:
    # Keras ignores an unknown pooling silently; kerasish says so instead.
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"`pooling` should be None, 'avg' or 'max'. Received: pooling={pooling!r}")


def image_input(input_tensor: Any, input_shape: tuple) -> Any:
    """The model's image input: a new `Input(shape=input_shape)`, or the user's symbolic tensor."""
    if input_tensor is None:
        return Input(shape=input_shape)
    if not is_keras_tensor(input_tensor):
        raise ValueError(
            "`input_tensor` must be a symbolic tensor, e.g. `kerasish.layers.Input(shape=(224, 224, 3))`; "
            f"kerasish cannot wrap a concrete tensor. Received: input_tensor of type {type(input_tensor).__name__}. "
            "Pass `input_shape=` instead and call the model on your tensor."
        )
    return input_tensor


def source_inputs(input_tensor: Any, img_input: Any) -> Any:
    """The functional model's inputs: the Input(s) `input_tensor` descends from, else `img_input`."""
    if input_tensor is None:
        return img_input
    found, seen, todo = [], set(), [input_tensor]
    while todo:  # walk the recorded graph back to the InputLayers
        tensor = todo.pop()
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        node = tensor.node
        if isinstance(node.layer, InputLayer):
            found.append(tensor)
        else:
            todo.extend(node.flat_inputs)
    return found[0] if len(found) == 1 else found


def pool_or_top(x: Any, include_top: bool, pooling: Optional[str], top: Callable[[Any], Any],
                pool_names: Tuple[Optional[str], Optional[str]] = (None, None)) -> Any:
    """The classifier head `top(x)` when `include_top`, else the requested global pooling."""
    from kerasish.layers import GlobalAveragePooling2D, GlobalMaxPooling2D  # noqa: PLC0415

    if include_top:
        return top(x)
    if pooling == "avg":
        return GlobalAveragePooling2D(name=pool_names[0])(x)
    if pooling == "max":
        return GlobalMaxPooling2D(name=pool_names[1])(x)
    return x


def load_weights(model: Any, weights: Any, file_name: str, origin: str, file_hash: Optional[str]) -> Any:
    """Loads `weights` into `model`: Keras's published file for 'imagenet', else the user's path."""
    if weights == "imagenet":
        path = get_file(file_name, origin, cache_subdir="models", file_hash=file_hash)
        model.load_weights(path)
    elif weights is not None:
        model.load_weights(weights)
    return model
