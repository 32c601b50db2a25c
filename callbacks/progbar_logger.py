"""ProgbarLogger: the tqdm progress bar (verbose=1) or one line per epoch (verbose=2)."""

from __future__ import annotations

import sys
import time
from typing import Any, Mapping, Optional

from kerasish import distributed
from kerasish.callbacks.callback import Callback

_REFRESH_SECONDS = 0.5  # at most two reads of the (device-resident) logs per second


def _format_logs(logs: Mapping[str, Any]) -> str:
    parts = []
    for k, v in logs.items():
        if isinstance(v, float):
            parts.append(f"{k}: {v:.4f}")
        elif isinstance(v, int):
            parts.append(f"{k}: {v}")
    return " - ".join(parts)


class ProgbarLogger(Callback):
    """Shows progress: a tqdm bar per epoch (verbose=1) or one printed line per epoch (verbose=2).

    Uses `tqdm.auto`, so the bar renders as a widget in Jupyter. The running metrics
    on the bar are read at most twice a second: each read is one device sync.

    Args:
        count_mode: kept for Keras compatibility; only 'steps' is used. Defaults to `'steps'`.
    """

    def __init__(self, count_mode: str = "steps") -> None:
        super().__init__()
        self.verbose = 1
        self.epochs = 1
        self._bar: Any = None
        self._last_read = 0.0
        self._epoch_start = 0.0
        self._in_fit = False
        self.file = None

    def set_params(self, params):
        super().set_params(params)
        # In a data-parallel run only rank 0 shows progress (its own batch-level values).
        self.verbose = params.get("verbose", 1) if distributed.is_main_process() else 0
        self.epochs = params.get("epochs", 1)

    def _open(self, total: Optional[int], desc: str, unit: str = "step") -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(total=total, desc=desc, unit=unit, leave=True, dynamic_ncols=True,
                         file=self.file or sys.stderr, mininterval=0.1)
        self._last_read = time.perf_counter()

    def _close(self, logs: Optional[Mapping[str, Any]]) -> None:
        if self._bar is not None:
            if logs:
                self._bar.set_postfix_str(_format_logs(logs), refresh=False)
            self._bar.close()
            self._bar = None

    def _advance(self, logs: Optional[Mapping[str, Any]]) -> None:
        if self._bar is None:
            return
        self._bar.update(1)
        now = time.perf_counter()
        if logs is not None and now - self._last_read >= _REFRESH_SECONDS:
            self._last_read = now
            # Host sync: reading the lazy logs, at most twice a second.
            self._bar.set_postfix_str(_format_logs(dict(logs)), refresh=False)

    # ------------------------------------------------------------- fit
    def on_train_begin(self, logs=None):
        self._in_fit = True

    def on_train_end(self, logs=None):
        self._in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        if self.verbose == 1:
            self._open(self.params.get("steps"), f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        if self.verbose == 1:
            self._advance(logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.verbose == 1:
            self._close(logs)
        elif self.verbose == 2:
            seconds = time.perf_counter() - self._epoch_start
            print(f"Epoch {epoch + 1}/{self.epochs} - {seconds:.0f}s - {_format_logs(logs or {})}",
                  file=self.file or sys.stdout, flush=True)

    # ------------------------------------------------------------- evaluate / predict
    def on_test_begin(self, logs=None):
        if not self._in_fit and self.verbose == 1:
            self._open(self.params.get("steps"), "Evaluate")

    def on_test_batch_end(self, batch, logs=None):
        if not self._in_fit and self.verbose == 1:
            self._advance(logs)

    def on_test_end(self, logs=None):
        if self._in_fit:
            return
        if self.verbose == 1:
            self._close(logs)
        elif self.verbose == 2:
            print(_format_logs(logs or {}), file=self.file or sys.stdout, flush=True)

    def on_predict_begin(self, logs=None):
        if self.verbose == 1:
            self._open(self.params.get("steps"), "Predict")

    def on_predict_batch_end(self, batch, logs=None):
        if self.verbose == 1 and self._bar is not None:
            self._bar.update(1)

    def on_predict_end(self, logs=None):
        if self.verbose == 1:
            self._close(None)
