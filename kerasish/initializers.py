"""Keras's weight initialisers, applied in place to torch tensors.

Fans follow Keras: for a Dense kernel (torch shape (out, in)) fan_in=in, fan_out=out; for a
convolution kernel (out, in/groups, *k) fan_in = in/groups * prod(k), fan_out = out * prod(k).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, Union

import torch

from kerasish.registry import Registry

InitializerLike = Union[str, Callable[[torch.Tensor], Any], "Initializer", None]


def _fans(shape) -> tuple:
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[2:]) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


class Initializer:
    """Base class: `init(tensor)` fills the tensor in place and returns it."""

    def __call__(self, tensor: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.fill(tensor)

    def fill(self, tensor: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> Dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Initializer":
        return cls(**config)


class Zeros(Initializer):
    def fill(self, t):
        return t.zero_()


class Ones(Initializer):
    def fill(self, t):
        return t.fill_(1.0)


class Constant(Initializer):
    def __init__(self, value: float = 0.0):
        self.value = value

    def fill(self, t):
        return t.fill_(self.value)

    def get_config(self):
        return {"value": self.value}


class RandomUniform(Initializer):
    def __init__(self, minval: float = -0.05, maxval: float = 0.05):
        self.minval, self.maxval = minval, maxval

    def fill(self, t):
        return t.uniform_(self.minval, self.maxval)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval}


class RandomNormal(Initializer):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05):
        self.mean, self.stddev = mean, stddev

    def fill(self, t):
        return t.normal_(self.mean, self.stddev)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(Initializer):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05):
        self.mean, self.stddev = mean, stddev

    def fill(self, t):
        return torch.nn.init.trunc_normal_(
            t, self.mean, self.stddev, self.mean - 2 * self.stddev, self.mean + 2 * self.stddev
        )

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev}


class VarianceScaling(Initializer):
    """Keras's VarianceScaling: the family behind glorot/he/lecun."""

    def __init__(self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal"):
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"Invalid mode {mode!r}; expected 'fan_in', 'fan_out' or 'fan_avg'.")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(
                f"Invalid distribution {distribution!r}; expected 'truncated_normal', "
                "'untruncated_normal' or 'uniform'."
            )
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def fill(self, t):
        fan_in, fan_out = _fans(tuple(t.shape))
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * scale)
            return t.uniform_(-limit, limit)
        if self.distribution == "untruncated_normal":
            return t.normal_(0.0, math.sqrt(scale))
        # Constant from Keras's docs: stddev of a unit normal truncated at +-2.
        std = math.sqrt(scale) / 0.87962566103423978
        return torch.nn.init.trunc_normal_(t, 0.0, std, -2 * std, 2 * std)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution}


class GlorotUniform(VarianceScaling):
    def __init__(self):
        super().__init__(1.0, "fan_avg", "uniform")

    def get_config(self):
        return {}


class GlorotNormal(VarianceScaling):
    def __init__(self):
        super().__init__(1.0, "fan_avg", "truncated_normal")

    def get_config(self):
        return {}


class HeUniform(VarianceScaling):
    def __init__(self):
        super().__init__(2.0, "fan_in", "uniform")

    def get_config(self):
        return {}


class HeNormal(VarianceScaling):
    def __init__(self):
        super().__init__(2.0, "fan_in", "truncated_normal")

    def get_config(self):
        return {}


class LecunUniform(VarianceScaling):
    def __init__(self):
        super().__init__(1.0, "fan_in", "uniform")

    def get_config(self):
        return {}


class LecunNormal(VarianceScaling):
    def __init__(self):
        super().__init__(1.0, "fan_in", "truncated_normal")

    def get_config(self):
        return {}


class Orthogonal(Initializer):
    def __init__(self, gain: float = 1.0):
        self.gain = gain

    def fill(self, t):
        return torch.nn.init.orthogonal_(t, gain=self.gain)

    def get_config(self):
        return {"gain": self.gain}


class Identity(Initializer):
    def __init__(self, gain: float = 1.0):
        self.gain = gain

    def fill(self, t):
        torch.nn.init.eye_(t)
        return t.mul_(self.gain)

    def get_config(self):
        return {"gain": self.gain}


_registry: Registry[type] = Registry("initializer")
for _cls, _names in {
    Zeros: ("zeros",),
    Ones: ("ones",),
    Constant: ("constant",),
    RandomUniform: ("random_uniform", "uniform"),
    RandomNormal: ("random_normal", "normal"),
    TruncatedNormal: ("truncated_normal",),
    VarianceScaling: ("variance_scaling",),
    GlorotUniform: ("glorot_uniform", "xavier_uniform"),
    GlorotNormal: ("glorot_normal", "xavier_normal"),
    HeUniform: ("he_uniform",),
    HeNormal: ("he_normal",),
    LecunUniform: ("lecun_uniform",),
    LecunNormal: ("lecun_normal",),
    Orthogonal: ("orthogonal",),
    Identity: ("identity",),
}.items():
    for _n in _names:
        _registry.add(_n, _cls)


def get(identifier: InitializerLike) -> Callable[[torch.Tensor], Any]:
    """Returns an initializer for a name, an Initializer, a config dict or a callable.

    Raises:
        ValueError: for an unknown name (valid names listed).
    """
    if identifier is None:
        return Zeros()
    if isinstance(identifier, str):
        return _registry.get(identifier, fix="Pass one of these names, an Initializer or a callable.")()
    if isinstance(identifier, dict) and "class_name" in identifier:
        cls = _registry.get(identifier["class_name"])
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if callable(identifier):
        return identifier
    raise TypeError(
        f"initializer must be a string name, an Initializer or a callable, received {identifier!r}."
    )


def serialize(initializer: InitializerLike) -> Any:
    if isinstance(initializer, str) or initializer is None:
        return initializer
    if isinstance(initializer, Initializer):
        for name, cls in _registry.items():
            if type(initializer) is cls:
                return {"class_name": name, "config": initializer.get_config()}
    return getattr(initializer, "__name__", repr(initializer))
