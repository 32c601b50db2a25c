"""Subclassed models in Keras 3 files: a `.keras` whose model is the user's own registered class.

Keras saves a subclassed model as its class's registered name and `get_config()` (the
constructor arguments), plus the weights at the paths of the model's attributes. kerasish
cannot run the user's Keras class, but it can build its kerasish twin: a `kerasish.Model`
subclass registered under the same name (`@kerasish.saving.register_keras_serializable(
package=..., name=...)`) with the same attributes. `subclassed_from_keras_config` finds that
class (the registry, `custom_objects` or a `custom_object_scope`), calls its `from_config` with
the saved arguments, builds it from the saved `build_config` and compiles it from the saved
`compile_config`; the caller then loads the weights by Keras's attribute paths (`keras_paths`
walks a subclassed model's attributes as Keras does). An unregistered class fails with the
registry's error, which names the class and how to register it.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import torch

from kerasish.saving import keras_config_layers as kl
from kerasish.utils.object_registration import (
    CustomObjectScope,
    check_custom_objects,
    resolve_class,
)
from kerasish.utils.safe_mode import SafeModeScope

_GRAPH_MODELS = ("Sequential", "Functional")


def _zeros(shape: Any, dtype: torch.dtype) -> Any:
    """A zero batch of Keras's `build_config` input shape (a shape, or a list/dict of shapes)."""
    if isinstance(shape, Mapping):
        return {k: _zeros(v, dtype) for k, v in shape.items()}
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple, Mapping)):
        return [_zeros(s, dtype) for s in shape]
    if not isinstance(shape, (list, tuple)) or not all(d is None or isinstance(d, int) for d in shape):
        raise ValueError(f"The .keras file's build_config holds input_shape={shape!r}; expected a list of ints "
                         "(None for the batch). The file is damaged; save the model again.")
    return torch.zeros([2 if d is None else min(d, 2) if i == 0 else d for i, d in enumerate(shape)], dtype=dtype)


def _build(model: Any, shape: Any, name: str) -> None:
    """Builds the model as Keras's `build_from_config` does: its own `build` when it has one, then a
    zero batch through `call` (float first, then integer ids for a model that starts with an Embedding)."""
    model.build_from_config({"input_shape": shape})
    errors = []
    for dtype in (torch.float32, torch.int64):
        try:
            model.ensure_built(_zeros(shape, dtype))
            return
        except (ValueError, TypeError, RuntimeError, IndexError) as e:
            errors.append(f"{dtype}: {e}")
    raise ValueError(
        f"Building the kerasish model {name!r} on a zero batch of the saved input shape {shape!r} failed "
        f"({'; '.join(errors)}). Its call must accept that input, as the Keras model's did; or give the class a "
        "build(input_shape) method that creates every weight.")


def _registration_hint(name: str, registered: Any) -> str:
    package, _, short = (registered if isinstance(registered, str) and ">" in registered else f"Custom>{name}") \
        .partition(">")
    return (f"This file's model is a subclassed Keras model: define its kerasish twin (a kerasish.Model subclass "
            f"with the same constructor arguments and layer attributes) and decorate it with "
            f"@kerasish.saving.register_keras_serializable(package={package!r}, name={short!r}).")


def is_subclassed(config: Any) -> bool:
    """Whether a `.keras` config's top object is something other than a Sequential or functional model
    (Keras writes those with `module` 'keras' or 'keras.src.models...')."""
    if not isinstance(config, Mapping) or "class_name" not in config:
        return False
    module = config.get("module")
    keras_module = module is None or (isinstance(module, str) and module.split(".")[0] in ("keras", "kerasish"))
    return not (config["class_name"] in _GRAPH_MODELS and keras_module)


def subclassed_from_keras_config(config: Mapping[str, Any], custom_objects: Optional[Mapping[str, Any]] = None,
                                 safe_mode: bool = True, compile: bool = True) -> Any:
    """The user's registered kerasish model class built from a subclassed model's Keras config.

    Args:
        config: the `config.json` of a `.keras` file whose top object is a subclassed model.
        custom_objects: `{name: class}` for a class that is not registered. Defaults to `None`.
        safe_mode: as `load_model`'s. Defaults to `True`.
        compile: restore the saved `compile_config`. Defaults to `True`.

    Raises:
        ValueError: for a class found nowhere (naming it, its registered name and how to
            register the kerasish twin), or a model that cannot be built from the saved input shape.
        TypeError: for a name that resolves to something other than a kerasish model.
    """
    import kerasish
    from kerasish.saving.json_guard import check_depth

    check_depth(config)
    custom_objects = check_custom_objects(custom_objects)
    name, registered = config["class_name"], config.get("registered_name")
    with SafeModeScope(safe_mode), CustomObjectScope(custom_objects):
        try:
            cls = resolve_class(name, registered, config.get("module"), custom_objects)
        except ValueError as e:
            raise ValueError(f"{e} {_registration_hint(name, registered)}") from None
        if not (isinstance(cls, type) and issubclass(cls, kerasish.Model)):
            raise TypeError(
                f"The .keras file's model is of class {name!r} (registered as {registered!r}), which resolves to "
                f"{getattr(cls, '__qualname__', cls)!r}, not a kerasish.Model subclass. Register a kerasish.Model "
                f"subclass under that name, with the same attributes as the Keras class: "
                f"@kerasish.saving.register_keras_serializable(package=..., name=...) giving {registered or name!r}."
            )
        arguments = dict(config.get("config") or {})
        if kl.is_envelope(arguments.get("dtype")):  # Keras's DTypePolicy envelope -> kerasish's dtype
            arguments["dtype"] = kl.dtype_from_keras(arguments["dtype"], f"Model {arguments.get('name')!r}")
        model = cls.from_config(arguments)
        build_config = config.get("build_config")
        shape = build_config.get("input_shape") if isinstance(build_config, Mapping) else None
        if shape is not None:
            _build(model, shape, name)
        if not model.built:
            raise ValueError(
                f"The .keras file's model {arguments.get('name')!r} ({name}) was saved without a build_config, and "
                f"{cls.__qualname__}.from_config(...) does not build its weights, so they cannot be loaded. Build the "
                "model in its constructor (or in from_config), or save it from Keras after calling it on data.")
        compile_config = config.get("compile_config")
        if compile and compile_config:
            model.compile_from_config(dict(compile_config))  # a user's override runs, as in Keras
    return model
