"""Fashion-MNIST (Zalando's 28x28 clothing images), as `keras.datasets.fashion_mnist`.

Offline, Debian's package `dataset-fashion-mnist` installs the four files under
`/usr/share/datasets/fashion-mnist`; `KERASISH_DATA_PATH=/usr/share/datasets` (or the
`fashion-mnist` folder itself) makes `load_data()` read them without any download.
"""

from __future__ import annotations

import os
from typing import Dict, Optional, Tuple, Union

from kerasish.datasets.mnist import Split, load_idx_dataset

# torchvision's mirror first, then the copy Keras downloads; both serve the original files,
# whose MD5s the Fashion-MNIST project publishes.
BASE_URLS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
)
URL_ENV = "KERASISH_FASHION_MNIST_URL"
CHECKSUMS: Dict[str, str] = {
    "train-images-idx3-ubyte.gz": "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "md5:25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "md5:bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "md5:bb300cfdad3c16e7a12a480ee83cd310",
}

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

_HOW_TO_PROVIDE = (
    "On Debian/Ubuntu, `apt-get install dataset-fashion-mnist` installs the files under "
    "/usr/share/datasets/fashion-mnist; then set KERASISH_DATA_PATH=/usr/share/datasets."
)


def load_data(path: Optional[Union[str, os.PathLike]] = None) -> Tuple[Split, Split]:
    """Loads Fashion-MNIST: 70,000 28x28 grayscale images of 10 kinds of clothing.

    The files are looked for in `path`, then in `$KERASISH_HOME/datasets/fashion-mnist`, then
    in each folder of `KERASISH_DATA_PATH` (itself, or its `fashion-mnist` subfolder), and
    downloaded into the cache as a last resort (needs `pip install "kerasish[vision]"`).
    Class `i` is named `CLASS_NAMES[i]` (0 is "T-shirt/top", 9 is "Ankle boot").

    Args:
        path: a folder holding `train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`,
            `t10k-images-idx3-ubyte.gz` and `t10k-labels-idx1-ubyte.gz` (or a Keras-style
            `.npz`). When given, nothing else is searched. Defaults to `None`.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 arrays of shapes (60000, 28, 28),
        (60000,), (10000, 28, 28) and (10000,), labels 0-9.

    Raises:
        DatasetUnavailableError: (an `OSError`) no local copy and the download failed.

    Example:
        ```python
        # export KERASISH_DATA_PATH=/usr/share/datasets   (apt-get install dataset-fashion-mnist)
        (x_train, y_train), (x_test, y_test) = kerasish.datasets.fashion_mnist.load_data()
        CLASS_NAMES[y_train[0]]  # 'Ankle boot'
        ```
    """
    return load_idx_dataset("fashion-mnist", path, url_env=URL_ENV, base_urls=BASE_URLS,
                            checksums=CHECKSUMS, how_to_provide=_HOW_TO_PROVIDE)
