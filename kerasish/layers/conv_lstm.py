"""Keras 3's convolutional LSTMs: `ConvLSTM1D`, `ConvLSTM2D` and `ConvLSTM3D`.

An LSTM whose input and recurrent transformations are convolutions: inputs are sequences of
1-3-D feature maps, `(batch, time, *spatial, channels)` (or `(batch, time, channels, *spatial)`
with `data_format='channels_first'`), and the states `h`, `c` are feature maps of `filters`
channels. The weights live in a `ConvLSTMCell` (`layer.cell`, in Keras's layout, so
`set_weights(keras_layer.get_weights())` works unchanged).

The layer runs its own loop rather than the generic `RNN`'s one-cell-call-per-step: the input
convolution does not depend on the state, so it runs once for the whole sequence (time folded
into the batch, all four gates in one convolution) and only the recurrent convolution runs per
step. Masks, `initial_state`, `return_state`, `go_backwards`, `stateful` (with `reset_states()`)
and dropout follow Keras's `RNN`: at a masked step the states keep their values and the output
repeats the previous step's output (zeros before the first real step, or always zeros with
`zero_output_for_mask=True`); with `go_backwards` the sequence outputs come in reversed order.
No step syncs with the host.

Differences from Keras: masks must be `(batch, timesteps)` (Keras also accepts per-position
masks of other ranks); `dropout`/`recurrent_dropout` must lie in [0, 1) and dropout masks are
drawn only in training (Keras draws them on every call).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from kerasish import regularizers
from kerasish.layers.conv_lstm_cell import ConvLSTMCell
from kerasish.layers.layer import Layer, Shape
from kerasish.layers.rnn_state import StatefulStates


_SPATIAL_AXES = {1: "steps", 2: "height, width", 3: "depth, height, width"}


class ConvLSTM(StatefulStates, Layer):
    """Shared body of ConvLSTM1D/2D/3D; `rank` is the number of spatial dimensions."""

    supports_masking = True
    rank = 0

    def __init__(self, rank: int, filters: int, kernel_size: Any, strides: Any = 1, padding: str = "valid",
                 data_format: Optional[str] = None, dilation_rate: Any = 1, activation: Any = "tanh",
                 recurrent_activation: Any = "sigmoid", use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", recurrent_initializer: Any = "orthogonal",
                 bias_initializer: Any = "zeros", unit_forget_bias: bool = True, kernel_regularizer: Any = None,
                 recurrent_regularizer: Any = None, bias_regularizer: Any = None, activity_regularizer: Any = None,
                 kernel_constraint: Any = None, recurrent_constraint: Any = None, bias_constraint: Any = None,
                 dropout: float = 0.0, recurrent_dropout: float = 0.0, seed: Optional[int] = None,
                 return_sequences: bool = False, return_state: bool = False, go_backwards: bool = False,
                 stateful: bool = False, **kwargs: Any) -> None:
        unroll = kwargs.pop("unroll", False)  # Keras's RNN arguments, taken through **kwargs as Keras does
        zero_output_for_mask = kwargs.pop("zero_output_for_mask", False)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.cell = ConvLSTMCell(
            rank, filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
            dilation_rate=dilation_rate, activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, unit_forget_bias=unit_forget_bias,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint, dropout=dropout,
            recurrent_dropout=recurrent_dropout, seed=seed, name="conv_lstm_cell", dtype=kwargs.get("dtype"),
            _owner=type(self).__name__,
        )
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)  # a speed hint in Keras; the loop is a Python loop either way
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.states: Optional[List[torch.Tensor]] = None

    # ------------------------------------------------------------------ shapes
    def _check_rank(self, shape: Sequence[Any], what: str) -> None:
        expected = self.cell.rank + 3
        if len(shape) != expected:
            spatial = _SPATIAL_AXES[self.cell.rank]
            axes = ("(batch, timesteps, channels, " + spatial + ")" if self.cell.data_format == "channels_first"
                    else "(batch, timesteps, " + spatial + ", channels)")
            raise ValueError(
                f"Input of layer {self.name!r} ({type(self).__name__}) must have rank {expected} {axes}, "
                f"received {what} {tuple(shape)} (rank {len(shape)}). Add the missing axis, e.g. x[..., None] "
                "for one channel, or use the ConvLSTM layer of your data's spatial rank (ConvLSTM1D/2D/3D)."
            )

    def build(self, sequences_shape: Shape, initial_state_shape: Any = None) -> None:
        sequences_shape = tuple(sequences_shape)
        self._check_rank(sequences_shape, "input shape")
        if not self.cell.built:
            self.cell.build_from_shape((sequences_shape[0],) + sequences_shape[2:])
        if self.stateful and self.states is not None:
            self.reset_states()

    def compute_output_shape(self, sequences_shape: Shape, initial_state_shape: Any = None) -> Any:
        self._check_rank(sequences_shape, "input shape")
        spatial, _ = self.cell._split_shape((sequences_shape[0],) + tuple(sequences_shape[2:]))
        state = self.cell.state_shape(sequences_shape[0], spatial)
        out = (state[0], sequences_shape[1]) + state[1:] if self.return_sequences else state
        return [out, state, state] if self.return_state else out

    def compute_mask(self, inputs: Any, previous_mask: Optional[torch.Tensor] = None) -> Optional[torch.Tensor]:
        return previous_mask if self.return_sequences else None

    def _check_step_shape(self, shape: Tuple[int, ...]) -> None:
        """The spatial sizes and channels must be those the weights were built for (as Keras)."""
        spatial, channels = self.cell._split_shape((shape[0],) + shape[2:])
        if tuple(spatial) != self.cell.spatial_dims or channels != self.cell.input_dim:
            raise ValueError(
                f"Layer {self.name!r} ({type(self).__name__}) was built for steps of spatial size "
                f"{self.cell.spatial_dims} with {self.cell.input_dim} channels, received inputs of shape {shape}. "
                "ConvLSTM layers take one fixed spatial size: resize the inputs, or use a new layer."
            )

    # ------------------------------------------------------------------ states
    def get_initial_state(self, batch_size: int) -> List[torch.Tensor]:
        """Zero `[h, c]` for a batch of `batch_size`, in the layer's data format."""
        return self.cell.get_initial_state(batch_size)

    def _start_states(self, sequences: torch.Tensor, initial_state: Any) -> List[torch.Tensor]:
        batch = sequences.shape[0]
        if initial_state is None:
            kept = self._kept_states(batch, sequences.device)
            states = kept if kept is not None else self.get_initial_state(batch)
            return [s.to(device=sequences.device, dtype=sequences.dtype) for s in states]
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        states = [torch.as_tensor(s, dtype=sequences.dtype, device=sequences.device) for s in states]
        expected = self.cell.state_shape(batch, self.cell.spatial_dims)
        if len(states) != 2 or any(tuple(s.shape) != expected for s in states):
            raise ValueError(
                f"Layer {self.name!r} ({type(self).__name__}) expects initial_state=[h, c], two tensors of shape "
                f"{expected}, received {[tuple(s.shape) for s in states]}. Build them like "
                "layer.get_initial_state(batch_size) (the shape of the layer's output at one step)."
            )
        return states

    # ------------------------------------------------------------------ forward
    def call(self, sequences: torch.Tensor, initial_state: Any = None, mask: Optional[torch.Tensor] = None,
             training: Optional[bool] = None) -> Any:
        cell = self.cell
        self._check_rank(tuple(sequences.shape), "a tensor of shape")
        self._check_step_shape(tuple(sequences.shape))
        batch, steps = sequences.shape[0], sequences.shape[1]
        channels_first = cell.data_format == "channels_first"
        if mask is not None:
            mask = torch.as_tensor(mask, device=sequences.device).to(torch.bool)
            if tuple(mask.shape) != (batch, steps):
                raise ValueError(
                    f"Layer {self.name!r} received a mask of shape {tuple(mask.shape)} for inputs of shape "
                    f"{tuple(sequences.shape)}; expected (batch, timesteps) = {(batch, steps)}, True on real steps."
                )
        train = self.training if training is None else bool(training)
        h, c = self._start_states(sequences, initial_state)
        if not channels_first:
            h, c = h.movedim(-1, 1).contiguous(), c.movedim(-1, 1).contiguous()
        if mask is not None and self.go_backwards:
            mask = mask.flip(1)
        # Time-major, time folded into the batch, channels-first and contiguous: one copy of the
        # input, after which every tensor of the loop has torch's default layout (a channels-last
        # view mixed with contiguous gradients makes each convolution's backward convert layouts).
        x = sequences.transpose(0, 1)
        x = (x.flip(0) if self.go_backwards else x).flatten(0, 1)
        x = (x if channels_first else x.movedim(-1, 1)).contiguous()
        dp = rec = None
        if train and cell.dropout > 0:
            # One mask per gate and sample, shared by every step of the sequence (as Keras).
            masks = cell.draw_masks(x[:batch], cell.dropout)  # x[:batch] for its shape: one step's
            dp = masks.unsqueeze(0).expand((steps,) + tuple(masks.shape)).flatten(0, 1)
        if train and cell.recurrent_dropout > 0:
            rec = cell.draw_masks(h, cell.recurrent_dropout)
        kernel, recurrent_kernel = cell.torch_kernels()
        projected = cell.input_projection(x, kernel, dp)
        # unbind, not projected[t]: its backward stacks the step gradients once, where each
        # slice's backward would fill a zero tensor of the whole sequence.
        projected = projected.reshape((steps, batch) + tuple(projected.shape[1:])).unbind(0)
        outputs: List[torch.Tensor] = []
        output = h
        previous: Optional[torch.Tensor] = None
        for t in range(steps):
            new_h, new_c = cell.recurrent_step(projected[t], h, c, recurrent_kernel, rec)
            if mask is None:
                h, c, output = new_h, new_c, new_h
            else:
                keep = mask[:, t].view((batch,) + (1,) * (new_h.dim() - 1))
                h, c = torch.where(keep, new_h, h), torch.where(keep, new_c, c)
                fill = torch.zeros_like(new_h) if self.zero_output_for_mask or previous is None else previous
                output = previous = torch.where(keep, new_h, fill)
            if self.return_sequences:
                outputs.append(output)
        result = torch.stack(outputs, dim=1) if self.return_sequences else output
        if not channels_first:
            result = result.movedim(2 if self.return_sequences else 1, -1)
            h, c = h.movedim(1, -1), c.movedim(1, -1)
        self._keep_states([h, c])
        if self.return_state:
            return [result, h, c]
        return result

    # ------------------------------------------------------------------ config
    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        config.update(return_sequences=self.return_sequences, return_state=self.return_state,
                      go_backwards=self.go_backwards, stateful=self.stateful, unroll=self.unroll,
                      zero_output_for_mask=self.zero_output_for_mask)
        config.update(self.cell.cell_config())
        config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    def extra_repr(self) -> str:
        return (f"name={self.name!r}, filters={self.cell.filters}, kernel_size={self.cell.kernel_size}, "
                f"return_sequences={self.return_sequences}")


def _from_cell(attr: str) -> property:
    return property(lambda self: getattr(self.cell, attr), doc=f"The cell's `{attr}` (read-only).")


for _attr in ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "activation",
              "recurrent_activation", "use_bias", "kernel_initializer", "recurrent_initializer", "bias_initializer",
              "unit_forget_bias", "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
              "kernel_constraint", "recurrent_constraint", "bias_constraint", "dropout", "recurrent_dropout", "seed"):
    setattr(ConvLSTM, _attr, _from_cell(_attr))


_ARGS = """
        filters: number of output channels of the convolutions (the channels of `h` and `c`).
        kernel_size: an int or a tuple of {rank} ints, the window of both convolutions.
        strides: of the input convolution, an int or {rank} ints. Defaults to `1`.
        padding: `'valid'` or `'same'` (case-insensitive), for the input convolution; the
            recurrent convolution always pads 'same'. Defaults to `'valid'`.
        data_format: `'channels_last'` for inputs `{last}`, `'channels_first'` for
            `{first}`. Defaults to `None` (`kerasish.config.image_data_format()`).
        dilation_rate: of the input convolution, an int or {rank} ints; not combinable with
            `strides > 1`. Defaults to `1`.
        activation: of the cell input and output. Defaults to `'tanh'`.
        recurrent_activation: of the gates. Defaults to `'sigmoid'`.
        use_bias: whether to add a bias per gate and filter. Defaults to `True`.
        kernel_initializer: for the input kernel. Defaults to `'glorot_uniform'`.
        recurrent_initializer: for the recurrent kernel. Defaults to `'orthogonal'`.
        bias_initializer: for the bias. Defaults to `'zeros'`.
        unit_forget_bias: start the forget gate's bias at 1. Defaults to `True`.
        kernel_regularizer: penalty on the input kernel. Defaults to `None`.
        recurrent_regularizer: penalty on the recurrent kernel. Defaults to `None`.
        bias_regularizer: penalty on the bias. Defaults to `None`.
        activity_regularizer: penalty on the outputs, added to the loss. Defaults to `None`.
        kernel_constraint: applied to the input kernel after each optimizer step. Defaults to `None`.
        recurrent_constraint: applied to the recurrent kernel. Defaults to `None`.
        bias_constraint: applied to the bias. Defaults to `None`.
        dropout: fraction of the inputs dropped in training (one mask per gate and sequence),
            in [0, 1). Defaults to `0.0`.
        recurrent_dropout: fraction of `h` dropped in training, in [0, 1). Defaults to `0.0`.
        seed: seed of the dropout masks. Defaults to `None`.
        return_sequences: return every step's output `(batch, timesteps, ...)` instead of the
            last one. Defaults to `False`.
        return_state: also return the final states: `[output, h, c]`. Defaults to `False`.
        go_backwards: process the sequence in reverse (sequence outputs then come in reversed
            order, as in Keras). Defaults to `False`.
        stateful: start each batch from the previous batch's final states (sample `i`
            continues sample `i`; the batch size must stay fixed); `reset_states()` zeroes them.
            Defaults to `False`.
        **kwargs: `unroll` and `zero_output_for_mask` (as Keras's `RNN`), `input_shape`,
            `name`, `dtype`, `trainable`.

    Call arguments:
        sequences: `{last}` (or channels-first).
        initial_state: `[h, c]`, two tensors shaped like one step of the output. Defaults to
            zeros (or the kept states of a stateful layer).
        mask: `(batch, timesteps)` booleans, True on real steps. Defaults to the input's mask.
        training: applies dropout. Defaults to the call context (True inside `fit`).

    Raises:
        ValueError: for bad arguments (see `ConvLSTMCell`), inputs of another rank or of
            unknown spatial size, `initial_state` or `mask` of the wrong shape, or a stateful
            batch of another size."""


class ConvLSTM1D(ConvLSTM):
    __doc__ = """A convolutional LSTM over sequences of 1-D feature maps.

    Parameters: `4 * filters * (k * (channels + filters) + 1)` for a kernel of size `k`, as in Keras.

    Args:""" + _ARGS.format(rank=1, last="(batch, timesteps, steps, channels)",
                            first="(batch, timesteps, channels, steps)") + """

    Example:
        >>> layer = ConvLSTM1D(4, 3, padding="same", return_sequences=True)
        >>> layer(torch.ones(2, 5, 10, 3)).shape, layer.count_params()
        (torch.Size([2, 5, 10, 4]), 352)
    """

    rank = 1

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1, padding: str = "valid",
                 data_format: Optional[str] = None, dilation_rate: Any = 1, activation: Any = "tanh",
                 recurrent_activation: Any = "sigmoid", use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", recurrent_initializer: Any = "orthogonal",
                 bias_initializer: Any = "zeros", unit_forget_bias: bool = True, kernel_regularizer: Any = None,
                 recurrent_regularizer: Any = None, bias_regularizer: Any = None, activity_regularizer: Any = None,
                 kernel_constraint: Any = None, recurrent_constraint: Any = None, bias_constraint: Any = None,
                 dropout: float = 0.0, recurrent_dropout: float = 0.0, seed: Optional[int] = None,
                 return_sequences: bool = False, return_state: bool = False, go_backwards: bool = False,
                 stateful: bool = False, **kwargs: Any) -> None:
        super().__init__(**_collect(locals()))


class ConvLSTM2D(ConvLSTM):
    __doc__ = """A convolutional LSTM over sequences of images (2-D feature maps).

    Parameters: `4 * filters * (kh * kw * (channels + filters) + 1)`, as in Keras.

    Args:""" + _ARGS.format(rank=2, last="(batch, timesteps, height, width, channels)",
                            first="(batch, timesteps, channels, height, width)") + """

    Example:
        >>> layer = ConvLSTM2D(4, 3, padding="same")
        >>> layer(torch.ones(2, 5, 8, 8, 3)).shape, layer.count_params()
        (torch.Size([2, 8, 8, 4]), 1024)
    """

    rank = 2

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1, padding: str = "valid",
                 data_format: Optional[str] = None, dilation_rate: Any = 1, activation: Any = "tanh",
                 recurrent_activation: Any = "sigmoid", use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", recurrent_initializer: Any = "orthogonal",
                 bias_initializer: Any = "zeros", unit_forget_bias: bool = True, kernel_regularizer: Any = None,
                 recurrent_regularizer: Any = None, bias_regularizer: Any = None, activity_regularizer: Any = None,
                 kernel_constraint: Any = None, recurrent_constraint: Any = None, bias_constraint: Any = None,
                 dropout: float = 0.0, recurrent_dropout: float = 0.0, seed: Optional[int] = None,
                 return_sequences: bool = False, return_state: bool = False, go_backwards: bool = False,
                 stateful: bool = False, **kwargs: Any) -> None:
        super().__init__(**_collect(locals()))


class ConvLSTM3D(ConvLSTM):
    __doc__ = """A convolutional LSTM over sequences of volumes (3-D feature maps).

    Parameters: `4 * filters * (kd * kh * kw * (channels + filters) + 1)`, as in Keras.

    Args:""" + _ARGS.format(rank=3, last="(batch, timesteps, depth, height, width, channels)",
                            first="(batch, timesteps, channels, depth, height, width)") + """

    Example:
        >>> layer = ConvLSTM3D(2, 3, padding="same")
        >>> layer(torch.ones(1, 3, 4, 4, 4, 1)).shape, layer.count_params()
        (torch.Size([1, 4, 4, 4, 2]), 656)
    """

    rank = 3

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1, padding: str = "valid",
                 data_format: Optional[str] = None, dilation_rate: Any = 1, activation: Any = "tanh",
                 recurrent_activation: Any = "sigmoid", use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", recurrent_initializer: Any = "orthogonal",
                 bias_initializer: Any = "zeros", unit_forget_bias: bool = True, kernel_regularizer: Any = None,
                 recurrent_regularizer: Any = None, bias_regularizer: Any = None, activity_regularizer: Any = None,
                 kernel_constraint: Any = None, recurrent_constraint: Any = None, bias_constraint: Any = None,
                 dropout: float = 0.0, recurrent_dropout: float = 0.0, seed: Optional[int] = None,
                 return_sequences: bool = False, return_state: bool = False, go_backwards: bool = False,
                 stateful: bool = False, **kwargs: Any) -> None:
        super().__init__(**_collect(locals()))


def _collect(local_vars: Dict[str, Any]) -> Dict[str, Any]:
    """A subclass's constructor arguments, with its `rank`, for `ConvLSTM.__init__`."""
    args = {k: v for k, v in local_vars.items() if k not in ("self", "__class__", "kwargs")}
    args.update(local_vars["kwargs"])
    args["rank"] = type(local_vars["self"]).rank
    return args
