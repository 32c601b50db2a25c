"""CallbackList: fans each hook out to a list of callbacks."""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Optional

from kerasish.callbacks.callback import Callback, overrides
from kerasish.callbacks.history import History
from kerasish.callbacks.progbar_logger import ProgbarLogger

_BATCH_HOOKS = (
    "on_train_batch_begin", "on_train_batch_end",
    "on_test_batch_begin", "on_test_batch_end",
    "on_predict_batch_begin", "on_predict_batch_end",
)


class CallbackList(Callback):
    """Calls every callback's hook in order.

    Adds a `History` (when `add_history`) and a `ProgbarLogger` (when `add_progbar`)
    unless the user passed their own. Batch hooks that no callback overrides are
    skipped: `needs(hook)` tells the loop whether building `logs` is worth it.

    Args:
        callbacks: user callbacks. Defaults to `None`.
        add_history: append a History. Defaults to `False`.
        add_progbar: append a ProgbarLogger (after every other callback). Defaults to `False`.
        model: the model given to every callback. Defaults to `None`.
        **params: given to every callback's `set_params`.
    """

    def __init__(
        self,
        callbacks: Optional[Iterable[Callback]] = None,
        add_history: bool = False,
        add_progbar: bool = False,
        model: Any = None,
        **params: Any,
    ) -> None:
        super().__init__()
        if callbacks is None:
            callbacks = []
        elif isinstance(callbacks, Callback):
            callbacks = [callbacks]
        self.callbacks: List[Callback] = []
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(
                    f"callbacks must be kerasish.callbacks.Callback instances, received {cb!r} "
                    f"of type {type(cb).__name__}. Subclass kerasish.callbacks.Callback or use LambdaCallback."
                )
            self.callbacks.append(cb)
        self.history: Optional[History] = next((c for c in self.callbacks if isinstance(c, History)), None)
        if add_history and self.history is None:
            self.history = History()
            self.callbacks.append(self.history)
        if add_progbar and not any(isinstance(c, ProgbarLogger) for c in self.callbacks):
            # The bar goes last, as in Keras: what a callback prints at the end of an epoch
            # (ModelCheckpoint's "val_loss improved ...") comes before the epoch's summary line,
            # and what it prints as an epoch begins comes before "Epoch 2/10".
            self.callbacks.append(ProgbarLogger())
        if model is not None:
            self.set_model(model)
        self.set_params(params)
        self._hooks: Dict[str, List[Any]] = {}
        self._refresh()

    def _refresh(self) -> None:
        # Callbacks that save their siblings' state (BackupAndRestore) are given the list.
        for c in self.callbacks:
            bind = getattr(c, "set_callbacks", None)
            if callable(bind):
                bind(self.callbacks)
        self._hooks = {h: [getattr(c, h) for c in self.callbacks if overrides(c, h)] for h in _BATCH_HOOKS}
        # Keras 2's on_batch_begin / on_batch_end: aliases of the train-batch hooks, as in Keras 3.
        for alias, hook in (("on_batch_begin", "on_train_batch_begin"), ("on_batch_end", "on_train_batch_end")):
            self._hooks[hook] += [getattr(c, alias) for c in self.callbacks
                                  if callable(getattr(type(c), alias, None)) and not overrides(c, hook)]

    def append(self, callback: Callback) -> None:
        self.callbacks.append(callback)
        self._refresh()

    def needs(self, hook: str) -> bool:
        """Whether any callback overrides the batch hook `hook`."""
        return bool(self._hooks[hook])

    def set_model(self, model: Any) -> None:
        super().set_model(model)
        for c in self.callbacks:
            c.set_model(model)

    def set_params(self, params: Dict[str, Any]) -> None:
        super().set_params(params)
        for c in self.callbacks:
            c.set_params(params)

    def _call(self, hook: str, *args: Any) -> None:
        for c in self.callbacks:
            getattr(c, hook)(*args)

    def _call_batch(self, hook: str, batch: int, logs: Optional[Mapping[str, Any]]) -> None:
        for fn in self._hooks[hook]:
            fn(batch, logs)

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs)

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", logs)

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._call_batch("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call_batch("on_train_batch_end", batch, logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._call_batch("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        self._call_batch("on_test_batch_end", batch, logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._call_batch("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._call_batch("on_predict_batch_end", batch, logs)
