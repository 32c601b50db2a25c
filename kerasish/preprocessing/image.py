"""`keras.preprocessing.image`: the image-file helpers under the names Keras 2 code imports them by.

`from kerasish.preprocessing import image; image.array_to_img(x)` is `kerasish.utils.array_to_img(x)`,
as Keras 3 keeps `keras.preprocessing.image.array_to_img` for the Keras 2 examples that call it.
Pillow is imported on first use, not here.
"""

from typing import Any, Sequence

from kerasish.utils.image_utils import array_to_img, img_to_array, load_img, save_img

__all__ = ["array_to_img", "img_to_array", "load_img", "save_img", "smart_resize"]


def smart_resize(x: Any, size: Sequence[int], interpolation: str = "bilinear", data_format: str = "channels_last",
                 **kwargs: Any) -> Any:
    """Resizes images to `size` without distorting them: the largest centred crop with the
    target's aspect ratio, resized to `size`.

    For `size=(200, 200)` a `(340, 500)` image is cropped to its centre `(340, 340)`, then
    resized to `(200, 200)`; whatever does not fit the target's shape is cut away.

    Args:
        x: an image `(height, width, channels)` or a batch `(batch, height, width, channels)`
            (channels first with `data_format="channels_first"`), a NumPy array or a tensor. Required.
        size: the target `(height, width)`. Required.
        interpolation: `"bilinear"`, `"nearest"`, `"bicubic"`, `"lanczos3"` or `"lanczos5"`.
            Defaults to `"bilinear"`.
        data_format: `"channels_last"` or `"channels_first"`. Defaults to `"channels_last"`.

    Returns:
        The resized images, a NumPy array for a NumPy input and a torch tensor otherwise, in the
        input's dtype (integer images are rounded).

    Raises:
        ValueError: `size` that is not two numbers, an image that is not rank 3 or 4, an
            unknown `interpolation` or `data_format`.
        TypeError: an unknown keyword argument.

    Example:
        >>> import numpy as np
        >>> smart_resize(np.zeros((340, 500, 3), "float32"), (200, 200)).shape
        (200, 200, 3)
    """
    import numpy as np
    import torch

    from kerasish.ops import image as image_ops

    if kwargs:
        raise TypeError(f"smart_resize() got unexpected keyword arguments: {list(kwargs)}. "
                        "It takes x, size, interpolation and data_format.")
    if len(size) != 2:
        raise ValueError(f"Expected `size` to be a tuple of 2 integers, but got: {tuple(size)}. "
                         "Pass the target (height, width).")
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError("The `data_format` argument must be one of {'channels_first', 'channels_last'}. "
                         f"Received: data_format={data_format!r}")
    img = torch.as_tensor(x) if not isinstance(x, torch.Tensor) else x
    if img.dim() not in (3, 4):
        raise ValueError(
            "Expected an image array with shape `(height, width, channels)`, or `(batch_size, height, width, "
            f"channels)`, but got input with incorrect rank, of shape {tuple(img.shape)}."
        )
    height, width = (img.shape[-3], img.shape[-2]) if data_format == "channels_last" else img.shape[-2:]
    target_height, target_width = size
    # The largest window with the target's aspect ratio, never larger than the image, at least 1.
    crop_height = max(min(height, int(float(width * target_height) / target_width)), 1)
    crop_width = max(min(width, int(float(height * target_width) / target_height)), 1)
    top, left = int(float(height - crop_height) / 2), int(float(width - crop_width) / 2)
    rows, cols = slice(top, top + crop_height), slice(left, left + crop_width)
    img = img[..., rows, cols, :] if data_format == "channels_last" else img[..., rows, cols]
    out = image_ops.resize(img, size=size, interpolation=interpolation, data_format=data_format)
    return out.cpu().numpy() if isinstance(x, np.ndarray) else out


def __getattr__(name: str):
    # Only for names this module lacks: says whether it is a Keras 3 name kerasish does not implement.
    from kerasish.utils.keras_names import missing_attribute

    raise missing_attribute(__name__, name, __all__)
