"""Keras 3's generic `RNN` layer: any cell run over the time axis, one Python step per time step.

The cell is a built-in one (`SimpleRNNCell`, `LSTMCell`, `GRUCell`), a list of cells (made a
`StackedRNNCells`) or a user's own: a Layer with `state_size` (an int, or a list of ints, one
per state) and `call(inputs, states)` returning `(output, new_states)`, optionally with
`output_size` and `get_initial_state(batch_size)`.

Masks follow Keras's rule: at a masked step the states keep their previous values and the
output repeats the previous step's output (zeros before the first real step), or is zeros with
`zero_output_for_mask=True`. The masking is `torch.where` on the device; no step syncs with the
host. `stateful=True` keeps the final states of a batch as the initial states of the next
(the batch size then stays fixed) until `reset_states()`.

The fused `SimpleRNN`/`LSTM`/`GRU` layers (`kerasish.layers.recurrent`) are the fast path for
their default configurations; this layer is the general one.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import torch

from kerasish.layers.layer import Layer, Shape
from kerasish.layers.rnn_cells import DropoutRNNCell, StackedRNNCells, cell_output_size, check_cell
from kerasish.layers.rnn_state import StatefulStates


def _flatten(structure: Any) -> List[Any]:
    if isinstance(structure, (list, tuple)):
        return [t for item in structure for t in _flatten(item)]
    return [structure]


def _pack_as(structure: Any, flat: List[Any]) -> Any:
    """`flat`'s entries in `structure`'s nesting (lists for lists and tuples)."""
    it = iter(flat)

    def pack(s: Any) -> Any:
        if isinstance(s, (list, tuple)):
            return [pack(x) for x in s]
        return next(it)

    return pack(structure)


class RNN(StatefulStates, Layer):
    """Runs a recurrent cell over a sequence `(batch, timesteps, features)`.

    Args:
        cell: a cell, or a list of cells (run as a `StackedRNNCells`).
        return_sequences: return every step's output `(batch, timesteps, output_size)` instead of
            the last one. Defaults to `False`.
        return_state: also return the final states: `[output, *states]`. Defaults to `False`.
        go_backwards: process the sequence in reverse; sequence outputs are then in reversed
            order, as in Keras. Defaults to `False`.
        stateful: use each batch's final states as the next batch's initial states (sample `i`
            of a batch continues sample `i` of the previous one); `reset_states()` zeroes them.
            Defaults to `False`.
        unroll: accepted for Keras's signature; the loop is a Python loop either way.
            Defaults to `False`.
        zero_output_for_mask: output zeros (instead of the previous output) at masked steps.
            Defaults to `False`.
        **kwargs: `name`, `dtype`, `trainable`, `input_shape`.

    Call arguments:
        sequences: `(batch, timesteps, features)`.
        initial_state: a tensor or list of tensors, one per state (nested per cell for stacked
            cells). Defaults to zeros (or the cell's `get_initial_state`).
        mask: `(batch, timesteps)` booleans, True on real steps. Defaults to the input's mask.
        training: applies the cells' dropout. Defaults to the call context.

    Raises:
        ValueError: for a cell without `call` or `state_size`, inputs of rank below 3,
            `initial_state` of the wrong count or shape, or a stateful batch of another size.

    Example:
        >>> from kerasish.layers.rnn_cells import LSTMCell
        >>> layer = RNN(LSTMCell(4), return_sequences=True)
        >>> layer(torch.ones(2, 5, 3)).shape
        torch.Size([2, 5, 4])
    """

    supports_masking = True

    def __init__(self, cell: Any, return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, stateful: bool = False, unroll: bool = False,
                 zero_output_for_mask: bool = False, **kwargs: Any) -> None:
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(list(cell))
        check_cell(cell, "RNN")
        state_size = cell.state_size
        if isinstance(state_size, bool) or not isinstance(state_size, (int, list, tuple)):
            raise ValueError(
                f"RNN: the cell's state_size must be an int or a list of ints (one per state), received "
                f"state_size={state_size!r}. Example: self.state_size = [units, units] for two states."
            )
        super().__init__(**kwargs)
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.single_state = isinstance(state_size, int)
        self.state_size = [state_size] if self.single_state else list(state_size)
        # Stateful states: plain tensors, not weights (Keras does not track them either).
        self.states: Optional[List[Any]] = None

    # ------------------------------------------------------------------ shapes
    def _check_one_sequence(self, sequences: Any, shape: Any) -> None:
        """Refuses nested inputs (a tuple or list of sequences), which Keras 3's RNN cannot run either."""
        if isinstance(sequences, (list, tuple)) and any(isinstance(s, (list, tuple)) or hasattr(s, "shape")
                                                         for s in sequences):
            raise ValueError(
                f"Layer {self.name!r} (RNN) takes one sequence tensor (batch, timesteps, features), received "
                f"{len(sequences)} nested inputs of shapes {shape}. Nested inputs are not supported (nor in Keras 3). "
                "Flatten each input to (batch, timesteps, -1), join them with ops.concatenate(..., axis=-1), and "
                "split the features again inside the cell's call()."
            )

    def build(self, sequences_shape: Shape, initial_state_shape: Any = None) -> None:
        self._check_one_sequence(sequences_shape, sequences_shape)
        sequences_shape = tuple(sequences_shape)
        if len(sequences_shape) < 3:
            raise ValueError(
                f"Input of layer {self.name!r} (RNN) must have rank 3 or more (batch, timesteps, features), "
                f"received input shape {sequences_shape}. For one feature per step, reshape to "
                "(batch, timesteps, 1)."
            )
        if isinstance(self.cell, Layer) and not self.cell.built:
            self.cell.build((sequences_shape[0],) + sequences_shape[2:])
        if self.stateful and self.states is not None:
            self.reset_states()

    def compute_output_shape(self, sequences_shape: Shape, initial_state_shape: Any = None) -> Any:
        batch, steps = sequences_shape[0], sequences_shape[1]
        out_size = cell_output_size(self.cell)
        out = (batch, steps, out_size) if self.return_sequences else (batch, out_size)
        if not self.return_state:
            return out
        states = [(batch, s) if isinstance(s, int) else [(batch, n) for n in s] for s in self.state_size]
        return [out] + states

    def compute_mask(self, inputs: Any, previous_mask: Optional[torch.Tensor] = None) -> Optional[torch.Tensor]:
        return previous_mask if self.return_sequences else None

    # ------------------------------------------------------------------ states
    def get_initial_state(self, batch_size: int) -> List[Any]:
        """The states a sequence starts from: the cell's `get_initial_state`, else zeros."""
        like = next(iter(self.parameters()), torch.empty(0))
        if getattr(self.cell, "get_initial_state", None) is not None:
            state = self.cell.get_initial_state(batch_size=batch_size)
            return list(state) if isinstance(state, (list, tuple)) else [state]
        return [like.new_zeros((batch_size, n)) if isinstance(n, int) else [like.new_zeros((batch_size, m)) for m in n]
                for n in self.state_size]

    def _start_states(self, sequences: torch.Tensor, initial_state: Any) -> List[Any]:
        batch = sequences.shape[0]
        if initial_state is None:
            kept = self._kept_states(batch, sequences.device)
            if kept is not None:
                return _pack_as(self._state_structure, kept)
            state = self.get_initial_state(batch)
        else:
            state = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        flat = [torch.as_tensor(s, dtype=sequences.dtype, device=sequences.device) for s in _flatten(state)]
        sizes = _flatten(self.state_size)
        if len(flat) != len(sizes) or any(tuple(s.shape) != (batch, n) for s, n in zip(flat, sizes)):
            raise ValueError(
                f"Layer {self.name!r} expects initial_state as {len(sizes)} tensor(s) of shapes "
                f"{[(batch, n) for n in sizes]} (one per state of {type(self.cell).__name__}), received "
                f"{[tuple(s.shape) for s in flat]}. Pass initial_state=[...] with one (batch, size) tensor per state."
            )
        return _pack_as(state, flat)

    # ------------------------------------------------------------------ dropout masks
    def _config_dropout_masks(self, cell: Any, step_input: torch.Tensor, state: Any) -> None:
        """Draws each cell's masks for this sequence before the first step, as Keras does."""
        if isinstance(cell, DropoutRNNCell):
            first = _flatten(state)[0]
            cell.get_dropout_mask(step_input)
            cell.get_recurrent_dropout_mask(first)
        if isinstance(cell, StackedRNNCells):
            for c, s in zip(cell.cells, state):
                self._config_dropout_masks(c, step_input, s)
                step_input = step_input.new_ones((step_input.shape[0], cell_output_size(c)))

    def _reset_dropout_masks(self, cell: Any) -> None:
        if isinstance(cell, DropoutRNNCell):
            cell.reset_dropout_mask()
            cell.reset_recurrent_dropout_mask()
        if isinstance(cell, StackedRNNCells):
            for c in cell.cells:
                self._reset_dropout_masks(c)

    # ------------------------------------------------------------------ forward
    def _step(self, x: torch.Tensor, states: Any, training: Optional[bool]) -> Any:
        if isinstance(self.cell, Layer):
            output, new_states = self.cell(x, states, training=training)
        else:
            output, new_states = self.cell.call(x, states)
        if not isinstance(new_states, (list, tuple)):
            new_states = [new_states]
        return output, new_states

    def call(self, sequences: torch.Tensor, initial_state: Any = None, mask: Optional[torch.Tensor] = None,
             training: Optional[bool] = None) -> Any:
        self._check_one_sequence(sequences, [tuple(getattr(s, "shape", ())) for s in _flatten(sequences)])
        if sequences.dim() < 3:
            raise ValueError(
                f"Input of layer {self.name!r} (RNN) must have rank 3 or more (batch, timesteps, features), "
                f"received a tensor of shape {tuple(sequences.shape)}. Put an Embedding layer first for token ids."
            )
        states = self._start_states(sequences, initial_state)
        self._state_structure = states
        steps = sequences.shape[1]
        if mask is not None:
            mask = torch.as_tensor(mask, device=sequences.device).to(torch.bool)
            if tuple(mask.shape) != tuple(sequences.shape[:2]):
                raise ValueError(
                    f"Layer {self.name!r} received a mask of shape {tuple(mask.shape)} for inputs of shape "
                    f"{tuple(sequences.shape)}; expected (batch, timesteps) = {tuple(sequences.shape[:2])}."
                )
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        self._config_dropout_masks(self.cell, sequences[:, 0], states)
        outputs: List[torch.Tensor] = []
        output: Optional[torch.Tensor] = None
        try:
            cell_states: Any = tuple(states)  # Keras hands the cell a tuple of its states
            for t in order:
                out, new_states = self._step(sequences[:, t], cell_states, training)
                if mask is not None:
                    keep = mask[:, t].unsqueeze(-1)
                    fill = torch.zeros_like(out) if self.zero_output_for_mask or output is None else output
                    out = torch.where(keep.view((-1,) + (1,) * (out.dim() - 1)), out, fill)
                    flat_old, flat_new = _flatten(cell_states), _flatten(new_states)
                    merged = [torch.where(keep.view((-1,) + (1,) * (n.dim() - 1)), n, o)
                              for n, o in zip(flat_new, flat_old)]
                    new_states = _pack_as(states, merged)
                else:
                    new_states = _pack_as(states, _flatten(new_states))
                output = out
                cell_states = tuple(new_states)
                if self.return_sequences:
                    outputs.append(out)
        finally:
            self._reset_dropout_masks(self.cell)
        final_states = list(cell_states)
        self._keep_states(_flatten(final_states))
        result = torch.stack(outputs, dim=1) if self.return_sequences else output
        if self.return_state:
            return [result] + final_states
        return result

    # ------------------------------------------------------------------ config
    def get_config(self) -> Dict[str, Any]:
        from kerasish.layers.nested_config import serialize_layer

        config = super().get_config()
        config.update(return_sequences=self.return_sequences, return_state=self.return_state,
                      go_backwards=self.go_backwards, stateful=self.stateful, unroll=self.unroll,
                      zero_output_for_mask=self.zero_output_for_mask)
        config["cell"] = serialize_layer(self.cell)
        return config

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "RNN":
        from kerasish.layers.nested_config import deserialize_layer

        config = dict(config)
        cell = deserialize_layer(config.pop("cell"))
        return cls(cell, **config)

    def extra_repr(self) -> str:
        return (f"name={self.name!r}, cell={type(self.cell).__name__}, return_sequences={self.return_sequences}, "
                f"return_state={self.return_state}")
