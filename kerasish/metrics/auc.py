"""`AUC`: area under the ROC, PR or PR-gain curve from thresholded counts (Keras's binned AUC)."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import torch

from kerasish import config
from kerasish.metrics.confusion import _ConfusionBase, _Counts, _div, _evenly
from kerasish.metrics.metric import device_constant

_CURVES = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}
_SUMMATIONS = ("interpolation", "majoring", "minoring")


class AUC(_ConfusionBase):
    """Approximate area under a curve, summed over `num_thresholds` buckets.

    Counts of true/false positives/negatives are kept per threshold on the device; the
    area is a Riemann sum over them (PR with interpolation uses Davis & Goadrich's rule).

    Args:
        num_thresholds: thresholds spread evenly over [0, 1]. Defaults to `200`.
        curve: `"ROC"`, `"PR"` or `"PRGAIN"`. Defaults to `"ROC"`.
        summation_method: `"interpolation"`, `"majoring"` or `"minoring"`. Defaults to `"interpolation"`.
        name: Defaults to `None` ("auc").
        dtype: Defaults to `None` (float32).
        thresholds: explicit thresholds in [0, 1] (0 - eps and 1 + eps are added); replaces
            `num_thresholds`. Defaults to `None`.
        multi_label: one curve per label (column), averaged; otherwise every entry is pooled.
            Defaults to `False`.
        num_labels: the number of labels with `multi_label`, to build before the first batch.
            Defaults to `None`.
        label_weights: per-label weights of the average (multi_label) or of the counts. Defaults to `None`.
        from_logits: apply a sigmoid to y_pred first. Defaults to `False`.

    Raises:
        ValueError: an unknown curve or summation method, num_thresholds <= 1, or num_labels
            without multi_label.

    Example:
        >>> m = AUC(num_thresholds=3); m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
        >>> round(float(m.result()), 4)
        0.75
    """

    def __init__(self, num_thresholds: int = 200, curve: str = "ROC", summation_method: str = "interpolation",
                 name: Optional[str] = None, dtype: Optional[str] = None, thresholds: Optional[Sequence[float]] = None,
                 multi_label: bool = False, num_labels: Optional[int] = None, label_weights: Any = None,
                 from_logits: bool = False) -> None:
        if str(curve).lower() not in _CURVES:
            raise ValueError(f'Invalid AUC curve value: "{curve}". Expected values are ["PR", "ROC", "PRGAIN"]')
        if str(summation_method).lower() not in _SUMMATIONS:
            raise ValueError(f'Invalid AUC summation method value: "{summation_method}". Expected values are '
                             '["interpolation", "majoring", "minoring"]')
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            self.num_thresholds = len(thresholds) + 2
            inner = sorted(float(t) for t in thresholds)
            evenly = _evenly(np.array([0.0] + inner + [1.0]))
        else:
            if num_thresholds <= 1:
                raise ValueError(f"Argument `num_thresholds` must be an integer > 1. Received: "
                                 f"num_thresholds={num_thresholds}")
            self.num_thresholds = num_thresholds
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            evenly = True
        eps = config.epsilon()
        self._thresholds = [0.0 - eps] + inner + [1.0 + eps]
        self.curve = _CURVES[str(curve).lower()]
        self.summation_method = str(summation_method).lower()
        super().__init__(name=name, dtype=dtype)
        self.multi_label, self.num_labels = bool(multi_label), num_labels
        self.label_weights = None if label_weights is None else [float(w) for w in np.asarray(label_weights).ravel()]
        self.from_logits = bool(from_logits)
        self._counts = _Counts(self._thresholds, evenly)
        self._built = False
        if self.multi_label:
            if num_labels:
                self._build((None, num_labels))
        else:
            if num_labels:
                raise ValueError("`num_labels` is needed only when `multi_label` is True.")
            self._build(None)

    @property
    def thresholds(self) -> list:
        return list(self._thresholds)

    def _build(self, shape: Any) -> None:
        if self.multi_label:
            if len(shape) != 2:
                raise ValueError(f"`y_pred` must have rank 2 when `multi_label=True`. Found rank {len(shape)}. "
                                 f"Full shape received for `y_pred`: {tuple(shape)}")
            self._num_labels = shape[1]
            var_shape = (self.num_thresholds, self._num_labels)
        else:
            var_shape = (self.num_thresholds,)
        self.true_positives = self.add_variable(var_shape, "zeros", name="true_positives")
        self.false_positives = self.add_variable(var_shape, "zeros", name="false_positives")
        self.true_negatives = self.add_variable(var_shape, "zeros", name="true_negatives")
        self.false_negatives = self.add_variable(var_shape, "zeros", name="false_negatives")
        self._built = True

    def _label_weights(self, device: torch.device) -> Optional[torch.Tensor]:
        if self.label_weights is None:
            return None
        return device_constant(self, "label_weights", lambda: self.label_weights, device, self._torch_dtype)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred, sample_weight = self._prep(y_true, y_pred, sample_weight)
        if not self._built:
            self._build(tuple(y_pred.shape))
        if self.from_logits:
            y_pred = torch.sigmoid(y_pred.to(self._torch_dtype))
        self._counts.update({"tp": self.true_positives, "fp": self.false_positives, "tn": self.true_negatives,
                             "fn": self.false_negatives}, y_true, y_pred, sample_weight,
                            multi_label=self.multi_label,
                            label_weights=None if self.multi_label else self._label_weights(y_pred.device))

    def reset_state(self) -> None:
        if self._built:
            super().reset_state()

    def _average(self, by_label: torch.Tensor) -> torch.Tensor:
        if not self.multi_label:
            return by_label.sum()
        by_label = by_label.sum(dim=0)
        lw = self._label_weights(by_label.device)
        if lw is None:
            return by_label.mean()
        return _div((by_label * lw).sum(), lw.sum())

    def _interpolate_pr(self) -> torch.Tensor:
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _div(dtp, dp.clamp_min(0))
        intercept = tp[1:] - slope * p[1:]
        ratio = torch.where((p[:-1] > 0) & (p[1:] > 0), _div(p[:-1], p[1:].clamp_min(0)), torch.ones_like(p[1:]))
        increment = _div(slope * (dtp + intercept * torch.log(ratio)), (tp[1:] + fn[1:]).clamp_min(0))
        return self._average(increment)

    def result(self) -> torch.Tensor:
        if not self._built:
            return torch.zeros((), device=self.device)
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr()
        tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
        recall = _div(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _div(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, _div(tp, tp + fp)
        else:
            scale = _div(tp + fn, tn + fp)
            recall_gain = 1.0 - scale * _div(fn, tp)
            precision_gain = 1.0 - scale * _div(fp, tp)
            recall_gain = torch.where(tp == 0, torch.zeros_like(recall_gain), recall_gain).clamp_min(0.0)
            precision_gain = torch.where(tp == 0, torch.ones_like(precision_gain), precision_gain)
            x, y = recall_gain, precision_gain
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = torch.minimum(y[:-1], y[1:])
        else:
            heights = torch.maximum(y[:-1], y[1:])
        return self._average((x[:-1] - x[1:]) * heights)

    def get_config(self):
        config = {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "multi_label": self.multi_label,
                  "num_labels": self.num_labels, "label_weights": self.label_weights,
                  "from_logits": self.from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self._thresholds[1:-1]
        return config
