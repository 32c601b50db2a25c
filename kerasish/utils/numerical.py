"""Array helpers with Keras's names."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F


def to_categorical(y: Any, num_classes: Optional[int] = None, *, dtype: Optional[str] = None) -> Any:
    """One-hot encodes integer class labels, as `keras.utils.to_categorical`.

    The result's type follows Keras 3 on the torch backend: array-like labels give a float64
    NumPy array; a torch tensor gives an int64 torch tensor on the same device (Keras's
    `ops.one_hot`, where a negative label gives a row of zeros). Losses cast labels to the
    predictions' dtype, so either kind trains a float32 model as it is.

    Args:
        y (array-like or torch.Tensor): integer labels, any shape; a trailing axis of size 1 is dropped.
        num_classes: number of classes. Defaults to `None` (`max(y) + 1`; a tensor needs it given, as in Keras).
        dtype: (kerasish only, keyword) the result's dtype name, e.g. `"float32"`. Defaults to
            `None` (float64 for arrays, int64 for tensors, as Keras).

    Returns:
        An array (or tensor) of shape `y.shape + (num_classes,)`.

    Raises:
        TypeError: for a tensor without `num_classes`.
        ValueError: for array labels that are fractional, negative or not below `num_classes`.

    Example:
        >>> to_categorical([0, 2, 1], num_classes=3)[1].tolist()
        [0.0, 0.0, 1.0]
    """
    if isinstance(y, torch.Tensor):
        return _one_hot_tensor(y, num_classes, dtype)
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
    out = np.zeros(y.shape + (num_classes,), dtype=dtype or "float64")
    np.put_along_axis(out, y[..., None].astype(np.int64), 1, axis=-1)
    return out


def _one_hot_tensor(y: torch.Tensor, num_classes: Optional[int], dtype: Optional[str]) -> torch.Tensor:
    """Keras's tensor branch: `ops.one_hot` on the labels' device, no check that needs their values
    on the host (a label past `num_classes` is torch's RuntimeError, as in Keras)."""
    if num_classes is None:
        raise TypeError(
            f"to_categorical received a torch tensor of shape {tuple(y.shape)} with num_classes=None; a tensor needs "
            "num_classes (as in Keras, which one-hot encodes tensors with ops.one_hot). Pass num_classes=..., "
            "or a NumPy array to have it counted."
        )
    if y.dim() > 1 and y.shape[-1] == 1:
        y = y.reshape(y.shape[:-1])
    y = y.long()
    out = F.one_hot(y.clamp(min=0), int(num_classes)) * (y >= 0).unsqueeze(-1)
    return out if dtype is None else out.to(getattr(torch, dtype))


def normalize(x, axis: int = -1, order: int = 2) -> np.ndarray:
    """Scales `x` to unit `order`-norm along `axis` (Keras's `utils.normalize`)."""
    x = np.asarray(x)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis)
