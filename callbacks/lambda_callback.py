"""LambdaCallback: a callback built from plain functions."""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

from kerasish.callbacks.callback import Callback
from kerasish.utils.text import did_you_mean

_EPOCH_HOOKS = ("on_epoch_begin", "on_epoch_end")
_BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin", "on_test_batch_end",
                "on_predict_batch_begin", "on_predict_batch_end")
_LOGS_HOOKS = ("on_train_begin", "on_train_end", "on_test_begin", "on_test_end", "on_predict_begin",
               "on_predict_end")
_HOOKS = _EPOCH_HOOKS + _BATCH_HOOKS + _LOGS_HOOKS
_ALIASES = {"on_batch_begin": "on_train_batch_begin", "on_batch_end": "on_train_batch_end"}  # Keras 2 names


_SUBCLASSES: Dict[Tuple[str, ...], type] = {}


class LambdaCallback(Callback):
    """Calls the functions you pass at the matching hooks.

    Epoch and batch functions receive `(epoch_or_batch, logs)`; the train/test/predict
    begin/end functions receive `(logs)`. Any other hook name of `Callback` may be passed
    as a keyword (`on_test_end=...`), and Keras 2's `on_batch_begin`/`on_batch_end` mean
    the training batch hooks. Hooks you do not pass are not called at all, so an unused
    batch hook costs nothing.

    Args:
        on_epoch_begin: `fn(epoch, logs)`. Defaults to `None`.
        on_epoch_end: `fn(epoch, logs)`. Defaults to `None`.
        on_train_begin: `fn(logs)`. Defaults to `None`.
        on_train_end: `fn(logs)`. Defaults to `None`.
        on_train_batch_begin: `fn(batch, logs)`. Defaults to `None`.
        on_train_batch_end: `fn(batch, logs)`. Defaults to `None`.
        **kwargs: other hooks by name.

    Raises:
        TypeError: for an unknown hook name or a value that is not callable.

    Example:
        >>> epochs_seen = []
        >>> callback = LambdaCallback(on_epoch_end=lambda epoch, logs: epochs_seen.append(epoch))
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> "LambdaCallback":
        # The loop skips batch hooks that a callback's class does not override, so each
        # combination of given hooks gets its own subclass defining only those hooks.
        names = dict(zip(("on_epoch_begin", "on_epoch_end", "on_train_begin", "on_train_end",
                          "on_train_batch_begin", "on_train_batch_end"), args))
        names.update(kwargs)
        given = tuple(sorted(_ALIASES.get(k, k) for k, v in names.items() if v is not None and
                             _ALIASES.get(k, k) in _HOOKS))
        if cls is not LambdaCallback:
            return super().__new__(cls)
        sub = _SUBCLASSES.get(given)
        if sub is None:
            sub = type("LambdaCallback", (LambdaCallback,), {
                h: (lambda h: lambda self, *a: self._functions[h](*a))(h) for h in given})
            sub.__qualname__ = "LambdaCallback"
            _SUBCLASSES[given] = sub
        return super().__new__(sub)

    def __init__(self, on_epoch_begin: Optional[Callable[..., Any]] = None,
                 on_epoch_end: Optional[Callable[..., Any]] = None,
                 on_train_begin: Optional[Callable[..., Any]] = None,
                 on_train_end: Optional[Callable[..., Any]] = None,
                 on_train_batch_begin: Optional[Callable[..., Any]] = None,
                 on_train_batch_end: Optional[Callable[..., Any]] = None, **kwargs: Any) -> None:
        super().__init__()
        functions = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
                     "on_train_begin": on_train_begin, "on_train_end": on_train_end,
                     "on_train_batch_begin": on_train_batch_begin, "on_train_batch_end": on_train_batch_end}
        for name, fn in kwargs.items():
            hook = _ALIASES.get(name, name)
            if hook not in _HOOKS:
                raise TypeError(
                    f"LambdaCallback() got an unknown hook {name!r}. Valid hooks: {', '.join(_HOOKS)}."
                    f"{did_you_mean(name, _HOOKS)} Pass functions under those names.")
            functions[hook] = fn
        for name, fn in functions.items():
            if fn is not None and not callable(fn):
                raise TypeError(
                    f"LambdaCallback's {name} must be a function, received {fn!r} of type {type(fn).__name__}. "
                    f"Pass e.g. {name}=lambda *args: print(args).")
        self._functions = {k: v for k, v in functions.items() if v is not None}
