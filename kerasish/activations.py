"""Keras activations by name, as torch functions.

`get('relu')` returns a callable; `get(None)` returns the identity ('linear').
"""

from __future__ import annotations

from typing import Callable, Optional, Union

import torch
import torch.nn.functional as F

from kerasish.registry import Registry

ActivationLike = Union[str, Callable[[torch.Tensor], torch.Tensor], None]

_registry: Registry[Callable[[torch.Tensor], torch.Tensor]] = Registry("activation")


def linear(x: torch.Tensor) -> torch.Tensor:
    return x


def softmax(x: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x, dim=-1)


def leaky_relu(x: torch.Tensor) -> torch.Tensor:
    # Keras 3's leaky_relu default negative_slope is 0.2.
    return F.leaky_relu(x, 0.2)


def gelu(x: torch.Tensor) -> torch.Tensor:
    # Keras's gelu defaults to approximate=True (tanh form).
    return F.gelu(x, approximate="tanh")


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    return F.hardsigmoid(x)


for _name, _fn in {
    "linear": linear,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "softmax": softmax,
    "tanh": torch.tanh,
    "elu": F.elu,
    "selu": F.selu,
    "gelu": gelu,
    "softplus": F.softplus,
    "softsign": F.softsign,
    "swish": F.silu,
    "silu": F.silu,
    "leaky_relu": leaky_relu,
    "relu6": F.relu6,
    "exponential": torch.exp,
    "hard_sigmoid": hard_sigmoid,
    "mish": F.mish,
    "log_softmax": lambda x: torch.log_softmax(x, dim=-1),
}.items():
    _registry.add(_name, _fn)


def get(identifier: ActivationLike) -> Callable[[torch.Tensor], torch.Tensor]:
    """Returns the activation function for a name, a callable, or None (linear).

    Raises:
        ValueError: for an unknown name, listing the valid names and the closest one.
        TypeError: for anything that is neither a string nor a callable.
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        return _registry.get(identifier, fix="Pass one of these names or a callable as activation=.")
    if callable(identifier):
        return identifier
    raise TypeError(
        f"activation must be a string name or a callable, received {identifier!r} "
        f"of type {type(identifier).__name__}. Example: activation='relu'."
    )


def serialize(activation: ActivationLike) -> Optional[str]:
    """The name to store in a layer config ('linear' for None)."""
    if activation is None:
        return "linear"
    if isinstance(activation, str):
        return activation
    for name, fn in _registry.items():
        if fn is activation:
            return name
    return getattr(activation, "__name__", repr(activation))


def names() -> list:
    return _registry.names()
