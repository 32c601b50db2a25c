"""Keras 3's `ConvLSTMCell`: one step of a convolutional LSTM, and the convolutions behind it.

The cell owns the weights in Keras's layout and gate order (i, f, c, o):
`kernel (*kernel_size, channels, 4 * filters)`, `recurrent_kernel (*kernel_size, filters,
4 * filters)` and `bias (4 * filters,)`, so `get_weights()`/`set_weights()` exchange arrays with
Keras's `ConvLSTM1D/2D/3D` unchanged. The arithmetic runs channels-first on
`torch.nn.functional.conv{1,2,3}d` with all four gates stacked in one convolution:

- the input convolution uses the layer's `strides`, `padding` and `dilation_rate`; it does not
  depend on the state, so `ConvLSTM` runs it once over every time step folded into the batch
  (`input_projection`);
- the recurrent convolution keeps the state's size: stride 1, 'same' padding, no dilation
  (as Keras), and runs once per step (`recurrent_step`).

Dropout follows Keras's cell: four input masks and four recurrent masks (one per gate), drawn
once per sequence and applied only in training. A gate's masked copy of the input is a channel
group of one grouped convolution, so dropout costs no extra convolution launches.

Differences from Keras: `dropout` and `recurrent_dropout` must lie in [0, 1) (Keras clips other
values and skips a rate of 1 silently); `strides` must be positive.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from kerasish import activations
from kerasish.layers.convolutional import (
    conv_output_length, normalize_data_format, normalize_padding, normalize_tuple, pad_input, spatial_pads,
)
from kerasish.layers.recurrent_args import initializers_config, penalties_config, set_weight_args
from kerasish.layers.layer import Layer, Shape

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def _contiguous(init: Any) -> Any:
    """`init` run on a contiguous tensor, then copied: `add_weight` hands initializers a permuted
    view (Keras's layout seen in torch's), which torch's `orthogonal_` cannot fill for kernels of
    rank 3 and more."""

    def fill(tensor: torch.Tensor) -> None:
        scratch = torch.empty(tensor.shape, dtype=tensor.dtype, device=tensor.device)
        init(scratch)
        with torch.no_grad():
            tensor.copy_(scratch)

    return fill


def _check_rate(cls: str, arg: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(
            f"{cls}: {arg} must be a number in [0, 1), received {arg}={value!r}. Example: {arg}=0.2 "
            "(the fraction dropped in training); 0 turns it off."
        )
    return float(value)


def _check_filters(cls: str, filters: Any) -> int:
    if isinstance(filters, bool) or not isinstance(filters, int) or filters < 1:
        raise ValueError(
            f"{cls}: filters must be a positive integer, received filters={filters!r}. Example: {cls}(16, 3)."
        )
    return filters


class ConvLSTMCell(Layer):
    """One step of a convolutional LSTM: states `[h, c]`, gates i, f, c, o in Keras's order.

    Args:
        rank: number of spatial dimensions, 1, 2 or 3.
        filters: number of output channels (of `h` and `c`).
        kernel_size: an int or a tuple of `rank` ints; also the recurrent kernel's size.
        strides: of the input convolution; an int or `rank` ints. Defaults to `1`.
        padding: `'valid'` or `'same'` (case-insensitive) for the input convolution. Defaults
            to `'valid'`.
        data_format: `'channels_last'` or `'channels_first'`. Defaults to `None`
            (`kerasish.config.image_data_format()`).
        dilation_rate: of the input convolution; not combinable with `strides > 1`.
            Defaults to `1`.
        activation: of the cell input and output. Defaults to `'tanh'`.
        recurrent_activation: of the gates. Defaults to `'sigmoid'`.
        use_bias: whether to add a bias per gate and filter. Defaults to `True`.
        kernel_initializer: for `kernel`. Defaults to `'glorot_uniform'`.
        recurrent_initializer: for `recurrent_kernel`. Defaults to `'orthogonal'`.
        bias_initializer: for `bias`. Defaults to `'zeros'`.
        unit_forget_bias: start the forget gate's bias at 1. Defaults to `True`.
        kernel_regularizer: penalty on `kernel`. Defaults to `None`.
        recurrent_regularizer: penalty on `recurrent_kernel`. Defaults to `None`.
        bias_regularizer: penalty on `bias`. Defaults to `None`.
        kernel_constraint: applied to `kernel` after each optimizer step. Defaults to `None`.
        recurrent_constraint: applied to `recurrent_kernel`. Defaults to `None`.
        bias_constraint: applied to `bias`. Defaults to `None`.
        dropout: fraction of the inputs dropped in training, in [0, 1). Defaults to `0.0`.
        recurrent_dropout: fraction of the state `h` dropped in training, in [0, 1).
            Defaults to `0.0`.
        seed: seed of the dropout masks. Defaults to `None`.
        **kwargs: `name`, `dtype`, `trainable`.

    Raises:
        ValueError: for a rank other than 1-3, bad `filters`, `kernel_size`, `strides`,
            `padding`, `data_format`, `dilation_rate` or rates, or `strides > 1` with
            `dilation_rate > 1`.

    Example:
        >>> cell = ConvLSTMCell(2, 4, 3, padding="same")
        >>> h, (h, c) = cell(torch.ones(2, 8, 8, 3), [torch.zeros(2, 8, 8, 4)] * 2)
        >>> h.shape, cell.count_params()
        (torch.Size([2, 8, 8, 4]), 1024)
    """

    def __init__(self, rank: int, filters: int, kernel_size: Any, strides: Any = 1, padding: str = "valid",
                 data_format: Optional[str] = None, dilation_rate: Any = 1, activation: Any = "tanh",
                 recurrent_activation: Any = "sigmoid", use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", recurrent_initializer: Any = "orthogonal",
                 bias_initializer: Any = "zeros", unit_forget_bias: bool = True, kernel_regularizer: Any = None,
                 recurrent_regularizer: Any = None, bias_regularizer: Any = None, kernel_constraint: Any = None,
                 recurrent_constraint: Any = None, bias_constraint: Any = None, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, seed: Optional[int] = None, **kwargs: Any) -> None:
        from kerasish.random import SeedGenerator

        cls = kwargs.pop("_owner", None) or type(self).__name__  # the ConvLSTM layer that made it, for messages
        super().__init__(**kwargs)
        if rank not in (1, 2, 3) or isinstance(rank, bool):
            raise ValueError(
                f"{cls}: rank must be 1, 2 or 3 (the number of spatial dimensions), received rank={rank!r}. "
                "Use ConvLSTM1D, ConvLSTM2D or ConvLSTM3D."
            )
        self._owner = cls
        self.rank = rank
        self.filters = _check_filters(cls, filters)
        self.kernel_size = normalize_tuple(kernel_size, rank, "kernel_size", cls)
        self.strides = normalize_tuple(strides, rank, "strides", cls)
        self.padding = normalize_padding(padding, cls)
        self.data_format = normalize_data_format(data_format, cls)
        self.dilation_rate = normalize_tuple(dilation_rate, rank, "dilation_rate", cls)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"{cls}: strides > 1 cannot be combined with dilation_rate > 1, received strides={self.strides} "
                f"and dilation_rate={self.dilation_rate}. Pass strides=1 or dilation_rate=1."
            )
        self._activation_arg = activation
        self._recurrent_activation_arg = recurrent_activation
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        set_weight_args(self, kernel_initializer, recurrent_initializer, bias_initializer, kernel_regularizer,
                        recurrent_regularizer, bias_regularizer, kernel_constraint, recurrent_constraint,
                        bias_constraint)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.dropout = _check_rate(cls, "dropout", dropout)
        self.recurrent_dropout = _check_rate(cls, "recurrent_dropout", recurrent_dropout)
        self.seed = seed
        self.seed_generator = SeedGenerator(seed)
        self.spatial_dims: Optional[Tuple[int, ...]] = None
        self.input_dim: Optional[int] = None
        self.kernel: Optional[torch.Tensor] = None
        self.recurrent_kernel: Optional[torch.Tensor] = None
        self.bias: Optional[torch.Tensor] = None

    # ------------------------------------------------------------------ weights and shapes
    def _split_shape(self, step_shape: Sequence[Any]) -> Tuple[Tuple[Any, ...], Any]:
        """(spatial dims, channels) of a one-step shape `(batch, ...)` in this cell's data format."""
        step_shape = tuple(step_shape)
        if self.data_format == "channels_first":
            return step_shape[2:], step_shape[1]
        return step_shape[1:-1], step_shape[-1]

    def build(self, input_shape: Shape) -> None:
        spatial, channels = self._split_shape(input_shape)
        if len(spatial) != self.rank or None in spatial or channels is None:
            axes = "(batch, channels, *spatial)" if self.data_format == "channels_first" else \
                "(batch, *spatial, channels)"
            raise ValueError(
                f"{self._owner} needs each step of shape {axes} with {self.rank} known spatial "
                f"size(s) and known channels, received steps of shape {tuple(input_shape)}. ConvLSTM layers need "
                "static spatial sizes: give the Input its full shape, e.g. Input((timesteps, 32, 32, 3))."
            )
        self.spatial_dims = tuple(int(s) for s in spatial)
        self.input_dim = int(channels)
        width = 4 * self.filters
        self.kernel = self.add_weight(self.kernel_size + (self.input_dim, width), _contiguous(self.kernel_initializer),
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint,
                                      name="kernel")
        self.recurrent_kernel = self.add_weight(self.kernel_size + (self.filters, width),
                                                _contiguous(self.recurrent_initializer),
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint, name="recurrent_kernel")
        if self.use_bias:
            self.bias = self.add_weight((width,), self.bias_initializer, regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint, name="bias")
            if self.unit_forget_bias:
                with torch.no_grad():
                    self.bias[self.filters:2 * self.filters].fill_(1.0)

    def state_spatial(self, spatial: Sequence[Optional[int]]) -> Tuple[Optional[int], ...]:
        """The spatial sizes of `h` and `c` for inputs of spatial sizes `spatial`."""
        return tuple(conv_output_length(s, k, self.padding, st, d)
                     for s, k, st, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate))

    def state_shape(self, batch: Any, spatial: Sequence[Optional[int]]) -> Tuple[Any, ...]:
        """The shape of `h` (and `c`) in this cell's data format."""
        out = self.state_spatial(spatial)
        if self.data_format == "channels_first":
            return (batch, self.filters) + out
        return (batch,) + out + (self.filters,)

    def compute_output_shape(self, input_shape: Shape, states_shape: Any = None) -> Any:
        spatial, _ = self._split_shape(input_shape)
        shape = self.state_shape(input_shape[0], spatial)
        return shape, [shape, shape]

    def get_initial_state(self, batch_size: Optional[int] = None) -> List[torch.Tensor]:
        """Zero `[h, c]` for a batch of `batch_size`, in this cell's data format."""
        like = self.kernel if self.kernel is not None else torch.empty(0)
        shape = self.state_shape(batch_size, self.spatial_dims or ())
        return [like.new_zeros(shape), like.new_zeros(shape)]

    # ------------------------------------------------------------------ the convolutions (channels-first)
    def torch_kernels(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """`kernel` and `recurrent_kernel` in torch's layout `(4 * filters, in, *kernel_size)` (views)."""
        order = (self.rank + 1, self.rank) + tuple(range(self.rank))
        return self.kernel.permute(order), self.recurrent_kernel.permute(order)

    def draw_masks(self, like: torch.Tensor, rate: float) -> torch.Tensor:
        """Four dropout masks (one per gate) of `like`'s shape, stacked on a new axis 1."""
        from kerasish import random

        ones = torch.ones_like(like)
        return torch.stack([random.dropout(ones, rate, seed=self.seed_generator) for _ in range(4)], dim=1)

    def input_projection(self, x: torch.Tensor, kernel: torch.Tensor, masks: Optional[torch.Tensor] = None
                         ) -> torch.Tensor:
        """The input convolution of every gate, with the bias, for a batch of steps.

        Args:
            x: `(n, channels, *spatial)`, channels-first; `n` may fold time into the batch.
            kernel: from `torch_kernels()`.
            masks: `(n, 4, channels, *spatial)` input dropout masks, or None.

        Returns:
            `(n, 4 * filters, *state_spatial)`.
        """
        groups = 1
        if masks is not None:
            # Gate g convolves its own masked copy: four channel groups of one grouped convolution.
            x = (x.unsqueeze(1) * masks).flatten(1, 2)
            groups = 4
        pads = spatial_pads(x.shape[2:], self.kernel_size, self.strides, self.dilation_rate, self.padding)
        x, symmetric = pad_input(x, pads)
        return _CONV[self.rank](x, kernel, self.bias, stride=self.strides, padding=symmetric,
                                dilation=self.dilation_rate, groups=groups)

    def recurrent_step(self, projected: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
                       recurrent_kernel: torch.Tensor, masks: Optional[torch.Tensor] = None
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
        """One step from the input projection and the previous states (all channels-first).

        Args:
            projected: `(batch, 4 * filters, *spatial)` from `input_projection`.
            h, c: the previous states, `(batch, filters, *spatial)`.
            recurrent_kernel: from `torch_kernels()`.
            masks: `(batch, 4, filters, *spatial)` recurrent dropout masks, or None.

        Returns:
            The new `(h, c)`.
        """
        hin, groups = h, 1
        if masks is not None:
            hin, groups = (h.unsqueeze(1) * masks).flatten(1, 2), 4
        # 'same' with stride 1 keeps the state's size; an even kernel pads one more at the end.
        pads = [((k - 1) // 2, k - 1 - (k - 1) // 2) for k in self.kernel_size]
        hin, symmetric = pad_input(hin, pads)
        z = projected + _CONV[self.rank](hin, recurrent_kernel, None, padding=symmetric, groups=groups)
        zi, zf, zc, zo = z.chunk(4, dim=1)
        c = self.recurrent_activation(zf) * c + self.recurrent_activation(zi) * self.activation(zc)
        h = self.recurrent_activation(zo) * self.activation(c)
        return h, c

    # ------------------------------------------------------------------ one step, in the user's format
    def _to_cf(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.data_format == "channels_first" else x.movedim(-1, 1)

    def _from_cf(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.data_format == "channels_first" else x.movedim(1, -1)

    def call(self, inputs: torch.Tensor, states: Sequence[torch.Tensor], training: Optional[bool] = None) -> Any:
        if not isinstance(states, (list, tuple)) or len(states) != 2:
            raise ValueError(
                f"{type(self).__name__} {self.name!r} expects states=[h, c] (two tensors), received "
                f"{type(states).__name__} {states!r:.80}. Start from cell.get_initial_state(batch_size)."
            )
        train = self.training if training is None else bool(training)
        x, h, c = self._to_cf(inputs), self._to_cf(states[0]), self._to_cf(states[1])
        dp = self.draw_masks(x, self.dropout) if train and self.dropout > 0 else None
        rec = self.draw_masks(h, self.recurrent_dropout) if train and self.recurrent_dropout > 0 else None
        kernel, recurrent_kernel = self.torch_kernels()
        h, c = self.recurrent_step(self.input_projection(x, kernel, dp), h, c, recurrent_kernel, rec)
        h, c = self._from_cf(h), self._from_cf(c)
        return h, [h, c]

    # ------------------------------------------------------------------ config
    def cell_config(self) -> Dict[str, Any]:
        """The cell's own arguments (Keras's cell config without the base layer's keys)."""
        return {
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self._activation_arg),
            "recurrent_activation": activations.serialize(self._recurrent_activation_arg),
            "use_bias": self.use_bias,
            **initializers_config(self),
            "unit_forget_bias": self.unit_forget_bias,
            **penalties_config(self),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }

    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        config["rank"] = self.rank
        config.update(self.cell_config())
        return config

    def extra_repr(self) -> str:
        return f"name={self.name!r}, rank={self.rank}, filters={self.filters}, kernel_size={self.kernel_size}"
