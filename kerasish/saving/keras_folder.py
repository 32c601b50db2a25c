"""The `.keras` content unzipped into a folder: `model.save("my_model", zipped=False)` and
`load_model("my_model")`, as Keras 3 writes and reads it.

The folder holds the members of a `.keras` zip as files (`config.json`, `metadata.json`,
`model.weights.h5`, `assets/...`). Writing takes them from `keras_file.keras_members` (so the
model is described before anything is written) and writes each through `atomic_write`.
Reading applies the zip's rules to the folder: only the files Keras writes, no symbolic link or
special file anywhere inside (a link could read any file on the machine), every file's size
bounded before it is read, and the weights checked by `keras_weights` as any weights file.
"""

from __future__ import annotations

import os
import stat
from typing import Any, Dict, Optional

from kerasish.saving import keras_file
from kerasish.saving.keras_file import CONFIG, WEIGHTS_H5, KerasFileError
from kerasish.utils.io import atomic_write

_MAX_FILES = 10_000


def is_keras_folder(filepath: Any) -> bool:
    """Whether `filepath` is a folder (what `save(path, zipped=False)` writes)."""
    try:
        return os.path.isdir(os.fspath(filepath))
    except TypeError:
        return False


def _bad(path: str, why: str) -> KerasFileError:
    return KerasFileError(
        f"{path!r} is not a readable unzipped .keras model folder: {why}. Expected the folder written by Keras 3's or "
        "kerasish's model.save(path, zipped=False) (config.json, metadata.json, model.weights.h5, assets/)."
    )


def save_keras_folder(model: Any, dirpath: str, overwrite: bool = True) -> None:
    """Writes `model`'s `.keras` content as files in the folder `dirpath` (created if needed).

    Raises:
        ValueError: for a path ending in `.keras` (that name is for the zip, as in Keras), a path
            that is an existing file, or a model Keras's format cannot describe; nothing is
            written then.
        FileExistsError: when the folder holds a saved model and `overwrite=False`.
    """
    if dirpath.endswith(".keras"):
        raise ValueError(
            f"zipped=False writes a folder, whose name must not end in '.keras' (that suffix names the zip, as in "
            f"Keras); received filepath={dirpath!r}. Drop the suffix (e.g. 'my_model'), or drop zipped=False.")
    if os.path.exists(dirpath) and not os.path.isdir(dirpath):
        raise ValueError(
            f"zipped=False writes a folder, but {dirpath!r} is an existing file. Choose another path, or remove "
            "the file first.")
    if os.path.exists(os.path.join(dirpath, CONFIG)) and not overwrite:
        raise FileExistsError(f"{dirpath} already holds a saved model; pass overwrite=True to replace it.")
    members = keras_file.keras_members(model)  # first: a model Keras cannot describe fails before any write
    for name, data in members.items():
        target = os.path.join(dirpath, *name.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with atomic_write(target, "wb") as f:
            f.write(data)


def _files(dirpath: str) -> Dict[str, str]:
    """Every file under `dirpath` by member name ('assets/x/vocabulary.txt'), refusing links and
    special files before any file is opened."""
    found: Dict[str, str] = {}
    for root, dirs, files in os.walk(dirpath, followlinks=False):
        for name in dirs + files:
            full = os.path.join(root, name)
            mode = os.lstat(full).st_mode
            member = os.path.relpath(full, dirpath).replace(os.sep, "/")
            if stat.S_ISLNK(mode):
                raise _bad(dirpath, f"{member!r} is a symbolic link; a saved model holds plain files only (a link "
                                    "could make the loader read any file on the machine)")
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise _bad(dirpath, f"{member!r} is not a regular file or folder")
            if stat.S_ISREG(mode):
                found[member] = full
        if len(found) > _MAX_FILES:
            raise _bad(dirpath, f"it holds more than {_MAX_FILES} files")
    return found


def _read(dirpath: str, files: Dict[str, str], name: str, limit: int) -> bytes:
    if name not in files:
        raise _bad(dirpath, f"the file {name!r} is missing; it holds {sorted(files)[:8]}")
    size = os.path.getsize(files[name])
    if size > limit:
        raise _bad(dirpath, f"{name!r} holds {size} bytes, more than the {limit} its role allows")
    with open(files[name], "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise _bad(dirpath, f"{name!r} grew past the {limit} bytes its role allows while being read")
    return data


def load_keras_folder(dirpath: str, custom_objects: Optional[Dict[str, Any]] = None, compile: bool = True,
                      safe_mode: bool = True) -> Any:
    """Loads a model from a folder written by `model.save(path, zipped=False)` (Keras's or ours).

    Raises:
        KerasFileError: (a ValueError) for a folder without `config.json`, with a file Keras never
            writes, a symbolic link or special file inside, or a file over its size limit.
        ValueError: as `load_model` for a `.keras` file (unknown classes, code in the file while
            `safe_mode=True`, weights that do not fit).
    """
    from kerasish.saving.json_guard import parse_json
    from kerasish.saving.keras_weights import read_keras_weights

    files = _files(dirpath)
    keras_file.check_member_names(files, lambda why: _bad(dirpath, why))

    def read_json(name: str) -> Any:
        raw = _read(dirpath, files, name, keras_file.JSON_LIMIT)
        return parse_json(raw, f"{dirpath}/{name}")

    def load_weights(model: Any) -> None:
        size = os.path.getsize(files[WEIGHTS_H5])
        if size > keras_file.WEIGHTS_LIMIT:
            raise _bad(dirpath, f"{WEIGHTS_H5!r} holds {size} bytes, more than the "
                                f"{keras_file.WEIGHTS_LIMIT} allowed")
        read_keras_weights(model, files[WEIGHTS_H5])  # checked there as any Keras weights file

    return keras_file.build_from_members(
        files, read_json, lambda name, limit: _read(dirpath, files, name, limit), load_weights, dirpath,
        custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)
