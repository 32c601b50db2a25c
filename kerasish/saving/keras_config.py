"""Keras 3's model description (`config.json` inside a `.keras` file), both ways.

`to_keras_config(model)` describes a kerasish Sequential or functional model as Keras 3's
`serialize_keras_object(model)` does: the `{module, class_name, config, registered_name,
build_config}` envelope of every layer, Keras's module paths, DTypePolicy dicts, the
functional `inbound_nodes` with `__keras_tensor__` arguments and their `keras_history`,
and the `compile_config` of a compiled model. `from_keras_config(config)` builds the
kerasish model a config written by Keras 3 (any backend) describes.

Loading never runs code from the config and never imports a module it names: classes are
found in kerasish's registry (or `custom_objects` / `register_keras_serializable`), a
`Lambda` is refused in safe mode, Python bytecode (`__lambda__`) always, and a pickled
torch module (`TorchModuleWrapper`) unless `safe_mode=False`. Weights are not part of a
config: copy them with `set_weights` or the `.weights.h5` reader.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

from kerasish import tree as kerasish_tree
from kerasish.saving import keras_config_layers as kl
from kerasish.saving.keras_compile import _is_keras_module, compile_config_of
from kerasish.utils.object_registration import (
    CustomObjectScope,
    builtin_classes,
    check_custom_objects,
    is_builtin,
    resolve_class,
)
from kerasish.saving.json_guard import check_depth
from kerasish.utils.safe_mode import SafeModeScope, in_safe_mode
from kerasish.utils.text import short_repr

__all__ = ["from_keras_config", "to_keras_config", "written_by_keras"]

MAX_DEPTH = 100  # nesting of JSON containers a config may hold (a real model needs ~20)
_MODEL_CLASSES = ("Sequential", "Functional", "Model")


def _builtin(name: str) -> Any:
    return builtin_classes().get(name)


# =========================================================================== kerasish -> Keras
def _tensor_entry(t: Any, ref: Any) -> Dict[str, Any]:
    return {"class_name": "__keras_tensor__",
            "config": {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""), "keras_history": ref(t)}}


def _encode_arg(value: Any, ref: Any) -> Any:
    from kerasish.layers.symbolic import KerasTensor

    if isinstance(value, KerasTensor):
        return _tensor_entry(value, ref)
    if isinstance(value, list):
        return [_encode_arg(v, ref) for v in value]
    if isinstance(value, tuple):
        return {"class_name": "__tuple__", "config": {"value": [_encode_arg(v, ref) for v in value]}}
    if isinstance(value, dict):
        return {k: _encode_arg(v, ref) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(
        f"A layer call holds the argument {short_repr(value)} of type {type(value).__name__}, which a Keras config "
        "cannot describe. Pass plain values or graph tensors to layer calls."
    )


def _is_model(obj: Any) -> bool:
    return any(c is not None and isinstance(obj, c) for c in (_builtin("Sequential"), _builtin("Functional")))


def _sequential_config(model: Any) -> Dict[str, Any]:
    layers = []
    shape = model.expected_input_shape()
    # The user's Input, else the one the model made when it was built (named as Keras 3 names it).
    input_layer = getattr(model, "_input_layer", None) or getattr(model, "_auto_input", None)
    if shape is not None:
        dtype = getattr(input_layer, "_dtype_arg", None) or "float32"
        name = input_layer.name if input_layer is not None else f"{model.name}_input"
        layers.append({"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
                       "config": {"batch_shape": list(shape), "dtype": dtype, "sparse": False, "ragged": False,
                                  "name": name, "optional": False}})
    layers += [_model_envelope(layer) if _is_model(layer) else kl.layer_envelope(layer) for layer in model.layers]
    config = {"name": model.name, "trainable": bool(model.trainable), "dtype": kl.keras_dtype_policy("float32"),
              "layers": layers}
    if shape is not None:
        config["build_input_shape"] = list(shape)
    return config


def _functional_config(model: Any) -> Dict[str, Any]:
    input_cls = _builtin("InputLayer")
    functional = _builtin("Functional")
    local: Dict[int, int] = {}  # node id -> index among this model's calls of its layer
    counts: Dict[str, int] = {}
    for node in model._nodes:
        local[id(node)] = counts.get(node.layer.name, 0)
        counts[node.layer.name] = local[id(node)] + 1

    def history(t: Any) -> List[Any]:
        return [t.layer.name, 0 if isinstance(t.layer, input_cls) else local[id(t.node)], t.index]

    def io_ref(t: Any) -> List[Any]:
        # Keras counts a nested functional model's own construction as its node 0 here.
        name, index, k = history(t)
        return [name, index + 1 if isinstance(t.layer, functional) else index, k]

    layers = []
    for layer in _keras_layer_order(model):
        entry = _model_envelope(layer) if _is_model(layer) else kl.layer_envelope(layer)
        nodes = []
        for node in (n for n in model._nodes if n.layer is layer):
            if node.simple:
                args = [_encode_arg(list(node.inputs) if isinstance(node.inputs, (list, tuple)) else node.inputs,
                                    history)]
            else:
                args = _encode_arg(list(node.args), history)
            kwargs = {k: _encode_arg(v, history) for k, v in node.kwargs.items()}
            nodes.append({"args": args, "kwargs": kwargs})
        if not (isinstance(layer, input_cls) or _is_model(layer)) and nodes and \
                entry["class_name"] not in kl.KERAS_BUILT_AT_INIT:
            entry["build_config"] = kl.build_config_from_call(layer, next(n for n in model._nodes if n.layer is layer))
        entry["name"] = layer.name
        entry["inbound_nodes"] = nodes
        layers.append(entry)

    def structure(tensors: List[Any], kind: Any) -> Any:
        refs = [io_ref(t) for t in tensors]
        nested = getattr(kind, "structure", None)  # outputs nested in lists/dicts (functional's NestedOutputs)
        if nested is not None:
            return kerasish_tree.pack_sequence_as(nested, refs)
        if isinstance(kind, tuple):
            return dict(zip(kind[1], refs))
        return refs[0] if kind == "single" and len(refs) == 1 else refs

    return {"name": model.name, "trainable": bool(model.trainable), "layers": layers,
            "input_layers": structure(model._inputs, model._input_kind),
            "output_layers": structure(model._outputs, model._output_kind)}


def _keras_layer_order(model: Any) -> List[Any]:
    """The model's layers in Keras's order (`Functional` lists them so: see `keras_layer_order`)."""
    return list(model._operations)


def _model_envelope(model: Any) -> Dict[str, Any]:
    if type(model).__name__ not in ("Sequential", "Functional"):
        raise ValueError(
            f"Cannot describe model {model.name!r} of class {type(model).__name__} in a Keras config: only "
            "Sequential and functional models (kerasish.Model(inputs, outputs)) can be written for Keras."
        )
    if isinstance(model, _builtin("Sequential")):
        config = _sequential_config(model)
        envelope = {"module": "keras", "class_name": "Sequential", "config": config, "registered_name": None,
                    "build_config": {"input_shape": config.get("build_input_shape")}}
    else:
        envelope = {"module": "keras.src.models.functional", "class_name": "Functional",
                    "config": _functional_config(model), "registered_name": "Functional",
                    "build_config": {"input_shape": None}}
    envelope["compile_config"] = compile_config_of(model)  # Keras writes {} for an uncompiled model
    return envelope


def to_keras_config(model: Any) -> Dict[str, Any]:
    """Keras 3's description of a kerasish Sequential or functional model (what Keras's
    `serialize_keras_object` writes for the equivalent Keras model), as JSON-ready dicts.

    Args:
        model: a kerasish `Sequential` or functional `Model(inputs, outputs)`.

    Returns:
        The envelope `{module, class_name, config, registered_name, build_config}`, with a
        `compile_config` when the model is compiled.

    Raises:
        ValueError: for a model Keras cannot rebuild (a subclassed model, an unnamed Lambda).
        TypeError: for a plain torch module among the layers.

    Example:
        >>> import kerasish
        >>> model = kerasish.Sequential([kerasish.Input((3,)), kerasish.layers.Dense(2)])
        >>> to_keras_config(model)["class_name"]
        'Sequential'
    """
    if not _is_model(model):
        return _subclassed_envelope(model)
    return _model_envelope(model)


def _subclassed_envelope(model: Any) -> Dict[str, Any]:
    """What Keras writes for a subclassed model: its class (module, name, registered name), its
    `get_config()`, the input shape it was built for and `get_compile_config()`."""
    from kerasish.layers.layer import Layer

    model_cls = _builtin("Model")
    if model_cls is not None and isinstance(model, model_cls) and is_builtin(type(model)) \
            and type(model) is not model_cls:
        # A model class kerasish itself defines (a Distiller ...): Keras files name it under a Keras
        # module kerasish does not map yet.
        raise ValueError(
            f"kerasish does not write a {type(model).__name__} to Keras's format (.keras) yet (model "
            f"{getattr(model, 'name', '?')!r}). Save it as model.save('model.kerasish') (kerasish's format), save "
            "its weights with model.save_weights('model.weights.h5'), or save the part you need (a Distiller's "
            "distiller.student) as .keras."
        )
    if not isinstance(model, Layer) or model_cls is None or not isinstance(model, model_cls) \
            or is_builtin(type(model)):
        why = "a torch module wrapped as Model(module) has no config to rebuild it from" \
            if model_cls is not None and isinstance(model, model_cls) else "it is not a model"
        raise ValueError(
            f"Keras's format (.keras) describes a kerasish Sequential, a functional model or a subclass of "
            f"kerasish.Model, received {short_repr(model)} of type {type(model).__name__} ({why}). Save it as "
            "model.save('model.kerasish') (kerasish's format), or save its weights with "
            "model.save_weights('model.weights.h5'), or write the network as a kerasish.Model subclass."
        )
    if not model.built:
        raise ValueError(
            f"Model {model.name!r} ({type(model).__name__}) is not built, so a .keras file could hold none of its "
            "weights. Call it on a batch (or fit it) before saving, as Keras requires."
        )
    envelope = kl.layer_envelope(model)
    envelope["compile_config"] = compile_config_of(model)
    return envelope


# =========================================================================== Keras -> kerasish
def _check_depth(config: Any) -> None:
    check_depth(config, MAX_DEPTH)


def _check_envelope(envelope: Any, what: str) -> None:
    if not kl.is_envelope(envelope) or not isinstance(envelope["config"], Mapping):
        raise ValueError(
            f"The {what} must be Keras's envelope {{'module', 'class_name', 'config', 'registered_name'}}, received "
            f"{short_repr(envelope, 200)}. Pass the dict keras.saving.serialize_keras_object(model) returns (or the "
            "parsed config.json of a .keras file)."
        )


class _Loader:
    def __init__(self, custom_objects: Dict[str, Any]) -> None:
        self.custom_objects = custom_objects

    def resolve(self, envelope: Mapping[str, Any]) -> type:
        from kerasish.layers.layer import Layer

        class_name = envelope["class_name"]
        if _is_keras_module(envelope.get("module")) and class_name not in self.custom_objects:
            class_name = kl.KERAS_TO_KERASISH.get(class_name, class_name)
        cls = resolve_class(class_name, envelope.get("registered_name"), envelope.get("module"), self.custom_objects)
        if not (isinstance(cls, type) and issubclass(cls, Layer)):
            raise TypeError(
                f"The config's class {envelope['class_name']!r} resolves to {short_repr(cls)}, which is not a kerasish "
                "Layer, so it cannot sit in a model. Map the name to a Layer subclass in custom_objects=."
            )
        return cls

    def is_model_entry(self, envelope: Mapping[str, Any]) -> bool:
        return envelope["class_name"] in _MODEL_CLASSES and _is_keras_module(envelope.get("module")) and \
            envelope["class_name"] not in self.custom_objects

    # ------------------------------------------------------------------ layers
    def layer(self, envelope: Mapping[str, Any]) -> Any:
        _check_envelope(envelope, "layer description")
        if self.is_model_entry(envelope):
            return self.model(envelope)
        name = envelope["class_name"]
        if str(envelope.get("module", "")).startswith("keras.src.ops"):
            raise ValueError(
                f"The config holds the Keras op {name!r} (node {envelope.get('name')!r}), a keras.ops call on a "
                "symbolic tensor. from_keras_config rebuilds layers, not ops: wrap the computation in a Layer "
                "subclass (registered with @kerasish.saving.register_keras_serializable) in the Keras model."
            )
        cls = self.resolve(envelope)
        if _builtin(cls.__name__) is not cls:  # a user's class: its own config, its own from_config
            config = dict(envelope["config"])
            if kl.is_envelope(config.get("dtype")):  # the base Layer keys are kerasish's own
                config["dtype"] = kl.dtype_from_keras(config["dtype"], f"Layer {config.get('name')!r}")
            layer = cls.from_config(config)
            build_config = envelope.get("build_config")
            own_build = any("build_from_config" in vars(k) for k in cls.__mro__
                            if not k.__module__.startswith("kerasish"))
            if isinstance(build_config, Mapping) and own_build and not layer.built:
                layer.build_from_config(dict(build_config))  # the user's own, as Keras calls it on load
            return layer
        config = kl.layer_config_from_keras(cls, envelope["config"], self.nested_config)
        if cls.__name__ == "Lambda":
            config["function"] = kl.lambda_function(config.get("function"), config.get("name"), self.custom_objects)
            return cls(**config)
        if cls.__name__ == "TorchModuleWrapper" and in_safe_mode():
            raise ValueError(
                f"Layer {config.get('name')!r} (TorchModuleWrapper) holds a pickled torch module; unpickling it can "
                "run arbitrary code, so it is refused in safe mode. If you trust the file, pass safe_mode=False."
            )
        return cls.from_config(config)

    def nested_config(self, envelope: Mapping[str, Any]) -> Dict[str, Any]:
        """A nested layer's envelope (Bidirectional.layer, RNN.cell ...) with kerasish's config."""
        _check_envelope(envelope, "nested layer description")
        cls = self.resolve(envelope)
        if _builtin(cls.__name__) is not cls:
            return dict(envelope)
        return {"module": "kerasish.layers", "class_name": cls.__name__, "registered_name": None,
                "config": kl.layer_config_from_keras(cls, envelope["config"], self.nested_config)}

    # ------------------------------------------------------------------ models
    def model(self, envelope: Mapping[str, Any]) -> Any:
        _check_envelope(envelope, "model description")
        if not self.is_model_entry(envelope):
            cls = self.resolve(envelope)  # raises with the registration advice for unknown names
            raise ValueError(
                f"The config describes a {envelope['class_name']!r} ({cls.__name__}); from_keras_config rebuilds "
                "Sequential and Functional models. Build a subclassed model in code and load its weights."
            )
        config = envelope["config"]
        if envelope["class_name"] == "Sequential":
            model = self.sequential(config)
        else:
            model = self.functional(config)
        if config.get("trainable") is False:
            model.trainable = False
        return model

    def sequential(self, config: Mapping[str, Any]) -> Any:
        import kerasish

        entries = list(config.get("layers", []))
        layers: List[Any] = []
        for entry in entries:
            _check_envelope(entry, "layer description")
            if entry["class_name"] == "InputLayer":
                layers.append(kl.input_from_keras(entry["config"]))
            else:
                layer = self.layer(entry)
                build_config = entry.get("build_config")
                if not self.is_model_entry(entry) and isinstance(build_config, Mapping) and not layer.built:
                    # As Keras: each layer is built on its own before the model takes it, so its
                    # weights are 'dense/kernel', not 'sequential/dense/kernel' (Variable.path).
                    layer.build_from_config(dict(build_config))
                layers.append(layer)
        model = kerasish.Sequential(layers, name=config.get("name"))
        shape = config.get("build_input_shape")
        if not model.built and shape is not None:
            model.build(tuple(shape))
        return model

    def functional(self, config: Mapping[str, Any]) -> Any:
        import kerasish

        missing = [k for k in ("layers", "input_layers", "output_layers") if k not in config]
        if missing:
            raise ValueError(
                f"The functional model {config.get('name')!r} lacks {missing} in its config: only Sequential and "
                "functional models can be rebuilt from a config (a subclassed Keras model's config holds its "
                "constructor arguments, not its graph). Build that model in code and load its weights."
            )

        created: Dict[str, Any] = {}
        tensors: Dict[Tuple[str, int, int], Any] = {}
        io_tensors: Dict[Tuple[str, int, int], Any] = {}
        functional_layers = set()
        pending: List[Tuple[str, int, Mapping[str, Any]]] = []
        skipped = self._mask_ops(config)
        for entry in config.get("layers", []):
            _check_envelope(entry, "layer description")
            name = entry.get("name", entry["config"].get("name"))
            if entry["class_name"] == "InputLayer":
                t = kl.input_from_keras(entry["config"])
                created[name] = t.layer
                tensors[(name, 0, 0)] = io_tensors[(name, 0, 0)] = t
                continue
            if name in skipped:
                continue
            created[name] = self.layer(entry)
            if self.is_model_entry(entry) and entry["class_name"] != "Sequential":
                functional_layers.add(name)
            pending += [(name, i, node) for i, node in enumerate(entry.get("inbound_nodes", []))]
        while pending:
            progressed = False
            for item in list(pending):
                name, i, node = item
                refs = _refs(node)
                if not all(r in tensors or r[0] in skipped for r in refs):
                    continue
                args = _decode(node.get("args", []), tensors)
                kwargs = {k: _decode(v, tensors) for k, v in node.get("kwargs", {}).items()
                          if not _dropped_kwarg(k, v, skipped)}
                out = created[name](*args, **kwargs)
                for k, t in enumerate(out if isinstance(out, (list, tuple)) else [out]):
                    tensors[(name, i, k)] = t
                    # Keras counts a nested functional model's construction as its node 0 in
                    # input_layers/output_layers (not in keras_history).
                    io_tensors[(name, i + 1 if name in functional_layers else i, k)] = t
                pending.remove(item)
                progressed = True
            if not progressed:
                raise ValueError(
                    "The functional config is inconsistent: the calls of layers "
                    f"{sorted({p[0] for p in pending})} read tensors no layer produces. The config was edited or is "
                    "corrupt; write it again from Keras."
                )
        inputs = _structure(config["input_layers"], io_tensors)
        outputs = _structure(config["output_layers"], io_tensors)
        return kerasish.Model(inputs, outputs, name=config.get("name"))

    def _mask_ops(self, config: Mapping[str, Any]) -> set:
        """Names of the op nodes (Keras's `NotEqual` after an Embedding with mask_zero) whose outputs
        are only ever passed as `mask=`: kerasish's layers carry masks themselves, so they are skipped."""
        entries = [e for e in config.get("layers", []) if isinstance(e, Mapping)]
        ops = {e.get("name") for e in entries if str(e.get("module", "")).startswith("keras.src.ops.")}
        if not ops:
            return set()
        as_mask, used_otherwise = set(), set()
        for e in entries:
            for node in e.get("inbound_nodes", []):
                if not isinstance(node, Mapping):
                    continue
                kwargs = node.get("kwargs", {})
                as_mask |= {r[0] for r in _refs({"args": [kwargs.get("mask")]})}
                rest = {"args": node.get("args", []), "kwargs": {k: v for k, v in kwargs.items() if k != "mask"}}
                used_otherwise |= {r[0] for r in _refs(rest)}
        for key in ("input_layers", "output_layers"):
            used_otherwise |= {r[0] for r in _flat_refs(config.get(key))}
        return (ops & as_mask) - used_otherwise


def _flat_refs(structure: Any) -> List[List[Any]]:
    if isinstance(structure, Mapping):
        return [r for v in structure.values() for r in _flat_refs(v)]
    if isinstance(structure, list) and len(structure) == 3 and isinstance(structure[0], str):
        return [structure]
    return [r for v in structure or [] for r in _flat_refs(v)]


def _dropped_kwarg(key: str, value: Any, skipped: set) -> bool:
    # training= is decided by fit/evaluate, never fixed in the graph; mask= is carried by
    # kerasish's layers themselves (see _mask_ops).
    if key == "training":
        return True
    if key == "mask":
        return value is None or all(r[0] in skipped for r in _refs({"args": [value]}))
    return False


def _refs(node: Any) -> List[Tuple[str, int, int]]:
    out: List[Tuple[str, int, int]] = []

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            if value.get("class_name") == "__keras_tensor__":
                out.append(tuple(value["config"]["keras_history"]))  # type: ignore[arg-type]
                return
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    if isinstance(node, list):  # Keras 2's [[layer, node, tensor, kwargs], ...]
        return [tuple(r[:3]) for r in node]  # type: ignore[misc]
    walk([node.get("args", []), node.get("kwargs", {})])
    return out


def _decode(value: Any, tensors: Mapping[Tuple[str, int, int], Any]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if isinstance(value, Mapping):
        kind = value.get("class_name")
        if kind == "__keras_tensor__":
            return tensors[tuple(value["config"]["keras_history"])]
        if kind == "__tuple__":
            return tuple(_decode(v, tensors) for v in value["config"]["value"])
        if isinstance(kind, str) and "config" in value:
            raise ValueError(
                f"A layer call in the config passes the object {short_repr(value, 160)} as an argument; kerasish "
                "rebuilds calls whose arguments are tensors and plain values only. Pass plain values in Keras."
            )
        return {k: _decode(v, tensors) for k, v in value.items()}
    return value


def _structure(refs: Any, tensors: Mapping[Tuple[str, int, int], Any]) -> Any:
    def one(r: Any) -> Any:
        key = tuple(r[:3])
        if key not in tensors:
            raise ValueError(f"The config's input/output reference {list(r)} names no tensor of the graph.")
        return tensors[key]

    def walk(r: Any) -> Any:  # outputs may nest lists and dicts (a functional model's NestedOutputs)
        if isinstance(r, Mapping):
            return {k: walk(v) for k, v in r.items()}
        if isinstance(r, list) and len(r) == 3 and isinstance(r[0], str):
            return one(r)
        if isinstance(r, list):
            return [walk(v) for v in r]
        raise ValueError(f"The config's input/output structure holds {short_repr(r)}; expected [layer name, node, "
                         "tensor] references in lists or dicts. The file is damaged; save the model again.")

    return walk(refs)


# --------------------------------------------------------------------------- entry points
def written_by_keras(config: Any) -> bool:
    """Whether a Sequential/functional `get_config()` dict is Keras's (each layer with a
    `build_config`, or an InputLayer with a `batch_shape`) rather than kerasish's."""
    entries = config.get("layers") if isinstance(config, Mapping) else None
    return isinstance(entries, list) and any(
        isinstance(e, Mapping) and ("build_config" in e or "batch_shape" in (e.get("config") or {})) for e in entries)


def from_keras_config(config: Mapping[str, Any], custom_objects: Optional[Mapping[str, Any]] = None,
                      safe_mode: bool = True, compile: bool = True) -> Any:
    """The kerasish model a Keras 3 config describes (fresh weights; uncompiled unless the
    config holds a `compile_config` kerasish can restore).

    Args:
        config: the dict Keras's `serialize_keras_object(model)` returns (a `.keras` file's
            `config.json`); `model.get_config()` (without the envelope) is accepted too.
        custom_objects: `{name: class_or_function}` for classes and functions that are not
            registered. Defaults to `None`.
        safe_mode: refuse `Lambda` layers and pickled torch modules. Defaults to `True`.
        compile: restore the `compile_config` (optimizer, loss, metrics) when there is one, as
            Keras's `load_model(compile=True)`. Defaults to `True`.

    Returns:
        A kerasish Sequential or functional model.

    Raises:
        ValueError: for an unknown class (with how to register it), a Lambda in safe mode,
            bytecode, a layer argument kerasish cannot honour, or a malformed config.
    """
    custom_objects = check_custom_objects(custom_objects)
    _check_depth(config)
    if isinstance(config, Mapping) and "layers" in config and "class_name" not in config:
        kind = "Functional" if "input_layers" in config else "Sequential"
        config = {"module": "keras", "class_name": kind, "config": config, "registered_name": None}
    _check_envelope(config, "model description")
    with SafeModeScope(safe_mode), CustomObjectScope(custom_objects):
        model = _Loader(custom_objects).model(config)
        compile_config = config.get("compile_config")
        if compile and compile_config:
            model.compile_from_config(dict(compile_config))  # a user's override runs, as in Keras
    return model
