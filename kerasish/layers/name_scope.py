"""Name scopes: the path of layers a weight was made under (Keras 3's `Variable.path`).

Keras 3 names a weight after the layers whose build or call was running when it was made:
a Dense built inside a TransformerBlock's call is `transformer_block/dense/kernel`, one built
inside a Sequential's build is `sequential/dense/kernel`, and a Dense built on its own (say by a
functional model's symbolic call) is `dense/kernel`. The rules, as Keras keeps them:

- a layer's scope opens while its `build` and its calls run; reopening the scope already on
  top (a layer building itself inside its own call) adds nothing;
- the first time a layer's scope opens, the layer records the path it was opened under
  (`_parent_path`); every later opening uses that recorded path, wherever the call comes from,
  so a layer keeps one path for life;
- a weight made by a layer is `<its scope>/<weight name>`, where the layer's scope is its
  recorded path and its name (the current path and its name, for a layer that makes weights
  before any build or call, in its constructor).

The stack is per thread, as the call context is. Opening a scope costs a list append and pop
per layer call; paths are only assembled when a weight is made.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator, List, Optional, Tuple


class _Scopes(threading.local):
    def __init__(self) -> None:
        self.layers: List[Any] = []  # the layers whose scopes are open, innermost last


_scopes = _Scopes()


def _join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


def current_path() -> str:
    """The path of the open scopes ('' outside any): the innermost layer's recorded path and
    its name (each layer's recorded path replaces the scopes outside it)."""
    layers = _scopes.layers
    if not layers:
        return ""
    top = layers[-1]
    return _join(top._parent_path or "", top.name)


def enter(layer: Any) -> Optional[List[Any]]:
    """Opens `layer`'s scope; returns what to pass to `leave` (None when it was open already).

    Runs on every layer call, so it does no more than a check and an append.
    """
    layers = _scopes.layers
    if layers and layers[-1] is layer:
        return None
    if layer._parent_path is None:
        layer._parent_path = current_path()
    layers.append(layer)
    return layers


def leave(opened: Optional[List[Any]]) -> None:
    """Closes the scope `enter` opened."""
    if opened is not None:
        opened.pop()


@contextlib.contextmanager
def opened(layer: Any) -> Iterator[None]:
    """`with opened(layer):` runs a block (a build) inside `layer`'s scope."""
    opened_now = enter(layer)
    try:
        yield
    finally:
        leave(opened_now)


def weight_scope(layer: Any) -> str:
    """The path a weight made now by `layer` goes under: `layer`'s own scope (Keras's
    `add_weight` scope, which does not record a path for the layer), and the layer's
    `_weight_subscope` if it has one (kerasish's LSTM holds the weights Keras's LSTM keeps in
    its cell, so they are `lstm/lstm_cell/kernel` as in Keras)."""
    layers = _scopes.layers
    if layers and layers[-1] is layer:
        scope = current_path()
    else:
        parent = getattr(layer, "_parent_path", None)
        name = getattr(layer, "name", None) or type(layer).__name__
        scope = _join(current_path() if parent is None else parent, name)
    inner = getattr(layer, "_weight_subscope", None)
    return _join(scope, inner) if inner else scope


class name_scope:
    """Opens a named scope: weights, variables and layers first built or called inside it get
    paths under its name (Keras 3's `keras.name_scope`).

    Only paths change: `Variable.path` becomes `'block/dense/kernel'` for a Dense first built
    or called inside `name_scope("block")`, and `'block/v'` for a `Variable(..., name="v")`
    made there. Layer names stay as they are. A layer keeps the path of its first build or
    call, so calling it again under another scope moves nothing. Scopes nest; they are per
    thread.

    Args:
        name: the scope's name: a string without `/`. Required.
        caller: the object that opens the scope (a layer opening its own). Defaults to `None`.
        deduplicate: when `caller` is given, reopening the scope already on top (same caller
            and name) adds nothing, and a caller with a recorded path is scoped under that
            path. Defaults to `True`.
        override_parent: a path (`'a/b'`) to put the scope under instead of the open scopes.
            Defaults to `None`.

    Raises:
        ValueError: a `name` that is not a string, or contains `/`.

    Example:
        >>> import kerasish
        >>> with kerasish.name_scope("encoder"):
        ...     dense = kerasish.layers.Dense(2)
        ...     dense.build((None, 3))
        >>> dense.kernel.path.split("/")[0]
        'encoder'
    """

    def __init__(self, name: str, caller: Any = None, deduplicate: bool = True,
                 override_parent: Optional[str] = None) -> None:
        if not isinstance(name, str) or "/" in name:
            raise ValueError(
                "Argument `name` must be a string and cannot contain character `/`. "
                f"Received: name={name!r} (of type {type(name).__name__}). Nest two scopes for a two-level path."
            )
        self.name = name
        self.caller = caller
        self.deduplicate = deduplicate
        self.override_parent = override_parent
        if override_parent is None and deduplicate and getattr(caller, "_parent_path", None) is not None:
            self.override_parent = caller._parent_path
        self._parent_path: Optional[str] = None  # where it sits while open (the stack reads it as a layer's)
        # One entry per open `with` of this object (it may be entered again while open): the stack it was
        # pushed on and the parent path it had before, or None for an entry that pushed nothing.
        self._opened: List[Optional[Tuple[List[Any], Optional[str]]]] = []

    def __enter__(self) -> "name_scope":
        layers = _scopes.layers
        if self.deduplicate and self.caller is not None and layers:
            top = layers[-1]
            if (top is self.caller or getattr(top, "caller", None) is self.caller) and top.name == self.name:
                self._opened.append(None)
                return self
        self._opened.append((layers, self._parent_path))
        self._parent_path = self.override_parent if self.override_parent is not None else current_path()
        layers.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._opened:
            entry = self._opened.pop()
            if entry is not None:
                entry[0].pop()
                self._parent_path = entry[1]
