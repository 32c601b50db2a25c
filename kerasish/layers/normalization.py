"""Normalisation layers: BatchNormalization and LayerNormalization, with Keras's defaults."""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from kerasish import config, constraints, initializers, regularizers
from kerasish.layers.layer import Layer, Shape
from kerasish.layers.layer_utils import mark_state
from kerasish.layers.unsupported import reject_unsupported
from kerasish.layers.weight_layout import attach_constraint


def _check_epsilon(epsilon: Any, layer: str) -> float:
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or epsilon <= 0:
        raise ValueError(
            f"{layer}: epsilon must be a positive number, received epsilon={epsilon!r}. "
            f"Keras's default is 1e-3, e.g. {layer}(epsilon=1e-3)."
        )
    return float(epsilon)


def _resolve_axes(axis: Union[int, Sequence[int]], rank: int, layer: Layer) -> Tuple[int, ...]:
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if not -rank <= a < rank or a % rank == 0:
            raise ValueError(
                f"Layer {layer.name!r} ({type(layer).__name__}): axis={axis!r} is out of range for inputs of rank "
                f"{rank} (or names the batch axis 0). Use axis=-1 for the channels of channels-last inputs."
            )
        out.append(a % rank)
    return tuple(sorted(set(out)))


class BatchNormalization(Layer):
    """Normalises each feature with batch statistics in training, moving averages in inference.

    Keras's conventions: `momentum=0.99` keeps 99% of the moving average at each step (torch's
    `momentum=0.01`), `epsilon=1e-3`, the features on `axis=-1` (channels-last). The moving mean and
    variance are non-trainable parameters, so `summary()` and `count_params()` report Keras's
    `4 * features` (2 trainable, 2 non-trainable) and `get_weights()` returns
    `[gamma, beta, moving_mean, moving_variance]`. As in Keras, a layer with `trainable=False` runs
    in inference mode. The moving variance is updated with the biased batch variance, as in Keras;
    under `kerasish.config.set_defaults("torch")` (when the layer is created) with torch's unbiased
    one, as `torch.nn.BatchNorm*d` does. A Keras mask (from `Embedding(mask_zero=True)` or `Masking`)
    passes on to the next layers, and in training the batch statistics cover the unmasked steps
    only, as Keras computes them (the moving variance then takes their biased variance, or under
    torch's defaults their unbiased one).

    Args:
        axis: the feature axis. Defaults to `-1`.
        momentum: moving-average momentum (Keras's sense). Defaults to `0.99`.
        epsilon: added to the variance. Defaults to `1e-3`.
        center: learn an offset `beta`. Defaults to `True`.
        scale: learn a scale `gamma`. Defaults to `True`.
        beta_initializer: Defaults to `'zeros'`.
        gamma_initializer: Defaults to `'ones'`.
        moving_mean_initializer: Defaults to `'zeros'`.
        moving_variance_initializer: Defaults to `'ones'`.
        beta_regularizer: Defaults to `None`.
        gamma_regularizer: Defaults to `None`.
        beta_constraint: applied to `beta` after each optimizer step. Defaults to `None`.
        gamma_constraint: applied to `gamma` after each optimizer step. Defaults to `None`.
        renorm: must be False (batch renormalization is not implemented). Defaults to `False`.
        renorm_clipping: used only with `renorm`. Defaults to `None`.
        renorm_momentum: used only with `renorm`. Defaults to `0.99`.
        synchronized: must be False (each process normalises with its own batch statistics).
            Defaults to `False`.
        **kwargs: `input_shape`, `name`, `dtype`, `trainable`.

    Raises:
        ValueError: for an `axis` that is not one int, `momentum` outside [0, 1), a
            non-positive `epsilon`, `renorm=True` or `synchronized=True`.

    Example:
        >>> layer = BatchNormalization(input_shape=(32,))
        >>> layer.count_params()
        128
    """

    supports_masking = True  # as Keras: the mask passes on, and in training it limits the batch statistics
    accepts_mask = True  # a Sequential hands it the mask as `mask=`

    regularized_weights = (("gamma_regularizer", "gamma"), ("beta_regularizer", "beta"))

    def __init__(
        self,
        axis: Union[int, Sequence[int]] = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_variance_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        renorm: bool = False,
        renorm_clipping: Optional[Dict[str, float]] = None,
        renorm_momentum: float = 0.99,
        synchronized: bool = False,
        **kwargs: Any,
    ) -> None:
        reject_unsupported("BatchNormalization", renorm=renorm, synchronized=synchronized)
        super().__init__(**kwargs)
        if not isinstance(axis, int) or isinstance(axis, bool):
            raise ValueError(
                f"BatchNormalization: axis must be one int (the feature axis), received axis={axis!r}. "
                "Use axis=-1 for channels-last inputs or axis=1 for channels-first ones."
            )
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
            raise ValueError(
                f"BatchNormalization: momentum must be in [0, 1), received momentum={momentum!r}. "
                "Keras's momentum is the share of the old moving average kept, e.g. 0.99."
            )
        self.axis = axis
        self.momentum = float(momentum)
        self.epsilon = _check_epsilon(epsilon, "BatchNormalization")
        self.center = bool(center)
        self.scale = bool(scale)
        self._init_args = {
            "beta_initializer": beta_initializer,
            "gamma_initializer": gamma_initializer,
            "moving_mean_initializer": moving_mean_initializer,
            "moving_variance_initializer": moving_variance_initializer,
        }
        self._inits = {k: initializers.get(v) for k, v in self._init_args.items()}
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.renorm, self.renorm_clipping, self.renorm_momentum = False, renorm_clipping, renorm_momentum
        self.synchronized = False
        # Keras updates the moving variance with the biased batch variance, torch with the unbiased one.
        self._unbiased_variance = config.defaults() == "torch"
        self.gamma: Optional[nn.Parameter] = None
        self.beta: Optional[nn.Parameter] = None
        self.moving_mean: Optional[nn.Parameter] = None
        self.moving_variance: Optional[nn.Parameter] = None
        self._axis_index: Optional[int] = None

    def build(self, input_shape: Shape) -> None:
        (axis,) = _resolve_axes(self.axis, len(input_shape), self)
        features = input_shape[axis]
        if features is None:
            raise ValueError(
                f"Layer {self.name!r} needs a known size on axis {self.axis}, received input shape "
                f"{tuple(input_shape)}. Give the model a full input_shape."
            )
        self._axis_index = axis
        dtype = getattr(torch, self.dtype)

        def make(key: str, trainable: bool) -> nn.Parameter:
            p = nn.Parameter(torch.empty(features, dtype=dtype), requires_grad=trainable)
            self._inits[key](p.data)
            return p

        # Registration order gives Keras's get_weights order.
        if self.scale:
            self.gamma = make("gamma_initializer", self._trainable)
        if self.center:
            self.beta = make("beta_initializer", self._trainable)
        self.moving_mean = mark_state(make("moving_mean_initializer", False))
        self.moving_variance = mark_state(make("moving_variance_initializer", False))
        attach_constraint(self.gamma, self.gamma_constraint)
        attach_constraint(self.beta, self.beta_constraint)

    @Layer.trainable.setter  # type: ignore[attr-defined]
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for p in (self.gamma, self.beta):
            if p is not None:
                p.requires_grad_(self._trainable)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def call(self, inputs: torch.Tensor, training: Optional[bool] = None,
             mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        axis = self._axis_index if self._axis_index is not None else self.axis % inputs.dim()
        if inputs.dim() != len(self._build_input_shape or inputs.shape):
            raise ValueError(
                f"Layer {self.name!r} was built for inputs of rank {len(self._build_input_shape)}, received a "
                f"tensor of shape {tuple(inputs.shape)}. Feed inputs of the rank the model was built with."
            )
        if mask is not None and mask.dim() != inputs.dim() - 1:
            raise ValueError(
                f"Layer {self.name!r} received a mask of shape {tuple(mask.shape)} for inputs of shape "
                f"{tuple(inputs.shape)}; the mask must have one dimension less than the inputs (one entry per "
                "feature vector, e.g. (batch, steps) for (batch, steps, features))."
            )
        training = (self.training if training is None else training) and self._trainable
        if training and mask is not None:
            return self._train_masked(inputs, mask, axis)
        # F.batch_norm normalises axis 1: move the feature axis there (a view; for NHWC images
        # it is the channels_last-format NCHW view, which the kernel handles without a copy).
        x = inputs.movedim(axis, 1) if axis != 1 else inputs
        if not training or self._unbiased_variance:
            y = F.batch_norm(x, self.moving_mean, self.moving_variance, self.gamma, self.beta, training,
                             1.0 - self.momentum, self.epsilon)
        else:
            y = self._train_keras(x)
        return y.movedim(1, axis) if axis != 1 else y

    def _train_masked(self, inputs: torch.Tensor, mask: torch.Tensor, axis: int) -> torch.Tensor:
        """Training with a Keras mask: batch statistics over the unmasked feature vectors only (Keras's
        masked moments, its epsilon 1e-7 in the denominators), the moving averages updated with them."""
        keep = mask.to(torch.bool).unsqueeze(-1).expand(inputs.shape)
        axes = tuple(a for a in range(inputs.dim()) if a != axis)
        count = keep.to(inputs.dtype).sum(axes, keepdim=True) + 1e-7
        mean = torch.where(keep, inputs, 0).sum(axes, keepdim=True) / count
        variance = torch.where(keep, inputs - mean, 0).square().sum(axes, keepdim=True) / count
        with torch.no_grad():
            moving_variance = variance
            if self._unbiased_variance:
                # torch's convention, over the unmasked vectors: n / (n - 1) (one vector: kept as is).
                n = count - 1e-7
                moving_variance = variance * n / (n - 1).clamp_min(1)
            self.moving_mean.mul_(self.momentum).add_(mean.reshape(-1), alpha=1.0 - self.momentum)
            self.moving_variance.mul_(self.momentum).add_(moving_variance.reshape(-1), alpha=1.0 - self.momentum)
        view = [inputs.shape[a] if a == axis else 1 for a in range(inputs.dim())]
        out = (inputs - mean) * torch.rsqrt(variance + self.epsilon)
        if self.gamma is not None:
            out = out * self.gamma.reshape(view)
        if self.beta is not None:
            out = out + self.beta.reshape(view)
        return out

    def _train_keras(self, x: torch.Tensor) -> torch.Tensor:
        """Training step with Keras's moving variance update (the biased batch variance).

        torch's fused kernel updates its running variance with the unbiased batch variance
        `v * n / (n - 1)`. It updates a zero vector here instead, which then holds
        `(1 - momentum) * v * n / (n - 1)`; rescaling that by `(n - 1) / n` gives Keras's term,
        with no second pass over the batch.
        """
        n = x.numel() // x.shape[1]
        update = torch.zeros_like(self.moving_variance)
        y = F.batch_norm(x, self.moving_mean, update, self.gamma, self.beta, True, 1.0 - self.momentum,
                         self.epsilon)
        with torch.no_grad():
            self.moving_variance.mul_(self.momentum).add_(update, alpha=(n - 1) / n)
        return y

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update(axis=self.axis, momentum=self.momentum, epsilon=self.epsilon, center=self.center,
                       scale=self.scale)
        config_.update({k: initializers.serialize(v) for k, v in self._init_args.items()})
        config_.update(beta_regularizer=regularizers.serialize(self.beta_regularizer),
                       gamma_regularizer=regularizers.serialize(self.gamma_regularizer),
                       beta_constraint=constraints.serialize(self.beta_constraint),
                       gamma_constraint=constraints.serialize(self.gamma_constraint),
                       renorm=self.renorm, renorm_clipping=self.renorm_clipping,
                       renorm_momentum=self.renorm_momentum, synchronized=self.synchronized)
        return config_


class LayerNormalization(Layer):
    """Normalises each sample over `axis` (the features), then scales and shifts.

    Args:
        axis: int or list of ints, the axes to normalise over. Defaults to `-1`.
        epsilon: added to the variance. Defaults to `1e-3`.
        center: learn an offset `beta`. Defaults to `True`.
        scale: learn a scale `gamma`. Defaults to `True`.
        beta_initializer: Defaults to `'zeros'`.
        gamma_initializer: Defaults to `'ones'`.
        beta_regularizer: Defaults to `None`.
        gamma_regularizer: Defaults to `None`.
        beta_constraint: applied to `beta` after each optimizer step. Defaults to `None`.
        gamma_constraint: applied to `gamma` after each optimizer step. Defaults to `None`.
        **kwargs: `input_shape`, `name`, `dtype`, `trainable`.

    Example:
        >>> layer = LayerNormalization(input_shape=(4,))
        >>> layer(torch.arange(8.0).reshape(2, 4)).mean().abs() < 1e-6
        tensor(True)
    """

    supports_masking = True  # as Keras: an incoming Keras mask passes on to the next layers

    _convert_input_args = False  # as Keras (autocast=False): call() upcasts, see there

    regularized_weights = (("gamma_regularizer", "gamma"), ("beta_regularizer", "beta"))
    _weights_made_by_build = ("gamma", "beta")

    def __init__(
        self,
        axis: Union[int, Sequence[int]] = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        # Keras 3 takes the deprecated rms_scaling through **kwargs; only its default is supported.
        reject_unsupported("LayerNormalization", rms_scaling=kwargs.pop("rms_scaling", False))
        super().__init__(**kwargs)
        try:
            axes = [axis] if isinstance(axis, int) else [int(a) for a in axis]
        except (TypeError, ValueError):
            axes = []
        if not axes or isinstance(axis, bool):
            raise ValueError(
                f"LayerNormalization: axis must be an int or a list of ints, received axis={axis!r}. "
                "Use axis=-1 to normalise over the last (feature) axis."
            )
        self.axis = axis if isinstance(axis, int) else list(axes)
        self.epsilon = _check_epsilon(epsilon, "LayerNormalization")
        self.center = bool(center)
        self.scale = bool(scale)
        self._beta_init_arg = beta_initializer
        self._gamma_init_arg = gamma_initializer
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self._axes: Tuple[int, ...] = ()

    def build(self, input_shape: Shape) -> None:
        rank = len(input_shape)
        self._axes = _resolve_axes(self.axis, rank, self)
        shape = tuple(input_shape[a] for a in self._axes)
        if any(d is None for d in shape):
            raise ValueError(
                f"Layer {self.name!r} needs known sizes on axis {self.axis}, received input shape "
                f"{tuple(input_shape)}. Give the model a full input_shape."
            )
        # As Keras: once built, the axes are a sorted list (its config then writes [-1], not -1).
        self.axis = sorted(self.axis) if isinstance(self.axis, list) else [self.axis]
        dtype = getattr(torch, self.dtype)
        if self.scale:
            self.gamma = nn.Parameter(torch.empty(shape, dtype=dtype))
            self.gamma_initializer(self.gamma.data)
        if self.center:
            self.beta = nn.Parameter(torch.empty(shape, dtype=dtype))
            self.beta_initializer(self.beta.data)
        attach_constraint(self.gamma, self.gamma_constraint)
        attach_constraint(self.beta, self.beta_constraint)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        # As Keras: normalised in the inputs' dtype but at least float32, returned in the weights' dtype.
        out_dtype = next((p.dtype for p in (self.gamma, self.beta) if p is not None), inputs.dtype)
        x = inputs if inputs.dtype in (torch.float32, torch.float64) else inputs.float()
        gamma = None if self.gamma is None else self.gamma.to(x.dtype)
        beta = None if self.beta is None else self.beta.to(x.dtype)
        rank = x.dim()
        axes = self._axes or _resolve_axes(self.axis, rank, self)
        if axes == tuple(range(rank - len(axes), rank)):
            # Trailing axes: torch's fused kernel.
            return F.layer_norm(x, x.shape[rank - len(axes):], gamma, beta, self.epsilon).to(out_dtype)
        mean = x.mean(dim=axes, keepdim=True)
        var = x.var(dim=axes, keepdim=True, unbiased=False)
        out = (x - mean) * torch.rsqrt(var + self.epsilon)
        # Broadcast gamma/beta (shaped like the normalised axes) over the other axes.
        view = [x.shape[a] if a in axes else 1 for a in range(rank)]
        if gamma is not None:
            out = out * gamma.reshape(view)
        if beta is not None:
            out = out + beta.reshape(view)
        return out.to(out_dtype)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update(
            axis=self.axis, epsilon=self.epsilon, center=self.center, scale=self.scale,
            beta_initializer=initializers.serialize(self._beta_init_arg),
            gamma_initializer=initializers.serialize(self._gamma_init_arg),
            beta_regularizer=regularizers.serialize(self.beta_regularizer),
            gamma_regularizer=regularizers.serialize(self.gamma_regularizer),
            beta_constraint=constraints.serialize(self.beta_constraint),
            gamma_constraint=constraints.serialize(self.gamma_constraint),
            rms_scaling=False,  # Keras writes its deprecated flag; kerasish refuses True
        )
        return config_
