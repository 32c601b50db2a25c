"""What every op shares: a registry by name, and the symbolic path.

`@op("numpy")` marks a function as a Keras op of that namespace. Called on torch
tensors (or NumPy arrays, Python scalars) it runs the function directly. Called with a
symbolic `KerasTensor` among its arguments (inside a functional model under
construction) it records a graph node instead, as a layer call does: `kerasish.layers`
installs the recorder with `set_symbolic_handler`, so this package never imports the
layers (ops are a leaf). The node replays the op by its registered name, which is also
what a saved model stores.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict, Optional

from kerasish.ops.keras_tensor import KerasTensor

_REGISTRY: Dict[str, Callable[..., Any]] = {}
_handler: Optional[Callable[[str, Callable[..., Any], tuple, dict], Any]] = None


def set_symbolic_handler(handler: Callable[[str, Callable[..., Any], tuple, dict], Any]) -> None:
    """Installs `handler(name, fn, args, kwargs)`, which records an op called on KerasTensors."""
    global _handler
    _handler = handler


def _any_symbolic(args: tuple, kwargs: Optional[dict]) -> bool:
    # Runs on every op call, so the scans stay in C where they can: `KerasTensor in map(type, a)`.
    for a in args:
        t = type(a)
        if t is KerasTensor:
            return True
        if (t is list or t is tuple) and KerasTensor in map(type, a):
            return True
    if kwargs:
        return _any_symbolic(tuple(kwargs.values()), None)
    return False


def op(namespace: str, name: Optional[str] = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Registers a Keras op under `namespace.name` and gives it the symbolic path.

    Example:
        @op("numpy")
        def expand_dims(x, axis): ...
    """

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        key = f"{namespace}.{name or fn.__name__}"

        def symbolic(args: tuple, kwargs: dict) -> Any:
            if _handler is None:
                raise RuntimeError(
                    f"ops.{name or fn.__name__} was called on a KerasTensor before kerasish.layers was imported. "
                    "Import kerasish.layers (`from kerasish import layers`) before building a functional model."
                )
            return _handler(key, fn, args, kwargs)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            # _any_symbolic's positional scan, inlined: this runs on every op call.
            for a in args:
                t = type(a)
                if t is KerasTensor or ((t is list or t is tuple) and KerasTensor in map(type, a)):
                    return symbolic(args, kwargs)
            if kwargs and _any_symbolic((), kwargs):
                return symbolic(args, kwargs)
            return fn(*args, **kwargs)

        wrapper.op_name = key  # type: ignore[attr-defined]
        _REGISTRY[key] = wrapper
        return wrapper

    return wrap


def get_op(key: str) -> Callable[..., Any]:
    """The op registered as `namespace.name` (e.g. 'numpy.expand_dims').

    Raises:
        ValueError: for a name no op has, naming the closest ones.
    """
    if key not in _REGISTRY:
        _import_namespaces()
    try:
        return _REGISTRY[key]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(key, list(_REGISTRY), n=3)
        raise ValueError(
            f"Unknown op {key!r}. " + (f"Did you mean {close}? " if close else "")
            + "The name comes from a saved model or OpLayer config; it must be one of kerasish.ops' functions."
        ) from None


def registered_ops() -> Dict[str, Callable[..., Any]]:
    """Every registered op by 'namespace.name'."""
    _import_namespaces()
    return dict(_REGISTRY)


def _import_namespaces() -> None:
    # Each namespace registers its ops when imported, and kerasish.ops imports them on first use.
    from kerasish.ops import core, einops, image, linalg, math, nn, numpy  # noqa: F401

