"""`kerasish.ops.numpy`: Keras 3's `keras.ops.numpy` on torch tensors.

The ops live in three modules, one idea each: `numpy_math` (elementwise math,
comparisons, logic, bitwise), `numpy_reduce` (reductions and statistics) and
`numpy_array` (creation, shape and indexing). This module gathers them.

Example:
    >>> from kerasish.ops import numpy as knp
    >>> knp.mean(knp.add([1, 2], 3)).item()
    4.5
"""

from __future__ import annotations

from kerasish.ops import numpy_array as _array
from kerasish.ops import numpy_math as _math
from kerasish.ops import numpy_reduce as _reduce
from kerasish.ops.numpy_array import *  # noqa: F401,F403
from kerasish.ops.numpy_math import *  # noqa: F401,F403
from kerasish.ops.numpy_reduce import *  # noqa: F401,F403

__all__ = sorted(set(_math.__all__) | set(_reduce.__all__) | set(getattr(_array, "__all__", ())))
