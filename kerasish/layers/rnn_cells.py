"""Keras 3's recurrent cells: `SimpleRNNCell`, `LSTMCell`, `GRUCell` and `StackedRNNCells`.

A cell computes one time step, `output, new_states = cell(inputs, states)`; the `RNN` layer
(`kerasish.layers.rnn_generic`) runs it over a sequence. The weights are stored directly in
Keras's layout and gate order with `add_weight` (`kernel (features, gates * units)`,
`recurrent_kernel (units, gates * units)`, `bias`), so `get_weights()` and `set_weights()` need
no conversion: LSTM gates i, f, c, o; GRU gates z, r, h, and with `reset_after=True` a bias of
shape `(2, 3 * units)` (input bias, then recurrent bias).

Dropout follows Keras's cells: one mask for the inputs and one for the recurrent state, drawn
once per sequence (the RNN layer draws them before its first step and clears them after the
last) and applied only in training. With `recurrent_dropout > 0` the LSTM and GRU cells draw
one mask per gate, as Keras's `implementation=1` does.

Difference from Keras: `dropout` and `recurrent_dropout` outside [0, 1] are refused (Keras clips
them silently).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Union

import torch

from kerasish import activations
from kerasish.layers.recurrent_args import initializers_config, penalties_config, set_weight_args
from kerasish.layers.layer import Layer, Shape

States = Union[torch.Tensor, Sequence[torch.Tensor]]


def _check_units(cls: str, units: Any) -> int:
    if isinstance(units, bool) or not isinstance(units, int) or units < 1:
        raise ValueError(
            f"{cls}: units must be a positive integer, received units={units!r}. Example: {cls}(32)."
        )
    return units


def _check_rate(cls: str, arg: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(
            f"{cls}: {arg} must be a number in [0, 1], received {arg}={value!r}. Example: {arg}=0.2."
        )
    return float(value)


class DropoutRNNCell:
    """Mixin of the built-in cells: dropout masks cached for a whole sequence.

    Keras's RNN layer asks for the masks before the first step (`get_dropout_mask`,
    `get_recurrent_dropout_mask`) and clears them after the last (`reset_dropout_mask`,
    `reset_recurrent_dropout_mask`), so every step of one sequence shares them.
    """

    dropout: float
    recurrent_dropout: float
    #: Several masks (one per gate) instead of one; None for one mask.
    dropout_mask_count: Optional[int] = None

    def _draw_masks(self, step_input: torch.Tensor, rate: float) -> Any:
        from kerasish import random

        ones = torch.ones_like(step_input)
        if self.dropout_mask_count is None:
            return random.dropout(ones, rate, seed=self.seed_generator)
        return [random.dropout(ones, rate, seed=self.seed_generator) for _ in range(self.dropout_mask_count)]

    def get_dropout_mask(self, step_input: torch.Tensor) -> Any:
        """The input mask of this sequence (drawn on the first request), or None without dropout."""
        if getattr(self, "_dropout_mask", None) is None and self.dropout > 0:
            self._dropout_mask = self._draw_masks(step_input, self.dropout)
        return getattr(self, "_dropout_mask", None)

    def get_recurrent_dropout_mask(self, step_input: torch.Tensor) -> Any:
        """The recurrent-state mask of this sequence, or None without recurrent dropout."""
        if getattr(self, "_recurrent_dropout_mask", None) is None and self.recurrent_dropout > 0:
            self._recurrent_dropout_mask = self._draw_masks(step_input, self.recurrent_dropout)
        return getattr(self, "_recurrent_dropout_mask", None)

    def reset_dropout_mask(self) -> None:
        self._dropout_mask = None

    def reset_recurrent_dropout_mask(self) -> None:
        self._recurrent_dropout_mask = None


class _Cell(DropoutRNNCell, Layer):
    """Arguments, weights and config shared by the three built-in cells."""

    gates = 1

    def _setup(self, units: int, activation: Any, recurrent_activation: Any, use_bias: bool,
               kernel_initializer: Any, recurrent_initializer: Any, bias_initializer: Any,
               kernel_regularizer: Any, recurrent_regularizer: Any, bias_regularizer: Any,
               kernel_constraint: Any, recurrent_constraint: Any, bias_constraint: Any,
               dropout: float, recurrent_dropout: float, seed: Optional[int]) -> None:
        from kerasish.random import SeedGenerator

        cls = type(self).__name__
        self.units = _check_units(cls, units)
        self.dropout = _check_rate(cls, "dropout", dropout)
        self.recurrent_dropout = _check_rate(cls, "recurrent_dropout", recurrent_dropout)
        self._activation_arg = activation
        self.activation = activations.get(activation)
        self._recurrent_activation_arg = recurrent_activation
        self.recurrent_activation = None if recurrent_activation is None else activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        set_weight_args(self, kernel_initializer, recurrent_initializer, bias_initializer, kernel_regularizer,
                        recurrent_regularizer, bias_regularizer, kernel_constraint, recurrent_constraint,
                        bias_constraint)
        self.seed = seed
        self.seed_generator = SeedGenerator(seed)
        self.output_size = self.units
        self.kernel: Optional[torch.Tensor] = None
        self.recurrent_kernel: Optional[torch.Tensor] = None
        self.bias: Optional[torch.Tensor] = None

    def _bias_shape(self) -> tuple:
        return (self.gates * self.units,)

    def build(self, input_shape: Shape) -> None:
        if input_shape[-1] is None:
            raise ValueError(
                f"{type(self).__name__} {self.name!r} needs the last input dimension (features) to be known, "
                f"received input shape {tuple(input_shape)}. Give the Input a full feature size."
            )
        width = self.gates * self.units
        self.kernel = self.add_weight((input_shape[-1], width), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint,
                                      name="kernel")
        self.recurrent_kernel = self.add_weight((self.units, width), self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint, name="recurrent_kernel")
        if self.use_bias:
            self.bias = self.add_weight(self._bias_shape(), self.bias_initializer, regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint, name="bias")

    def get_initial_state(self, batch_size: Optional[int] = None) -> List[torch.Tensor]:
        """Zero states, one `(batch_size, units)` tensor per entry of `state_size`."""
        sizes = self.state_size if isinstance(self.state_size, list) else [self.state_size]
        like = self.kernel if self.kernel is not None else torch.empty(0)
        return [like.new_zeros((batch_size, n)) for n in sizes]

    def _active(self, training: Optional[bool]) -> bool:
        return self.training if training is None else bool(training)

    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        config.update(units=self.units, activation=activations.serialize(self._activation_arg))
        if self.recurrent_activation is not None:
            config["recurrent_activation"] = activations.serialize(self._recurrent_activation_arg)
        config.update(
            use_bias=self.use_bias,
            **initializers_config(self),
            **penalties_config(self),
            dropout=self.dropout,
            recurrent_dropout=self.recurrent_dropout,
            seed=self.seed,
        )
        return config

    def extra_repr(self) -> str:
        return f"name={self.name!r}, units={self.units}"


_ARGS = """
        use_bias: whether to add biases. Defaults to `True`.
        kernel_initializer: for `kernel`. Defaults to `'glorot_uniform'`.
        recurrent_initializer: for `recurrent_kernel`. Defaults to `'orthogonal'`.
        bias_initializer: for `bias`. Defaults to `'zeros'`.
        kernel_regularizer: penalty on `kernel`. Defaults to `None`.
        recurrent_regularizer: penalty on `recurrent_kernel`. Defaults to `None`.
        bias_regularizer: penalty on `bias`. Defaults to `None`.
        kernel_constraint: applied to `kernel` after each optimizer step. Defaults to `None`.
        recurrent_constraint: applied to `recurrent_kernel`. Defaults to `None`.
        bias_constraint: applied to `bias`. Defaults to `None`.
        dropout: fraction of the input features dropped in training, in [0, 1]. Defaults to `0.0`.
        recurrent_dropout: fraction of the recurrent state dropped in training. Defaults to `0.0`.
        seed: seed of the dropout masks. Defaults to `None`."""


class SimpleRNNCell(_Cell):
    __doc__ = """One step of a fully connected RNN: `h = activation(x @ kernel + h_prev @ recurrent_kernel + bias)`.

    Args:
        units: size of the output and state.
        activation: activation name or callable. Defaults to `'tanh'`.""" + _ARGS + """
        **kwargs: `name`, `dtype`, `trainable`.

    Example:
        >>> cell = SimpleRNNCell(4)
        >>> out, states = cell(torch.ones(2, 3), [torch.zeros(2, 4)])
        >>> out.shape, cell.count_params()
        (torch.Size([2, 4]), 32)
    """

    def __init__(self, units: int, activation: Any = "tanh", use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", recurrent_initializer: Any = "orthogonal",
                 bias_initializer: Any = "zeros", kernel_regularizer: Any = None, recurrent_regularizer: Any = None,
                 bias_regularizer: Any = None, kernel_constraint: Any = None, recurrent_constraint: Any = None,
                 bias_constraint: Any = None, dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 seed: Optional[int] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._setup(units, activation, None, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                    kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint,
                    recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed)
        self.state_size = self.units

    def call(self, sequence: torch.Tensor, states: States, training: Optional[bool] = None) -> Any:
        nested = isinstance(states, (list, tuple))
        h_prev = states[0] if nested else states
        train = self._active(training)
        dp_mask = self.get_dropout_mask(sequence)
        rec_mask = self.get_recurrent_dropout_mask(h_prev)
        if train and dp_mask is not None:
            sequence = sequence * dp_mask
        h = torch.matmul(sequence, self.kernel)
        if self.bias is not None:
            h = h + self.bias
        if train and rec_mask is not None:
            h_prev = h_prev * rec_mask
        output = self.activation(h + torch.matmul(h_prev, self.recurrent_kernel))
        return output, ([output] if nested else output)


class LSTMCell(_Cell):
    __doc__ = """One step of a long short-term memory: states `[h, c]`, gates i, f, c, o in Keras's order.

    Args:
        units: size of the output and of both states.
        activation: of the cell input and output. Defaults to `'tanh'`.
        recurrent_activation: of the gates. Defaults to `'sigmoid'`.""" + _ARGS.replace(
        "Defaults to `'zeros'`.", "Defaults to `'zeros'`.\n        unit_forget_bias: start the forget gate's "
        "bias at 1. Defaults to `True`.") + """
        **kwargs: `name`, `dtype`, `trainable`.

    Example:
        >>> cell = LSTMCell(4)
        >>> out, (h, c) = cell(torch.ones(2, 3), [torch.zeros(2, 4), torch.zeros(2, 4)])
        >>> out.shape, cell.count_params()
        (torch.Size([2, 4]), 128)
    """

    gates = 4

    def __init__(self, units: int, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 unit_forget_bias: bool = True, kernel_regularizer: Any = None, recurrent_regularizer: Any = None,
                 bias_regularizer: Any = None, kernel_constraint: Any = None, recurrent_constraint: Any = None,
                 bias_constraint: Any = None, dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 seed: Optional[int] = None, **kwargs: Any) -> None:
        self.implementation = kwargs.pop("implementation", 2)
        super().__init__(**kwargs)
        self._setup(units, activation, recurrent_activation, use_bias, kernel_initializer, recurrent_initializer,
                    bias_initializer, kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint,
                    recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed)
        self.unit_forget_bias = bool(unit_forget_bias)
        if self.recurrent_dropout:
            self.implementation = 1
        if self.implementation == 1:
            self.dropout_mask_count = 4  # one mask per gate, as Keras's implementation 1
        self.state_size = [self.units, self.units]

    def build(self, input_shape: Shape) -> None:
        super().build(input_shape)
        if self.bias is not None and self.unit_forget_bias:
            with torch.no_grad():
                self.bias[self.units:2 * self.units].fill_(1.0)

    def call(self, inputs: torch.Tensor, states: States, training: Optional[bool] = None) -> Any:
        h_prev, c_prev = states[0], states[1]
        train = self._active(training)
        if self.implementation == 1:
            dp = self.get_dropout_mask(inputs) if train and 0 < self.dropout < 1 else None
            rec = self.get_recurrent_dropout_mask(h_prev) if train and 0 < self.recurrent_dropout < 1 else None
            kernels = self.kernel.chunk(4, dim=1)
            recurrent = self.recurrent_kernel.chunk(4, dim=1)
            biases = self.bias.chunk(4) if self.bias is not None else (None,) * 4
            z = []
            for g in range(4):
                x_g = inputs if dp is None else inputs * dp[g]
                h_g = h_prev if rec is None else h_prev * rec[g]
                zg = torch.matmul(x_g, kernels[g]) + torch.matmul(h_g, recurrent[g])
                z.append(zg if biases[g] is None else zg + biases[g])
        else:
            dp = self.get_dropout_mask(inputs) if train and 0 < self.dropout < 1 else None
            if dp is not None:
                inputs = inputs * dp
            zz = torch.matmul(inputs, self.kernel) + torch.matmul(h_prev, self.recurrent_kernel)
            if self.bias is not None:
                zz = zz + self.bias
            z = zz.chunk(4, dim=-1)
        i = self.recurrent_activation(z[0])
        f = self.recurrent_activation(z[1])
        c = f * c_prev + i * self.activation(z[2])
        o = self.recurrent_activation(z[3])
        h = o * self.activation(c)
        return h, [h, c]

    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        config["unit_forget_bias"] = self.unit_forget_bias
        return config


class GRUCell(_Cell):
    __doc__ = """One step of a gated recurrent unit: gates z, r, h in Keras's order.

    Args:
        units: size of the output and state.
        activation: of the candidate state. Defaults to `'tanh'`.
        recurrent_activation: of the gates. Defaults to `'sigmoid'`.""" + _ARGS + """
        reset_after: apply the reset gate after the recurrent matmul (separate input and
            recurrent biases, `bias` of shape `(2, 3 * units)`); False applies it before, with
            one bias `(3 * units,)`. Defaults to `True`.
        **kwargs: `name`, `dtype`, `trainable`.

    Example:
        >>> cell = GRUCell(4)
        >>> out, states = cell(torch.ones(2, 3), [torch.zeros(2, 4)])
        >>> out.shape, cell.count_params()
        (torch.Size([2, 4]), 108)
    """

    gates = 3

    def __init__(self, units: int, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, recurrent_regularizer: Any = None, bias_regularizer: Any = None,
                 kernel_constraint: Any = None, recurrent_constraint: Any = None, bias_constraint: Any = None,
                 dropout: float = 0.0, recurrent_dropout: float = 0.0, reset_after: bool = True,
                 seed: Optional[int] = None, **kwargs: Any) -> None:
        self.implementation = kwargs.pop("implementation", 2)
        super().__init__(**kwargs)
        self._setup(units, activation, recurrent_activation, use_bias, kernel_initializer, recurrent_initializer,
                    bias_initializer, kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint,
                    recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed)
        self.reset_after = bool(reset_after)
        if self.recurrent_dropout:
            self.implementation = 1
        if self.implementation == 1:
            self.dropout_mask_count = 3
        self.state_size = self.units

    def _bias_shape(self) -> tuple:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def call(self, inputs: torch.Tensor, states: States, training: Optional[bool] = None) -> Any:
        nested = isinstance(states, (list, tuple))
        h_prev = states[0] if nested else states
        train = self._active(training)
        u = self.units
        input_bias = recurrent_bias = None
        if self.bias is not None:
            input_bias, recurrent_bias = (self.bias[0], self.bias[1]) if self.reset_after else (self.bias, None)
        dp = self.get_dropout_mask(inputs) if train and 0 < self.dropout < 1 else None
        rec = None
        if self.implementation == 1:
            rec = self.get_recurrent_dropout_mask(h_prev) if train and 0 < self.recurrent_dropout < 1 else None
            x_parts = [inputs if dp is None else inputs * dp[g] for g in range(3)]
            h_parts = [h_prev if rec is None else h_prev * rec[g] for g in range(3)]
        else:
            x_all = inputs if dp is None else inputs * dp
            x_parts = [x_all] * 3
            h_parts = [h_prev] * 3
        kernels = self.kernel.chunk(3, dim=1)
        recurrent = self.recurrent_kernel.chunk(3, dim=1)
        x = [torch.matmul(x_parts[g], kernels[g]) for g in range(3)]
        if input_bias is not None:
            x = [x[g] + input_bias[g * u:(g + 1) * u] for g in range(3)]
        rz = torch.matmul(h_parts[0], recurrent[0])
        rr = torch.matmul(h_parts[1], recurrent[1])
        if recurrent_bias is not None:
            rz, rr = rz + recurrent_bias[:u], rr + recurrent_bias[u:2 * u]
        z = self.recurrent_activation(x[0] + rz)
        r = self.recurrent_activation(x[1] + rr)
        if self.reset_after:
            rh = torch.matmul(h_parts[2], recurrent[2])
            if recurrent_bias is not None:
                rh = rh + recurrent_bias[2 * u:]
            rh = r * rh
        else:
            rh = torch.matmul(r * h_parts[2], recurrent[2])
        hh = self.activation(x[2] + rh)
        h = z * h_prev + (1 - z) * hh
        return h, ([h] if nested else h)

    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        config["reset_after"] = self.reset_after
        return config


def check_cell(cell: Any, where: str) -> None:
    """Keras's two requirements of a cell, with the fix in the message."""
    if not callable(getattr(cell, "call", None)):
        raise ValueError(
            f"{where}: every cell needs a `call(inputs, states)` method, received {cell!r} of type "
            f"{type(cell).__name__}. Pass a cell such as LSTMCell(32), or a Layer subclass with call(inputs, states) "
            "returning (output, new_states)."
        )
    if getattr(cell, "state_size", None) is None:
        raise ValueError(
            f"{where}: every cell needs a `state_size` attribute (an int, or a list of ints, one per state), "
            f"received {type(cell).__name__} without one. Set e.g. self.state_size = units in the cell's __init__."
        )


def _zeros_for(cell: Any, batch_size: int, like: torch.Tensor) -> Any:
    """A cell's initial state: its own get_initial_state, else zeros for each state size."""
    fn = getattr(cell, "get_initial_state", None)
    if fn is not None:
        return fn(batch_size=batch_size)
    if isinstance(cell.state_size, int):
        return like.new_zeros((batch_size, cell.state_size))
    return [like.new_zeros((batch_size, n)) for n in cell.state_size]


def cell_output_size(cell: Any) -> int:
    size = getattr(cell, "output_size", None)
    if size is not None:
        return size
    return cell.state_size[0] if isinstance(cell.state_size, (list, tuple)) else cell.state_size


class StackedRNNCells(Layer):
    """Several cells run as one: each step feeds a cell's output to the next cell.

    The states are the cells' states in order, one entry (an int or a list) per cell;
    the output is the last cell's.

    Args:
        cells: a list of cells (built-in or a user's own).
        **kwargs: `name`, `dtype`, `trainable`.

    Raises:
        ValueError: for a cell without `call` or `state_size`.

    Example:
        >>> from kerasish.layers.rnn_generic import RNN
        >>> layer = RNN(StackedRNNCells([LSTMCell(8), LSTMCell(4)]))
        >>> layer(torch.ones(2, 5, 3)).shape
        torch.Size([2, 4])
    """

    def __init__(self, cells: Sequence[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(cells, (list, tuple)) or not cells:
            raise ValueError(
                f"StackedRNNCells: cells must be a non-empty list of cells, received cells={cells!r}. "
                "Example: StackedRNNCells([LSTMCell(32), LSTMCell(32)])."
            )
        for cell in cells:
            check_cell(cell, "StackedRNNCells")
        self.cells = torch.nn.ModuleList(cells) if all(isinstance(c, torch.nn.Module) for c in cells) else list(cells)

    @property
    def state_size(self) -> List[Any]:
        return [c.state_size for c in self.cells]

    @property
    def output_size(self) -> int:
        return cell_output_size(self.cells[-1])

    def get_initial_state(self, batch_size: Optional[int] = None) -> List[Any]:
        like = next(iter(self.parameters()), torch.empty(0))
        return [_zeros_for(cell, batch_size, like) for cell in self.cells]

    def build(self, input_shape: Shape) -> None:
        shape = tuple(input_shape)
        for cell in self.cells:
            if isinstance(cell, Layer) and not cell.built:
                cell.build(shape)
            shape = (shape[0], cell_output_size(cell))

    def call(self, inputs: torch.Tensor, states: Sequence[Any], training: Optional[bool] = None) -> Any:
        new_states = []
        for cell, cell_states in zip(self.cells, states):
            is_list = isinstance(cell_states, (list, tuple))
            cell_states = list(cell_states) if is_list else [cell_states]
            if isinstance(cell, Layer):
                inputs, cell_states = cell(inputs, cell_states, training=training)
            else:
                inputs, cell_states = cell.call(inputs, cell_states)
            if not isinstance(cell_states, (list, tuple)):
                cell_states = [cell_states]
            new_states.append(list(cell_states) if is_list or len(cell_states) != 1 else cell_states[0])
        return inputs, (new_states[0] if len(new_states) == 1 else new_states)

    def get_config(self) -> Dict[str, Any]:
        from kerasish.layers.nested_config import serialize_layer

        config = super().get_config()
        config["cells"] = [serialize_layer(cell) for cell in self.cells]
        return config

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "StackedRNNCells":
        from kerasish.layers.nested_config import deserialize_layer

        config = dict(config)
        cells = [deserialize_layer(c) for c in config.pop("cells")]
        return cls(cells, **config)
