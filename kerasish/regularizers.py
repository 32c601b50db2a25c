"""Weight regularisers (L1, L2, L1L2, OrthogonalRegularizer) whose penalties fit() adds to the loss."""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, Mapping, Optional, Union

import torch

from kerasish.utils.text import did_you_mean


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


class OrthogonalRegularizer(Regularizer):
    """Pushes the rows (or columns) of a 2-D weight towards being orthogonal to each other.

    The penalty is `factor / 2` times the mean, over the pairs of distinct rows (columns
    with `mode="columns"`), of the absolute dot product of the L2-normalised vectors. On a
    Dense kernel of shape `(input_dim, units)`, `mode="rows"` decorrelates the input features'
    weight vectors and `mode="columns"` the units'.

    Args:
        factor: the penalty's weight, a number >= 0. Defaults to `0.01`.
        mode: `"rows"` or `"columns"`. Defaults to `"rows"`.

    Raises:
        ValueError: for a negative or non-finite `factor`, an unknown `mode`, or (when called)
            a weight that is not 2-D.

    Example:
        >>> reg = OrthogonalRegularizer(factor=1.0)
        >>> float(reg(torch.eye(3)))
        0.0
    """

    def __init__(self, factor: float = 0.01, mode: str = "rows") -> None:
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not math.isfinite(factor) or factor < 0:
            raise ValueError(
                f"OrthogonalRegularizer: factor must be a finite number >= 0, received factor={factor!r}. "
                "Example: OrthogonalRegularizer(factor=0.01)."
            )
        if mode not in ("rows", "columns"):
            raise ValueError(
                f"OrthogonalRegularizer: mode must be 'rows' or 'columns', received mode={mode!r}."
                f"{did_you_mean(str(mode), ('rows', 'columns'))}"
            )
        self.factor, self.mode = float(factor), mode

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        if weight.dim() != 2:
            raise ValueError(
                f"OrthogonalRegularizer applies to 2-D weights, received a weight of shape {tuple(weight.shape)}. "
                "Use it as a Dense or EinsumDense kernel_regularizer, or reshape the weight in your own regularizer."
            )
        dim = 1 if self.mode == "rows" else 0
        from kerasish.ops.nn import normalize

        unit = normalize(weight, axis=dim)  # L2-normalised vectors, as Keras's regularizer takes them
        gram = unit @ unit.T if dim == 1 else unit.T @ unit
        size = gram.shape[0]
        off_diagonal = gram * (1.0 - torch.eye(size, dtype=gram.dtype, device=gram.device))
        pairs = size * (size - 1.0) / 2.0
        return self.factor * 0.5 * off_diagonal.abs().sum() / pairs

    def get_config(self) -> Dict[str, Any]:
        return {"factor": self.factor, "mode": self.mode}


#: Keras's snake_case alias of the class.
orthogonal_regularizer = OrthogonalRegularizer


def l1(l1: float = 0.01) -> L1:  # noqa: D103 - Keras's lowercase aliases
    return L1(l1)


def l2(l2: float = 0.01) -> L2:  # noqa: D103
    return L2(l2)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:  # noqa: D103
    return L1L2(l1, l2)


#: Keras's table of names (`keras.regularizers.deserialize` looks names and class names up here),
#: plus kerasish's `l1_l2`, the name of Keras's lowercase function.
_MODULE_OBJECTS: Dict[str, Any] = {"Regularizer": Regularizer, "L1": L1, "L2": L2, "L1L2": L1L2,
                                   "regularizer": Regularizer, "l1": L1, "l2": L2, "l1l2": L1L2, "l1_l2": L1L2,
                                   "OrthogonalRegularizer": OrthogonalRegularizer,
                                   "orthogonal_regularizer": OrthogonalRegularizer}
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
        if identifier not in _MODULE_OBJECTS and identifier.lower() in _MODULE_OBJECTS:
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


__all__ = ["Regularizer", "L1", "L2", "L1L2", "OrthogonalRegularizer", "l1", "l2", "l1_l2", "orthogonal_regularizer",
           "get", "serialize", "deserialize"]


def __getattr__(name: str):
    # Only for names this module lacks: says whether it is a Keras 3 name kerasish does not implement.
    from kerasish.utils.keras_names import missing_attribute

    raise missing_attribute(__name__, name, __all__)
