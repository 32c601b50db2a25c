"""Normalization layers beyond Batch/LayerNormalization: GroupNormalization, UnitNormalization,
RMSNormalization and the SpectralNormalization wrapper, with Keras 3's arguments and weights."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Union

import torch

from kerasish import constraints, initializers, regularizers
from kerasish.layers.layer import Layer, Shape
from kerasish.layers.weight_layout import layouts_under
from kerasish.ops import nn as ops_nn

Axis = Union[int, Sequence[int]]


def _check_axes(layer: Layer, axis: Axis, input_shape: Shape) -> None:
    """Keras's out-of-bounds message for an `axis` (int or list) that the input does not have."""
    for a in ([axis] if isinstance(axis, int) else axis):
        if a >= len(input_shape) or a < -len(input_shape):
            raise ValueError(
                f"{type(layer).__name__}: axis {a} is out of bounds for input shape {tuple(input_shape)}. "
                f"Received: axis={axis}. Pick an axis in [-{len(input_shape)}, {len(input_shape) - 1}]."
            )


def _int_or_ints(axis: Any, where: str) -> Axis:
    if isinstance(axis, int) and not isinstance(axis, bool):
        return axis
    if isinstance(axis, (list, tuple)) and all(isinstance(a, int) and not isinstance(a, bool) for a in axis):
        return list(axis)
    raise TypeError(
        f"{where}: axis must be an int or a list/tuple of ints, received axis={axis!r} "
        f"(of type {type(axis).__name__}). Example: axis=-1."
    )


class GroupNormalization(Layer):
    """Normalizes each sample over groups of channels (`groups=-1`: instance normalization).

    The channels along `axis` are split into `groups` groups; each group of each sample is
    normalized by its own mean and variance, then scaled by `gamma` and shifted by `beta`
    (one value per channel). The weights are created in Keras's order, `gamma` then `beta`.

    Args:
        groups: number of groups; must divide the channel count, or `-1` for one group per
            channel. Defaults to `32`.
        axis: the channel axis. Defaults to `-1`.
        epsilon: added to the variance. Defaults to `1e-3`.
        center: learn the offset `beta`. Defaults to `True`.
        scale: learn the factor `gamma`. Defaults to `True`.
        beta_initializer: Defaults to `'zeros'`.
        gamma_initializer: Defaults to `'ones'`.
        beta_regularizer: Defaults to `None`.
        gamma_regularizer: Defaults to `None`.
        beta_constraint: Defaults to `None`.
        gamma_constraint: Defaults to `None`.
        **kwargs: `input_shape`, `name`, `dtype`, `trainable`.

    Raises:
        ValueError: for `groups` that is not a positive int or -1, or (when built) a channel
            count that is unknown, smaller than `groups` or not a multiple of it.

    Example:
        >>> layer = GroupNormalization(groups=2)
        >>> layer(torch.randn(3, 5, 4)).shape, layer.count_params()
        (torch.Size([3, 5, 4]), 8)
    """

    _convert_input_args = False  # as Keras (autocast=False): call() upcasts, see there

    supports_masking = True

    _weights_made_by_build = ("gamma", "beta")

    def __init__(self, groups: int = 32, axis: int = -1, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, beta_initializer: Any = "zeros", gamma_initializer: Any = "ones",
                 beta_regularizer: Any = None, gamma_regularizer: Any = None, beta_constraint: Any = None,
                 gamma_constraint: Any = None, **kwargs: Any) -> None:
        if isinstance(groups, bool) or not isinstance(groups, int) or (groups <= 0 and groups != -1):
            raise ValueError(
                "GroupNormalization: groups must be a positive integer (or -1 for instance normalization). "
                f"Received: groups={groups!r}."
            )
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"GroupNormalization: axis must be an int, received axis={axis!r}. Example: axis=-1.")
        super().__init__(**kwargs)
        self.groups = groups
        self.axis = axis
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)

    def build(self, input_shape: Shape) -> None:
        _check_axes(self, self.axis, input_shape)
        dim = input_shape[self.axis]
        if dim is None:
            raise ValueError(
                f"GroupNormalization: axis {self.axis} of the input must have a known size, received input shape "
                f"{tuple(input_shape)}. Give the model a full input shape."
            )
        if self.groups == -1:
            self.groups = dim  # as Keras: the config then holds the channel count
        if dim < self.groups:
            raise ValueError(
                f"GroupNormalization: groups ({self.groups}) cannot be more than the number of channels ({dim}). "
                f"Use groups <= {dim}."
            )
        if dim % self.groups:
            raise ValueError(
                f"GroupNormalization: the number of channels ({dim}) must be a multiple of groups "
                f"({self.groups}). Use a divisor of {dim}, or groups=-1."
            )
        if self.scale:
            self.gamma = self.add_weight((dim,), self.gamma_initializer, regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint, name="gamma")
        if self.center:
            self.beta = self.add_weight((dim,), self.beta_initializer, regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint, name="beta")

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        ndim = inputs.dim()
        axis = self.axis % ndim
        dim = inputs.shape[axis]
        # (..., C, ...) -> (..., groups, C // groups, ...): statistics over all but batch and group.
        grouped_shape = list(inputs.shape[:axis]) + [self.groups, dim // self.groups] + list(inputs.shape[axis + 1:])
        x = inputs.reshape(grouped_shape)
        x = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        reduce = [d for d in range(1, ndim + 1) if d != axis]
        variance, mean = torch.var_mean(x, dim=reduce, correction=0, keepdim=True)
        param_shape = [1] * (ndim + 1)
        param_shape[axis], param_shape[axis + 1] = self.groups, dim // self.groups
        inv = torch.rsqrt(variance + self.epsilon)
        if self.gamma is not None:
            inv = inv * self.gamma.reshape(param_shape).to(x.dtype)
        shift = -mean * inv
        if self.beta is not None:
            shift = shift + self.beta.reshape(param_shape).to(x.dtype)
        out_dtype = next((p.dtype for p in (self.gamma, self.beta) if p is not None), inputs.dtype)
        return (x * inv + shift).reshape(inputs.shape).to(out_dtype)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        _check_axes(self, self.axis, input_shape)
        return tuple(input_shape)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update(
            groups=self.groups, axis=self.axis, epsilon=self.epsilon, center=self.center, scale=self.scale,
            beta_initializer=initializers.serialize(self.beta_initializer),
            gamma_initializer=initializers.serialize(self.gamma_initializer),
            beta_regularizer=regularizers.serialize(self.beta_regularizer),
            gamma_regularizer=regularizers.serialize(self.gamma_regularizer),
            beta_constraint=constraints.serialize(self.beta_constraint),
            gamma_constraint=constraints.serialize(self.gamma_constraint),
        )
        return config_


class UnitNormalization(Layer):
    """Scales each sample to unit L2 norm over `axis` (no weights).

    Args:
        axis: an int or a list of ints, the axes the norm is taken over. Defaults to `-1`.
        **kwargs: `input_shape`, `name`, `dtype`.

    Raises:
        TypeError: for an `axis` that is not an int or a list/tuple of ints.

    Example:
        >>> UnitNormalization()(torch.tensor([[3.0, 4.0]]))
        tensor([[0.6000, 0.8000]])
    """

    supports_masking = True

    def __init__(self, axis: Axis = -1, **kwargs: Any) -> None:
        axis = _int_or_ints(axis, "UnitNormalization")  # checked before anything is built
        super().__init__(**kwargs)
        self.axis = axis
        self.built = True

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return ops_nn.normalize(inputs, axis=self.axis, order=2, epsilon=1e-12)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        _check_axes(self, self.axis, input_shape)
        return tuple(input_shape)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_["axis"] = self.axis
        return config_


class RMSNormalization(Layer):
    """Root-mean-square normalization: `x / sqrt(mean(x**2 over axis) + epsilon) * scale`.

    One weight, `scale` (ones at first), shaped like the normalized axes. As in Keras, `axis`
    becomes a sorted list once the layer is built (and so in its config).

    Args:
        axis: an int or a list of ints. Defaults to `-1`.
        epsilon: added to the mean square. Defaults to `1e-6`.
        **kwargs: `input_shape`, `name`, `dtype`, `trainable`.

    Raises:
        TypeError: for an `axis` that is not an int or a list/tuple of ints.
        ValueError: for an axis the input does not have, or one of unknown size.

    Example:
        >>> layer = RMSNormalization()
        >>> layer(torch.tensor([[3.0, 4.0]])).shape, layer.count_params()
        (torch.Size([1, 2]), 2)
    """

    def __init__(self, axis: Axis = -1, epsilon: float = 1e-6, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = _int_or_ints(axis, "RMSNormalization")
        self.epsilon = float(epsilon)
        self.scale: Optional[torch.Tensor] = None

    def build(self, input_shape: Shape) -> None:
        _check_axes(self, self.axis, input_shape)
        axes = sorted(self.axis) if isinstance(self.axis, list) else [self.axis]
        shape = tuple(input_shape[a] for a in axes)
        if any(d is None for d in shape):
            raise ValueError(
                f"RMSNormalization: the normalized axes {axes} must have known sizes, received input shape "
                f"{tuple(input_shape)}."
            )
        self.axis = axes
        self.scale = self.add_weight(shape, "ones", name="scale")

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return ops_nn.rms_normalization(inputs, scale=self.scale, axis=self.axis, epsilon=self.epsilon)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        _check_axes(self, self.axis, input_shape)
        return tuple(input_shape)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update(axis=self.axis, epsilon=self.epsilon)
        return config_


class SpectralNormalization(Layer):
    """Wraps a layer and, in training, divides its kernel by the kernel's largest singular value.

    The singular value is estimated by power iteration with the non-trainable vector
    `vector_u` `(1, units)`, which each training call updates, as Keras does. A training call
    rewrites the wrapped layer's kernel (or `embeddings`) in place with the normalized value
    before running the layer (an all-zero kernel is left alone), and the gradient reaches the
    kernel as if the layer were called directly; an inference call runs the layer unchanged.
    `get_weights()` lists the kernel, then `vector_u`, then the wrapped layer's other weights
    (Keras's order).

    Args:
        layer: a layer with a `kernel` or `embeddings` weight, e.g. `Dense` or `Conv2D`.
        power_iterations: power-iteration steps per training call. Defaults to `1`.
        **kwargs: `input_shape`, `name`, `trainable`.

    Raises:
        TypeError: when `layer` is not a kerasish Layer.
        ValueError: for `power_iterations` < 1, or (when built) a layer without `kernel` or
            `embeddings`.

    Example:
        >>> from kerasish.layers import Dense
        >>> layer = SpectralNormalization(Dense(3))
        >>> layer(torch.ones(2, 4), training=True).shape, layer.count_params()
        (torch.Size([2, 3]), 18)
    """

    def __init__(self, layer: Layer, power_iterations: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(layer, dict):  # a config holds the wrapped layer's envelope
            from kerasish.layers.nested_config import deserialize_layer

            layer = deserialize_layer(layer)
        if not isinstance(layer, Layer):
            raise TypeError(
                f"SpectralNormalization: layer must be a kerasish Layer with a kernel, received {layer!r} "
                f"(of type {type(layer).__name__}). Example: SpectralNormalization(Dense(64))."
            )
        if isinstance(power_iterations, bool) or not isinstance(power_iterations, int) or power_iterations <= 0:
            raise ValueError(
                "SpectralNormalization: power_iterations must be an integer greater than zero. "
                f"Received: power_iterations={power_iterations!r}."
            )
        self.layer = layer
        self.power_iterations = power_iterations
        self.vector_u: Optional[torch.Tensor] = None

    def _kernel(self) -> torch.Tensor:
        for name in ("kernel", "embeddings"):
            weight = getattr(self.layer, name, None)
            if isinstance(weight, torch.Tensor):
                return weight
        raise ValueError(
            f"SpectralNormalization: the wrapped {type(self.layer).__name__} has neither a `kernel` nor an "
            "`embeddings` weight. Wrap a layer such as Dense, Conv2D or Embedding."
        )

    def _keras_kernel(self) -> torch.Tensor:
        """The kernel in Keras's layout (a view), whose last axis is the output units."""
        kernel = self._kernel()
        layout = layouts_under(self.layer).get(id(kernel))
        return kernel if layout is None else layout.to_keras(kernel)

    def build(self, input_shape: Shape) -> None:
        self.layer.build_from_shape(input_shape)
        units = self._keras_kernel().shape[-1]
        self.vector_u = self.add_weight((1, units), initializers.TruncatedNormal(stddev=0.02), trainable=False,
                                        name="vector_u")

    @property
    def weights(self) -> List[torch.Tensor]:
        kernel = self._kernel() if self.built else None
        inner = self.layer.weights
        if kernel is None:
            return inner
        return [kernel, self.vector_u] + [w for w in inner if w is not kernel]

    def _normalize_kernel(self) -> None:
        """One training step of the power iteration; writes the new `vector_u` and kernel (no sync)."""
        with torch.no_grad():
            kernel = self._kernel()
            w = self._keras_kernel().reshape(-1, self.vector_u.shape[-1])
            u = self.vector_u
            for _ in range(self.power_iterations):
                v = ops_nn.normalize(u @ w.T, axis=None)
                u = ops_nn.normalize(v @ w, axis=None)
            sigma = (v @ w) @ u.T
            all_zero = torch.all(kernel == 0)
            self.vector_u.copy_(torch.where(all_zero, self.vector_u, u))
            kernel.copy_(torch.where(all_zero, kernel, kernel / sigma.reshape(())))

    def call(self, inputs: Any, training: Optional[bool] = None) -> Any:
        if training:
            self._normalize_kernel()
        out = self.layer(inputs)
        return out.to(inputs.dtype) if isinstance(out, torch.Tensor) and inputs.is_floating_point() else out

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return self.layer.compute_output_shape(input_shape)

    def get_config(self) -> Dict[str, Any]:
        from kerasish.layers.nested_config import serialize_layer

        config_ = super().get_config()
        config_.update(layer=serialize_layer(self.layer), power_iterations=self.power_iterations)
        return config_
