"""The Callback base class: Keras's hook names, called by fit, evaluate and predict."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional


class Callback:
    """Base class for objects that hook into training, evaluation and prediction.

    Override any of the hooks below. `epoch` and `batch` are 0-based (printed text and
    the `{epoch}` in file names count from 1, as in Keras).

    `logs` contents:
    - `on_epoch_end`: floats for `loss`, each metric, and their `val_` twins when
      validation ran that epoch, e.g. `{'loss': 0.31, 'accuracy': 0.89, 'val_loss': 0.35,
      'val_accuracy': 0.87}`.
    - `on_train_batch_end` / `on_test_batch_end`: the running epoch means so far, e.g.
      `{'loss': 0.42, 'accuracy': 0.85}`. The mapping is lazy: reading it costs one
      device synchronisation, not reading it costs nothing.
    - `on_predict_batch_end`: `{'outputs': tensor}`.
    - `on_test_end` / `on_train_end`: the final (epoch) logs.
    - every `*_begin` hook: an empty dict.

    Attributes:
        model: the model being trained, set by `set_model`.
        params: `{'epochs': ..., 'steps': ..., 'verbose': ...}`, set by `set_params`.

    Example:
        >>> class PrintLoss(Callback):
        ...     def on_epoch_end(self, epoch, logs=None):
        ...         print(f"epoch {epoch + 1}: loss {logs['loss']:.3f}")
    """

    def __init__(self) -> None:
        self.model: Any = None
        self.params: Dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: Dict[str, Any]) -> None:
        self.params = params

    # Resumable state (EarlyStopping, ReduceLROnPlateau, ModelCheckpoint's best value).
    def state_dict(self) -> Dict[str, Any]:
        """JSON-ready state that must survive a resume. The base class has none."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restores what `state_dict` returned."""

    def on_train_begin(self, logs: Optional[Mapping[str, Any]] = None) -> None:
        """Called once when fit starts."""

    def on_train_end(self, logs: Optional[Mapping[str, Any]] = None) -> None:
        """Called once when fit ends, with the last epoch's logs."""

    def on_epoch_begin(self, epoch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        """Called at the start of each epoch (0-based)."""

    def on_epoch_end(self, epoch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        """Called at the end of each epoch with the epoch's logs (floats)."""

    def on_train_batch_begin(self, batch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        """Called before each training batch."""

    def on_train_batch_end(self, batch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        """Called after each training batch with the running epoch means (lazy)."""

    def on_test_begin(self, logs: Optional[Mapping[str, Any]] = None) -> None:
        """Called when evaluate starts, and when validation starts inside fit."""

    def on_test_end(self, logs: Optional[Mapping[str, Any]] = None) -> None:
        """Called when evaluation ends, with its logs."""

    def on_test_batch_begin(self, batch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        """Called before each evaluation batch."""

    def on_test_batch_end(self, batch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        """Called after each evaluation batch with the running means (lazy)."""

    def on_predict_begin(self, logs: Optional[Mapping[str, Any]] = None) -> None:
        """Called when predict starts."""

    def on_predict_end(self, logs: Optional[Mapping[str, Any]] = None) -> None:
        """Called when predict ends."""

    def on_predict_batch_begin(self, batch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        """Called before each prediction batch."""

    def on_predict_batch_end(self, batch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        """Called after each prediction batch with `{'outputs': ...}`."""


def overrides(callback: Callback, hook: str) -> bool:
    """Whether `callback`'s class overrides `hook` (so calling it can do something)."""
    return getattr(type(callback), hook, None) is not getattr(Callback, hook)


def keras_learning_rate(optimizer: Any) -> float:
    """`optimizer.learning_rate` as Keras reads its float32 learning-rate variable (0.001 reads
    0.0010000000474974513): what Keras's LR callbacks pass to a schedule and log. A host number,
    read once per epoch."""
    import numpy as np

    return float(np.float32(optimizer.learning_rate))


def rate_holders(optimizer: Any) -> list:
    """`[(logs key, optimizer)]` for the optimizers whose rate an LR callback reads and sets: the
    optimizer itself (`'learning_rate'`), or each sub-optimizer of a MultiOptimizer
    (`'learning_rate_<name>'`), as Keras's callbacks do."""
    subs = getattr(optimizer, "optimizers", None)
    if subs is None:
        return [("learning_rate", optimizer)]
    return [(f"learning_rate_{opt.name}", opt) for opt in subs]
