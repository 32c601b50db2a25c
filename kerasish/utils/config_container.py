"""`Config`: Keras 3's dict-like container of named settings (`keras.utils.Config`)."""

from __future__ import annotations

import copy
import json
from typing import Any, Iterator

from kerasish.utils.text import did_you_mean

# Attributes of the container itself; every other attribute name is an entry.
_OWN = frozenset({"_config", "_frozen"})


class Config:
    """Named values read and written as attributes or as dict items, that can be frozen.

    `config.seed = 1` and `config["seed"] = 1` set the same entry. Once `freeze()` is called,
    every change raises until `unfreeze()`. Iterating gives the keys in sorted order, as
    Keras's; `keys()`, `values()` and `items()` keep insertion order.

    Args:
        **kwargs: the initial entries.

    Raises:
        ValueError: a change while frozen.
        AttributeError: reading an attribute that is not an entry (with the closest entry).

    Example:
        >>> config = Config(learning_rate=0.1)
        >>> config.momentum = 0.9
        >>> config["seed"] = 123
        >>> config.learning_rate, config["momentum"], sorted(config)
        (0.1, 0.9, ['learning_rate', 'momentum', 'seed'])
        >>> config.freeze()
        >>> config.frozen
        True
    """

    def __init__(self, **kwargs: Any) -> None:
        object.__setattr__(self, "_config", kwargs)
        object.__setattr__(self, "_frozen", False)

    @property
    def frozen(self) -> bool:
        """Whether changes are refused."""
        return self._frozen

    def freeze(self) -> None:
        """Refuses every change from now on (until `unfreeze()`)."""
        object.__setattr__(self, "_frozen", True)

    def unfreeze(self) -> None:
        """Allows changes again."""
        object.__setattr__(self, "_frozen", False)

    def _raise_if_frozen(self) -> None:
        if self._frozen:
            raise ValueError(
                "Cannot mutate attribute(s) because the config is frozen. Call config.unfreeze() first, "
                "or build a new Config(**config.as_dict())."
            )

    def as_dict(self) -> dict:
        """A shallow copy of the entries as a plain dict."""
        return copy.copy(self._config)

    def to_json(self) -> str:
        """The entries as a JSON string."""
        return json.dumps(self._config)

    def keys(self) -> Any:
        return self._config.keys()

    def values(self) -> Any:
        return self._config.values()

    def items(self) -> Any:
        return self._config.items()

    def pop(self, *args: Any) -> Any:
        """`dict.pop` on the entries."""
        self._raise_if_frozen()
        return self._config.pop(*args)

    def update(self, *args: Any, **kwargs: Any) -> None:
        """`dict.update` on the entries."""
        self._raise_if_frozen()
        self._config.update(*args, **kwargs)

    def get(self, keyname: str, value: Any = None) -> Any:
        """The entry `keyname`, or `value` when there is none."""
        return self._config.get(keyname, value)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _OWN or hasattr(type(self), name):
            # Its own methods and properties stay what they are (`config.keys = 1` would hide keys()).
            raise AttributeError(
                f"Cannot set {name!r} as an attribute: it is a name of Config itself. "
                f"Set it as an item instead: config[{name!r}] = ..."
            )
        self._raise_if_frozen()
        self._config[name] = value

    def __getattr__(self, name: str) -> Any:
        # Only reached for names that are not attributes of the object itself.
        if name.startswith("__") or name in _OWN:
            raise AttributeError(name)
        config = self.__dict__.get("_config", {})
        if name in config:
            return config[name]
        raise AttributeError(f"Unknown attribute: '{name}'.{did_you_mean(name, list(config))}")

    def __setitem__(self, key: str, item: Any) -> None:
        self._raise_if_frozen()
        self._config[key] = item

    def __getitem__(self, key: str) -> Any:
        return self._config[key]

    def __delitem__(self, key: str) -> None:
        self._raise_if_frozen()
        del self._config[key]

    def __contains__(self, item: Any) -> bool:
        return item in self._config

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._config))

    def __len__(self) -> int:
        return len(self._config)

    def __repr__(self) -> str:
        return f"<Config {self._config}>"
