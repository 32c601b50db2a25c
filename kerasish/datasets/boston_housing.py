"""Boston Housing prices (506 samples, 13 features), as `keras.datasets.boston_housing`.

Note Keras's warning: the data holds a variable ("B") built on a racist assumption; use it only
to illustrate such problems, and prefer `california_housing.load_data(version="small")`.
"""

from __future__ import annotations

import os
from typing import Tuple, Union

import numpy as np

from kerasish.datasets import _download

FILE = "boston_housing.npz"
BASE_URLS = ("https://storage.googleapis.com/tensorflow/tf-keras-datasets/",)
# Keras's SHA-256 of the file. KERASISH_BOSTON_HOUSING_URL replaces the mirror (tests, mirrors).
CHECKSUM = "sha256:f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"
URL_ENV = "KERASISH_BOSTON_HOUSING_URL"

Split = Tuple[np.ndarray, np.ndarray]


def check_test_split(test_split: float) -> None:
    """Raises the error Keras raises for a `test_split` outside [0, 1)."""
    if not 0 <= test_split < 1:
        raise ValueError(
            f"Invalid `test_split` argument. Received: test_split={test_split!r}. Expected a "
            "fraction in [0, 1) (1 excluded): the share of samples kept for the test set."
        )


def shuffle_split(x: np.ndarray, y: np.ndarray, test_split: float, seed: int) -> Tuple[Split, Split]:
    """Keras's split: shuffle with `RandomState(seed)`, the last `test_split` share is test."""
    order = np.arange(len(x))
    np.random.RandomState(seed).shuffle(order)
    x, y = x[order], y[order]
    cut = int(len(x) * (1 - test_split))
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


def read_xy(file: os.PathLike) -> Split:
    """The `x` and `y` arrays of a numeric `.npz` file (read without pickle)."""
    with np.load(file, allow_pickle=False) as f:
        return f["x"], f["y"]


def load_data(path: Union[str, os.PathLike] = FILE, test_split: float = 0.2, seed: int = 113
              ) -> Tuple[Split, Split]:
    """Loads the Boston Housing dataset, shuffled and split as Keras splits it.

    Args:
        path: a bare file name is the file's name in the cache (`$KERASISH_HOME/datasets/
            boston_housing/`), also looked for in `KERASISH_DATA_PATH` and downloaded under
            that name if missing; a path with a folder part (`'./data/boston_housing.npz'`, or
            a folder holding `boston_housing.npz`) is read locally only. Defaults to
            `'boston_housing.npz'`.
        test_split: share of the samples kept for the test set, in [0, 1). Defaults to `0.2`.
        seed: seed of the shuffle before the split. Defaults to `113`.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: arrays of shape (n, 13) and (n,) (prices in
        k$), in the file's dtype; 404 train and 102 test samples with the defaults.

    Raises:
        ValueError: `test_split` outside [0, 1).
        DatasetUnavailableError: (an `OSError`) no local copy and the download failed.

    Example:
        ```python
        (x_train, y_train), (x_test, y_test) = kerasish.datasets.boston_housing.load_data()
        ```
    """
    check_test_split(test_split)
    file = _download.fetch_file("boston_housing", path, FILE, CHECKSUM, _download.mirrors(URL_ENV, BASE_URLS))
    x, y = read_xy(file)
    return shuffle_split(x, y, test_split, seed)
