"""`Metric`, `Mean`, `Sum` and `MeanMetricWrapper`: state on the device, read once per epoch.

A metric's state lives in tensors on its device; `update_state` adds to them without any
host synchronisation, and `result()` returns a tensor. The training loop converts results
to Python floats once per epoch (or when a callback reads them).

Standalone, metrics accept what Keras's accept: tensors, NumPy arrays, Python lists and
scalars (`Mean().update_state(3)`). A metric not yet moved with `.to(device)` adopts the
device of the first tensor it sees.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from kerasish.layers.layer import to_snake_case
from kerasish.losses.functions import squeeze_or_expand_to_same_rank


class Metric:
    """Base class. Subclasses implement `update_state` and `result`, and keep state made
    with `add_variable` (then `reset_state` is inherited) or implement `reset_state`.

    Args:
        dtype: the dtype of the state and results. Defaults to `None` (float32).
        name: the key the metric has in `logs`. Defaults to `None` (the snake_case class name).

    Example:
        >>> class Count(Metric):
        ...     def __init__(self, name="count", dtype=None):
        ...         super().__init__(name=name, dtype=dtype)
        ...         self.n = self.add_variable((), "zeros", name="n")
        ...     def update_state(self, y_true, y_pred, sample_weight=None):
        ...         self.n.add_(len(y_true))
        ...     def result(self):
        ...         return self.n.clone()
        >>> m = Count(); m.update_state([1, 2], [1, 2]); float(m.result())
        2.0
    """

    #: True when the metric gives the same value on logits as on probabilities
    #: (argmax-based metrics), so the fused training step can skip the activation.
    logits_invariant = False

    #: set on metrics given as compile(weighted_metrics=...): they see sample/class weights.
    weighted = False

    def __init__(self, dtype: Optional[str] = None, name: Optional[str] = None) -> None:
        self.name = name or to_snake_case(type(self).__name__)
        self.device = torch.device("cpu")
        self._dtype = dtype
        self._variables: list = []
        self._placed = False

    @property
    def dtype(self) -> str:
        return self._dtype or "float32"

    @property
    def _torch_dtype(self) -> torch.dtype:
        from kerasish.ops.dtypes import to_torch_dtype

        return to_torch_dtype(self.dtype)

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
        """Moves the state to `device` and resets it."""
        self.device = torch.device(device)
        self._placed = True
        for v in self.variables:
            v.data = v.data.to(self.device)
        self.reset_state()
        return self

    def _inputs(self, *xs: Any) -> List[Any]:
        """Tensors for `xs` (None stays None) on the metric's device, detached.

        The first call of a metric never moved with `.to()` moves it to its inputs' device.
        """
        from kerasish.ops.dtypes import convert_to_tensor

        first = next((x for x in xs if isinstance(x, torch.Tensor)), None)
        if not getattr(self, "_placed", True):
            self._placed = True
            if first is not None and first.device != self.device:
                self.to(first.device)
        out = []
        for x in xs:
            if x is None:
                out.append(None)
            elif isinstance(x, torch.Tensor):
                out.append(x.detach() if x.device == self.device else x.detach().to(self.device))
            else:
                out.append(convert_to_tensor(x, device=self.device))
        return out

    def update_state(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover
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
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Metric":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


def device_constant(holder: Any, name: str, values: Any, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """`torch.tensor(values)` on `device` in `dtype`, made once per (name, device, dtype) and kept on
    `holder` (a metric or its helper): a host-to-device copy per batch would make the host wait for
    the GPU. `values` are constants of the holder (thresholds, class ids, label weights), or a function
    giving them: under `torch.compile` a value the call reads (a NumPy array, say) is traced and guarded
    even when the tensor is cached, so give a function for anything but plain Python numbers."""
    cache = holder.__dict__.setdefault("_device_constants", {})
    key = (name, device, dtype)
    tensor = cache.get(key)
    if tensor is None:
        with torch.inference_mode(False):  # a normal tensor even when first made during predict
            tensor = cache[key] = torch.tensor(values() if callable(values) else values, dtype=dtype, device=device)
    return tensor


def _accumulator_dtype(device: torch.device) -> torch.dtype:
    # float64 where it is cheap (CPU): long epochs of float32 sums lose the last digits.
    return torch.float64 if device.type == "cpu" else torch.float32


def reduce_to_samplewise_values(values: torch.Tensor, sample_weight: Optional[torch.Tensor],
                                mask: Optional[torch.Tensor] = None,
                                reduce: str = "mean") -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Keras's reduction of metric values to one value per sample (and one weight per sample).

    Values with more axes than the weights are averaged (summed for `Sum`) over the extra
    trailing axes; weights with several axes are averaged over all but the first. A mask
    only applies together with sample weights, as in Keras.
    """
    def red(x: torch.Tensor, dims: List[int]) -> torch.Tensor:
        return x.mean(dim=dims) if reduce == "mean" else x.sum(dim=dims)

    if sample_weight is not None:
        sample_weight = sample_weight.to(values.dtype)
        if mask is not None:
            m, sample_weight = squeeze_or_expand_to_same_rank(mask.to(values.dtype), sample_weight)
            sample_weight = sample_weight * m
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        w_nd, v_nd = sample_weight.dim(), values.dim()
        if v_nd > w_nd:
            values = red(values, list(range(w_nd, v_nd)))
        sample_weight = torch.broadcast_to(sample_weight, values.shape)
        values = values * sample_weight
        if w_nd > 1:
            sample_weight = red(sample_weight, list(range(1, w_nd)))
    if values.dim() > 1:
        values = red(values, list(range(1, values.dim())))
    return values, sample_weight


class Mean(Metric):
    """The (sample-weighted) mean of the values given to `update_state`.

    Args:
        name: Defaults to `"mean"`.
        dtype: Defaults to `None` (float32).

    Example:
        >>> m = Mean(); m.update_state([1, 3, 5, 7]); float(m.result())
        4.0
    """

    def __init__(self, name: str = "mean", dtype: Optional[str] = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def reset_state(self) -> None:
        total = getattr(self, "total", None)
        if total is not None and total.device == self.device:
            # Reuse the accumulators (no allocation per epoch).
            self.total.zero_()
            self.count.zero_()
            return
        self.total = torch.zeros((), dtype=_accumulator_dtype(self.device), device=self.device)
        self.count = torch.zeros_like(self.total)

    def update_state(self, values: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        if (sample_weight is None and type(values) is torch.Tensor and values.dim() == 0
                and values.is_floating_point() and values.device == self.device
                and type(self)._update is Mean._update and getattr(self, "_placed", True)):
            # One scalar (a custom train_step's `loss_tracker.update_state(loss)`, every batch):
            # two in-place adds, the same sums as the general path without its five kernels.
            self.total.add_(values.detach())
            self.count += 1
            return
        values, sample_weight = self._inputs(values, sample_weight)
        self._update(values, sample_weight)

    def _update(self, values: torch.Tensor, sample_weight: Optional[torch.Tensor],
                mask: Optional[torch.Tensor] = None) -> None:
        if not values.is_floating_point():
            values = values.to(self._torch_dtype)
        values, sample_weight = reduce_to_samplewise_values(values, sample_weight, mask)
        self.total += values.sum().to(self.total.dtype)
        if sample_weight is not None:
            self.count += sample_weight.sum().to(self.total.dtype)
        else:
            self.count += values.shape[0] if values.dim() else 1

    def result(self) -> torch.Tensor:
        # Keras's divide_no_nan: no data gives 0. (float64 on CPU, see _accumulator_dtype.)
        return self.total / self.count.clamp_min(1e-12)

    def add_mean(self, batch_mean: torch.Tensor, n: int) -> None:
        """Adds a batch mean over `n` samples (the loss tracker: one fused op, no allocation)."""
        self.total.add_(batch_mean.detach(), alpha=n)
        self.count += n


class Sum(Metric):
    """The (sample-weighted) sum of the values given to `update_state`.

    Args:
        name: Defaults to `"sum"`.
        dtype: Defaults to `None` (float32).
    """

    def __init__(self, name: str = "sum", dtype: Optional[str] = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), "zeros", dtype=self.dtype, name="total")

    def update_state(self, values: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        values, sample_weight = self._inputs(values, sample_weight)
        values, _ = reduce_to_samplewise_values(values.to(self._torch_dtype), sample_weight, reduce="sum")
        self.total.add_(values.sum())

    def result(self) -> torch.Tensor:
        return self.total.clone()


class MeanMetricWrapper(Mean):
    """The mean over samples of `fn(y_true, y_pred, **kwargs)`.

    Args:
        fn: a function returning one value per sample (or per entry).
        name: Defaults to `None` ("mean_metric_wrapper"; compile names it after `fn`).
        dtype: Defaults to `None` (float32).
        **kwargs: passed to `fn` on every call.

    Example:
        >>> import kerasish
        >>> m = MeanMetricWrapper(kerasish.losses.mean_absolute_error)
        >>> m.update_state([[0.0, 1.0]], [[1.0, 1.0]]); float(m.result())
        0.5
    """

    def __init__(self, fn: Callable[..., torch.Tensor], name: Optional[str] = None, dtype: Optional[str] = None,
                 **kwargs: Any) -> None:
        super().__init__(name=name or "mean_metric_wrapper", dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    @property
    def fn(self) -> Callable[..., torch.Tensor]:
        return self._fn

    @property
    def fn_kwargs(self) -> Dict[str, Any]:
        return self._fn_kwargs

    def _values(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """The function's values, and a mask when the function marks some as ignored."""
        return self._fn(y_true, y_pred, **self._fn_kwargs), None

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        y_true, y_pred, sample_weight = self._inputs(y_true, y_pred, sample_weight)
        if not y_pred.is_floating_point() and not y_true.is_floating_point():
            y_pred = y_pred.to(self._torch_dtype)
        values, mask = self._values(y_true, y_pred)
        if not isinstance(values, torch.Tensor):
            values = self._inputs(values)[0]
        self._update(values.detach(), sample_weight, mask)

    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        if type(self) is MeanMetricWrapper:
            config["fn"] = getattr(self._fn, "__name__", repr(self._fn))
        config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Metric":
        if cls is MeanMetricWrapper and isinstance(config.get("fn"), str):
            from kerasish import losses

            config = {**config, "fn": losses.function(config["fn"])}
        return cls(**config)
