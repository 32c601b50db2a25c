"""Keras 3's activation functions (`keras.activations`), written on `kerasish.ops.nn`.

Every function takes a tensor first and has Keras's signature and defaults, so
`get('gelu')(x)` computes what Keras's `Dense(activation='gelu')` computes (the exact,
erf-based GELU: `activations.gelu` defaults to `approximate=False`, unlike
`ops.gelu`). `threshold` is the one activation that needs more than `x`, as in Keras.

`get` resolves what a layer's `activation=` accepts (None, a name, a callable, or a
serialized dict); `serialize` gives the name of a built-in (what a layer config stores)
and `deserialize` inverts it.
"""

from __future__ import annotations

import types
from typing import Any, Callable, Dict, Mapping, Optional, Union

import torch
import torch.nn.functional as F

from kerasish.ops import nn
from kerasish.ops.dtypes import convert_to_tensor
from kerasish.ops.operation import op
from kerasish.registry import Registry
from kerasish.utils.text import short_repr

ActivationLike = Union[str, Callable[..., torch.Tensor], Dict[str, Any], None]

_registry: Registry[Callable[..., torch.Tensor]] = Registry("activation")


@op("activations")
def relu(x: Any, negative_slope: float = 0.0, max_value: Optional[float] = None,
         threshold: float = 0.0) -> torch.Tensor:
    """max(x, 0), optionally leaky below `threshold` and capped at `max_value` (Keras's generalized ReLU)."""
    if negative_slope == 0.0 and max_value is None and threshold == 0:
        return nn.relu(x)
    x = convert_to_tensor(x)
    if max_value is None and threshold == 0:
        return nn.leaky_relu(x, negative_slope=negative_slope)
    if threshold != 0:
        y = torch.where(x > torch.tensor(threshold, dtype=x.dtype, device=x.device), x, torch.zeros_like(x))
    elif max_value == 6:
        y, max_value = nn.relu6(x), None  # relu6 already caps at 6
    else:
        y = nn.relu(x)
    if max_value is not None:
        y = torch.clamp(y, torch.zeros((), dtype=x.dtype, device=x.device),
                        torch.tensor(max_value, dtype=x.dtype, device=x.device))
    if negative_slope != 0.0:
        y = y - negative_slope * nn.relu(threshold - x if threshold != 0 else -x)
    return y


def leaky_relu(x: Any, negative_slope: float = 0.2) -> torch.Tensor:
    """x for x >= 0, negative_slope * x below."""
    return nn.leaky_relu(x, negative_slope=negative_slope)


def relu6(x: Any) -> torch.Tensor:
    """min(max(x, 0), 6)."""
    return nn.relu6(x)


def softmax(x: Any, axis: Any = -1) -> torch.Tensor:
    """exp(x) / sum(exp(x)) over `axis`."""
    return nn.softmax(x, axis=axis)


def elu(x: Any, alpha: float = 1.0) -> torch.Tensor:
    """x for x > 0, alpha * (exp(x) - 1) below."""
    return nn.elu(x, alpha=alpha)


def selu(x: Any) -> torch.Tensor:
    """Scaled ELU with the self-normalizing constants."""
    return nn.selu(x)


def softplus(x: Any) -> torch.Tensor:
    """log(1 + exp(x))."""
    return nn.softplus(x)


def softsign(x: Any) -> torch.Tensor:
    """x / (1 + |x|)."""
    return nn.softsign(x)


def soft_shrink(x: Any, threshold: float = 0.5) -> torch.Tensor:
    """x - threshold above threshold, x + threshold below -threshold, 0 between."""
    return nn.soft_shrink(x, threshold=threshold)


def sparse_plus(x: Any) -> torch.Tensor:
    """0 below -1, x above 1, (x + 1)**2 / 4 between."""
    return nn.sparse_plus(x)


def silu(x: Any) -> torch.Tensor:
    """x * sigmoid(x) (also `swish`)."""
    return nn.silu(x)


swish = silu


def squareplus(x: Any, b: float = 4) -> torch.Tensor:
    """(x + sqrt(x**2 + b)) / 2."""
    return nn.squareplus(x, b=b)


def gelu(x: Any, approximate: bool = False) -> torch.Tensor:
    """Gaussian error linear unit: exact (erf) by default, the tanh form with approximate=True."""
    return nn.gelu(x, approximate=approximate)


def celu(x: Any, alpha: float = 1.0) -> torch.Tensor:
    """max(x, 0) + min(alpha * (exp(x / alpha) - 1), 0)."""
    return nn.celu(x, alpha=alpha)


def glu(x: Any, axis: int = -1) -> torch.Tensor:
    """a * sigmoid(b) for the two halves a, b of `axis`."""
    return nn.glu(x, axis=axis)


@op("activations")
def tanh(x: Any) -> torch.Tensor:
    """Hyperbolic tangent; integers give float32."""
    return torch.tanh(convert_to_tensor(x))


def tanh_shrink(x: Any) -> torch.Tensor:
    """x - tanh(x)."""
    return nn.tanh_shrink(x)


def hard_tanh(x: Any) -> torch.Tensor:
    """clip(x, -1, 1)."""
    return nn.hard_tanh(x)


def hard_shrink(x: Any, threshold: float = 0.5) -> torch.Tensor:
    """x where |x| > threshold, else 0."""
    return nn.hard_shrink(x, threshold=threshold)


def threshold(x: Any, threshold: float, default_value: float) -> torch.Tensor:
    """x where x > threshold, else default_value (both arguments required, as in Keras)."""
    return nn.threshold(x, threshold, default_value)


def sigmoid(x: Any) -> torch.Tensor:
    """1 / (1 + exp(-x))."""
    return nn.sigmoid(x)


@op("activations")
def exponential(x: Any) -> torch.Tensor:
    """exp(x); integers give float32."""
    x = convert_to_tensor(x)
    return torch.exp(x if x.is_floating_point() or x.is_complex() else x.to(torch.float32))


def hard_sigmoid(x: Any) -> torch.Tensor:
    """clip(x / 6 + 1/2, 0, 1)."""
    return nn.hard_sigmoid(x)


def log_sigmoid(x: Any) -> torch.Tensor:
    """log(sigmoid(x)), computed stably."""
    return nn.log_sigmoid(x)


def sparse_sigmoid(x: Any) -> torch.Tensor:
    """0 below -1, 1 above 1, (x + 1) / 2 between."""
    return nn.sparse_sigmoid(x)


def hard_silu(x: Any) -> torch.Tensor:
    """x * hard_sigmoid(x) (also `hard_swish`)."""
    return nn.hard_silu(x)


hard_swish = hard_silu


def linear(x: Any) -> Any:
    """The identity: returns `x` unchanged."""
    return x


@op("activations")
def mish(x: Any) -> torch.Tensor:
    """x * tanh(softplus(x))."""
    return F.mish(nn.float_input(x, "mish"))


def log_softmax(x: Any, axis: Any = -1) -> torch.Tensor:
    """x - log(sum(exp(x))) over `axis`."""
    return nn.log_softmax(x, axis=axis)


def sparsemax(x: Any, axis: int = -1) -> torch.Tensor:
    """Projection onto the probability simplex along `axis` (sparse probabilities)."""
    return nn.sparsemax(x, axis=axis)


for _fn in (relu, leaky_relu, relu6, softmax, celu, elu, selu, softplus, softsign, squareplus, soft_shrink,
            sparse_plus, silu, gelu, glu, tanh, tanh_shrink, threshold, sigmoid, sparse_sigmoid, exponential,
            hard_sigmoid, hard_silu, hard_tanh, hard_shrink, linear, mish, log_softmax, log_sigmoid, sparsemax):
    _registry.add(_fn.__name__, _fn)
_registry.add("swish", silu)  # aliases: serialize() gives the canonical name
_registry.add("hard_swish", hard_silu)
_CANONICAL = {fn: name for name, fn in _registry.items() if name not in ("swish", "hard_swish")}


def names() -> list:
    """Every name `get` accepts (aliases included), sorted."""
    return _registry.names()


# ----------------------------------------------------------------- get / serialize / deserialize
def serialize(activation: ActivationLike) -> Union[str, Dict[str, Any]]:
    """What a layer config stores for `activation`: a built-in's name, or Keras's dict for anything else.

    None gives 'linear' and a name gives its canonical name ('swish' -> 'silu'), as a
    Keras layer's config does. A user's function gives
    `{'module': 'builtins', 'class_name': 'function', 'config': <registered name>, 'registered_name': 'function'}`,
    exactly as Keras, which `deserialize` resolves through registered and custom objects.
    A callable object with `get_config()` gives its class envelope.
    """
    if activation is None:
        return "linear"
    if isinstance(activation, str):
        return _CANONICAL.get(_registry.get(activation), activation) if activation.lower() in _registry else activation
    builtin = _CANONICAL.get(activation)  # type: ignore[call-overload]
    if builtin is not None:
        return builtin
    if isinstance(activation, dict):
        return activation
    if isinstance(activation, types.FunctionType):
        from kerasish.utils.object_registration import get_registered_name

        return {"module": "builtins", "class_name": "function", "config": get_registered_name(activation),
                "registered_name": "function"}
    if callable(getattr(activation, "get_config", None)):
        from kerasish.saving.serialization import serialize_object

        return serialize_object(activation)
    name = getattr(activation, "__name__", None) or type(activation).__name__
    return {"module": "builtins", "class_name": "function", "config": name, "registered_name": "function"}


def deserialize(config: Union[str, Dict[str, Any]], custom_objects: Optional[Mapping[str, Any]] = None
                ) -> Callable[..., Any]:
    """The activation `serialize` described: a built-in name, or a dict naming a function or class.

    Raises:
        ValueError: for a name found nowhere (built-ins, custom_objects, custom_object_scope,
            registered objects), listing the built-in names.
    """
    from kerasish.utils.object_registration import check_custom_objects, get_registered_object

    custom = check_custom_objects(custom_objects)
    if isinstance(config, str):
        found = get_registered_object(config, custom)
        return found if found is not None else _registry.get(
            config, fix="Pass a built-in name, or register your function with "
                        "@kerasish.saving.register_keras_serializable() (or pass custom_objects).")
    if not (isinstance(config, Mapping) and "config" in config):
        raise ValueError(f"Could not deserialize activation {short_repr(config, 120)}: expected a name such as "
                         "'relu' or the dict activations.serialize() returns.")
    if config.get("class_name") == "function" or isinstance(config["config"], str):
        return deserialize(config["config"], custom)
    from kerasish.saving.serialization import deserialize_object

    return deserialize_object(dict(config), custom)


def get(identifier: ActivationLike) -> Callable[..., Any]:
    """The activation function for None (linear), a name, a serialized dict, or a callable (returned as is).

    Raises:
        ValueError: for an unknown name, listing the valid names and the closest one.
        TypeError: for anything that is neither a name, a dict nor a callable.
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        return _registry.get(identifier, fix="Pass one of these names or a callable as activation=.")
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise TypeError(
        f"activation must be a string name, a serialized dict or a callable, received {short_repr(identifier)} "
        f"of type {type(identifier).__name__}. Example: activation='relu'."
    )


__all__ = sorted(names()) + ["deserialize", "get", "names", "serialize", "ActivationLike"]


def __getattr__(name: str):
    # Only for names this module lacks: says whether it is a Keras 3 name kerasish does not implement.
    from kerasish.utils.keras_names import missing_attribute

    raise missing_attribute(__name__, name, __all__)
