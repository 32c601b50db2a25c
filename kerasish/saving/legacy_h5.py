"""Legacy tf.keras (Keras 2) HDF5 files, read only: whole models and weights.

tf.keras 2 wrote a whole model (`model.save('m.h5')`: root attributes `model_config` (JSON),
`keras_version`, `backend`, `training_config` when compiled, the weights under `model_weights`)
or weights only (`model.save_weights('w.h5')`: the same weight groups at the root). A weights
group lists its layers in the attribute `layer_names`; each layer's group lists its weights in
`weight_names` (`'dense/kernel:0'`, ...), stored as datasets at those paths, trainable weights
first. Loading matches the layers that have weights by position (model order against file
order) or, with `by_name=True`, by name, as Keras 3's `load_weights_from_hdf5_group(_by_name)`.
Like Keras 3, kerasish does not write this format (save `.keras` or `.weights.h5` instead).

Nothing in the file is trusted: links and data stored outside the file are refused, every
dataset's declared size is bounded by the file's size before it is read, the JSON's nesting is
checked before parsing, no code is evaluated, and a `Lambda` is refused in safe mode (bytecode
always). Every count and shape is checked before any weight changes.
"""

from __future__ import annotations

import copy
import os
import warnings
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np
import torch
from torch import nn

from kerasish.layers.weight_layout import keras_shape, layouts_under
from kerasish.saving import h5_guard
from kerasish.saving.json_guard import parse_json
from kerasish.saving.keras_config import from_keras_config
from kerasish.utils.text import short_repr

__all__ = ["load_legacy_h5_model", "load_legacy_h5_weights"]

PathLike = Union[str, "os.PathLike[str]"]
_HDF5_SIGNATURE = h5_guard.HDF5_SIGNATURE
_MAX_NAMES = 1_000_000  # entries of a `layer_names` / `weight_names` attribute list
# Keys tf.keras 2 writes that Keras 3 (and kerasish) lack, with the values that compute the same.
# `implementation` picks an RNN kernel schedule only; `time_major` changes the input layout.
_KERAS2_ONLY_KEYS: Dict[str, Tuple[Any, ...]] = {"time_major": (False,), "implementation": (0, 1, 2)}
_LOSS_REDUCTIONS = {"auto": "sum_over_batch_size", "sum_over_batch_size": "sum_over_batch_size"}


def _h5py() -> Any:
    return h5_guard.h5py_module("Legacy tf.keras .h5 files")


# =========================================================================== the file
class _File:
    """An opened legacy file with the checks every access goes through."""

    def __init__(self, path: PathLike) -> None:
        h5py = _h5py()
        self.path = os.fspath(path)
        self.where = repr(self.path)
        if not os.path.isfile(self.path):
            raise FileNotFoundError(
                f"No file at {self.path!r}. Expected a legacy tf.keras '.h5' file (from model.save('m.h5') or "
                "model.save_weights('w.h5')); check the path (relative paths start from the current folder)."
            )
        with open(self.path, "rb") as f:
            head = f.read(8)
        if head != _HDF5_SIGNATURE:
            raise ValueError(
                f"{self.where} is not an HDF5 file (it starts with {head!r}). Expected a legacy tf.keras '.h5' "
                "file; a '.keras' file loads with load_model('model.keras')."
            )
        self.stored = os.path.getsize(self.path)
        try:
            self.f = h5py.File(self.path, "r")
        except OSError as e:
            raise ValueError(f"{self.where} cannot be opened as HDF5 ({e}): it is truncated or corrupt. "
                             "Save it again from tf.keras.") from None

    def __enter__(self) -> "_File":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.f.close()

    def child(self, group: Any, name: str, kind: str) -> Any:
        """`group[name]` (a path of several parts allowed), refusing links, a missing entry or the
        wrong kind (`'group'` or `'dataset'`), and datasets that are unsafe to read."""
        h5py = _h5py()
        current = group
        parts = name.split("/")
        for i, part in enumerate(parts):
            here = "/".join(parts[: i + 1])
            if not part or part not in current:
                raise ValueError(f"{self.where} has no entry {group.name.rstrip('/')}/{here}. The file is incomplete or "
                                 "not a tf.keras weights file; save it again from tf.keras.")
            h5_guard.check_link(current.get(part, getlink=True), self.where, f"{group.name.rstrip('/')}/{here}",
                                "tf.keras files", "Save the model again from tf.keras.")
            current = current[part]
        want = h5py.Group if kind == "group" else h5py.Dataset
        if not isinstance(current, want):
            raise ValueError(f"{self.where}: {current.name!r} is not a {kind}, as a tf.keras file has it there.")
        if kind == "dataset":
            self._check_dataset(current)
        return current

    def _check_dataset(self, ds: Any) -> None:
        h5_guard.check_dataset(ds, self.where, repr(ds.name), self.stored, "tf.keras files",
                               "save the model again from tf.keras.")
        if ds.dtype.kind not in "fiub":
            raise ValueError(f"{self.where}: dataset {ds.name!r} has dtype {ds.dtype}, not a number type; "
                             "a weight is a numeric array. The file is damaged; save it again.")

    def names(self, group: Any, attr: str) -> List[str]:
        """A list attribute as tf.keras writes it: whole, or split in chunks `attr0`, `attr1`, ..."""
        if attr in group.attrs:
            chunks = [group.attrs[attr]]
        else:
            chunks, i = [], 0
            while f"{attr}{i}" in group.attrs and i < _MAX_NAMES:
                chunks.append(group.attrs[f"{attr}{i}"])
                i += 1
        out: List[str] = []
        for chunk in chunks:
            for n in np.atleast_1d(np.asarray(chunk)).tolist():
                out.append(n.decode("utf-8") if isinstance(n, bytes) else str(n))
        return out[:_MAX_NAMES]

    def json_attr(self, attr: str) -> Any:
        """A root attribute holding JSON (bytes or text), parsed with its depth checked; None if absent."""
        value = self.f.attrs.get(attr)
        if isinstance(value, np.ndarray) and value.shape == ():
            value = value[()]
        if value is None or isinstance(value, (bytes, str)):
            return None if value is None else parse_json(value, f"The {attr} of {self.where}")
        raise ValueError(f"{self.where}: the attribute {attr!r} is {short_repr(value)}, expected JSON text. The "
                         "file is damaged; save it again from tf.keras.")

    def weights_root(self) -> Any:
        if "model_weights" in self.f:
            return self.child(self.f, "model_weights", "group")
        if "layer_names" in self.f.attrs or "layer_names0" in self.f.attrs:
            return self.f
        if "vars" in self.f or "_layer_checkpoint_dependencies" in self.f or "layers" in self.f:
            raise ValueError(
                f"{self.where} is Keras 3's weights layout, not a legacy tf.keras one. Rename it to end in "
                "'.weights.h5' and load it with model.load_weights('model.weights.h5')."
            )
        raise ValueError(
            f"{self.where} is HDF5 but not a tf.keras weights file: it has no 'model_weights' group and no "
            f"'layer_names' attribute (it holds {sorted(self.f.keys())[:10]}). Expected a file from tf.keras's "
            "model.save('m.h5') or model.save_weights('w.h5')."
        )


# =========================================================================== weights
def _legacy_order(module: nn.Module) -> List[torch.Tensor]:
    """The weights in the order tf.keras stored them: trainable first, then the rest."""
    return list(module.trainable_weights) + list(module.non_trainable_weights)


def _own_weights(model: nn.Module) -> List[torch.Tensor]:
    """Weights the model holds itself, outside its layers (Keras's `top_level_model_weights`)."""
    own = [p for p in model._parameters.values() if p is not None]
    return [p for p in own if p.requires_grad] + [p for p in own if not p.requires_grad]


class _Plan:
    """The weight copies a load will make, and what did not fit; nothing changes until `apply`."""

    def __init__(self, model: nn.Module, skip_mismatch: bool) -> None:
        self.layouts = layouts_under(model)
        self.skip_mismatch = skip_mismatch
        self.copies: List[Tuple[torch.Tensor, Any]] = []
        self.skipped: List[str] = []

    def count(self, what: str, expected: int, received: int, fatal: bool) -> bool:
        if expected == received:
            return True
        message = (f"Weight count mismatch for {what}: the layer expects {expected} weight(s), the file holds "
                   f"{received}.")
        if fatal or not self.skip_mismatch:
            raise ValueError(
                f"{message} Build the model with the same layers (and options such as use_bias) as the model "
                "that saved the file" + ("." if fatal else ", or pass skip_mismatch=True to skip this layer.")
            )
        self.skipped.append(message)
        return False

    def weights(self, what: str, tensors: List[torch.Tensor], datasets: List[Any]) -> None:
        for i, (tensor, ds) in enumerate(zip(tensors, datasets)):
            expected = keras_shape(tensor, self.layouts.get(id(tensor)))
            if tuple(ds.shape) != expected:
                message = (f"Shape mismatch in {what} for weight {i} ({ds.name.rsplit('/', 1)[-1]!r}): the model's "
                           f"weight has shape {expected}, the file's has shape {tuple(ds.shape)}.")
                if not self.skip_mismatch:
                    raise ValueError(f"{message} Build the model with the same shapes as the model that saved the "
                                     "file, or pass skip_mismatch=True to skip the weights that do not fit.")
                self.skipped.append(message)
                continue
            if tensor.is_floating_point() != (ds.dtype.kind == "f"):
                raise ValueError(f"{what}: weight {i} is {str(tensor.dtype).replace('torch.', '')} in the model but "
                                 f"{ds.dtype} in the file. Save the weights again from the same model.")
            self.copies.append((tensor, ds))

    def apply(self, where: str) -> None:
        if self.skipped:
            warnings.warn(f"Skipping weights of {where} that do not fit the model (skip_mismatch=True); they keep "
                          f"their current values: {self.skipped}", stacklevel=4)  # the caller of load_legacy_h5_*
        values = []
        try:
            for tensor, ds in self.copies:
                value = torch.from_numpy(np.array(ds[()]))
                layout = self.layouts.get(id(tensor))
                if layout is not None:
                    value = layout.from_keras(value, tuple(tensor.shape))
                values.append(value.to(tensor.dtype))
        except OSError as err:
            raise ValueError(f"Reading {where} failed ({err}): the file is truncated or corrupt; no weight was "
                             "changed. Save it again from tf.keras.") from None
        with torch.no_grad():
            for (tensor, _), value in zip(self.copies, values):
                tensor.copy_(value)


def _datasets(h5: _File, group: Any) -> List[Any]:
    """A layer group's datasets in its `weight_names` order (checked, not read)."""
    return [h5.child(group, w, "dataset") for w in h5.names(group, "weight_names")]


def _file_layers(h5: _File, root: Any) -> List[Tuple[str, List[Any]]]:
    """(layer name, its datasets) for every layer the file lists, in its `layer_names` order."""
    return [(name, _datasets(h5, h5.child(root, name, "group"))) for name in h5.names(root, "layer_names")]


def _model_layers(model: nn.Module) -> List[nn.Module]:
    layers = getattr(model, "layers", None)
    if layers is None:
        raise TypeError(f"load_legacy_h5_weights expects a kerasish model with `layers`, received "
                        f"{type(model).__name__}. Load into a kerasish Sequential, functional or subclassed Model.")
    return list(layers)


def _top_level(h5: _File, root: Any, model: nn.Module, plan: _Plan, by_name: bool) -> None:
    if "top_level_model_weights" not in root:
        return
    datasets = _datasets(h5, h5.child(root, "top_level_model_weights", "group"))
    if not datasets:
        return
    own = _own_weights(model)
    if plan.count("the model's top-level weights", len(own), len(datasets), fatal=not by_name):
        plan.weights("the model's top-level weights", own, datasets)


def _plan_in_order(h5: _File, root: Any, model: nn.Module, plan: _Plan) -> None:
    layers = [layer for layer in _model_layers(model) if _legacy_order(layer)]
    saved = [(name, ds) for name, ds in _file_layers(h5, root) if ds]
    if len(layers) != len(saved):
        raise ValueError(
            f"Layer count mismatch when loading weights from {h5.where}: the model has {len(layers)} layer(s) with "
            f"weights ({[layer.name for layer in layers]}), the file has {len(saved)} "
            f"({[name for name, _ in saved]}). Build the same architecture as the model that saved the file, or "
            "pass by_name=True to load the layers whose names match."
        )
    for k, (layer, (name, datasets)) in enumerate(zip(layers, saved)):
        what = f"layer #{k} (named {layer.name!r} in the model, {name!r} in the file)"
        tensors = _legacy_order(layer)
        plan.count(what, len(tensors), len(datasets), fatal=True)
        plan.weights(what, tensors, datasets)


def _plan_by_name(h5: _File, root: Any, model: nn.Module, plan: _Plan) -> None:
    index: Dict[str, List[nn.Module]] = {}
    for layer in _model_layers(model):
        index.setdefault(layer.name, []).append(layer)
    for k, (name, datasets) in enumerate(_file_layers(h5, root)):
        for layer in index.get(name, []):  # layers the file does not name keep their weights, as in Keras
            what = f"layer #{k} (named {name!r})"
            tensors = _legacy_order(layer)
            if plan.count(what, len(tensors), len(datasets), fatal=False):
                plan.weights(what, tensors, datasets)


def _load_weights(h5: _File, model: nn.Module, by_name: bool, skip_mismatch: bool) -> None:
    if not getattr(model, "built", True):
        raise ValueError(f"Cannot load weights into model {getattr(model, 'name', '?')!r}: it is not built yet, so "
                         "it has no weights. Give it an Input (or input_shape=...), or call it once on a batch.")
    root = h5.weights_root()
    plan = _Plan(model, skip_mismatch)
    (_plan_by_name if by_name else _plan_in_order)(h5, root, model, plan)
    _top_level(h5, root, model, plan, by_name)
    plan.apply(h5.where)


def load_legacy_h5_weights(model: nn.Module, path: PathLike, by_name: bool = False,
                           skip_mismatch: bool = False) -> None:
    """Loads the weights of a legacy tf.keras `.h5` file (weights-only or whole-model) into `model`.

    As Keras's legacy loader: by default the layers that have weights are matched by position
    (model order against the file's `layer_names` order) and each layer's weights arrive in the
    file's order (trainable first, then the rest), in Keras's layout. With `by_name=True` a
    layer receives the weights the file stores under its name, and layers the file does not
    name keep theirs.

    Args:
        model: a built kerasish model.
        path: the `.h5` file.
        by_name: match layers by name instead of position. Defaults to `False`.
        skip_mismatch: skip (with a warning) weights whose shape differs and, with
            `by_name=True`, layers whose number of weights differs. Defaults to `False`.

    Raises:
        FileNotFoundError: if `path` does not exist.
        ValueError: for a file that is not a legacy tf.keras file or is unsafe to read, a
            different number of layers (by position) or of weights in a layer, or a shape that
            differs (unless `skip_mismatch`); no weight changes then.

    Example:
        >>> import kerasish
        >>> model = kerasish.Sequential([kerasish.Input((4,)), kerasish.layers.Dense(2)])
        >>> load_legacy_h5_weights(model, "weights.h5")  # doctest: +SKIP
    """
    with _File(path) as h5:
        _load_weights(h5, model, by_name, skip_mismatch)


# =========================================================================== Keras 2 config -> Keras 3
def _strip_passive(value: Any) -> Any:
    """The config without tf.keras's `__passive_serialization__` markers."""
    if isinstance(value, Mapping):
        return {k: _strip_passive(v) for k, v in value.items() if k != "__passive_serialization__"}
    if isinstance(value, list):
        return [_strip_passive(v) for v in value]
    return value


def _envelope(entry: Any, where: str) -> Dict[str, Any]:
    """Keras 3's envelope for one layer entry of a Keras 2 config (an entry that already has a
    `module`, as tf.keras 2.13+ writes nested layers, keeps it)."""
    if not (isinstance(entry, Mapping) and isinstance(entry.get("class_name"), str)
            and isinstance(entry.get("config"), Mapping)):
        raise ValueError(
            f"{where} must be {{'class_name': str, 'config': dict}} as tf.keras writes a layer, received "
            f"{short_repr(entry, 200)}. The file's model_config is damaged; load the weights into a model you "
            "build in code with load_legacy_h5_weights."
        )
    class_name = entry["class_name"]
    out = dict(entry) if "module" in entry else {
        "module": None, "class_name": class_name, "registered_name": class_name if ">" in class_name else None}
    out["config"] = _layer_config(class_name, dict(entry["config"]), f"{where} ({class_name})")
    return out


def _layer_config(class_name: str, config: Dict[str, Any], where: str) -> Dict[str, Any]:
    if class_name == "InputLayer":
        if "batch_input_shape" in config:
            config["batch_shape"] = config.pop("batch_input_shape")
        return config
    axis = config.get("axis")
    if isinstance(axis, list) and len(axis) == 1:
        config["axis"] = int(axis[0])  # tf.keras wrote a built layer's axis as a list, as Keras 3 reads it
    for key, values in _KERAS2_ONLY_KEYS.items():
        if key in config:
            value = config.pop(key)
            if value not in values:
                raise ValueError(f"{where}: the tf.keras config sets {key}={short_repr(value)}, which kerasish cannot "
                                 f"honour (it computes as {key}={values[0]!r}). Rebuild the layer without it and save.")
    for key in ("layer", "backward_layer", "cell"):
        if isinstance(config.get(key), Mapping):
            config[key] = _envelope(config[key], f"{where}.{key}")
    if isinstance(config.get("cells"), list):
        config["cells"] = [_envelope(c, f"{where}.cells[{i}]") for i, c in enumerate(config["cells"])]
    if class_name == "Lambda":
        _lambda_config(config)
    return config


def _lambda_config(config: Dict[str, Any]) -> None:
    """tf.keras's Lambda entry in Keras 3's form: bytecode stays marked as bytecode (refused),
    a named function stays a name (looked up, never imported)."""
    kind = config.pop("function_type", None)
    module = config.pop("module", None)
    for key in ("output_shape_type", "output_shape_module"):
        config.pop(key, None)
    function = config.get("function")
    if isinstance(function, list) or kind == "lambda":
        config["function"] = {"class_name": "__lambda__", "config": {"code": function}}
    elif isinstance(function, str):
        config["function"] = {"module": module, "class_name": "function", "config": function,
                              "registered_name": "function"}


def _history(ref: Any, offsets: Mapping[str, int], where: str) -> List[Any]:
    if not (isinstance(ref, list) and len(ref) in (3, 4) and isinstance(ref[0], str)
            and all(isinstance(v, int) for v in ref[1:3])):
        raise ValueError(
            f"{where}: expected a tensor reference [layer_name, node_index, tensor_index(, kwargs)], received "
            f"{short_repr(ref, 160)}. kerasish rebuilds layer calls on graph tensors only; build this model in code "
            "and load its weights with load_legacy_h5_weights."
        )
    return [ref[0], ref[1] - offsets.get(ref[0], 0), ref[2]]


def _node(node: Any, offsets: Mapping[str, int], where: str) -> Dict[str, Any]:
    """Keras 2's call `[[name, node, tensor, kwargs], ...]` as Keras 3's `{'args', 'kwargs'}`."""
    if isinstance(node, Mapping):
        return dict(node)  # already Keras 3's form
    if not isinstance(node, list) or not node:
        raise ValueError(f"{where}: a call must list its input tensors, received {short_repr(node, 160)}.")
    tensors = [{"class_name": "__keras_tensor__",
                "config": {"shape": None, "dtype": None, "keras_history": _history(ref, offsets, where)}}
               for ref in node]
    last = node[-1]
    kwargs = dict(last[3]) if len(last) == 4 and isinstance(last[3], Mapping) else {}
    return {"args": [tensors[0] if len(tensors) == 1 else tensors], "kwargs": kwargs}


def _starts_with_input(entry: Mapping[str, Any]) -> bool:
    layers = entry.get("config", {}).get("layers") if isinstance(entry.get("config"), Mapping) else None
    return bool(layers) and isinstance(layers[0], Mapping) and layers[0].get("class_name") == "InputLayer"


def _functional(config: Dict[str, Any], where: str) -> Dict[str, Any]:
    entries = config.get("layers")
    if not isinstance(entries, list):
        raise ValueError(f"{where}: a functional model's config needs a 'layers' list, received "
                         f"{short_repr(entries, 120)}.")
    # Keras 2 counts a nested model's own construction as its node 0 in every reference to it;
    # Keras 3 does so in input_layers/output_layers only, and only for functional models.
    offsets, io_offsets = {}, {}
    for entry in entries:
        if isinstance(entry, Mapping) and entry.get("class_name") in ("Functional", "Model"):
            offsets[entry.get("name")] = 1
        elif isinstance(entry, Mapping) and entry.get("class_name") == "Sequential" and _starts_with_input(entry):
            offsets[entry.get("name")] = io_offsets[entry.get("name")] = 1
    layers = []
    for i, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, Mapping) else None
        layer_where = f"{where}: layer {i} ({name!r})"
        if isinstance(entry, Mapping) and entry.get("class_name") in ("Sequential", "Functional", "Model"):
            out = _model(entry, layer_where)
        else:
            out = _envelope(entry, layer_where)
            out["config"].pop("batch_input_shape", None)  # the graph's Input gives the shape
        out["name"] = name
        out["inbound_nodes"] = [_node(n, offsets, layer_where) for n in entry.get("inbound_nodes", [])]
        layers.append(out)

    def refs(structure: Any) -> Any:
        if isinstance(structure, Mapping):
            return {k: refs(v) for k, v in structure.items()}
        if isinstance(structure, list) and len(structure) == 3 and isinstance(structure[0], str):
            return _history(structure, io_offsets, where)
        if isinstance(structure, list):
            out = [refs(v) for v in structure]
            return out[0] if len(out) == 1 else out  # Keras 2 wraps a single input/output in a list
        raise ValueError(f"{where}: unreadable input/output reference {short_repr(structure, 160)}.")

    return {**config, "layers": layers, "input_layers": refs(config.get("input_layers")),
            "output_layers": refs(config.get("output_layers"))}


def _sequential(config: Any, where: str) -> Dict[str, Any]:
    if isinstance(config, list):  # Keras 2.0's Sequential config: the bare list of layers
        config = {"name": None, "layers": config}
    entries = config.get("layers")
    if not isinstance(entries, list):
        raise ValueError(f"{where}: a Sequential config needs a 'layers' list, received {short_repr(entries, 120)}.")
    layers: List[Dict[str, Any]] = []
    for i, entry in enumerate(entries):
        layer_where = f"{where}: layer {i}"
        if isinstance(entry, Mapping) and entry.get("class_name") in ("Sequential", "Functional", "Model"):
            layers.append(_model(entry, layer_where))
            continue
        out = _envelope(entry, layer_where)
        shape = out["config"].pop("batch_input_shape", None) if out["class_name"] != "InputLayer" else None
        if shape is not None and not layers:
            # Keras 2's first layer carries the model's input shape; Keras 3 gives it its own Input.
            dtype = out["config"].get("dtype")
            layers.append({"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
                           "config": {"batch_shape": shape, "dtype": dtype if isinstance(dtype, str) else "float32",
                                      "name": f"{out['config'].get('name', 'layer')}_input"}})
        layers.append(out)
    return {**config, "layers": layers}


def _model(envelope: Mapping[str, Any], where: str) -> Dict[str, Any]:
    class_name = envelope.get("class_name")
    config = copy.deepcopy(_strip_passive(envelope.get("config")))
    if class_name == "Sequential":
        out = _sequential(config, where)
    elif class_name in ("Functional", "Model") and isinstance(config, Mapping) and "input_layers" in config:
        out = _functional(dict(config), where)
        class_name = "Functional"
    else:
        raise ValueError(
            f"{where} describes a {class_name!r} model; kerasish rebuilds tf.keras Sequential and functional "
            "models ('Sequential', 'Functional', 'Model' with a graph). Build a subclassed model in code and load "
            "its weights with load_legacy_h5_weights(model, path)."
        )
    return {"module": "keras", "class_name": class_name, "config": out, "registered_name": None}


def _compile_config(training: Mapping[str, Any], where: str) -> Dict[str, Any]:
    """tf.keras's `training_config` in Keras 3's `compile_config` form."""
    optimizer = training.get("optimizer_config")
    if not (isinstance(optimizer, Mapping) and isinstance(optimizer.get("class_name"), str)):
        raise ValueError(f"{where}: the training_config has no readable optimizer_config "
                         f"({short_repr(optimizer, 160)}). Load with compile=False and compile the model yourself.")
    name = optimizer["class_name"].split(">")[-1]  # tf.keras 2.11+ registered its optimizers as 'Custom>Adam'
    opt_config = dict(optimizer.get("config") or {})
    opt_config.pop("is_legacy_optimizer", None)
    opt_config.pop("jit_compile", None)  # XLA compilation of the update: no effect on the result
    if "lr" in opt_config:
        opt_config["learning_rate"] = opt_config.pop("lr")
    if opt_config.get("decay", 0.0) in (0, 0.0):
        opt_config.pop("decay", None)
    opt_config.pop("name", None)

    def keras3_loss(value: Any) -> Any:
        if isinstance(value, Mapping) and isinstance(value.get("config"), Mapping):
            config = dict(value["config"])
            config.pop("fn", None)
            if "reduction" in config:
                config["reduction"] = _LOSS_REDUCTIONS.get(config["reduction"], config["reduction"])
            return {**value, "config": config}
        if isinstance(value, list):
            return [keras3_loss(v) for v in value]
        if isinstance(value, Mapping):
            return {k: keras3_loss(v) for k, v in value.items()}
        return value

    return {"optimizer": {"module": "keras.optimizers", "class_name": name, "config": opt_config,
                          "registered_name": None},
            "loss": keras3_loss(training.get("loss")), "metrics": training.get("metrics"),
            "weighted_metrics": training.get("weighted_metrics"), "loss_weights": training.get("loss_weights")}


def load_legacy_h5_model(path: PathLike, custom_objects: Optional[Mapping[str, Any]] = None, compile: bool = True,
                         safe_mode: bool = True) -> Any:
    """Loads a whole model saved by tf.keras 2 (`model.save('m.h5')`), as Keras 3's `load_model`.

    The file's `model_config` (tf.keras's description: `batch_input_shape`, calls written as
    `[[layer, node, tensor, kwargs]]`, dtype names, `Model`/`Functional` class names) is
    translated to Keras 3's form and built by `from_keras_config`; the weights under
    `model_weights` are then loaded by position, and the model is compiled from the
    `training_config` when there is one. The optimizer's saved state is not restored.

    Args:
        path: the `.h5` file.
        custom_objects: `{name: class_or_function}` for classes and functions that are not
            registered. Defaults to `None`.
        compile: compile the model from the file's `training_config`. Defaults to `True`.
        safe_mode: refuse `Lambda` layers (Python bytecode is refused always). Defaults to `True`.

    Returns:
        A kerasish Sequential or functional model with the file's weights.

    Raises:
        FileNotFoundError: if `path` does not exist.
        ValueError: for a weights-only file (with the call to use instead), a config kerasish
            cannot rebuild, a Lambda in safe mode, weights that do not fit, or an unsafe file.

    Example:
        >>> model = load_legacy_h5_model("model.h5", compile=False)  # doctest: +SKIP
    """
    with _File(path) as h5:
        config = h5.json_attr("model_config")
        if config is None:
            raise ValueError(
                f"{h5.where} has no model_config: it holds weights only (tf.keras's save_weights). Build the model "
                "in code and call model.load_weights(path) (or load_legacy_h5_weights(model, path))."
            )
        if not isinstance(config, Mapping) or "class_name" not in config:
            raise ValueError(f"The model_config of {h5.where} must be {{'class_name', 'config'}}, received "
                             f"{short_repr(config, 160)}. The file is damaged; save it again from tf.keras.")
        envelope = _model(config, f"The model_config of {h5.where}")
        training = h5.json_attr("training_config") if compile else None
        if training is not None:
            envelope["compile_config"] = _compile_config(training, f"The training_config of {h5.where}")
        model = from_keras_config(envelope, custom_objects=custom_objects, safe_mode=safe_mode, compile=compile)
        _load_weights(h5, model, by_name=False, skip_mismatch=False)
    return model
