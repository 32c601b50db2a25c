"""Keras 3's `.weights.h5` format, both ways: files Keras writes load into the same kerasish
model, and files kerasish writes load into the same Keras model.

The file is HDF5 (read and written with h5py): one `vars` group per layer holding its own
variables as datasets `"0"`, `"1"`, ... in Keras's layout; `keras_paths` says which kerasish
tensor each path holds. Reading checks everything before it changes a weight: the file's
kind, links and declared dataset sizes (against the file's size, before any dataset is read),
then every group, key, shape and dtype against the model. Writing builds the file in memory
and replaces `path` through `atomic_write`, so a failed save leaves no half-written file.

- `write_keras_weights(model, 'x.weights.h5')` / `read_keras_weights(model, 'x.weights.h5')`;
  `read_keras_weights` also takes a `.keras` zip (its `model.weights.h5` member) or the bytes
  of a weights file; `keras_weights_bytes(model)` gives the bytes a `.keras` writer stores.
- A compiled model's optimizer state is written and read at `optimizer/vars`, as Keras does.
- A layer whose class defines Keras's `save_own_variables(store)` / `load_own_variables(store)`
  has them called with a `VariableStore` over its `<path>/vars` group, as Keras does. The file
  is checked in full first; the hooks then run before any default weight is copied, and if one
  fails, every tensor of the hooked layers is put back before the error: a file that does not
  fit still changes nothing.
"""

from __future__ import annotations

import io
import os
import warnings
import zipfile
from collections import defaultdict
from typing import Any, Dict, List, Set, Tuple, Union

import numpy as np
import torch
from torch import nn

from kerasish.layers.weight_layout import keras_shape
from kerasish.saving import h5_guard, keras_optimizer, zip_guard
from kerasish.saving.keras_paths import KerasEntry, KerasFileLayout, keras_layout
from kerasish.utils.io import atomic_write

PathOrBytes = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]

WEIGHTS_SUFFIX = ".weights.h5"
KERAS_ZIP_MEMBER = "model.weights.h5"  # the weights inside a `.keras` archive
_HDF5_SIGNATURE = h5_guard.HDF5_SIGNATURE


def _h5py() -> Any:
    return h5_guard.h5py_module("Keras's .weights.h5 format")


def _model_name(model: nn.Module) -> str:
    return repr(getattr(model, "name", type(model).__name__))


def _check_built(model: nn.Module, verb: str) -> None:
    if not getattr(model, "built", True):
        raise ValueError(
            f"Cannot {verb} Keras weights for model {_model_name(model)}: it is not built yet, so it has no "
            "weights. Build it first: give it an Input (or input_shape=...), or call it once on a batch."
        )


# --------------------------------------------------------------------------- bfloat16
# NumPy has no bfloat16: Keras stores such a variable as 2-byte opaque values (its bit pattern)
# with the attribute dtype='bfloat16'. kerasish reads and writes the same bits.
def _to_array(value: torch.Tensor) -> np.ndarray:
    value = value.detach().cpu().contiguous()
    if value.dtype == torch.bfloat16:
        return value.view(torch.int16).numpy().view("V2")
    return value.numpy()


def _is_bfloat16(dataset: Any) -> bool:
    return dataset.attrs.get("dtype") == "bfloat16" and dataset.dtype.itemsize == 2


def _from_dataset(dataset: Any) -> torch.Tensor:
    array = np.array(dataset[()])  # np.array keeps 0-d shapes
    if _is_bfloat16(dataset):
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(array)


# --------------------------------------------------------------------------- the hooks' stores
class VariableStore:
    """The dict-like store a layer's `save_own_variables(store)` fills and its
    `load_own_variables(store)` reads: the datasets of the layer's `<path>/vars` group, by key
    (Keras's defaults use `"0"`, `"1"`, ...; a hook may add its own keys, e.g. `"variables"`).

    Written values are NumPy arrays, torch tensors (a `kerasish.Variable` too) or numbers; read
    values are NumPy arrays (a torch tensor for bfloat16, which NumPy lacks). A store being read
    holds only what the file holds: asking for a key it lacks raises a `KeyError` that names the
    layer, the group and the keys there.
    """

    def __init__(self, layer: str, group: str, arrays: Dict[str, Any], writable: bool) -> None:
        self._layer = layer
        self._group = group
        self._arrays = arrays
        self._writable = writable
        self.bfloat16: Set[str] = set()  # keys written from bfloat16 tensors (Keras marks their datasets)

    def __setitem__(self, key: str, value: Any) -> None:
        if not self._writable:
            raise ValueError(f"Layer {self._layer!r}: load_own_variables() tried to set {key!r} in the store it "
                             "reads from. A load hook reads the store (store[key]) and assigns to the layer's "
                             "variables (variable.assign(store[key])).")
        if not isinstance(key, str) or not key or "/" in key:
            raise ValueError(f"Layer {self._layer!r}: save_own_variables() stored a value under key={key!r}; "
                             "expected a non-empty string without '/' (Keras's are '0', '1', ...). Rename the key.")
        if isinstance(value, torch.Tensor):
            if value.dtype == torch.bfloat16:
                self.bfloat16.add(key)
            array = _to_array(value)
        else:
            array = np.asarray(value.numpy() if callable(getattr(value, "numpy", None)) else value)
        if array.dtype.kind not in "biufc" and key not in self.bfloat16:
            raise ValueError(
                f"Layer {self._layer!r}: save_own_variables() stored {key!r} with dtype {array.dtype} "
                f"({type(value).__name__}); the weights file holds numeric arrays only. Store numbers, or write "
                "text and other files from save_assets(dir_path) instead.")
        self._arrays[key] = array

    def __getitem__(self, key: str) -> Any:
        if key not in self._arrays:
            raise KeyError(f"layer {self._layer!r} asked for {key!r}, which the file does not hold at "
                           f"{self._group!r} (it holds {sorted(self._arrays)})")
        return self._arrays[key]

    def __delitem__(self, key: str) -> None:
        if not self._writable:
            raise ValueError(f"Layer {self._layer!r}: load_own_variables() tried to delete {key!r} from the store "
                             "it reads from; a load hook only reads it.")
        del self._arrays[key]
        self.bfloat16.discard(key)

    def __contains__(self, key: object) -> bool:
        return key in self._arrays

    def __len__(self) -> int:
        return len(self._arrays)

    def __iter__(self) -> Any:
        return iter(self._arrays)

    def keys(self) -> Any:
        return self._arrays.keys()

    def items(self) -> Any:
        return self._arrays.items()

    def get(self, key: str, default: Any = None) -> Any:
        return self._arrays.get(key, default)


def _hook_stores(layout: KerasFileLayout) -> Dict[str, VariableStore]:
    """What each layer with a user `save_own_variables` stores, by its `vars` group."""
    stores = {}
    for group, layer in layout.hooked("save_own_variables").items():
        stores[group] = VariableStore(layer.name, group, {}, writable=True)
        layer.save_own_variables(stores[group])
    return stores


def _state_of(layers: List[nn.Module]) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    """A copy of every tensor the layers hold, to put back if a load hook fails halfway."""
    seen: Dict[int, torch.Tensor] = {}
    for layer in layers:
        for t in list(layer.parameters()) + list(layer.buffers()):
            seen.setdefault(id(t), t)
    return [(t, t.detach().clone()) for t in seen.values()]


def _restore(saved: List[Tuple[torch.Tensor, torch.Tensor]]) -> None:
    with torch.no_grad():
        for tensor, value in saved:
            tensor.copy_(value)


# --------------------------------------------------------------------------- writing
def keras_weights_bytes(model: nn.Module) -> bytes:
    """The bytes of a Keras 3 `.weights.h5` file holding `model`'s weights.

    Args:
        model: a built kerasish model (or layer).

    Returns:
        An HDF5 file's bytes, laid out as Keras 3's `model.save_weights` lays it out.

    Raises:
        ValueError: if `model` is not built, or holds state Keras's file cannot carry here.
    """
    _check_built(model, "write")
    layout = keras_layout(model)
    stores = _hook_stores(layout)  # a user's save_own_variables replaces its layer's defaults
    entries = [e for e in layout.entries if e.group not in stores]
    arrays = []
    for e in entries:
        value = e.tensor.detach()
        if e.layout is not None:
            value = e.layout.to_keras(value)
        arrays.append(_to_array(value))
    h5py = _h5py()
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        for group, name in layout.groups:
            f.require_group(group).attrs["name"] = name
        for e, array in zip(entries, arrays):
            group = f.require_group(e.group)
            if e.key not in group:
                dataset = group.create_dataset(e.key, data=array)
                if e.tensor.dtype == torch.bfloat16:
                    dataset.attrs["dtype"] = "bfloat16"  # Keras's marker on its 2-byte opaque datasets
        for name, store in stores.items():
            group = f.require_group(name)
            for key, array in store.items():
                dataset = group.create_dataset(key, data=array)
                if key in store.bfloat16:
                    dataset.attrs["dtype"] = "bfloat16"
        keras_optimizer.write_group(f, model)  # a compiled model's optimizer, as Keras writes it
    return buffer.getvalue()


def write_keras_weights(model: nn.Module, path: Union[str, "os.PathLike[str]"]) -> None:
    """Writes `model`'s weights as Keras 3's `model.save_weights(path)` does.

    The file is built in memory first and replaces `path` atomically: a failure leaves any
    earlier file at `path` untouched and no partial file behind.

    Args:
        path: the file to write; its name must end in `.weights.h5`, as Keras requires.

    Raises:
        ValueError: for another suffix, an unbuilt model, or state Keras's file cannot carry.

    Example:
        >>> import os, tempfile, kerasish
        >>> model = kerasish.Sequential([kerasish.Input((3,)), kerasish.layers.Dense(2)])
        >>> path = os.path.join(tempfile.mkdtemp(), "model.weights.h5")
        >>> write_keras_weights(model, path)
        >>> read_keras_weights(model, path)
    """
    path = os.fspath(path)
    if not path.endswith(WEIGHTS_SUFFIX):
        raise ValueError(
            f"Keras weights files must end in '{WEIGHTS_SUFFIX}', received path={path!r}. "
            f"Name the file e.g. 'model{WEIGHTS_SUFFIX}' (Keras's load_weights picks the format by this suffix)."
        )
    data = keras_weights_bytes(model)
    with atomic_write(path, "wb") as f:
        f.write(data)


# --------------------------------------------------------------------------- reading: the file
def _open_source(source: PathOrBytes) -> Tuple[Any, int, str]:
    """(what h5py opens, the stored size in bytes, a description for messages)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        return io.BytesIO(data), len(data), "the given bytes"
    path = os.fspath(source)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No weights file at {path!r}. Expected a Keras '{WEIGHTS_SUFFIX}' file or a '.keras' archive; "
            "check the path (relative paths start from the current folder)."
        )
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            # The same bounded reading as every other archive (duplicates, names escaping it, zip bombs).
            bad = lambda why: ValueError(f"{path!r} is not a readable '.keras' archive: {why}.")  # noqa: E731
            members = zip_guard.check_members(archive, bad)
            if KERAS_ZIP_MEMBER not in members:
                raise ValueError(
                    f"{path!r} is a zip archive without a {KERAS_ZIP_MEMBER!r} member (it holds "
                    f"{archive.namelist()[:10]}). Expected a '.keras' file written by Keras 3's model.save; "
                    "a kerasish '.kerasish' file loads with kerasish.saving.load_model."
                )
            data = zip_guard.read_bounded(archive, KERAS_ZIP_MEMBER, bad)
        return io.BytesIO(data), len(data), f"{KERAS_ZIP_MEMBER!r} in {path!r}"
    return path, os.path.getsize(path), repr(path)


def _open_h5(target: Any, where: str) -> Any:
    h5py = _h5py()
    if isinstance(target, io.BytesIO):
        head = target.getvalue()[:8]
    else:
        with open(target, "rb") as f:
            head = f.read(8)
    if head != _HDF5_SIGNATURE:
        raise ValueError(
            f"{where} is not an HDF5 file (it starts with {head!r}). Expected a Keras 3 '{WEIGHTS_SUFFIX}' file "
            "written by model.save_weights; kerasish's own weights load with load_weights('w.safetensors')."
        )
    try:
        return h5py.File(target, "r")
    except OSError as e:
        raise ValueError(
            f"{where} cannot be opened as HDF5 ({e}): it is truncated or corrupt. Write it again with Keras's "
            "model.save_weights (or kerasish's write_keras_weights)."
        ) from None


def _scan(f: Any, stored: int, where: str) -> Dict[str, Any]:
    """Every dataset of the file by path, after refusing links, external or virtual datasets and
    datasets that declare far more bytes than the file holds (nothing is read here)."""
    h5py = _h5py()
    datasets: Dict[str, Any] = {}
    pending = [("", f)]
    while pending:
        prefix, group = pending.pop()
        for name in group:
            path = f"{prefix}{name}"
            h5_guard.check_link(group.get(name, getlink=True), where, repr(path), "Keras weights files",
                                "Re-save the weights with model.save_weights.")
            obj = group[name]
            if isinstance(obj, h5py.Group):
                pending.append((path + "/", obj))
                continue
            h5_guard.check_dataset(obj, where, repr(path), stored, "Keras weights files",
                                   "re-save the weights with Keras's model.save_weights.")
            datasets[path] = obj
    return datasets


def _check_kind(f: Any, model: nn.Module, groups: Dict[str, List[KerasEntry]], where: str) -> None:
    if "layer_names" in f.attrs or "model_weights" in f:
        raise ValueError(
            f"{where} is a legacy tf.keras HDF5 weights file (it has a 'layer_names' attribute or a "
            "'model_weights' group), not Keras 3's '.weights.h5' layout. Load it with model.load_weights(path) "
            "under a name ending in '.h5' (not '.weights.h5'), which reads tf.keras 2's layout; "
            "kerasish.load_model('model.h5') reads a whole tf.keras 2 model."
        )
    if "vars" not in f and not any(g in f for g in groups):
        raise ValueError(
            f"{where} is HDF5 but not Keras 3's weights layout: it has no 'vars' group and none of the model's "
            f"groups (it holds {sorted(f.keys())[:10]}). Expected a file from Keras 3's model.save_weights "
            f"for model {_model_name(model)}."
        )


# --------------------------------------------------------------------------- reading: the checks
def _dtype_ok(tensor: torch.Tensor, dataset: Any) -> bool:
    kind = "f" if _is_bfloat16(dataset) else dataset.dtype.kind
    if tensor.is_floating_point():
        return kind == "f"
    if tensor.dtype == torch.bool:
        return kind == "b"
    return kind in "iu"


def _by_group(datasets: Dict[str, Any]) -> Dict[str, set]:
    out: Dict[str, set] = defaultdict(set)
    for path in datasets:
        group, _, key = path.rpartition("/")
        out[group].add(key)
    return out


def _check_group(group: str, entries: List[KerasEntry], datasets: Dict[str, Any], present: set) -> List[str]:
    layer = entries[0].layer
    wanted = [e.key for e in entries]
    if not present:
        return [f"layer {layer!r}: the file has no weights at {group!r} (expected datasets {wanted})."]
    problems = []
    if present != set(wanted):
        problems.append(
            f"layer {layer!r}: the file has datasets {sorted(present)} at {group!r}, the model expects {wanted}."
        )
    for e in entries:
        ds = datasets.get(e.path)
        if ds is None:
            continue
        expected = keras_shape(e.tensor, e.layout)
        if tuple(ds.shape) != expected:
            problems.append(
                f"layer {layer!r}: {e.path!r} has shape {tuple(ds.shape)} in the file, the model's weight has "
                f"shape {expected}."
            )
        elif not _dtype_ok(e.tensor, ds):
            found = ds.attrs.get("dtype", str(ds.dtype))
            problems.append(
                f"layer {layer!r}: {e.path!r} has dtype {found} in the file, the model's weight is "
                f"{str(e.tensor.dtype).replace('torch.', '')}."
            )
    return problems


def _unexpected(datasets: Dict[str, Any], groups: Dict[str, List[KerasEntry]], model_paths: List[str]) -> List[str]:
    skipped = tuple(f"{p}/optimizer/".lstrip("/") for p in model_paths)
    extra = defaultdict(list)
    for path in datasets:
        group = path.rsplit("/", 1)[0] if "/" in path else ""
        if group not in groups and not path.startswith(skipped):
            extra[group].append(path)
    return [f"the file holds weights at {g!r} ({len(paths)} datasets) where the model has none."
            for g, paths in extra.items()]


def _store_value(dataset: Any) -> Any:
    """What a load hook's store gives for a dataset: a NumPy array (torch's bfloat16 for bfloat16)."""
    return _from_dataset(dataset) if _is_bfloat16(dataset) else np.array(dataset[()])


def _run_load_hooks(hooked: Dict[str, Any], stores: Dict[str, VariableStore], where: str,
                    skip_mismatch: bool) -> None:
    """Calls each user `load_own_variables(store)` in Keras's order. A hook that fails (a key the
    file lacks, a value of the wrong shape) has every change of every hook undone before the error
    (or, with `skip_mismatch`, its own layer's changes before a warning)."""
    if not hooked:
        return
    saved = _state_of(list(hooked.values()))
    for group, layer in hooked.items():
        mine = _state_of([layer]) if skip_mismatch else []
        try:
            layer.load_own_variables(stores[group])
        except Exception as e:  # the user's code: any failure is reported with its layer and re-raised
            held = sorted(stores[group].keys())
            why = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
            message = (f"layer {layer.name!r} ({type(layer).__name__}): its load_own_variables() failed on the "
                       f"weights at {group!r}: {type(e).__name__}: {why}. The file holds {held} there")
            if skip_mismatch:
                _restore(mine)
                warnings.warn(f"Skipping {message}; it keeps its current weights (skip_mismatch=True).",
                              stacklevel=3)
                continue
            _restore(saved)
            raise ValueError(
                f"The weights in {where} do not fit: {message}. No weight was changed. Save the file from a model "
                "whose layer has the same save_own_variables(), or make load_own_variables() read the keys the "
                "file holds.") from e


def read_keras_weights(model: nn.Module, path: PathOrBytes, skip_mismatch: bool = False) -> None:
    """Loads a Keras 3 weights file into `model`, as Keras's `model.load_weights(path)` does.

    Layers are matched by their place in the model (Keras's paths come from class names and
    structure, not layer names), so the file fits any model built the same way. When `model` is
    compiled, the optimizer's variables (`optimizer/vars`) are restored too (`keras_optimizer`:
    the optimizer is built first; a state that does not fit leaves it fresh, with a warning).

    Args:
        model: a built kerasish model (or layer) with the architecture the file was saved from.
        path: a `.weights.h5` file, a `.keras` archive (its `model.weights.h5` is read), or the
            bytes of a weights file.
        skip_mismatch: if True, a layer whose weights are missing from the file or differ in
            number, shape or dtype keeps its weights and a warning names it, as in Keras.
            Defaults to `False`.

    Raises:
        FileNotFoundError: if `path` does not exist.
        ValueError: for a file that is not Keras 3's weights layout (naming what it is and how to
            convert it), truncated or unsafe, or (unless `skip_mismatch`) a layer whose weights are
            missing or differ; nothing in `model` changes then.
    """
    _check_built(model, "load")
    layout = keras_layout(model)
    hooked = layout.hooked("load_own_variables")  # these groups are read by the user's hook, not checked here
    groups: Dict[str, List[KerasEntry]] = defaultdict(list)
    for e in layout.entries:
        if e.group not in hooked:
            groups[e.group].append(e)
    known = {**groups, **{g: [] for g in hooked}}
    target, stored, where = _open_source(path)
    with _open_h5(target, where) as f:
        _check_kind(f, model, known, where)
        datasets = _scan(f, stored, where)
        problems: List[Tuple[str, List[str]]] = []
        keys = _by_group(datasets)
        for group, entries in groups.items():
            found = _check_group(group, entries, datasets, keys.get(group, set()))
            if found:
                problems.append((group, found))
        extra = _unexpected(datasets, known, layout.model_paths)
        messages = [m for _, found in problems for m in found] + extra
        if messages and not skip_mismatch:
            raise ValueError(
                f"The weights in {where} do not fit model {_model_name(model)}: {len(messages)} problem(s); "
                f"first: {messages[0]} All: {messages}. Build the model with the same layers, in the same order "
                "and with the same shapes, as the model that saved the file, or pass skip_mismatch=True to load "
                "the layers that fit."
            )
        if messages:
            warnings.warn(
                f"Skipping {len(problems)} layer(s) whose weights in {where} do not fit model "
                f"{_model_name(model)} (skip_mismatch=True); they keep their current weights: {messages}",
                stacklevel=2,
            )
        failed = {group for group, _ in problems}
        loads = []
        try:
            stores = {g: VariableStore(layer.name, g, {k: _store_value(datasets[f"{g}/{k}"])
                                                       for k in sorted(keys.get(g, ()))}, writable=False)
                      for g, layer in hooked.items()}
            for e in layout.entries:
                if e.group in failed or e.group in hooked:
                    continue
                value = _from_dataset(datasets[e.path])
                if e.layout is not None:
                    value = e.layout.from_keras(value, tuple(e.tensor.shape))
                loads.append((e.tensor, value.to(e.tensor.dtype)))
        except OSError as err:
            raise ValueError(
                f"Reading {where} failed ({err}): the file is truncated or corrupt; no weight was changed. "
                "Write it again with Keras's model.save_weights."
            ) from None
        _run_load_hooks(hooked, stores, where, skip_mismatch)  # puts everything back if a hook fails
        with torch.no_grad():
            for tensor, value in loads:
                tensor.copy_(value)
        if getattr(model, "optimizer", None) is not None:
            keras_optimizer.read_group(f, model, where)  # builds the optimizer, then restores its state
