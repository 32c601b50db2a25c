"""Objects ↔ JSON, through a registry of classes; nothing in a file can run code.

A model is described by the envelope `{'class_name': ..., 'config': ...}`. Loading
looks `class_name` up in the registry (kerasish's own layers and models, plus what
the user registered with `register_serializable`) and calls that class's
`from_config`. A name that is not registered is an error, never an import.

Nested state that mixes tensors and plain values (a torch optimizer's state_dict)
is split into a flat dict of tensors (stored as safetensors) and a JSON structure
that refers to them by key: `encode_state` / `decode_state`.
"""

from __future__ import annotations

import importlib
from typing import Any, Dict, Mapping, Optional, Tuple

import torch

from kerasish.utils.text import did_you_mean

_registered: Dict[str, type] = {}
_builtins: Dict[str, type] = {}


def _builtin_classes() -> Dict[str, type]:
    # Imported on first use: kerasish.saving must not import models or layers at
    # import time (they import saving lazily in Model.save; see ARCHITECTURE.md).
    if not _builtins:
        layers = importlib.import_module("kerasish.layers")
        models = importlib.import_module("kerasish.models")
        for module in (layers, models):
            for name in getattr(module, "__all__", dir(module)):
                obj = getattr(module, name, None)
                if isinstance(obj, type) and hasattr(obj, "get_config"):
                    _builtins[obj.__name__] = obj
    return _builtins


def register_serializable(cls: Optional[type] = None, *, name: Optional[str] = None) -> Any:
    """Registers a class so that `save_model` can describe it and `load_model` rebuild it.

    The class must provide `get_config()` (a JSON-ready dict of constructor
    arguments) and `from_config(config)` (a classmethod that rebuilds it). Works as
    `@register_serializable`, `@register_serializable(name='MyNet')` or as a plain call.

    Args:
        cls: the class to register. Defaults to `None` (decorator with arguments).
        name: the name written to files. Defaults to `None` (the class name).

    Returns:
        The class, unchanged (so it works as a decorator).

    Raises:
        TypeError: if `cls` is not a class or lacks get_config/from_config.
        ValueError: if `name` is already registered to a different class.

    Example:
        >>> import torch
        >>> @register_serializable
        ... class TinyNet(torch.nn.Module):
        ...     def __init__(self, units=4):
        ...         super().__init__()
        ...         self.units = units
        ...         self.fc = torch.nn.Linear(3, units)
        ...     def forward(self, x):
        ...         return self.fc(x)
        ...     def get_config(self):
        ...         return {"units": self.units}
        ...     @classmethod
        ...     def from_config(cls, config):
        ...         return cls(**config)
    """

    def register(klass: type) -> type:
        if not isinstance(klass, type):
            raise TypeError(
                f"register_serializable expects a class, received {klass!r} of type {type(klass).__name__}. "
                "Decorate the class itself: @register_serializable above `class MyNet(...)`."
            )
        missing = [m for m in ("get_config", "from_config") if not callable(getattr(klass, m, None))]
        if missing:
            raise TypeError(
                f"Class {klass.__name__} cannot be registered: it has no {' or '.join(missing)}. Add "
                "get_config(self) returning its constructor arguments as a JSON-ready dict and a classmethod "
                "from_config(cls, config) returning cls(**config)."
            )
        key = name or klass.__name__
        current = _registered.get(key)
        if current is not None and current is not klass and current.__qualname__ != klass.__qualname__:
            raise ValueError(
                f"The name {key!r} is already registered to {current.__module__}.{current.__qualname__}; "
                f"received {klass.__module__}.{klass.__qualname__}. Pass a different name: "
                "register_serializable(name='...')."
            )
        _registered[key] = klass
        return klass

    if cls is None:
        return register
    return register(cls)


def registered_names() -> list:
    """Every class name `load_model` can rebuild: kerasish's own and the user's."""
    return sorted(set(_builtin_classes()) | set(_registered))


def get_registered_class(name: str, custom_objects: Optional[Mapping[str, type]] = None) -> type:
    """The class registered under `name`.

    Raises:
        ValueError: for an unknown name, listing the registered ones.
    """
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if name in _registered:
        return _registered[name]
    builtins = _builtin_classes()
    if name in builtins:
        return builtins[name]
    valid = registered_names() + sorted(custom_objects or {})
    raise ValueError(
        f"The file describes an object of class {name!r}, which is not registered. Registered classes: "
        f"{', '.join(valid)}.{did_you_mean(name, valid)} Register the class before loading, with "
        "@kerasish.saving.register_serializable on its definition (it needs get_config/from_config), "
        "or pass custom_objects={'" + str(name) + "': TheClass}."
    )


def name_of(obj: Any) -> Optional[str]:
    """The registered name of `obj`'s exact class, or None."""
    for key, klass in _registered.items():
        if type(obj) is klass:
            return key
    klass = _builtin_classes().get(type(obj).__name__)
    return type(obj).__name__ if klass is type(obj) else None


# --------------------------------------------------------------------- models
def serialize_model(model: Any) -> Dict[str, Any]:
    """The `{'class_name', 'config'}` envelope describing `model`'s architecture.

    Raises:
        ValueError: when the architecture cannot be described (a wrapped plain torch
            module or an unregistered subclass), saying how to save it instead.
    """
    from kerasish.models import Model, Sequential  # lazy: see _builtin_classes

    cls_name = type(model).__name__
    registered = name_of(model) if type(model) not in (Model, Sequential) else None
    if registered is not None and registered in _registered:
        return {"class_name": registered, "config": model.get_config(), "build_shapes": _build_shapes(model)}
    from kerasish.models.functional import Functional

    if type(model) is Functional:
        for layer in model.layers:
            if type(layer).__name__ != "InputLayer" and name_of(layer) is None:
                raise ValueError(_unsavable(
                    model, f"its layer {getattr(layer, 'name', '?')!r} is a {type(layer).__name__}, which is not "
                    "registered", type(layer).__name__))
        config = model.get_config()
        for entry, layer in zip(config["layers"], model.layers):
            if entry["class_name"] != "InputLayer":
                entry["class_name"] = name_of(layer)
        return {"class_name": "Functional", "config": config}
    if type(model) is Sequential:
        for layer in model.layers:
            if name_of(layer) is None:
                raise ValueError(_unsavable(
                    model, f"its layer {getattr(layer, 'name', '?')!r} is a {type(layer).__name__}, which is not "
                    "registered", type(layer).__name__))
        config = model.get_config()
        offset = len(config["layers"]) - len(model.layers)  # an InputLayer entry may lead
        for entry, layer in zip(config["layers"][offset:], model.layers):
            entry["class_name"] = name_of(layer)
        input_shape = model.expected_input_shape()
        if input_shape is not None:
            config["build_input_shape"] = list(input_shape)
        return {"class_name": "Sequential", "config": config}
    if type(model) is Model and getattr(model, "module", None) is not None:
        module_name = name_of(model.module)
        if module_name is None or module_name not in _registered:
            raise ValueError(_unsavable(model, f"it wraps a plain torch module of class "
                                               f"{type(model.module).__name__}", type(model.module).__name__))
        return {"class_name": "Model", "config": {
            "name": model.name, "module": {"class_name": module_name, "config": model.module.get_config()}},
            "build_shapes": _build_shapes(model)}
    raise ValueError(_unsavable(model, f"its class {cls_name} is not registered", cls_name))


def _build_shapes(model: Any) -> Dict[str, Any]:
    # kerasish layers inside a subclassed model build lazily on their first input; the
    # shapes they were built for let load_model create their weights before loading them.
    shapes = {}
    for path, module in model.named_modules():
        shape = getattr(module, "_build_input_shape", None)  # set by Layer.build_from_shape
        if path and shape is not None:
            shapes[path] = list(shape)
    return shapes


def _build_from_shapes(model: Any, shapes: Mapping[str, Any]) -> Any:
    for path, module in model.named_modules():
        if path in shapes and getattr(module, "built", True) is False and hasattr(module, "build_from_shape"):
            module.build_from_shape(tuple(shapes[path]))
    return model


def _unsavable(model: Any, why: str, cls_name: str) -> str:
    return (
        f"Cannot save the architecture of model {getattr(model, 'name', '?')!r}: {why}, so the file could not "
        f"rebuild it. Either save only the weights (model.save_weights('weights.safetensors')) and rebuild the "
        f"model in code before load_weights, or give {cls_name} get_config()/from_config() and register it "
        f"with @kerasish.saving.register_serializable."
    )


def deserialize_model(envelope: Mapping[str, Any], custom_objects: Optional[Mapping[str, type]] = None) -> Any:
    """Rebuilds a model from `serialize_model`'s envelope (weights not loaded).

    Raises:
        ValueError: for a malformed envelope or an unregistered class name.
    """
    if not isinstance(envelope, Mapping) or "class_name" not in envelope or "config" not in envelope:
        raise ValueError(
            f"The model description must be {{'class_name': ..., 'config': ...}}, received {envelope!r:.200}. "
            "The file is not a kerasish model file, or it was edited by hand."
        )
    name, config = envelope["class_name"], envelope["config"]
    from kerasish.models import Model, Sequential  # lazy: see _builtin_classes

    if name == "Sequential" and not (custom_objects and name in custom_objects) and name not in _registered:
        layers = [get_registered_class(e["class_name"], custom_objects).from_config(dict(e["config"]))
                  for e in config.get("layers", [])]
        model = Sequential(layers, name=config.get("name"))
        shape = config.get("build_input_shape")
        if not model.built and shape is not None:
            model.build(tuple(shape))
        return model
    if name == "Functional" and name not in _registered:
        from kerasish.models.functional import Functional

        return Functional.from_config(dict(config), resolve=lambda n: get_registered_class(n, custom_objects))
    if name == "Model" and "module" in config and name not in _registered:
        inner = config["module"]
        module = get_registered_class(inner["class_name"], custom_objects).from_config(dict(inner["config"]))
        return _build_from_shapes(Model(module, name=config.get("name")), envelope.get("build_shapes", {}))
    model = get_registered_class(name, custom_objects).from_config(dict(config))
    return _build_from_shapes(model, envelope.get("build_shapes", {}))


# --------------------------------------------------------------------- compile settings
def serialize_compile(model: Any) -> Tuple[Optional[Dict[str, Any]], list]:
    """The compile settings as JSON, plus a list of what could not be saved."""
    cfg = getattr(model, "_compile_config", None)
    if cfg is None:
        return None, []
    from kerasish import losses
    from kerasish.optimizers import TorchOptimizer

    dropped = []
    opt = cfg.optimizer
    if isinstance(opt, TorchOptimizer):
        torch_opt = opt.torch_optimizer
        torch_cls = type(torch_opt) if torch_opt is not None else opt.torch_class
        optimizer = {"class_name": "TorchOptimizer", "config": {"torch_class": torch_cls.__name__}}
        if getattr(torch.optim, torch_cls.__name__, None) is not torch_cls:
            dropped.append(f"optimizer {torch_cls.__name__} (not a torch.optim class)")
            optimizer = None
    else:
        optimizer = {"class_name": type(opt).__name__, "config": opt.get_config()}
    loss: Any = cfg.raw.get("loss")
    if loss is None and cfg.loss is not None:
        loss = losses.serialize(cfg.loss)
        if loss is None:
            dropped.append(f"loss {getattr(cfg.loss, 'name', cfg.loss)!r} (a callable)")
    metrics = list(cfg.raw.get("metrics") or [])
    if len(metrics) != len(cfg.metric_ids):
        dropped.extend(f"metric {m!r}" for m in cfg.metric_ids if not isinstance(m, str))
    if optimizer is None or (loss is None and cfg.loss is not None):
        return None, dropped
    if cfg.heads is not None:
        # Multi-output: the per-output settings as given to compile (names only).
        if cfg.raw.get("loss") is None or (cfg.raw.get("multi_metrics") is None and any(h.metric_ids for h in cfg.heads)):
            dropped.append("per-output losses/metrics that are not names")
            return None, dropped
        return {"optimizer": optimizer, "loss": cfg.raw["loss"], "metrics": cfg.raw.get("multi_metrics"),
                "loss_weights": cfg.raw.get("loss_weights"), "jit_compile": bool(cfg.jit_compile)}, dropped
    return {"optimizer": optimizer, "loss": loss, "metrics": metrics, "loss_weights": cfg.loss_weight,
            "jit_compile": bool(cfg.jit_compile)}, dropped


def deserialize_optimizer(envelope: Mapping[str, Any]) -> Any:
    """Rebuilds a kerasish optimizer from `serialize_compile`'s optimizer entry."""
    from kerasish import optimizers

    name, config = envelope.get("class_name"), dict(envelope.get("config", {}))
    if name == "TorchOptimizer":
        torch_cls = getattr(torch.optim, str(config.get("torch_class")), None)
        if not (isinstance(torch_cls, type) and issubclass(torch_cls, torch.optim.Optimizer)):
            raise ValueError(
                f"The file names the torch optimizer {config.get('torch_class')!r}, which torch.optim does not "
                "have. Load with compile=False and compile the model yourself."
            )
        return optimizers.TorchOptimizer(torch_cls)
    classes = {k: v for k, v in vars(optimizers).items()
               if isinstance(v, type) and issubclass(v, optimizers.Optimizer) and v is not optimizers.TorchOptimizer}
    if name not in classes:
        raise ValueError(
            f"The file names the optimizer class {name!r}, which kerasish does not have. Known optimizers: "
            f"{', '.join(sorted(classes))}.{did_you_mean(str(name), classes)} Load with compile=False and "
            "compile the model yourself."
        )
    return classes[name].from_config(config)


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
