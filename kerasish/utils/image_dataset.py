"""image_dataset_from_directory: batches of decoded images (and labels) from a folder tree.

Files are found and split exactly as Keras does (`kerasish.utils.dataset_utils`); each
image is decoded with Pillow and resized with `kerasish.ops.image.resize` (the same
kernels as Keras's torch backend) inside the DataLoader's workers.
"""

from __future__ import annotations

import functools
from typing import Any, List, Optional, Sequence, Union

import numpy as np
import torch

from kerasish import config
from kerasish.utils import dataset_utils
from kerasish.utils.image_utils import convert_color, pil_image

ALLOWLIST_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
# Keras also lists TensorFlow's 'area', 'gaussian' and 'mitchellcubic'; torch has no such kernels.
INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "lanczos3", "lanczos5")
_TF_ONLY = ("area", "gaussian", "mitchellcubic")


def load_image(path: str, image_size: Sequence[int], color_mode: str, interpolation: str, data_format: str,
               crop_to_aspect_ratio: bool = False, pad_to_aspect_ratio: bool = False) -> torch.Tensor:
    """One image file as a float32 tensor of `image_size`, (h, w, c) or (c, h, w)."""
    from kerasish.ops.image import resize

    Image = pil_image("image_dataset_from_directory")
    with Image.open(path) as img:
        img.load()
        pixels = np.asarray(convert_color(img, color_mode, "image_dataset_from_directory"), dtype="float32")
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    image = resize(torch.from_numpy(np.ascontiguousarray(pixels)), tuple(image_size), interpolation=interpolation,
                   crop_to_aspect_ratio=crop_to_aspect_ratio, pad_to_aspect_ratio=pad_to_aspect_ratio,
                   data_format="channels_last")
    return image.permute(2, 0, 1).contiguous() if data_format == "channels_first" else image


def _stack(images: List[torch.Tensor]) -> torch.Tensor:
    return torch.stack(images)


def image_dataset_from_directory(
    directory: Any,
    labels: Any = "inferred",
    label_mode: Optional[str] = "int",
    class_names: Optional[Sequence[str]] = None,
    color_mode: str = "rgb",
    batch_size: Optional[int] = 32,
    image_size: Union[int, Sequence[int]] = (256, 256),
    shuffle: bool = True,
    seed: Optional[int] = None,
    validation_split: Optional[float] = None,
    subset: Optional[str] = None,
    interpolation: str = "bilinear",
    follow_links: bool = False,
    crop_to_aspect_ratio: bool = False,
    pad_to_aspect_ratio: bool = False,
    data_format: Optional[str] = None,
    verbose: bool = True,
    *,
    num_workers: int = 0,
) -> Any:
    """Batches of images (and labels) from a folder with one subfolder per class.

    `main/a/*.jpg` and `main/b/*.png` give labels 0 and 1 ('a', 'b' in sorted order).
    Supported files: .bmp, .gif (first frame), .jpeg, .jpg, .png.

    Args:
        directory: the folder.
        labels: "inferred" (from the subfolders), None (images only), or a list of integer
            labels, one per file in sorted path order. Defaults to `"inferred"`.
        label_mode: "int" (int32 of shape (batch,)), "categorical" (float32 one-hot),
            "binary" (float32 of shape (batch, 1), 2 classes), or None (no labels).
            Defaults to `"int"`.
        class_names: the subfolders to use, in label order (labels="inferred" only).
            Defaults to `None` (all, sorted).
        color_mode: "grayscale", "rgb" or "rgba" (1, 3 or 4 channels). Defaults to `"rgb"`.
        batch_size: images per batch, or None for single images. Defaults to `32`.
        image_size: `(height, width)` every image is resized to. Defaults to `(256, 256)`.
        shuffle: shuffle the files (once when indexed, then every pass). Defaults to `True`.
        seed: seed of the shuffles. Defaults to `None`.
        validation_split: fraction of files kept for validation. Defaults to `None`.
        subset: "training", "validation" or "both" (with validation_split). Defaults to `None`.
        interpolation: "bilinear", "nearest", "bicubic", "lanczos3" or "lanczos5". Defaults to `"bilinear"`.
        follow_links: walk into symlinked subfolders. Defaults to `False`.
        crop_to_aspect_ratio: centre-crop to the target aspect ratio before resizing. Defaults to `False`.
        pad_to_aspect_ratio: pad (with zeros) to the target aspect ratio before resizing. Defaults to `False`.
        data_format: "channels_last" or "channels_first". Defaults to `None`
            (`kerasish.config.image_data_format()`).
        verbose: print the number of files and classes found. Defaults to `True`.
        num_workers: DataLoader worker processes decoding images (kerasish only; 0 decodes
            in the calling process). Defaults to `0`.

    Returns:
        A `FileDataset` (an iterable of `(images, labels)` float32/label batches with
        `class_names` and `file_paths`), or a list `[train, validation]` for subset="both".

    Raises:
        ValueError: for bad arguments, an empty folder or a label/file count mismatch.

    Example:
        >>> import os, tempfile
        >>> import numpy as np
        >>> from kerasish.utils import save_img
        >>> root = tempfile.mkdtemp()
        >>> for name in ("cat", "dog"):
        ...     os.makedirs(os.path.join(root, name))
        ...     save_img(os.path.join(root, name, "0.png"), np.random.random((8, 8, 3)))
        >>> ds = image_dataset_from_directory(root, image_size=(4, 4), verbose=False)
        >>> images, labels = next(iter(ds))
        >>> tuple(images.shape), labels.dtype, ds.class_names
        ((2, 4, 4, 3), torch.int32, ['cat', 'dog'])
    """
    dataset_utils.check_labels_arg(labels, class_names, label_mode, "image")
    if color_mode not in CHANNELS:
        raise ValueError(
            f"color_mode must be one of {tuple(CHANNELS)}. Received: color_mode={color_mode!r}."
        )
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    if (not isinstance(image_size, (list, tuple)) or len(image_size) != 2
            or not all(isinstance(s, int) and s > 0 for s in image_size)):
        raise ValueError(
            f"image_size must be (height, width), two positive integers. Received: image_size={image_size!r}."
        )
    interpolation = interpolation.lower() if isinstance(interpolation, str) else interpolation
    if interpolation in _TF_ONLY:
        raise ValueError(
            f"interpolation={interpolation!r} is a TensorFlow kernel that kerasish (torch) does not have. "
            f"Use one of {INTERPOLATIONS}."
        )
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}. Received: interpolation={interpolation!r}.")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError(
            "Only one of crop_to_aspect_ratio and pad_to_aspect_ratio can be True. Received both True; "
            "set one of them to False."
        )
    data_format = config.image_data_format() if data_format is None else data_format
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            f"data_format must be 'channels_last' or 'channels_first'. Received: data_format={data_format!r}."
        )
    pil_image("image_dataset_from_directory")  # fail now, not inside a worker
    load = functools.partial(load_image, image_size=tuple(image_size), color_mode=color_mode,
                             interpolation=interpolation, data_format=data_format,
                             crop_to_aspect_ratio=crop_to_aspect_ratio, pad_to_aspect_ratio=pad_to_aspect_ratio)
    return dataset_utils.directory_datasets(
        directory, labels, label_mode, class_names, ALLOWLIST_FORMATS, load, _stack, batch_size, shuffle, seed,
        validation_split, subset, follow_links, verbose, num_workers, kind="image")
