"""What CIFAR-10 and CIFAR-100 share: the archive's place, its safe extraction, and batch parsing.

The CIFAR "python version" archives hold Python 2 pickles of dicts (bytes keys, a uint8 NumPy
array of images, lists of labels). kerasish never runs a general unpickler on a downloaded
file: `SafeUnpickler` rebuilds plain containers and NumPy arrays and refuses every other global
(a `__reduce__` gadget such as `os.system` fails with an error naming it). `load_npz` uses it
for the object arrays of Keras's `reuters.npz`, the other pickle-holding dataset file.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import numpy as np

from kerasish import config
from kerasish.datasets import _download
from kerasish.utils import file_utils

BASE_URLS = ("https://www.cs.toronto.edu/~kriz/",)

# The one function a pickled ndarray is rebuilt with, whatever module name numpy wrote.
_RECONSTRUCT = np.ndarray(0).__reduce__()[0]
_ALLOWED = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,  # numpy < 2, Python 2 files
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,  # numpy >= 2
}

Split = Tuple[np.ndarray, np.ndarray]
PathLike = Optional[Union[str, os.PathLike]]


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds NumPy arrays and builtin containers, and nothing else.

    Only `numpy.ndarray`, `numpy.dtype` and numpy's `_reconstruct` may be named by the
    stream; any other global raises `pickle.UnpicklingError` naming it.
    """

    def find_class(self, module: str, name: str):
        found = _ALLOWED.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(
                f"Refusing to load `{module}.{name}` from a dataset file: only NumPy arrays may "
                "be rebuilt. The file is corrupt or was tampered with; delete it so that it is "
                "downloaded again."
            )
        return found


def read_pickle(file: Union[str, Path]):
    """Reads one pickle with `SafeUnpickler` (Python 2 strings come back as bytes)."""
    with open(file, "rb") as f:
        return SafeUnpickler(f, encoding="bytes").load()


def load_npz(file: Union[str, Path]) -> Dict[str, np.ndarray]:
    """Reads every array of an `.npz` file; object arrays through `SafeUnpickler`.

    Numeric arrays load with pickling disabled; only an object array's pickle stream (after
    its `.npy` header) goes through the restricted unpickler.
    """
    arrays = {}
    with zipfile.ZipFile(file) as archive:
        for member in archive.namelist():
            if not member.endswith(".npy"):
                continue
            buffer = io.BytesIO(archive.read(member))
            version = np.lib.format.read_magic(buffer)
            header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                      else np.lib.format.read_array_header_2_0)
            _, _, dtype = header(buffer)
            if dtype.hasobject:
                arrays[member[:-4]] = SafeUnpickler(buffer).load()
            else:
                buffer.seek(0)
                arrays[member[:-4]] = np.lib.format.read_array(buffer, allow_pickle=False)
    return arrays


def load_batch(file: Union[str, Path], label_key: str = "labels") -> Split:
    """One CIFAR batch: `(images, labels)` as channels-first uint8 `(n, 3, 32, 32)` and a list.

    Raises:
        ValueError: when the file lacks `data` or `label_key`, or its data is not n x 3072.
    """
    batch = {k.decode("utf-8") if isinstance(k, bytes) else k: v for k, v in read_pickle(file).items()}
    if "data" not in batch or label_key not in batch:
        raise ValueError(
            f"{str(file)!r} is not a CIFAR batch with {label_key!r} labels: its keys are "
            f"{sorted(batch)}. Expected 'data' and {label_key!r}; replace it with the file from "
            "the original CIFAR python archive."
        )
    data = np.asarray(batch["data"])
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(
            f"{str(file)!r} holds images of shape {data.shape}; expected (n, 3072) uint8 rows "
            "(3 channels of 32x32). Replace it with the file from the original CIFAR archive."
        )
    return data.reshape(len(data), 3, 32, 32), batch[label_key]


def batches_folder(name: str, archive: str, folder: str, checksum: str, url_env: str,
                   path: PathLike) -> Path:
    """The extracted `cifar-*-python` folder: local, extracted from a local archive, or downloaded.

    A place may hold the extracted `folder` (as torchvision's root and Keras's
    `<folder>-target` cache do) or the `archive`; an archive is extracted once into the cache
    through `file_utils.extract_archive` (members checked, temporary folder, rename).
    """
    found, names = _download.fetch(
        name, (archive,), path=path, checksums={archive: checksum}, alternatives=[(folder,)],
        base_urls=_download.mirrors(url_env, BASE_URLS),
    )
    if names == (folder,):
        return found / folder
    extracted = _download.cache_dir(name) / f"{folder}-target"
    if not (extracted / folder).is_dir():
        file_utils.extract_archive(found / archive, extracted, "tar")
    if not (extracted / folder).is_dir():
        raise ValueError(
            f"{str(found / archive)!r} holds no {folder!r} folder. Expected the original CIFAR "
            f"python archive; delete the file (and {str(extracted)!r}) so it is downloaded again."
        )
    return extracted / folder


def keras_layout(x: np.ndarray, labels, label_dtype) -> Split:
    """Keras's layout: uint8 images `(n, 32, 32, 3)` (`(n, 3, 32, 32)` when
    `kerasish.config.image_data_format()` is `'channels_first'`) and `(n, 1)` labels."""
    y = np.asarray(labels, dtype=label_dtype).reshape(-1, 1)
    if config.image_data_format() == "channels_last":
        x = x.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x, dtype=np.uint8), y
