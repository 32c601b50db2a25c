"""Keras 3's sharded weights, both ways: `model.save_weights("m.weights.json", max_shard_size=2)`.

Keras splits a large model's `.weights.h5` into shards of at most `max_shard_size` gigabytes,
written beside a JSON index, with the shard names made from the index's:

    m.weights.json              {"metadata": {"total_size": <bytes>},
                                 "weight_map": {"/layers/dense/vars": ["m_00000.weights.h5"], ...}}
    m_00000.weights.h5, m_00001.weights.h5, ...

Each shard is an ordinary Keras weights file holding some of the `vars` groups (a group may span
shards; the index lists every shard that holds part of it). Writing builds the one-file layout
(`keras_weights`), cuts it in creation order into shards and writes each shard, then the index,
through `atomic_write`. Reading checks the index (size, nesting, every shard name a plain
`*.weights.h5` file beside the index: no folders, no `..`, no symlinks), checks each shard as
`h5_guard` checks any Keras weights file (links, external data, declared sizes against the
shard's size) before reading any dataset, joins the shards in memory and loads the result with
`keras_weights.read_keras_weights`, so every shape and dtype is checked before a weight changes.
"""

from __future__ import annotations

import io
import json
import math
import os
import warnings
from typing import Any, Dict, List, Tuple

from torch import nn

from kerasish.saving import h5_guard
from kerasish.saving.json_guard import parse_json
from kerasish.saving.keras_weights import keras_weights_bytes, read_keras_weights
from kerasish.utils.io import atomic_write

INDEX_SUFFIX = ".weights.json"
SHARD_SUFFIX = ".weights.h5"
GB = 1024 ** 3  # Keras's "GB" for max_shard_size is 2**30 bytes
_INDEX_LIMIT = 64 * 2 ** 20  # bytes of the JSON index
_MAX_SHARDS = 100_000


def _h5py() -> Any:
    return h5_guard.h5py_module("Keras's sharded weights (.weights.json)")


# --------------------------------------------------------------------------- arguments
def shard_size_bytes(max_shard_size: Any) -> float:
    """`max_shard_size` (gigabytes, as Keras takes it) in bytes, or a clear error."""
    if isinstance(max_shard_size, bool) or not isinstance(max_shard_size, (int, float)):
        raise TypeError(
            f"max_shard_size must be a number of gigabytes (an int or float, e.g. max_shard_size=2), received "
            f"max_shard_size={max_shard_size!r} of type {type(max_shard_size).__name__}. Pass None for one "
            "unsharded '.weights.h5' file."
        )
    if not math.isfinite(max_shard_size) or max_shard_size <= 0:
        raise ValueError(
            f"max_shard_size must be a positive, finite number of gigabytes, received "
            f"max_shard_size={max_shard_size!r}. Pass e.g. max_shard_size=2 (shards of at most 2 GB), or None "
            "for one unsharded '.weights.h5' file."
        )
    return float(max_shard_size) * GB


def index_path(filepath: Any) -> str:
    """The index path Keras writes for `save_weights(filepath, max_shard_size=...)`.

    `*.weights.json` is kept; `*.weights.h5` becomes `*.weights.json` with a warning, as Keras
    does; any other name is refused.
    """
    path = os.fspath(filepath)
    if path.endswith(INDEX_SUFFIX):
        return path
    if path.endswith(SHARD_SUFFIX):
        renamed = path[: -len(".h5")] + ".json"
        warnings.warn(
            f"Sharded weights are saved as a '{INDEX_SUFFIX}' index plus shards (max_shard_size was given); "
            f"writing {renamed!r} instead of {path!r}, as Keras does. Name the file '*{INDEX_SUFFIX}' to silence "
            "this warning.", stacklevel=4)
        return renamed
    raise ValueError(
        f"max_shard_size writes Keras's sharded weights, whose index file must end in '{INDEX_SUFFIX}'; received "
        f"filepath={path!r}. Name it e.g. 'model{INDEX_SUFFIX}', or drop max_shard_size to save one file."
    )


def _base_name(index: str) -> str:
    return os.path.basename(index)[: -len(INDEX_SUFFIX)]


# --------------------------------------------------------------------------- writing
def _collect(f: Any) -> Tuple[List[Tuple[str, Any]], List[Tuple[str, str, Any]]]:
    """(every group with its attrs, every dataset as (group, key, dataset)) in creation order."""
    h5py = _h5py()
    groups: List[Tuple[str, Any]] = []
    datasets: List[Tuple[str, str, Any]] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Group):
            groups.append((name, dict(obj.attrs)))
        else:
            group, _, key = name.rpartition("/")
            datasets.append((group, key, obj))

    f.visititems(visit)
    order = {name: i for i, (name, _) in enumerate(groups)}
    datasets.sort(key=lambda d: (order.get(d[0], -1), int(d[1]) if d[1].isdigit() else 0, d[1]))
    return groups, datasets


def _plan(datasets: List[Tuple[str, str, Any]], limit: float, requested: Any) -> List[List[Tuple[str, str, Any]]]:
    """Datasets cut into shards of at most `limit` bytes each (a new shard when the next would overflow)."""
    shards: List[List[Tuple[str, str, Any]]] = [[]]
    size = 0
    for group, key, ds in datasets:
        nbytes = ds.size * ds.dtype.itemsize
        if nbytes > limit:
            raise ValueError(
                f"The weight {group}/{key} holds {nbytes} bytes, more than max_shard_size={requested!r} GB "
                f"({int(limit)} bytes) allows in one shard; a weight is never split. Increase max_shard_size to "
                f"at least {nbytes / GB:.6g}."
            )
        if size + nbytes > limit and shards[-1]:
            shards.append([])
            size = 0
        shards[-1].append((group, key, ds))
        size += nbytes
    return shards


def _shard_bytes(part: List[Tuple[str, str, Any]], groups: List[Tuple[str, Any]], first: bool) -> bytes:
    h5py = _h5py()
    attrs = dict(groups)
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as out:
        if first:  # the first shard carries every group (with its name), as Keras's does
            for name, values in groups:
                out.require_group(name).attrs.update(values)
        for group, key, ds in part:
            target = out.require_group(group)
            target.attrs.update(attrs.get(group, {}))
            copy = target.create_dataset(key, data=ds[()])
            copy.attrs.update(dict(ds.attrs))
    return buffer.getvalue()


def save_sharded_weights(model: nn.Module, filepath: Any, max_shard_size: Any, overwrite: bool = True) -> str:
    """Writes `model`'s weights as Keras 3's `model.save_weights(filepath, max_shard_size=...)` does.

    Args:
        model: a built kerasish model.
        filepath: the index, ending in `.weights.json` (a `.weights.h5` name is renamed, with a
            warning, as Keras does). The shards go beside it.
        max_shard_size: the largest shard, in gigabytes (2**30 bytes), an int or float.
        overwrite: replace existing files. Defaults to `True`.

    Returns:
        The index path written.

    Raises:
        TypeError / ValueError: for a bad `max_shard_size`, another suffix, or a weight larger
            than one shard (naming it and the size to ask for), before any file is written.
        FileExistsError: when the index exists and `overwrite=False`.

    Example:
        >>> import os, tempfile, kerasish
        >>> model = kerasish.Sequential([kerasish.Input((3,)), kerasish.layers.Dense(2)])
        >>> folder = tempfile.mkdtemp()
        >>> index = save_sharded_weights(model, os.path.join(folder, "m.weights.json"), max_shard_size=2.5e-8)
        >>> sorted(os.listdir(folder))
        ['m.weights.json', 'm_00000.weights.h5', 'm_00001.weights.h5']
        >>> load_sharded_weights(model, index)
    """
    limit = shard_size_bytes(max_shard_size)
    index = index_path(filepath)
    if os.path.exists(index) and not overwrite:
        raise FileExistsError(f"{index} exists; pass overwrite=True to replace it.")
    h5py = _h5py()
    base = _base_name(index)
    with h5py.File(io.BytesIO(keras_weights_bytes(model)), "r") as full:
        groups, datasets = _collect(full)
        plan = _plan(datasets, limit, max_shard_size)
        names = [f"{base}_{i:05d}{SHARD_SUFFIX}" for i in range(len(plan))]
        shards = [_shard_bytes(part, groups, i == 0) for i, part in enumerate(plan)]
        weight_map: Dict[str, List[str]] = {}
        for name, part in zip(names, plan):
            for group, _, _ in part:
                files = weight_map.setdefault("/" + group, [])
                if name not in files:
                    files.append(name)
        total = sum(ds.size * ds.dtype.itemsize for _, _, ds in datasets)
    folder = os.path.dirname(os.path.abspath(index))
    for name, data in zip(names, shards):
        with atomic_write(os.path.join(folder, name), "wb") as f:
            f.write(data)
    with atomic_write(index, "w") as f:  # last: an index never names a shard that is not there
        f.write(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=4))
    return index


# --------------------------------------------------------------------------- reading
def _bad(index: str, why: str) -> ValueError:
    return ValueError(
        f"{index!r} is not a readable sharded weights index: {why}. Expected the '{INDEX_SUFFIX}' file Keras 3's "
        "model.save_weights(path, max_shard_size=...) writes, with its shards beside it."
    )


def _read_index(index: str) -> Dict[str, List[str]]:
    if not os.path.isfile(index):
        raise FileNotFoundError(
            f"No sharded weights index at {index!r}. Check the path (the working folder is {os.getcwd()!r}).")
    if os.path.getsize(index) > _INDEX_LIMIT:
        raise _bad(index, f"it holds {os.path.getsize(index)} bytes, more than the {_INDEX_LIMIT} allowed")
    with open(index, "rb") as f:
        config = parse_json(f.read(_INDEX_LIMIT + 1), index)
    weight_map = config.get("weight_map") if isinstance(config, dict) else None
    if not isinstance(weight_map, dict):
        raise _bad(index, "it has no 'weight_map' object")
    out: Dict[str, List[str]] = {}
    for group, files in weight_map.items():
        files = [files] if isinstance(files, str) else files
        if not isinstance(files, list) or not all(isinstance(n, str) for n in files):
            raise _bad(index, f"weight_map[{group!r}] is {files!r}; expected a shard file name or a list of them")
        out[group] = files
    return out


def _shard_path(index: str, name: str) -> str:
    if (os.path.basename(name) != name or "/" in name or "\\" in name or name in (".", "..")
            or not name.endswith(SHARD_SUFFIX)):
        raise _bad(index, f"it names the shard {name!r}, which is not a plain '*{SHARD_SUFFIX}' file name (shards "
                          "sit beside the index; folders and '..' are refused)")
    path = os.path.join(os.path.dirname(os.path.abspath(index)), name)
    if os.path.islink(path):
        raise _bad(index, f"its shard {name!r} is a symbolic link; shards must be plain files beside the index")
    if not os.path.isfile(path):
        raise _bad(index, f"its shard {name!r} is missing (looked for {path!r}); copy every "
                          f"'{_base_name(index)}_*{SHARD_SUFFIX}' file together with the index")
    return path


def _copy_shard(path: str, out: Any, seen: Dict[str, str]) -> None:
    """Checks one shard (before reading any dataset) and copies its groups and datasets into `out`."""
    h5py = _h5py()
    where = repr(path)
    with open(path, "rb") as f:
        head = f.read(8)
    if head != h5_guard.HDF5_SIGNATURE:
        raise ValueError(f"The shard {where} is not an HDF5 file (it starts with {head!r}); it is damaged or was "
                         "replaced. Save the sharded weights again.")
    stored = os.path.getsize(path)
    fix = "save the sharded weights again with model.save_weights(path, max_shard_size=...)."
    try:
        shard = h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"The shard {where} cannot be opened as HDF5 ({e}): it is truncated or corrupt; {fix}") \
            from None
    with shard:
        pending = [("", shard)]
        found = []
        while pending:
            prefix, group = pending.pop()
            for name in group:
                p = f"{prefix}{name}"
                h5_guard.check_link(group.get(name, getlink=True), where, repr(p), "Keras weights shards", fix)
                obj = group[name]
                if isinstance(obj, h5py.Group):
                    if isinstance(out.get(p), h5py.Dataset):
                        raise ValueError(f"The shard {where} has a group at {p!r} where another shard has a dataset; "
                                         f"the shards do not belong together. {fix[0].upper()}{fix[1:]}")
                    out.require_group(p).attrs.update(dict(obj.attrs))
                    pending.append((p + "/", obj))
                else:
                    h5_guard.check_dataset(obj, where, repr(p), stored, "Keras weights shards", fix)
                    found.append((p, obj))
        for p, ds in found:
            if p in seen:
                raise ValueError(f"The dataset {p!r} is in two shards ({seen[p]!r} and {os.path.basename(path)!r}); "
                                 f"a weight lives in exactly one shard. {fix[0].upper()}{fix[1:]}")
            seen[p] = os.path.basename(path)
            if p in out:
                raise ValueError(f"The shard {where} has a dataset at {p!r} where another shard has a group; the "
                                 f"shards do not belong together. {fix[0].upper()}{fix[1:]}")
            try:
                copy = out.create_dataset(p, data=ds[()])
            except OSError as e:
                raise ValueError(f"Reading {p!r} from the shard {where} failed ({e}): it is truncated or corrupt; "
                                 f"{fix}") from None
            copy.attrs.update(dict(ds.attrs))


def load_sharded_weights(model: nn.Module, filepath: Any, skip_mismatch: bool = False) -> None:
    """Loads Keras 3 sharded weights (a `.weights.json` index and its shards) into `model`.

    Args:
        model: a built kerasish model with the architecture the weights were saved from.
        filepath: the `.weights.json` index.
        skip_mismatch: keep (with a warning) the weights of layers that do not fit, as Keras
            does. Defaults to `False`.

    Raises:
        FileNotFoundError: when the index is missing.
        ValueError: for a malformed index, a shard name that is not a plain file beside the
            index, a missing, linked or hostile shard, or weights that do not fit the model;
            no weight changes then.
    """
    h5py = _h5py()
    index = os.fspath(filepath)
    weight_map = _read_index(index)
    names: List[str] = []
    for files in weight_map.values():
        names.extend(n for n in files if n not in names)
    if len(names) > _MAX_SHARDS:
        raise _bad(index, f"it names {len(names)} shards, more than the {_MAX_SHARDS} allowed")
    paths = [_shard_path(index, n) for n in names]  # every name checked before any shard is opened
    buffer = io.BytesIO()
    seen: Dict[str, str] = {}
    with h5py.File(buffer, "w") as merged:
        for path in paths:
            _copy_shard(path, merged, seen)
    try:
        read_keras_weights(model, buffer.getvalue(), skip_mismatch=skip_mismatch)
    except ValueError as e:
        raise ValueError(str(e).replace("the given bytes", f"the shards of {index!r}")) from None
