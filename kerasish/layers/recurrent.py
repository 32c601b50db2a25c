"""Recurrent layers SimpleRNN, LSTM and GRU on torch's fused RNN kernels (cuDNN on GPUs).

The layers own their weights and call `torch.rnn_tanh`/`torch.lstm`/`torch.gru`, the functions
behind `nn.RNN`/`nn.LSTM`/`nn.GRU`, so the parameter counts are Keras's: one bias per gate
(torch's second bias, `bias_hh`, is passed as zeros and is not a weight), and for the GRU with
`reset_after=True` the two biases Keras also has. Weights are stored in torch's layout and gate
order, `kernel (gates * units, input)`, `recurrent_kernel (gates * units, units)`; `get_weights()`
and `set_weights()`, of the layer and of any model holding it, use Keras's layout
`(input, gates * units)` and gate order (LSTM i, f, c, o is torch's i, f, g, o; the GRU's z, r, h
is torch's r, z, n reordered). Constraints (`kernel_constraint=...`) see the weights in Keras's
layout and gate order too.

Activations other than the fused kernels' (tanh/sigmoid; SimpleRNN tanh or relu) and
`GRU(reset_after=False)` run a step-by-step loop over the same weights, as Keras falls back from
cuDNN to its generic loop; the results are Keras's either way.

Masks (from `Embedding(mask_zero=True)` or `Masking`) are honoured exactly: each row's real steps
are gathered to the front (so pre-padding, Keras's `pad_sequences` default, works as well as
post-padding), run as a packed sequence, and scattered back; the last output is the state after
the last real step. At padded positions a `return_sequences` output repeats the last real step's
output (zeros before the first one), as Keras; with `zero_output_for_mask=True` (which
Bidirectional sets when it returns sequences, as Keras does) they are zeros.

Dropout draws Keras's masks (one per sequence; one per gate with `recurrent_dropout`) from the
layer's `SeedGenerator` when `seed` is given, so a seeded layer drops what Keras drops. Recurrent
dropout in training and `stateful=True` are supported; recurrent dropout runs the step loop.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import torch

from kerasish import activations
from kerasish.layers.recurrent_base import _RNN, _recurrent


_COMMON_ARGS = """
        use_bias: whether to add biases. Defaults to `True`.
        kernel_initializer: for the input kernel. Defaults to `'glorot_uniform'`.
        recurrent_initializer: for the recurrent kernel. Defaults to `'orthogonal'`.
        bias_initializer: Defaults to `'zeros'`."""

_TAIL_ARGS = """
        kernel_regularizer: Defaults to `None`.
        recurrent_regularizer: Defaults to `None`.
        bias_regularizer: Defaults to `None`.
        activity_regularizer: penalty on the output, added to the loss. Defaults to `None`.
        kernel_constraint: applied to the input kernel after each optimizer step, in Keras's
            layout `(features, gates * units)` and gate order. Defaults to `None`.
        recurrent_constraint: applied to the recurrent kernel, Keras's layout
            `(units, gates * units)`. Defaults to `None`.
        bias_constraint: applied to the bias after each optimizer step. Defaults to `None`.
        dropout: fraction of input features dropped in training (one mask per sequence).
            Defaults to `0.0`.
        recurrent_dropout: fraction of the recurrent state dropped in training (one mask per
            sequence, one per gate for LSTM/GRU, as Keras). In training it runs the step-by-step
            loop instead of the fused kernel (as Keras leaves cuDNN). Defaults to `0.0`.
        seed: an int makes the dropout masks a reproducible sequence (a `kerasish.random.SeedGenerator`
            saved with the weights; Keras's own masks for the same seed on the CPU). Defaults to `None`.
        return_sequences: return the output of every step `(batch, timesteps, units)` instead of
            the last one `(batch, units)`. Defaults to `False`.
        return_state: also return the final state(s): `[output, *states]`. Defaults to `False`.
        go_backwards: process the sequence (its real steps, with a mask) in reverse; sequence
            outputs are then in reversed order, as in Keras. Defaults to `False`.
        stateful: use each batch's final states as the next batch's initial states (sample `i`
            continues sample `i`; the batch size must stay fixed); `reset_states()` zeroes them.
            Defaults to `False`.
        unroll: accepted for Keras compatibility; the fused kernel gives the same results.
            Defaults to `False`."""


_CUDNN_ARG = """
        use_cudnn: `'auto'` uses cuDNN when the inputs are on a CUDA device; `False` runs torch's
            native (non-cuDNN) CUDA kernels instead; `True` raises a ValueError when cuDNN cannot
            run (CPU inputs). Defaults to `'auto'`."""


class SimpleRNN(_RNN):
    gates = 1
    _weight_subscope = "simple_rnn_cell"  # Keras's SimpleRNN makes its weights in a cell so named (Variable.path)
    _n_states = 1

    def __init__(
        self,
        units: int,
        activation: activations.ActivationLike = "tanh",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: Optional[int] = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        **kwargs: Any,
    ) -> None:
        self.zero_output_for_mask = bool(kwargs.pop("zero_output_for_mask", False))
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self._setup(units, activation, None, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                    kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint,
                    recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed,
                    return_sequences, return_state, go_backwards, stateful, unroll)

    def _fused(self) -> bool:
        return activations.serialize(self.activation_arg) in ("tanh", "relu")

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        # Keras 3's SimpleRNN config has no `seed` (its cell keeps it): a saved config loses it, as in Keras.
        del config_["seed"]
        return config_

    def _kernel_fn(self):
        return torch.rnn_tanh if activations.serialize(self.activation_arg) == "tanh" else torch.rnn_relu


SimpleRNN.__doc__ = """A fully connected RNN: `h_t = activation(x_t W + h_{t-1} U + b)`.

    Parameters: `units * (features + units) + units`, as in Keras.

    Args:
        units: size of the output and state.
        activation: activation name or callable (`'tanh'` and `'relu'` run on torch's fused
            kernel, others step by step). Defaults to `'tanh'`.""" + _COMMON_ARGS + _TAIL_ARGS + """
        **kwargs: `input_shape`, `name`, `dtype`, `trainable`.

    Example:
        >>> layer = SimpleRNN(4, input_shape=(10, 3))
        >>> layer(torch.ones(2, 10, 3)).shape, layer.count_params()
        (torch.Size([2, 4]), 32)
    """


class LSTM(_RNN):
    gates = 4
    _weight_subscope = "lstm_cell"  # Keras's LSTM makes its weights in a cell so named (Variable.path)
    _n_states = 2

    def __init__(
        self,
        units: int,
        activation: activations.ActivationLike = "tanh",
        recurrent_activation: activations.ActivationLike = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        unit_forget_bias: bool = True,
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: Optional[int] = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        use_cudnn: Any = "auto",
        **kwargs: Any,
    ) -> None:
        self.zero_output_for_mask = bool(kwargs.pop("zero_output_for_mask", False))
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.use_cudnn = self._check_use_cudnn(use_cudnn)
        self.unit_forget_bias = bool(unit_forget_bias)
        self._setup(units, activation, recurrent_activation, use_bias, kernel_initializer, recurrent_initializer,
                    bias_initializer, kernel_regularizer, recurrent_regularizer, bias_regularizer,
                    kernel_constraint, recurrent_constraint, bias_constraint, dropout,
                    recurrent_dropout, seed, return_sequences, return_state, go_backwards, stateful, unroll)

    def _init_bias(self) -> None:
        self.bias_initializer(self.bias.data)
        if self.unit_forget_bias:
            # Gate order i, f, g, o: the forget gate's bias starts at 1.
            with torch.no_grad():
                self.bias[self.units:2 * self.units].fill_(1.0)

    def _kernel_fn(self):
        return torch.lstm

    def _step(self, projected: torch.Tensor, states: List[torch.Tensor],
              masks: Optional[List[torch.Tensor]] = None) -> List[torch.Tensor]:
        h, c = states
        z = projected + _recurrent(h, self.recurrent_kernel, masks)
        i, f, g, o = z.chunk(4, dim=-1)  # torch's gate order, which is Keras's i, f, c, o
        c = self.recurrent_activation(f) * c + self.recurrent_activation(i) * self.activation(g)
        return [self.recurrent_activation(o) * self.activation(c), c]

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update(recurrent_activation=activations.serialize(self.recurrent_activation_arg),
                       unit_forget_bias=self.unit_forget_bias)
        return config_


LSTM.__doc__ = """Long short-term memory, on torch's fused LSTM kernel.

    Parameters: `4 * (units * (features + units) + units)`, as in Keras (one bias per gate).

    Args:
        units: size of the output and states.
        activation: activation of the cell input and output. Defaults to `'tanh'`.
        recurrent_activation: activation of the gates. Defaults to `'sigmoid'`. Other
            activations than the defaults run step by step instead of on the fused kernel.""" + _COMMON_ARGS + """
        unit_forget_bias: start the forget gate's bias at 1. Defaults to `True`.""" + _TAIL_ARGS + _CUDNN_ARG + """
        **kwargs: `input_shape`, `name`, `dtype`, `trainable`.

    Raises:
        ValueError: for an invalid `use_cudnn` (or `use_cudnn=True` with non-default
            activations or recurrent dropout), a stateful batch of another size, or inputs that are not
            `(batch, timesteps, features)`.

    Example:
        >>> layer = LSTM(8, return_sequences=True, input_shape=(5, 3))
        >>> layer(torch.ones(2, 5, 3)).shape, layer.count_params()
        (torch.Size([2, 5, 8]), 384)
    """


class GRU(_RNN):
    gates = 3
    _weight_subscope = "gru_cell"  # Keras's GRU makes its weights in a cell so named (Variable.path)
    _n_states = 1

    def __init__(
        self,
        units: int,
        activation: activations.ActivationLike = "tanh",
        recurrent_activation: activations.ActivationLike = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: Optional[int] = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        reset_after: bool = True,
        use_cudnn: Any = "auto",
        **kwargs: Any,
    ) -> None:
        self.zero_output_for_mask = bool(kwargs.pop("zero_output_for_mask", False))
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.use_cudnn = self._check_use_cudnn(use_cudnn)
        self.reset_after = bool(reset_after)
        self._setup(units, activation, recurrent_activation, use_bias, kernel_initializer, recurrent_initializer,
                    bias_initializer, kernel_regularizer, recurrent_regularizer, bias_regularizer,
                    kernel_constraint, recurrent_constraint, bias_constraint, dropout,
                    recurrent_dropout, seed, return_sequences, return_state, go_backwards, stateful, unroll)

    def _bias_shape(self) -> Tuple[int, ...]:
        # Keras's reset_after GRU has an input bias and a recurrent bias: torch's bias_ih, bias_hh.
        return (2, self.gates * self.units) if self.reset_after else (self.gates * self.units,)

    def _fused(self) -> bool:
        return self.reset_after and super()._fused()

    def _step(self, projected: torch.Tensor, states: List[torch.Tensor],
              masks: Optional[List[torch.Tensor]] = None) -> List[torch.Tensor]:
        h = states[0]
        xr, xz, xn = projected.chunk(3, dim=-1)  # torch's gate order r, z, n (Keras's z, r, h)
        u = self.units
        if self.reset_after:
            recurrent = _recurrent(h, self.recurrent_kernel, masks)
            if self.bias is not None:
                recurrent = recurrent + self.bias[1]
            hr, hz, hn = recurrent.chunk(3, dim=-1)
            r = self.recurrent_activation(xr + hr)
            n = self.activation(xn + r * hn)
        else:
            hr, hz = _recurrent(h, self.recurrent_kernel[:2 * u], None if masks is None else masks[:2]).chunk(2, dim=-1)
            r = self.recurrent_activation(xr + hr)
            h_n = h if masks is None else h * masks[2]
            n = self.activation(xn + torch.matmul(r * h_n, self.recurrent_kernel[2 * u:].t()))
        z = self.recurrent_activation(xz + hz)
        return [z * h + (1 - z) * n]

    def _flat_weights(self) -> List[torch.Tensor]:
        if self.bias is None:
            return [self.kernel, self.recurrent_kernel]
        return [self.kernel, self.recurrent_kernel, self.bias[0], self.bias[1]]

    def _gate_order(self) -> Optional[List[int]]:
        # torch (r, z, n) <-> Keras (z, r, h)
        return [1, 0, 2]

    def _kernel_fn(self):
        return torch.gru

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update(recurrent_activation=activations.serialize(self.recurrent_activation_arg),
                       reset_after=self.reset_after)
        return config_


GRU.__doc__ = """Gated recurrent unit, on torch's fused GRU kernel (Keras's default `reset_after=True`).

    Parameters: `3 * (units * (features + units) + 2 * units)`, as in Keras (input and recurrent
    biases; `3 * (units * (features + units) + units)` with `reset_after=False`).

    Args:
        units: size of the output and state.
        activation: activation of the candidate state. Defaults to `'tanh'`.
        recurrent_activation: activation of the gates. Defaults to `'sigmoid'`.""" + _COMMON_ARGS + _TAIL_ARGS + """
        reset_after: apply the reset gate after the recurrent matmul (torch's and cuDNN's form,
            with separate input and recurrent biases of shape `(2, 3 * units)`); False applies it
            before, with one bias `(3 * units,)`. Non-default activations or `reset_after=False`
            run step by step instead of on the fused kernel. Defaults to `True`.""" + _CUDNN_ARG + """
        **kwargs: `input_shape`, `name`, `dtype`, `trainable`.

    Example:
        >>> layer = GRU(8, input_shape=(5, 3))
        >>> layer(torch.ones(2, 5, 3)).shape, layer.count_params()
        (torch.Size([2, 8]), 312)
    """
