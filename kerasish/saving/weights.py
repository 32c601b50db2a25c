"""save_weights / load_weights in safetensors (no pickle), with shape checks.

Also the split of nested state that mixes tensors and plain values (a torch optimizer's
state_dict) into a flat dict of tensors (stored as safetensors) and a JSON structure that
refers to them by key: `encode_state` / `decode_state`.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any, Dict, Mapping, Optional, Tuple

import torch
from safetensors import SafetensorError
from safetensors.torch import load as _st_load
from safetensors.torch import save as _st_save

from kerasish.utils.io import atomic_write

WEIGHTS_SUFFIX = ".safetensors"
MODEL_SUFFIX = ".kerasish"
_ORDER_KEY = "kerasish_key_order"
_PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".pkl", ".pickle", ".ckpt", ".h5", ".keras")


def tensors_to_bytes(tensors: Mapping[str, torch.Tensor], metadata: Optional[Dict[str, str]] = None) -> bytes:
    """Serializes a flat dict of tensors to safetensors bytes (CPU copies, no pickle).

    The key order is kept in the metadata (safetensors itself sorts the tensors), so a
    reader can match weights by position when layer names differ.
    """
    # Copies: safetensors refuses tensors that share memory (tied weights, views).
    host = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in tensors.items()}
    return _st_save(host, metadata={**(metadata or {}), _ORDER_KEY: json.dumps(list(host))})


def read_metadata(data: bytes) -> Dict[str, str]:
    """The `__metadata__` of a safetensors payload (its JSON header; no tensor is read)."""
    if len(data) < 8:
        return {}
    size = struct.unpack("<Q", data[:8])[0]
    if size > len(data) - 8:
        return {}
    try:
        header = json.loads(data[8:8 + size])
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return {}
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return meta if isinstance(meta, dict) else {}


def _describe(data: bytes) -> str:
    if data[:1] == b"\x80":
        return ("It starts like a Python pickle; kerasish never unpickles files, because unpickling can run "
                "arbitrary code.")
    if data[:2] == b"PK":
        return "It is a zip archive (perhaps a torch.save checkpoint, which holds a pickle); kerasish never unpickles."
    return "It is truncated, corrupt, or not a safetensors file."


def tensors_from_bytes(data: bytes, source: str) -> Dict[str, torch.Tensor]:
    """Parses safetensors bytes; anything else is a clear ValueError (never unpickled).

    Args:
        data: the bytes.
        source: where they came from, for the error message.

    Raises:
        ValueError: if `data` is not a valid safetensors payload.
    """
    try:
        tensors = _st_load(bytes(data))
    except SafetensorError as e:
        raise ValueError(
            f"Cannot read tensors from {source}: not a valid safetensors payload ({e}). {_describe(data)} "
            "Expected a file written by kerasish's save_weights/save (or safetensors.torch.save_file); write it "
            "again, or convert a torch checkpoint with torch.load(path, weights_only=True) then "
            "safetensors.torch.save_file(state_dict, 'weights.safetensors')."
        ) from None
    order = read_metadata(data).get(_ORDER_KEY)
    if order is not None:
        tensors = _in_saved_order(tensors, order, source)
    return tensors


def _in_saved_order(tensors: Dict[str, torch.Tensor], order: Any, source: str) -> Dict[str, torch.Tensor]:
    # The writer's key order, kept in the metadata: a JSON list naming each tensor once.
    try:
        keys = json.loads(order) if isinstance(order, str) else None
    except (json.JSONDecodeError, RecursionError):
        keys = None
    if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys) and sorted(keys) == sorted(tensors)):
        raise ValueError(
            f"The key-order metadata {_ORDER_KEY!r} in {source} is {order!r:.120}, expected a JSON list naming each "
            f"of its {len(tensors)} tensors once. The file was edited or damaged: save it again, or rewrite the "
            "tensors with safetensors.torch.save_file(tensors, path) (without that metadata entry)."
        )
    return {k: tensors[k] for k in keys}


def assign_weights(model: torch.nn.Module, tensors: Mapping[str, torch.Tensor], source: str) -> None:
    """Copies `tensors` into `model`'s state_dict entries, after checking every key and shape.

    Nothing is changed when any check fails.

    Raises:
        ValueError: for missing or unexpected keys, or a shape mismatch (naming the key and both shapes).
    """
    own = model.state_dict(keep_vars=True)
    pairs = match_weights(getattr(model, "name", type(model).__name__), own, tensors, source)
    with torch.no_grad():
        for own_key, file_key in pairs:
            own[own_key].copy_(tensors[file_key])


def match_weights(model_name: Any, own: Mapping[str, Any], tensors: Mapping[str, Any], source: str) -> list:
    """[(model key, file key)] pairing `own` (a state_dict, possibly on the meta device)
    with `tensors` (anything with a `.shape`), after checking every key and shape.

    Raises:
        ValueError: for missing or unexpected keys, or a shape mismatch (naming the key and both shapes).
    """
    if set(own) == set(tensors):
        pairs = [(k, k) for k in own]
    elif len(own) == len(tensors) and all(
            a.rsplit(".", 1)[-1] == b.rsplit(".", 1)[-1] for a, b in zip(own, tensors)):
        # Same structure, other layer names: a model rebuilt in the same session gets
        # 'dense_2' where the saved one had 'dense'. Match by position, as Keras 3 does.
        pairs = list(zip(own, tensors))
    else:
        missing = [k for k in own if k not in tensors]
        unexpected = [k for k in tensors if k not in own]
        raise ValueError(
            f"The weights in {source} do not match model {model_name!r}: "
            f"missing from the file: {missing[:10] or 'none'}{' ...' if len(missing) > 10 else ''}; not in the "
            f"model: {unexpected[:10] or 'none'}{' ...' if len(unexpected) > 10 else ''}. Expected the keys of "
            "model.state_dict(). Build the same architecture (same layers in the same order) before load_weights."
        )
    for own_key, file_key in pairs:
        target, value = own[own_key], tensors[file_key]
        if tuple(value.shape) != tuple(target.shape):
            where = repr(own_key) if own_key == file_key else f"{own_key!r} (saved as {file_key!r})"
            raise ValueError(
                f"Shape mismatch for weight {where} in {source}: the model has shape {tuple(target.shape)}, the "
                f"file has shape {tuple(value.shape)}. Build the model with the architecture the weights were "
                "saved from (same units, kernel sizes and input shape)."
            )
    return pairs


def _check_suffix(filepath: str, suffix: str, what: str, fix: str) -> None:
    if not filepath.endswith(suffix):
        raise ValueError(f"{what} must end in {suffix!r}, received filepath={filepath!r}. {fix}")


def save_weights(model: torch.nn.Module, filepath: Any, overwrite: bool = True) -> None:
    """Writes `model.state_dict()` to a `.safetensors` file, atomically.

    Args:
        model: the model (or any torch module).
        filepath: path ending in `.safetensors`.
        overwrite: replace an existing file. Defaults to `True`.

    Raises:
        ValueError: for another suffix.
        FileExistsError: if the file exists and `overwrite` is False.
    """
    filepath = os.fspath(filepath)
    _check_suffix(filepath, WEIGHTS_SUFFIX, "The weights file path",
                  "Use a name such as 'model.weights.safetensors' (use model.save('x.kerasish') for a full model).")
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(
            f"{filepath!r} already exists and overwrite=False. Pass overwrite=True or choose another path.")
    data = tensors_to_bytes(model.state_dict())
    with atomic_write(filepath) as f:
        f.write(data)


def load_weights(model: torch.nn.Module, filepath: Any) -> None:
    """Loads weights from a `.safetensors` file (or the weights inside a `.kerasish` file).

    Args:
        model: a model built with the same architecture.
        filepath: a `.safetensors` or `.kerasish` path.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: for another suffix, an invalid file, or keys/shapes that do not match.
    """
    filepath = os.fspath(filepath)
    if not os.path.isfile(filepath):
        raise FileNotFoundError(
            f"No weights file at {filepath!r}. Check the path (the working folder is {os.getcwd()!r}).")
    if filepath.endswith(MODEL_SUFFIX):
        from kerasish.saving.model_file import read_member  # the weights inside a full model file

        tensors = tensors_from_bytes(read_member(filepath, "model.safetensors"), f"{filepath!r} (model.safetensors)")
    elif filepath.endswith(WEIGHTS_SUFFIX):
        with open(filepath, "rb") as f:
            tensors = tensors_from_bytes(f.read(), repr(filepath))
    else:
        hint = (" That suffix usually means a pickle-based checkpoint, which kerasish never loads because "
                "unpickling can run code." if filepath.endswith(_PICKLE_SUFFIXES) else "")
        raise ValueError(
            f"load_weights reads '.safetensors' or '.kerasish' files, received filepath={filepath!r}.{hint} "
            "Convert it with torch.load(path, weights_only=True) and safetensors.torch.save_file, or pass a file "
            "written by model.save_weights/model.save."
        )
    assign_weights(model, tensors, repr(filepath))


# --------------------------------------------------------------------- nested state
def encode_state(obj: Any, prefix: str = "") -> Tuple[Any, Dict[str, torch.Tensor]]:
    """Splits nested state into a JSON structure and a flat dict of tensors.

    Tensors become `{'__tensor__': key}`, tuples `{'__tuple__': [...]}` and dicts with
    non-string keys `{'__items__': [[key, value], ...]}`, so `decode_state` rebuilds
    the exact types torch expects.

    Raises:
        TypeError: for a value JSON cannot hold (it names the path of the value).
    """
    tensors: Dict[str, torch.Tensor] = {}

    def walk(value: Any, path: str) -> Any:
        if isinstance(value, torch.Tensor):
            tensors[path] = value
            return {"__tensor__": path}
        if isinstance(value, tuple):
            return {"__tuple__": [walk(v, f"{path}.{i}") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [walk(v, f"{path}.{i}") for i, v in enumerate(value)]
        if isinstance(value, dict):
            if all(isinstance(k, str) for k in value):
                return {k: walk(v, f"{path}.{k}") for k, v in value.items()}
            return {"__items__": [[k, walk(v, f"{path}.{k}")] for k, v in value.items()]}
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise TypeError(
            f"Cannot store the value at {path or 'the top level'!r} of type {type(value).__name__} ({value!r:.80}) "
            "without pickle; only tensors, numbers, strings, None, lists, tuples and dicts are stored. Keep "
            "optimizer and callback state to those types."
        )

    return walk(obj, prefix), tensors


def decode_state(structure: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """The inverse of `encode_state`.

    Raises:
        ValueError: when the structure refers to a tensor that is not stored.
    """
    if isinstance(structure, list):
        return [decode_state(v, tensors) for v in structure]
    if isinstance(structure, dict):
        if set(structure) == {"__tensor__"}:
            key = structure["__tensor__"]
            if key not in tensors:
                raise ValueError(
                    f"The stored state refers to tensor {key!r}, which is missing from the file. The file is "
                    "incomplete or was edited; save it again."
                )
            return tensors[key]
        if set(structure) == {"__tuple__"}:
            return tuple(decode_state(v, tensors) for v in structure["__tuple__"])
        if set(structure) == {"__items__"}:
            return {k: decode_state(v, tensors) for k, v in structure["__items__"]}
        return {k: decode_state(v, tensors) for k, v in structure.items()}
    return structure
