"""Regression, probabilistic, hinge and correlation metrics: means of Keras's loss functions,
plus `RootMeanSquaredError` and `R2Score`.

Each mean metric averages the same function its loss uses (`kerasish.losses.functions`),
so `metrics=["mse"]` reports what `loss="mse"` computes, unweighted.
"""

from __future__ import annotations

import warnings
from typing import Any, Optional

import torch

from kerasish import config
from kerasish.losses import functions as fns
from kerasish.losses.functions import squeeze_or_expand_to_same_rank
from kerasish.metrics.metric import Mean, MeanMetricWrapper, Metric


def _simple(cls_name: str, fn: Any, default_name: str, doc: str) -> type:
    def __init__(self, name: str = default_name, dtype: Optional[str] = None) -> None:
        MeanMetricWrapper.__init__(self, fn, name, dtype)

    return type(cls_name, (MeanMetricWrapper,), {
        "__init__": __init__, "__module__": __name__,
        "__doc__": f"{doc}\n\n    Args:\n        name: Defaults to `\"{default_name}\"`.\n"
                   "        dtype: Defaults to `None` (float32).\n"})


MeanSquaredError = _simple("MeanSquaredError", fns.mean_squared_error, "mean_squared_error",
                           "Mean of the squared errors.")
MeanAbsoluteError = _simple("MeanAbsoluteError", fns.mean_absolute_error, "mean_absolute_error",
                            "Mean of the absolute errors.")
MeanAbsolutePercentageError = _simple("MeanAbsolutePercentageError", fns.mean_absolute_percentage_error,
                                      "mean_absolute_percentage_error", "Mean absolute percentage error.")
MeanSquaredLogarithmicError = _simple("MeanSquaredLogarithmicError", fns.mean_squared_logarithmic_error,
                                      "mean_squared_logarithmic_error", "Mean squared logarithmic error.")
LogCoshError = _simple("LogCoshError", fns.log_cosh, "logcosh", "Mean of log(cosh(error)).")
Hinge = _simple("Hinge", fns.hinge, "hinge", "Mean hinge loss.")
SquaredHinge = _simple("SquaredHinge", fns.squared_hinge, "squared_hinge", "Mean squared hinge loss.")
CategoricalHinge = _simple("CategoricalHinge", fns.categorical_hinge, "categorical_hinge",
                           "Mean categorical hinge loss.")
KLDivergence = _simple("KLDivergence", fns.kl_divergence, "kl_divergence", "Mean Kullback-Leibler divergence.")
Poisson = _simple("Poisson", fns.poisson, "poisson", "Mean Poisson loss.")


class RootMeanSquaredError(Mean):
    """sqrt of the (weighted) mean of squared errors over every entry.

    Args:
        name: Defaults to `"root_mean_squared_error"`.
        dtype: Defaults to `None` (float32).
    """

    def __init__(self, name: str = "root_mean_squared_error", dtype: Optional[str] = None) -> None:
        super().__init__(name, dtype)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        y_true, y_pred, sample_weight = self._inputs(y_true, y_pred, sample_weight)
        y_pred = y_pred.to(self._torch_dtype)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true.to(y_pred.dtype), y_pred)
        self._update((y_pred - y_true).square(), sample_weight)

    def result(self) -> torch.Tensor:
        return super().result().sqrt()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


def cosine_similarity(y_true: torch.Tensor, y_pred: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """The metric form: sum(l2_normalize(y_true) * l2_normalize(y_pred), axis) (1 is most similar)."""
    return -fns.cosine_similarity(y_true, y_pred, axis)


class CosineSimilarity(MeanMetricWrapper):
    """Mean cosine similarity between labels and predictions along `axis`.

    Args:
        name: Defaults to `"cosine_similarity"`.
        dtype: Defaults to `None` (float32).
        axis: Defaults to `-1`.
    """

    def __init__(self, name: str = "cosine_similarity", dtype: Optional[str] = None, axis: int = -1) -> None:
        super().__init__(cosine_similarity, name, dtype, axis=axis)
        self.axis = axis


class BinaryCrossentropy(MeanMetricWrapper):
    """Mean binary cross-entropy.

    Args:
        name: Defaults to `"binary_crossentropy"`.
        dtype: Defaults to `None` (float32).
        from_logits: Defaults to `False`.
        label_smoothing: Defaults to `0`.
    """

    def __init__(self, name: str = "binary_crossentropy", dtype: Optional[str] = None, from_logits: bool = False,
                 label_smoothing: float = 0) -> None:
        super().__init__(fns.binary_crossentropy, name, dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing)
        self.from_logits, self.label_smoothing = from_logits, label_smoothing


class CategoricalCrossentropy(MeanMetricWrapper):
    """Mean categorical cross-entropy.

    Args:
        name: Defaults to `"categorical_crossentropy"`.
        dtype: Defaults to `None` (float32).
        from_logits: Defaults to `False`.
        label_smoothing: Defaults to `0`.
        axis: Defaults to `-1`.
    """

    def __init__(self, name: str = "categorical_crossentropy", dtype: Optional[str] = None, from_logits: bool = False,
                 label_smoothing: float = 0, axis: int = -1) -> None:
        super().__init__(fns.categorical_crossentropy, name, dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """Mean sparse categorical cross-entropy.

    With `ignore_class`, ignored entries count as 0 unless `sample_weight` is given, when
    they are dropped from the mean (Keras applies the loss mask only to weights).

    Args:
        name: Defaults to `"sparse_categorical_crossentropy"`.
        dtype: Defaults to `None` (float32).
        from_logits: Defaults to `False`.
        ignore_class: Defaults to `None`.
        axis: Defaults to `-1`.
    """

    def __init__(self, name: str = "sparse_categorical_crossentropy", dtype: Optional[str] = None,
                 from_logits: bool = False, ignore_class: Optional[int] = None, axis: int = -1) -> None:
        super().__init__(fns.sparse_categorical_crossentropy, name, dtype, from_logits=from_logits,
                         ignore_class=ignore_class, axis=axis)
        self.from_logits, self.ignore_class, self.axis = from_logits, ignore_class, axis

    def _values(self, y_true, y_pred):
        return fns.sparse_categorical_crossentropy_with_mask(y_true, y_pred, **self._fn_kwargs)


def pearson_correlation(y_true: torch.Tensor, y_pred: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """Pearson's r along `axis`."""
    y_true, y_pred = fns._pair(y_true, y_pred)
    t = y_true - y_true.mean(dim=axis, keepdim=True)
    p = y_pred - y_pred.mean(dim=axis, keepdim=True)
    t = t / t.std(dim=axis, keepdim=True, unbiased=False)
    p = p / p.std(dim=axis, keepdim=True, unbiased=False)
    return (t * p).mean(dim=axis)


def concordance_correlation(y_true: torch.Tensor, y_pred: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """Lin's concordance correlation along `axis`, in Keras's form."""
    y_true, y_pred = fns._pair(y_true, y_pred)
    t_mean = y_true.mean(dim=axis, keepdim=True)
    p_mean = y_pred.mean(dim=axis, keepdim=True)
    t_var = (y_true - t_mean).var(dim=axis, keepdim=True, unbiased=False)
    p_var = (y_pred - p_mean).var(dim=axis, keepdim=True, unbiased=False)
    # Keras centres y_true on y_pred's mean here; kept for parity.
    covar = (y_true - p_mean) * (y_pred - p_mean)
    norm = t_var + p_var + (t_mean - p_mean).square()
    return (2 * covar / (norm + config.epsilon())).mean(dim=axis)


class PearsonCorrelation(MeanMetricWrapper):
    """Mean Pearson correlation along `axis`.

    Args:
        name: Defaults to `"pearson_correlation"`.
        dtype: Defaults to `None` (float32).
        axis: Defaults to `-1`.
    """

    def __init__(self, name: str = "pearson_correlation", dtype: Optional[str] = None, axis: int = -1) -> None:
        super().__init__(pearson_correlation, name, dtype, axis=axis)
        self.axis = axis


class ConcordanceCorrelation(MeanMetricWrapper):
    """Mean concordance correlation along `axis`.

    Args:
        name: Defaults to `"concordance_correlation"`.
        dtype: Defaults to `None` (float32).
        axis: Defaults to `-1`.
    """

    def __init__(self, name: str = "concordance_correlation", dtype: Optional[str] = None, axis: int = -1) -> None:
        super().__init__(concordance_correlation, name, dtype, axis=axis)
        self.axis = axis


class R2Score(Metric):
    """Coefficient of determination, per output column then aggregated.

    Args:
        class_aggregation: `"uniform_average"`, `"variance_weighted_average"` or `None` (one
            score per column). Defaults to `"uniform_average"`.
        num_regressors: for the adjusted R2. Defaults to `0`.
        name: Defaults to `"r2_score"`.
        dtype: Defaults to `None` (float32).

    Raises:
        ValueError: for an unknown `class_aggregation`, a negative `num_regressors`, or inputs not 2-D.
    """

    _AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")

    def __init__(self, class_aggregation: Optional[str] = "uniform_average", num_regressors: int = 0,
                 name: str = "r2_score", dtype: Optional[str] = None) -> None:
        super().__init__(name=name, dtype=dtype)
        if class_aggregation not in self._AGGREGATIONS:
            raise ValueError(f"Invalid value for argument `class_aggregation`. Expected one of "
                             f"{self._AGGREGATIONS}. Received: class_aggregation={class_aggregation!r}")
        if num_regressors < 0:
            raise ValueError(f"Invalid value for argument `num_regressors`. Expected a value >= 0. Received: "
                             f"num_regressors={num_regressors}")
        self.class_aggregation, self.num_regressors = class_aggregation, num_regressors
        self.num_samples = self.add_variable((), "zeros", name="num_samples")
        self._built = False

    def _build(self, shape: torch.Size) -> None:
        n = shape[-1]
        self.squared_sum = self.add_variable((n,), "zeros", name="squared_sum")
        self.sum = self.add_variable((n,), "zeros", name="sum")
        self.total_mse = self.add_variable((n,), "zeros", name="residual")
        self.count = self.add_variable((n,), "zeros", name="count")
        self._built = True

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred, sample_weight = self._inputs(y_true, y_pred, sample_weight)
        dt = self._torch_dtype
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true.to(dt), y_pred.to(dt))
        if y_true.dim() != 2 or y_pred.dim() != 2:
            raise ValueError(f"R2Score expects 2D inputs with shape (batch_size, output_dim). Received input shapes: "
                             f"y_pred.shape={tuple(y_pred.shape)} and y_true.shape={tuple(y_true.shape)}.")
        if not self._built:
            self._build(y_pred.shape)
        w = torch.ones((), dtype=dt, device=y_true.device) if sample_weight is None else sample_weight.to(dt)
        if w.dim() == 1:
            w = w.unsqueeze(1)
        w = torch.broadcast_to(w, y_true.shape)
        weighted = y_true * w
        self.sum.add_(weighted.sum(dim=0))
        self.squared_sum.add_((y_true * weighted).sum(dim=0))
        self.total_mse.add_(((y_true - y_pred).square() * w).sum(dim=0))
        self.count.add_(w.sum(dim=0))
        self.num_samples.add_(y_true.numel())

    def result(self) -> torch.Tensor:
        if not self._built:
            return torch.zeros((), device=self.device)
        mean = self.sum / self.count
        total = self.squared_sum - self.sum * mean
        raw = 1 - self.total_mse / total
        raw = torch.where(torch.isinf(raw), torch.zeros_like(raw), raw)
        if self.class_aggregation == "uniform_average":
            score = raw.mean()
        elif self.class_aggregation == "variance_weighted_average":
            score = (total * raw).sum() / total.sum()
        else:
            score = raw
        if self.num_regressors:
            # Host sync: the adjusted score needs the sample count (only with num_regressors > 0).
            n = float(self.num_samples)
            p = float(self.num_regressors)
            if p > n - 1:
                warnings.warn("More independent predictors than datapoints in adjusted R2 score. Falling back to "
                              "standard R2 score.", stacklevel=2)
            elif p == n - 1:
                warnings.warn("Division by zero in Adjusted R2 score. Falling back to standard R2 score.",
                              stacklevel=2)
            else:
                score = 1.0 - (1.0 - score) * (n - 1.0) / (n - p - 1.0)
        return score

    def reset_state(self) -> None:
        super().reset_state()

    def get_config(self):
        return {**super().get_config(), "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}
