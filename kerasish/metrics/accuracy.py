"""Accuracy metrics: Keras 3's functions and classes (means over samples of 0/1 matches)."""

from __future__ import annotations

from typing import Any, Optional

import torch

from kerasish.losses.functions import squeeze_or_expand_to_same_rank
from kerasish.metrics.metric import MeanMetricWrapper


def _float(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float32)


def accuracy(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """1.0 where y_true equals y_pred exactly, else 0.0."""
    y_true = y_true.to(y_pred.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return _float(y_true == y_pred)


def binary_accuracy(y_true: torch.Tensor, y_pred: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """1.0 where (y_pred > threshold) equals y_true, per entry."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return _float(y_true == (y_pred > threshold).to(y_true.dtype))


def categorical_accuracy(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """1.0 where argmax(y_true) equals argmax(y_pred) over the last axis."""
    labels = y_true.argmax(dim=-1)
    if labels.dim() == y_pred.dim():  # Keras squeezes a trailing axis left by the argmax
        labels = labels.squeeze(-1)
    return _float(labels == y_pred.argmax(dim=-1))


def sparse_categorical_accuracy(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """1.0 where the integer label y_true equals argmax(y_pred)."""
    shape = y_true.shape
    squeezed = y_true.dim() == y_pred.dim() and y_true.shape[-1] == 1
    if squeezed:
        y_true = y_true.squeeze(-1)
    matches = _float(y_true.to(y_pred.dtype) == y_pred.argmax(dim=-1).to(y_pred.dtype))
    if squeezed:
        matches = matches.reshape(shape)
    if matches.dim() > 1 and matches.shape[-1] == 1:
        matches = matches.squeeze(-1)
    return matches


def _in_top_k(labels: torch.Tensor, y_pred: torch.Tensor, k: int) -> torch.Tensor:
    # Keras's in_top_k: the label's score is among the k largest (ties count as in).
    target = torch.gather(y_pred, -1, labels.long().clamp(0, y_pred.shape[-1] - 1).unsqueeze(-1))
    return (y_pred > target).sum(dim=-1) < k


def top_k_categorical_accuracy(y_true: torch.Tensor, y_pred: torch.Tensor, k: int = 5) -> torch.Tensor:
    """1.0 where argmax(y_true) is among the k largest entries of y_pred."""
    labels = y_true.argmax(dim=-1)
    shape = labels.shape
    matches = _float(_in_top_k(labels.reshape(-1), y_pred.reshape(-1, y_pred.shape[-1]), k))
    return matches.reshape(shape)


def sparse_top_k_categorical_accuracy(y_true: torch.Tensor, y_pred: torch.Tensor, k: int = 5,
                                      from_sorted_ids: bool = False) -> torch.Tensor:
    """1.0 where the integer label is among the k largest entries of y_pred (or of its first k
    ids when `from_sorted_ids`)."""
    shape = y_true.shape
    labels = y_true.reshape(-1)
    y_pred = y_pred.reshape(-1, y_pred.shape[-1])
    if from_sorted_ids:
        matches = (labels.unsqueeze(1).to(y_pred.dtype) == y_pred[:, :k]).any(dim=1)
    else:
        matches = _in_top_k(labels, y_pred, k)
    return _float(matches).reshape(shape)


class Accuracy(MeanMetricWrapper):
    """How often predictions equal labels exactly.

    Args:
        name: Defaults to `"accuracy"`.
        dtype: Defaults to `None` (float32).

    Example:
        >>> m = Accuracy(); m.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]]); float(m.result())
        0.75
    """

    def __init__(self, name: str = "accuracy", dtype: Optional[str] = None) -> None:
        super().__init__(accuracy, name, dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often `y_pred > threshold` matches binary labels.

    Args:
        name: Defaults to `"binary_accuracy"`.
        dtype: Defaults to `None` (float32).
        threshold: Defaults to `0.5`.
    """

    def __init__(self, name: str = "binary_accuracy", dtype: Optional[str] = None, threshold: float = 0.5) -> None:
        super().__init__(binary_accuracy, name, dtype, threshold=threshold)
        self.threshold = threshold


class CategoricalAccuracy(MeanMetricWrapper):
    """How often argmax(y_pred) matches argmax of one-hot labels.

    Args:
        name: Defaults to `"categorical_accuracy"`.
        dtype: Defaults to `None` (float32).
    """

    logits_invariant = True

    def __init__(self, name: str = "categorical_accuracy", dtype: Optional[str] = None) -> None:
        super().__init__(categorical_accuracy, name, dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often argmax(y_pred) matches integer labels.

    Args:
        name: Defaults to `"sparse_categorical_accuracy"`.
        dtype: Defaults to `None` (float32).
    """

    logits_invariant = True

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype: Optional[str] = None) -> None:
        super().__init__(sparse_categorical_accuracy, name, dtype)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        if sample_weight is None and type(y_pred) is torch.Tensor and type(y_true) is torch.Tensor and \
                y_pred.dim() == 2 and y_true.dim() == 1 and y_pred.device == self.device:
            # The common case of fit in three kernels (argmax, eq, sum) instead of six: it runs every batch.
            self.total.add_((y_pred.detach().argmax(dim=-1) == y_true).sum())
            self.count += y_true.shape[0]
            return
        super().update_state(y_true, y_pred, sample_weight)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot label is among the `k` highest predictions.

    Args:
        k: Defaults to `5`.
        name: Defaults to `"top_k_categorical_accuracy"`.
        dtype: Defaults to `None` (float32).
    """

    logits_invariant = True

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy", dtype: Optional[str] = None) -> None:
        super().__init__(top_k_categorical_accuracy, name, dtype, k=k)
        self.k = k


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is among the `k` highest predictions.

    Args:
        k: Defaults to `5`.
        name: Defaults to `"sparse_top_k_categorical_accuracy"`.
        dtype: Defaults to `None` (float32).
        from_sorted_ids: y_pred holds class ids sorted by score, not scores. Defaults to `False`.
    """

    logits_invariant = True

    def __init__(self, k: int = 5, name: str = "sparse_top_k_categorical_accuracy", dtype: Optional[str] = None,
                 from_sorted_ids: bool = False) -> None:
        super().__init__(sparse_top_k_categorical_accuracy, name, dtype, k=k, from_sorted_ids=from_sorted_ids)
        self.k = k
        self.from_sorted_ids = from_sorted_ids

    def get_config(self):
        config = super().get_config()
        if not self.from_sorted_ids:
            config.pop("from_sorted_ids")
        return config
