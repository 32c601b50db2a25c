"""Keras's `serialize_keras_object` / `deserialize_keras_object` for one object at a time.

`serialize_keras_object(obj)` gives the JSON-ready description Keras 3 writes: plain values
unchanged, lists and dicts item by item, a function as `{'module': 'builtins', 'class_name':
'function', 'config': <its registered name>, 'registered_name': 'function'}`, a Sequential or
functional model as in a `.keras` file, and any other object with `get_config()` (layer,
regularizer, initializer, optimizer, loss, metric) as the envelope `{'module', 'class_name',
'config', 'registered_name'}` with Keras's module names for kerasish's own classes.
`deserialize_keras_object(config)` reverses it, finding classes and functions by name in
`custom_objects`, any open `custom_object_scope` and the registry; it never imports a module a
config names, and a string or an object that is already built comes back as it is, as in Keras.
`kerasish.layers.serialize` / `deserialize` are the same two functions.

`deserialize_module_object(config, module_objects, ...)` is what `keras.losses.deserialize`,
`keras.optimizers.deserialize` and the other object modules do: a name or a config is looked up in
one module's table first (`'mse'`, `{'class_name': 'Adam', ...}` without `module`), then as above.
"""

from __future__ import annotations

import inspect
import json
from typing import Any, Dict, Mapping, Optional

from kerasish.utils.object_registration import (
    CustomObjectScope,
    check_custom_objects,
    get_registered_name,
    get_registered_object,
    is_builtin,
    resolve_class,
)
from kerasish.utils.text import short_repr, unknown_name_message

__all__ = ["serialize_keras_object", "deserialize_keras_object", "deserialize_module_object"]

_PLAIN = (str, int, float, bool, type(None))
#: kerasish modules whose Keras name is not `keras.<package>`.
_KERAS_MODULES = {"kerasish.optimizers.schedules": "keras.optimizers.schedules"}


def _is_model(obj: Any) -> bool:
    names = {c.__name__ for c in type(obj).__mro__ if c.__module__.startswith("kerasish.models")}
    return bool(names & {"Sequential", "Functional"})


def serialize_keras_object(obj: Any) -> Any:
    """The JSON-ready description of `obj` that Keras 3 writes (see the module docstring).

    Raises:
        TypeError: for an object that has no `get_config()` and is not a function, a plain
            value, a list or a dict.

    Example:
        >>> import kerasish
        >>> serialize_keras_object(kerasish.regularizers.L2(0.5))["class_name"]
        'L2'
    """
    if isinstance(obj, _PLAIN):
        return obj
    if isinstance(obj, (list, tuple)):
        return [serialize_keras_object(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: serialize_keras_object(v) for k, v in obj.items()}
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return {"module": "builtins", "class_name": "function", "config": get_registered_name(obj),
                "registered_name": "function"}
    if _is_model(obj):
        from kerasish.saving.keras_config import to_keras_config

        return to_keras_config(obj)
    from kerasish.layers.layer import Layer

    if isinstance(obj, Layer):
        from kerasish.saving.keras_config_layers import layer_envelope

        envelope = layer_envelope(obj)
        envelope["config"] = serialize_nested(envelope["config"])
        return envelope
    if not callable(getattr(obj, "get_config", None)):
        raise TypeError(
            f"serialize_keras_object cannot describe {short_repr(obj)} of type {type(obj).__name__}: it has no "
            "get_config(). Give its class get_config() (and from_config()) and register it with "
            "@kerasish.saving.register_keras_serializable(), or pass plain values, lists and dicts."
        )
    cls = type(obj)
    module = cls.__module__
    builtin = is_builtin(cls) or module.startswith("kerasish.")  # kerasish's own: Keras's module name
    if builtin and module.startswith("kerasish."):  # kerasish.regularizers -> keras.regularizers
        module = _KERAS_MODULES.get(module, "keras." + module.split(".")[1])
    return {"module": module, "class_name": cls.__name__, "config": serialize_nested(obj.get_config()),
            "registered_name": None if builtin else get_registered_name(cls)}


def serialize_nested(config: Any) -> Any:
    """`config` with every object in it that has `get_config()` (a nested layer, say) replaced by
    its description, as Keras serializes a layer's config; plain values and tuples are kept."""
    if isinstance(config, dict):
        return {k: serialize_nested(v) for k, v in config.items()}
    if isinstance(config, list):
        return [serialize_nested(v) for v in config]
    if callable(getattr(config, "get_config", None)) and not isinstance(config, type):
        return serialize_keras_object(config)
    return config


def _function(config: Mapping[str, Any], custom_objects: Mapping[str, Any]) -> Any:
    name = config.get("config")
    fn = get_registered_object(name, custom_objects) if isinstance(name, str) else None
    if fn is None and isinstance(name, str):
        from kerasish import activations  # Keras's own functions are written by name (e.g. 'relu')

        try:
            fn = activations.get(name)
        except ValueError:
            fn = None
    if fn is None:
        raise ValueError(
            f"The config describes the function {name!r}, which is not registered. Decorate it with "
            f"@kerasish.saving.register_keras_serializable(), or pass custom_objects={{{name!r}: {name}}}."
        )
    return fn


# Keras's packages whose classes kerasish keeps under the same names (regularizers.L1 ...).
_PACKAGES = ("regularizers", "initializers", "constraints", "optimizers", "losses", "metrics")


def _package_class(config: Mapping[str, Any]) -> Any:
    """kerasish's class for a Keras built-in that is not a layer (`keras.regularizers` `L1`), else None."""
    module = config.get("module")
    parts = module.split(".") if isinstance(module, str) else []
    if config.get("registered_name") is not None or len(parts) < 2 or parts[0] not in ("keras", "kerasish"):
        return None
    package = parts[2] if parts[1] == "src" and len(parts) > 2 else parts[1]
    if package not in _PACKAGES:
        return None
    import importlib

    cls = getattr(importlib.import_module(f"kerasish.{package}"), config["class_name"], None)
    return cls if isinstance(cls, type) else None


def deserialize_keras_object(config: Any, custom_objects: Optional[Mapping[str, Any]] = None,
                             safe_mode: bool = True) -> Any:
    """The object `config` describes (what `serialize_keras_object` returned, or Keras's own).

    Args:
        config: a description: an envelope dict, a list or dict of them, or a plain value.
        custom_objects: `{name: class_or_function}` for what is not registered. Defaults to `None`.
        safe_mode: refuse Python bytecode (`__lambda__`). Defaults to `True`; kerasish refuses
            bytecode either way.

    Returns:
        The rebuilt object (fresh weights for a layer or model); a string that names a
        custom object gives that object, any other string or built object comes back as is.

    Raises:
        ValueError: for a class or function found nowhere (with how to register it) or Python
            bytecode.
        TypeError: when the class cannot rebuild itself from the config.
    """
    custom_objects = check_custom_objects(custom_objects)
    if isinstance(config, str):
        found = get_registered_object(config, custom_objects)
        return config if found is None else found
    if isinstance(config, (list, tuple)):
        return [deserialize_keras_object(v, custom_objects, safe_mode) for v in config]
    if not isinstance(config, Mapping):
        return config  # a number, None, or an object built already
    if "class_name" not in config or "config" not in config:
        return {k: deserialize_keras_object(v, custom_objects, safe_mode) for k, v in config.items()}
    class_name = config["class_name"]
    if class_name == "function":
        return _function(config, custom_objects)
    if class_name == "__lambda__":
        raise ValueError(
            "The config holds a Python lambda as bytecode, which kerasish never loads (it could run any code). "
            "Replace the lambda with a named function registered with @kerasish.saving.register_keras_serializable()."
        )
    with CustomObjectScope(custom_objects):
        if class_name in ("Sequential", "Functional") and isinstance(config["config"], Mapping) \
                and "layers" in config["config"]:
            from kerasish.saving.keras_config import from_keras_config

            # json round trip: Keras's in-memory config holds tuples where its file has lists.
            return from_keras_config(json.loads(json.dumps(config)), custom_objects, safe_mode=safe_mode,
                                     compile=False)
        cls = _package_class(config) or resolve_class(class_name, config.get("registered_name"),
                                                      config.get("module"), custom_objects)
        if not callable(getattr(cls, "from_config", None)):
            raise TypeError(
                f"The config's class name {class_name!r} resolves to {short_repr(cls)}, which has no from_config(), "
                f"so the config cannot rebuild it. Map the name to the class that was saved: "
                f"custom_objects={{{class_name!r}: TheClass}}."
            )
        inner: Dict[str, Any] = dict(config["config"] or {})
        obj = cls.from_config(inner)
    build = config.get("build_config")
    if isinstance(build, Mapping) and getattr(obj, "built", True) is False and hasattr(obj, "build_from_config"):
        obj.build_from_config(dict(build))
    return obj


def _is_user_object(config: Mapping[str, Any], custom_objects: Mapping[str, Any]) -> bool:
    """Whether a user's class or function (custom_objects, a scope or the registry) is named by `config`."""
    inner = config.get("config")
    names = (config.get("class_name"), config.get("registered_name"), inner if isinstance(inner, str) else None)
    return any(isinstance(n, str) and n != "function" and get_registered_object(n, custom_objects) is not None
               for n in names)


def deserialize_module_object(config: Any, module_objects: Mapping[str, Any],
                              custom_objects: Optional[Mapping[str, Any]] = None, *, kind: str,
                              case_insensitive: bool = False,
                              function_objects: Optional[Mapping[str, Any]] = None) -> Any:
    """One Keras object module's `deserialize` (`keras.losses.deserialize`, ...), on that module's table.

    A name is a user's object (custom_objects, a `custom_object_scope`, the registry) or an entry of
    `module_objects`: a class there gives its default instance, a function itself. A dict must have
    `class_name`; a user's class or function it names is rebuilt by `deserialize_keras_object`, a
    `'function'` envelope gives the table's function, any other class name the table's class built
    with `from_config(config['config'])`; `module` and `registered_name` may be absent, as in the
    short form `{'class_name': 'Adam', 'config': {}}`. None gives None.

    Args:
        config: a name, a config dict, or None.
        module_objects: `{name: class_or_function}`, the module's names as Keras spells them.
        custom_objects: `{name: class_or_function}` for what is not registered. Defaults to `None`.
        kind: what the module holds, for messages (`'loss'`, `'optimizer'`).
        case_insensitive: match names in any case (Keras's optimizers do). Defaults to `False`.
        function_objects: `{name: function}` that a function's envelope is looked up in first
            (`keras.metrics.serialize(binary_accuracy)` names the function). Defaults to `None`.

    Raises:
        ValueError: for a name or class name found nowhere (the valid names and the closest one are
            listed) or a dict without `class_name`. Keras returns such a name unchanged; kerasish
            raises at once, where Keras's `get` raises ValueError a step later.
        TypeError: for a config whose `module` is None (a class Keras could not name when saving), as
            Keras, and for anything that is neither a name, a dict nor None.
    """
    custom_objects = check_custom_objects(custom_objects)
    module = f"kerasish.{kind}{'es' if kind.endswith('s') else 's'}"  # kerasish.losses, kerasish.metrics
    fix = (f"Pass one of these names, or for your own {kind} register it with "
           "@kerasish.saving.register_keras_serializable() or pass custom_objects={'Name': TheClass}.")

    def lookup(name: Any) -> Any:
        if not isinstance(name, str):
            return None
        key = name.lower() if case_insensitive else name
        table = {k.lower(): v for k, v in module_objects.items()} if case_insensitive else module_objects
        return table.get(key)

    if config is None:
        return None
    if isinstance(config, str):
        found = get_registered_object(config, custom_objects)
        if found is not None:
            return found
        found = lookup(config)
        if found is None:
            raise ValueError(unknown_name_message(kind, config, module_objects, fix))
        return found() if isinstance(found, type) else found
    if not isinstance(config, Mapping):
        raise TypeError(
            f"Could not deserialize the {kind} {short_repr(config)} of type {type(config).__name__}: expected a "
            f"name or a config dict such as {{'class_name': ..., 'config': {{...}}}}. Pass what "
            f"{module}.serialize() returned, or a name."
        )
    if "class_name" not in config:
        raise ValueError(
            f"The {kind} config {short_repr(dict(config), 160)} needs a 'class_name' key. Expected a dict such as "
            f"{{'class_name': ..., 'config': {{...}}}}, as {module}.serialize() returns."
        )
    if _is_user_object(config, custom_objects):
        return deserialize_keras_object(dict(config), custom_objects)
    class_name = config["class_name"]
    if class_name == "function":
        name = config.get("config") if config.get("module", "builtins") == "builtins" else config.get("registered_name")
        found = (function_objects or {}).get(name) if isinstance(name, str) else None
        found = found if found is not None else lookup(name)
        if found is None:
            raise ValueError(unknown_name_message(kind, name, module_objects, fix))
        return found() if isinstance(found, type) else found  # Keras's table may hold a class by that name
    if "module" in config and config["module"] is None:
        raise TypeError(
            f"Cannot deserialize the {kind} of class {class_name!r}: its config has module=None, so the class "
            "was not known when it was saved. If it is your class, register it with "
            "@kerasish.saving.register_keras_serializable() or pass custom_objects="
            f"{{{class_name!r}: TheClass}}."
        )
    found = lookup(class_name)
    if found is None:
        registered = config.get("registered_name")
        if isinstance(registered, str) and registered != class_name:  # a user's class, not known here
            return deserialize_keras_object(dict(config), custom_objects)  # raises: how to register it
        raise ValueError(unknown_name_message(kind, class_name, module_objects, fix))
    if not isinstance(found, type):
        return found  # Keras: a function's name in place of a class name gives the function
    with CustomObjectScope(custom_objects):
        return found.from_config(dict(config.get("config") or {}))
