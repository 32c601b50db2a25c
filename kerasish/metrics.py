"""Metrics that accumulate on the device and become floats only when read.

A metric's state lives in tensors on the model's device; `update_state` adds to them
without any host synchronisation, and `result()` returns a 0-d tensor. The training
loop converts results to Python floats once per epoch (or when a callback reads them).

`'accuracy'` is resolved from the loss and the output shape as Keras does: binary
accuracy for one output unit or binary_crossentropy, sparse categorical accuracy for
integer labels, categorical accuracy for one-hot labels.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Union

import torch

from kerasish.layers.layer import to_snake_case
from kerasish.registry import Registry


class Metric:
    """Base class. Subclasses implement `update_state`, `result` and `reset_state`."""

    #: True when the metric gives the same value on logits as on probabilities
    #: (accuracy-type metrics), so the fused training step can skip the activation.
    logits_invariant = False

    #: set on metrics given as compile(weighted_metrics=...): they see sample/class weights.
    weighted = False

    def __init__(self, name: Optional[str] = None, dtype: Optional[str] = None) -> None:
        self.name = name or to_snake_case(type(self).__name__)
        self.device = torch.device("cpu")
        self._dtype = dtype
        self._variables: list = []

    @property
    def dtype(self) -> str:
        return self._dtype or "float32"

    @property
    def variables(self) -> list:
        """The state variables made with `add_variable`, in creation order."""
        return list(getattr(self, "_variables", []))

    def add_variable(self, shape: Any = (), initializer: Any = "zeros", dtype: Optional[str] = None,
                     aggregation: str = "sum", name: Optional[str] = None) -> Any:
        """A non-trainable state `Variable` on the metric's device (Keras 3's `Metric.add_variable`).

        `reset_state()` sets every such variable back to zeros unless a subclass overrides it.
        """
        from kerasish import initializers
        from kerasish.ops.dtypes import to_torch_dtype
        from kerasish.variables import Variable

        if not hasattr(self, "_variables"):
            raise RuntimeError(
                f"{type(self).__name__}.add_variable() was called before Metric.__init__. Call "
                "super().__init__(name=name, **kwargs) first in your metric's __init__."
            )
        value = torch.zeros(tuple(shape), dtype=to_torch_dtype(dtype or self.dtype), device=self.device)
        with torch.no_grad():
            filled = initializers.get(initializer)(value)
        if isinstance(filled, torch.Tensor) and filled is not value:
            value = filled.to(value.dtype)
        variable = Variable(value, requires_grad=False, name=name or f"variable_{len(self._variables)}")
        variable.aggregation = aggregation
        self._variables.append(variable)
        return variable

    add_weight = add_variable

    def to(self, device: torch.device) -> "Metric":
        self.device = torch.device(device)
        for v in self.variables:
            v.data = v.data.to(self.device)
        self.reset_state()
        return self

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:  # pragma: no cover
        raise NotImplementedError

    def result(self) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def reset_state(self) -> None:
        """Sets every variable made with `add_variable` to zeros (override for other state)."""
        variables = self.variables
        if not variables and type(self).reset_state is Metric.reset_state:
            raise NotImplementedError(
                f"{type(self).__name__} keeps no variables made with add_variable(), so it must implement "
                "reset_state() itself."
            )
        with torch.no_grad():
            for v in variables:
                v.zero_()

    def __call__(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        # Keras forwards everything to update_state: `Mean()(loss)` as well as `metric(y_true, y_pred)`.
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> Dict[str, Any]:
        return {"name": self.name}


class Mean(Metric):
    """Sample-weighted running mean of values."""

    def reset_state(self) -> None:
        total = getattr(self, "total", None)
        if total is not None and total.device == self.device:
            # Reuse the accumulators (no allocation per epoch).
            self.total.zero_()
            self.count.zero_()
            return
        self.total = torch.zeros((), dtype=torch.float64 if self.device.type == "cpu" else torch.float32, device=self.device)
        self.count = torch.zeros_like(self.total)

    def __init__(self, name: Optional[str] = None, dtype: Optional[str] = None) -> None:
        super().__init__(name, dtype)
        self.reset_state()

    def update_state(self, values, sample_weight=None) -> None:  # type: ignore[override]
        values = values.detach()
        if sample_weight is None:
            self.total += values.sum().to(self.total.dtype)
            self.count += values.numel()
        else:
            w = sample_weight.detach().to(values.dtype)
            while w.dim() < values.dim():
                w = w.unsqueeze(-1)
            w = torch.broadcast_to(w, values.shape)
            self.total += (values * w).sum().to(self.total.dtype)
            self.count += w.sum().to(self.total.dtype)

    def result(self) -> torch.Tensor:
        return self.total / self.count.clamp_min(1e-12) if self.count.dtype.is_floating_point else self.total

    def add_mean(self, batch_mean: torch.Tensor, n: int) -> None:
        """Adds a batch mean over `n` samples (the loss tracker: one fused op, no allocation)."""
        self.total.add_(batch_mean.detach(), alpha=n)
        self.count += n


class MeanMetricWrapper(Mean):
    """Mean over samples of a per-sample function `fn(y_true, y_pred)`."""

    def __init__(self, fn: Callable, name: Optional[str] = None, dtype: Optional[str] = None, **kwargs: Any):
        super().__init__(name or getattr(fn, "__name__", "metric"), dtype)
        self.fn = fn
        self.fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:  # type: ignore[override]
        values = self.fn(y_true, y_pred, **self.fn_kwargs)
        super().update_state(values, sample_weight)

    def get_config(self):
        c = super().get_config()
        c.update(self.fn_kwargs)
        return c


# --------------------------------------------------------------------- functions
def _labels_like(y_true, y_pred):
    if y_true.shape != y_pred.shape and y_true.numel() == y_pred.numel():
        y_true = y_true.reshape(y_pred.shape)
    return y_true


def binary_accuracy(y_true, y_pred, threshold: float = 0.5):
    y_true = _labels_like(y_true, y_pred)
    v = (y_true.to(y_pred.dtype) == (y_pred > threshold).to(y_pred.dtype)).float()
    return v.mean(dim=-1) if v.dim() > 1 else v


def _binary_accuracy_logits(y_true, logits):
    return binary_accuracy(y_true, logits, threshold=0.0)


def categorical_accuracy(y_true, y_pred):
    return (y_true.argmax(dim=-1) == y_pred.argmax(dim=-1)).float()


def sparse_categorical_accuracy(y_true, y_pred):
    if y_true.dim() == y_pred.dim() and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    return (y_true.long() == y_pred.argmax(dim=-1)).float()


def top_k_categorical_accuracy(y_true, y_pred, k: int = 5):
    topk = y_pred.topk(min(k, y_pred.shape[-1]), dim=-1).indices
    return (topk == y_true.argmax(dim=-1, keepdim=True)).any(dim=-1).float()


def sparse_top_k_categorical_accuracy(y_true, y_pred, k: int = 5):
    if y_true.dim() == y_pred.dim() and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    topk = y_pred.topk(min(k, y_pred.shape[-1]), dim=-1).indices
    return (topk == y_true.long().unsqueeze(-1)).any(dim=-1).float()


def mean_absolute_error(y_true, y_pred):
    v = (y_pred - _labels_like(y_true, y_pred).to(y_pred.dtype)).abs()
    return v.mean(dim=-1) if v.dim() > 1 else v


def mean_squared_error(y_true, y_pred):
    v = (y_pred - _labels_like(y_true, y_pred).to(y_pred.dtype)).square()
    return v.mean(dim=-1) if v.dim() > 1 else v


# --------------------------------------------------------------------- classes
class BinaryAccuracy(MeanMetricWrapper):
    logits_invariant = False  # the threshold moves on logits; handled by the step

    def __init__(self, name: str = "binary_accuracy", dtype=None, threshold: float = 0.5):
        super().__init__(binary_accuracy, name, dtype, threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    logits_invariant = True

    def __init__(self, name: str = "categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name, dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    logits_invariant = True

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:  # type: ignore[override]
        if sample_weight is None and y_pred.dim() == 2 and y_true.dim() == 1:
            # The common case in three kernels (argmax, eq, sum) instead of six: it runs every batch.
            self.total.add_((y_pred.detach().argmax(dim=-1) == y_true).sum())
            self.count += y_true.shape[0]
            return
        super().update_state(y_true, y_pred, sample_weight)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    logits_invariant = True

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name, dtype, k=k)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    logits_invariant = True

    def __init__(self, k: int = 5, name: str = "sparse_top_k_categorical_accuracy", dtype=None):
        super().__init__(sparse_top_k_categorical_accuracy, name, dtype, k=k)


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name: str = "mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name, dtype)


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name: str = "mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name, dtype)


class RootMeanSquaredError(MeanSquaredError):
    def __init__(self, name: str = "root_mean_squared_error", dtype=None):
        super().__init__(name, dtype)

    def result(self):
        return super().result().sqrt()


class _TorchMetric(Metric):
    """Adapter over a torchmetrics metric (state stays on the device).

    Predictions are given as probabilities; sample weights are not supported by
    torchmetrics and are rejected with a clear error.
    """

    threshold_inputs = True

    def __init__(self, name: Optional[str], thresholds: Optional[float] = 0.5) -> None:
        super().__init__(name)
        self.threshold = 0.5 if thresholds is None else thresholds
        self._tm = None

    def _make(self, num_outputs: int):  # pragma: no cover - abstract
        raise NotImplementedError

    def reset_state(self) -> None:
        if self._tm is not None:
            self._tm.reset()

    def to(self, device):
        self.device = torch.device(device)
        if self._tm is not None:
            self._tm = self._tm.to(self.device)
            self._tm.reset()
        return self

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        if sample_weight is not None:
            raise ValueError(
                f"The metric {self.name!r} (torchmetrics) does not support sample_weight/class_weight. "
                "Drop the weights or use an accuracy/mean metric."
            )
        if self._tm is None:
            self._tm = self._make(y_pred.shape[-1] if y_pred.dim() > 1 else 1).to(y_pred.device)
        y_pred = y_pred.detach()
        if y_pred.dim() > 1 and y_pred.shape[-1] > 1:  # multiclass
            if y_true.dim() == y_pred.dim() and y_true.shape[-1] == y_pred.shape[-1]:
                y_true = y_true.argmax(dim=-1)
            elif y_true.dim() == y_pred.dim():
                y_true = y_true.squeeze(-1)
            self._tm.update(y_pred.argmax(dim=-1), y_true.long())
            return
        y_true = _labels_like(y_true, y_pred).reshape(-1).long()
        y_pred = y_pred.reshape(-1)
        if self.threshold_inputs:
            # Hard 0/1 predictions: torchmetrics then skips its value-range check,
            # which would otherwise synchronise with the host on every batch.
            y_pred = (y_pred > self.threshold).long()
        self._tm.update(y_pred, y_true)

    def result(self) -> torch.Tensor:
        if self._tm is None:
            return torch.zeros((), device=self.device)
        return self._tm.compute().float()


class Precision(_TorchMetric):
    """Precision at a threshold of 0.5 (binary; multiclass outputs use macro averaging)."""

    def __init__(self, thresholds: Optional[float] = None, name: str = "precision", dtype=None):
        super().__init__(name, thresholds)

    def _make(self, n):
        import torchmetrics.classification as C

        if n > 1:
            return C.MulticlassPrecision(num_classes=n, average="macro", validate_args=False)
        return C.BinaryPrecision(validate_args=False)


class Recall(_TorchMetric):
    """Recall at a threshold of 0.5 (binary; multiclass outputs use macro averaging)."""

    def __init__(self, thresholds: Optional[float] = None, name: str = "recall", dtype=None):
        super().__init__(name, thresholds)

    def _make(self, n):
        import torchmetrics.classification as C

        if n > 1:
            return C.MulticlassRecall(num_classes=n, average="macro", validate_args=False)
        return C.BinaryRecall(validate_args=False)


class F1Score(_TorchMetric):
    """F1 score: binary for one output unit, macro-averaged over classes otherwise."""

    def __init__(self, average: str = "macro", threshold: Optional[float] = None, name: str = "f1_score", dtype=None):
        super().__init__(name, threshold)
        self.average = average

    def _make(self, n):
        import torchmetrics.classification as C

        if n > 1:
            return C.MulticlassF1Score(num_classes=n, average=self.average, validate_args=False)
        return C.BinaryF1Score(validate_args=False)


class AUC(_TorchMetric):
    """Area under the ROC curve from 200 thresholds (binned, as Keras's AUC).

    Note: torchmetrics checks the value range of probabilities, one host
    synchronisation per batch, paid only when this metric is requested.
    """

    threshold_inputs = False

    def __init__(self, num_thresholds: int = 200, name: str = "auc", dtype=None):
        super().__init__(name)
        self.num_thresholds = num_thresholds

    def _make(self, n):
        import torchmetrics.classification as C

        if n > 1:
            return C.MulticlassAUROC(num_classes=n, thresholds=self.num_thresholds, validate_args=False)
        return C.BinaryAUROC(thresholds=self.num_thresholds, validate_args=False)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        if y_pred.dim() > 1 and y_pred.shape[-1] > 1:
            if sample_weight is not None:
                raise ValueError(f"The metric {self.name!r} does not support sample_weight/class_weight.")
            if self._tm is None:
                self._tm = self._make(y_pred.shape[-1]).to(y_pred.device)
            if y_true.dim() == y_pred.dim() and y_true.shape[-1] == y_pred.shape[-1]:
                y_true = y_true.argmax(dim=-1)
            self._tm.update(y_pred.detach(), y_true.reshape(-1).long())
            return
        super().update_state(y_true, y_pred, sample_weight)


_registry: Registry[Callable[[], Metric]] = Registry("metric")
for _names, _factory in {
    ("binary_accuracy",): BinaryAccuracy,
    ("categorical_accuracy",): CategoricalAccuracy,
    ("sparse_categorical_accuracy",): SparseCategoricalAccuracy,
    ("top_k_categorical_accuracy",): TopKCategoricalAccuracy,
    ("sparse_top_k_categorical_accuracy",): SparseTopKCategoricalAccuracy,
    ("mae", "mean_absolute_error"): MeanAbsoluteError,
    ("mse", "mean_squared_error"): MeanSquaredError,
    ("rmse", "root_mean_squared_error"): RootMeanSquaredError,
    ("precision",): Precision,
    ("recall",): Recall,
    ("auc",): AUC,
    ("f1_score", "f1"): F1Score,
}.items():
    for _n in _names:
        _registry.add(_n, _factory)

_ACCURACY_NAMES = ("accuracy", "acc")


def resolve_accuracy(loss_name: Optional[str], output_shape, y_shape) -> type:
    """Keras's rule for the bare 'accuracy' string.

    Binary when the loss is binary cross-entropy or the model has one output unit;
    sparse categorical when labels have one entry fewer or a last axis of 1 while the
    output has several classes (or the loss is the sparse one); categorical otherwise.
    """
    if loss_name == "binary_crossentropy" or (output_shape and output_shape[-1] == 1):
        return BinaryAccuracy
    if loss_name == "sparse_categorical_crossentropy":
        return SparseCategoricalAccuracy
    if loss_name == "categorical_crossentropy":
        return CategoricalAccuracy
    if y_shape is not None and output_shape is not None:
        if len(y_shape) < len(output_shape) or (len(y_shape) == len(output_shape) and y_shape[-1] == 1):
            return SparseCategoricalAccuracy
    return CategoricalAccuracy


def get(identifier: Union[str, Metric, Callable], loss_name: Optional[str] = None, output_shape=None, y_shape=None) -> Metric:
    """Returns a fresh Metric for a name, a Metric instance, or a per-sample callable.

    The returned metric's `name` is the key it gets in `logs` (the string the user
    passed, as in Keras: 'accuracy' stays 'accuracy', 'acc' stays 'acc').

    Raises:
        ValueError: unknown name (valid names listed with the closest match).
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in _ACCURACY_NAMES:
            cls = resolve_accuracy(loss_name, output_shape, y_shape)
            return cls(name=identifier)
        _check_known(identifier)
        return _registry.get(key)(name=identifier)
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(
        f"A metric must be a name such as 'accuracy', a kerasish.metrics.Metric or a callable, "
        f"received {identifier!r} of type {type(identifier).__name__}."
    )


def check_name(identifier: Any) -> None:
    """Validates a metric identifier at compile time (before any data is seen)."""
    if isinstance(identifier, str):
        _check_known(identifier)
    elif not isinstance(identifier, (str, Metric, type)) and not callable(identifier):
        get(identifier)


def _check_known(name: str) -> None:
    from kerasish.utils.text import unknown_name_message

    if name.lower() not in _ACCURACY_NAMES and name.lower() not in _registry:
        raise ValueError(unknown_name_message(
            "metric", name, names(), "Or pass a kerasish.metrics.Metric or a callable fn(y_true, y_pred)."))


def names() -> list:
    return sorted(set(_registry.names()) | set(_ACCURACY_NAMES))
