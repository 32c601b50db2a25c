"""Nested structures of tensors, and Keras's batch packing.

Tree helpers (`map_structure`, `first_leaf`, `move`) live here, a leaf that imports only
torch and NumPy. A batch travels as `x`, `(x, y)` or `(x, y, sample_weight)`, exactly as Keras 3 packs
it for `train_step(data)`: `pack_x_y_sample_weight` builds that form and
`unpack_x_y_sample_weight` takes it apart again.
"""

from __future__ import annotations

from typing import Any, Tuple

import numpy as np
import torch

__all__ = ["map_structure", "first_leaf", "move", "pack_x_y_sample_weight", "unpack_x_y_sample_weight"]


def map_structure(fn: Any, x: Any) -> Any:
    """`x` with `fn` applied to every leaf of its lists, tuples and dicts."""
    if isinstance(x, (list, tuple)):
        return type(x)(map_structure(fn, v) for v in x)
    if isinstance(x, dict):
        return {k: map_structure(fn, v) for k, v in x.items()}
    return fn(x)


def first_leaf(x: Any) -> Any:
    """The first leaf of a structure (the first array of a multi-input x)."""
    if isinstance(x, (list, tuple)):
        return first_leaf(x[0])
    if isinstance(x, dict):
        return first_leaf(next(iter(x.values())))
    return x


def move(x: Any, device: torch.device) -> Any:
    """Copies tensors in a structure to `device` (pinned + non_blocking for CUDA)."""

    def _move(t: Any) -> Any:
        if isinstance(t, np.ndarray):
            t = torch.from_numpy(t)
        if not isinstance(t, torch.Tensor) or t.device == device:
            return t
        if device.type == "cuda" and t.device.type == "cpu":
            if not t.is_pinned():
                t = t.pin_memory()
            return t.to(device, non_blocking=True)
        return t.to(device)

    return map_structure(_move, x)


def pack_x_y_sample_weight(x: Any, y: Any = None, sample_weight: Any = None) -> Any:
    """The batch as `train_step` receives it: `x` alone (or `(x,)` when x is a tuple or
    list), `(x, y)`, or `(x, y, sample_weight)`."""
    if y is None:
        return (x,) if isinstance(x, (list, tuple)) else x
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def unpack_x_y_sample_weight(data: Any) -> Tuple[Any, Any, Any]:
    """`(x, y, sample_weight)` from a batch, None for what it lacks.

    Raises:
        ValueError: for a tuple of more than three items.
    """
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data[0], data[1], data[2]
    raise ValueError(
        f"A batch must be x, (x,), (x, y) or (x, y, sample_weight); received a tuple of {len(data)} items. "
        "Pack several inputs as one tuple/list/dict in the first position: ((x1, x2), y)."
    )
