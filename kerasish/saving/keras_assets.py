"""Lookup vocabularies in a `.keras` file's `assets/` folder, as Keras 3 writes and reads them.

Keras saves an object's files under `assets/<path>/`, where `<path>` is the object's place in
the model (the path of its `<path>/vars` group in `model.weights.h5`, see `keras_paths`). A
`StringLookup` or `IntegerLookup` whose vocabulary was learned by `adapt` (not given to the
constructor, which keeps it in the config) writes `vocabulary.txt` there: every token of
`get_vocabulary()` (mask and OOV tokens first) joined by newlines, with no final newline;
integers as decimal text. Its config then says `vocabulary: None`. A `TextVectorization` writes
its inner lookup's file twice: at its own path and at `<path>/_lookup_layer/` (Keras visits that
inner layer as an object of its own). A layer never adapted writes only its special tokens.

Reading does what Keras's `load_assets` does: split the file into lines, drop trailing empty
lines, read integers for `IntegerLookup`, and set the vocabulary of each lookup layer whose
config had none. kerasish's `TextVectorization` does not record whether its vocabulary came
from the constructor, so it always saves it as an asset (Keras loads both forms alike).

A user's layer that defines `save_assets(dir_path)` / `load_assets(dir_path)` gets, as in Keras,
the folder `assets/<path>/` of one shared working folder (a parent's folder holds its children's):
`hook_asset_members` calls every `save_assets` and returns the files written as members, and
`restore_hook_assets` extracts the archive's `assets/` members (bounded, names already checked)
and calls every `load_assets` with its folder, or None when the archive has none for it.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from kerasish.saving.keras_paths import keras_layout, user_hooks

ASSETS = "assets/"
VOCABULARY = "vocabulary.txt"
INNER_LOOKUP = "_lookup_layer"
#: Bytes one vocabulary file may hold (about ten million tokens).
VOCABULARY_LIMIT = 256 * 2 ** 20
#: Bytes one file a user's `save_assets` wrote may hold, and all of them together, when read back.
ASSET_LIMIT = 2 ** 30
ASSETS_TOTAL_LIMIT = 4 * 2 ** 30
_INDEX_LOOKUPS = ("StringLookup", "IntegerLookup")
_TEXT = "TextVectorization"


def _kind(layer: Any) -> Optional[str]:
    """'StringLookup', 'IntegerLookup', 'TextVectorization' or None, by kerasish class (subclasses too)."""
    for cls in type(layer).__mro__:
        if cls.__module__.startswith("kerasish.") and cls.__name__ in _INDEX_LOOKUPS + (_TEXT,):
            return cls.__name__
    return None


def _folder(path: str) -> str:
    return f"{ASSETS}{path}/" if path else ASSETS


def _lookups(model: Any) -> List[Tuple[str, Any, str]]:
    """(path, layer, kind) of each lookup layer saved through `assets/` (not 'tf_idf': Keras keeps its
    idf weights in the weights file, which kerasish refuses with its own message)."""
    out = []
    for path, layer in keras_layout(model).layers:
        kind = _kind(layer)
        if kind is not None and getattr(layer, "output_mode", None) != "tf_idf":
            out.append((path, layer, kind))
    return out


def _given_to_constructor(layer: Any, kind: str) -> bool:
    """True when Keras keeps this layer's vocabulary in its config rather than in `assets/`."""
    return kind != _TEXT and bool(getattr(layer, "_has_input_vocabulary", False))


def _has_vocabulary(layer: Any, kind: str) -> bool:
    return bool(getattr(layer, "_adapted" if kind == _TEXT else "_is_adapted", False))


def _drop_config_vocabulary(config: Any, name: str) -> int:
    """Sets `vocabulary` to None in every layer config named `name` (returns how many)."""
    found = 0
    if isinstance(config, dict):
        inner = config.get("config")
        if isinstance(inner, dict) and inner.get("name") == name and "vocabulary" in inner and "class_name" in config:
            inner["vocabulary"] = None
            found += 1
        for value in config.values():
            found += _drop_config_vocabulary(value, name)
    elif isinstance(config, list):
        for value in config:
            found += _drop_config_vocabulary(value, name)
    return found


def asset_members(model: Any, config: Dict[str, Any]) -> Dict[str, bytes]:
    """The `assets/...` members Keras writes for `model`, by zip member name.

    `config` (the model's Keras config, as `to_keras_config` gives it) is changed in place: a layer
    whose vocabulary goes to `assets/` has `vocabulary: None` there, as in Keras's files.
    """
    members: Dict[str, bytes] = {}
    for path, layer, kind in _lookups(model):
        if _given_to_constructor(layer, kind):
            continue
        text = "\n".join(str(token) for token in layer.get_vocabulary(include_special_tokens=True))
        data = text.encode("utf-8")
        members[_folder(path) + VOCABULARY] = data
        if kind == _TEXT:
            members[_folder(path) + f"{INNER_LOOKUP}/" + VOCABULARY] = data
        _drop_config_vocabulary(config, layer.name)
    return members


def _parse(data: bytes, layer: Any, kind: str, member: str, where: str) -> List[Any]:
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{where}: the vocabulary {member!r} of layer {layer.name!r} ({kind}) is not UTF-8 text ({e}). "
            "Expected one token per line, as Keras's save writes it; re-save the model with Keras."
        ) from None
    while lines and lines[-1] == "":
        lines.pop()
    if kind != "IntegerLookup":
        return lines
    try:
        return [int(line) for line in lines]
    except ValueError:
        bad = next(line for line in lines if not line.strip().lstrip("+-").isdigit())
        raise ValueError(
            f"{where}: the vocabulary {member!r} of layer {layer.name!r} (IntegerLookup) holds {bad[:40]!r}, "
            "not an integer. Expected one integer per line, as Keras's save writes it."
        ) from None


def restore_vocabularies(model: Any, names: Iterable[str], read: Callable[[str, int], bytes], where: str) -> None:
    """Sets each lookup layer's vocabulary from `assets/<path>/vocabulary.txt`, as Keras's `load_assets`.

    Args:
        model: the model built from the file's config.
        names: every member name of the archive.
        read: `read(name, limit)` gives a member's bytes, refusing it unread past `limit` bytes.
        where: the file, for messages.

    Raises:
        ValueError: for a lookup layer with no vocabulary in its config and no vocabulary file
            (Keras's load fails there too), or a file that is not a vocabulary; the message names
            the layer and the member. Members under `assets/` that no layer reads are named in a
            warning.
    """
    names = set(names)
    used = set()
    for path, layer, kind in _lookups(model):
        member = _folder(path) + VOCABULARY
        used.update({member, _folder(path) + f"{INNER_LOOKUP}/" + VOCABULARY})
        if _has_vocabulary(layer, kind):
            continue  # the config gave it (Keras's load_assets does nothing then)
        if member not in names:
            raise ValueError(
                f"{where} has no vocabulary for layer {layer.name!r} ({kind}): its config has vocabulary=None "
                f"and the archive has no {member!r}. Expected the file Keras's model.save writes for an adapted "
                "layer; re-save the model, or pass the vocabulary to the layer's constructor."
            )
        specials = layer.get_vocabulary(include_special_tokens=True)
        values = _parse(read(member, VOCABULARY_LIMIT), layer, kind, member, where)
        if values == specials:
            continue  # saved before adapt: only the special tokens, as Keras writes them
        layer.set_vocabulary(values)
        if kind != _TEXT:
            # Keras's set_vocabulary from an asset leaves the layer adaptable and saves it as an asset again.
            layer._has_input_vocabulary = False
    hooks = _hook_folders(model)  # read by a user's load_assets (restore_hook_assets)
    unread = sorted(n for n in names if n.startswith(ASSETS) and n not in used and not n.endswith("/")
                    and not n.startswith(hooks))
    if unread:
        warnings.warn(
            f"{where}: kerasish does not read {len(unread)} asset file(s) {unread[:5]}: no lookup layer of the "
            "model sits at their paths. A layer kerasish lacks saved them; its state is not restored.",
            stacklevel=3,
        )


def _hooked(model: Any, hook: str) -> List[Tuple[str, Any]]:
    return [(path, layer) for path, layer in keras_layout(model).layers if user_hooks(layer, (hook,))]


def hook_asset_members(model: Any) -> Dict[str, bytes]:
    """The files each user `save_assets(dir_path)` of `model` writes, by member name (`assets/...`).

    Raises:
        ValueError: when a hook leaves a link (not a file) in its folder, naming the layer.
    """
    hooked = _hooked(model, "save_assets")
    members: Dict[str, bytes] = {}
    if not hooked:
        return members
    with tempfile.TemporaryDirectory(prefix="kerasish-assets-") as root:
        for path, layer in hooked:
            folder = os.path.join(root, *path.split("/")) if path else root
            os.makedirs(folder, exist_ok=True)
            layer.save_assets(folder)
        for dirpath, dirnames, filenames in os.walk(root):
            for name in sorted(dirnames + filenames):
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, root).replace(os.sep, "/")
                if os.path.islink(full):
                    raise ValueError(
                        f"save_assets() of layer(s) {[layer.name for _, layer in hooked]} left a link at "
                        f"{ASSETS}{rel}; a .keras file holds plain files only. Write the file itself there.")
                if os.path.isfile(full):
                    with open(full, "rb") as f:
                        members[ASSETS + rel] = f.read()
    return members


def restore_hook_assets(model: Any, names: Iterable[str], read: Callable[[str, int], bytes], where: str) -> None:
    """Calls each user `load_assets(dir_path)` of `model` as Keras's load does: with its folder
    `assets/<path>/` extracted from the archive, or None when the archive has nothing there (and
    not at all when the archive holds no assets).

    Raises:
        ValueError: for an asset member over `ASSET_LIMIT` bytes, or over `ASSETS_TOTAL_LIMIT` in
            all, naming the member; a failing hook's error is re-raised naming its layer.
    """
    hooked = _hooked(model, "load_assets")
    assets = sorted(n for n in names if n.startswith(ASSETS) and not n.endswith("/"))
    if not hooked or not assets:
        return
    with tempfile.TemporaryDirectory(prefix="kerasish-assets-") as root:
        total = 0
        for name in assets:
            data = read(name, ASSET_LIMIT)
            total += len(data)
            if total > ASSETS_TOTAL_LIMIT:
                raise ValueError(f"{where}: its assets pass {ASSETS_TOTAL_LIMIT} bytes in all at {name!r}; "
                                 "kerasish refuses to extract them. Expected the files a layer's save_assets wrote.")
            target = os.path.realpath(os.path.join(root, *name[len(ASSETS):].split("/")))
            if not target.startswith(os.path.realpath(root) + os.sep):
                raise ValueError(f"{where}: the asset member {name!r} points outside the assets folder; expected "
                                 "plain relative names such as 'assets/layers/x/vocabulary.txt'.")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(data)
        for path, layer in hooked:
            folder = os.path.join(root, *path.split("/")) if path else root
            try:
                layer.load_assets(folder if os.path.isdir(folder) else None)
            except Exception as e:  # the user's code: re-raised naming its layer and folder
                raise ValueError(
                    f"{where}: load_assets() of layer {layer.name!r} ({type(layer).__name__}) failed on "
                    f"{_folder(path)!r} ({type(e).__name__}: {e}). The archive holds {assets[:8]}. Save the file "
                    "from a model whose layer has the same save_assets(), or make load_assets() read those files."
                ) from e


def _hook_folders(model: Any) -> Tuple[str, ...]:
    return tuple(_folder(path) for path, _ in _hooked(model, "load_assets"))
