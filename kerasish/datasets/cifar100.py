"""CIFAR-100: 60,000 32x32 colour images in 100 fine classes grouped into 20 coarse ones.

Returned as `keras.datasets.cifar100.load_data(label_mode)` returns them. The two batches are
read with a restricted unpickler (see `kerasish.datasets.cifar`).
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

from kerasish.datasets import cifar

ARCHIVE = "cifar-100-python.tar.gz"
FOLDER = "cifar-100-python"
# Keras's SHA-256 of the archive. KERASISH_CIFAR100_URL replaces the mirror (tests, mirrors).
CHECKSUM = "sha256:85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"
URL_ENV = "KERASISH_CIFAR100_URL"
LABEL_MODES = ("fine", "coarse")


def load_data(label_mode: str = "fine", *, path: cifar.PathLike = None) -> Tuple[cifar.Split, cifar.Split]:
    """Loads CIFAR-100: 50,000 training and 10,000 test images.

    The data is looked for as `cifar10.load_data` does (cache folder `cifar100`, data-path
    subfolders `cifar100`, `cifar-100`, `cifar-100-python-target`), holding the extracted
    `cifar-100-python` folder or the archive `cifar-100-python.tar.gz`.

    Args:
        label_mode: `'fine'` for the 100 classes or `'coarse'` for the 20 superclasses.
            Defaults to `'fine'`.
        path: keyword-only, a folder holding `cifar-100-python/` or `cifar-100-python.tar.gz`;
            when given, nothing else is searched. Defaults to `None`.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 images of shape (50000, 32, 32, 3) and
        (10000, 32, 32, 3) (channels first when `kerasish.config.image_data_format()` is
        `'channels_first'`), and int64 labels (as Keras's code returns them) of shape
        (50000, 1) and (10000, 1), 0-99 (fine) or 0-19 (coarse).

    Raises:
        ValueError: `label_mode` is neither `'fine'` nor `'coarse'`, or a batch is malformed.
        DatasetUnavailableError: (an `OSError`) no local copy and the download failed.

    Example:
        ```python
        (x_train, y_train), _ = kerasish.datasets.cifar100.load_data(label_mode="coarse")
        ```
    """
    if label_mode not in LABEL_MODES:
        raise ValueError(
            f"Unknown label mode. Received: label_mode={label_mode!r}. Expected 'fine' (100 "
            "classes) or 'coarse' (20 superclasses)."
        )
    folder = cifar.batches_folder("cifar100", ARCHIVE, FOLDER, CHECKSUM, URL_ENV, path)
    key = f"{label_mode}_labels"
    # int64 labels, as Keras returns them (its docstring says uint8; its code keeps the lists' ints).
    return (cifar.keras_layout(*cifar.load_batch(folder / "train", key), np.int64),
            cifar.keras_layout(*cifar.load_batch(folder / "test", key), np.int64))
