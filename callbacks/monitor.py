"""MonitorCallback: the monitor/mode/min_delta/baseline logic shared by EarlyStopping,
ModelCheckpoint and ReduceLROnPlateau."""

from __future__ import annotations

import warnings
from typing import Any, Dict, Mapping, Optional

from kerasish.callbacks.callback import Callback

# Names whose metric improves upwards when mode='auto'.
_MAX_HINTS = ("acc", "auc", "precision", "recall", "f1")


class MonitorCallback(Callback):
    """Base class for callbacks that watch one logged quantity.

    Subclasses call `get_monitor_value(logs)` and `is_improvement(value, reference)`,
    and keep the best value seen in `self.best` (saved by `state_dict`).

    Args:
        monitor: the `logs` key to watch, e.g. 'val_loss' or 'val_accuracy'. Defaults to `'val_loss'`.
        mode: 'min', 'max' or 'auto'. 'auto' picks 'max' when the name contains 'acc', 'auc',
            'precision', 'recall' or 'f1', and 'min' otherwise. Defaults to `'auto'`.
        baseline: the value to beat before anything counts as an improvement. Defaults to `None`.
        min_delta: the smallest change that counts as an improvement (its sign is ignored).
            Defaults to `0`.

    Raises:
        ValueError: if `mode` is not 'auto', 'min' or 'max', or `monitor` is not a string.

    Example:
        >>> cb = MonitorCallback(monitor="val_accuracy")
        >>> cb.mode_resolved
        'max'
        >>> cb.is_improvement(0.9, 0.8)
        True
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", baseline: Optional[float] = None,
                 min_delta: float = 0) -> None:
        super().__init__()
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(
                f"monitor must be the name of a logged value such as 'val_loss', received monitor={monitor!r}. "
                "Pass the key as it appears in History.history.")
        if mode not in ("auto", "min", "max"):
            raise ValueError(
                f"mode must be 'auto', 'min' or 'max', received mode={mode!r}. Use 'min' for losses and "
                "errors, 'max' for accuracy-like metrics, or 'auto' to infer it from the name.")
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float)):
            raise ValueError(f"min_delta must be a number, received min_delta={min_delta!r}. Example: min_delta=1e-3.")
        self.monitor = monitor
        self.mode = mode
        self.baseline = baseline
        self.min_delta = abs(float(min_delta))
        self.best: Optional[float] = baseline

    @property
    def mode_resolved(self) -> str:
        """'min' or 'max', with 'auto' resolved from the monitored name."""
        if self.mode != "auto":
            return self.mode
        name = self.monitor.lower()
        if name.startswith("val_"):
            name = name[4:]
        return "max" if any(hint in name for hint in _MAX_HINTS) else "min"

    def is_improvement(self, value: float, reference: Optional[float]) -> bool:
        """Whether `value` beats `reference` by more than `min_delta` (always, when reference is None)."""
        if reference is None:
            return True
        if self.mode_resolved == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def get_monitor_value(self, logs: Optional[Mapping[str, Any]]) -> Optional[float]:
        """The monitored value from `logs`, or None with a warning listing the available keys."""
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(
                f"{type(self).__name__} is conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {', '.join(logs) or 'none'}. Pass monitor= one of them (validation "
                "metrics need validation_data or validation_split).", stacklevel=3)
            return None
        return float(value)

    def best_text(self) -> str:
        """The best value for printed lines: 'None' before any epoch, as Keras 3 prints it."""
        return "None" if self.best is None else f"{self.best:.5f}"

    def state_dict(self) -> Dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best = state.get("best", self.best)
