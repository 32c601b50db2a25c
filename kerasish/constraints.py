"""Weight constraints: projections applied to a weight after each optimizer step.

A layer given `kernel_constraint=MaxNorm(2)` stores the constraint on its parameter
(`layer.kernel.constraint`); after every optimizer step the optimizer replaces the
parameter's value by `constraint(value)`. A constraint is any callable from a tensor to a
tensor of the same shape; the classes here are Keras 3's, with its formulas, names and
configs.

`axis` refers to Keras's layout of the weight: a Dense kernel is `(input_dim, units)` and
a Conv2D kernel `(rows, cols, input_depth, filters)`. Layers that store a weight in torch's
layout (convolutions, recurrent layers) wrap the constraint so that `axis` keeps that meaning
(see `kerasish.layers.weight_layout`).

Example:
    >>> w = torch.tensor([[3.0, 0.0], [4.0, 1.0]])
    >>> MaxNorm(max_value=1.0)(w)  # the first column has norm 5: scaled down to 1
    tensor([[0.6000, 0.0000],
            [0.8000, 1.0000]])
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

import torch


#: Keras's `backend.epsilon()`: keeps the norm division finite for all-zero weights.
EPSILON = 1e-7

Axis = Union[int, Sequence[int]]
ConstraintLike = Union[str, Dict[str, Any], "Constraint", Callable[[torch.Tensor], torch.Tensor], None]


class Constraint:
    """Base class of weight constraints: `constraint(w)` returns the projected weight.

    Subclasses override `__call__` (and `get_config` when they take arguments). The base
    class leaves the weight unchanged.

    Example:
        >>> class Clip(Constraint):
        ...     def __init__(self, limit=1.0):
        ...         self.limit = limit
        ...     def __call__(self, w):
        ...         return w.clamp(-self.limit, self.limit)
        ...     def get_config(self):
        ...         return {"limit": self.limit}
        >>> Clip(0.5)(torch.tensor([-2.0, 0.25, 3.0]))
        tensor([-0.5000,  0.2500,  0.5000])
    """

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        """Returns the constrained weight (the base class returns `w` unchanged).

        Args:
            w: the weight's value.

        Returns:
            A tensor of `w`'s shape.
        """
        return w

    def get_config(self) -> Dict[str, Any]:
        """The constructor arguments, as a JSON-ready dict."""
        return {}

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Constraint":
        """Rebuilds a constraint from `get_config()`'s dict."""
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _axes(axis: Axis) -> Union[int, Tuple[int, ...]]:
    return axis if isinstance(axis, int) else tuple(axis)


def _check_axis(axis: Any, cls: str) -> Axis:
    ok = (isinstance(axis, int) and not isinstance(axis, bool)) or (
        isinstance(axis, (list, tuple)) and len(axis) > 0
        and all(isinstance(a, int) and not isinstance(a, bool) for a in axis))
    if not ok:
        raise ValueError(
            f"{cls}: axis must be an int or a non-empty list of ints, received axis={axis!r}. "
            f"Example: {cls}(axis=0) for a Dense kernel, {cls}(axis=[0, 1, 2]) for a Conv2D kernel."
        )
    return list(axis) if isinstance(axis, tuple) else axis


def _check_number(value: Any, arg: str, cls: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{cls}: {arg} must be a number >= 0, received {arg}={value!r}. Example: {cls}({arg}=2.0).")
    return value


def _norms(w: torch.Tensor, axis: Axis) -> torch.Tensor:
    """The L2 norm of `w` over `axis`, keeping the reduced axes (size 1) for broadcasting."""
    return torch.sqrt(torch.sum(torch.square(w), dim=_axes(axis), keepdim=True))


class MaxNorm(Constraint):
    """Scales down each slice of the weight whose L2 norm exceeds `max_value`.

    The norm is taken over `axis` (Keras's layout): `axis=0` constrains each column of a
    Dense kernel, i.e. the incoming weights of each unit; `axis=[0, 1, 2]` each filter of a
    Conv2D kernel. Slices already within the bound change only by `norm / (norm + 1e-7)`.

    Args:
        max_value: the largest norm allowed. Defaults to `2`.
        axis: int or list of ints, the axes the norm is taken over. Defaults to `0`.

    Example:
        >>> MaxNorm(1.0)(torch.tensor([[3.0], [4.0]]))
        tensor([[0.6000],
                [0.8000]])
    """

    def __init__(self, max_value: float = 2, axis: Axis = 0) -> None:
        self.max_value = _check_number(max_value, "max_value", "MaxNorm")
        self.axis = _check_axis(axis, "MaxNorm")

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        norms = _norms(w, self.axis)
        desired = torch.clamp(norms, 0, self.max_value)
        return w.to(norms.dtype) * (desired / (EPSILON + norms))

    def get_config(self) -> Dict[str, Any]:
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """Moves the L2 norm of each slice of the weight into `[min_value, max_value]`.

    Each slice is rescaled to the norm `rate * clip(norm, min_value, max_value) + (1 - rate) * norm`:
    `rate=1` enforces the bounds at once, a smaller rate moves the norm part of the way at
    each step.

    Args:
        min_value: the smallest norm allowed. Defaults to `0.0`.
        max_value: the largest norm allowed. Defaults to `1.0`.
        rate: how far to move towards the interval at each step, in `[0, 1]`. Defaults to `1.0`.
        axis: int or list of ints, the axes the norm is taken over. Defaults to `0`.

    Example:
        >>> MinMaxNorm(min_value=1.0, max_value=2.0)(torch.tensor([[0.3], [0.4]]))
        tensor([[0.6000],
                [0.8000]])
    """

    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0, axis: Axis = 0) -> None:
        self.min_value = _check_number(min_value, "min_value", "MinMaxNorm")
        self.max_value = _check_number(max_value, "max_value", "MinMaxNorm")
        if self.min_value > self.max_value:
            raise ValueError(
                f"MinMaxNorm: min_value must not exceed max_value, received min_value={min_value!r} and "
                f"max_value={max_value!r}. Swap them or lower min_value."
            )
        self.rate = _check_number(rate, "rate", "MinMaxNorm")
        self.axis = _check_axis(axis, "MinMaxNorm")

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        norms = _norms(w, self.axis)
        desired = self.rate * torch.clamp(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return w.to(norms.dtype) * (desired / (EPSILON + norms))

    def get_config(self) -> Dict[str, Any]:
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


class NonNeg(Constraint):
    """Sets the negative entries of the weight to zero.

    Example:
        >>> NonNeg()(torch.tensor([-1.0, 0.5]))
        tensor([0.0000, 0.5000])
    """

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        return torch.clamp_min(w, 0)


class UnitNorm(Constraint):
    """Scales each slice of the weight to an L2 norm of 1 (over `axis`).

    Args:
        axis: int or list of ints, the axes the norm is taken over. Defaults to `0`.

    Example:
        >>> UnitNorm()(torch.tensor([[3.0], [4.0]]))
        tensor([[0.6000],
                [0.8000]])
    """

    def __init__(self, axis: Axis = 0) -> None:
        self.axis = _check_axis(axis, "UnitNorm")

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        norms = _norms(w, self.axis)
        return w.to(norms.dtype) / (EPSILON + norms)

    def get_config(self) -> Dict[str, Any]:
        return {"axis": self.axis}


# Keras's lowercase aliases of the classes.
max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm

_CLASSES = (Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm)
_SNAKE = {"Constraint": "constraint", "MaxNorm": "max_norm", "MinMaxNorm": "min_max_norm", "NonNeg": "non_neg",
          "UnitNorm": "unit_norm"}
#: Every name `get` accepts, as Keras spells them: the class names and their snake_case forms.
_BY_NAME: Dict[str, type] = {**{c.__name__: c for c in _CLASSES}, **{_SNAKE[c.__name__]: c for c in _CLASSES}}


def serialize(constraint: Optional[Callable[..., Any]]) -> Any:
    """A constraint in Keras 3's format, as `keras.constraints.serialize` writes it.

    Built-in constraints give `{'module': 'keras.constraints', 'class_name': 'MaxNorm',
    'config': {...}, 'registered_name': None}`; other `Constraint` subclasses the same envelope
    with their own module and registered name (register the class with
    `@kerasish.saving.register_keras_serializable()` so that `get` can rebuild it); a function
    `{'module': 'builtins', 'class_name': 'function', 'config': <registered name>,
    'registered_name': 'function'}`. None, a name or a dict comes back as it is.

    Args:
        constraint: a constraint, or None.

    Returns:
        A JSON-ready dict, a name, or None.
    """
    from kerasish.saving.keras_objects import serialize_keras_object

    return serialize_keras_object(constraint)


def deserialize(config: Any, custom_objects: Optional[Mapping[str, Any]] = None) -> Any:
    """The constraint `config` describes, as `keras.constraints.deserialize`.

    Args:
        config: a name (`'max_norm'`, `'MaxNorm'`), Keras's envelope, the short form
            `{'class_name': 'MaxNorm', 'config': {...}}`, a function's envelope, or None.
        custom_objects: `{name: class_or_function}` for your own constraints that are not
            registered. Defaults to `None`.

    Returns:
        The constraint (a class name gives its default instance), or None.

    Raises:
        ValueError: for a class name that is neither a built-in constraint nor a registered
            (or `custom_object_scope`, or `custom_objects`) one, and for a dict without `class_name`.
        TypeError: for a config whose `module` is None, as Keras.
    """
    from kerasish.saving.keras_objects import deserialize_module_object

    return deserialize_module_object(config, _BY_NAME, custom_objects, kind="constraint")


def get(identifier: ConstraintLike) -> Optional[Callable[[torch.Tensor], torch.Tensor]]:
    """Returns a constraint for a name, a config dict, a Constraint, a class or a callable.

    Args:
        identifier: None (no constraint); a name such as `'max_norm'` or `'MaxNorm'` (the
            class with its default arguments), or one you registered; a dict from `serialize()`;
            a `Constraint` instance or class; or any callable from a tensor to a tensor.

    Returns:
        The constraint, or None.

    Raises:
        ValueError: for an unknown name or class name (the valid names are listed).
        TypeError: for any other kind of value.

    Example:
        >>> get("max_norm").get_config()
        {'max_value': 2, 'axis': 0}
    """
    if identifier is None:
        return None
    if isinstance(identifier, (str, dict)):
        found = deserialize(identifier)
        return found() if isinstance(found, type) else found  # a registered class name: its default instance
    if isinstance(identifier, type):
        return identifier()  # a class stands for its default instance, as in Keras
    if callable(identifier):
        return identifier
    raise TypeError(
        f"constraint must be a name, a config dict, a Constraint or a callable, received {identifier!r} of "
        f"type {type(identifier).__name__}. Example: kernel_constraint='max_norm' or MaxNorm(max_value=3)."
    )


__all__ = [
    "Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "max_norm", "min_max_norm", "non_neg",
    "unit_norm", "get", "serialize", "deserialize",
]


def __getattr__(name: str):
    # Only for names this module lacks: says whether it is a Keras 3 name kerasish does not implement.
    from kerasish.utils.keras_names import missing_attribute

    raise missing_attribute(__name__, name, __all__)
