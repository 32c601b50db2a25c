"""`kerasish.ops`: Keras 3's `keras.ops` on torch tensors.

Namespaces as Keras's: `ops.numpy`, `ops.nn`, `ops.core`, `ops.math`, `ops.linalg`,
`ops.image`; every op of the first five is also at `ops.<name>` (as `keras.ops.<name>`).
Ops take torch tensors, NumPy arrays and Python scalars, return torch tensors, follow
Keras's argument names, defaults and dtype rules, and record graph nodes when called on
the symbolic tensors of a functional model. This package imports only torch, NumPy and
`kerasish.config`: layers, losses and metrics are built on it, never the reverse.
"""

from __future__ import annotations

from kerasish.ops import core, einops, image, linalg, math, nn, numpy  # noqa: F401 - the namespaces
from kerasish.ops.dtypes import convert_to_numpy, convert_to_tensor, result_type, standardize_dtype  # noqa: F401
from kerasish.ops.keras_tensor import KerasTensor  # noqa: F401
from kerasish.ops.operation import get_op, registered_ops

# The flat namespace: keras.ops.<name> for the numpy, nn, core, math and linalg ops.
_FLAT_NAMESPACES = ("numpy", "math", "linalg", "nn", "core", "einops")

def _flat() -> None:
    ops = registered_ops()
    for namespace in _FLAT_NAMESPACES:
        for key, fn in ops.items():
            ns, name = key.split(".", 1)
            if ns == namespace:
                globals()[name] = fn


_flat()

__all__ = sorted(
    n for n in globals() if not n.startswith("_") and n not in ("annotations", "get_op", "registered_ops")
)
