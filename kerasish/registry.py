"""Name → object tables with aliases and helpful errors for unknown names."""

from __future__ import annotations

from typing import Any, Callable, Dict, Generic, Iterator, TypeVar

from kerasish.utils.text import unknown_name_message

T = TypeVar("T")


class Registry(Generic[T]):
    """A table of named objects (losses, metrics, activations, classes ...).

    Args:
        kind: what the table holds, used in error messages ("loss", "optimizer").
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: Dict[str, T] = {}

    def register(self, *names: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            for name in names:
                self._items[name] = obj
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        self._items[name] = obj

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def names(self) -> list:
        return sorted(self._items)

    def get(self, name: str, fix: str = "") -> T:
        """Returns the object registered under `name`.

        Raises:
            ValueError: for an unknown name, listing every valid one and the closest match.
        """
        key = name.lower() if isinstance(name, str) else name
        if key in self._items:
            return self._items[key]
        raise ValueError(unknown_name_message(self.kind, name, self._items, fix))

    def items(self) -> Any:
        return self._items.items()
