"""Keras 3's automatic config: a user's layer or model that writes no `get_config()` still saves.

Keras records the arguments each object was constructed with (`Operation.__new__`) and, for a
class that does not override `get_config()`, returns them as its config, so that `cls(**config)`
rebuilds it. It does so only when every argument is a plain value (str, int, float, bool, None, or
lists/tuples/dicts of them); otherwise, and for a constructor with positional-only or `*args`
arguments, `get_config()` raises NotImplementedError asking for one. kerasish does the same:
`capture` runs when a layer is created, `config_of` when its config is asked for.

Only user classes take part: kerasish's own layers write their configs themselves.
"""

from __future__ import annotations

import inspect
from typing import Any, Dict, Mapping, Optional, Tuple

_PLAIN = (str, int, float, bool, type(None))

# Arguments of kerasish's own base constructors that Keras's do not have (a user's class without an
# `__init__` records its base's): left out when they hold their defaults. Filled by `register_base`.
_BASE_DEFAULTS: Dict[Any, Dict[str, Any]] = {}


def register_base(init: Any, defaults: Dict[str, Any]) -> None:
    """Declares arguments of a kerasish base `__init__` that Keras's automatic config never shows."""
    _BASE_DEFAULTS[init] = defaults


# What `capture` stores on the instance: the arguments, or None with whether they were positional.
AUTO_CONFIG = "_auto_config"
AUTO_CONFIG_POSITIONAL = "_auto_config_error_args"


def _plain(value: Any) -> bool:
    if isinstance(value, _PLAIN):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, Mapping):
        return all(_plain(v) for v in value.values())
    return False


def capture(cls: type, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Tuple[Optional[Dict[str, Any]], bool]:
    """The constructor arguments `cls(*args, **kwargs)` receives, as a config (without `name`).

    Returns:
        `(config, False)`; `(None, True)` when the constructor takes positional-only or `*args`
        arguments (which `cls(**config)` cannot pass back); `(None, False)` when the arguments do
        not fit the signature or a value is not plain.
    """
    init = cls.__init__
    try:
        signature = inspect.signature(init)
        spec = inspect.getfullargspec(init)
    except (TypeError, ValueError):
        return None, False
    try:
        bound = signature.bind(None, *args, **kwargs)
    except TypeError:
        return None, False
    own = spec.args[0] if spec.args else None
    if any(p.kind is inspect.Parameter.POSITIONAL_ONLY for n, p in signature.parameters.items() if n != own):
        return None, True
    bound.apply_defaults()
    values = dict(bound.arguments)
    if spec.varkw is not None:
        values.update(values.pop(spec.varkw, {}))
    values.pop(own, None)
    values.pop("name", None)
    for key, default in _BASE_DEFAULTS.get(init, {}).items():  # kerasish's own base constructors:
        if key in values and values[key] is default:  # only what Keras's own signature records
            del values[key]
    if spec.varargs is not None and values.pop(spec.varargs, ()):
        return None, True
    if not all(_plain(v) for v in values.values()):
        return None, False
    return values, False


def takes_name(cls: type) -> bool:
    """Whether Keras keeps `name` in the automatic config: the constructor has a `name` parameter or
    a variable keyword parameter spelled `**kwargs` (Keras checks that spelling)."""
    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return True
    kwargs = params.get("kwargs")
    return "name" in params or (kwargs is not None and kwargs.kind is inspect.Parameter.VAR_KEYWORD)


def config_of(obj: Any) -> Dict[str, Any]:
    """The recorded constructor arguments of `obj`, whose class writes no `get_config()`.

    Raises:
        NotImplementedError: when they could not be recorded, naming the class and showing the
            `get_config()` to write (Keras raises the same type).
    """
    recorded = obj.__dict__.get(AUTO_CONFIG)
    if recorded is not None:
        return dict(recorded)
    cls = type(obj).__name__
    if AUTO_CONFIG not in obj.__dict__:
        why = ("was not made by calling its class (cls.__new__, or unpickled from an older kerasish), so its "
               "constructor arguments were never recorded")
    elif obj.__dict__.get(AUTO_CONFIG_POSITIONAL):
        why = ("was created with positional-only or variable positional (*args) constructor arguments, which "
               "cls(**config) cannot pass back")
    else:
        why = ("was created with constructor arguments that are not plain values (str, int, float, bool, None, "
               "or lists and dicts of them)")
    raise NotImplementedError(
        f"{cls} {why}, so kerasish cannot write its config for you. Give the class a get_config() that returns "
        f"its constructor arguments, e.g.\n\n    def get_config(self):\n        return {{**super().get_config(), "
        f"\"units\": self.units}}\n\nand, for an argument that is an object (a layer, say), a from_config() that "
        "rebuilds it (kerasish.saving.deserialize_keras_object)."
    )
