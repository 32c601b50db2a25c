"""ProgbarLogger: Keras 3's progress output for fit, evaluate and predict."""

from __future__ import annotations

import time
from typing import Any, Mapping, Optional

from kerasish import distributed
from kerasish.callbacks.callback import Callback
from kerasish.utils.interactive_logging import print_msg
from kerasish.utils.progbar import Progbar

# The batch logs are lazy: reading them is one device sync. The live line is refreshed on a
# clock, so the logs are read at most this often, however fast the batches come.
_REFRESH_SECONDS = 0.25


class ProgbarLogger(Callback):
    """Prints progress to stdout as Keras 3 does.

    `verbose=1` draws a bar per epoch (`Epoch 1/2` above it when there are several epochs)
    whose finished line carries every metric, validation included:
    `3/3 ━━━━━━━━━━━━━━━━━━━━ 1s 31ms/step - accuracy: 0.93 - loss: 0.27 - val_accuracy: ...`.
    `verbose=2` prints that line only, as `3/3 - 1s - 31ms/step - accuracy: ...`. Evaluation
    inside `fit` is silent; `evaluate` and `predict` draw their own bar. In a data-parallel run
    only rank 0 prints. See `kerasish.utils.Progbar` for how terminals, pipes and notebooks differ.

    `fit`, `evaluate` and `predict` add one when `verbose` is not 0; pass your own instance in
    `callbacks` to replace it.

    Args:
        count_mode: what the bar counts; only `'steps'` (batches), as in Keras 3. Defaults to `'steps'`.

    Raises:
        ValueError: `count_mode` is not `'steps'`.

    Example:
        >>> import numpy as np, kerasish
        >>> model = kerasish.Sequential([kerasish.layers.Dense(1)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> _ = model.fit(np.ones((8, 2)), np.ones((8, 1)), batch_size=4, verbose=2)  # doctest: +ELLIPSIS
        2/2 - ...s - ...step - loss: ...
    """

    def __init__(self, count_mode: str = "steps") -> None:
        super().__init__()
        if count_mode != "steps":
            raise ValueError(
                f"ProgbarLogger counts steps (batches) only, as Keras 3 does; received count_mode={count_mode!r}. "
                "Remove the count_mode argument."
            )
        self.verbose = 1
        self.epochs = 1
        self.target: Optional[int] = None
        self.progbar: Optional[Progbar] = None
        self.seen = 0
        self._last_refresh = 0.0
        self._called_in_fit = False

    def set_params(self, params):
        super().set_params(params)
        # In a data-parallel run only rank 0 shows progress (its own batch-level values).
        verbose = params.get("verbose", 1)
        self.verbose = (1 if verbose == "auto" else int(verbose)) if distributed.is_main_process() else 0
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    # ------------------------------------------------------------- the bar
    def _start(self) -> None:
        self.seen = 0
        self._last_refresh = 0.0
        # The logs hold running epoch means already: every value is shown as given.
        self.progbar = Progbar(self.target, verbose=self.verbose, stateless_metrics=())

    def _advance(self, batch: int, logs: Optional[Mapping[str, Any]]) -> None:
        if self.progbar is None:
            self._start()
        self.seen = batch + 1
        if self.verbose != 1:
            return
        now = time.perf_counter()
        if now - self._last_refresh < _REFRESH_SECONDS:
            return
        self._last_refresh = now
        # Host sync: reading the lazy logs, at most 1 / _REFRESH_SECONDS times a second.
        values = list(logs.items()) if logs else None
        self.progbar.update(self.seen, values, finalize=False)

    def _finish(self, logs: Optional[Mapping[str, Any]]) -> None:
        if self.progbar is None:
            self._start()
        if self.target is None:
            # Unknown length (a generator): the first pass tells it, as Keras does.
            self.target = self.seen
            self.progbar.target = self.target
        # The logs' own order, as Keras shows them: the sorted metric keys, then the `val_` ones,
        # then any a callback added (ReduceLROnPlateau's learning_rate; the bar runs last).
        self.progbar.update(self.target, list((logs or {}).items()), finalize=True)

    # ------------------------------------------------------------- fit
    def on_train_begin(self, logs=None):
        self._called_in_fit = True  # validation inside fit is silent

    def on_train_end(self, logs=None):
        self._called_in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        self._start()
        if self.verbose and self.epochs > 1:
            print_msg(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        self._advance(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._finish(logs)

    # ------------------------------------------------------------- evaluate / predict
    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._start()

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._advance(batch, logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finish(logs)

    def on_predict_begin(self, logs=None):
        self._start()

    def on_predict_batch_end(self, batch, logs=None):
        self._advance(batch, None)  # the outputs are not metrics

    def on_predict_end(self, logs=None):
        self._finish(None)
