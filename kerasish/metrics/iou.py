"""Intersection-over-union metrics from a confusion matrix accumulated on the device."""

from __future__ import annotations

import warnings
from typing import Any, Optional, Sequence

import torch

from kerasish import config
from kerasish.metrics.metric import Metric, device_constant


class _IoUBase(Metric):
    def __init__(self, num_classes: int, name: Optional[str] = None, dtype: Optional[str] = None,
                 ignore_class: Optional[int] = None, sparse_y_true: bool = True, sparse_y_pred: bool = True,
                 axis: int = -1) -> None:
        # Keras counts in integers by default ("int"): float sample weights are truncated.
        super().__init__(name=name, dtype=dtype or "int64")
        self.num_classes, self.ignore_class = num_classes, ignore_class
        self.sparse_y_true, self.sparse_y_pred, self.axis = sparse_y_true, sparse_y_pred, axis
        self.total_cm = self.add_variable((num_classes, num_classes), "zeros", dtype=self.dtype,
                                          name="total_confusion_matrix")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred, sample_weight = self._inputs(y_true, y_pred, sample_weight)
        if not self.sparse_y_true:
            y_true = y_true.argmax(dim=self.axis)
        if not self.sparse_y_pred:
            y_pred = y_pred.argmax(dim=self.axis)
        dt = self._torch_dtype
        y_true, y_pred = y_true.to(dt).reshape(-1), y_pred.to(dt).reshape(-1)
        if sample_weight is None:
            w = torch.ones_like(y_true)
        else:
            if sample_weight.is_floating_point() and not dt.is_floating_point:
                warnings.warn("You are passing weight as `float`, but dtype is `int`. This may result in an "
                              "incorrect weight due to type casting Consider using integer weights.", stacklevel=2)
            w = torch.broadcast_to(sample_weight.to(dt).reshape(-1) if sample_weight.dim() > 1
                                   else sample_weight.to(dt), y_true.shape)
        n = self.num_classes
        keep = (y_true >= 0) & (y_true < n) & (y_pred >= 0) & (y_pred < n)
        if self.ignore_class is not None:
            keep = keep & (y_true != self.ignore_class)
        zero = torch.zeros((), dtype=dt, device=y_true.device)
        y_true, y_pred, w = torch.where(keep, y_true, zero), torch.where(keep, y_pred, zero), torch.where(keep, w, zero)
        index = (y_true.long() * n + y_pred.long())
        cm = torch.zeros(n * n, dtype=self.total_cm.dtype, device=y_true.device)
        cm.scatter_add_(0, index, w.to(cm.dtype))
        self.total_cm.add_(cm.reshape(n, n))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "ignore_class": self.ignore_class,
                "sparse_y_true": self.sparse_y_true, "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class IoU(_IoUBase):
    """Mean IoU = TP / (TP + FP + FN) over `target_class_ids`.

    Args:
        num_classes: the number of classes.
        target_class_ids: the classes averaged over.
        name: Defaults to `None`.
        dtype: Defaults to `None` (integer counts).
        ignore_class: a label whose entries are skipped. Defaults to `None`.
        sparse_y_true: labels are class ids (else one-hot along `axis`). Defaults to `True`.
        sparse_y_pred: predictions are class ids (else scores, argmaxed along `axis`). Defaults to `True`.
        axis: the class axis of dense inputs. Defaults to `-1`.

    Raises:
        ValueError: a target class id >= num_classes.
    """

    def __init__(self, num_classes: int, target_class_ids: Sequence[int], name: Optional[str] = None,
                 dtype: Optional[str] = None, ignore_class: Optional[int] = None, sparse_y_true: bool = True,
                 sparse_y_pred: bool = True, axis: int = -1) -> None:
        super().__init__(num_classes, name, dtype, ignore_class, sparse_y_true, sparse_y_pred, axis)
        if max(target_class_ids) >= num_classes:
            raise ValueError(f"Target class id {max(target_class_ids)} is out of range, which is [0, {num_classes}).")
        self.target_class_ids = list(target_class_ids)

    def result(self) -> torch.Tensor:
        cm = self.total_cm.to(torch.float32)
        tp = cm.diagonal()
        denominator = cm.sum(dim=0) + cm.sum(dim=1) - tp
        ids = device_constant(self, "target_class_ids", lambda: self.target_class_ids, cm.device, torch.long)
        tp, denominator = tp[ids], denominator[ids]
        valid = denominator > 1e-9
        eps = config.epsilon()
        iou = torch.where(valid, tp / (denominator + eps), torch.zeros_like(tp))
        return iou.sum() / (valid.sum().to(torch.float32) + eps)

    def get_config(self):
        return {**super().get_config(), "target_class_ids": self.target_class_ids}


class BinaryIoU(IoU):
    """IoU of binary labels against `y_pred >= threshold`.

    Args:
        target_class_ids: Defaults to `(0, 1)`.
        threshold: Defaults to `0.5`.
        name: Defaults to `None`.
        dtype: Defaults to `None` (integer counts).
    """

    def __init__(self, target_class_ids: Sequence[int] = (0, 1), threshold: float = 0.5, name: Optional[str] = None,
                 dtype: Optional[str] = None) -> None:
        super().__init__(num_classes=2, target_class_ids=target_class_ids, name=name, dtype=dtype)
        self.threshold = threshold

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred, sample_weight = self._inputs(y_true, y_pred, sample_weight)
        super().update_state(y_true, (y_pred.to(torch.float32) >= self.threshold).to(self._torch_dtype),
                             sample_weight)

    def get_config(self):
        return {"target_class_ids": self.target_class_ids, "threshold": self.threshold, "name": self.name,
                "dtype": self._dtype}


class MeanIoU(IoU):
    """IoU averaged over all `num_classes` classes.

    Args:
        num_classes: the number of classes.
        name: Defaults to `None`.
        dtype: Defaults to `None` (integer counts).
        ignore_class: Defaults to `None`.
        sparse_y_true: Defaults to `True`.
        sparse_y_pred: Defaults to `True`.
        axis: Defaults to `-1`.
    """

    def __init__(self, num_classes: int, name: Optional[str] = None, dtype: Optional[str] = None,
                 ignore_class: Optional[int] = None, sparse_y_true: bool = True, sparse_y_pred: bool = True,
                 axis: int = -1) -> None:
        super().__init__(num_classes, list(range(num_classes)), name, dtype, ignore_class, sparse_y_true,
                         sparse_y_pred, axis)

    def get_config(self):
        config = super().get_config()
        del config["target_class_ids"]
        config["dtype"] = self._dtype
        return config


class OneHotIoU(IoU):
    """IoU of one-hot labels against scores (argmaxed), over `target_class_ids`.

    Args:
        num_classes: the number of classes.
        target_class_ids: the classes averaged over.
        name: Defaults to `None`.
        dtype: Defaults to `None` (integer counts).
        ignore_class: Defaults to `None`.
        sparse_y_pred: Defaults to `False`.
        axis: Defaults to `-1`.
    """

    def __init__(self, num_classes: int, target_class_ids: Sequence[int], name: Optional[str] = None,
                 dtype: Optional[str] = None, ignore_class: Optional[int] = None, sparse_y_pred: bool = False,
                 axis: int = -1) -> None:
        super().__init__(num_classes, target_class_ids, name, dtype, ignore_class, False, sparse_y_pred, axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        config["dtype"] = self._dtype
        return config


class OneHotMeanIoU(MeanIoU):
    """Mean IoU of one-hot labels against scores (argmaxed).

    Args:
        num_classes: the number of classes.
        name: Defaults to `None`.
        dtype: Defaults to `None` (integer counts).
        ignore_class: Defaults to `None`.
        sparse_y_pred: Defaults to `False`.
        axis: Defaults to `-1`.
    """

    def __init__(self, num_classes: int, name: Optional[str] = None, dtype: Optional[str] = None,
                 ignore_class: Optional[int] = None, sparse_y_pred: bool = False, axis: int = -1) -> None:
        super().__init__(num_classes, name, dtype, ignore_class, False, sparse_y_pred, axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config
