"""Ready-made datasets with Keras's loaders: `mnist`, `fashion_mnist`, `imdb`, `cifar10`, `cifar100`,
`boston_housing`, `california_housing` and `reuters`.

Each `load_data()` reads a local copy when there is one (`path=`, the cache under
`$KERASISH_HOME/datasets`, the folders of `KERASISH_DATA_PATH`) and downloads otherwise, through
`kerasish.utils.get_file`'s downloader. Importing this package reads and downloads nothing.
"""

from kerasish.datasets import (
    boston_housing,
    california_housing,
    cifar10,
    cifar100,
    fashion_mnist,
    imdb,
    mnist,
    reuters,
)
from kerasish.datasets._download import DatasetUnavailableError

__all__ = ["mnist", "fashion_mnist", "imdb", "cifar10", "cifar100", "boston_housing",
           "california_housing", "reuters", "DatasetUnavailableError"]


def __getattr__(name: str):
    # Only for names this module lacks: says whether it is a Keras 3 name kerasish does not implement.
    from kerasish.utils.keras_names import missing_attribute

    raise missing_attribute(__name__, name, __all__)
