"""EarlyStopping: stop training when a monitored value stops improving."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

import torch

from kerasish.callbacks.monitor import MonitorCallback
from kerasish.saving.weights import assign_weights
from kerasish.utils.interactive_logging import print_msg


class EarlyStopping(MonitorCallback):
    """Stops training when `monitor` has not improved for `patience` epochs.

    Each epoch whose value does not beat the best so far by more than `min_delta`
    counts towards `patience`; after `patience` such epochs in a row, training stops
    (`model.stop_training = True`). When the monitored key is missing from the logs it
    warns, listing the available keys, and carries on.

    Args:
        monitor: the logs key to watch. Defaults to `'val_loss'`.
        min_delta: the smallest change that counts as an improvement. Defaults to `0`.
        patience: epochs without improvement before stopping. Defaults to `0`.
        verbose: 1 prints "Epoch N: early stopping" and the weight restore. Defaults to `0`.
        mode: 'auto', 'min' or 'max' (see `MonitorCallback`). Defaults to `'auto'`.
        baseline: a value the monitored quantity must beat; training stops after `patience`
            epochs that do not beat it, even if they improve on each other. Defaults to `None`.
        restore_best_weights: at the end of training (stopped early or not), put back the
            weights of the best epoch. Defaults to `False`.
        start_from_epoch: epochs (0-based) to wait before watching, e.g. a warm-up. Defaults to `0`.

    Attributes:
        stopped_epoch: the 0-based epoch at which training stopped (0 if it did not).
        best_epoch: the 0-based epoch with the best value.

    Example:
        >>> import numpy as np
        >>> from kerasish import Sequential
        >>> from kerasish.layers import Dense
        >>> model = Sequential([Dense(1, input_shape=(2,))])
        >>> model.compile(optimizer="sgd", loss="mse", device="cpu")
        >>> early_stopping = EarlyStopping(monitor="val_loss", patience=2)
        >>> history = model.fit(np.ones((20, 2)), np.ones((20, 1)), epochs=3, validation_split=0.2,
        ...                     callbacks=[early_stopping], verbose=0)
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0, patience: int = 0, verbose: int = 0,
                 mode: str = "auto", baseline: Optional[float] = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0) -> None:
        super().__init__(monitor, mode, baseline=None, min_delta=min_delta)
        for arg, value in (("patience", patience), ("start_from_epoch", start_from_epoch)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{arg} must be an integer >= 0, received {arg}={value!r}. Example: {arg}=3.")
        self.baseline = baseline
        self.patience = patience
        self.verbose = verbose
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_epoch = 0
        self.best_weights: Optional[Dict[str, torch.Tensor]] = None

    def on_train_begin(self, logs: Optional[Mapping[str, Any]] = None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # Something to restore even if no epoch ever improves.
            self.best_weights = self._copy_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self.is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self._copy_weights()
            # The wait restarts only when the value also beats the baseline; as in Keras,
            # an epoch that improves never stops training itself.
            if self.baseline is None or self.is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: Optional[Mapping[str, Any]] = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print_msg(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print_msg(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            assign_weights(self.model, self.best_weights, "EarlyStopping's best weights")

    def _copy_weights(self) -> Dict[str, torch.Tensor]:
        # Device-side copies: no host synchronisation (once per improving epoch).
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def state_dict(self) -> Dict[str, Any]:
        """`{'wait', 'stopped_epoch', 'best', 'best_epoch'}`, plus `best_weights` (tensors, which
        BackupAndRestore stores as safetensors) when `restore_best_weights`."""
        state: Dict[str, Any] = {"wait": self.wait, "stopped_epoch": self.stopped_epoch, "best": self.best,
                                 "best_epoch": self.best_epoch}
        if self.restore_best_weights and self.best_weights is not None:
            state["best_weights"] = dict(self.best_weights)
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.wait = int(state.get("wait", 0))
        self.stopped_epoch = int(state.get("stopped_epoch", 0))
        self.best = state.get("best")
        self.best_epoch = int(state.get("best_epoch", 0))
        weights = state.get("best_weights")
        self.best_weights = dict(weights) if weights is not None else None
