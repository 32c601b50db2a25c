"""The recurrent layers' shared machinery: `_RNN`, the base of SimpleRNN, LSTM and GRU.

Weights in torch's layout and gate order, the fused torch kernels (`torch.rnn_tanh`/`torch.lstm`/
`torch.gru`) or the step-by-step loop, exact masking by packing, Keras's dropout masks, stateful
states and the Keras-layout `get_weights`/`set_weights`. `kerasish/layers/recurrent.py` describes the
behaviour and defines the three layers on top of it.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from kerasish import activations, config, random, regularizers
from kerasish.layers.recurrent_args import initializers_config, penalties_config, set_weight_args
from kerasish.layers.layer import Layer, Shape
from kerasish.layers.rnn_state import StatefulStates
from kerasish.layers.weight_layout import KerasLayout, attach_constraint
from kerasish.random import SeedGenerator
from kerasish.utils.host_sync import labelled_sync

Output = Union[torch.Tensor, List[torch.Tensor]]

_USE_CUDNN = ("auto", True, False)

# A masked sequence is packed for torch's fused kernels, which take the lengths from host memory.
MASKED_SYNC = "masked recurrent layer: pack_padded_sequence reads the sequence lengths on the host, once per call"


def _recurrent(h: torch.Tensor, weight: torch.Tensor, masks: Optional[List[torch.Tensor]]) -> torch.Tensor:
    """`h @ weight.T`; with recurrent dropout masks, each gate block of `weight` sees `h` times its mask."""
    if masks is None:
        return torch.matmul(h, weight.t())
    blocks = weight.chunk(len(masks), dim=0)
    return torch.cat([torch.matmul(h * m, w.t()) for m, w in zip(masks, blocks)], dim=-1)


@contextlib.contextmanager
def _cudnn_disabled() -> Iterator[None]:
    """Runs the block with cuDNN off (torch then uses its own fused CUDA kernel), restoring the flag."""
    previous = torch.backends.cudnn.enabled
    torch.backends.cudnn.enabled = False
    try:
        yield
    finally:
        torch.backends.cudnn.enabled = previous


class _RNN(StatefulStates, Layer):
    """Shared body: weights, dropout, masking and the calls into torch's fused kernels (or the loop)."""

    gates = 1
    accepts_mask = True
    _n_states = 1
    #: Keras's `use_cudnn` (LSTM and GRU take it; SimpleRNN always runs as 'auto').
    use_cudnn: Any = "auto"

    regularized_weights = (("kernel_regularizer", "kernel"), ("recurrent_regularizer", "recurrent_kernel"),
                           ("bias_regularizer", "bias"))

    def _setup(
        self,
        units: int,
        activation: Any,
        recurrent_activation: Any,
        use_bias: bool,
        kernel_initializer: Any,
        recurrent_initializer: Any,
        bias_initializer: Any,
        kernel_regularizer: Any,
        recurrent_regularizer: Any,
        bias_regularizer: Any,
        kernel_constraint: Any,
        recurrent_constraint: Any,
        bias_constraint: Any,
        dropout: float,
        recurrent_dropout: float,
        seed: Optional[int],
        return_sequences: bool,
        return_state: bool,
        go_backwards: bool,
        stateful: bool,
        unroll: bool,
    ) -> None:
        cls = type(self).__name__
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(
                f"{cls}: units must be a positive integer, received units={units!r}. Example: {cls}(64)."
            )
        for arg, value in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ValueError(
                    f"{cls}: {arg} must be a number in [0, 1), received {arg}={value!r}. Example: {arg}=0.2."
                )
        self.units = units
        self.activation_arg = activation
        self.recurrent_activation_arg = recurrent_activation
        self.activation = activations.get(activation)
        self.recurrent_activation = None if recurrent_activation is None else activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        set_weight_args(self, kernel_initializer, recurrent_initializer, bias_initializer, kernel_regularizer,
                        recurrent_regularizer, bias_regularizer, kernel_constraint, recurrent_constraint,
                        bias_constraint)
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.seed = seed
        if seed is not None:
            # Only a seeded layer owns generator state (it is saved with the weights); unseeded
            # masks come from torch's global generator, as unseeded Dropout's do.
            self.seed_generator = SeedGenerator(seed)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)  # a speed hint in Keras; the fused kernel gives the same result
        self._torch_init = config.defaults() == "torch"
        self.kernel: Optional[nn.Parameter] = None
        self.recurrent_kernel: Optional[nn.Parameter] = None
        self.bias: Optional[nn.Parameter] = None

    def _fused(self) -> bool:
        """Whether torch's fused kernel computes this layer (else the step-by-step loop runs)."""
        return (activations.serialize(self.activation_arg) == "tanh"
                and activations.serialize(self.recurrent_activation_arg) == "sigmoid")

    # ------------------------------------------------------------------ weights
    def _bias_shape(self) -> Tuple[int, ...]:
        return (self.gates * self.units,)

    def build(self, input_shape: Shape) -> None:
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"Input of layer {self.name!r} ({type(self).__name__}) must have rank 3 (batch, timesteps, features) "
                f"with known features, received input shape {tuple(input_shape)}. For token ids, put an "
                "Embedding layer first; for one feature per step, reshape to (batch, timesteps, 1)."
            )
        features = input_shape[-1]
        dtype = getattr(torch, self.dtype)
        rows = self.gates * self.units
        self.kernel = nn.Parameter(torch.empty(rows, features, dtype=dtype))
        self.recurrent_kernel = nn.Parameter(torch.empty(rows, self.units, dtype=dtype))
        self.bias = nn.Parameter(torch.empty(self._bias_shape(), dtype=dtype)) if self.use_bias else None
        self._attach_constraints()
        if self._torch_init:
            # nn.RNN's reset_parameters: every weight U(-1/sqrt(units), 1/sqrt(units)).
            bound = 1.0 / math.sqrt(self.units)
            with torch.no_grad():
                for p in self.parameters():
                    p.uniform_(-bound, bound)
            return
        # The torch layout (gates*units, features) gives Keras's fans (fan_in = features).
        self.kernel_initializer(self.kernel.data)
        self.recurrent_initializer(self.recurrent_kernel.data)
        if self.bias is not None:
            self._init_bias()

    def _init_bias(self) -> None:
        self.bias_initializer(self.bias.data)

    def _keras_layouts(self) -> List[Optional[KerasLayout]]:
        """How kernel, recurrent_kernel and bias map to Keras's layout: the kernels (gates * units, n)
        in torch's gate order are Keras's (n, gates * units); the bias keeps its shape, its gate
        blocks (last axis) in Keras's order. One mapping serves get/set_weights and constraints."""
        order = self._gate_order()
        kernel = KerasLayout((1, 0), gate_order=order, gate_axis=0)
        out: List[Optional[KerasLayout]] = [kernel, kernel]
        if self.bias is not None:
            out.append(None if order is None else
                       KerasLayout(tuple(range(self.bias.dim())), gate_order=order, gate_axis=-1))
        return out

    def _weights_in_torch_layout(self) -> List[torch.Tensor]:
        return [self.kernel, self.recurrent_kernel] + ([self.bias] if self.bias is not None else [])

    def _attach_constraints(self) -> None:
        constraints = [self.kernel_constraint, self.recurrent_constraint, self.bias_constraint]
        for param, constraint, layout in zip(self._weights_in_torch_layout(), constraints, self._keras_layouts()):
            attach_constraint(param, constraint, layout)

    def _gate_order(self) -> Optional[List[int]]:
        """Torch gate blocks in Keras's order (None when they agree); self-inverse."""
        return None

    def _weight_layouts(self) -> List[Tuple[Optional[nn.Parameter], Optional[KerasLayout]]]:
        if self.kernel is None:
            return []
        return list(zip(self._weights_in_torch_layout(), self._keras_layouts()))

    def _flat_weights(self) -> List[torch.Tensor]:
        if self.bias is None:
            return [self.kernel, self.recurrent_kernel]
        return [self.kernel, self.recurrent_kernel, self.bias, self.bias.new_zeros(self.bias.shape)]

    # ------------------------------------------------------------------ shapes and masks
    def compute_output_shape(self, input_shape: Shape) -> Union[Shape, List[Shape]]:
        if len(input_shape) != 3:
            raise ValueError(
                f"Input of layer {self.name!r} ({type(self).__name__}) must have rank 3 (batch, timesteps, "
                f"features), received input shape {tuple(input_shape)}. Put an Embedding layer first for token "
                "ids, or reshape to (batch, timesteps, 1) for one feature per step."
            )
        out = (input_shape[0], input_shape[1], self.units) if self.return_sequences else (input_shape[0], self.units)
        if self.return_state:
            return [out] + [(input_shape[0], self.units)] * self._n_states
        return out

    def compute_mask(self, inputs: torch.Tensor, previous_mask: Optional[torch.Tensor] = None) -> Optional[torch.Tensor]:
        """Passes the mask on when the layer returns sequences (as Keras), else ends it."""
        return previous_mask if self.return_sequences else None

    # ------------------------------------------------------------------ forward
    def _kernel_fn(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_use_cudnn(self, use_cudnn: Any) -> Any:
        if use_cudnn not in _USE_CUDNN or not isinstance(use_cudnn, (str, bool)):
            raise ValueError(
                f"{type(self).__name__}: use_cudnn must be 'auto', True or False, received use_cudnn={use_cudnn!r}. "
                "Keep 'auto' (Keras's default) to use cuDNN when the inputs are on a CUDA device."
            )
        return use_cudnn

    def _run(self, x: torch.Tensor, batch_sizes: Optional[torch.Tensor],
             hx: List[torch.Tensor]) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        if self.use_cudnn is False and x.is_cuda:
            with _cudnn_disabled():
                return self._run_fused(x, batch_sizes, hx)
        if self.use_cudnn is True and not (x.is_cuda and torch.backends.cudnn.is_available()):
            raise ValueError(
                f"Layer {self.name!r} ({type(self).__name__}) has use_cudnn=True, but its inputs are on {x.device}, "
                "where cuDNN cannot run. Pass use_cudnn='auto' to use cuDNN only when it can, or move the model "
                "and data to a CUDA device."
            )
        return self._run_fused(x, batch_sizes, hx)

    def _run_fused(self, x: torch.Tensor, batch_sizes: Optional[torch.Tensor],
                   hx: List[torch.Tensor]) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        fn = self._kernel_fn()
        weights = self._flat_weights()
        has_bias = self.bias is not None
        h0: Any = hx if self._n_states > 1 else hx[0]
        # torch's `train` flag (dropout is 0 here): cuDNN keeps what its backward needs only when it is set, so
        # it follows autograd too. A layer in eval mode trains inside a custom train_step (`self(x,
        # training=True)` with kerasish's layers in eval mode, see Stepper.train_modes).
        train = self.training or torch.is_grad_enabled()
        if batch_sizes is None:
            result = fn(x, h0, weights, has_bias, 1, 0.0, train, False, True)
        else:
            result = fn(x, batch_sizes, h0, weights, has_bias, 1, 0.0, train, False)
        return result[0], list(result[1:])

    def _initial_states(self, inputs: torch.Tensor, initial_state: Any) -> List[torch.Tensor]:
        n = inputs.shape[0]
        if initial_state is None:
            kept = self._kept_states(n, inputs.device)
            if kept is not None:
                return [s.unsqueeze(0) for s in kept]
            zeros = inputs.new_zeros(1, n, self.units)
            return [zeros] * self._n_states
        states = [initial_state] if isinstance(initial_state, torch.Tensor) else list(initial_state)
        if len(states) != self._n_states or any(tuple(s.shape) != (n, self.units) for s in states):
            raise ValueError(
                f"Layer {self.name!r} expects initial_state as {self._n_states} tensor(s) of shape (batch, units) = "
                f"{(n, self.units)}, received shapes {[tuple(s.shape) for s in states]}. "
                f"{type(self).__name__} has {self._n_states} state(s)."
            )
        return [s.unsqueeze(0).contiguous() for s in states]

    def call(self, inputs: torch.Tensor, mask: Optional[torch.Tensor] = None,
             initial_state: Optional[Any] = None, training: Optional[bool] = None) -> Output:
        if inputs.dim() != 3:
            raise ValueError(
                f"Input of layer {self.name!r} ({type(self).__name__}) must have rank 3 (batch, timesteps, features), "
                f"received a tensor of shape {tuple(inputs.shape)}. Put an Embedding layer before it for token ids."
            )
        x = inputs
        train = bool(self.training if training is None else training)
        hx = self._initial_states(x, initial_state)
        input_masks, recurrent_masks = self._dropout_masks(x, train)
        if recurrent_masks is not None or not self._fused():
            out, states = self._run_loop(x, mask, hx, input_masks, recurrent_masks)
        else:
            if input_masks is not None:
                # One mask per sequence, shared by every time step (and every gate).
                x = x * input_masks[0].unsqueeze(1)
            if mask is None:
                if self.go_backwards:
                    x = x.flip(1)
                out, states = self._run(x, None, hx)
            else:
                out, states = self._run_masked(x, mask, hx)
        self._keep_states([s[0] for s in states])
        last = states[0][0]
        output = out if self.return_sequences else last
        if self.return_state:
            return [output] + [s[0] for s in states]
        return output

    def _dropout_masks(self, x: torch.Tensor, train: bool
                       ) -> Tuple[Optional[List[torch.Tensor]], Optional[List[torch.Tensor]]]:
        """This sequence's dropout masks, drawn as Keras's cells draw them: the input masks
        (batch, features) first, then the recurrent ones (batch, units); one of each, or one per
        gate when `recurrent_dropout > 0` (Keras's implementation 1). Returned in torch's gate
        order; None where the rate is 0 or outside training."""
        per_gate = self.recurrent_dropout > 0 and self.gates > 1
        generator = getattr(self, "seed_generator", None)

        def draw(rows: int, rate: float) -> List[torch.Tensor]:
            ones = x.new_ones((x.shape[0], rows))
            masks = [random.dropout(ones, rate, seed=generator) for _ in range(self.gates if per_gate else 1)]
            order = self._gate_order()
            return masks if order is None or not per_gate else [masks[i] for i in order]

        input_masks = draw(x.shape[2], self.dropout) if train and self.dropout > 0 else None
        recurrent_masks = draw(self.units, self.recurrent_dropout) if train and self.recurrent_dropout > 0 else None
        return input_masks, recurrent_masks

    def _check_mask(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask = mask.to(torch.bool)
        if tuple(mask.shape) != tuple(x.shape[:2]):
            raise ValueError(
                f"Layer {self.name!r} received a mask of shape {tuple(mask.shape)} for inputs of shape "
                f"{tuple(x.shape)}; expected (batch, timesteps) = {tuple(x.shape[:2])}. The mask is True on real steps."
            )
        return mask

    def _run_loop(self, x: torch.Tensor, mask: Optional[torch.Tensor], hx: List[torch.Tensor],
                  input_masks: Optional[List[torch.Tensor]] = None,
                  recurrent_masks: Optional[List[torch.Tensor]] = None) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """Step by step, for what the fused kernels cannot express (other activations, GRU
        `reset_after=False`, recurrent dropout in training): the same results as the fused path
        (a masked step keeps the states), one Python step per time step."""
        if self.use_cudnn is True:
            raise ValueError(
                f"Layer {self.name!r} ({type(self).__name__}) has use_cudnn=True, but cuDNN cannot compute this "
                f"configuration (activation={activations.serialize(self.activation_arg)!r}, recurrent_activation="
                f"{activations.serialize(self.recurrent_activation_arg)!r}, recurrent_dropout="
                f"{self.recurrent_dropout!r}). Pass use_cudnn='auto' to fall back to the step-by-step "
                "implementation, as Keras does."
            )
        if mask is not None:
            mask = self._check_mask(x, mask)
        if self.go_backwards:
            x = x.flip(1)
            mask = None if mask is None else mask.flip(1)
        # The input projections of all steps in one matmul; the recurrent ones step by step.
        if input_masks is None:
            projected = torch.matmul(x, self.kernel.t())
        else:  # each gate's projection sees its own mask, the same at every step
            blocks = self.kernel.chunk(len(input_masks), dim=0)
            projected = torch.cat([torch.matmul(x * m.unsqueeze(1), k.t()) for m, k in zip(input_masks, blocks)],
                                  dim=-1)
        if self.bias is not None:
            projected = projected + (self.bias[0] if self.bias.dim() == 2 else self.bias)
        states = [h[0] for h in hx]
        outputs = []
        for t in range(x.shape[1]):
            new = self._step(projected[:, t], states, recurrent_masks)
            if mask is not None:
                keep = mask[:, t].unsqueeze(-1)
                new = [torch.where(keep, a, b) for a, b in zip(new, states)]
            outputs.append(new[0])
            states = new
        if not self.return_sequences:
            return states[0], [h.unsqueeze(0) for h in states]
        out = torch.stack(outputs, dim=1)
        if mask is not None:
            out = self._masked_outputs(out, mask)
        return out, [h.unsqueeze(0) for h in states]

    def _step(self, projected: torch.Tensor, states: List[torch.Tensor],
              masks: Optional[List[torch.Tensor]] = None) -> List[torch.Tensor]:
        """One time step: `projected` is the input's projection (with the input bias); `masks`
        the recurrent dropout masks (one, or one per gate in torch's order)."""
        return [self.activation(projected + _recurrent(states[0], self.recurrent_kernel, masks))]

    def _run_masked(self, x: torch.Tensor, mask: torch.Tensor,
                    hx: List[torch.Tensor]) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        n, steps, features = x.shape
        mask = self._check_mask(x, mask)
        if self.go_backwards:
            x, mask = x.flip(1), mask.flip(1)
        # Gather each row's real steps to the front, in order (a stable sort of "is padding"),
        # so pre-padded, post-padded and holed masks all become post-padded packed sequences.
        order = torch.sort((~mask).to(torch.uint8), dim=1, stable=True).indices
        compact = x.gather(1, order.unsqueeze(-1).expand(n, steps, features))
        lengths = mask.sum(dim=1)
        # Rows without a real step run one (masked-out) step and keep their initial state. Packing
        # reads the lengths on the host and copies its sort order back to the device.
        with labelled_sync(MASKED_SYNC, of=lengths):
            packed = pack_padded_sequence(compact, lengths.cpu().clamp_min(1), batch_first=True,
                                          enforce_sorted=False)
        sorted_hx = [h.index_select(1, packed.sorted_indices) for h in hx]
        data, states = self._run(packed.data, packed.batch_sizes, sorted_hx)
        empty = (lengths == 0).view(1, n, 1)
        states = [torch.where(empty, h0, s.index_select(1, packed.unsorted_indices)) for s, h0 in zip(states, hx)]
        if not self.return_sequences:
            return data, states
        # Unpadded in the sorted order, then put back in row order on the device (pad_packed_sequence's
        # own unsorting would also read its lengths on the host).
        out_sorted, _ = pad_packed_sequence(PackedSequence(data, packed.batch_sizes), batch_first=True,
                                            total_length=steps)
        out_compact = out_sorted.index_select(0, packed.unsorted_indices)
        out = torch.zeros_like(out_compact).scatter(1, order.unsqueeze(-1).expand(n, steps, self.units), out_compact)
        return self._masked_outputs(out, mask), states

    def _masked_outputs(self, out: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Outputs at masked steps, as Keras: zeros with `zero_output_for_mask` (what Bidirectional
        asks for), else the output of the last real step before (zeros before the first one).
        `out` and `mask` are in processing order (reversed for go_backwards)."""
        out = out * mask.unsqueeze(-1).to(out.dtype)  # also clears the stand-in step of empty rows
        if self.zero_output_for_mask:
            return out
        steps = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
        last_real = torch.where(mask, steps, -1).cummax(dim=1).values
        carried = out.gather(1, last_real.clamp_min(0).unsqueeze(-1).expand_as(out))
        return carried * (last_real >= 0).unsqueeze(-1).to(out.dtype)

    # ------------------------------------------------------------------ config
    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update(
            units=self.units,
            activation=activations.serialize(self.activation_arg),
            use_bias=self.use_bias,
            **initializers_config(self),
            **penalties_config(self),
            dropout=self.dropout,
            recurrent_dropout=self.recurrent_dropout,
            seed=self.seed,
            return_sequences=self.return_sequences,
            return_state=self.return_state,
            go_backwards=self.go_backwards,
            stateful=self.stateful,
            unroll=self.unroll,
            zero_output_for_mask=self.zero_output_for_mask,
            activity_regularizer=regularizers.serialize(self.activity_regularizer),
        )
        return config_

    def extra_repr(self) -> str:
        return (f"name={self.name!r}, units={self.units}, return_sequences={self.return_sequences}, "
                f"go_backwards={self.go_backwards}")
