"""clone_model: a new model with the same architecture and freshly initialised weights."""

from __future__ import annotations

from typing import Any, Dict

from kerasish.utils.object_registration import get_registered_name, is_builtin


def clone_model(model: Any, input_tensors: Any = None, clone_function: Any = None, call_function: Any = None,
                recursive: bool = False, **kwargs: Any) -> Any:
    """A new model with `model`'s architecture and new weights (drawn by the initialisers).

    The clone is rebuilt from the model's config, exactly as `load_model` rebuilds a
    saved one: Sequential and functional models layer by layer, subclassed models with
    `cls.from_config(model.get_config())`. Custom classes need not be registered (the
    model's own classes are used), but their `get_config()` must return the constructor
    arguments. The clone is uncompiled, on the CPU, and shares nothing with `model`.

    Args:
        model: a kerasish model.
        input_tensors: not supported. Defaults to `None`.
        clone_function: not supported. Defaults to `None`.
        call_function: not supported. Defaults to `None`.
        recursive: not supported. Defaults to `False`.

    Returns:
        The new model.

    Raises:
        NotImplementedError: for any argument other than `model`.
        ValueError / TypeError: when the architecture cannot be described (as in `save_model`).

    Example:
        >>> from kerasish import Sequential
        >>> from kerasish.layers import Dense
        >>> model = Sequential([Dense(2, input_shape=(3,))])
        >>> twin = clone_model(model)
        >>> twin.get_config() == model.get_config(), twin is model
        (True, False)
    """
    options = {"input_tensors": input_tensors, "clone_function": clone_function, "call_function": call_function,
               "recursive": recursive or None, **kwargs}
    given = sorted(k for k, v in options.items() if v is not None)
    if given:
        raise NotImplementedError(
            f"kerasish's clone_model supports only clone_model(model); received {', '.join(given)}. Clone the "
            "model, then change its layers in code (or build a new functional model from clone.layers)."
        )
    from kerasish.saving import serialization  # kerasish.saving loads on first use

    envelope = serialization.serialize_model(model)
    own: Dict[str, type] = {}
    for module in model.modules():
        cls = type(module)
        if not is_builtin(cls):
            own.setdefault(get_registered_name(cls), cls)
            own.setdefault(cls.__name__, cls)
    return serialization.deserialize_model(envelope, custom_objects=own)
