"""Nested structures of tensors, and Keras's batch packing.

A batch travels as `x`, `(x, y)` or `(x, y, sample_weight)`, exactly as Keras 3 packs
it for `train_step(data)`: `pack_x_y_sample_weight` builds that form and
`unpack_x_y_sample_weight` takes it apart again.
"""

from __future__ import annotations

from typing import Any, Tuple

from kerasish.data.adapters import first_leaf, map_structure, move

__all__ = ["map_structure", "first_leaf", "move", "pack_x_y_sample_weight", "unpack_x_y_sample_weight"]


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
