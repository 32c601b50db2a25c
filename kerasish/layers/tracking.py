"""Layers kept in lists and dicts are tracked, as Keras tracks them.

Keras users write `self.blocks = [Dense(64), Dense(64)]` or `self.heads = {"a": Dense(1)}` in a
custom layer or model and expect those layers' weights to train and save. A torch module only
sees submodules assigned directly (or inside `nn.ModuleList`/`nn.ModuleDict`), so such weights
would silently stay out of `parameters()`, the optimizer and the saved state.

`Layer.__setattr__` hands a list, tuple or dict that holds a torch module to `track`: the
attribute keeps a list/dict (a `TrackedList`/`TrackedDict`, which behave as the built-in types)
and the modules found in it, nested lists and dicts included, are registered under the same
attribute name as an `nn.ModuleList`, so `state_dict` keys read `blocks.0.kernel`. Appending,
removing or replacing an entry re-registers them.
"""

from __future__ import annotations

import weakref
from typing import Any, Iterator, List

from torch import nn


def holds_module(value: Any) -> bool:
    """Whether a list/tuple/dict (possibly nested) holds a torch module."""
    return any(True for _ in modules_in(value))


def modules_in(value: Any) -> Iterator[nn.Module]:
    """The torch modules in `value` (itself, or inside nested lists, tuples and dicts)."""
    if isinstance(value, nn.Module):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from modules_in(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from modules_in(v)


def register(owner: nn.Module, name: str, value: Any) -> None:
    """Registers the modules in `value` as `owner`'s submodule list `name` (or drops it when none)."""
    found: List[nn.Module] = []
    seen = set()
    for m in modules_in(value):
        if id(m) not in seen:
            seen.add(id(m))
            found.append(m)
    modules = owner.__dict__["_modules"]
    if found:
        modules[name] = nn.ModuleList(found)
    else:
        modules.pop(name, None)


class Tracked:
    """Shared part: the owner (weakly) and the attribute name to re-register on a change."""

    _owner: Any = None
    _name: str = ""

    def _bind(self, owner: nn.Module, name: str) -> None:
        self._owner = weakref.ref(owner)
        self._name = name

    def _changed(self) -> None:
        owner = self._owner() if self._owner is not None else None
        if owner is not None and owner.__dict__.get(self._name) is self:
            register(owner, self._name, self)


def _mutating(base: type, method: str) -> Any:
    original = getattr(base, method)

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        self._changed()
        return result

    wrapper.__name__ = method
    wrapper.__doc__ = original.__doc__
    return wrapper


class TrackedList(Tracked, list):
    """A list whose torch modules are registered with the layer that holds it."""

    def __reduce_ex__(self, protocol: Any) -> Any:  # copies and deep copies are plain lists
        return (list, (list(self),))

    def __iadd__(self, other: Any) -> "TrackedList":
        list.extend(self, other)
        self._changed()
        return self


for _method in ("append", "extend", "insert", "pop", "remove", "clear", "__setitem__", "__delitem__", "sort",
                "reverse"):
    setattr(TrackedList, _method, _mutating(list, _method))


class TrackedDict(Tracked, dict):
    """A dict whose torch modules are registered with the layer that holds it."""

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (dict, (dict(self),))


for _method in ("__setitem__", "__delitem__", "pop", "popitem", "clear", "update", "setdefault"):
    setattr(TrackedDict, _method, _mutating(dict, _method))


def track(owner: nn.Module, name: str, value: Any) -> Any:
    """The value to store for `owner.<name> = value` (a tracked list/dict for lists/dicts), after
    registering the modules it holds. Tuples stay tuples (they cannot change)."""
    if isinstance(value, dict) and not isinstance(value, TrackedDict):
        value = TrackedDict(value)
    elif isinstance(value, list) and not isinstance(value, TrackedList):
        value = TrackedList(value)
    if isinstance(value, Tracked):
        value._bind(owner, name)
    register(owner, name, value)
    return value
