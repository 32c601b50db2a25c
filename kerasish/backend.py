"""`kerasish.backend`: the names of Keras 3's `keras.backend` that user code calls.

Settings delegate to `kerasish.config`; dtype helpers to `kerasish.ops.dtypes`.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from typing import Any, Dict

import torch

from kerasish.config import (  # noqa: F401 - re-exported under Keras's names
    backend,
    epsilon,
    floatx,
    image_data_format,
    set_epsilon,
    set_floatx,
    set_image_data_format,
)
from kerasish.ops.dtypes import result_type, standardize_dtype  # noqa: F401
from kerasish.ops.dtypes import is_float_dtype as _is_float
from kerasish.ops.dtypes import is_int_dtype as _is_int
from kerasish.ops.keras_tensor import KerasTensor

__all__ = [
    "backend", "clear_session", "epsilon", "floatx", "get_uid", "image_data_format", "is_float_dtype",
    "is_int_dtype", "is_keras_tensor", "result_type", "set_epsilon", "set_floatx", "set_image_data_format",
    "standardize_dtype",
]

_uids: Dict[str, int] = defaultdict(int)


def clear_session(free_memory: bool = True) -> None:
    """Restarts layer naming ('dense', 'dense_1' ... start again) and frees memory.

    With `free_memory` (the default) Python's garbage collector runs and, on CUDA, torch's
    cached blocks are released. Models built before keep working; only new names restart.
    """
    from kerasish.layers.layer import reset_names

    reset_names()
    _uids.clear()
    if free_memory:
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def get_uid(prefix: str = "") -> int:
    """1, 2, 3 ... for each prefix: a process-wide counter, reset by `clear_session`."""
    _uids[prefix] += 1
    return _uids[prefix]


def is_keras_tensor(x: Any) -> bool:
    """True for a symbolic tensor of a functional model under construction (`Input(...)` and its descendants)."""
    return isinstance(x, KerasTensor)


def is_float_dtype(dtype: Any) -> bool:
    return _is_float(dtype)


def is_int_dtype(dtype: Any) -> bool:
    return _is_int(dtype)


def __getattr__(name: str):
    # Only for names this module lacks: says whether it is a Keras 3 name kerasish does not implement.
    from kerasish.utils.keras_names import missing_attribute

    raise missing_attribute(__name__, name, __all__)
