"""Image files and arrays with Keras's names: load_img, img_to_array, array_to_img, save_img.

Pillow decodes and encodes; it is imported on first use (`pip install pillow`), so
importing kerasish stays cheap. Arrays are NumPy, height x width x channels by default
(`kerasish.config.image_data_format()`), as in `keras.utils`.
"""

from __future__ import annotations

import io
import os
import pathlib
import warnings
from typing import Any, Optional, Sequence

import numpy as np

from kerasish import config

COLOR_MODES = ("grayscale", "rgb", "rgba")
# Pillow's resampling filters by Keras's names (load_img's `interpolation`).
PIL_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")


def pil_image(what: str) -> Any:
    """`PIL.Image`, or an ImportError naming `what` needs it and how to install it."""
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(
            f"{what} needs Pillow to read and write image files, and it is not installed. "
            "Install it with `pip install pillow`."
        ) from None
    return Image


def _data_format(data_format: Optional[str], what: str) -> str:
    value = config.image_data_format() if data_format is None else data_format
    if value not in ("channels_last", "channels_first"):
        raise ValueError(
            f"{what}: data_format must be 'channels_last' or 'channels_first' (or None for "
            f"kerasish.config.image_data_format()). Received: data_format={data_format!r}."
        )
    return value


def _float_dtype(dtype: Any) -> Any:
    return config.floatx() if dtype is None else dtype


def convert_color(img: Any, color_mode: str, what: str) -> Any:
    """`img` (a PIL image) in `color_mode`'s mode; 16/32-bit greyscale stays as it is, as in Keras."""
    if color_mode == "grayscale":
        return img if img.mode in ("L", "I;16", "I") else img.convert("L")
    if color_mode == "rgba":
        return img if img.mode == "RGBA" else img.convert("RGBA")
    if color_mode == "rgb":
        return img if img.mode == "RGB" else img.convert("RGB")
    raise ValueError(
        f"{what}: color_mode must be one of {COLOR_MODES}. Received: color_mode={color_mode!r}."
    )


def load_img(path: Any, color_mode: str = "rgb", target_size: Optional[Sequence[int]] = None,
             interpolation: str = "nearest", keep_aspect_ratio: bool = False) -> Any:
    """Loads an image file into a PIL image.

    Args:
        path: a file path (str, bytes or `pathlib.Path`) or an `io.BytesIO`.
        color_mode: "grayscale", "rgb" or "rgba". Defaults to `"rgb"`.
        target_size: `(height, width)` to resize to, or None to keep the file's size.
            Defaults to `None`.
        interpolation: Pillow filter for the resize: "nearest", "bilinear", "bicubic",
            "hamming", "box" or "lanczos". Defaults to `"nearest"`.
        keep_aspect_ratio: resize the largest centred crop with the target aspect ratio
            instead of stretching the whole image. Defaults to `False`.

    Returns:
        A PIL image.

    Raises:
        ImportError: if Pillow is not installed.
        TypeError: if `path` is neither path-like nor a BytesIO.
        ValueError: for an unknown `color_mode` or `interpolation`.

    Example:
        >>> import tempfile, os, numpy as np
        >>> path = os.path.join(tempfile.mkdtemp(), "dot.png")
        >>> save_img(path, np.zeros((4, 6, 3)))
        >>> load_img(path, target_size=(2, 3)).size
        (3, 2)
    """
    Image = pil_image("load_img")
    if color_mode not in COLOR_MODES:
        raise ValueError(f"load_img: color_mode must be one of {COLOR_MODES}. Received: color_mode={color_mode!r}.")
    if isinstance(path, io.BytesIO):
        img = Image.open(path)
    elif isinstance(path, (str, bytes, pathlib.Path, os.PathLike)):
        with open(os.fspath(path), "rb") as f:
            img = Image.open(io.BytesIO(f.read()))  # read whole, so no file handle stays open
    else:
        raise TypeError(
            f"load_img: path must be a file path (str, bytes, pathlib.Path) or an io.BytesIO. "
            f"Received: path={path!r} of type {type(path).__name__}."
        )
    img = convert_color(img, color_mode, "load_img")
    if target_size is None:
        return img
    height, width = (int(s) for s in target_size)
    if img.size == (width, height):
        return img
    if interpolation not in PIL_INTERPOLATIONS:
        raise ValueError(
            f"load_img: interpolation must be one of {PIL_INTERPOLATIONS}. Received: interpolation={interpolation!r}."
        )
    resample = getattr(getattr(Image, "Resampling", Image), interpolation.upper())
    if not keep_aspect_ratio:
        return img.resize((width, height), resample)
    src_w, src_h = img.size
    crop_h = min(src_h, (src_w * height) // width)
    crop_w = min(src_w, (src_h * width) // height)
    left, top = (src_w - crop_w) // 2, (src_h - crop_h) // 2
    return img.resize((width, height), resample, box=(left, top, left + crop_w, top + crop_h))


def img_to_array(img: Any, data_format: Optional[str] = None, dtype: Any = None) -> np.ndarray:
    """A PIL image as a 3-D NumPy array (height, width, channels) or (channels, height, width).

    Args:
        img: a PIL image (or anything `np.asarray` turns into a 2-D or 3-D array).
        data_format: "channels_last" or "channels_first". Defaults to `None`
            (`kerasish.config.image_data_format()`).
        dtype: the array's dtype. Defaults to `None` (`kerasish.config.floatx()`).

    Returns:
        A 3-D NumPy array; greyscale images get a channel axis of size 1.

    Raises:
        ValueError: if the image is not 2-D or 3-D, or `data_format` is unknown.

    Example:
        >>> img = array_to_img(np.ones((2, 3, 3)))
        >>> img_to_array(img).shape
        (2, 3, 3)
    """
    data_format = _data_format(data_format, "img_to_array")
    x = np.asarray(img, dtype=_float_dtype(dtype))
    if x.ndim == 2:
        return x[None] if data_format == "channels_first" else x[..., None]
    if x.ndim != 3:
        raise ValueError(
            f"img_to_array: expected a 2-D (greyscale) or 3-D image, received an array of shape {x.shape}. "
            "Pass one image at a time."
        )
    return x.transpose(2, 0, 1) if data_format == "channels_first" else x


def array_to_img(x: Any, data_format: Optional[str] = None, scale: bool = True, dtype: Any = None) -> Any:
    """A 3-D array as a PIL image ('L', 'I', 'RGB' or 'RGBA' by its channel count).

    Args:
        x: a 3-D array (NumPy, torch tensor or nested lists).
        data_format: "channels_last" or "channels_first". Defaults to `None`
            (`kerasish.config.image_data_format()`).
        scale: stretch the values linearly so the minimum becomes 0 and the maximum 255.
            Defaults to `True`.
        dtype: dtype the values are read as before scaling. Defaults to `None`
            (`kerasish.config.floatx()`).

    Returns:
        A PIL image.

    Raises:
        ImportError: if Pillow is not installed.
        ValueError: if `x` is not 3-D or has other than 1, 3 or 4 channels.

    Example:
        >>> array_to_img(np.random.random((8, 8, 3))).mode
        'RGB'
    """
    Image = pil_image("array_to_img")
    data_format = _data_format(data_format, "array_to_img")
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()  # a torch tensor from the user, converted once per call
    x = np.array(x, dtype=_float_dtype(dtype))
    if x.ndim != 3:
        raise ValueError(
            f"array_to_img: expected a 3-D array (one image), received an array of shape {x.shape}. "
            "Index one image out of a batch first (x[0])."
        )
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        peak = np.max(x)
        if peak != 0:
            x = x / peak
        x = x * 255
    channels = x.shape[2]
    if channels == 4:
        return Image.fromarray(x.astype("uint8"), "RGBA")
    if channels == 3:
        return Image.fromarray(x.astype("uint8"), "RGB")
    if channels == 1:
        if np.max(x) > 255:
            return Image.fromarray(x[:, :, 0].astype("int32"), "I")  # 32-bit integer greyscale
        return Image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(
        f"array_to_img: expected 1, 3 or 4 channels, received {channels} (array shape {x.shape}, "
        f"data_format={data_format!r}). Check data_format or select the channels to show."
    )


def save_img(path: Any, x: Any, data_format: Optional[str] = None, file_format: Optional[str] = None,
             scale: bool = True, **kwargs: Any) -> None:
    """Saves a 3-D array as an image file (written atomically when `path` is a path).

    Args:
        path: a file path or a writable binary file object.
        x: the image array (see `array_to_img`).
        data_format: "channels_last" or "channels_first". Defaults to `None`
            (`kerasish.config.image_data_format()`).
        file_format: Pillow format name ("png", "jpeg", ...). Defaults to `None`
            (taken from the path's suffix; required for a file object).
        scale: rescale the values to [0, 255] (see `array_to_img`). Defaults to `True`.
        **kwargs: passed to `PIL.Image.save` (e.g. `quality=90`).

    Raises:
        ValueError: if no format is given or found in the path.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "grey.png")
        >>> save_img(path, np.zeros((4, 4, 1)))
        >>> load_img(path, color_mode="grayscale").mode
        'L'
    """
    from kerasish.utils.io import atomic_write

    data_format = _data_format(data_format, "save_img")
    is_path = isinstance(path, (str, pathlib.Path, os.PathLike))
    if file_format is None and is_path:
        file_format = pathlib.Path(os.fspath(path)).suffix[1:]
    if not file_format:
        raise ValueError(
            f"save_img: cannot tell the image format of path={path!r}. Give the path a suffix such as .png "
            "or .jpg, or pass file_format='png'."
        )
    file_format = file_format.lower()
    if file_format == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format == "jpeg":
        warnings.warn("save_img: JPEG cannot store an alpha channel; the image is saved as RGB.", stacklevel=2)
        img = img.convert("RGB")
    if not is_path:
        img.save(path, format=file_format, **kwargs)
        return
    with atomic_write(path, "wb") as f:
        img.save(f, format=file_format, **kwargs)
