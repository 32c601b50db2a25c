"""Helpers shared by the convolution, pooling and reshaping layers: argument checks, 'same'
padding as TensorFlow computes it, output lengths and the channels-last/first permutations."""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

from kerasish.layers.layer import Layer

IntOrTuple = Union[int, Sequence[int]]

_PADDINGS = ("valid", "same")
_DATA_FORMATS = ("channels_last", "channels_first")


# --------------------------------------------------------------------------- shared helpers
# Used by the pooling and reshaping modules as well.
def normalize_tuple(value: Any, rank: int, arg: str, layer: str, allow_zero: bool = False) -> Tuple[int, ...]:
    """`3` -> `(3, 3)` for rank 2; checks a tuple's length and that entries are positive ints."""
    low = 0 if allow_zero else 1
    if isinstance(value, int) and not isinstance(value, bool):
        values: Tuple[Any, ...] = (value,) * rank
    else:
        try:
            values = tuple(value)
        except TypeError:
            values = ()
    if len(values) != rank or any(isinstance(v, bool) or not isinstance(v, int) or v < low for v in values):
        kind = "non-negative" if allow_zero else "positive"
        example = ", ".join(["3"] * rank)
        raise ValueError(
            f"{layer}: {arg} must be a {kind} int or a tuple of {rank} {kind} ints, received {arg}={value!r}. "
            f"Example: {arg}={3 if rank == 1 else '(' + example + ')'}."
        )
    return tuple(int(v) for v in values)


def normalize_padding(value: Any, layer: str, allow_causal: bool = False) -> str:
    """Checks `padding` is 'valid' or 'same' (or 'causal' where allowed, as Keras's Conv1D) and lowercases it."""
    allowed = _PADDINGS + (("causal",) if allow_causal else ())
    if isinstance(value, str) and value.lower() in allowed:
        return value.lower()
    raise ValueError(
        f"{layer}: padding must be {' or '.join(repr(p) for p in allowed)}, received padding={value!r}. "
        "Use padding='same' to keep the spatial size (with strides 1) or 'valid' for no padding"
        + (", 'causal' to pad only the past." if allow_causal else ".")
    )


def normalize_data_format(value: Any, layer: str) -> str:
    """None -> `config.image_data_format()`; checks the value is one of Keras's two data formats."""
    if value is None:
        from kerasish import config

        return config.image_data_format()
    if isinstance(value, str) and value.lower() in _DATA_FORMATS:
        return value.lower()
    raise ValueError(
        f"{layer}: data_format must be 'channels_last' or 'channels_first', received data_format={value!r}. "
        "Use 'channels_last' for (batch, height, width, channels) inputs, as Keras does by default."
    )


def check_rank(inputs: torch.Tensor, rank: int, layer: Layer, layout: str) -> None:
    """Raises a ValueError naming the expected layout when `inputs` has the wrong rank."""
    if inputs.dim() != rank:
        raise ValueError(
            f"Input of layer {layer.name!r} ({type(layer).__name__}) must have rank {rank} {layout}, "
            f"received a tensor of shape {tuple(inputs.shape)} (rank {inputs.dim()}). Reshape the input, "
            f"e.g. x.reshape(-1, 28, 28, 1) for one-channel 28x28 images."
        )


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> Tuple[int, int]:
    """TensorFlow's 'same' padding (before, after) for one spatial axis."""
    effective = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def conv_output_length(size: Optional[int], kernel: int, padding: str, stride: int, dilation: int = 1) -> Optional[int]:
    """Output length of a convolution or pooling along one axis (None stays None)."""
    if size is None:
        return None
    if padding in ("same", "causal"):
        return -(-size // stride)
    effective = (kernel - 1) * dilation + 1
    return max((size - effective) // stride + 1, 0)


def spatial_pads(spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                 dilation: Sequence[int], padding: str) -> List[Tuple[int, int]]:
    """Per-axis (before, after) padding for 'same' (all zeros for 'valid')."""
    if padding == "valid":
        return [(0, 0)] * len(spatial)
    if padding == "causal":  # every output step sees only the current and earlier steps
        return [(d * (k - 1), 0) for k, d in zip(kernel, dilation)]
    return [same_padding(s, k, st, d) for s, k, st, d in zip(spatial, kernel, strides, dilation)]


def pad_input(x: torch.Tensor, pads: Sequence[Tuple[int, int]], value: float = 0.0) -> Tuple[torch.Tensor, Tuple[int, ...]]:
    """Splits padding into a symmetric part (for the kernel's `padding=`) and an explicit `F.pad`.

    Returns the (possibly padded) channels-first tensor and the symmetric padding per axis.
    """
    symmetric = tuple(min(b, a) for b, a in pads)
    extra = [(b - s, a - s) for (b, a), s in zip(pads, symmetric)]
    if any(b or a for b, a in extra):
        # F.pad takes the last axis first.
        flat: List[int] = []
        for b, a in reversed(extra):
            flat += [b, a]
        x = F.pad(x, flat, value=value)
    return x, symmetric


def to_channels_first(x: torch.Tensor, data_format: str) -> torch.Tensor:
    """NHWC -> NCHW view (channels_last memory, no copy); NCHW passes through."""
    if data_format == "channels_first":
        return x
    return x.movedim(-1, 1)


def from_channels_first(x: torch.Tensor, data_format: str) -> torch.Tensor:
    """NCHW -> NHWC view (contiguous when `x` is in channels_last memory)."""
    if data_format == "channels_first":
        return x
    return x.movedim(1, -1)


def check_positive_int(value: Any, arg: str, layer: str, example: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"{layer}: {arg} must be a positive integer, received {arg}={value!r}. Example: {example}."
        )
    return value
