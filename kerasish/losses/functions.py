"""The loss functions: `fn(y_true, y_pred, **options)` returning unreduced values.

These are Keras 3's functional losses (`keras.losses.mean_squared_error` and friends):
each takes tensors and returns one value per sample (the last axis averaged or summed
away), which the `Loss` classes reduce and the mean metrics average. The metrics reuse
them, so a loss and its metric always compute the same number.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

from kerasish import config
from kerasish.ops.dtypes import convert_to_tensor

Axis = Union[int, Sequence[int], None]


def squeeze_or_expand_to_same_rank(x1: torch.Tensor, x2: torch.Tensor,
                                   expand_rank_1: bool = True) -> Tuple[torch.Tensor, torch.Tensor]:
    """Keras's rank alignment: when ranks differ by one and the longer ends in 1, squeeze it.

    A rank-1 partner is instead given a trailing axis of 1 (`expand_rank_1`).
    """
    r1, r2 = x1.dim(), x2.dim()
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = x2.unsqueeze(-1)
        else:
            x1 = x1.squeeze(-1)
    elif r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = x1.unsqueeze(-1)
        else:
            x2 = x2.squeeze(-1)
    return x1, x2


def _pair(y_true: Any, y_pred: Any, align: bool = True) -> Tuple[torch.Tensor, torch.Tensor]:
    """Tensors for (y_true, y_pred): y_pred floating, y_true cast to its dtype and device."""
    if type(y_pred) is not torch.Tensor:
        y_pred = convert_to_tensor(y_pred)
    if not y_pred.is_floating_point():
        y_pred = y_pred.to(config.floatx_dtype())
    if type(y_true) is not torch.Tensor:
        y_true = convert_to_tensor(y_true, device=y_pred.device)
    if y_true.dtype != y_pred.dtype or y_true.device != y_pred.device:  # the common case skips the call
        y_true = y_true.to(y_pred.device, y_pred.dtype)
    if align:
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return y_true, y_pred


def _eps() -> float:
    return config.epsilon()


def mean_squared_error(y_true: Any, y_pred: Any) -> torch.Tensor:
    """mean((y_true - y_pred) ** 2, axis=-1)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return (y_true - y_pred).square().mean(dim=-1)


def mean_absolute_error(y_true: Any, y_pred: Any) -> torch.Tensor:
    """mean(|y_true - y_pred|, axis=-1)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return (y_true - y_pred).abs().mean(dim=-1)


def mean_absolute_percentage_error(y_true: Any, y_pred: Any) -> torch.Tensor:
    """100 * mean(|(y_true - y_pred) / max(|y_true|, epsilon)|, axis=-1)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return 100.0 * ((y_true - y_pred) / y_true.abs().clamp_min(_eps())).abs().mean(dim=-1)


def mean_squared_logarithmic_error(y_true: Any, y_pred: Any) -> torch.Tensor:
    """mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1)) ** 2, axis=-1)."""
    y_true, y_pred = _pair(y_true, y_pred)
    eps = _eps()
    return (torch.log1p(y_pred.clamp_min(eps)) - torch.log1p(y_true.clamp_min(eps))).square().mean(dim=-1)


def _l2_normalize(x: torch.Tensor, axis: int) -> torch.Tensor:
    # Keras's normalize: x / sqrt(max(sum(x ** 2), epsilon)).
    return x * torch.rsqrt(x.square().sum(dim=axis, keepdim=True).clamp_min(_eps()))


def cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1) -> torch.Tensor:
    """The loss form: -sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return -(_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis)).sum(dim=axis)


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> torch.Tensor:
    """Quadratic below `delta`, linear above, averaged over the last axis."""
    y_true, y_pred = _pair(y_true, y_pred)
    return F.huber_loss(y_pred, y_true, reduction="none", delta=float(delta)).mean(dim=-1)


def log_cosh(y_true: Any, y_pred: Any) -> torch.Tensor:
    """mean(log(cosh(y_pred - y_true)), axis=-1), computed without overflow."""
    y_true, y_pred = _pair(y_true, y_pred)
    d = y_pred - y_true
    return (d + F.softplus(-2.0 * d) - math.log(2.0)).mean(dim=-1)


def _hinge_labels(y_true: torch.Tensor) -> torch.Tensor:
    # Keras maps {0, 1} labels to {-1, 1}, but only when every label is 0 or 1.
    binary = ((y_true == 0) | (y_true == 1)).all()
    return torch.where(binary, 2.0 * y_true - 1.0, y_true)


def hinge(y_true: Any, y_pred: Any) -> torch.Tensor:
    """mean(max(1 - y_true * y_pred, 0), axis=-1); {0, 1} labels become {-1, 1}."""
    y_true, y_pred = _pair(y_true, y_pred, align=False)
    return (1.0 - _hinge_labels(y_true) * y_pred).clamp_min(0.0).mean(dim=-1)


def squared_hinge(y_true: Any, y_pred: Any) -> torch.Tensor:
    """mean(max(1 - y_true * y_pred, 0) ** 2, axis=-1); {0, 1} labels become {-1, 1}."""
    y_true, y_pred = _pair(y_true, y_pred, align=False)
    return (1.0 - _hinge_labels(y_true) * y_pred).clamp_min(0.0).square().mean(dim=-1)


def categorical_hinge(y_true: Any, y_pred: Any) -> torch.Tensor:
    """max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0) over the last axis."""
    y_true, y_pred = _pair(y_true, y_pred, align=False)
    pos = (y_true * y_pred).sum(dim=-1)
    neg = ((1.0 - y_true) * y_pred).amax(dim=-1)
    return (neg - pos + 1.0).clamp_min(0.0)


def kl_divergence(y_true: Any, y_pred: Any) -> torch.Tensor:
    """sum(y_true * log(y_true / y_pred), axis=-1), both clipped to [epsilon, 1]."""
    y_true, y_pred = _pair(y_true, y_pred, align=False)
    t, p = y_true.clamp(_eps(), 1.0), y_pred.clamp(_eps(), 1.0)
    return (t * torch.log(t / p)).sum(dim=-1)


def poisson(y_true: Any, y_pred: Any) -> torch.Tensor:
    """mean(y_pred - y_true * log(y_pred + epsilon), axis=-1)."""
    y_true, y_pred = _pair(y_true, y_pred, align=False)
    return (y_pred - y_true * torch.log(y_pred + _eps())).mean(dim=-1)


def _check_axis(axis: Any) -> None:
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise ValueError(f"`axis` must be an int (the class axis). Received: axis={axis!r} of type "
                         f"{type(axis).__name__}.")


def _warn_one_class(name: str, y_pred: torch.Tensor) -> None:
    if y_pred.dim() and y_pred.shape[-1] == 1:
        warnings.warn(
            f"In loss {name}, expected y_pred.shape to be (batch_size, num_classes) with num_classes > 1. "
            f"Received: y_pred.shape={tuple(y_pred.shape)}. Consider using 'binary_crossentropy' if you only "
            "have 2 classes.", SyntaxWarning, stacklevel=3)


def _log_probs(y_pred: torch.Tensor, from_logits: bool, axis: int) -> torch.Tensor:
    if from_logits:
        return torch.log_softmax(y_pred, dim=axis)
    eps = _eps()
    return torch.log((y_pred / y_pred.sum(dim=axis, keepdim=True)).clamp(eps, 1.0 - eps))


def categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0,
                             axis: int = -1) -> torch.Tensor:
    """-sum(y_true * log(p), axis); probabilities are rescaled to sum to 1 and clipped to [eps, 1 - eps]."""
    _check_axis(axis)
    y_true, y_pred = _pair(y_true, y_pred, align=False)
    _warn_one_class("categorical_crossentropy", y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[-1]
    return -(y_true * _log_probs(y_pred, from_logits, axis)).sum(dim=axis)


def categorical_focal_crossentropy(y_true: Any, y_pred: Any, alpha: float = 0.25, gamma: float = 2.0,
                                   from_logits: bool = False, label_smoothing: float = 0.0,
                                   axis: int = -1) -> torch.Tensor:
    """sum(alpha * (1 - p) ** gamma * -y_true * log(p), axis) with p clipped to [eps, 1 - eps]."""
    _check_axis(axis)
    y_true, y_pred = _pair(y_true, y_pred, align=False)
    _warn_one_class("categorical_focal_crossentropy", y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[-1]
    if from_logits:
        y_pred = torch.softmax(y_pred, dim=axis)
    eps = _eps()
    p = (y_pred / y_pred.sum(dim=axis, keepdim=True)).clamp(eps, 1.0 - eps)
    alpha_t = torch.as_tensor(alpha, dtype=p.dtype, device=p.device)
    return (alpha_t * (1.0 - p).pow(gamma) * (-y_true * torch.log(p))).sum(dim=axis)


def _sparse_labels(y_true: torch.Tensor, y_pred: torch.Tensor, axis: int) -> torch.Tensor:
    if y_true.dim() == y_pred.dim() and y_true.shape[axis] == 1:
        y_true = y_true.squeeze(axis)
    return y_true


def sparse_categorical_crossentropy_with_mask(
        y_true: Any, y_pred: Any, from_logits: bool = False, ignore_class: Optional[int] = None,
        axis: int = -1) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """The per-entry losses and, with `ignore_class`, the mask of kept entries (Keras's loss mask)."""
    from kerasish.ops.dtypes import convert_to_tensor

    _check_axis(axis)
    y_pred = convert_to_tensor(y_pred)
    if not y_pred.is_floating_point():
        y_pred = y_pred.to(config.floatx_dtype())
    y_true = convert_to_tensor(y_true, device=y_pred.device).to(y_pred.device)
    y_true = _sparse_labels(y_true, y_pred, axis)
    ax = axis % y_pred.dim()
    mask = None
    if ignore_class is not None:
        mask = y_true != ignore_class
        y_true = torch.where(mask, y_true, torch.zeros_like(y_true))
    labels = y_true.long()
    if labels.shape != y_pred.shape[:ax] + y_pred.shape[ax + 1:]:
        raise ValueError(
            f"sparse_categorical_crossentropy: y_true must have y_pred's shape without the class axis "
            f"{tuple(y_pred.shape[:ax] + y_pred.shape[ax + 1:])} (or with a last axis of 1), received "
            f"y_true.shape={tuple(y_true.shape)} and y_pred.shape={tuple(y_pred.shape)}.")
    index = labels.unsqueeze(ax)
    if from_logits:
        values = -torch.gather(_log_probs(y_pred, True, ax), ax, index).squeeze(ax)
    else:
        # Keras's formula, -log(clip(p / sum(p))) at the label, computed at the label only: the same
        # divisions, clips and logs for those entries, none for the others (fewer kernels forward
        # and backward; the values and gradients are the same numbers).
        eps = _eps()
        picked = torch.gather(y_pred, ax, index) / y_pred.sum(dim=ax, keepdim=True)
        values = -torch.log(picked.clamp(eps, 1.0 - eps)).squeeze(ax)
    if mask is not None:
        values = torch.where(mask, values, torch.zeros_like(values))
    return values, mask


def sparse_categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                                    ignore_class: Optional[int] = None, axis: int = -1) -> torch.Tensor:
    """-log(p[y_true]) per entry; entries labelled `ignore_class` give 0."""
    return sparse_categorical_crossentropy_with_mask(y_true, y_pred, from_logits, ignore_class, axis)[0]


def _bce_elementwise(y_true: torch.Tensor, y_pred: torch.Tensor, from_logits: bool) -> torch.Tensor:
    if from_logits:
        return F.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none")
    eps = _eps()
    p = y_pred.clamp(eps, 1.0 - eps)
    return -(y_true * torch.log(p) + (1.0 - y_true) * torch.log1p(-p))


def binary_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0,
                        axis: int = -1) -> torch.Tensor:
    """mean(-(y log p + (1 - y) log(1 - p)), axis); probabilities clipped to [eps, 1 - eps]."""
    y_true, y_pred = _pair(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return _bce_elementwise(y_true, y_pred, from_logits).mean(dim=axis)


def binary_focal_crossentropy(y_true: Any, y_pred: Any, apply_class_balancing: bool = False, alpha: float = 0.25,
                              gamma: float = 2.0, from_logits: bool = False, label_smoothing: float = 0.0,
                              axis: int = -1) -> torch.Tensor:
    """Binary cross-entropy scaled by (1 - p_t) ** gamma (and alpha / 1 - alpha when balancing)."""
    y_true, y_pred = _pair(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        y_pred = torch.sigmoid(y_pred)
    bce = _bce_elementwise(y_true, y_pred, False)
    p_t = y_true * y_pred + (1 - y_true) * (1 - y_pred)
    focal = (1.0 - p_t).pow(gamma) * bce
    if apply_class_balancing:
        focal = (y_true * alpha + (1 - y_true) * (1 - alpha)) * focal
    return focal.mean(dim=axis)


def ctc(y_true: Any, y_pred: Any) -> torch.Tensor:
    """CTC loss per sample: `y_true` (batch, max_length) ints with 0 as blank/padding, `y_pred` logits."""
    from kerasish.ops import nn as ops_nn
    from kerasish.ops.dtypes import convert_to_tensor

    y_pred = convert_to_tensor(y_pred)
    y_true = convert_to_tensor(y_true, device=y_pred.device).to(y_pred.device)
    if y_true.dim() != 2:
        raise ValueError("Targets `y_true` are expected to be a tensor of shape `(batch_size, max_length)` in "
                         f"integer format. Received: y_true.shape={tuple(y_true.shape)}")
    if y_pred.dim() != 3:
        raise ValueError("Logits `y_pred` are expected to be a tensor of shape `(batch_size, max_length, "
                         f"num_classes)`. Received: y_pred.shape={tuple(y_pred.shape)}")
    y_true = y_true.long()
    batch, steps = y_pred.shape[0], y_pred.shape[1]
    output_length = torch.full((batch,), steps, dtype=torch.long, device=y_pred.device)
    label_length = (y_true != 0).sum(dim=-1)
    return ops_nn.ctc_loss(y_true, y_pred, label_length, output_length, mask_index=0)


def dice(y_true: Any, y_pred: Any, axis: Axis = None) -> torch.Tensor:
    """1 - 2 * sum(y_true * y_pred) / (sum(y_true) + sum(y_pred) + eps), over `axis` (all axes if None)."""
    y_true, y_pred = _pair(y_true, y_pred, align=False)
    dims = _dims(axis, y_pred)
    inter = (y_true * y_pred).sum(dim=dims)
    return 1 - 2.0 * inter / (y_true.sum(dim=dims) + y_pred.sum(dim=dims) + _eps())


def tversky(y_true: Any, y_pred: Any, alpha: float = 0.5, beta: float = 0.5, axis: Axis = None) -> torch.Tensor:
    """1 - TP / (TP + alpha * FP + beta * FN + eps), over `axis` (all axes if None)."""
    y_true, y_pred = _pair(y_true, y_pred, align=False)
    dims = _dims(axis, y_pred)
    inter = (y_true * y_pred).sum(dim=dims)
    fp = ((1 - y_pred) * y_true).sum(dim=dims)
    fn = (y_pred * (1 - y_true)).sum(dim=dims)
    return 1 - inter / (inter + fp * alpha + fn * beta + _eps())


def _dims(axis: Axis, x: torch.Tensor) -> Tuple[int, ...]:
    if axis is None:
        return tuple(range(x.dim()))
    return (axis,) if isinstance(axis, int) else tuple(axis)


def circle_with_mask(y_true: Any, y_pred: Any, ref_labels: Any = None, ref_embeddings: Any = None,
                     remove_diagonal: bool = True, gamma: float = 80.0,
                     margin: float = 0.4) -> Tuple[torch.Tensor, torch.Tensor]:
    """Circle loss per query embedding, and Keras's mask of the entries that are above 0."""
    from kerasish.ops.dtypes import convert_to_tensor

    y_pred = convert_to_tensor(y_pred)
    if not y_pred.is_floating_point():
        y_pred = y_pred.to(config.floatx_dtype())
    labels = convert_to_tensor(y_true, device=y_pred.device).to(y_pred.device).long().reshape(-1, 1)
    ref = y_pred if ref_embeddings is None else convert_to_tensor(ref_embeddings).to(y_pred.device, y_pred.dtype)
    ref_lab = labels if ref_labels is None else convert_to_tensor(ref_labels).to(y_pred.device).long().reshape(-1, 1)
    dist = (1 - y_pred @ ref.T).clamp_min(0.0)
    pos = labels == ref_lab.T
    neg = ~pos
    if remove_diagonal:
        pos = pos & ~torch.eye(labels.shape[0], ref_lab.shape[0], dtype=torch.bool, device=y_pred.device)
    pos_w = ((margin + dist) * pos).clamp_min(0.0)
    neg_w = ((1 + margin - dist) * neg).clamp_min(0.0)
    pos_wd = -gamma * pos_w * (margin - dist)
    neg_wd = gamma * neg_w * ((1 - margin) - dist)
    p_loss = torch.logsumexp(pos_wd.masked_fill(~pos, float("-inf")), dim=1)
    n_loss = torch.logsumexp(neg_wd.masked_fill(~neg, float("-inf")), dim=1)
    values = F.softplus(p_loss + n_loss)
    return values, values > 0


def circle(y_true: Any, y_pred: Any, ref_labels: Any = None, ref_embeddings: Any = None,
           remove_diagonal: bool = True, gamma: float = 80.0, margin: float = 0.4) -> torch.Tensor:
    """Circle loss (Sun et al., 2020) per query embedding; y_pred holds L2-normalized embeddings."""
    return circle_with_mask(y_true, y_pred, ref_labels, ref_embeddings, remove_diagonal, gamma, margin)[0]


def categorical_generalized_cross_entropy(y_true: Any, y_pred: Any, q: float) -> torch.Tensor:
    """(1 - p ** q) / q, p the predicted probability of the integer label y_true."""
    from kerasish.ops.dtypes import convert_to_tensor

    y_pred = convert_to_tensor(y_pred)
    labels = convert_to_tensor(y_true, device=y_pred.device).to(y_pred.device).long()
    if labels.dim() == y_pred.dim():
        labels = labels.squeeze(-1)
    p = torch.gather(y_pred, -1, labels.unsqueeze(-1)).squeeze(-1)
    return (1 - p.pow(q)) / q


# Keras's short names of the same functions.
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kl_divergence
logcosh = log_cosh
