"""Learning-rate schedules: Keras 3's `keras.optimizers.schedules`.

A schedule maps the optimizer's step counter to a learning rate. Pass one as any
optimizer's `learning_rate`; the optimizer evaluates it before every update from its
host-side step counter (`optimizer.iterations`, a Python int), so a schedule costs a few
microseconds of Python per step and never a device synchronisation. The built-in
schedules compute in Python floats (float64) with Keras's formulas; Keras computes in
float32, so values agree to float32 precision.

Subclass `LearningRateSchedule` and implement `__call__(step)` (and `get_config`) for a
schedule of your own; `step` is the step counter as a Python int. A schedule written with
`kerasish.ops` runs under `kerasish.device("cpu")`, so it never syncs a GPU either.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence

from kerasish.utils.object_registration import register_builtin

__all__ = [
    "LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay", "PolynomialDecay", "InverseTimeDecay",
    "CosineDecay", "CosineDecayRestarts", "serialize", "deserialize",
]


def _positive(owner: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{owner}: {name} must be a number > 0, received {name}={value!r}.")


def _number(owner: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{owner}: {name} must be a number, received {name}={value!r}.")


class LearningRateSchedule:
    """Base class: `schedule(step)` returns the learning rate for that step."""

    def __call__(self, step: int) -> float:
        raise NotImplementedError(
            f"{type(self).__name__} must implement __call__(self, step) returning the learning rate for `step`."
        )

    def get_config(self) -> Dict[str, Any]:
        raise NotImplementedError(
            f"{type(self).__name__} must implement get_config() (its constructor arguments) to be saved."
        )

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "LearningRateSchedule":
        return cls(**config)


class ExponentialDecay(LearningRateSchedule):
    """`initial_learning_rate * decay_rate ** (step / decay_steps)` (integer division when `staircase`)."""

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float, staircase: bool = False,
                 name: str = "ExponentialDecay") -> None:
        _number("ExponentialDecay", "initial_learning_rate", initial_learning_rate)
        _positive("ExponentialDecay", "decay_steps", decay_steps)
        _number("ExponentialDecay", "decay_rate", decay_rate)
        self.initial_learning_rate, self.decay_steps, self.decay_rate = initial_learning_rate, decay_steps, decay_rate
        self.staircase, self.name = staircase, name

    def __call__(self, step: int) -> float:
        p = step / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate * self.decay_rate ** p

    def get_config(self) -> Dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class PiecewiseConstantDecay(LearningRateSchedule):
    """`values[0]` up to and including `boundaries[0]`, `values[1]` up to `boundaries[1]`, ... `values[-1]` after."""

    def __init__(self, boundaries: Sequence[float], values: Sequence[float],
                 name: str = "PiecewiseConstant") -> None:
        boundaries, values = list(boundaries), list(values)
        if len(values) != len(boundaries) + 1:
            raise ValueError(
                f"PiecewiseConstantDecay: values must have one more entry than boundaries, received "
                f"{len(boundaries)} boundaries and {len(values)} values."
            )
        if any(b > a for a, b in zip(boundaries[1:], boundaries)):
            raise ValueError(f"PiecewiseConstantDecay: boundaries must be increasing, received {boundaries}.")
        self.boundaries, self.values, self.name = boundaries, values, name

    def __call__(self, step: int) -> float:
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return value
        return self.values[-1]

    def get_config(self) -> Dict[str, Any]:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """From `initial_learning_rate` to `end_learning_rate` over `decay_steps` along `(1 - t) ** power`.

    With `cycle`, the decay restarts with a longer period (the next multiple of
    `decay_steps`) instead of staying at the end value.
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, end_learning_rate: float = 0.0001,
                 power: float = 1.0, cycle: bool = False, name: str = "PolynomialDecay") -> None:
        _number("PolynomialDecay", "initial_learning_rate", initial_learning_rate)
        _positive("PolynomialDecay", "decay_steps", decay_steps)
        self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
        self.end_learning_rate, self.power, self.cycle, self.name = end_learning_rate, power, cycle, name

    def __call__(self, step: int) -> float:
        decay_steps = float(self.decay_steps)
        step = float(step)
        if self.cycle:
            multiplier = 1.0 if step == 0 else math.ceil(step / decay_steps)
            decay_steps = decay_steps * multiplier
        else:
            step = min(step, decay_steps)
        fraction = 1.0 - step / decay_steps
        return (self.initial_learning_rate - self.end_learning_rate) * fraction ** self.power + self.end_learning_rate

    def get_config(self) -> Dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                "name": self.name}


class InverseTimeDecay(LearningRateSchedule):
    """`initial_learning_rate / (1 + decay_rate * step / decay_steps)` (integer division when `staircase`)."""

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float, staircase: bool = False,
                 name: str = "InverseTimeDecay") -> None:
        _number("InverseTimeDecay", "initial_learning_rate", initial_learning_rate)
        _positive("InverseTimeDecay", "decay_steps", decay_steps)
        self.initial_learning_rate, self.decay_steps, self.decay_rate = initial_learning_rate, decay_steps, decay_rate
        self.staircase, self.name = staircase, name

    def __call__(self, step: int) -> float:
        p = step / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate / (1.0 + self.decay_rate * p)

    def get_config(self) -> Dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


def _cosine(step: float, decay_steps: float, start: float, alpha: float) -> float:
    decayed = 0.5 * (1.0 + math.cos(math.pi * step / decay_steps))
    return start * ((1.0 - alpha) * decayed + alpha)


class CosineDecay(LearningRateSchedule):
    """Cosine annealing from the initial rate to `alpha` times it over `decay_steps`.

    With `warmup_target`, the rate first rises linearly from `initial_learning_rate` to
    `warmup_target` over `warmup_steps`, then anneals from `warmup_target`.
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, alpha: float = 0.0, name: str = "CosineDecay",
                 warmup_target: Optional[float] = None, warmup_steps: int = 0) -> None:
        _number("CosineDecay", "initial_learning_rate", initial_learning_rate)
        _positive("CosineDecay", "decay_steps", decay_steps)
        if warmup_target is not None and warmup_steps <= 0:
            raise ValueError(f"CosineDecay: warmup_target={warmup_target!r} needs warmup_steps > 0, received "
                             f"warmup_steps={warmup_steps!r}.")
        self.initial_learning_rate, self.decay_steps, self.alpha = initial_learning_rate, decay_steps, alpha
        self.name, self.warmup_target, self.warmup_steps = name, warmup_target, warmup_steps

    def __call__(self, step: int) -> float:
        step = float(step)
        if self.warmup_target is None:
            return _cosine(min(step, self.decay_steps), self.decay_steps, self.initial_learning_rate, self.alpha)
        step = min(step, float(self.decay_steps + self.warmup_steps))
        if step < self.warmup_steps:
            return (self.warmup_target - self.initial_learning_rate) * step / self.warmup_steps + \
                self.initial_learning_rate
        return _cosine(step - self.warmup_steps, self.decay_steps, self.warmup_target, self.alpha)

    def get_config(self) -> Dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine annealing with warm restarts (SGDR): periods grow by `t_mul`, peaks shrink by `m_mul`."""

    def __init__(self, initial_learning_rate: float, first_decay_steps: int, t_mul: float = 2.0, m_mul: float = 1.0,
                 alpha: float = 0.0, name: str = "SGDRDecay") -> None:
        _number("CosineDecayRestarts", "initial_learning_rate", initial_learning_rate)
        _positive("CosineDecayRestarts", "first_decay_steps", first_decay_steps)
        _positive("CosineDecayRestarts", "t_mul", t_mul)
        self.initial_learning_rate, self.first_decay_steps = initial_learning_rate, first_decay_steps
        self._t_mul, self._m_mul, self.alpha, self.name = t_mul, m_mul, alpha, name

    def __call__(self, step: int) -> float:
        fraction = step / self.first_decay_steps
        if self._t_mul == 1.0:
            restart = math.floor(fraction)
            fraction -= restart
        else:
            restart = math.floor(math.log(1.0 - fraction * (1.0 - self._t_mul)) / math.log(self._t_mul))
            done = (1.0 - self._t_mul ** restart) / (1.0 - self._t_mul)
            fraction = (fraction - done) / self._t_mul ** restart
        m_fac = self._m_mul ** restart
        decayed = m_fac * 0.5 * (1.0 + math.cos(math.pi * fraction))
        return self.initial_learning_rate * ((1.0 - self.alpha) * decayed + self.alpha)

    def get_config(self) -> Dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate, "first_decay_steps": self.first_decay_steps,
                "t_mul": self._t_mul, "m_mul": self._m_mul, "alpha": self.alpha, "name": self.name}


_BUILTIN: List[type] = [ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay, InverseTimeDecay, CosineDecay,
                        CosineDecayRestarts]
register_builtin(*_BUILTIN)


def serialize(schedule: LearningRateSchedule) -> Dict[str, Any]:
    """Keras's envelope for a schedule: `{"module", "class_name", "config", "registered_name"}`."""
    if not isinstance(schedule, LearningRateSchedule):
        raise TypeError(f"serialize expects a LearningRateSchedule, received {type(schedule).__name__}.")
    from kerasish.saving.keras_objects import serialize_keras_object

    return serialize_keras_object(schedule)  # module 'keras.optimizers.schedules', as Keras writes


def deserialize(config: Dict[str, Any], custom_objects: Optional[Dict[str, Any]] = None) -> LearningRateSchedule:
    """The schedule a `serialize` envelope (or Keras's) describes."""
    from kerasish.saving.serialization import deserialize_object

    schedule = deserialize_object(config, custom_objects)
    if not isinstance(schedule, LearningRateSchedule):
        raise ValueError(f"The config describes a {type(schedule).__name__}, not a LearningRateSchedule.")
    return schedule
