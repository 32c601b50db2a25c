"""California Housing prices (20,640 districts, 8 features), as `keras.datasets.california_housing`."""

from __future__ import annotations

import os
from typing import Tuple, Union

from kerasish.datasets import _download
from kerasish.datasets.boston_housing import Split, check_test_split, read_xy, shuffle_split

FILE = "california_housing.npz"
BASE_URLS = ("https://storage.googleapis.com/tensorflow/tf-keras-datasets/",)
# Keras's SHA-256 of the file. KERASISH_CALIFORNIA_HOUSING_URL replaces the mirror (tests).
CHECKSUM = "sha256:1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"
URL_ENV = "KERASISH_CALIFORNIA_HOUSING_URL"
VERSIONS = ("large", "small")
SMALL = 600


def load_data(version: str = "large", path: Union[str, os.PathLike] = FILE, test_split: float = 0.2,
              seed: int = 113) -> Tuple[Split, Split]:
    """Loads the California Housing dataset, shuffled and split as Keras splits it.

    Features: median income, house age, average rooms, average bedrooms, population, average
    occupancy, latitude, longitude (per census block group); the target is the median house
    value in dollars.

    Args:
        version: `'large'` for all 20,640 samples, `'small'` for the first 600 (a stand-in
            for `boston_housing`). Defaults to `'large'`.
        path: a bare file name is the file's name in the cache (`$KERASISH_HOME/datasets/
            california_housing/`), also looked for in `KERASISH_DATA_PATH` and downloaded under
            that name if missing; a path with a folder part is read locally only. Defaults to
            `'california_housing.npz'`.
        test_split: share of the samples kept for the test set, in [0, 1). Defaults to `0.2`.
        seed: seed of the shuffle before the split. Defaults to `113`.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: arrays of shape (n, 8) and (n,), in the
        file's dtype.

    Raises:
        ValueError: an unknown `version`, or `test_split` outside [0, 1).
        DatasetUnavailableError: (an `OSError`) no local copy and the download failed.

    Example:
        ```python
        (x_train, y_train), _ = kerasish.datasets.california_housing.load_data(version="small")
        ```
    """
    check_test_split(test_split)
    if version not in VERSIONS:
        raise ValueError(
            f"Unknown version. Received: version={version!r}. Expected 'large' (20,640 "
            "samples) or 'small' (the first 600)."
        )
    file = _download.fetch_file("california_housing", path, FILE, CHECKSUM,
                                _download.mirrors(URL_ENV, BASE_URLS))
    x, y = read_xy(file)
    if version == "small":
        x, y = x[:SMALL], y[:SMALL]
    return shuffle_split(x, y, test_split, seed)
