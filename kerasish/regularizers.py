"""Weight regularisers (L1, L2, L1L2) whose penalties fit() adds to the loss."""

from __future__ import annotations

from typing import Any, Dict, Optional, Union

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


_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2}


def get(identifier: Union[str, Regularizer, dict, None]) -> Optional[Regularizer]:
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        if identifier.lower() not in _BY_NAME:
            raise ValueError(
                f"Unknown regularizer {identifier!r}. Valid regularizer names: l1, l2, l1_l2. "
                "Or pass kerasish.regularizers.L2(0.01)."
            )
        return _BY_NAME[identifier.lower()]()
    if isinstance(identifier, dict) and "class_name" in identifier:
        registered = identifier.get("registered_name")
        if isinstance(registered, str):  # a custom Regularizer subclass's envelope
            from kerasish.utils.object_registration import get_registered_object

            cls = get_registered_object(registered)
            if isinstance(cls, type) and issubclass(cls, Regularizer):
                return cls.from_config(dict(identifier.get("config") or {}))
        return get(identifier["class_name"]).__class__(**identifier.get("config", {}))
    if callable(identifier):
        return identifier
    raise TypeError(f"regularizer must be a name, a Regularizer or a callable, received {identifier!r}.")


def serialize(reg: Optional[Regularizer]) -> Any:
    """A regularizer in Keras 3's format, what layers put in `get_config()`.

    Built-in regularizers give Keras's envelope (`{'module': 'keras.regularizers',
    'class_name': 'L2', 'config': {'l2': 0.01}, 'registered_name': None}`); other
    `Regularizer` subclasses the same envelope with their own module and registered name; a
    plain function its name. `get` reads these back, and the older `{'class_name': 'l2', ...}`.
    """
    if reg is None:
        return None
    if isinstance(reg, (str, dict)):
        reg = get(reg)
    if isinstance(reg, Regularizer):
        cls = type(reg)
        builtin = cls in (L1, L2, L1L2)
        from kerasish.utils.object_registration import get_registered_name

        return {
            "module": "keras.regularizers" if builtin else cls.__module__,
            "class_name": cls.__name__,
            "config": reg.get_config(),
            "registered_name": None if builtin else get_registered_name(cls),
        }
    return getattr(reg, "__name__", repr(reg))
