"""MNIST handwritten digits, returned exactly as `keras.datasets.mnist.load_data()` returns them.

The four IDX files are parsed here with NumPy and gzip; downloads go through
`kerasish.utils.get_file` (checked, resumable, atomic), so nothing beyond NumPy is needed.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from kerasish.datasets import _download

# The mirror torchvision uses, and the published MD5 of each file. Tests replace both
# (KERASISH_MNIST_URL, or monkeypatch BASE_URLS / CHECKSUMS) to serve generated files.
BASE_URLS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",)
URL_ENV = "KERASISH_MNIST_URL"
CHECKSUMS: Dict[str, str] = {
    "train-images-idx3-ubyte.gz": "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "md5:d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "md5:9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "md5:ec29112dd5afa0611ce80d1b7f02629c",
}
FILES = tuple(CHECKSUMS)

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

Split = Tuple[np.ndarray, np.ndarray]


def read_idx(file: Union[str, Path]) -> np.ndarray:
    """Reads one IDX file (gzip-compressed when its name ends in `.gz`) into a NumPy array.

    IDX is the format of MNIST-like data: two zero bytes, a type code, the number of
    dimensions, each dimension as a big-endian uint32, then the values in C order.

    Args:
        file: the file's path. No default.

    Returns:
        A writable array of the file's shape, in native byte order (uint8 for MNIST).

    Raises:
        ValueError: when the file is not a well-formed IDX file.

    Example:
        >>> import gzip, tempfile, os
        >>> f = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte.gz")
        >>> with gzip.open(f, "wb") as g: _ = g.write(bytes([0, 0, 8, 1, 0, 0, 0, 2, 7, 3]))
        >>> read_idx(f).tolist()
        [7, 3]
    """
    opener = gzip.open if str(file).endswith(".gz") else open
    with opener(file, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(
            f"{str(file)!r} is not an IDX file: its header is {data[:4].hex() or 'empty'}. "
            "Expected two zero bytes, a type code (0x08 for uint8) and a dimension count. "
            "Re-download the file or point path= at the original MNIST-format files."
        )
    ndim = data[3]
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    offset = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = offset + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(
            f"{str(file)!r} is truncated or padded: its header announces shape {shape} "
            f"({expected} bytes) but the file holds {len(data)} bytes. Delete it so that "
            "it is downloaded again, or replace it with a complete copy."
        )
    arr = np.frombuffer(data, dtype, offset=offset).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def _split(folder: Path, prefix: str) -> Split:
    x = read_idx(folder / f"{prefix}-images-idx3-ubyte.gz")
    y = read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz")
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise ValueError(
            f"The {prefix} files in {str(folder)!r} do not match: images of shape {x.shape} "
            f"and labels of shape {y.shape}. Expected (n, rows, cols) images and (n,) labels; "
            "the folder mixes files of different datasets."
        )
    return x, y


def _load_npz(file: Path) -> Tuple[Split, Split]:
    # Keras's mnist.npz stores plain uint8 arrays, so it loads without pickle.
    with np.load(file, allow_pickle=False) as f:
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])


def load_idx_dataset(name: str, path: Optional[Union[str, os.PathLike]], *, url_env: str,
                     base_urls: Sequence[str], checksums: Mapping[str, str],
                     how_to_provide: str = "") -> Tuple[Split, Split]:
    """Finds (or downloads) the four MNIST-format files of `name` and parses them.

    Shared by `mnist` and `fashion_mnist`; see `load_data` for the arguments.
    """
    if path is not None and str(path).endswith(".npz") and os.path.isfile(path):
        return _load_npz(Path(path))
    folder, _ = _download.fetch(
        name, tuple(checksums), path=path, base_urls=_download.mirrors(url_env, base_urls),
        checksums=checksums, how_to_provide=how_to_provide,
    )
    return _split(folder, "train"), _split(folder, "t10k")


def load_data(path: Optional[Union[str, os.PathLike]] = None) -> Tuple[Split, Split]:
    """Loads the MNIST dataset of 70,000 28x28 grayscale digits (60,000 train, 10,000 test).

    The files are looked for in `path`, then in `$KERASISH_HOME/datasets/mnist`, then in each
    folder of `KERASISH_DATA_PATH` (or its `mnist` subfolder), and downloaded into the cache
    as a last resort (through `kerasish.utils.get_file`).

    Args:
        path: a folder holding `train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`,
            `t10k-images-idx3-ubyte.gz` and `t10k-labels-idx1-ubyte.gz`, or Keras's
            `mnist.npz`. When given, nothing else is searched. Defaults to `None`.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 arrays of shapes (60000, 28, 28),
        (60000,), (10000, 28, 28) and (10000,), labels 0-9.

    Raises:
        DatasetUnavailableError: (an `OSError`) no local copy and the download failed.

    Example:
        ```python
        (x_train, y_train), (x_test, y_test) = kerasish.datasets.mnist.load_data()
        x_train = x_train.astype("float32") / 255
        ```
    """
    return load_idx_dataset("mnist", path, url_env=URL_ENV, base_urls=BASE_URLS,
                            checksums=CHECKSUMS)
