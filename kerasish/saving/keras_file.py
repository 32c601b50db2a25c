"""Keras 3's `.keras` model file: a zip of `metadata.json`, `config.json` and `model.weights.h5`.

`save_keras(model, "m.keras")` writes what Keras 3's `model.save("m.keras")` writes: the model
described in Keras's own serialization (`keras_config.to_keras_config`), its weights in Keras's
HDF5 layout (`keras_weights`), a compiled model's optimizer variables (`keras_optimizer`: a
model trained in one library continues in the other) and Keras's metadata, so
`keras.saving.load_model` opens the file. `load_keras("m.keras")` reads a file written by Keras
3 (any backend) or by kerasish into kerasish layers, and restores the optimizer's state when
`compile=True`. Adapted lookup vocabularies (StringLookup, IntegerLookup, TextVectorization)
travel as `assets/<layer path>/vocabulary.txt`, as Keras writes them (`keras_assets`). A user's
layer with Keras's saving hooks has them called as Keras calls them: `save_own_variables` /
`load_own_variables` fill and read its weights group (`keras_weights`), `save_assets` /
`load_assets` write and read its `assets/<layer path>/` folder (`keras_assets`). The
same members, unzipped into a folder (`save(path, zipped=False)`), are `keras_folder`'s; a
Keras subclassed model loads into its registered kerasish twin (`keras_subclassed`).

Reading is bounded before anything is parsed: only the members Keras writes are accepted
(`metadata.json`, `config.json`, `model.weights.h5`/`.npz`, `assets/...`), each name is checked
(no absolute paths, no `..`, no duplicates), the JSON members are size-limited, the weights
member's uncompressed size and compression ratio are bounded, and it is copied out in chunks to
a private temporary file (never read whole into memory). Writing goes to a temporary file in the
target folder that is renamed into place, so a failure leaves no half-written file.
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
import zipfile
from typing import Any, Callable, Dict, Iterable, Optional

from kerasish.saving import zip_guard

CONFIG = "config.json"
METADATA = "metadata.json"
WEIGHTS_H5 = "model.weights.h5"
WEIGHTS_NPZ = "model.weights.npz"
ASSETS = "assets/"
#: What kerasish reports as the writer's Keras version (the format follows Keras 3's).
KERAS_VERSION = "3.15.1"
JSON_LIMIT = 64 * 2 ** 20       # bytes of config.json / metadata.json
WEIGHTS_LIMIT = 64 * 2 ** 30    # bytes of model.weights.h5 once extracted


class KerasFileError(ValueError):
    """A `.keras` file that kerasish will not read (malformed, hostile or unsupported)."""


def _bad(path: Any, why: str) -> KerasFileError:
    return KerasFileError(
        f"{path!s} is not a readable .keras model file: {why}. Expected the zip written by Keras 3's or "
        "kerasish's model.save('model.keras') (config.json, metadata.json, model.weights.h5)."
    )


def check_member_names(names: Iterable[str], bad: Callable[[str], Exception]) -> None:
    """Refuses a member Keras never writes, or a missing `config.json` (zip and folder alike)."""
    names = list(names)
    for name in names:
        if name not in (CONFIG, METADATA, WEIGHTS_H5, WEIGHTS_NPZ) and not name.startswith(ASSETS):
            raise bad(f"unexpected member {name!r}; a .keras file holds only {CONFIG}, {METADATA}, "
                      f"{WEIGHTS_H5} and {ASSETS}")
    if CONFIG not in names:
        raise bad(f"it has no {CONFIG} member (members: {sorted(names)[:8]})")


def _checked_members(zf: zipfile.ZipFile, path: Any) -> Dict[str, zipfile.ZipInfo]:
    members = zip_guard.check_members(zf, lambda why: _bad(path, why))
    check_member_names(members, lambda why: _bad(path, why))
    return members


def _read_json(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Any) -> Any:
    from kerasish.saving.json_guard import parse_json

    if info.file_size > JSON_LIMIT:
        raise _bad(path, f"{info.filename} declares {info.file_size} bytes, more than the {JSON_LIMIT} allowed")
    with zf.open(info) as f:
        raw = f.read(JSON_LIMIT + 1)
    if len(raw) > JSON_LIMIT:
        raise _bad(path, f"{info.filename} is larger than the {JSON_LIMIT} bytes allowed")
    return parse_json(raw, f"{os.fspath(path)}/{info.filename}")


def _extract_bounded(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: str, path: Any) -> None:
    if info.file_size > WEIGHTS_LIMIT:
        raise _bad(path, f"{info.filename} declares {info.file_size} bytes, more than the {WEIGHTS_LIMIT} allowed")
    written = 0
    with zf.open(info) as src, open(target, "wb") as dst:
        while True:
            chunk = src.read(2 ** 20)
            if not chunk:
                break
            written += len(chunk)
            if written > info.file_size:
                raise _bad(path, f"{info.filename} holds more bytes than its declared {info.file_size}")
            dst.write(chunk)


def keras_members(model: Any) -> Dict[str, bytes]:
    """The members of `model`'s `.keras` content by name (metadata, config, weights, assets), as the
    zip and the unzipped folder (`keras_folder`) both hold them.

    Raises:
        ValueError: for a model Keras's format cannot describe (e.g. a plain torch module inside),
            naming the layer and the way out (save it as `.kerasish`).
    """
    from kerasish.saving.keras_assets import asset_members, hook_asset_members
    from kerasish.saving.keras_config import to_keras_config
    from kerasish.saving.keras_weights import keras_weights_bytes

    config = to_keras_config(model)  # first: a model Keras cannot describe fails before any write
    assets = asset_members(model, config)  # adapted vocabularies leave the config for assets/
    metadata = {"keras_version": KERAS_VERSION, "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                "saved_by": "kerasish"}
    members = {METADATA: json.dumps(metadata).encode(), CONFIG: json.dumps(config).encode(),
               WEIGHTS_H5: keras_weights_bytes(model)}
    members.update(assets)
    members.update(hook_asset_members(model))  # a user's save_assets, as Keras calls it
    return members


def save_keras(model: Any, filepath: Any, overwrite: bool = True) -> None:
    """Writes `model` as a Keras 3 `.keras` file (config, metadata and weights).

    Raises:
        FileExistsError: when the file exists and `overwrite=False`.
        ValueError: for a model Keras's format cannot describe (e.g. a plain torch module inside),
            naming the layer and the way out (save it as `.kerasish`).
    """
    filepath = os.fspath(filepath)
    if os.path.exists(filepath) and not overwrite:
        raise FileExistsError(f"{filepath} exists; pass overwrite=True to replace it.")
    members = keras_members(model)
    folder = os.path.dirname(os.path.abspath(filepath))
    with tempfile.TemporaryDirectory(dir=folder, prefix=".kerasish-") as tmp:
        partial = os.path.join(tmp, "model.keras")
        with zipfile.ZipFile(partial, "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
        os.replace(partial, filepath)


def read_keras_config(filepath: Any) -> Dict[str, Any]:
    """The checked `config.json` of a `.keras` file (nothing else is read)."""
    with zipfile.ZipFile(filepath) as zf:
        members = _checked_members(zf, filepath)
        return _read_json(zf, members[CONFIG], filepath)


def load_keras(filepath: Any, custom_objects: Optional[Dict[str, Any]] = None, compile: bool = True,
               safe_mode: bool = True) -> Any:
    """Loads a `.keras` file written by Keras 3 (any backend) or by kerasish into kerasish layers.

    Raises:
        KerasFileError: (a ValueError) for a malformed or hostile archive, naming the member.
        ValueError: for a class kerasish does not have (naming it and how to register one), code in
            the file while `safe_mode=True`, weights that do not fit the architecture, or a lookup
            layer whose vocabulary is missing or unreadable (naming the layer and the member).
    """
    from kerasish.saving.keras_weights import read_keras_weights

    if not os.path.exists(os.fspath(filepath)):
        raise FileNotFoundError(
            f"No model file at {os.fspath(filepath)!r}. Check the path (the working folder is {os.getcwd()!r}).")
    try:
        zf = zipfile.ZipFile(filepath)
    except zipfile.BadZipFile as e:
        raise _bad(filepath, f"it is not a zip archive ({e})") from None
    with zf:
        members = _checked_members(zf, filepath)

        def load_weights(model: Any) -> None:
            with tempfile.TemporaryDirectory(prefix="kerasish-") as tmp:
                weights = os.path.join(tmp, WEIGHTS_H5)
                _extract_bounded(zf, members[WEIGHTS_H5], weights, filepath)
                try:
                    read_keras_weights(model, weights)
                except ValueError as e:  # name the user's file, not the private copy
                    raise ValueError(str(e).replace(repr(weights), f"{os.fspath(filepath)!r} (its {WEIGHTS_H5})")) \
                        from None

        return build_from_members(
            members, lambda name: _read_json(zf, members[name], filepath),
            lambda name, limit: zip_guard.read_bounded(zf, name, lambda why: _bad(filepath, why), limit),
            load_weights, os.fspath(filepath), custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)


def build_from_members(names: Iterable[str], read_json: Callable[[str], Any], read: Callable[[str, int], bytes],
                       load_weights: Callable[[Any], None], where: str, custom_objects: Optional[Dict[str, Any]],
                       compile: bool, safe_mode: bool) -> Any:
    """The model described by checked `.keras` members (a zip's or a folder's): `read_json(name)`
    parses a bounded JSON member, `read(name, limit)` gives a bounded member's bytes and
    `load_weights(model)` loads `model.weights.h5` into the built model."""
    from kerasish.saving.keras_assets import restore_hook_assets, restore_vocabularies
    from kerasish.saving.keras_config import from_keras_config
    from kerasish.saving.keras_subclassed import (
        is_subclassed,
        subclassed_from_keras_config,
    )

    names = set(names)
    config = read_json(CONFIG)
    if METADATA in names:
        read_json(METADATA)  # checked like the config; the content is informative
    if WEIGHTS_NPZ in names and WEIGHTS_H5 not in names:
        raise _bad(where, "its weights are in the npz layout (weights_format='npz'); kerasish reads "
                          "model.weights.h5. Re-save it in Keras with model.save(path) (h5 is the default)")
    if is_subclassed(config):  # the user's registered class, rebuilt from its constructor arguments
        model = subclassed_from_keras_config(config, custom_objects=custom_objects, safe_mode=safe_mode,
                                             compile=compile)
    else:
        model = from_keras_config(config, custom_objects=custom_objects, safe_mode=safe_mode, compile=compile)
    restore_vocabularies(model, names, read, where)
    if WEIGHTS_H5 in names:
        load_weights(model)  # a user's load_own_variables runs here,
    restore_hook_assets(model, names, read, where)  # then load_assets, as Keras calls them per object
    return model


def copy_weights_member(filepath: Any, target: str) -> None:
    """Copies a `.keras` file's `model.weights.h5` to `target` (checked and bounded)."""
    with zipfile.ZipFile(filepath) as zf:
        members = _checked_members(zf, filepath)
        if WEIGHTS_H5 not in members:
            raise _bad(filepath, f"it holds no {WEIGHTS_H5}")
        _extract_bounded(zf, members[WEIGHTS_H5], target, filepath)
