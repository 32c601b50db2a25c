"""Bidirectional: runs a recurrent layer forwards and a copy backwards, then merges them."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Union

import torch

from kerasish.layers.layer import Layer, Shape

_MERGE_MODES = ("concat", "sum", "ave", "mul", None)
_RNN_ATTRS = ("go_backwards", "return_sequences", "return_state")


def _layer_from_config(spec: Any, arg: str) -> Layer:
    """A recurrent layer from itself or its serialized form: SimpleRNN, LSTM, GRU, the generic RNN,
    ConvLSTM, or a user's Layer with Keras's RNN attributes (`go_backwards`, `return_sequences`,
    `return_state`) and a `get_config`/`from_config` round trip."""
    if isinstance(spec, dict) and "class_name" in spec:
        from kerasish.layers.nested_config import deserialize_layer

        spec = deserialize_layer(spec)
    if isinstance(spec, Layer) and all(hasattr(spec, a) for a in _RNN_ATTRS):
        return spec
    raise TypeError(
        f"Bidirectional: {arg} must be a recurrent layer (SimpleRNN, LSTM, GRU, RNN(cell), ConvLSTM2D ...) or its "
        f"{{'class_name': ..., 'config': ...}} dict, received {spec!r}. Example: Bidirectional(LSTM(64))."
    )


def _serialized(layer: Layer) -> Dict[str, Any]:
    from kerasish.layers.nested_config import serialize_layer

    return serialize_layer(layer)


def _copy(layer: Layer, config: Dict[str, Any]) -> Layer:
    """A fresh layer of `layer`'s class from `config`, built as `layer` was (as Keras's copies are)."""
    copy = type(layer).from_config(config)
    build = layer.get_build_config()
    if build is not None:
        copy.build_from_config(build)
    return copy


class Bidirectional(Layer):
    """Bidirectional wrapper for recurrent layers (SimpleRNN, LSTM, GRU, the generic RNN, ConvLSTM).

    The forward and backward layers are fresh copies built from `layer.get_config()` (the
    backward one with `go_backwards` flipped), named `forward_<name>` and `backward_<name>`.
    With a mask the backward direction runs over each sequence's real steps only, from its last
    real step; with `return_sequences=True` the backward outputs are put back in time order so that
    step t of both directions lines up, as in Keras. `get_weights()` lists the forward layer's
    weights, then the backward layer's, each in Keras's layout and gate order.

    Args:
        layer: the recurrent layer to wrap.
        merge_mode: how to combine the two outputs: `'concat'`, `'sum'`, `'ave'`, `'mul'`, or
            `None` for a list `[forward, backward]`. Defaults to `'concat'`.
        weights: initial weights; not supported, set them with `set_weights()` after building.
            Defaults to `None`.
        backward_layer: a recurrent layer to use as the backward direction instead of a copy; it
            must have `go_backwards=True` and the same `return_sequences`/`return_state`.
            Defaults to `None`.
        **kwargs: `input_shape`, `name`, `trainable`.

    Example:
        >>> layer = Bidirectional(LSTM(8), input_shape=(5, 3))
        >>> layer(torch.ones(2, 5, 3)).shape, layer.count_params()
        (torch.Size([2, 16]), 768)
    """

    accepts_mask = True

    def __init__(
        self,
        layer: Layer,
        merge_mode: Optional[str] = "concat",
        weights: Optional[List[Any]] = None,
        backward_layer: Optional[Layer] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        layer = _layer_from_config(layer, "layer")
        if merge_mode not in _MERGE_MODES:
            raise ValueError(
                f"Bidirectional: merge_mode must be one of {list(_MERGE_MODES)}, received merge_mode={merge_mode!r}. "
                "Use 'concat' (Keras's default) to stack the two directions' features."
            )
        if weights is not None:
            raise ValueError(
                "Bidirectional: weights= is not supported, received a list of "
                f"{len(weights) if hasattr(weights, '__len__') else '?'} arrays. Build the layer, then call "
                "layer.set_weights(weights)."
            )
        self.merge_mode = merge_mode
        config = dict(layer.get_config())
        config["name"] = "forward_" + layer.name.removeprefix("forward_")  # as Keras: no forward_forward_lstm
        self.forward_layer = _copy(layer, config)
        if backward_layer is None:
            config = dict(layer.get_config())
            config["name"] = "backward_" + layer.name.removeprefix("backward_")
            config["go_backwards"] = not layer.go_backwards
            self.backward_layer = _copy(layer, config)
        else:
            backward_layer = _layer_from_config(backward_layer, "backward_layer")
            if backward_layer.go_backwards == layer.go_backwards:
                raise ValueError(
                    f"Bidirectional: backward_layer.go_backwards must be the opposite of layer.go_backwards, "
                    f"received go_backwards={backward_layer.go_backwards!r} for both. Create the backward layer "
                    "with go_backwards=True."
                )
            for attr in ("return_sequences", "return_state"):
                if getattr(backward_layer, attr) != getattr(layer, attr):
                    raise ValueError(
                        f"Bidirectional: backward_layer.{attr}={getattr(backward_layer, attr)!r} differs from "
                        f"layer.{attr}={getattr(layer, attr)!r}. Give both layers the same {attr}."
                    )
            self.backward_layer = backward_layer
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        # As Keras: padded steps of both directions' sequences are zeros, so they line up.
        self.forward_layer.zero_output_for_mask = self.return_sequences
        self.backward_layer.zero_output_for_mask = self.return_sequences

    # ------------------------------------------------------------------ building
    def build(self, input_shape: Shape) -> None:
        self.forward_layer.build_from_shape(input_shape)
        self.backward_layer.build_from_shape(input_shape)

    def compute_output_shape(self, input_shape: Shape) -> Union[Shape, List[Shape]]:
        out = self.forward_layer.compute_output_shape(input_shape)
        states: List[Shape] = []
        if self.return_state:
            out, states = out[0], list(out[1:])
            states = states + list(self.backward_layer.compute_output_shape(input_shape)[1:])
        if self.merge_mode == "concat":
            out = tuple(out[:-1]) + (out[-1] * 2,)
            return [out] + states if self.return_state else out
        if self.merge_mode is None:
            return [out, out] + states
        return [out] + states if self.return_state else out

    def compute_mask(self, inputs: torch.Tensor, previous_mask: Optional[torch.Tensor] = None) -> Optional[torch.Tensor]:
        """Passes the mask on when the layer returns sequences, else ends it."""
        return previous_mask if self.return_sequences else None

    # ------------------------------------------------------------------ forward
    def call(self, inputs: torch.Tensor, mask: Optional[torch.Tensor] = None,
             initial_state: Optional[List[torch.Tensor]] = None) -> Any:
        f_init = b_init = None
        if initial_state is not None:
            half = len(initial_state) // 2
            f_init, b_init = list(initial_state[:half]), list(initial_state[half:])
        y_f = self.forward_layer(inputs, mask=mask, initial_state=f_init)
        y_b = self.backward_layer(inputs, mask=mask, initial_state=b_init)
        states: List[torch.Tensor] = []
        if self.return_state:
            states = list(y_f[1:]) + list(y_b[1:])
            y_f, y_b = y_f[0], y_b[0]
        if self.return_sequences:
            # The backward layer's sequence comes out reversed in time: flip it back. With a
            # mask, its step t is then the state after reading the real steps from the end to t.
            y_b = y_b.flip(1)
        if self.merge_mode == "concat":
            out: Any = torch.cat([y_f, y_b], dim=-1)
        elif self.merge_mode == "sum":
            out = y_f + y_b
        elif self.merge_mode == "ave":
            out = (y_f + y_b) / 2
        elif self.merge_mode == "mul":
            out = y_f * y_b
        else:
            out = [y_f, y_b]
        if self.return_state:
            return (out if isinstance(out, list) else [out]) + states
        return out

    # ------------------------------------------------------------------ config
    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        # As Keras: both directions' own layers (forward_<name>, backward_<name>), so a loaded
        # Bidirectional gets the same backward layer even where it was not a plain copy.
        config_.update(layer=_serialized(self.forward_layer), merge_mode=self.merge_mode,
                       backward_layer=_serialized(self.backward_layer))
        return config_
