"""The loss classes: Keras 3's names, positional order, defaults and `name`s.

Each class wraps one function of `kerasish.losses.functions`, aligning the ranks of
`y_true` and `y_pred` first as Keras's loss wrapper does ((N,) labels against an (N, 1)
output). The cross-entropies also have a logits form: when the model's last layer ends
in softmax (or sigmoid) and `from_logits=False`, `fit` computes the loss from the
pre-activation logits (log-softmax / BCE-with-logits). Keras clips probabilities to
[1e-7, 1 - 1e-7] first, so the two differ in the last bits, and where a probability
underflows Keras's loss saturates at -log(1e-7) = 16.1 while kerasish's stays exact and
keeps a gradient. Called directly (`loss(y_true, probabilities)`) both clip alike.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

import torch
import torch.nn.functional as F

from kerasish.losses import functions as fns
from kerasish.losses.functions import squeeze_or_expand_to_same_rank
from kerasish.losses.loss import Loss

_DEFAULT = "sum_over_batch_size"


class LossFunctionWrapper(Loss):
    """A `Loss` computed by `fn(y_true, y_pred, **kwargs)`.

    Args:
        fn: the function returning unreduced values.
        reduction: see `Loss`. Defaults to `"sum_over_batch_size"`.
        name: Defaults to `None` (the function's name).
        dtype: Defaults to `None` (floatx).
        **kwargs: passed to `fn` on every call.
    """

    def __init__(self, fn: Callable[..., torch.Tensor], reduction: Any = _DEFAULT, name: Optional[str] = None,
                 dtype: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), **self._fn_kwargs}


class _Fixed(LossFunctionWrapper):
    """A built-in loss: its function and options are the class's, its config its arguments."""

    _fn: Callable[..., torch.Tensor]

    def __init__(self, reduction: Any = _DEFAULT, name: Optional[str] = None, dtype: Optional[str] = None,
                 **kwargs: Any) -> None:
        super().__init__(type(self)._fn, reduction=reduction, name=name, dtype=dtype, **kwargs)
        for key, value in kwargs.items():
            setattr(self, key, value)


def _one_kernel(loss: Loss, y_true: Any, y_pred: Any, sample_weight: Any) -> bool:
    """Whether Keras's mean over the last axis, then over the batch, equals one fused torch kernel's mean
    over every entry: no weights, a mean reduction, targets of the predictions' shape, dtype and device."""
    return (sample_weight is None and loss.reduction in ("sum_over_batch_size", "mean")
            and type(y_pred) is torch.Tensor and type(y_true) is torch.Tensor and y_pred.dim() > 0
            and y_pred.numel() > 0 and y_true.shape == y_pred.shape and y_true.dtype == y_pred.dtype
            and y_true.device == y_pred.device)


def _make_simple(cls_name: str, fn: Callable[..., torch.Tensor], default_name: str, doc: str,
                 kernel: Optional[Callable[..., torch.Tensor]] = None) -> type:
    def __init__(self, reduction: Any = _DEFAULT, name: str = default_name, dtype: Optional[str] = None) -> None:
        _Fixed.__init__(self, reduction=reduction, name=name, dtype=dtype)

    namespace: Dict[str, Any] = {}
    if kernel is not None:
        def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
            # One autograd node instead of five: tiny models are bound by per-node overhead.
            if (_one_kernel(self, y_true, y_pred, sample_weight) and y_pred.is_floating_point()
                    and type(self).call is LossFunctionWrapper.call and "call" not in vars(self)):
                return kernel(y_pred, y_true)
            return Loss.__call__(self, y_true, y_pred, sample_weight)

        namespace["__call__"] = __call__
    namespace.update({"__init__": __init__, "_fn": staticmethod(fn), "__module__": __name__})
    cls = type(cls_name, (_Fixed,), {**namespace,
                                      "__doc__": f"{doc}\n\n    Args:\n        reduction: see `Loss`. Defaults to "
                                      f"`\"sum_over_batch_size\"`.\n        name: Defaults to `\"{default_name}\"`."
                                      "\n        dtype: Defaults to `None` (floatx).\n"})
    return cls


MeanSquaredError = _make_simple("MeanSquaredError", fns.mean_squared_error, "mean_squared_error",
                                "Mean of squared errors over the last axis.", F.mse_loss)
MeanAbsoluteError = _make_simple("MeanAbsoluteError", fns.mean_absolute_error, "mean_absolute_error",
                                 "Mean of absolute errors over the last axis.", F.l1_loss)
MeanAbsolutePercentageError = _make_simple(
    "MeanAbsolutePercentageError", fns.mean_absolute_percentage_error, "mean_absolute_percentage_error",
    "100 times the mean absolute error relative to |y_true| (at least epsilon).")
MeanSquaredLogarithmicError = _make_simple(
    "MeanSquaredLogarithmicError", fns.mean_squared_logarithmic_error, "mean_squared_logarithmic_error",
    "Mean squared difference of log(1 + max(x, epsilon)).")
LogCosh = _make_simple("LogCosh", fns.log_cosh, "log_cosh", "Mean of log(cosh(error)) over the last axis.")
Hinge = _make_simple("Hinge", fns.hinge, "hinge",
                     "Mean of max(1 - y_true * y_pred, 0); labels all in {0, 1} are mapped to {-1, 1}.")
SquaredHinge = _make_simple("SquaredHinge", fns.squared_hinge, "squared_hinge",
                            "Mean of max(1 - y_true * y_pred, 0) ** 2; {0, 1} labels are mapped to {-1, 1}.")
CategoricalHinge = _make_simple("CategoricalHinge", fns.categorical_hinge, "categorical_hinge",
                                "max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0).")
KLDivergence = _make_simple("KLDivergence", fns.kl_divergence, "kl_divergence",
                            "Kullback-Leibler divergence sum(y_true * log(y_true / y_pred)), both clipped to [eps, 1].")
Poisson = _make_simple("Poisson", fns.poisson, "poisson", "Mean of y_pred - y_true * log(y_pred + epsilon).")
CTC = _make_simple("CTC", fns.ctc, "ctc",
                   "Connectionist temporal classification: y_true (batch, max_length) ints, 0 the blank and "
                   "padding; y_pred logits (batch, time, classes).")


class CosineSimilarity(_Fixed):
    """Negative cosine similarity along `axis` (-1 is most similar).

    Args:
        axis: Defaults to `-1`.
        reduction: see `Loss`. Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"cosine_similarity"`.
        dtype: Defaults to `None` (floatx).
    """

    _fn = staticmethod(fns.cosine_similarity)

    def __init__(self, axis: int = -1, reduction: Any = _DEFAULT, name: str = "cosine_similarity",
                 dtype: Optional[str] = None) -> None:
        super().__init__(reduction, name, dtype, axis=axis)


class Huber(_Fixed):
    """Huber loss: quadratic for |error| <= delta, linear beyond.

    Args:
        delta: Defaults to `1.0`.
        reduction: see `Loss`. Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"huber_loss"`.
        dtype: Defaults to `None` (floatx).
    """

    _fn = staticmethod(fns.huber)

    def __init__(self, delta: float = 1.0, reduction: Any = _DEFAULT, name: str = "huber_loss",
                 dtype: Optional[str] = None) -> None:
        super().__init__(reduction, name, dtype, delta=float(delta))


def _check_smoothing(label_smoothing: float) -> float:
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"label_smoothing must be in [0, 1]. Received: label_smoothing={label_smoothing!r}")
    return float(label_smoothing)


class BinaryCrossentropy(_Fixed):
    """Binary cross-entropy, averaged over `axis`.

    Args:
        from_logits: whether y_pred are logits. Defaults to `False`.
        label_smoothing: squeezes labels towards 0.5. Defaults to `0.0`.
        axis: the axis averaged over. Defaults to `-1`.
        reduction: see `Loss`. Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"binary_crossentropy"`.
        dtype: Defaults to `None` (floatx).
    """

    fuses = "sigmoid"
    _fn = staticmethod(fns.binary_crossentropy)

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction: Any = _DEFAULT, name: str = "binary_crossentropy", dtype: Optional[str] = None) -> None:
        super().__init__(reduction, name, dtype, from_logits=bool(from_logits),
                         label_smoothing=_check_smoothing(label_smoothing), axis=axis)

    def per_sample_logits(self, y_true, logits):
        y_true, logits = squeeze_or_expand_to_same_rank(y_true, logits)
        return fns.binary_crossentropy(y_true, logits, True, self.label_smoothing, self.axis)

    def reduced_logits(self, y_true, logits, sample_weight):
        if _one_kernel(self, y_true, logits, sample_weight) and self.axis in (-1, logits.dim() - 1):
            # One fused kernel: the mean over every entry is Keras's mean over the axis, then the batch.
            if self.label_smoothing:
                y_true = y_true * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
            return F.binary_cross_entropy_with_logits(logits, y_true)
        return super().reduced_logits(y_true, logits, sample_weight)


class BinaryFocalCrossentropy(_Fixed):
    """Binary cross-entropy scaled by the focal factor (1 - p_t) ** gamma (Lin et al., 2018).

    Args:
        apply_class_balancing: weight class 1 by `alpha` and class 0 by `1 - alpha`. Defaults to `False`.
        alpha: Defaults to `0.25`.
        gamma: Defaults to `2.0`.
        from_logits: Defaults to `False`.
        label_smoothing: Defaults to `0.0`.
        axis: Defaults to `-1`.
        reduction: see `Loss`. Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"binary_focal_crossentropy"`.
        dtype: Defaults to `None` (floatx).
    """

    _fn = staticmethod(fns.binary_focal_crossentropy)

    def __init__(self, apply_class_balancing: bool = False, alpha: float = 0.25, gamma: float = 2.0,
                 from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1, reduction: Any = _DEFAULT,
                 name: str = "binary_focal_crossentropy", dtype: Optional[str] = None) -> None:
        super().__init__(reduction, name, dtype, apply_class_balancing=apply_class_balancing, alpha=alpha,
                         gamma=gamma, from_logits=from_logits, label_smoothing=_check_smoothing(label_smoothing),
                         axis=axis)


class CategoricalCrossentropy(_Fixed):
    """Cross-entropy for one-hot (or soft) labels.

    Args:
        from_logits: whether y_pred are logits. Defaults to `False`.
        label_smoothing: in [0, 1]. Defaults to `0.0`.
        axis: the class axis. Defaults to `-1`.
        reduction: see `Loss`. Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"categorical_crossentropy"`.
        dtype: Defaults to `None` (floatx).
    """

    fuses = "softmax"
    _fn = staticmethod(fns.categorical_crossentropy)

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction: Any = _DEFAULT, name: str = "categorical_crossentropy",
                 dtype: Optional[str] = None) -> None:
        super().__init__(reduction, name, dtype, from_logits=bool(from_logits),
                         label_smoothing=_check_smoothing(label_smoothing), axis=axis)

    def per_sample_logits(self, y_true, logits):
        y_true, logits = squeeze_or_expand_to_same_rank(y_true, logits)
        return fns.categorical_crossentropy(y_true, logits, True, self.label_smoothing, self.axis)

    def reduced_logits(self, y_true, logits, sample_weight):
        if _one_kernel(self, y_true, logits, sample_weight) and logits.dim() == 2 and self.axis in (-1, 1):
            # One fused kernel with probability targets (torch smooths labels as Keras does: y (1 - s) + s / C).
            return F.cross_entropy(logits, y_true, label_smoothing=self.label_smoothing)
        return super().reduced_logits(y_true, logits, sample_weight)


class CategoricalFocalCrossentropy(_Fixed):
    """Categorical cross-entropy scaled by alpha * (1 - p) ** gamma.

    Args:
        alpha: Defaults to `0.25`.
        gamma: Defaults to `2.0`.
        from_logits: Defaults to `False`.
        label_smoothing: Defaults to `0.0`.
        axis: Defaults to `-1`.
        reduction: see `Loss`. Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"categorical_focal_crossentropy"`.
        dtype: Defaults to `None` (floatx).
    """

    _fn = staticmethod(fns.categorical_focal_crossentropy)

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, from_logits: bool = False,
                 label_smoothing: float = 0.0, axis: int = -1, reduction: Any = _DEFAULT,
                 name: str = "categorical_focal_crossentropy", dtype: Optional[str] = None) -> None:
        super().__init__(reduction, name, dtype, alpha=alpha, gamma=gamma, from_logits=from_logits,
                         label_smoothing=_check_smoothing(label_smoothing), axis=axis)


class SparseCategoricalCrossentropy(_Fixed):
    """Cross-entropy for integer labels.

    With `ignore_class`, entries with that label are masked: they add nothing, and the
    mean reductions divide by the number of kept entries (as Keras).

    Args:
        from_logits: whether y_pred are logits. Defaults to `False`.
        ignore_class: a label value to ignore. Defaults to `None`.
        reduction: see `Loss`. Defaults to `"sum_over_batch_size"`.
        axis: the class axis. Defaults to `-1`.
        name: Defaults to `"sparse_categorical_crossentropy"`.
        dtype: Defaults to `None` (floatx).
    """

    fuses = "softmax"
    _fn = staticmethod(fns.sparse_categorical_crossentropy)

    def __init__(self, from_logits: bool = False, ignore_class: Optional[int] = None, reduction: Any = _DEFAULT,
                 axis: int = -1, name: str = "sparse_categorical_crossentropy", dtype: Optional[str] = None) -> None:
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"SparseCategoricalCrossentropy: axis must be an int (the class axis). Received: "
                             f"axis={axis!r}")
        super().__init__(reduction, name, dtype, from_logits=bool(from_logits), ignore_class=ignore_class,
                         axis=axis)

    def _values_and_mask(self, y_true, y_pred) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        return fns.sparse_categorical_crossentropy_with_mask(y_true, y_pred, self.from_logits, self.ignore_class,
                                                             self.axis)

    def per_sample_logits(self, y_true, logits):
        return fns.sparse_categorical_crossentropy(y_true, logits, True, self.ignore_class, self.axis)

    def _logits_mask(self, y_true, logits):
        if self.ignore_class is None:
            return None
        return fns._sparse_labels(y_true, logits, self.axis) != self.ignore_class

    def reduced_logits(self, y_true, logits, sample_weight):
        if sample_weight is None and self.ignore_class is None and logits.dim() == 2 and y_true.dim() == 1 and \
                self.reduction in ("sum_over_batch_size", "mean") and self.axis in (-1, 1):
            # One fused kernel: the mean over the batch is Keras's reduction here.
            return F.cross_entropy(logits, y_true.long())
        return super().reduced_logits(y_true, logits, sample_weight)


class Dice(_Fixed):
    """Dice loss 1 - 2|A∩B| / (|A| + |B|), over `axis` (every axis, one value, when None).

    Args:
        reduction: see `Loss`. Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"dice"`.
        axis: the axes summed over. Defaults to `None`.
        dtype: Defaults to `None` (floatx).
    """

    _fn = staticmethod(fns.dice)

    def __init__(self, reduction: Any = _DEFAULT, name: str = "dice", axis: Any = None,
                 dtype: Optional[str] = None) -> None:
        super().__init__(reduction, name, dtype, axis=axis)


class Tversky(_Fixed):
    """Tversky loss: Dice with false positives weighted by `alpha` and false negatives by `beta`.

    Args:
        alpha: Defaults to `0.5`.
        beta: Defaults to `0.5`.
        reduction: see `Loss`. Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"tversky"`.
        axis: Defaults to `None`.
        dtype: Defaults to `None` (floatx).
    """

    _fn = staticmethod(fns.tversky)

    def __init__(self, alpha: float = 0.5, beta: float = 0.5, reduction: Any = _DEFAULT, name: str = "tversky",
                 axis: Any = None, dtype: Optional[str] = None) -> None:
        super().__init__(reduction, name, dtype, alpha=alpha, beta=beta, axis=axis)


class Circle(_Fixed):
    """Circle loss over a batch of L2-normalized embeddings (y_true: integer labels).

    Values that are 0 are masked, so the mean reductions divide by the positive ones (as Keras).

    Args:
        gamma: scale. Defaults to `80.0`.
        margin: relaxation. Defaults to `0.4`.
        remove_diagonal: drop self-similarities from the positives. Defaults to `True`.
        reduction: see `Loss`. Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"circle"`.
        dtype: Defaults to `None` (floatx).
    """

    _fn = staticmethod(fns.circle)

    def __init__(self, gamma: float = 80.0, margin: float = 0.4, remove_diagonal: bool = True,
                 reduction: Any = _DEFAULT, name: str = "circle", dtype: Optional[str] = None) -> None:
        super().__init__(reduction, name, dtype, gamma=gamma, margin=margin, remove_diagonal=remove_diagonal)

    def _values_and_mask(self, y_true, y_pred):
        return fns.circle_with_mask(y_true, y_pred, remove_diagonal=self.remove_diagonal, gamma=self.gamma,
                                    margin=self.margin)


class CategoricalGeneralizedCrossEntropy(_Fixed):
    """Generalized cross-entropy (1 - p ** q) / q for integer labels (Zhang and Sabuncu, 2018).

    Args:
        q: in (0, 1); near 0 it acts as cross-entropy, near 1 as mean absolute error. Defaults to `0.5`.
        reduction: see `Loss`. Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"categorical_generalized_cross_entropy"`.
        dtype: Defaults to `None` (floatx).

    Raises:
        ValueError: when q is not in (0, 1).
    """

    _fn = staticmethod(fns.categorical_generalized_cross_entropy)

    def __init__(self, q: float = 0.5, reduction: Any = _DEFAULT, name: str = "categorical_generalized_cross_entropy",
                 dtype: Optional[str] = None) -> None:
        if not 0 < q < 1:
            raise ValueError(f"q must be in the interval (0, 1). Received: q={q!r}")
        super().__init__(reduction, name, dtype, q=q)
