"""Normalization: shifts and scales features to mean 0 and variance 1, as Keras's layer."""

from __future__ import annotations

import math
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from kerasish import config as _config
from kerasish.layers.layer import Shape
from kerasish.layers.layer_utils import _torch_dtype
from kerasish.layers.preprocessing.base import PreprocessingLayer


def _axes(axis: Any) -> Tuple[int, ...]:
    if axis is None:
        return ()
    if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
        return (int(axis),)
    if isinstance(axis, (list, tuple)) and all(isinstance(a, (int, np.integer)) and not isinstance(a, bool)
                                               for a in axis):
        return tuple(int(a) for a in axis)
    raise ValueError(
        f"Normalization received axis={axis!r}; expected None, an int or a tuple of ints. "
        "Pass axis=-1 to normalise each feature of the last axis, or axis=None for one mean and variance."
    )


_NO_VARIANCE = (
    "Normalization {name!r} has no `variance` yet: it is made when the layer is built. Call "
    "layer.adapt(data), layer.build(input_shape) or the layer on an input first (`layer.mean` reads "
    "None until then, as in Keras)."
)


class Normalization(PreprocessingLayer):
    """Normalizes features to `(x - mean) / sqrt(variance)`, with statistics from `adapt` or given.

    `adapt(data)` computes a mean and a variance for each index of the kept `axis`, combining
    batches exactly as Keras does (a running weighted mean and the lack-of-fit sum of squares),
    and stores them as the non-trainable weights `adapt_mean`, `adapt_variance` and `count`
    (named 'mean', 'variance', 'count', as in Keras), so they are saved with the model and
    returned by `get_weights()` in Keras's order.

    As in Keras, `layer.mean` is `None` until the layer is built, and then (like `layer.variance`)
    a tensor of the input's rank that broadcasts against it: shape `(1, 4)` for `axis=-1` on
    inputs of shape `(batch, 4)`. `layer.variance` does not exist before the build, as in Keras.

    Args:
        axis: the axis or axes that keep their own statistics; the others are reduced.
            `None` gives one scalar mean and variance. Defaults to `-1`.
        mean: the mean, broadcast to the kept axes, instead of `adapt`. Defaults to `None`.
        variance: the variance, given together with `mean`. Defaults to `None`.
        invert: apply the inverse, `mean + x * sqrt(variance)`. Defaults to `False`.
        **kwargs: `name`, `dtype`, `input_shape`, as for every layer.

    Example:
        >>> layer = Normalization(axis=None)
        >>> layer.adapt(np.array([1.0, 2.0, 3.0, 4.0, 5.0], dtype="float32"))
        >>> layer(np.array([1.0, 2.0, 3.0], dtype="float32")).tolist()
        [-1.4142135381698608, -0.7071067690849304, 0.0]
    """

    def __init__(self, axis: Union[int, Sequence[int], None] = -1, mean: Any = None, variance: Any = None,
                 invert: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = _axes(axis)
        if (mean is None) != (variance is None):
            raise ValueError(
                f"Normalization needs mean and variance together; received mean={mean!r} and "
                f"variance={variance!r}. Pass both, or neither and call adapt(data)."
            )
        if mean is not None:
            if np.shape(mean) != np.shape(variance):
                raise ValueError(
                    f"Normalization: mean and variance must have the same shape; received mean of shape "
                    f"{np.shape(mean)} and variance of shape {np.shape(variance)}. Pass arrays of one shape."
                )
            if len(np.shape(mean)) > len(self.axis):
                raise ValueError(
                    f"Normalization: mean has rank {len(np.shape(mean))}, more than the {len(self.axis)} kept "
                    f"axes of axis={axis!r}. Pass a mean of rank <= {len(self.axis)}, or keep more axes."
                )
        self.input_mean = mean
        self.input_variance = variance
        self.invert = bool(invert)
        self.supports_masking = True
        self._is_adapted = mean is not None

    # ------------------------------------------------------------------ building
    def build(self, input_shape: Shape) -> None:
        ndim = len(input_shape)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError(
                f"Normalization: every axis must lie in [-{ndim}, {ndim}) for inputs of shape "
                f"{tuple(input_shape)}; received axis={self.axis}. Pass an axis of the input."
            )
        keep = tuple(sorted(a % ndim for a in self.axis))
        unknown = [d for d in keep if input_shape[d] is None]
        if unknown:
            raise ValueError(
                f"Normalization: the kept axis {unknown[0]} of input shape {tuple(input_shape)} has an unknown "
                f"size (axis={self.axis}). Adapt on data first (its batch fixes the size), give the model a full "
                "input_shape, or pass axis=None."
            )
        self._keep_axis = keep
        self._reduce_axis = tuple(d for d in range(ndim) if d not in keep)
        self._broadcast_shape = tuple(input_shape[d] if d in keep else 1 for d in range(ndim))
        stat_shape = tuple(input_shape[d] for d in keep)
        if self.input_mean is None:
            # Registered under the keys 'mean' and 'variance' (the state_dict keys files hold), read
            # through `adapt_mean`/`adapt_variance`: `mean`/`variance` are Keras's broadcast views.
            self.add_weight(name="mean", shape=stat_shape, initializer="zeros", trainable=False)
            self.add_weight(name="variance", shape=stat_shape, initializer="ones", trainable=False)
            self.count = self.add_weight(name="count", shape=(), dtype="int32", initializer="zeros",
                                         trainable=False)
        else:
            # Plain tensors, not weights or buffers: given statistics are config, and Keras's layer
            # then holds no weights (get_weights() is empty, as there).
            self._mean_const = self._broadcast_given(self.input_mean, ndim)
            self._variance_const = self._broadcast_given(self.input_variance, ndim)

    def _broadcast_given(self, value: Any, ndim: int) -> torch.Tensor:
        t = torch.as_tensor(np.asarray(value), dtype=_torch_dtype(self.dtype))
        if t.dim() > 0:
            # Align the given dimensions with the kept axes, from the right.
            shape = [1] * ndim
            for i in range(1, t.dim() + 1):
                shape[self._keep_axis[-i]] = t.shape[-i]
            t = t.reshape(shape)
        try:
            return t.broadcast_to(self._broadcast_shape).clone()
        except RuntimeError:
            raise ValueError(
                f"Normalization: the given mean/variance of shape {tuple(np.shape(value))} cannot be broadcast "
                f"to the kept axes' shape {self._broadcast_shape}. Pass one value per kept index, or a scalar."
            ) from None

    # ------------------------------------------------------------------ statistics
    @property
    def adapt_mean(self) -> Any:
        """The adapted mean, a weight of the kept axes' shape (made by the build; absent when
        `mean=` was given, as in Keras)."""
        return self._statistic("mean")

    @property
    def adapt_variance(self) -> Any:
        """The adapted variance, a weight of the kept axes' shape (as `adapt_mean`)."""
        return self._statistic("variance")

    def _statistic(self, key: str) -> Any:
        weight = self._parameters.get(key)
        if weight is None:
            raise AttributeError(
                f"Normalization {self.name!r} has no `adapt_{key}`: "
                + ("it was given mean= and variance=, which it keeps as `mean` and `variance`."
                   if self.input_mean is not None else
                   "it is made when the layer is built. Call layer.adapt(data) or layer.build(input_shape) first.")
            )
        return weight

    @property
    def mean(self) -> Optional[torch.Tensor]:
        """The mean in the input's rank (broadcastable against it), or `None` before the build."""
        if not self.built:
            return None
        if self.input_mean is not None:
            return self._mean_const
        return self.adapt_mean.detach().reshape(self._broadcast_shape)

    @property
    def variance(self) -> torch.Tensor:
        """The variance in the input's rank (broadcastable against it); made by the build."""
        if not self.built:
            # Keras's layer has no `variance` before its build either (its `mean` reads None).
            raise AttributeError(_NO_VARIANCE.format(name=self.name))
        if self.input_variance is not None:
            return self._variance_const
        return self.adapt_variance.detach().reshape(self._broadcast_shape)

    def register_parameter(self, name: str, param: Any) -> None:
        if name in ("mean", "variance") and param is not None and name not in self._parameters:
            # torch refuses a parameter whose name an attribute already answers; here that is the
            # read-only `mean`/`variance` view above, so claim the key first (order is kept).
            self._parameters[name] = None
        super().register_parameter(name, param)

    def __getattr__(self, name: str) -> Any:
        # Reached when a property above raises: keep its message instead of torch's generic one.
        if name == "variance" and not self.__dict__.get("built", False):
            raise AttributeError(_NO_VARIANCE.format(name=self.__dict__.get("name")))
        if name in ("adapt_mean", "adapt_variance") and "_parameters" in self.__dict__:
            return self._statistic(name[len("adapt_"):])
        return super().__getattr__(name)

    # ------------------------------------------------------------------ adapt
    def adapt(self, data: Any, batch_size: Optional[int] = None, steps: Optional[int] = None) -> None:
        """Computes the mean and variance of `data` over the reduced axes (see the base class)."""
        if self.input_mean is not None:
            raise ValueError(
                f"Normalization {self.name!r} was given mean= and variance=, so adapt() has nothing to learn. "
                "Create the layer without them to learn the statistics from data."
            )
        super().adapt(data, batch_size, steps)

    def reset_state(self) -> None:
        self._total: Optional[Tuple[torch.Tensor, torch.Tensor, int]] = None

    def update_state(self, data: Any) -> None:
        as_array = isinstance(data, np.ndarray) and data.dtype.kind in "fiub"
        shape = tuple(data.shape) if hasattr(data, "shape") else np.shape(data)
        if not self.built:
            self.build(shape)
        for d in self._keep_axis:
            if d >= len(shape) or shape[d] != self._broadcast_shape[d]:
                raise ValueError(
                    f"Normalization {self.name!r} keeps statistics for shape {self._broadcast_shape} (axis="
                    f"{self.axis}) but adapt() received a batch of shape {shape}. Pass batches whose kept axes "
                    "match the layer's input."
                )
        if as_array:
            # Keras reduces a NumPy array with NumPy, in the array's own precision.
            batch_mean = torch.as_tensor(np.mean(data, axis=self._reduce_axis), dtype=torch.float32)
            batch_var = torch.as_tensor(np.var(data, axis=self._reduce_axis), dtype=torch.float32)
        else:
            batch = torch.as_tensor(np.asarray(data) if not isinstance(data, torch.Tensor) else data,
                                    dtype=torch.float32).cpu()
            batch_mean = batch.mean(dim=self._reduce_axis) if self._reduce_axis else batch
            batch_var = batch.var(dim=self._reduce_axis, correction=0) if self._reduce_axis \
                else torch.zeros_like(batch)
        count = math.prod(shape[d] for d in self._reduce_axis) if self._reduce_axis else 1
        if self._total is None:
            zeros = torch.zeros_like(batch_mean)
            self._total = (zeros, zeros.clone(), 0)
        mean, var, n = self._total
        n += count
        w_new = float(count) / n
        w_old = 1.0 - w_new
        new_mean = mean * w_old + batch_mean * w_new
        # Lack-of-fit sum of squares: each part's variance plus its mean's squared distance.
        var = (var + (mean - new_mean) ** 2) * w_old + (batch_var + (batch_mean - new_mean) ** 2) * w_new
        self._total = (new_mean, var, n)

    def finalize_state(self) -> None:
        mean, var, _ = self._total
        with torch.no_grad():
            self.adapt_mean.copy_(mean.reshape(self.adapt_mean.shape))
            self.adapt_variance.copy_(var.reshape(self.adapt_variance.shape))
        self._total = None

    # ------------------------------------------------------------------ calling
    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.input_mean is None:
            mean = self.adapt_mean.reshape(self._broadcast_shape)
            variance = self.adapt_variance.reshape(self._broadcast_shape)
        else:
            if self._mean_const.device != inputs.device:
                self._mean_const = self._mean_const.to(inputs.device)
                self._variance_const = self._variance_const.to(inputs.device)
            mean, variance = self._mean_const, self._variance_const
        x = inputs if inputs.is_floating_point() else inputs.to(mean.dtype)
        scale = torch.clamp(torch.sqrt(variance), min=_config.epsilon())
        if self.invert:
            return mean + x * scale
        return (x - mean) / scale

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        config.update(
            axis=list(self.axis),
            mean=None if self.input_mean is None else np.asarray(self.input_mean).tolist(),
            variance=None if self.input_variance is None else np.asarray(self.input_variance).tolist(),
            invert=self.invert,
        )
        return config
