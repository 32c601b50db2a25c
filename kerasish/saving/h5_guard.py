"""Reading HDF5 files that may be hostile: Keras 3's `.weights.h5` and legacy tf.keras `.h5`.

An HDF5 dataset can declare a huge shape while storing next to nothing (compressed, or never
written), keep its data in another file (external or virtual datasets), or be reached through a
link to another file. `check_dataset` and `check_link` refuse those before anything is read;
each format words the fix for its own files.
"""

from __future__ import annotations

import math
from typing import Any

#: The first 8 bytes of every HDF5 file.
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: A dataset may declare at most this many times the file's size (plus a floor).
MAX_EXPANSION = 1000
EXPANSION_FLOOR = 1 << 20


def h5py_module(fmt: str) -> Any:
    """h5py, or an ImportError saying which format needs it."""
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py is needed for the HDF5 formats only
        raise ImportError(f"{fmt} needs h5py: pip install h5py") from None
    return h5py


def check_link(link: Any, where: str, path: str, files: str, fix: str) -> None:
    """Refuses a soft or external link (`files` names the format's files, e.g. 'Keras weights files')."""
    h5py = h5py_module("HDF5")
    if isinstance(link, (h5py.SoftLink, h5py.ExternalLink)):
        raise ValueError(f"{where} holds a {type(link).__name__} at {path}; {files} have none, and following it "
                         f"could read another file. {fix}")


def check_dataset(ds: Any, where: str, path: str, stored: int, files: str, fix: str) -> None:
    """Refuses a dataset kept outside the file, or declaring far more bytes than the file holds."""
    if ds.external or ds.is_virtual:
        raise ValueError(f"{where}: dataset {path} keeps its data outside the file (external or virtual dataset). "
                         f"{files} hold their data inline; {fix}")
    declared = math.prod(ds.shape or ()) * ds.dtype.itemsize
    if declared > max(EXPANSION_FLOOR, MAX_EXPANSION * stored):
        raise ValueError(
            f"{where}: dataset {path} declares shape {tuple(ds.shape)} ({declared} bytes) but the file holds only "
            f"{stored} bytes; refusing to read it (a corrupt file or a decompression bomb). {fix[0].upper()}{fix[1:]}"
        )
