"""TerminateOnNaN: stop training at the first batch whose loss is NaN or infinite."""

from __future__ import annotations

import math
import warnings
from typing import Any, Mapping, Optional

from kerasish.callbacks.callback import Callback
from kerasish.utils.interactive_logging import print_msg


class TerminateOnNaN(Callback):
    """Stops training as soon as the loss becomes NaN or infinite.

    It reads the running loss after every training batch, which costs one host
    synchronisation per batch (the price of noticing at once); it is the only callback
    that reads batch logs every batch. The running mean turns non-finite exactly when a
    batch loss does. It prints and warns the epoch (1-based) and batch (0-based).

    Example:
        >>> callback = TerminateOnNaN()
    """

    def __init__(self) -> None:
        super().__init__()
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        loss = (logs or {}).get("loss")  # host sync: once per batch, by design
        if loss is not None and not math.isfinite(float(loss)):
            message = f"Epoch {self._epoch + 1}, batch {batch}: Invalid loss {loss}, terminating training"
            print_msg(message)
            warnings.warn(message + ". Lower the learning rate or check the data for NaN/inf values.", stacklevel=2)
            self.model.stop_training = True
