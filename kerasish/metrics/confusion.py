"""Confusion-matrix metrics: counts, Precision/Recall, the *At* family, AUC, F-scores.

Keras's semantics: every entry of `y_pred` is compared with every threshold (`pred >
threshold`); a multiclass output is thresholded entry by entry (use `top_k` or `class_id`
to pick classes), not argmaxed. Labels are positive where non-zero. Counts are accumulated
on the device: the predictions are bucketed among the sorted thresholds
(`torch.searchsorted`) and scattered into per-threshold histograms, so nothing
synchronises with the host and the cost grows with log(thresholds), not thresholds.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from kerasish import config
from kerasish.losses.functions import squeeze_or_expand_to_same_rank
from kerasish.metrics.metric import Metric, device_constant

NEG_INF = -1e10


def _thresholds(thresholds: Any, default: float) -> List[float]:
    if thresholds is not None:
        values = list(thresholds) if isinstance(thresholds, (list, tuple)) else [thresholds]
        bad = [t for t in values if t is None or t < 0 or t > 1]
        if bad:
            raise ValueError(f"Threshold values must be in [0, 1]. Received: {bad}")
        return [float(t) for t in values]
    return [float(default)]


def _evenly(thresholds: Sequence[float]) -> bool:
    n = len(thresholds)
    if n < 3:
        return False
    even = np.arange(n, dtype=np.float32) / (n - 1)
    return bool(np.allclose(thresholds, even, atol=config.epsilon()))


def _filter_top_k(x: torch.Tensor, k: int) -> torch.Tensor:
    idx = x.topk(k, dim=-1).indices
    keep = torch.zeros_like(x).scatter_(-1, idx, 1.0)
    return x * keep + NEG_INF * (1 - keep)


def _div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Keras's divide_no_nan."""
    return torch.where(b != 0, a / torch.where(b != 0, b, torch.ones_like(b)), torch.zeros_like(a))


class _Counts:
    """Adds true/false positive/negative counts per threshold to a metric's variables."""

    def __init__(self, thresholds: Sequence[float], clip: bool) -> None:
        self.thresholds = list(thresholds)
        self.clip = clip  # Keras clips predictions to [0, 1] when thresholds are evenly spread
        order = np.argsort(np.asarray(self.thresholds, dtype=np.float64), kind="stable")
        self._order = order
        self._inverse = np.argsort(order, kind="stable")

    def _consts(self, device: torch.device, dtype: torch.dtype) -> Any:
        sorted_thr = device_constant(self, "sorted_thresholds", lambda: np.asarray(self.thresholds)[self._order], device,
                                     dtype)
        return sorted_thr, device_constant(self, "inverse_order", lambda: self._inverse, device, torch.long)

    def update(self, variables: Dict[str, torch.Tensor], y_true: torch.Tensor, y_pred: torch.Tensor,
               sample_weight: Optional[torch.Tensor] = None, top_k: Optional[int] = None,
               class_id: Optional[int] = None, multi_label: bool = False,
               label_weights: Optional[torch.Tensor] = None) -> None:
        dtype = next(iter(variables.values())).dtype
        y_true, y_pred = y_true.to(dtype), y_pred.to(dtype)
        y_pred, y_true = squeeze_or_expand_to_same_rank(y_pred, y_true)
        if sample_weight is not None:
            sample_weight = sample_weight.to(dtype).unsqueeze(-1)
            _, sample_weight = squeeze_or_expand_to_same_rank(y_true, sample_weight, expand_rank_1=False)
        if top_k is not None:
            y_pred = _filter_top_k(y_pred, top_k)
        if class_id is not None:
            if y_pred.dim() == 1:
                raise ValueError("When class_id is provided, y_pred must be a 2D array with shape (num_samples, "
                                 f"num_classes), found shape: {tuple(y_pred.shape)}")
            y_true, y_pred = y_true[..., class_id, None], y_pred[..., class_id, None]
            if sample_weight is not None and sample_weight.dim() == y_pred.dim() and sample_weight.shape[-1] > 1:
                sample_weight = sample_weight[..., class_id, None]
        if self.clip:
            y_pred = y_pred.clamp(0.0, 1.0)
        weights = None
        if sample_weight is not None:
            weights = torch.broadcast_to(sample_weight, y_pred.shape)
        if label_weights is not None and not multi_label:
            lw = torch.broadcast_to(label_weights.to(dtype).unsqueeze(0), y_pred.shape)
            weights = lw if weights is None else weights * lw
        positive = (y_true != 0).to(dtype)
        if weights is None:
            weights = torch.ones((), dtype=dtype, device=y_pred.device)
        sorted_thr, inverse = self._consts(y_pred.device, dtype)
        n = len(self.thresholds)
        if multi_label:
            labels = y_pred.shape[-1]
            pred = y_pred.reshape(-1, labels)
            pos = positive.reshape(-1, labels)
            w = torch.broadcast_to(weights, y_pred.shape).reshape(-1, labels)
        else:
            labels = 1
            pred, pos = y_pred.reshape(-1, 1), positive.reshape(-1, 1)
            w = torch.broadcast_to(weights, y_pred.shape).reshape(-1, 1)
        # Number of thresholds strictly below each prediction: pred > thr[j] for the first `above` sorted ones.
        above = torch.searchsorted(sorted_thr, pred.contiguous(), right=False)
        index = (above + torch.arange(labels, device=pred.device) * (n + 1)).reshape(-1)
        tp_w, fp_w = (pos * w).reshape(-1), ((1 - pos) * w).reshape(-1)

        def counts(values: torch.Tensor) -> torch.Tensor:
            hist = torch.zeros(labels * (n + 1), dtype=dtype, device=pred.device).scatter_add_(0, index, values)
            hist = hist.reshape(labels, n + 1)
            at_least = hist.flip(-1).cumsum(-1).flip(-1)[:, 1:]  # sum over buckets above threshold j
            out = at_least.index_select(1, inverse).T  # (thresholds, labels), original threshold order
            return out if multi_label else out[:, 0]

        tp = counts(tp_w)
        fp = counts(fp_w)
        if "tp" in variables:
            variables["tp"].add_(tp)
        if "fp" in variables:
            variables["fp"].add_(fp)
        if "tn" in variables or "fn" in variables:
            total_pos = tp_w.reshape(-1, labels).sum(0) if multi_label else tp_w.sum()
            total_neg = fp_w.reshape(-1, labels).sum(0) if multi_label else fp_w.sum()
            if "tn" in variables:
                variables["tn"].add_(total_neg - fp)
            if "fn" in variables:
                variables["fn"].add_(total_pos - tp)


class _ConfusionBase(Metric):
    def _prep(self, y_true: Any, y_pred: Any, sample_weight: Any) -> Any:
        return self._inputs(y_true, y_pred, sample_weight)


class _ConditionCount(_ConfusionBase):
    _key = "tp"

    def __init__(self, thresholds: Any = None, name: Optional[str] = None, dtype: Optional[str] = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.thresholds = _thresholds(thresholds, 0.5)
        self._counts = _Counts(self.thresholds, _evenly(self.thresholds))
        self.accumulator = self.add_variable((len(self.thresholds),), "zeros", name="accumulator")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred, sample_weight = self._prep(y_true, y_pred, sample_weight)
        self._counts.update({self._key: self.accumulator}, y_true, y_pred, sample_weight)

    def result(self) -> torch.Tensor:
        return self.accumulator[0].clone() if len(self.thresholds) == 1 else self.accumulator.clone()

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds}


def _count_class(cls_name: str, key: str, what: str) -> type:
    def __init__(self, thresholds: Any = None, name: Optional[str] = None, dtype: Optional[str] = None) -> None:
        _ConditionCount.__init__(self, thresholds, name, dtype)

    return type(cls_name, (_ConditionCount,), {
        "__init__": __init__, "_key": key, "__module__": __name__,
        "__doc__": f"The (weighted) number of {what} at each threshold.\n\n    Args:\n        thresholds: a float "
                   "or list of floats in [0, 1]; `y_pred > threshold` is a positive prediction. Defaults to `None` "
                   "(0.5).\n        name: Defaults to `None`.\n        dtype: Defaults to `None` (float32).\n"})


TruePositives = _count_class("TruePositives", "tp", "true positives")
FalsePositives = _count_class("FalsePositives", "fp", "false positives")
TrueNegatives = _count_class("TrueNegatives", "tn", "true negatives")
FalseNegatives = _count_class("FalseNegatives", "fn", "false negatives")


class _PrecisionRecall(_ConfusionBase):
    _other = "fp"

    def __init__(self, thresholds: Any = None, top_k: Optional[int] = None, class_id: Optional[int] = None,
                 name: Optional[str] = None, dtype: Optional[str] = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds, self.top_k, self.class_id = thresholds, top_k, class_id
        self.thresholds = _thresholds(thresholds, 0.5 if top_k is None else NEG_INF)
        self._counts = _Counts(self.thresholds, _evenly(self.thresholds))
        self.true_positives = self.add_variable((len(self.thresholds),), "zeros", name="true_positives")
        other = "false_positives" if self._other == "fp" else "false_negatives"
        setattr(self, other, self.add_variable((len(self.thresholds),), "zeros", name=other))

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred, sample_weight = self._prep(y_true, y_pred, sample_weight)
        other = self.false_positives if self._other == "fp" else self.false_negatives
        self._counts.update({"tp": self.true_positives, self._other: other}, y_true, y_pred, sample_weight,
                            top_k=self.top_k, class_id=self.class_id)

    def result(self) -> torch.Tensor:
        other = self.false_positives if self._other == "fp" else self.false_negatives
        r = _div(self.true_positives, self.true_positives + other)
        return r[0] if len(self.thresholds) == 1 else r

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_PrecisionRecall):
    """TP / (TP + FP), with every entry of y_pred thresholded (Keras's rule).

    Args:
        thresholds: float or list in [0, 1]; a list gives one precision per threshold.
            Defaults to `None` (0.5, or no threshold with `top_k`).
        top_k: only the k highest entries of each row can be positive. Defaults to `None`.
        class_id: only this class (column) is scored. Defaults to `None`.
        name: Defaults to `None` ("precision").
        dtype: Defaults to `None` (float32).

    Example:
        >>> m = Precision(); m.update_state([0, 1, 1, 1], [1, 0, 1, 1]); round(float(m.result()), 4)
        0.6667
    """

    _other = "fp"


class Recall(_PrecisionRecall):
    """TP / (TP + FN), with every entry of y_pred thresholded (Keras's rule).

    Args:
        thresholds: float or list in [0, 1]. Defaults to `None` (0.5, or none with `top_k`).
        top_k: only the k highest entries of each row can be positive. Defaults to `None`.
        class_id: only this class is scored. Defaults to `None`.
        name: Defaults to `None` ("recall").
        dtype: Defaults to `None` (float32).
    """

    _other = "fn"


class _AtBase(_ConfusionBase):
    """Sensitivity/specificity/precision/recall at a constraint, over `num_thresholds` thresholds."""

    _arg = "value"

    def __init__(self, value: float, num_thresholds: int = 200, class_id: Optional[int] = None,
                 name: Optional[str] = None, dtype: Optional[str] = None) -> None:
        if value < 0 or value > 1:
            raise ValueError(f"Argument `{self._arg}` must be in the range [0, 1]. Received: {self._arg}={value}")
        if num_thresholds <= 0:
            raise ValueError(f"Argument `num_thresholds` must be an integer > 0. Received: "
                             f"num_thresholds={num_thresholds}")
        super().__init__(name=name, dtype=dtype)
        setattr(self, self._arg, value)
        self.value, self.num_thresholds, self.class_id = value, num_thresholds, class_id
        if num_thresholds == 1:
            self.thresholds, evenly = [0.5], False
        else:
            self.thresholds = [0.0] + [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)] + [1.0]
            evenly = True
        self._counts = _Counts(self.thresholds, evenly)
        n = len(self.thresholds)
        self.true_positives = self.add_variable((n,), "zeros", name="true_positives")
        self.false_positives = self.add_variable((n,), "zeros", name="false_positives")
        self.true_negatives = self.add_variable((n,), "zeros", name="true_negatives")
        self.false_negatives = self.add_variable((n,), "zeros", name="false_negatives")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred, sample_weight = self._prep(y_true, y_pred, sample_weight)
        self._counts.update({"tp": self.true_positives, "fp": self.false_positives, "tn": self.true_negatives,
                             "fn": self.false_negatives}, y_true, y_pred, sample_weight, class_id=self.class_id)

    def _rates(self) -> Dict[str, torch.Tensor]:
        tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
        return {"sensitivity": _div(tp, tp + fn), "specificity": _div(tn, tn + fp), "precision": _div(tp, tp + fp)}

    def _max_under(self, constrained: torch.Tensor, dependent: torch.Tensor) -> torch.Tensor:
        feasible = constrained >= self.value
        return torch.where(feasible, dependent, torch.zeros_like(dependent)).amax().clamp_min(0.0)

    def get_config(self):
        return {**super().get_config(), "class_id": self.class_id, "num_thresholds": self.num_thresholds,
                self._arg: self.value}


class SensitivityAtSpecificity(_AtBase):
    """The best sensitivity (recall) among thresholds where specificity >= `specificity`.

    Args:
        specificity: the constraint, in [0, 1].
        num_thresholds: Defaults to `200`.
        class_id: only this class is scored. Defaults to `None`.
        name: Defaults to `None`.
        dtype: Defaults to `None` (float32).
    """

    _arg = "specificity"

    def __init__(self, specificity: float, num_thresholds: int = 200, class_id: Optional[int] = None,
                 name: Optional[str] = None, dtype: Optional[str] = None) -> None:
        super().__init__(specificity, num_thresholds, class_id, name, dtype)

    def result(self) -> torch.Tensor:
        r = self._rates()
        return self._max_under(r["specificity"], r["sensitivity"])


class SpecificityAtSensitivity(_AtBase):
    """The best specificity among thresholds where sensitivity >= `sensitivity`.

    Args:
        sensitivity: the constraint, in [0, 1].
        num_thresholds: Defaults to `200`.
        class_id: only this class is scored. Defaults to `None`.
        name: Defaults to `None`.
        dtype: Defaults to `None` (float32).
    """

    _arg = "sensitivity"

    def __init__(self, sensitivity: float, num_thresholds: int = 200, class_id: Optional[int] = None,
                 name: Optional[str] = None, dtype: Optional[str] = None) -> None:
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)

    def result(self) -> torch.Tensor:
        r = self._rates()
        return self._max_under(r["sensitivity"], r["specificity"])


class PrecisionAtRecall(_AtBase):
    """The best precision among thresholds where recall >= `recall`.

    Args:
        recall: the constraint, in [0, 1].
        num_thresholds: Defaults to `200`.
        class_id: only this class is scored. Defaults to `None`.
        name: Defaults to `None`.
        dtype: Defaults to `None` (float32).
    """

    _arg = "recall"

    def __init__(self, recall: float, num_thresholds: int = 200, class_id: Optional[int] = None,
                 name: Optional[str] = None, dtype: Optional[str] = None) -> None:
        super().__init__(recall, num_thresholds, class_id, name, dtype)

    def result(self) -> torch.Tensor:
        r = self._rates()
        return self._max_under(r["sensitivity"], r["precision"])


class RecallAtPrecision(_AtBase):
    """The best recall among thresholds where precision >= `precision`.

    Args:
        precision: the constraint, in [0, 1].
        num_thresholds: Defaults to `200`.
        class_id: only this class is scored. Defaults to `None`.
        name: Defaults to `None`.
        dtype: Defaults to `None` (float32).
    """

    _arg = "precision"

    def __init__(self, precision: float, num_thresholds: int = 200, class_id: Optional[int] = None,
                 name: Optional[str] = None, dtype: Optional[str] = None) -> None:
        super().__init__(precision, num_thresholds, class_id, name, dtype)

    def result(self) -> torch.Tensor:
        r = self._rates()
        return self._max_under(r["precision"], r["sensitivity"])
