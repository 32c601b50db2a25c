"""Keras's warning for a layer constructed with `input_shape`/`input_dim`, and the scopes that quiet it.

Keras 3 warns each time a layer other than an input declaration is given `input_shape` or
`input_dim`; kerasish does the same (`_warn_input_shape_given`), except while a config is rebuilt
(a Keras 2 config's `batch_input_shape` becomes the layer's `input_shape`) or when kerasish derived
the shape itself.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
import threading
import warnings
from typing import Any, Iterator

#: Keras 3's warning (a UserWarning) for a layer constructed with `input_shape` or `input_dim`.
INPUT_SHAPE_WARNING = (
    "Do not pass an `input_shape`/`input_dim` argument to a layer. When using Sequential models, "
    "prefer using an `Input(shape)` object as the first layer in the model instead."
)
_rebuilding = threading.local()  # `depth`: quiet_input_shape() scopes open in this thread


@contextlib.contextmanager
def quiet_input_shape() -> Iterator[None]:
    """Layers made inside give no input-shape warning: a config rebuild (a Keras 2 config's
    `batch_input_shape` is read as the layer's `input_shape`) or an input shape kerasish derived
    itself (Embedding's `input_length`), neither of which the user is passing now."""
    _rebuilding.depth = getattr(_rebuilding, "depth", 0) + 1
    try:
        yield
    finally:
        _rebuilding.depth -= 1


def _rebuilds_quietly(from_config: Any) -> Any:
    """`from_config` that rebuilds without the input-shape warning: a config may carry an
    `input_shape` (a Keras 2 config's `batch_input_shape`, or a user's own config), and a rebuild
    must not warn about an argument the user is not passing now."""

    @functools.wraps(from_config)
    def wrapped(cls: Any, *args: Any, **kwargs: Any) -> Any:
        with quiet_input_shape():
            return from_config(cls, *args, **kwargs)

    wrapped._rebuilds_quietly = True  # type: ignore[attr-defined]
    return wrapped


def _warn_input_shape_given(layer: Any) -> None:
    """Keras's warning for a layer constructed with `input_shape`/`input_dim`, given when Keras
    gives it: by every layer whose constructor passes them on to the base class (so not for
    Embedding's own `input_dim`), each time, except by an input declaration (a constructor
    taking `batch_shape`: InputLayer, whose shape is its purpose) and while a config is rebuilt.
    It points at the line that constructed the layer (past the `__init__` chain), so Python's
    default filter shows it once per such line (Keras's point into Keras: once per class)."""
    if getattr(_rebuilding, "depth", 0) or "batch_shape" in inspect.signature(type(layer).__init__).parameters:
        return
    frame, level = sys._getframe(2), 3  # the caller of Layer.__init__: a subclass's __init__, or the user
    while frame is not None and frame.f_code.co_name == "__init__" and frame.f_locals.get("self") is layer:
        frame, level = frame.f_back, level + 1
    warnings.warn(INPUT_SHAPE_WARNING, UserWarning, stacklevel=level)
