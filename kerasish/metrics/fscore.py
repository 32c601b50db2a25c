"""`FBetaScore` and `F1Score`, from per-class (or pooled) TP/FP/FN counts kept on the device."""

from __future__ import annotations

from typing import Any, Optional

import torch

from kerasish import config
from kerasish.metrics.metric import Metric


class FBetaScore(Metric):
    """F-beta score: (1 + beta²) · P · R / (beta² · P + R), per class or averaged.

    Predictions are positive where they reach the row's maximum (one per row) when
    `threshold` is None, else where they exceed `threshold`.

    Args:
        average: `None` (one score per class), `"micro"`, `"macro"` or `"weighted"`. Defaults to `None`.
        beta: a float > 0. Defaults to `1.0`.
        threshold: a float in (0, 1]. Defaults to `None`.
        name: Defaults to `"fbeta_score"`.
        dtype: Defaults to `None` (float32).

    Raises:
        ValueError: for an unknown `average`, a non-float or non-positive `beta`, a bad `threshold`,
            or inputs that are not (batch, classes).
    """

    def __init__(self, average: Optional[str] = None, beta: float = 1.0, threshold: Optional[float] = None,
                 name: str = "fbeta_score", dtype: Optional[str] = None) -> None:
        super().__init__(name=name, dtype=dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError("Invalid `average` argument value. Expected one of: {None, 'micro', 'macro', "
                             f"'weighted'}}. Received: average={average!r}")
        if not isinstance(beta, float):
            raise ValueError(f"Invalid `beta` argument value. It should be a Python float. Received: beta={beta!r} "
                             f"of type '{type(beta).__name__}'")
        if beta <= 0.0:
            raise ValueError(f"Invalid `beta` argument value. It should be > 0. Received: beta={beta}")
        if threshold is not None:
            if not isinstance(threshold, float):
                raise ValueError("Invalid `threshold` argument value. It should be a Python float. Received: "
                                 f"threshold={threshold!r} of type '{type(threshold).__name__}'")
            if threshold > 1.0 or threshold <= 0.0:
                raise ValueError("Invalid `threshold` argument value. It should verify 0 < threshold <= 1. "
                                 f"Received: threshold={threshold}")
        self.average, self.beta, self.threshold = average, beta, threshold
        self.axis = None if average == "micro" else 0
        self._built = False

    def _build(self, y_true_shape: Any, y_pred_shape: Any) -> None:
        if len(y_pred_shape) != 2 or len(y_true_shape) != 2:
            raise ValueError(f"{type(self).__name__} expects 2D inputs with shape (batch_size, output_dim). Received "
                             f"input shapes: y_pred.shape={tuple(y_pred_shape)} and "
                             f"y_true.shape={tuple(y_true_shape)}.")
        shape = () if self.average == "micro" else (y_pred_shape[-1],)
        self.true_positives = self.add_variable(shape, "zeros", name="true_positives")
        self.false_positives = self.add_variable(shape, "zeros", name="false_positives")
        self.false_negatives = self.add_variable(shape, "zeros", name="false_negatives")
        self.intermediate_weights = self.add_variable(shape, "zeros", name="intermediate_weights")
        self._built = True

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred, sample_weight = self._inputs(y_true, y_pred, sample_weight)
        dt = self._torch_dtype
        y_true, y_pred = y_true.to(dt), y_pred.to(dt)
        if not self._built:
            self._build(y_true.shape, y_pred.shape)
        if self.threshold is None:
            top = y_pred.amax(dim=-1, keepdim=True)
            pred = (y_pred >= top) & (y_pred.abs() > 1e-9)
        else:
            pred = y_pred > self.threshold
        pred = pred.to(dt)
        w = None if sample_weight is None else sample_weight.to(dt).unsqueeze(1)

        def wsum(v: torch.Tensor) -> torch.Tensor:
            if w is not None:
                v = v * w
            return v.sum() if self.axis is None else v.sum(dim=self.axis)

        self.true_positives.add_(wsum(pred * y_true))
        self.false_positives.add_(wsum(pred * (1 - y_true)))
        self.false_negatives.add_(wsum((1 - pred) * y_true))
        self.intermediate_weights.add_(wsum(y_true))

    def result(self) -> torch.Tensor:
        if not self._built:
            return torch.zeros((), device=self.device)
        eps = config.epsilon()
        tp = self.true_positives
        precision = tp / (tp + self.false_positives + eps)
        recall = tp / (tp + self.false_negatives + eps)
        b2 = self.beta ** 2
        score = (1 + b2) * (precision * recall) / (b2 * precision + recall + eps)
        if self.average == "weighted":
            weights = self.intermediate_weights / (self.intermediate_weights.sum() + eps)
            return (score * weights).sum()
        if self.average is not None:
            return score.mean()
        return score

    def reset_state(self) -> None:
        if self._built:
            super().reset_state()

    def get_config(self):
        return {**super().get_config(), "average": self.average, "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    """F1 score: the harmonic mean of precision and recall (FBetaScore with beta=1).

    Args:
        average: `None`, `"micro"`, `"macro"` or `"weighted"`. Defaults to `None`.
        threshold: Defaults to `None` (the row's maximum is the positive).
        name: Defaults to `"f1_score"`.
        dtype: Defaults to `None` (float32).
    """

    def __init__(self, average: Optional[str] = None, threshold: Optional[float] = None, name: str = "f1_score",
                 dtype: Optional[str] = None) -> None:
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config
