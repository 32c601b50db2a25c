"""Losses with Keras's names, arguments and reduction.

Every loss computes a per-sample value, then reduces it as Keras does
("sum over batch size"): `sum(sample_weight * loss) / number_of_loss_values`.

Cross-entropies also know their logits form: when the model's last layer ends in
softmax (or sigmoid) and `from_logits=False`, fit computes the loss from the
pre-activation logits instead (log-softmax / BCE-with-logits), which is exact and
numerically stable, while `predict()` still returns probabilities.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from kerasish.config import floatx
from kerasish.registry import Registry

EPSILON = 1e-7


def _match(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """Reshapes y_true like y_pred when they hold the same number of values ((N,) vs (N, 1))."""
    if y_true.shape != y_pred.shape and y_true.numel() == y_pred.numel():
        y_true = y_true.reshape(y_pred.shape)
    if not y_true.is_floating_point():
        y_true = y_true.to(y_pred.dtype)
    return y_true


def reduce_weighted(values: torch.Tensor, sample_weight: Optional[torch.Tensor]) -> torch.Tensor:
    """Keras's 'sum_over_batch_size': sum(w * values) / values.numel()."""
    if sample_weight is None:
        return values.mean()
    w = sample_weight.to(values.dtype)
    while w.dim() < values.dim():
        w = w.unsqueeze(-1)
    return (values * w).sum() / values.numel()


class Loss:
    """Base class. Subclasses implement `call(y_true, y_pred)` (Keras 3's name) or `per_sample`.

    Either returns the unreduced loss values (one per sample, or per entry); `__call__`
    converts NumPy/list inputs to tensors, applies `sample_weight` and the reduction.

    Args:
        name: the loss's name. Defaults to the snake_case class name.
        reduction: 'sum_over_batch_size' (Keras's default), 'sum', 'mean' or 'none'.
        dtype: the dtype the inputs are converted to. Defaults to `None` (floatx).
    """

    #: 'softmax' or 'sigmoid' when the loss has a logits form the step may fuse.
    fuses: Optional[str] = None

    def __init__(self, name: Optional[str] = None, reduction: str = "sum_over_batch_size",
                 dtype: Optional[str] = None) -> None:
        if reduction not in ("sum_over_batch_size", "sum", "mean", "none", None):
            raise ValueError(
                f"Unknown reduction {reduction!r}. Expected 'sum_over_batch_size', 'sum', 'mean' or 'none'."
            )
        self.name = name or _default_name(type(self).__name__)
        self.reduction = reduction
        self.dtype = dtype

    def per_sample(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        if type(self).call is Loss.call:
            raise NotImplementedError(
                f"{type(self).__name__} must implement call(self, y_true, y_pred) returning the unreduced losses."
            )
        return self.call(y_true, y_pred)

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        """The unreduced losses (Keras 3's method name); the built-in losses define `per_sample`."""
        return self.per_sample(y_true, y_pred)

    def per_sample_logits(self, y_true: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no logits form.")

    def reduced_logits(self, y_true: torch.Tensor, logits: torch.Tensor,
                       sample_weight: Optional[torch.Tensor]) -> torch.Tensor:
        """The reduced loss from logits (the fused training path)."""
        return self.reduce(self.per_sample_logits(y_true, logits), sample_weight)

    def reduce(self, values: torch.Tensor, sample_weight: Optional[torch.Tensor]) -> torch.Tensor:
        if self.reduction == "none" or self.reduction is None:
            if sample_weight is None:
                return values
            w = sample_weight.to(values.dtype)
            while w.dim() < values.dim():
                w = w.unsqueeze(-1)
            return values * w
        if self.reduction == "sum":
            return values.sum() if sample_weight is None else reduce_weighted(values, sample_weight) * values.numel()
        if self.reduction == "mean" and sample_weight is not None:
            w = sample_weight.to(values.dtype)
            while w.dim() < values.dim():
                w = w.unsqueeze(-1)
            return (values * w).sum() / torch.broadcast_to(w, values.shape).sum()
        return reduce_weighted(values, sample_weight)

    def __call__(
        self, y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        if not isinstance(y_pred, torch.Tensor) or not isinstance(y_true, torch.Tensor) or (
                sample_weight is not None and not isinstance(sample_weight, torch.Tensor)):
            y_true, y_pred, sample_weight = self._to_tensors(y_true, y_pred, sample_weight)
        return self.reduce(self.per_sample(y_true, y_pred), sample_weight)

    def _to_tensors(self, y_true: Any, y_pred: Any, sample_weight: Any) -> Any:
        from kerasish.ops.dtypes import convert_to_tensor

        dtype = self.dtype or floatx()
        y_pred = convert_to_tensor(y_pred, dtype=None if isinstance(y_pred, torch.Tensor) else dtype)
        y_true = convert_to_tensor(y_true, device=y_pred.device)
        if y_true.is_floating_point() and y_true.dtype != y_pred.dtype:
            y_true = y_true.to(y_pred.dtype)
        if sample_weight is not None:
            sample_weight = convert_to_tensor(sample_weight, dtype=y_pred.dtype, device=y_pred.device)
        return y_true, y_pred, sample_weight

    def get_config(self) -> Dict[str, Any]:
        config = {"name": self.name, "reduction": self.reduction}
        if self.dtype is not None:
            config["dtype"] = self.dtype
        return config

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Loss":
        return cls(**config)


def _default_name(cls_name: str) -> str:
    from kerasish.layers.layer import to_snake_case

    return to_snake_case(cls_name)


class CategoricalCrossentropy(Loss):
    """Cross-entropy for one-hot labels.

    Args:
        from_logits: whether y_pred are logits. Defaults to `False`.
        label_smoothing: in [0, 1]. Defaults to `0.0`.
        axis: class axis. Defaults to `-1`.
    """

    fuses = "softmax"

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction: str = "sum_over_batch_size", name: Optional[str] = None, dtype: Optional[str] = None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not 0 <= label_smoothing <= 1:
            raise ValueError(f"label_smoothing must be in [0, 1], received {label_smoothing!r}.")
        self.from_logits, self.label_smoothing, self.axis = bool(from_logits), float(label_smoothing), axis

    def _smooth(self, y_true, n):
        y_true = y_true.to(torch.get_default_dtype()) if not y_true.is_floating_point() else y_true
        if self.label_smoothing:
            y_true = y_true * (1.0 - self.label_smoothing) + self.label_smoothing / n
        return y_true

    def per_sample_logits(self, y_true, logits):
        y_true = self._smooth(y_true, logits.shape[self.axis]).to(logits.dtype)
        return -(y_true * torch.log_softmax(logits, dim=self.axis)).sum(dim=self.axis)

    def per_sample(self, y_true, y_pred):
        if self.from_logits:
            return self.per_sample_logits(y_true, y_pred)
        y_true = self._smooth(y_true, y_pred.shape[self.axis]).to(y_pred.dtype)
        p = y_pred / y_pred.sum(dim=self.axis, keepdim=True)
        return -(y_true * torch.log(p.clamp(EPSILON, 1.0 - EPSILON))).sum(dim=self.axis)

    def get_config(self):
        c = super().get_config()
        c.update(from_logits=self.from_logits, label_smoothing=self.label_smoothing, axis=self.axis)
        return c


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy for integer labels.

    Args:
        from_logits: whether y_pred are logits. Defaults to `False`.
        ignore_class: a label value whose samples are ignored. Defaults to `None`.
    """

    fuses = "softmax"

    def __init__(self, from_logits: bool = False, ignore_class: Optional[int] = None,
                 reduction: str = "sum_over_batch_size", axis: int = -1, name: Optional[str] = None,
                 dtype: Optional[str] = None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"SparseCategoricalCrossentropy: axis must be an int (the class axis), received {axis!r}.")
        self.from_logits, self.ignore_class, self.axis = bool(from_logits), ignore_class, axis

    def _classes_last(self, y_pred):
        if self.axis != -1 and self.axis != y_pred.dim() - 1:
            return y_pred.movedim(self.axis, -1)
        return y_pred

    def _labels(self, y_true, y_pred):
        if y_true.dim() == y_pred.dim() and y_true.shape[-1] == 1:
            y_true = y_true.squeeze(-1)
        return y_true.long()

    def per_sample_logits(self, y_true, logits):
        logits = self._classes_last(logits)
        y_true = self._labels(y_true, logits)
        if logits.dim() > 2:
            logits = logits.movedim(-1, 1)
        ignore = -100 if self.ignore_class is None else self.ignore_class
        return F.cross_entropy(logits, y_true, reduction="none", ignore_index=ignore)

    def reduced_logits(self, y_true, logits, sample_weight):
        if sample_weight is None and self.ignore_class is None and logits.dim() == 2 and \
                self.reduction == "sum_over_batch_size" and self.axis in (-1, 1):
            # One fused kernel: the mean over the batch is Keras's reduction here.
            return F.cross_entropy(logits, self._labels(y_true, logits))
        return super().reduced_logits(y_true, logits, sample_weight)

    def per_sample(self, y_true, y_pred):
        if self.from_logits:
            return self.per_sample_logits(y_true, y_pred)
        y_pred = self._classes_last(y_pred)
        y_true = self._labels(y_true, y_pred)
        p = y_pred / y_pred.sum(dim=-1, keepdim=True)
        logp = torch.log(p.clamp(EPSILON, 1.0 - EPSILON))
        if logp.dim() > 2:
            logp = logp.movedim(-1, 1)
        ignore = -100 if self.ignore_class is None else self.ignore_class
        return F.nll_loss(logp, y_true, reduction="none", ignore_index=ignore)

    def get_config(self):
        c = super().get_config()
        c.update(from_logits=self.from_logits, ignore_class=self.ignore_class, axis=self.axis)
        return c


class BinaryCrossentropy(Loss):
    """Binary cross-entropy, averaged over the last axis.

    Args:
        from_logits: whether y_pred are logits. Defaults to `False`.
        label_smoothing: squeezes labels towards 0.5. Defaults to `0.0`.
    """

    fuses = "sigmoid"

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction: str = "sum_over_batch_size", name: Optional[str] = None, dtype: Optional[str] = None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not 0 <= label_smoothing <= 1:
            raise ValueError(f"label_smoothing must be in [0, 1], received {label_smoothing!r}.")
        self.from_logits, self.label_smoothing, self.axis = bool(from_logits), float(label_smoothing), axis

    def _prep(self, y_true, y_pred):
        y_true = _match(y_true, y_pred)
        if self.label_smoothing:
            y_true = y_true * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        return y_true

    def per_sample_logits(self, y_true, logits):
        y_true = self._prep(y_true, logits)
        v = F.binary_cross_entropy_with_logits(logits, y_true, reduction="none")
        return v.mean(dim=self.axis) if v.dim() > 1 else v

    def per_sample(self, y_true, y_pred):
        if self.from_logits:
            return self.per_sample_logits(y_true, y_pred)
        y_true = self._prep(y_true, y_pred)
        p = y_pred.clamp(EPSILON, 1.0 - EPSILON)
        v = -(y_true * torch.log(p) + (1.0 - y_true) * torch.log1p(-p))
        return v.mean(dim=self.axis) if v.dim() > 1 else v

    def get_config(self):
        c = super().get_config()
        c.update(from_logits=self.from_logits, label_smoothing=self.label_smoothing, axis=self.axis)
        return c


class _KerasOrder(Loss):
    """Keras 3's positional order for losses without options: (reduction, name, dtype)."""

    def __init__(self, reduction: str = "sum_over_batch_size", name: Optional[str] = None, dtype: Optional[str] = None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)


class _Elementwise(_KerasOrder):
    """A loss that is an element-wise function averaged over the last axis."""

    def _fn(self, y_true, y_pred):  # pragma: no cover - abstract
        raise NotImplementedError

    def per_sample(self, y_true, y_pred):
        v = self._fn(_match(y_true, y_pred), y_pred)
        return v.mean(dim=-1) if v.dim() > 1 else v


class MeanSquaredError(_Elementwise):
    def _fn(self, t, p):
        return (p - t).square()


class MeanAbsoluteError(_Elementwise):
    def _fn(self, t, p):
        return (p - t).abs()


class MeanAbsolutePercentageError(_Elementwise):
    def _fn(self, t, p):
        return 100.0 * ((t - p) / t.abs().clamp_min(EPSILON)).abs()


class MeanSquaredLogarithmicError(_Elementwise):
    def _fn(self, t, p):
        return (torch.log1p(p.clamp_min(EPSILON)) - torch.log1p(t.clamp_min(EPSILON))).square()


class Huber(_Elementwise):
    """Huber loss. Args: delta: Defaults to `1.0`."""

    def __init__(self, delta: float = 1.0, reduction: str = "sum_over_batch_size", name: str = "huber_loss", dtype: Optional[str] = None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.delta = float(delta)

    def _fn(self, t, p):
        return F.huber_loss(p, t, reduction="none", delta=self.delta)

    def get_config(self):
        c = super().get_config()
        c["delta"] = self.delta
        return c


class LogCosh(_Elementwise):
    def _fn(self, t, p):
        d = p - t
        return d + F.softplus(-2.0 * d) - torch.log(torch.tensor(2.0, dtype=d.dtype, device=d.device))


class Hinge(_Elementwise):
    """Hinge loss; labels in {0, 1} are mapped to {-1, 1} as Keras does."""

    def _fn(self, t, p):
        t = torch.where(t == 0, -torch.ones_like(t), t)
        return (1.0 - t * p).clamp_min(0.0)


class SquaredHinge(Hinge):
    def _fn(self, t, p):
        return super()._fn(t, p).square()


class Poisson(_Elementwise):
    def _fn(self, t, p):
        return p - t * torch.log(p + EPSILON)


class KLDivergence(_KerasOrder):
    def per_sample(self, y_true, y_pred):
        t = _match(y_true, y_pred).clamp(EPSILON, 1.0)
        p = y_pred.clamp(EPSILON, 1.0)
        return (t * torch.log(t / p)).sum(dim=-1)


class CategoricalHinge(_KerasOrder):
    def per_sample(self, y_true, y_pred):
        t = _match(y_true, y_pred)
        pos = (t * y_pred).sum(dim=-1)
        neg = ((1.0 - t) * y_pred).amax(dim=-1)
        return (neg - pos + 1.0).clamp_min(0.0)


class CosineSimilarity(Loss):
    """Negative cosine similarity along `axis`."""

    def __init__(self, axis: int = -1, reduction: str = "sum_over_batch_size", name: Optional[str] = None, dtype: Optional[str] = None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.axis = axis

    def per_sample(self, y_true, y_pred):
        return -F.cosine_similarity(_match(y_true, y_pred), y_pred, dim=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


_registry: Registry[type] = Registry("loss")
for _cls, _names in {
    CategoricalCrossentropy: ("categorical_crossentropy",),
    SparseCategoricalCrossentropy: ("sparse_categorical_crossentropy",),
    BinaryCrossentropy: ("binary_crossentropy",),
    MeanSquaredError: ("mean_squared_error", "mse"),
    MeanAbsoluteError: ("mean_absolute_error", "mae"),
    MeanAbsolutePercentageError: ("mean_absolute_percentage_error", "mape"),
    MeanSquaredLogarithmicError: ("mean_squared_logarithmic_error", "msle"),
    Huber: ("huber", "huber_loss"),
    LogCosh: ("log_cosh", "logcosh"),
    Hinge: ("hinge",),
    SquaredHinge: ("squared_hinge",),
    CategoricalHinge: ("categorical_hinge",),
    Poisson: ("poisson",),
    KLDivergence: ("kl_divergence", "kld", "kullback_leibler_divergence"),
    CosineSimilarity: ("cosine_similarity",),
}.items():
    for _n in _names:
        _registry.add(_n, _cls)

# Keras's functional aliases: kerasish.losses.mse(y_true, y_pred) -> per-sample values.
mean_squared_error = mse = lambda y_true, y_pred: MeanSquaredError().per_sample(y_true, y_pred)  # noqa: E731
mean_absolute_error = mae = lambda y_true, y_pred: MeanAbsoluteError().per_sample(y_true, y_pred)  # noqa: E731
categorical_crossentropy = lambda y_true, y_pred: CategoricalCrossentropy().per_sample(y_true, y_pred)  # noqa: E731
sparse_categorical_crossentropy = lambda y_true, y_pred: SparseCategoricalCrossentropy().per_sample(y_true, y_pred)  # noqa: E731
binary_crossentropy = lambda y_true, y_pred: BinaryCrossentropy().per_sample(y_true, y_pred)  # noqa: E731


class _CallableLoss(Loss):
    """Wraps a user callable `fn(y_true, y_pred)` (Keras order) or a torch loss module.

    A torch loss module (an `nn.Module`) is called in torch's order, `module(y_pred, y_true)`.
    Non-scalar results are reduced as Keras reduces per-sample losses.
    """

    def __init__(self, fn: Callable[..., torch.Tensor]):
        super().__init__(name=getattr(fn, "__name__", type(fn).__name__))
        self.fn = fn
        self.is_module = isinstance(fn, nn.Module)

    def per_sample(self, y_true, y_pred):
        if self.is_module:
            if isinstance(self.fn, (nn.CrossEntropyLoss, nn.NLLLoss)) and y_true.dim() == y_pred.dim() and y_true.shape[-1] == 1:
                y_true = y_true.squeeze(-1)
            if not isinstance(self.fn, (nn.CrossEntropyLoss, nn.NLLLoss)):
                y_true = _match(y_true, y_pred)
            return self.fn(y_pred, y_true)
        return self.fn(y_true, y_pred)

    def __call__(self, y_true, y_pred, sample_weight=None):
        values = self.per_sample(y_true, y_pred)
        if values.dim() == 0:
            if sample_weight is not None:
                raise ValueError(
                    f"The loss {self.name!r} returned a scalar, so sample_weight/class_weight cannot be "
                    "applied. Return per-sample values (e.g. a torch loss with reduction='none')."
                )
            return values
        return reduce_weighted(values, sample_weight)


def get(identifier: Union[str, Loss, Callable, None]) -> Loss:
    """Returns a Loss for a name, a Loss instance or class, a callable or a torch loss module.

    Raises:
        ValueError: unknown name (valid names and the closest one listed).
        TypeError: anything else.
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        return _registry.get(identifier, fix="Pass one of these names, a kerasish.losses class or a callable.")()
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, dict) and "class_name" in identifier:
        return _registry.get(identifier["class_name"]).from_config(identifier.get("config", {}))
    if callable(identifier):
        return _CallableLoss(identifier)
    raise TypeError(
        f"loss must be a name such as 'mse', a kerasish.losses.Loss, a callable or a torch loss module, "
        f"received {identifier!r} of type {type(identifier).__name__}."
    )


def serialize(loss: Loss) -> Any:
    for name, cls in _registry.items():
        if type(loss) is cls:
            return {"class_name": name, "config": loss.get_config()}
    return None


def names() -> list:
    return _registry.names()
