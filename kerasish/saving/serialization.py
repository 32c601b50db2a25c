"""Objects ↔ JSON, through a registry of classes; nothing in a file can run code.

An object is described by Keras's envelope `{'module', 'class_name', 'config',
'registered_name'}`, `config` being what its `get_config()` returns. Loading finds the
class with `kerasish.utils.object_registration.resolve_class` (custom_objects, then
custom_object_scope, then registered classes, then kerasish's own, which
`kerasish.layers` and `kerasish.models` register when imported: this module never
imports `kerasish.models`) and calls its `from_config`. A name found nowhere is an
error, never an import.

Saving checks a user's class before anything is written: its config must be JSON and
hold the arguments of its constructor, so that `cls(**config)` rebuilds it.

`encode_state` / `decode_state` (nested state that mixes tensors and plain values) live
in `kerasish.saving.weights` and are re-exported here.
"""

from __future__ import annotations

import functools
import inspect
import json
import types
from typing import Any, Dict, Mapping, Optional, Tuple

import torch

from kerasish.saving.keras_objects import serialize_nested
from kerasish.utils.object_registration import (
    CustomObjectScope, builtin_classes, check_custom_objects, get_registered_name, is_builtin,
    register_serializable, registered_names, resolve_class,
)
from kerasish.saving.weights import decode_state, encode_state
from kerasish.utils.text import did_you_mean, short_repr

__all__ = [
    "register_serializable", "registered_names", "get_registered_class", "serialize_object", "deserialize_object",
    "serialize_model", "deserialize_model", "model_to_json", "model_from_json", "serialize_compile",
    "deserialize_optimizer", "encode_state", "decode_state",
]


def get_registered_class(name: str, custom_objects: Optional[Mapping[str, type]] = None) -> type:
    """The class known under `name` (a registered name or a class name).

    Raises:
        ValueError: for an unknown name, listing the registered ones.
    """
    return resolve_class(name, custom_objects=check_custom_objects(custom_objects))


def _builtin(name: str) -> Optional[type]:
    # Filled by kerasish.layers / kerasish.models at import; None only before they load.
    return builtin_classes().get(name)


# --------------------------------------------------------------------- one object
def _describe(obj: Any) -> str:
    name = getattr(obj, "name", None)
    return f"{type(obj).__name__} {name!r}" if isinstance(name, str) else type(obj).__name__


def _owner(cls: type, attribute: str) -> Optional[type]:
    """The class in `cls`'s MRO that defines `attribute`."""
    return next((k for k in cls.__mro__ if attribute in vars(k)), None)


def _is_users(cls: Optional[type]) -> bool:
    return (cls is not None and cls is not object and not is_builtin(cls)
            and not cls.__module__.startswith(("torch.", "kerasish.")))


def _init_params(cls: type) -> Optional[Tuple[type, Dict[str, inspect.Parameter], bool]]:
    """(class defining __init__, its named parameters, whether it takes **kwargs), or None."""
    owner = _owner(cls, "__init__")
    try:
        params = list(inspect.signature(owner.__init__).parameters.values())[1:]  # drop self
    except (TypeError, ValueError):  # a C-level __init__ without a signature
        return None
    named = {p.name: p for p in params
             if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}
    return owner, named, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _with_base_config(obj: Any, config: Dict[str, Any]) -> Dict[str, Any]:
    # The base Layer keys (name, trainable, dtype, input_shape) a constructor taking
    # **kwargs passes on to Layer.__init__: Model.get_config returns only the name, so a
    # subclass calling super().get_config() would otherwise lose trainable and dtype.
    layer_cls, init = _builtin("Layer"), _init_params(type(obj))
    if layer_cls is None or init is None or not isinstance(obj, layer_cls):
        return config
    _, named, takes_kwargs = init
    extra = {k: v for k, v in layer_cls.get_config(obj).items() if k not in config and (takes_kwargs or k in named)}
    return {**config, **extra} if extra else config


def _check_rebuildable(obj: Any, config: Dict[str, Any]) -> None:
    """A user's class whose from_config is `cls(**config)`: config must fit its __init__."""
    cls = type(obj)
    init = _init_params(cls)
    if _is_users(_owner(cls, "from_config")) or init is None:
        return  # the class rebuilds itself from its config in its own from_config
    owner, named, takes_kwargs = init
    missing = [n for n in named if n not in config] if _is_users(owner) else []
    required = [n for n in missing if named[n].default is inspect.Parameter.empty]
    optional = [n for n in missing if n not in required]
    unexpected = [] if takes_kwargs else [k for k in config if k not in named]
    if not (missing or unexpected):
        return
    name = cls.__name__
    problems = []
    if required:
        problems.append(f"{name}.__init__ requires {required}, which the config lacks")
    if optional:
        problems.append(f"the config lacks the arguments {optional} (they would load as their defaults)")
    if unexpected:
        problems.append(f"{name}.__init__ does not accept {unexpected}")
    inherited = _owner(cls, "get_config")
    note = "" if _is_users(inherited) else (
        f" {name} does not define get_config(); it inherits {getattr(inherited, '__name__', '?')}.get_config().")
    example = ", ".join(f"'{n}': self.{n}" for n in missing[:2]) or "'units': self.units"
    raise ValueError(
        f"Cannot save {_describe(obj)}: its config cannot rebuild it. Loading calls {name}(**config) with the dict "
        f"get_config() returns (keys {sorted(config)}), but {'; '.join(problems)}.{note} Override get_config() in "
        f"{name} to return its constructor arguments, e.g. `def get_config(self): return "
        f"{{**super().get_config(), {example}}}` (with **kwargs in __init__ passed to super().__init__), and "
        "register the class with @kerasish.saving.register_keras_serializable() so load_model finds it."
    )


def _first_non_json(value: Any, path: str) -> Optional[Tuple[str, Any]]:
    if value is None or isinstance(value, (str, bool, int, float)):
        return None
    if isinstance(value, (list, tuple)):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    elif isinstance(value, dict):
        bad_key = next((k for k in value if not isinstance(k, (str, int, float, bool)) and k is not None), None)
        if bad_key is not None:
            return f"a key of {path}", bad_key
        items = ((f"{path}[{k!r}]", v) for k, v in value.items())
    else:
        return path, value
    return next((bad for p, v in items for bad in [_first_non_json(v, p)] if bad is not None), None)


def _check_json(obj: Any, config: Any) -> None:
    bad = _first_non_json(config, "config")
    if bad is not None:
        path, value = bad
        raise TypeError(
            f"Cannot save {_describe(obj)}: its get_config() holds {short_repr(value)} of type "
            f"{type(value).__name__} at {path}, which JSON cannot hold (a saved config is JSON, never a pickle). "
            "Return only numbers, strings, booleans, None, lists and dicts: for a nested layer or object return its "
            "get_config() and rebuild it in from_config, and turn NumPy values into Python ones with int(), float() "
            "or .tolist()."
        )


def serialize_object(obj: Any) -> Dict[str, Any]:
    """Keras's envelope `{'module', 'class_name', 'config', 'registered_name'}` for a layer, model or module.

    A user's class (not one of kerasish's own) is checked first: its `get_config()` must
    return a JSON-ready dict holding its constructor arguments, unless the class defines
    its own `from_config`.

    Raises:
        ValueError: for a class without get_config/from_config, or a config that does not
            fit the constructor.
        TypeError: for a config that is not a dict or holds values JSON cannot hold.
    """
    cls = type(obj)
    builtin = is_builtin(cls)
    if not builtin and not (callable(getattr(obj, "get_config", None)) and callable(getattr(cls, "from_config", None))):
        raise ValueError(
            f"Cannot save {_describe(obj)}: its class has no get_config()/from_config(), so a file cannot describe "
            f"it. Subclass kerasish.layers.Layer (or kerasish.Model), or add get_config() returning the constructor "
            "arguments and a classmethod from_config(cls, config), then register the class with "
            "@kerasish.saving.register_keras_serializable()."
        )
    config = serialize_nested(obj.get_config())  # a nested layer is described, as Keras does
    if not isinstance(config, dict):
        raise TypeError(
            f"Cannot save {_describe(obj)}: its get_config() returned {short_repr(config)} of type "
            f"{type(config).__name__}, expected a dict of constructor arguments. Return a dict, e.g. "
            "{**super().get_config(), 'units': 4}."
        )
    if not builtin:
        config = _with_base_config(obj, config)
        _check_rebuildable(obj, config)
    _check_json(obj, config)
    return {"module": cls.__module__, "class_name": cls.__name__, "config": config,
            "registered_name": None if builtin else get_registered_name(cls)}


def _from_config(cls: Any, config: Mapping[str, Any], class_name: str) -> Any:
    if not callable(getattr(cls, "from_config", None)):
        raise TypeError(
            f"The saved class name {class_name!r} resolves to {short_repr(cls)}, which has no from_config(), so "
            "the saved config cannot rebuild it. Map the name to the class that was saved, e.g. "
            f"custom_objects={{'{class_name}': TheLayerClass}}."
        )
    try:
        return cls.from_config(dict(config))
    except TypeError as e:
        raise TypeError(
            f"{getattr(cls, '__name__', cls)}.from_config could not rebuild the saved object from its config "
            f"{short_repr(dict(config), 200)}: {e}. get_config() must return exactly the constructor arguments "
            "(from_config calls cls(**config)); otherwise override the classmethod from_config(cls, config)."
        ) from e
    except ValueError as e:
        raise ValueError(
            f"Cannot rebuild the saved {class_name} {config.get('name')!r} from its config: {e} Correct that entry "
            "of the config (or save the model again), or map the name to a class that accepts it in custom_objects."
        ) from None


def _check_envelope(envelope: Any, what: str) -> None:
    if not (isinstance(envelope, Mapping) and isinstance(envelope.get("class_name"), str)
            and isinstance(envelope.get("config"), Mapping)
            and all(isinstance(envelope.get(k), (str, type(None))) for k in ("module", "registered_name"))):
        raise ValueError(
            f"The {what} must be {{'class_name': ..., 'config': ...}} (a string, a dict, and 'module' and "
            f"'registered_name' strings or null), received {short_repr(envelope, 200)}. "
            "The file is not a kerasish model file, or it was edited by hand."
        )


def _resolve(envelope: Mapping[str, Any], custom_objects: Mapping[str, Any]) -> Any:
    return resolve_class(envelope["class_name"], envelope.get("registered_name"), envelope.get("module"),
                         custom_objects)


def deserialize_object(envelope: Mapping[str, Any], custom_objects: Optional[Mapping[str, Any]] = None) -> Any:
    """Rebuilds what `serialize_object` described (weights not loaded).

    Raises:
        ValueError: for a malformed envelope or a class name found nowhere.
        TypeError: when the class cannot rebuild itself from the config.
    """
    custom_objects = check_custom_objects(custom_objects)
    _check_envelope(envelope, "object description")
    cls = _resolve(envelope, custom_objects)
    config = envelope["config"]
    if "module" not in envelope and isinstance(config, Mapping) and "batch_input_shape" in config:
        config = _legacy_input_shape(envelope["class_name"], config)
    with CustomObjectScope(custom_objects):  # a from_config that deserializes nested objects sees them too
        return _from_config(cls, config, envelope["class_name"])


def _legacy_input_shape(class_name: str, config: Mapping[str, Any]) -> Dict[str, Any]:
    """A Keras 2 (tf.keras) layer config's `batch_input_shape`, as Keras 3 reads such configs: an
    InputLayer's `batch_shape`, any other layer's `input_shape` without the batch entry."""
    config = dict(config)
    shape = config.pop("batch_input_shape")
    if class_name == "InputLayer":
        config.setdefault("batch_shape", shape)
    elif isinstance(shape, (list, tuple)) and shape:
        config.setdefault("input_shape", list(shape[1:]))
    return config


# --------------------------------------------------------------------- models
def serialize_model(model: Any) -> Dict[str, Any]:
    """The envelope describing `model`'s architecture (Sequential, functional, wrapped or subclassed).

    Raises:
        ValueError / TypeError: when the architecture cannot be described (a plain torch
            module, a bare Model, a user's class whose config cannot rebuild it), saying
            what to change.
    """
    cls = type(model)
    container = _container(cls)
    if container is not None:
        input_layer = _builtin("InputLayer")
        layers = [layer for layer in model.layers if type(layer) is not input_layer]
        for layer in layers:
            if not callable(getattr(layer, "get_config", None)):
                raise ValueError(_unsavable(
                    model, f"its layer {getattr(layer, 'name', '?')!r} is a {type(layer).__name__}, which is not "
                    "registered", type(layer).__name__))
        config = model.get_config()
        entries = [e for e in config["layers"] if e["class_name"] != "InputLayer"]
        for entry, layer in zip(entries, layers):
            entry.update(serialize_object(layer))
        if container is _builtin("Sequential"):
            input_shape = model.expected_input_shape()
            if input_shape is not None:
                config["build_input_shape"] = list(input_shape)
        _check_json(model, config)
        return {"module": cls.__module__, "class_name": cls.__name__, "config": config,
                "registered_name": None if is_builtin(cls) else get_registered_name(cls)}
    if cls is _builtin("Model"):
        module = getattr(model, "module", None)
        if module is None:
            raise ValueError(
                f"Cannot save the architecture of model {model.name!r}: it is a bare kerasish.Model with no module "
                "and no layers. Wrap a module (Model(my_module)), build a Sequential or functional model, or "
                "subclass Model with __init__, call and get_config."
            )
        if not (callable(getattr(module, "get_config", None)) and callable(getattr(type(module), "from_config", None))):
            raise ValueError(_unsavable(model, f"it wraps a plain torch module of class {type(module).__name__}",
                                        type(module).__name__))
        return {"module": cls.__module__, "class_name": "Model", "registered_name": None,
                "config": {"name": model.name, "module": serialize_object(module)},
                "build_shapes": _build_shapes(model)}
    return {**serialize_object(model), "build_shapes": _build_shapes(model)}


def _container(cls: Any) -> Optional[type]:
    """Sequential or Functional when `cls` is one of them, or a subclass that keeps their
    constructor and config (it only adds methods, e.g. a custom train_step); else None."""
    for name in ("Sequential", "Functional"):
        base = _builtin(name)
        if base is not None and isinstance(cls, type) and issubclass(cls, base) and not any(
                _is_users(_owner(cls, a)) for a in ("__init__", "get_config", "from_config")):
            return base
    return None


def _build_shapes(model: Any) -> Dict[str, Any]:
    # kerasish layers inside a subclassed model build lazily on their first input; the
    # shapes they were built for (Keras's get_build_config) let load_model create their
    # weights before loading them.
    shapes = {}
    for path, module in model.named_modules():
        build_config = module.get_build_config() if path and hasattr(module, "get_build_config") else None
        if build_config is not None:
            shapes[path] = build_config["input_shape"]
    return shapes


def _build_from_shapes(model: Any, shapes: Mapping[str, Any]) -> Any:
    for path, module in model.named_modules():
        if path in shapes and getattr(module, "built", True) is False and hasattr(module, "build_from_config"):
            module.build_from_config({"input_shape": shapes[path]})
    return model


def _unsavable(model: Any, why: str, cls_name: str) -> str:
    return (
        f"Cannot save the architecture of model {getattr(model, 'name', '?')!r}: {why}, so the file could not "
        f"rebuild it. Either save only the weights (model.save_weights('weights.safetensors')) and rebuild the "
        f"model in code before load_weights, or give {cls_name} get_config()/from_config() and register it "
        f"with @kerasish.saving.register_keras_serializable()."
    )


def _functional_from_config(cls: type, config: Mapping[str, Any], custom_objects: Mapping[str, Any]) -> Any:
    # Functional.from_config resolves each layer by its entry's class_name; give each
    # entry a key that stands for the class its full envelope resolves to.
    config, rebuilders, layers = dict(config), {}, []
    if not isinstance(config.get("layers"), list):
        raise _bad_graph(config, TypeError(f"layers={short_repr(config.get('layers'))} is not a list"))
    for entry in config["layers"]:
        entry = dict(entry)
        if entry.get("class_name") != "InputLayer":
            _check_envelope(entry, "layer description")
            key = f"{entry.get('module')}:{entry.get('registered_name')}:{entry['class_name']}"
            layer_cls = _resolve(entry, custom_objects)
            if _container(layer_cls) is not None:
                # A nested Sequential/functional model: rebuilt the way a saved model is.
                envelope = {k: entry[k] for k in ("module", "class_name", "registered_name") if k in entry}
                rebuild: Any = functools.partial(_nested_model, envelope, custom_objects)
            else:
                rebuild = functools.partial(_from_config, layer_cls, class_name=entry["class_name"])
            rebuilders[key] = types.SimpleNamespace(from_config=rebuild)
            entry["class_name"] = key
        layers.append(entry)
    config["layers"] = layers
    try:
        return cls.from_config(config, resolve=rebuilders.__getitem__)
    except (KeyError, IndexError, AttributeError, TypeError) as e:
        raise _bad_graph(config, e) from None


def _bad_graph(config: Mapping[str, Any], error: Exception) -> ValueError:
    return ValueError(
        f"The saved functional model {config.get('name')!r} cannot be rebuilt from its graph ({type(error).__name__}: "
        f"{error}). Expected the 'layers' (each with 'name', 'class_name', 'config', 'inbound_nodes'), "
        "'input_layers' and 'output_layers' that Model.get_config() writes; the file was edited or damaged, so "
        "save the model again."
    )


def _nested_model(envelope: Mapping[str, Any], custom_objects: Mapping[str, Any], config: Mapping[str, Any]) -> Any:
    return deserialize_model({**envelope, "config": config}, custom_objects)


def deserialize_model(envelope: Mapping[str, Any], custom_objects: Optional[Mapping[str, type]] = None) -> Any:
    """Rebuilds a model from `serialize_model`'s envelope (weights not loaded).

    Args:
        envelope: the dict `serialize_model` returned.
        custom_objects: `{class_name: class}` for classes that are not registered.
            Defaults to `None`.

    Raises:
        ValueError: for a malformed envelope or a class name found nowhere.
        TypeError: when a class cannot rebuild itself from its config.
    """
    custom_objects = check_custom_objects(custom_objects)
    _check_envelope(envelope, "model description")
    config = envelope["config"]
    cls = _resolve(envelope, custom_objects)
    container = _container(cls)
    with CustomObjectScope(custom_objects):
        if container is _builtin("Sequential"):
            entries, shape = config.get("layers", []), config.get("build_input_shape")
            if not isinstance(entries, list) or not (shape is None or isinstance(shape, list) and all(
                    d is None or isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
                raise ValueError(
                    f"The saved Sequential {config.get('name')!r} has layers={short_repr(entries)} and "
                    f"build_input_shape={short_repr(shape)}; expected a list of layer descriptions and a list of "
                    "sizes (int or null). The file was edited or damaged; save the model again.")
            layers = [deserialize_object(e, custom_objects) for e in entries]
            model = _from_config(types.SimpleNamespace(from_config=lambda kw: cls(layers, **kw)),
                                 {"name": config.get("name")}, envelope["class_name"])
            if not model.built and shape is not None:
                model.build(tuple(shape))
            return model
        if container is _builtin("Functional"):
            return _functional_from_config(cls, config, custom_objects)
        if cls is _builtin("Model") and "module" in config:
            model = cls(deserialize_object(config["module"], custom_objects), name=config.get("name"))
        else:
            model = _from_config(cls, config, envelope["class_name"])
    shapes = envelope.get("build_shapes", {})
    if not isinstance(shapes, Mapping):
        raise ValueError(f"The saved build_shapes of {envelope['class_name']} is {short_repr(shapes)}, expected a "
                         "dict of layer paths to input shapes. The file was edited or damaged; save the model again.")
    return _build_from_shapes(model, shapes)


def model_to_json(model: Any, **kwargs: Any) -> str:
    """The model's architecture as a JSON string (no weights); `model_from_json` rebuilds it.

    Args:
        model: a kerasish model.
        **kwargs: passed to `json.dumps` (e.g. `indent=2`).

    Raises:
        ValueError / TypeError: as `serialize_model`.

    Example:
        >>> from kerasish import Sequential
        >>> from kerasish.layers import Dense
        >>> text = model_to_json(Sequential([Dense(2, input_shape=(3,))]))
        >>> model_from_json(text).output_shape
        (None, 2)
    """
    return json.dumps(serialize_model(model), **kwargs)


def model_from_json(json_string: str, custom_objects: Optional[Mapping[str, type]] = None) -> Any:
    """A new model (fresh weights) from the JSON `Model.to_json()` / `model_to_json` wrote.

    Args:
        json_string: the JSON text.
        custom_objects: `{class_name: class}` for classes that are not registered.
            Defaults to `None`.

    Returns:
        The model, uncompiled.

    Raises:
        ValueError: for text that is not JSON, or a class name found nowhere.
    """
    try:
        envelope = json.loads(json_string)
    except (json.JSONDecodeError, TypeError) as e:
        raise ValueError(
            f"model_from_json expects the JSON text model.to_json() returns, received {short_repr(json_string)} "
            f"({type(json_string).__name__}), which is not valid JSON ({e})."
        ) from None
    from kerasish.saving.keras_config import from_keras_config, written_by_keras

    if isinstance(envelope, Mapping) and written_by_keras(envelope.get("config")):  # Keras's to_json()
        return from_keras_config(envelope, custom_objects, compile=False)
    return deserialize_model(envelope, custom_objects)


# --------------------------------------------------------------------- compile settings
def _encode_metric(metric: Any) -> Any:
    """A compile metric as JSON: a name stays a name, a Metric becomes its envelope; None
    for what a file cannot describe (a plain function, a class that is not registered)."""
    from kerasish import metrics

    if isinstance(metric, str):
        return metric
    if isinstance(metric, type) and issubclass(metric, metrics.Metric):
        metric = metrics.get(metric)
    if isinstance(metric, metrics.Metric):
        cls = type(metric)
        if cls is metrics.MeanMetricWrapper and not _named_loss_function(metric.fn):
            return None  # wraps a user's function: code, not configuration
        if cls.__module__.startswith("kerasish.metrics"):
            envelope = {"module": "keras.metrics", **metrics.serialize(metric), "registered_name": None}
        elif get_registered_name(cls) != cls.__name__ or cls.__name__ in registered_names():
            envelope = {"module": cls.__module__, "class_name": cls.__name__, "config": metric.get_config(),
                        "registered_name": get_registered_name(cls)}
        else:
            return None
        return envelope if _first_non_json(envelope["config"], "config") is None else None
    return metric.__name__ if _named_loss_function(metric) else None


def _named_loss_function(fn: Any) -> bool:
    from kerasish import losses

    name = getattr(fn, "__name__", None)
    try:
        return isinstance(name, str) and losses.function(name) is fn
    except ValueError:
        return False


def _encode_metrics(ids: Any, dropped: list) -> list:
    encoded = [(m, _encode_metric(m)) for m in ids]
    dropped.extend(f"metric {getattr(m, 'name', getattr(m, '__name__', m))!r}" for m, e in encoded if e is None)
    return [e for _, e in encoded if e is not None]


def serialize_compile(model: Any) -> Tuple[Optional[Dict[str, Any]], list]:
    """The compile settings as JSON, plus a list of what could not be saved.

    Metrics given as names or Metric objects (built-in or registered) are kept, with
    `weighted_metrics` and per-output metric dicts; plain functions are listed as dropped.
    """
    cfg = getattr(model, "_compile_config", None)
    if cfg is None:
        return None, []
    from kerasish import losses
    from kerasish.optimizers import TorchOptimizer

    dropped: list = []
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
    settings: Dict[str, Any] = {"optimizer": optimizer, "jit_compile": bool(cfg.jit_compile)}
    if cfg.heads is not None:
        loss: Any = cfg.raw.get("loss")
        if loss is None:  # per-output loss objects: each by its envelope
            loss = {h.name: None if h.loss is None else losses._file_form(h.loss) for h in cfg.heads}
            if any(v is None and h.loss is not None for h, v in zip(cfg.heads, loss.values())):
                dropped.append("per-output losses that are callables")
                loss = None
        metrics = {h.name: _encode_metrics(h.metric_ids, dropped) for h in cfg.heads}
        settings.update(loss=loss, metrics=metrics if any(metrics.values()) else None,
                        loss_weights=cfg.raw.get("loss_weights"))
    else:
        loss = cfg.raw.get("loss")
        if loss is None and cfg.loss is not None:
            loss = losses._file_form(cfg.loss)
            if loss is None:
                dropped.append(f"loss {getattr(cfg.loss, 'name', cfg.loss)!r} (a callable)")
        settings.update(loss=loss, metrics=_encode_metrics(cfg.metric_ids, dropped),
                        weighted_metrics=_encode_metrics(cfg.weighted_metric_ids, dropped) or None,
                        loss_weights=cfg.loss_weight)
    if optimizer is None or (loss is None and cfg.loss is not None) or (
            cfg.heads is not None and loss is None and any(h.loss is not None for h in cfg.heads)):
        return None, dropped
    return settings, dropped


def deserialize_optimizer(envelope: Mapping[str, Any]) -> Any:
    """Rebuilds a kerasish optimizer from `serialize_compile`'s optimizer entry.

    Raises:
        ValueError: for an entry that is not `{'class_name': str, 'config': dict}`, a class
            kerasish does not have (or an abstract one), or a config the class refuses.
    """
    from kerasish import optimizers

    if not isinstance(envelope, Mapping) or not isinstance(envelope.get("class_name"), str) or not isinstance(
            envelope.get("config", {}), Mapping):
        raise ValueError(
            f"The compile optimizer entry must be {{'class_name': str, 'config': dict}}, received "
            f"{short_repr(envelope, 200)}. The file was edited or damaged; load with compile=False and compile "
            "the model yourself."
        )
    name, config = envelope["class_name"], dict(envelope.get("config", {}))
    if name == "TorchOptimizer":
        torch_cls = getattr(torch.optim, str(config.get("torch_class")), None)
        if not (isinstance(torch_cls, type) and issubclass(torch_cls, torch.optim.Optimizer)
                and torch_cls is not torch.optim.Optimizer):
            raise ValueError(
                f"The file names the torch optimizer {config.get('torch_class')!r}, which torch.optim does not "
                "have. Load with compile=False and compile the model yourself."
            )
        return optimizers.TorchOptimizer(torch_cls)
    abstract = (optimizers.Optimizer, optimizers.TorchOptimizer)  # bases: no update rule of their own
    classes = {k: v for k, v in vars(optimizers).items() if isinstance(v, type) and issubclass(v, optimizers.Optimizer)
               and v not in abstract and not k.startswith("_") and not inspect.isabstract(v)}
    if name not in classes:
        raise ValueError(
            f"The file names the optimizer class {name!r}, which kerasish does not have. Known optimizers: "
            f"{', '.join(sorted(classes))}.{did_you_mean(name, classes)} (The abstract bases cannot be named.)"
            " Load with compile=False and compile the model yourself."
        )
    try:
        return classes[name].from_config(config)
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"The file's optimizer {name} has a config it cannot be built from ({e}); received "
            f"{short_repr(config, 200)}. Load with compile=False and compile the model yourself."
        ) from None
