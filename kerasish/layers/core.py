"""Core layers: Input, Dense, Activation, Dropout, Flatten, Reshape."""

from __future__ import annotations

import math
from typing import Any, Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from kerasish import activations, config, constraints, initializers, regularizers
from kerasish.layers.layer import Layer, Shape, normalize_shape, unique_name
from kerasish.layers.symbolic import KerasTensor, Node
from kerasish.layers.unsupported import reject_unsupported
from kerasish.layers.weight_layout import attach_constraint


class InputLayer(Layer):
    """Marks the input of a model: its shape (without batch) and dtype.

    Give either `shape` (one sample) with an optional `batch_size`, or `batch_shape` (the
    batch entry first). The config keeps Keras 2's `shape`/`batch_size` form.

    Args:
        shape: shape of one sample, e.g. `(784,)`. Defaults to `None`.
        batch_size: fixed batch size, if any. Defaults to `None`.
        dtype: input dtype name. Defaults to `None` (float32).
        sparse: must be None or False (kerasish has no sparse tensors). Defaults to `None`.
        ragged: must be None or False (kerasish has no ragged tensors). Defaults to `None`.
        batch_shape: the full shape, batch entry first, e.g. `(None, 784)` or `(32, 784)`.
            Defaults to `None`.
        input_tensor: not supported; must stay None. Defaults to `None`.
        optional: must be False (kerasish inputs cannot be None). Defaults to `False`.
        name: layer name. Defaults to `None`.

    Raises:
        ValueError: without a shape, with both `shape` and `batch_shape` (or `batch_size`
            and `batch_shape`), or with an unsupported argument (`sparse`, `ragged`,
            `input_tensor`, `optional`).
    """

    def __init__(
        self,
        shape: Optional[Sequence[Optional[int]]] = None,
        batch_size: Optional[int] = None,
        dtype: Optional[str] = None,
        sparse: Optional[bool] = None,
        ragged: Optional[bool] = None,
        batch_shape: Optional[Sequence[Optional[int]]] = None,
        input_tensor: Any = None,
        optional: bool = False,
        name: Optional[str] = None,
        **kwargs: Any,
    ) -> None:
        reject_unsupported("InputLayer", sparse=sparse, ragged=ragged, input_tensor=input_tensor, optional=optional)
        if shape is None and "input_shape" in kwargs:
            shape = kwargs.pop("input_shape")
        if batch_shape is None and "batch_input_shape" in kwargs:
            batch_shape = kwargs.pop("batch_input_shape")  # Keras 2's spelling
        shape, batch_size = _split_batch_shape(shape, batch_size, batch_shape, "InputLayer")
        super().__init__(name=name or None, input_shape=shape, dtype=dtype, **kwargs)
        self.batch_size = batch_size
        self.built = True
        node = Node(self, [], {})
        node.outputs = [KerasTensor(self.shape, dtype or "float32", node, 0)]
        self._inbound_nodes.append(node)

    @property
    def shape(self) -> Shape:
        return (self.batch_size,) + tuple(self._input_shape_arg[1:])

    @property
    def batch_shape(self) -> Shape:
        """The full input shape, batch entry first (Keras's name for `shape`)."""
        return self.shape

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            "shape": list(self._input_shape_arg[1:]),
            "batch_size": self.batch_size,
            "dtype": self._dtype_arg,
            "name": self.name,
        }


def _split_batch_shape(shape: Any, batch_size: Any, batch_shape: Any, where: str) -> Tuple[Any, Any]:
    """(shape, batch_size) from Input's arguments, where `batch_shape` may replace both."""
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"{where}: batch_size must be a positive int or None, received batch_size={batch_size!r}.")
    if batch_shape is None:
        if shape is None:
            raise ValueError(
                f"{where}() needs shape=..., the shape of one sample such as (784,) or (28, 28, 1), or "
                "batch_shape=..., the same with the batch size first, such as (None, 784)."
            )
        return shape, batch_size
    if shape is not None:
        raise ValueError(
            f"{where}: pass either shape or batch_shape, not both; received shape={shape!r} and "
            f"batch_shape={batch_shape!r}. batch_shape=(None, *shape) is the same as shape=shape."
        )
    if batch_size is not None:
        raise ValueError(
            f"{where}: pass either batch_size or batch_shape, not both; received batch_size={batch_size!r} and "
            f"batch_shape={batch_shape!r}. Put the batch size first in batch_shape, e.g. (32, 784)."
        )
    if isinstance(batch_shape, (str, bytes)) or not isinstance(batch_shape, Sequence) or len(batch_shape) < 1:
        raise ValueError(
            f"{where}: batch_shape must be a tuple with the batch size (or None) first, such as (None, 784), "
            f"received batch_shape={batch_shape!r}."
        )
    first = batch_shape[0]
    if first is not None and (isinstance(first, bool) or not isinstance(first, int) or first < 1):
        raise ValueError(
            f"{where}: the batch entry of batch_shape must be a positive int or None, received "
            f"batch_shape={batch_shape!r}. Example: batch_shape=(None, 784)."
        )
    return normalize_shape(tuple(batch_shape[1:]), "batch_shape"), first


def Input(
    shape: Optional[Sequence[Optional[int]]] = None,
    batch_size: Optional[int] = None,
    dtype: Optional[str] = None,
    sparse: Optional[bool] = None,
    ragged: Optional[bool] = None,
    batch_shape: Optional[Sequence[Optional[int]]] = None,
    name: Optional[str] = None,
    tensor: Any = None,
    optional: bool = False,
) -> KerasTensor:
    """A symbolic model input: `x = Input(shape=(28, 28, 1))`.

    Use it to start a functional model (`Model(inputs=x, outputs=...)`) or as the first
    element of a Sequential (`Sequential([Input(shape=(784,)), Dense(10)])`).

    Args:
        shape: shape of one sample, without the batch. Example: `(28, 28, 1)`. Defaults to `None`.
        batch_size: fixed batch size. Defaults to `None`.
        dtype: input dtype. Defaults to `None` (float32).
        sparse: must be None or False (kerasish has no sparse tensors). Defaults to `None`.
        ragged: must be None or False (kerasish has no ragged tensors). Defaults to `None`.
        batch_shape: the full shape with the batch size first, instead of `shape` and
            `batch_size`. Example: `(None, 28, 28, 1)`. Defaults to `None`.
        name: a name. Defaults to `None` ('input_layer', 'input_layer_1', ...).
        tensor: not supported; must stay None (call the model on the tensor instead).
            Defaults to `None`.
        optional: must be False (kerasish inputs cannot be None). Defaults to `False`.

    Returns:
        A KerasTensor of shape `(batch_size, *shape)`.

    Raises:
        ValueError: without a shape, with both `shape` and `batch_shape`, or with `sparse`,
            `ragged`, `tensor` or `optional` set.

    Example:
        >>> Input(batch_shape=(None, 28, 28, 1)).shape
        (None, 28, 28, 1)
    """
    reject_unsupported("Input", sparse=sparse, ragged=ragged, tensor=tensor, optional=optional)
    shape, batch_size = _split_batch_shape(shape, batch_size, batch_shape, "Input")
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name or unique_name("input_layer"))
    return layer.output


def _check_positive_int(value: Any, arg: str, layer: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"{layer}: {arg} must be a positive integer, received {value!r}. Example: {layer}(64)."
        )
    return value


class Dense(Layer):
    """A fully connected layer: `activation(inputs @ kernel + bias)` on the last axis.

    The kernel has Keras's layout `(input_dim, units)` and Keras's initialisers
    (glorot_uniform kernel, zero bias) unless `kerasish.config.set_defaults('torch')`.

    Args:
        units: output size.
        activation: activation name or callable. Defaults to `None` (linear).
        use_bias: whether to add a bias. Defaults to `True`.
        kernel_initializer: Defaults to `'glorot_uniform'`.
        bias_initializer: Defaults to `'zeros'`.
        kernel_regularizer: penalty added to the loss. Defaults to `None`.
        bias_regularizer: Defaults to `None`.
        activity_regularizer: penalty on the output, added to the loss. Defaults to `None`.
        kernel_constraint: applied to the kernel `(input_dim, units)` after each optimizer
            step, e.g. `MaxNorm(3)` (axis 0: each unit's incoming weights). Defaults to `None`.
        bias_constraint: applied to the bias after each optimizer step. Defaults to `None`.
        lora_rank: not supported; must stay `None`. Defaults to `None`.
        lora_alpha: not supported; must stay `None`. Defaults to `None`.
        quantization_config: not supported; must stay `None`. Defaults to `None`.
        **kwargs: `input_shape`, `input_dim`, `name`, `dtype`, `trainable`.

    Raises:
        ValueError: for `units` < 1, an unknown activation, initializer, regularizer or
            constraint name, or a LoRA / quantization argument.

    Example:
        >>> layer = Dense(3, activation="relu", input_dim=4)
        >>> layer(torch.ones(2, 4)).shape
        torch.Size([2, 3])
    """

    supports_masking = True  # as Keras: an incoming Keras mask passes on to the next layers

    regularized_weights = (("kernel_regularizer", "kernel"), ("bias_regularizer", "bias"))
    _weights_made_by_build = ("kernel", "bias")

    def __init__(
        self,
        units: int,
        activation: activations.ActivationLike = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        lora_rank: Optional[int] = None,
        lora_alpha: Optional[float] = None,
        quantization_config: Any = None,
        **kwargs: Any,
    ) -> None:
        reject_unsupported("Dense", lora_rank=lora_rank, lora_alpha=lora_alpha,
                           quantization_config=quantization_config)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.units = _check_positive_int(units, "units", "Dense")
        self.activation_arg = activation
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self._kernel_init_arg = kernel_initializer
        self._bias_init_arg = bias_initializer
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self._torch_init = config.defaults() == "torch"

    def build(self, input_shape: Shape) -> None:
        in_dim = input_shape[-1]
        if in_dim is None:
            raise ValueError(
                f"Dense layer {self.name!r} needs a known last input dimension, received input shape "
                f"{input_shape}."
            )
        dtype = getattr(torch, self.dtype)
        self.kernel = nn.Parameter(torch.empty(in_dim, self.units, dtype=dtype))
        self.bias = nn.Parameter(torch.empty(self.units, dtype=dtype)) if self.use_bias else None
        if self._torch_init:
            # nn.Linear's reset_parameters: U(-1/sqrt(in), 1/sqrt(in)) for kernel and bias.
            bound = 1.0 / math.sqrt(in_dim)
            with torch.no_grad():
                self.kernel.uniform_(-bound, bound)
                if self.bias is not None:
                    self.bias.uniform_(-bound, bound)
        else:
            # Fans are computed on torch's (out, in) layout so glorot matches Keras.
            self.kernel_initializer(self.kernel.data.T)
            if self.bias is not None:
                self.bias_initializer(self.bias.data)
        # The kernel is in Keras's layout already: constraints apply as they are.
        attach_constraint(self.kernel, self.kernel_constraint)
        attach_constraint(self.bias, self.bias_constraint)

    def call_logits(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.dim() == 2 and self.bias is not None:
            return torch.addmm(self.bias, inputs, self.kernel)
        out = inputs @ self.kernel
        return out + self.bias if self.bias is not None else out

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.activation(self.call_logits(inputs))

    def logits_activation(self) -> Optional[str]:
        name = activations.serialize(self.activation_arg)
        return name if name in ("softmax", "sigmoid") else None

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update(
            units=self.units,
            activation=activations.serialize(self.activation_arg),
            use_bias=self.use_bias,
            kernel_initializer=initializers.serialize(self._kernel_init_arg),
            bias_initializer=initializers.serialize(self._bias_init_arg),
            kernel_regularizer=regularizers.serialize(self.kernel_regularizer),
            bias_regularizer=regularizers.serialize(self.bias_regularizer),
            kernel_constraint=constraints.serialize(self.kernel_constraint),
            bias_constraint=constraints.serialize(self.bias_constraint),
            quantization_config=None,  # Keras writes it; kerasish refuses any other value
        )
        return config_

    def extra_repr(self) -> str:
        return f"name={self.name!r}, units={self.units}, activation={activations.serialize(self.activation_arg)!r}"


class Activation(Layer):
    """Applies an activation function.

    Args:
        activation: name or callable, e.g. `'relu'`.
    """

    supports_masking = True  # as Keras: an incoming Keras mask passes on to the next layers

    def __init__(self, activation: activations.ActivationLike, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation_arg = activation
        self.activation = activations.get(activation)
        self.built = True

    def call(self, inputs):
        return self.activation(inputs)

    def call_logits(self, inputs):
        return inputs

    def logits_activation(self):
        name = activations.serialize(self.activation_arg)
        return name if name in ("softmax", "sigmoid") else None

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        c = super().get_config()
        c["activation"] = activations.serialize(self.activation_arg)
        return c


class Dropout(Layer):
    """Randomly zeroes a fraction `rate` of inputs during training (scaled by 1/(1-rate)).

    Args:
        rate: fraction to drop, in [0, 1).
        noise_shape: the shape of the keep/drop mask, broadcast over the inputs (None
            entries take the input's size), e.g. `(batch, 1, features)` to drop the same
            features at every time step. Defaults to `None` (the input's shape).
        seed: an int makes the masks a reproducible sequence (a `kerasish.random.SeedGenerator`
            saved with the layer; the same seed gives Keras's own masks on the CPU). Defaults
            to `None` (torch's global generator, which `set_random_seed` seeds).
    """

    supports_masking = True  # as Keras: an incoming Keras mask passes on to the next layers

    def __init__(self, rate: float, noise_shape: Any = None, seed: Optional[int] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(
                f"Dropout rate must be a number in [0, 1), received {rate!r}. Example: Dropout(0.5)."
            )
        if noise_shape is not None and not (isinstance(noise_shape, (list, tuple)) and all(
                d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in noise_shape)):
            raise ValueError(
                f"Dropout noise_shape must be a tuple of positive ints or None entries, received {noise_shape!r}. "
                "Example: noise_shape=(None, 1, 64)."
            )
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        if seed is not None:
            from kerasish.random import SeedGenerator

            self.seed_generator = SeedGenerator(seed)
        self.built = True

    def call(self, inputs, training=None):
        # The call context's flag (True in fit); a direct call falls back to the module's mode.
        active = self.training if training is None else bool(training)
        if not active or self.rate == 0:
            return inputs
        if self.seed is None and self.noise_shape is None:
            return F.dropout(inputs, self.rate, True)
        from kerasish import random

        return random.dropout(inputs, self.rate, noise_shape=self.noise_shape,
                              seed=getattr(self, "seed_generator", None))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        c = super().get_config()
        c.update(rate=self.rate, seed=self.seed, noise_shape=None if self.noise_shape is None else list(self.noise_shape))
        return c


class Flatten(Layer):
    """Flattens every axis but the batch, in Keras's (H, W, C) order for images."""

    def __init__(self, data_format: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(
                f"Flatten data_format must be 'channels_last' or 'channels_first', received {data_format!r}."
            )
        if data_format is None:
            from kerasish import config

            data_format = config.image_data_format()
        self.data_format = data_format
        self.built = True

    def call(self, inputs):
        if self.data_format == "channels_first" and inputs.dim() > 2:
            # Keras moves channels_first inputs to channels-last before flattening, so
            # the weights of the next Dense do not depend on the data format.
            inputs = inputs.movedim(1, -1)
        return inputs.reshape(inputs.shape[0], -1)

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        if any(d is None for d in rest):
            return (input_shape[0], None)
        return (input_shape[0], math.prod(rest))

    def get_config(self):
        c = super().get_config()
        c["data_format"] = self.data_format
        return c


class Reshape(Layer):
    """Reshapes each sample to `target_shape` (one entry may be -1).

    Args:
        target_shape: shape without the batch, e.g. `(28, 28, 1)`.
    """

    def __init__(self, target_shape: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        try:
            target = tuple(int(d) for d in target_shape)
        except (TypeError, ValueError):
            raise TypeError(
                f"Reshape target_shape must be a tuple of ints such as (28, 28, 1), received {target_shape!r}."
            ) from None
        if sum(d == -1 for d in target) > 1 or any(d == 0 or d < -1 for d in target):
            raise ValueError(
                f"Reshape target_shape {target_shape!r} is invalid: use positive sizes and at most one -1."
            )
        self.target_shape = target
        self.built = True

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        if -1 not in self.target_shape:
            if all(d is not None for d in rest) and math.prod(rest) != math.prod(self.target_shape):
                raise ValueError(
                    f"Reshape {self.name!r} cannot reshape input of shape {input_shape} "
                    f"({math.prod(rest)} values per sample) to {self.target_shape} "
                    f"({math.prod(self.target_shape)} values). Pick a target_shape with the same total size."
                )
            return (input_shape[0],) + self.target_shape
        if any(d is None for d in rest):
            return (input_shape[0],) + tuple(None if d == -1 else d for d in self.target_shape)
        known = math.prod(d for d in self.target_shape if d != -1)
        total = math.prod(rest)
        if total % known:
            raise ValueError(
                f"Reshape {self.name!r} cannot reshape {total} values per sample to {self.target_shape}."
            )
        return (input_shape[0],) + tuple(total // known if d == -1 else d for d in self.target_shape)

    def call(self, inputs):
        return inputs.reshape((inputs.shape[0],) + self.target_shape)

    def get_config(self):
        c = super().get_config()
        c["target_shape"] = list(self.target_shape)
        return c
