"""`optimizer.learning_rate` and `optimizer.iterations` with Keras 3's variable surface.

Keras 3 keeps an optimizer's rate and step counter in two scalar variables
(`adam/learning_rate`, float32, and `adam/iteration`, int32), so user code writes
`opt.learning_rate.assign(1e-4)`, `float(opt.learning_rate)`, `opt.learning_rate * 0.5` or
`int(opt.iterations)`. kerasish keeps both numbers on the host instead: the rate in torch's
param groups (Python floats that torch's update reads with no device sync) and the step
count in a Python int. The classes here are that surface over the host numbers: one
object per optimizer, which reads the number when asked (so a reference held by the user
sees every later change, from `assign`, a callback, a schedule or torch's own param groups)
and writes it back through the optimizer (so `assign` reaches every param group). The
training step never touches them: they cost nothing per step.

`RateAndCounter`, a base class of `Optimizer`, holds the properties that hand them out
(`learning_rate`, `iterations`) and the host-side rate bookkeeping behind them.

Reads give what Keras's variables give: `numpy()` a 0-d float32 (int32) array, `float()`
the float32 value, arithmetic and comparisons a 0-d CPU tensor, `value` a fresh 0-d CPU
tensor. Unlike a Keras variable they are not torch tensors themselves: torch functions
accept them (`__torch_function__`), NumPy and `kerasish.ops` through `__array__`.
"""

from __future__ import annotations

import operator
from typing import Any, Callable, Optional

import numpy as np
import torch

from kerasish.optimizers.schedules import LearningRateSchedule


class OptimizerVariable:
    """Base class: a scalar Keras variable whose value is a host number held by an optimizer.

    Subclasses say how to read and write the number (`_read`, `_write`) and its dtype.

    Args:
        optimizer: the optimizer that holds the number.
        name: the variable's name (`"learning_rate"`, `"iteration"`).
    """

    _dtype = "float32"
    _np_dtype: Any = np.float32
    _torch_dtype = torch.float32

    def __init__(self, optimizer: Any, name: str) -> None:
        self._optimizer = optimizer
        self._name = name

    # ----------------------------------------------------------------- subclasses
    def _read(self) -> Any:
        raise NotImplementedError

    def _write(self, value: Any) -> None:
        raise NotImplementedError

    # ----------------------------------------------------------------- Keras surface
    @property
    def name(self) -> str:
        return self._name

    @property
    def path(self) -> str:
        """`<optimizer name>/<name>`, as Keras names an optimizer's variables."""
        return f"{self._optimizer.name}/{self._name}"

    @property
    def dtype(self) -> str:
        return self._dtype

    @property
    def shape(self) -> tuple:
        return ()

    @property
    def ndim(self) -> int:
        return 0

    @property
    def trainable(self) -> bool:
        return False

    @property
    def aggregation(self) -> str:
        return "only_first_replica"

    @property
    def constraint(self) -> None:
        return None

    @property
    def regularizer(self) -> None:
        return None

    @property
    def value(self) -> torch.Tensor:
        """The current value as a new 0-d CPU tensor (reading it costs no device sync)."""
        return torch.tensor(self._np_dtype(self._read()), dtype=self._torch_dtype)

    def numpy(self) -> np.ndarray:
        """The current value as a 0-d NumPy array of the variable's dtype."""
        return np.asarray(self._np_dtype(self._read()))

    def assign(self, value: Any) -> torch.Tensor:
        """Sets the value (what the optimizer's next update uses); returns it as a tensor.

        Args:
            value: a number, a 0-d NumPy array or tensor (a CUDA tensor is read to the host
                once: a sync), or another optimizer variable.

        Raises:
            ValueError: for a value with more than one element or that is not a number.
        """
        self._write(self._host_number(value, f"{self.path}.assign()"))
        return self.value

    def assign_add(self, value: Any) -> torch.Tensor:
        """Adds `value` to the current value; returns the new value as a tensor."""
        self._write(self._read() + self._host_number(value, f"{self.path}.assign_add()"))
        return self.value

    def assign_sub(self, value: Any) -> torch.Tensor:
        """Subtracts `value` from the current value; returns the new value as a tensor."""
        self._write(self._read() - self._host_number(value, f"{self.path}.assign_sub()"))
        return self.value

    def _host_number(self, value: Any, call: str) -> Any:
        """`value` as a Python number, or a ValueError naming `call` (what the user wrote) and the value."""
        if isinstance(value, OptimizerVariable):
            return value._read()
        if isinstance(value, torch.Tensor):
            if value.dim() == 0 and not value.dtype.is_complex and value.dtype != torch.bool:
                return value.item()  # a host sync for a CUDA tensor: once per assign, not per step
            shape, kind = tuple(value.shape), "a tensor"
        else:
            try:
                array = np.asarray(value)
            except (TypeError, ValueError):  # a ragged list or an object NumPy cannot read: not a number
                array = np.asarray(None)
            if array.shape == () and array.dtype.kind in "iuf":
                return array.item()
            shape, kind = array.shape, f"a {type(value).__name__}"
        what = f"{kind} of shape {shape}" if shape != () else f"{kind}, not a number"
        raise ValueError(
            f"{call} received {what}: {value!r}. {self.path} holds one {self._dtype} number (shape ()): pass a "
            f"number, e.g. {self._name}.assign({self._example})."
        )

    _example = "0.001"

    # ----------------------------------------------------------------- Python and torch protocols
    def __float__(self) -> float:
        return float(self._np_dtype(self._read()))

    def __int__(self) -> int:
        return int(self._np_dtype(self._read()))

    def __array__(self, dtype: Any = None, copy: Optional[bool] = None) -> np.ndarray:
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def __bool__(self) -> bool:
        # Keras's variables refuse bool(); kerasish answers `value != 0` instead, so host code written
        # as `optimizer.iterations or 0` keeps working (no Keras code relies on the refusal).
        return bool(self._read())

    __hash__ = None  # type: ignore[assignment]  # == gives a tensor, as Keras's variables (unhashable too)

    @classmethod
    def __torch_function__(cls, func: Callable, types: Any, args: tuple = (), kwargs: Optional[dict] = None) -> Any:
        args = tuple(a.value if isinstance(a, OptimizerVariable) else a for a in args)
        kwargs = {k: v.value if isinstance(v, OptimizerVariable) else v for k, v in (kwargs or {}).items()}
        return func(*args, **kwargs)

    def __repr__(self) -> str:
        return (f"<Variable path={self.path}, shape={self.shape}, dtype={self._dtype}, "
                f"value={self._np_dtype(self._read()).item()!r}>")

    __str__ = __repr__

    def __round__(self, ndigits: Optional[int] = None) -> torch.Tensor:
        return torch.round(self.value) if ndigits is None else torch.round(self.value, decimals=ndigits)

    def __getitem__(self, index: Any) -> torch.Tensor:
        return self.value[index]


def _operand(x: Any) -> Any:
    return x.value if isinstance(x, OptimizerVariable) else x


def _binary(op: Callable, reflected: bool) -> Callable:
    def method(self: OptimizerVariable, other: Any) -> Any:
        if not isinstance(other, (OptimizerVariable, torch.Tensor, np.ndarray, np.generic, int, float, bool)):
            return NotImplemented  # lets the other operand answer (pytest.approx, user types)
        other = _operand(other)
        if isinstance(other, np.ndarray):
            other = torch.as_tensor(other)
        return op(other, self.value) if reflected else op(self.value, other)

    return method


for _name, _op in (("add", operator.add), ("sub", operator.sub), ("mul", operator.mul),
                   ("truediv", operator.truediv), ("floordiv", operator.floordiv), ("mod", operator.mod),
                   ("pow", operator.pow), ("and", operator.and_), ("or", operator.or_), ("xor", operator.xor)):
    setattr(OptimizerVariable, f"__{_name}__", _binary(_op, reflected=False))
    setattr(OptimizerVariable, f"__r{_name}__", _binary(_op, reflected=True))
for _name, _op in (("eq", operator.eq), ("ne", operator.ne), ("lt", operator.lt), ("le", operator.le),
                   ("gt", operator.gt), ("ge", operator.ge)):
    setattr(OptimizerVariable, f"__{_name}__", _binary(_op, reflected=False))
for _name, _op in (("neg", operator.neg), ("pos", operator.pos), ("abs", operator.abs), ("invert", operator.invert)):
    setattr(OptimizerVariable, f"__{_name}__", (lambda f: lambda self: f(self.value))(_op))


class LearningRateVariable(OptimizerVariable):
    """`optimizer.learning_rate` for a constant rate: Keras's float32 `<name>/learning_rate`.

    Reads the rate from the torch optimizer's first param group (or the optimizer's own
    number before it is built); `assign` sets every param group's rate through the optimizer,
    as `optimizer.learning_rate = value` does.

    Example:
        >>> from kerasish import optimizers
        >>> opt = optimizers.Adam(learning_rate=0.01, name="adam")
        >>> lr = opt.learning_rate
        >>> _ = lr.assign(1e-4)
        >>> float(opt.learning_rate), lr.path
        (9.999999747378752e-05, 'adam/learning_rate')
    """

    def _read(self) -> float:
        return self._optimizer._rate()

    def _write(self, value: Any) -> None:
        self._optimizer.learning_rate = value


class IterationVariable(OptimizerVariable):
    """`optimizer.iterations`: Keras's int32 `<name>/iteration`, the number of updates.

    Under `gradient_accumulation_steps=n` it counts updates (steps // n), as Keras's
    `iterations`; `assign(k)` sets the counter to `k` updates.
    """

    _dtype = "int32"
    _np_dtype = np.int32
    _torch_dtype = torch.int32
    _example = "0"

    def _read(self) -> int:
        return self._optimizer._updates()

    def _write(self, value: Any) -> None:
        self._optimizer.iterations = int(value)  # Keras casts to int32: 2.7 -> 2


class RateAndCounter:
    """`Optimizer`'s learning rate and step counter, shown as Keras 3 shows them (a base class).

    The optimizer keeps the rate in `_lr` and its torch optimizer's param groups, a schedule
    (or callable) in `_schedule`, the raw step count in `_iterations`, and the two variables
    above in `_learning_rate_variable` and `_iteration_variable`; these members read and
    write them. Nothing here runs in the training step except `_scheduled_rate`, once per
    step, and only for an optimizer with a schedule.
    """

    _schedule: Any
    _lr: float
    _iterations: int
    torch_optimizer: Any
    gradient_accumulation_steps: Optional[int]

    def _scheduled_rate(self, step: int) -> float:
        schedule = self._schedule
        if isinstance(schedule, LearningRateSchedule):
            if type(schedule).__module__ == "kerasish.optimizers.schedules":
                return schedule(step)  # Python floats: no tensors at all
            from kerasish.ops.dtypes import device_scope

            with device_scope("cpu"):  # a user's schedule written with ops stays on the host
                value = schedule(step)
        else:
            value = schedule()
        return float(value)  # a CPU tensor or a number: no device sync

    @property
    def learning_rate(self) -> Any:
        """The rate of the next update, as Keras 3 gives it.

        With a constant rate: the optimizer's float32 variable `<name>/learning_rate`, always
        the same object (`lr = opt.learning_rate; lr.assign(1e-4)` changes the rate; `float(lr)`,
        `lr.numpy()` and `lr * 0.5` read the current one). With a schedule: the schedule's
        value at the current step, a 0-d float32 CPU tensor (read-only, as Keras's); with a
        callable, what it returns.

        Setting it (`opt.learning_rate = 1e-4`) is `opt.learning_rate.assign(1e-4)`; setting a
        `LearningRateSchedule` (or a callable) makes the optimizer follow it from the next step.

        Raises:
            TypeError: when setting a number on an optimizer that follows a schedule.
            ValueError: when setting a negative rate or something that is not a number.
        """
        if isinstance(self._schedule, LearningRateSchedule):
            return torch.tensor(self._rate(), dtype=torch.float32)  # a fresh CPU tensor: no device sync
        if self._schedule is not None:
            return self._schedule()  # a callable's own value, as Keras returns it
        return self._learning_rate_variable

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        if type(value) is float and self._schedule is None:  # callbacks set floats once per batch: fast path
            self._set_rate(value)
            return
        if isinstance(value, LearningRateSchedule) or (
                callable(value) and not isinstance(value, (OptimizerVariable, torch.Tensor))):
            self._schedule = value  # as Keras: the schedule replaces the constant rate from the next step
            return
        if self._schedule is not None:
            raise TypeError(
                f"{type(self).__name__} was created with a learning-rate schedule ({type(self._schedule).__name__}), "
                f"so its learning rate cannot be set. Received: learning_rate={value!r}. "
                "Create the optimizer with a float learning_rate to set the rate yourself (assign(), "
                "ReduceLROnPlateau, LearningRateScheduler)."
            )
        call = f"{type(self).__name__}.learning_rate = ..."
        self._set_rate(self._learning_rate_variable._host_number(value, call))

    @property
    def learning_rate_schedule(self) -> Any:
        """The schedule (or callable) given as `learning_rate`, or None for a constant rate."""
        return self._schedule

    def _rate(self) -> float:
        """The rate of the next update as a Python float (no tensor, no float32 rounding)."""
        if self._schedule is not None:
            return self._scheduled_rate(self._iterations)
        if self.torch_optimizer is not None:
            return float(self.torch_optimizer.param_groups[0]["lr"])
        return self._lr

    def _set_rate(self, value: float) -> None:
        if value < 0:
            raise ValueError(
                f"learning_rate must be >= 0. Received: learning_rate={value!r}. Pass a non-negative number, e.g. "
                "optimizer.learning_rate.assign(1e-4)."
            )
        if self.torch_optimizer is not None:
            groups = self.torch_optimizer.param_groups
            old = float(groups[0]["lr"])
            # Several param groups (a torch optimizer with per-layer rates): scale them all
            # by the same factor, so their ratios survive ReduceLROnPlateau and schedules.
            for group in groups:
                group["lr"] = value if old == 0 or len(groups) == 1 else float(group["lr"]) * value / old
        self._lr = value

    lr = learning_rate  # Keras 2 spelling

    @property
    def iterations(self) -> Any:
        """The number of updates, as Keras 3's int32 variable `<name>/iteration`.

        Always the same object, a view of the optimizer's host counter: `int(opt.iterations)`
        and `opt.iterations.numpy()` cost no device sync; `opt.iterations.assign(k)` (or
        kerasish's `opt.iterations = k`) sets the count. Under `gradient_accumulation_steps=n`
        it counts updates (steps // n), as in Keras.
        """
        return self._iteration_variable

    @iterations.setter
    def iterations(self, value: Any) -> None:
        n = self.gradient_accumulation_steps
        self._iterations = int(value) * n if n else int(value)

    def _updates(self) -> int:
        """The number of updates as a Python int (what `iterations` shows)."""
        n = self.gradient_accumulation_steps
        return self._iterations // n if n else self._iterations
