"""CIFAR-10: 60,000 32x32 colour images in 10 classes, as `keras.datasets.cifar10.load_data()`.

Label ids: 0 airplane, 1 automobile, 2 bird, 3 cat, 4 deer, 5 dog, 6 frog, 7 horse, 8 ship,
9 truck. The batches are read with a restricted unpickler (see `kerasish.datasets.cifar`).
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

from kerasish.datasets import cifar

ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
# Keras's SHA-256 of the archive. KERASISH_CIFAR10_URL replaces the mirror (tests, mirrors).
CHECKSUM = "sha256:6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
URL_ENV = "KERASISH_CIFAR10_URL"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))


def load_data(*, path: cifar.PathLike = None) -> Tuple[cifar.Split, cifar.Split]:
    """Loads CIFAR-10: 50,000 training and 10,000 test images.

    The data is looked for in `path`, then in `$KERASISH_HOME/datasets/cifar10`, then in each
    folder of `KERASISH_DATA_PATH` (itself, or its `cifar10`, `cifar-10` or Keras's
    `cifar-10-batches-py-target` subfolder), and downloaded into the cache (about 163 MB) as
    a last resort. A place may hold the extracted `cifar-10-batches-py` folder (torchvision's
    and Keras's layouts) or the archive `cifar-10-python.tar.gz`, extracted once into the cache.

    Args:
        path: keyword-only, a folder holding `cifar-10-batches-py/` or
            `cifar-10-python.tar.gz`; when given, nothing else is searched. Defaults to `None`.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 images of shape (50000, 32, 32, 3) and
        (10000, 32, 32, 3) (channels first when `kerasish.config.image_data_format()` is
        `'channels_first'`), and uint8 labels 0-9 of shape (50000, 1) and (10000, 1).

    Raises:
        DatasetUnavailableError: (an `OSError`) no local copy and the download failed.
        ValueError: a batch file is malformed or holds something other than NumPy data.

    Example:
        ```python
        (x_train, y_train), (x_test, y_test) = kerasish.datasets.cifar10.load_data()
        x_train = x_train.astype("float32") / 255
        ```
    """
    folder = cifar.batches_folder("cifar10", ARCHIVE, FOLDER, CHECKSUM, URL_ENV, path)
    parts = [cifar.load_batch(folder / name) for name in TRAIN_BATCHES]
    x_train = np.concatenate([x for x, _ in parts])
    y_train = np.concatenate([np.asarray(y, dtype=np.uint8) for _, y in parts])
    return (cifar.keras_layout(x_train, y_train, np.uint8),
            cifar.keras_layout(*cifar.load_batch(folder / "test_batch"), np.uint8))
