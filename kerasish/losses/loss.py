"""The `Loss` base class and Keras 3's reduction of weighted loss values.

`Loss.__call__(y_true, y_pred, sample_weight)` converts NumPy arrays, lists and scalars
to tensors, computes the unreduced values with `call`, then reduces them as Keras 3 does:

- `"sum_over_batch_size"` (the default) and `"mean"`: `sum(w * values) / values.numel()`,
  that is, divided by the number of values, not by the sum of the weights;
- `"mean_with_sample_weight"`: `sum(w * values) / sum(w)`;
- `"sum"`: `sum(w * values)`; `"none"` / `None`: `w * values`, unreduced.

A loss may mark some values as masked (`SparseCategoricalCrossentropy(ignore_class=...)`,
`Circle`): masked values get weight 0, and the mean reductions divide by the number of
kept values instead of all of them, as Keras's loss mask does.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch

from kerasish.config import floatx
from kerasish.losses.functions import squeeze_or_expand_to_same_rank

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


def standardize_reduction(reduction: Any) -> Any:
    """Returns `reduction` if Keras knows it.

    Raises:
        ValueError: for anything else, listing the valid values.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"Invalid value for argument `reduction`. Expected one of {list(REDUCTIONS)}. Received: "
            f"reduction={reduction!r}")
    return reduction


def _align_weight(values: torch.Tensor, weight: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    values, weight = squeeze_or_expand_to_same_rank(values, weight)
    # Per-sample weights of per-entry values ((N,) weights, (N, T) values): Keras broadcasts
    # against the trailing axes and fails unless T == N; weighting each sample's entries is meant.
    if 0 < weight.dim() < values.dim() and tuple(weight.shape) == tuple(values.shape[:weight.dim()]):
        weight = weight.reshape(tuple(weight.shape) + (1,) * (values.dim() - weight.dim()))
    return values, weight


def apply_mask(sample_weight: Optional[torch.Tensor], mask: Optional[torch.Tensor], dtype: torch.dtype,
               reduction: Any) -> Optional[torch.Tensor]:
    """Folds a loss mask into the sample weights.

    For the mean reductions kept values get weight `total / kept`, so that dividing by
    the number of values divides by the number of kept values.
    """
    if mask is None:
        return sample_weight
    if reduction in ("mean", "sum_over_batch_size"):
        kept = mask.sum().to(dtype)
        scale = torch.where(kept > 0, mask.numel() / kept.clamp_min(1), torch.zeros_like(kept))
        float_mask = torch.where(mask, scale, torch.zeros((), dtype=dtype, device=mask.device))
    else:
        float_mask = mask.to(dtype)
    if sample_weight is None:
        return float_mask
    float_mask, sample_weight = _align_weight(float_mask, sample_weight.to(dtype))
    return sample_weight * float_mask


def reduce_values(values: torch.Tensor, sample_weight: Optional[torch.Tensor], reduction: Any) -> torch.Tensor:
    """Sums `values` and divides per `reduction` (values are already weighted)."""
    if reduction is None or reduction == "none" or values.dim() == 0 or tuple(values.shape) == (0,):
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    if reduction != "mean_with_sample_weight" or sample_weight is None:
        count = values.numel()  # host metadata: no device work for the common reductions
        return total / count if count else torch.zeros_like(total)
    divisor = sample_weight.sum().to(total.dtype)
    # Keras's divide_no_nan: a zero divisor gives 0.
    return torch.where(divisor != 0, total / torch.where(divisor != 0, divisor, torch.ones_like(divisor)),
                       torch.zeros_like(total))


_STANDARD = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none")


def reduce_weighted_values(values: torch.Tensor, sample_weight: Optional[torch.Tensor] = None,
                           mask: Optional[torch.Tensor] = None,
                           reduction: Any = "sum_over_batch_size") -> torch.Tensor:
    """Keras 3's loss reduction: apply the mask and the sample weights, then reduce."""
    if reduction not in _STANDARD:
        reduction = standardize_reduction(reduction)
    if sample_weight is None and mask is None:
        return reduce_values(values, None, reduction)
    if sample_weight is not None:
        sample_weight = sample_weight.to(values.device, values.dtype)
    sample_weight = apply_mask(sample_weight, mask, values.dtype, reduction)
    if sample_weight is not None:
        values, sample_weight = _align_weight(values, sample_weight.to(values.dtype))
        values = values * sample_weight
    return reduce_values(values, sample_weight, reduction)


class Loss:
    """Base class of the losses: subclasses implement `call(y_true, y_pred)`.

    `call` returns the unreduced values (one per sample, or per entry); `__call__`
    converts NumPy/list inputs to tensors, applies `sample_weight` and the reduction.

    Args:
        name: the loss's name. Defaults to `None` (the snake_case class name).
        reduction: `"sum_over_batch_size"`, `"sum"`, `"mean"`, `"mean_with_sample_weight"`,
            `"none"` or `None` (see the module docstring). Defaults to `"sum_over_batch_size"`.
        dtype: the dtype inputs are converted to. Defaults to `None` (floatx).

    Raises:
        ValueError: for an unknown `reduction`.

    Example:
        >>> class Scaled(Loss):
        ...     def call(self, y_true, y_pred):
        ...         return 2.0 * (y_true - y_pred).abs().mean(dim=-1)
        >>> float(Scaled()([[0.0, 1.0]], [[1.0, 1.0]]))
        1.0
    """

    #: 'softmax' or 'sigmoid' when the loss has a logits form the step may fuse.
    fuses: Optional[str] = None

    def __init__(self, name: Optional[str] = None, reduction: Any = "sum_over_batch_size",
                 dtype: Optional[str] = None) -> None:
        self.name = name or _default_name(type(self).__name__)
        self.reduction = standardize_reduction(reduction)
        self.dtype = dtype

    def per_sample(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        """The unreduced values (kept for code written against kerasish's earlier name)."""
        if type(self).call is Loss.call:
            raise NotImplementedError(
                f"{type(self).__name__} must implement call(self, y_true, y_pred) returning the unreduced losses.")
        return self.call(y_true, y_pred)

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        """The unreduced losses (Keras 3's method name)."""
        return self.per_sample(y_true, y_pred)

    def _values_and_mask(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> Tuple[torch.Tensor, Any]:
        return self.call(y_true, y_pred), None

    def per_sample_logits(self, y_true: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no logits form.")

    def _logits_mask(self, y_true: torch.Tensor, logits: torch.Tensor) -> Optional[torch.Tensor]:
        return None

    def reduced_logits(self, y_true: torch.Tensor, logits: torch.Tensor,
                       sample_weight: Optional[torch.Tensor]) -> torch.Tensor:
        """The reduced loss from logits (the fused training path)."""
        return reduce_weighted_values(self.per_sample_logits(y_true, logits), sample_weight,
                                      self._logits_mask(y_true, logits), self.reduction)

    def reduce(self, values: torch.Tensor, sample_weight: Optional[torch.Tensor]) -> torch.Tensor:
        """Applies `sample_weight` and this loss's reduction to unreduced `values`."""
        return reduce_weighted_values(values, sample_weight, None, self.reduction)

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
        if not isinstance(y_pred, torch.Tensor) or not isinstance(y_true, torch.Tensor) or (
                sample_weight is not None and not isinstance(sample_weight, torch.Tensor)):
            y_true, y_pred, sample_weight = self._to_tensors(y_true, y_pred, sample_weight)
        values, mask = self._values_and_mask(y_true, y_pred)
        if not isinstance(values, torch.Tensor):
            from kerasish.ops.dtypes import convert_to_tensor

            values = convert_to_tensor(values, dtype=self.dtype or floatx())
        return reduce_weighted_values(values, sample_weight, mask, self.reduction)

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

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


def _default_name(cls_name: str) -> str:
    from kerasish.layers.layer import to_snake_case

    return to_snake_case(cls_name)
