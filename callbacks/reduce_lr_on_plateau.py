"""ReduceLROnPlateau: lower the learning rate when a monitored value stops improving."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

import numpy as np

from kerasish.callbacks.callback import keras_learning_rate, rate_holders
from kerasish.callbacks.monitor import MonitorCallback
from kerasish.utils.interactive_logging import print_msg


class ReduceLROnPlateau(MonitorCallback):
    """Multiplies the learning rate by `factor` after `patience` epochs without improvement.

    Reads and writes `model.optimizer.learning_rate`, and adds the current rate to the
    epoch logs as `learning_rate` (so History and CSVLogger record it, as in Keras). Both
    read the rate as Keras holds it, a float32 variable: 0.001 is logged as
    0.0010000000474974513, and a reduced rate is that value times `factor`.

    Args:
        monitor: the logs key to watch. Defaults to `'val_loss'`.
        factor: the multiplier, `new_lr = lr * factor`; must be below 1. Defaults to `0.1`.
        patience: epochs without improvement before reducing. Defaults to `10`.
        verbose: 1 prints a line when the rate changes. Defaults to `0`.
        mode: 'auto', 'min' or 'max' (see `MonitorCallback`). Defaults to `'auto'`.
        min_delta: the smallest change that counts as an improvement. Defaults to `1e-4`.
        cooldown: epochs to wait after a reduction before counting again. Defaults to `0`.
        min_lr: the rate never goes below this. Defaults to `0.0`.

    Raises:
        ValueError: if `factor` >= 1.

    Example:
        >>> reduce_lr = ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=5, min_lr=0.001)
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10, verbose: int = 0,
                 mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0,
                 **kwargs: Any) -> None:
        if "epsilon" in kwargs:  # Keras 1/2 spelling of min_delta
            min_delta = kwargs.pop("epsilon")
        if kwargs:
            raise TypeError(
                f"ReduceLROnPlateau() got unexpected keyword argument(s) {sorted(kwargs)}. Valid arguments: "
                "monitor, factor, patience, verbose, mode, min_delta, cooldown, min_lr.")
        super().__init__(monitor, mode, baseline=None, min_delta=min_delta)
        if not isinstance(factor, (int, float)) or factor >= 1.0:
            raise ValueError(
                f"ReduceLROnPlateau does not support a factor >= 1.0, received factor={factor!r}. Pass a "
                "multiplier below 1, e.g. factor=0.5 halves the learning rate.")
        self.factor = float(factor)
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.min_lr = float(min_lr)
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.cooldown_counter = 0
        self.best = None

    def on_train_begin(self, logs: Optional[Mapping[str, Any]] = None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        holders = rate_holders(self.model.optimizer)  # a MultiOptimizer: each sub-optimizer, as Keras
        if isinstance(logs, dict):
            for key, optimizer in holders:
                logs[key] = keras_learning_rate(optimizer)
        current = self.get_monitor_value(logs)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                reduced = False
                for key, optimizer in holders:
                    old_lr = keras_learning_rate(optimizer)
                    # Compared in float32 too: a rate already cut to min_lr reads a little above it.
                    if old_lr > np.float32(self.min_lr):
                        new_lr = max(old_lr * self.factor, self.min_lr)
                        optimizer.learning_rate = new_lr
                        reduced = True
                        if self.verbose > 0:
                            which = "" if key == "learning_rate" else f" {optimizer.name}"
                            print_msg(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing{which} learning rate to "
                                      f"{new_lr}.")
                if reduced:
                    self.cooldown_counter = self.cooldown
                    self.wait = 0

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def state_dict(self) -> Dict[str, Any]:
        """`{'wait', 'cooldown_counter', 'best'}` (the rate itself lives in the optimizer state)."""
        return {"wait": self.wait, "cooldown_counter": self.cooldown_counter, "best": self.best}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.wait = int(state.get("wait", 0))
        self.cooldown_counter = int(state.get("cooldown_counter", 0))
        self.best = state.get("best")
