"""Weight regularisers (L1, L2, L1L2) whose penalties fit() adds to the loss."""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional, Union

import torch


class Regularizer:
    """Base class: `reg(weight)` returns a scalar penalty tensor."""

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> Dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Regularizer":
        return cls(**config)


class L1L2(Regularizer):
    """`l1 * sum(|w|) + l2 * sum(w**2)`.

    Args:
        l1: L1 factor. Defaults to `0.0`.
        l2: L2 factor. Defaults to `0.0`.
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        for name, v in (("l1", l1), ("l2", l2)):
            if not isinstance(v, (int, float)) or v < 0:
                raise ValueError(f"Regularizer factor {name} must be a number >= 0, received {v!r}.")
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        penalty = weight.new_zeros(())
        if self.l1:
            penalty = penalty + self.l1 * weight.abs().sum()
        if self.l2:
            penalty = penalty + self.l2 * weight.square().sum()
        return penalty

    def get_config(self) -> Dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    def __init__(self, l1: float = 0.01) -> None:
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    def __init__(self, l2: float = 0.01) -> None:
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


def l1(l1: float = 0.01) -> L1:  # noqa: D103 - Keras's lowercase aliases
    return L1(l1)


def l2(l2: float = 0.01) -> L2:  # noqa: D103
    return L2(l2)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:  # noqa: D103
    return L1L2(l1, l2)


#: Keras's table of names (`keras.regularizers.deserialize` looks names and class names up here),
#: plus kerasish's `l1_l2`, the name of Keras's lowercase function.
_MODULE_OBJECTS: Dict[str, Any] = {"Regularizer": Regularizer, "L1": L1, "L2": L2, "L1L2": L1L2,
                                   "regularizer": Regularizer, "l1": L1, "l2": L2, "l1l2": L1L2, "l1_l2": L1L2}
_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2}


def get(identifier: Union[str, Regularizer, dict, Callable[..., Any], None]) -> Optional[Any]:
    """The regularizer for None, a name, a config dict, a Regularizer (instance or class) or a callable.

    Args:
        identifier: None (no regularizer); a name such as `'l2'` or `'L2'` (the class with its
            default factor); a dict from `serialize()` (Keras's envelope, or the short form
            `{'class_name': 'l2', 'config': {'l2': 0.1}}`); a Regularizer or its class; or any
            callable from a weight to a scalar penalty.

    Returns:
        The regularizer (a callable) or None.

    Raises:
        ValueError: for an unknown name or class name (valid names listed).
        TypeError: for any other kind of value.

    Example:
        >>> get({"class_name": "L2", "config": {"l2": 0.5}}).get_config()
        {'l2': 0.5}
    """
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _MODULE_OBJECTS and identifier.lower() in _BY_NAME:
            identifier = identifier.lower()  # kerasish also takes 'L1_L2' and other spellings
        found = deserialize(identifier)
        return found() if isinstance(found, type) else found  # a registered class name: its default instance
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Regularizer):
        return identifier()
    if callable(identifier):
        return identifier
    raise TypeError(
        f"regularizer must be a name, a config dict, a Regularizer or a callable, received {identifier!r} of type "
        f"{type(identifier).__name__}. Example: kernel_regularizer='l2' or kerasish.regularizers.L2(0.01)."
    )


def serialize(regularizer: Any) -> Any:
    """`regularizer` in Keras 3's format, as `keras.regularizers.serialize` writes it.

    A built-in regularizer gives Keras's envelope (`{'module': 'keras.regularizers',
    'class_name': 'L2', 'config': {'l2': 0.01}, 'registered_name': None}`); a subclass the same
    envelope with its own module and registered name; a function
    `{'module': 'builtins', 'class_name': 'function', 'config': <registered name>,
    'registered_name': 'function'}`; None, a name or a dict comes back as it is.

    Example:
        >>> serialize(L1(0.5))["config"]
        {'l1': 0.5}
    """
    from kerasish.saving.keras_objects import serialize_keras_object

    return serialize_keras_object(regularizer)


def deserialize(config: Any, custom_objects: Optional[Mapping[str, Any]] = None) -> Any:
    """The regularizer `config` describes, as `keras.regularizers.deserialize`.

    Args:
        config: a name (`'l2'`, `'L1L2'`), Keras's envelope, the short form
            `{'class_name': 'L2', 'config': {...}}`, a function's envelope, or None.
        custom_objects: `{name: class_or_function}` for your own regularizers that are not
            registered. Defaults to `None`.

    Returns:
        The regularizer (a class name gives its default instance), or None.

    Raises:
        ValueError: for a name found nowhere (valid names listed) or a dict without `class_name`.
        TypeError: for a config whose `module` is None, as Keras.
    """
    from kerasish.saving.keras_objects import deserialize_module_object

    return deserialize_module_object(config, _MODULE_OBJECTS, custom_objects, kind="regularizer")


__all__ = ["Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "get", "serialize", "deserialize"]
