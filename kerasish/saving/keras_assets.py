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
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from kerasish.saving.keras_paths import keras_layout

ASSETS = "assets/"
VOCABULARY = "vocabulary.txt"
INNER_LOOKUP = "_lookup_layer"
#: Bytes one vocabulary file may hold (about ten million tokens).
VOCABULARY_LIMIT = 256 * 2 ** 20
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
    unread = sorted(n for n in names if n.startswith(ASSETS) and n not in used and not n.endswith("/"))
    if unread:
        warnings.warn(
            f"{where}: kerasish does not read {len(unread)} asset file(s) {unread[:5]}: no lookup layer of the "
            "model sits at their paths. A layer kerasish lacks saved them; its state is not restored.",
            stacklevel=3,
        )
