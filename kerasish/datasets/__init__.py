"""Ready-made datasets with Keras's loaders: `mnist`, `fashion_mnist` and `imdb`.

Each `load_data()` reads a local copy when there is one (`path=`, the cache under
`$KERASISH_HOME/datasets`, the folders of `KERASISH_DATA_PATH`) and downloads otherwise.
Importing this package reads and downloads nothing.
"""

from kerasish.datasets import fashion_mnist, imdb, mnist
from kerasish.datasets._download import DatasetUnavailableError

__all__ = ["mnist", "fashion_mnist", "imdb", "DatasetUnavailableError"]
