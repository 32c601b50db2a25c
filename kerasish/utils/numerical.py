"""Array helpers with Keras's names."""

from __future__ import annotations

from typing import Optional

import numpy as np


def to_categorical(y, num_classes: Optional[int] = None, dtype: str = "float32") -> np.ndarray:
    """One-hot encodes integer class labels, as `keras.utils.to_categorical`.

    Args:
        y (array-like): integer labels, any shape; a trailing axis of size 1 is dropped.
        num_classes: number of classes. Defaults to `max(y) + 1`.
        dtype: dtype of the result. Defaults to `'float32'`.

    Returns:
        An array of shape `y.shape + (num_classes,)`.

    Example:
        >>> to_categorical([0, 2, 1], num_classes=3)[1].tolist()
        [0.0, 0.0, 1.0]
    """
    if hasattr(y, "detach"):
        y = y.detach().cpu().numpy()
    y = np.asarray(y)
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError(
                f"to_categorical expects integer class labels, received values of dtype {y.dtype} "
                "with fractional parts. Pass integer labels such as [0, 2, 1]."
            )
        y = y.astype("int64")
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y.reshape(y.shape[:-1])
    if y.size and y.min() < 0:
        raise ValueError(f"to_categorical received a negative label ({int(y.min())}); labels must be >= 0.")
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    elif y.size and int(y.max()) >= num_classes:
        raise ValueError(
            f"to_categorical received label {int(y.max())} but num_classes={num_classes}; "
            f"labels must lie in [0, {num_classes - 1}]. Raise num_classes or fix the labels."
        )
    out = np.zeros(y.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(out, y[..., None].astype(np.int64), 1, axis=-1)
    return out


def normalize(x, axis: int = -1, order: int = 2) -> np.ndarray:
    """Scales `x` to unit `order`-norm along `axis` (Keras's `utils.normalize`)."""
    x = np.asarray(x)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis)
