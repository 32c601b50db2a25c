"""Keras 3's activation layers: `ReLU`, `LeakyReLU`, `PReLU`, `ELU`, `Softmax`.

Each computes exactly what Keras's layer computes, with Keras's arguments, defaults,
checks and configs (`LeakyReLU`'s default slope is 0.3, unlike the 0.2 of the
`leaky_relu` function; Keras 2's `alpha=` is accepted with a warning, as in Keras 3).
"""

from __future__ import annotations

import warnings
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F

from kerasish import constraints, initializers, regularizers
from kerasish.layers.layer import Layer, Shape


def _check_non_negative(layer: str, name: str, value: Any, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(
            f"{layer}: {name} must be a number >= 0{' or None' if allow_none else ''}, received {name}={value!r}."
        )


def relu_formula(x: torch.Tensor, negative_slope: float = 0.0, max_value: Optional[float] = None,
                 threshold: float = 0.0) -> torch.Tensor:
    """Keras's parametrised relu: clip at `max_value`, zero below `threshold`, a leak below it."""
    if negative_slope == 0 and max_value is None and threshold == 0:
        return torch.relu(x)
    if negative_slope != 0 and max_value is None and threshold == 0:
        return F.leaky_relu(x, negative_slope)
    negative_part = torch.relu(threshold - x) if negative_slope != 0 else None
    out = x * (x > threshold) if threshold != 0 else torch.relu(x)
    if max_value is not None:
        out = torch.clamp(out, 0.0, float(max_value))
    if negative_part is not None:
        out = out - negative_slope * negative_part
    return out


class ReLU(Layer):
    """`max(x, 0)`, optionally clipped at `max_value`, thresholded, and leaky below the threshold.

    Args:
        max_value: the largest output, or None for no limit. Defaults to `None`.
        negative_slope: the slope below `threshold`. Defaults to `0.0`.
        threshold: values below it are zero (or leak). Defaults to `0.0`.
    """

    def __init__(self, max_value: Optional[float] = None, negative_slope: float = 0.0, threshold: float = 0.0,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _check_non_negative("ReLU", "max_value", max_value, allow_none=True)
        _check_non_negative("ReLU", "negative_slope", negative_slope)
        _check_non_negative("ReLU", "threshold", threshold)
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold
        self.supports_masking = True
        self.built = True

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return relu_formula(inputs, self.negative_slope, self.max_value, self.threshold)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


class LeakyReLU(Layer):
    """`x` for `x >= 0`, `negative_slope * x` otherwise.

    Args:
        negative_slope: the slope for negative inputs. Defaults to `0.3` (Keras's layer default).
    """

    def __init__(self, negative_slope: float = 0.3, **kwargs: Any) -> None:
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn("LeakyReLU: the argument `alpha` is deprecated (Keras 2); use `negative_slope`.",
                          DeprecationWarning, stacklevel=2)
        super().__init__(**kwargs)
        _check_non_negative("LeakyReLU", "negative_slope", negative_slope)
        self.negative_slope = negative_slope
        self.supports_masking = True
        self.built = True

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(inputs, self.negative_slope)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(Layer):
    """`x` for `x > 0`, `alpha * (exp(x) - 1)` otherwise.

    Args:
        alpha: the scale of the negative part. Defaults to `1.0`.
    """

    def __init__(self, alpha: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
            raise ValueError(f"ELU: alpha must be a number, received alpha={alpha!r}.")
        self.alpha = alpha
        self.supports_masking = True
        self.built = True

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return F.elu(inputs, self.alpha)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def get_config(self) -> Dict[str, Any]:
        # Keras 3's ELU does not save alpha (a reloaded Keras layer falls back to 1.0); kerasish does.
        return {**super().get_config(), "alpha": self.alpha}


class PReLU(Layer):
    """A leaky relu whose negative slope `alpha` is learned, one per input entry (or shared along axes).

    Args:
        alpha_initializer: initial slopes. Defaults to `"Zeros"`.
        alpha_regularizer: regularizer for `alpha`. Defaults to `None`.
        alpha_constraint: constraint for `alpha`. Defaults to `None`.
        shared_axes: axes (1-based, as in the input shape with its batch axis) along which
            one slope is shared, e.g. `[1, 2]` for one slope per channel of an image.
            Defaults to `None`.
    """

    def __init__(self, alpha_initializer: Any = "Zeros", alpha_regularizer: Any = None,
                 alpha_constraint: Any = None, shared_axes: Union[int, Sequence[int], None] = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self._alpha_initializer_arg = alpha_initializer
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        if shared_axes is None:
            self.shared_axes: Optional[List[int]] = None
        else:
            axes = [shared_axes] if isinstance(shared_axes, int) else list(shared_axes)
            if not all(isinstance(a, int) and not isinstance(a, bool) and a >= 1 for a in axes):
                raise ValueError(
                    f"PReLU: shared_axes must be axis numbers >= 1 (axis 0 is the batch), received {shared_axes!r}. "
                    "Example: shared_axes=[1, 2] shares one slope per channel of (batch, h, w, c) images."
                )
            self.shared_axes = axes
        self.supports_masking = True

    def build(self, input_shape: Shape) -> None:
        shape = list(input_shape[1:])
        for axis in self.shared_axes or []:
            if axis > len(shape):
                raise ValueError(
                    f"PReLU: shared_axes {self.shared_axes} name axis {axis}, but the input has {len(shape) + 1} axes "
                    f"(shape {tuple(input_shape)}). Use axes between 1 and {len(shape)}."
                )
            shape[axis - 1] = 1
        if any(d is None for d in shape):
            raise ValueError(
                f"PReLU needs every non-shared input axis to be known; received input shape {tuple(input_shape)}. "
                "Share the unknown axes with shared_axes=[...]."
            )
        self.alpha = self.add_weight(shape=tuple(shape), name="alpha", initializer=self.alpha_initializer,
                                     regularizer=self.alpha_regularizer, constraint=self.alpha_constraint)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return torch.relu(inputs) - self.alpha * torch.relu(-inputs)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def get_config(self) -> Dict[str, Any]:
        return {
            **super().get_config(),
            "alpha_initializer": initializers.serialize(self._alpha_initializer_arg),
            "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
            "alpha_constraint": constraints.serialize(self.alpha_constraint),
            "shared_axes": self.shared_axes,
        }


def _large_negative(dtype: torch.dtype) -> float:
    return -3e4 if dtype == torch.float16 else -1e9


class Softmax(Layer):
    """Softmax over `axis` (an int or several axes), with an optional mask of the entries to keep.

    Call arguments:
        inputs: the logits.
        mask: booleans (or numbers, kept where > 0.5) broadcastable to `inputs`; masked
            entries get probability 0. Defaults to `None`.
    """

    def __init__(self, axis: Union[int, Sequence[int]] = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        axes = [axis] if isinstance(axis, int) else list(axis) if isinstance(axis, (list, tuple)) else None
        if not axes or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
            raise ValueError(f"Softmax: axis must be an int or a list of ints, received axis={axis!r}.")
        self.axis = axis
        self.supports_masking = True
        self.built = True

    def call(self, inputs: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        if not inputs.is_floating_point():
            raise TypeError(f"Softmax expects float inputs, received dtype {str(inputs.dtype).replace('torch.', '')}. "
                            "Cast the logits to float first.")
        if mask is not None:
            mask = torch.as_tensor(mask, device=inputs.device)
            if mask.dim() > inputs.dim() or any(
                    m != 1 and m != i for m, i in zip(reversed(mask.shape), reversed(inputs.shape))):
                raise ValueError(
                    "Softmax: the mask must broadcast to the inputs (each mask axis 1 or equal to the input's, and "
                    f"no more axes); received inputs.shape={tuple(inputs.shape)}, mask.shape={tuple(mask.shape)}."
                )
            if mask.dtype != torch.bool:
                mask = mask > 0.5
            inputs = torch.where(mask, inputs, torch.tensor(_large_negative(inputs.dtype), dtype=inputs.dtype,
                                                            device=inputs.device))
        if isinstance(self.axis, (list, tuple)) and len(self.axis) > 1:
            out = torch.exp(inputs - torch.logsumexp(inputs, dim=tuple(self.axis), keepdim=True))
        else:
            axis = self.axis[0] if isinstance(self.axis, (list, tuple)) else self.axis
            out = torch.softmax(inputs, dim=axis)
        if mask is not None:
            out = torch.where(mask, out, torch.zeros((), dtype=out.dtype, device=out.device))
        return out

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return mask

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}
