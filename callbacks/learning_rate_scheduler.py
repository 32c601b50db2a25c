"""LearningRateScheduler: set the learning rate from a function of the epoch."""

from __future__ import annotations

import inspect
import math
from typing import Any, Callable, Mapping, Optional

from kerasish.callbacks.callback import Callback, keras_learning_rate, rate_holders
from kerasish.utils.interactive_logging import print_msg


def _arity(fn: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: assume Keras's (epoch, lr)
        return 2
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 2
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


class LearningRateScheduler(Callback):
    """Calls `schedule(epoch, lr)` at the start of every epoch and sets the returned rate.

    `epoch` is 0-based and `lr` the current rate; a one-argument `schedule(epoch)` (Keras 1
    style) also works. The rate in effect is added to the epoch logs as `learning_rate`.
    Both `lr` and the logged rate are read as Keras holds the rate, a float32 variable
    (0.001 reads 0.0010000000474974513).

    Args:
        schedule: a function `(epoch, lr) -> new_lr` returning a float.
        verbose: 1 prints the rate each epoch. Defaults to `0`.

    Raises:
        TypeError: if `schedule` is not callable.

    Example:
        >>> def scheduler(epoch, lr):
        ...     return lr if epoch < 10 else lr * 0.9
        >>> callback = LearningRateScheduler(scheduler)
    """

    def __init__(self, schedule: Callable[..., float], verbose: int = 0) -> None:
        super().__init__()
        if not callable(schedule):
            raise TypeError(
                f"schedule must be a function (epoch, lr) -> new learning rate, received {schedule!r} of type "
                f"{type(schedule).__name__}. Example: LearningRateScheduler(lambda epoch, lr: lr * 0.95).")
        self.schedule = schedule
        self.verbose = verbose
        self._two_args = _arity(schedule) >= 2

    def on_epoch_begin(self, epoch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        for key, optimizer in rate_holders(self.model.optimizer):  # a MultiOptimizer: each sub-optimizer
            self._set_rate(optimizer, epoch, "" if key == "learning_rate" else f"{optimizer.name} ")

    def _set_rate(self, optimizer: Any, epoch: int, which: str) -> None:
        lr = keras_learning_rate(optimizer)
        new_lr = self.schedule(epoch, lr) if self._two_args else self.schedule(epoch)
        if hasattr(new_lr, "item") and getattr(new_lr, "ndim", 0) == 0:
            new_lr = new_lr.item()  # a 0-d tensor/array from the schedule: once per epoch
        if isinstance(new_lr, bool) or not isinstance(new_lr, (int, float)) or not math.isfinite(new_lr):
            raise ValueError(
                f'The output of the "schedule" function should be a finite float, received {new_lr!r} of type '
                f"{type(new_lr).__name__} at epoch {epoch}. Return a number, e.g. `return lr * 0.9`.")
        optimizer.learning_rate = float(new_lr)
        if self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: LearningRateScheduler setting {which}learning rate to {float(new_lr)}.")

    def on_epoch_end(self, epoch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        if isinstance(logs, dict):
            for key, optimizer in rate_holders(self.model.optimizer):
                logs[key] = keras_learning_rate(optimizer)
