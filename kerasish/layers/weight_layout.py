"""Keras's layout of weights that kerasish stores in torch's layout: weight arrays and constraints.

Convolution and recurrent layers keep their weights in the layout torch's kernels consume
(a Conv2D kernel is `(filters, in_channels, kh, kw)`, an LSTM kernel `(4 * units, features)`
in torch's gate order), so no weight is copied or permuted on a forward pass and `state_dict`
(what `.kerasish` and `.safetensors` files hold) keeps torch's layout. What a Keras user sees is
Keras's layout (`(kh, kw, in_channels, filters)`, `(features, 4 * units)` in Keras's gate order):

- `get_weights()` / `set_weights()` of a layer or a model convert each weight with its
  `KerasLayout`. A layer says which of its weights have one by defining `_weight_layouts()`
  (pairs of parameter and layout); `keras_arrays` and `assign_keras_arrays` look the layouts up
  over every sublayer, so a model holding such layers at any depth converts them too.
- A `LayoutConstraint` views the weight in Keras's layout, applies the user's constraint there
  and maps the result back, so `MaxNorm(axis=[0, 1, 2])` constrains each Conv2D filter as in
  Keras. `attach_constraint(param, constraint, layout)` is what a layer's `build` calls: it sets
  the parameter's `constraint` attribute, which the optimizer applies after each step
  (`p.data.copy_(p.constraint(p.data))`).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn


class KerasLayout:
    """How a weight in torch's layout maps to Keras's layout.

    Torch to Keras: reorder the gate blocks along `gate_axis` (recurrent layers), reshape to
    `grouped_shape` (a depthwise kernel's `(in, depth_multiplier, kh, kw)`), then permute the
    axes by `permutation`. Keras to torch undoes the three steps in reverse order.

    Args:
        permutation: the torch axes in Keras's order, e.g. `(2, 3, 1, 0)` for a Conv2D kernel.
        grouped_shape: the shape to view the torch weight as before permuting. Defaults to `None`.
        gate_order: torch's gate blocks listed in Keras's order, e.g. `[1, 0, 2]` for a GRU.
            Defaults to `None` (same order).
        gate_axis: the torch axis that holds the gate blocks. Defaults to `0`.

    Example:
        >>> layout = KerasLayout((2, 3, 1, 0))
        >>> layout.to_keras(torch.zeros(8, 3, 5, 5)).shape
        torch.Size([5, 5, 3, 8])
    """

    def __init__(self, permutation: Sequence[int], grouped_shape: Optional[Sequence[int]] = None,
                 gate_order: Optional[Sequence[int]] = None, gate_axis: int = 0) -> None:
        self.permutation = tuple(permutation)
        self.inverse = tuple(sorted(range(len(self.permutation)), key=self.permutation.__getitem__))
        self.grouped_shape = None if grouped_shape is None else tuple(grouped_shape)
        self.gate_order = None if gate_order is None else list(gate_order)
        self.gate_inverse = None if gate_order is None else sorted(range(len(gate_order)), key=gate_order.__getitem__)
        self.gate_axis = gate_axis

    @staticmethod
    def _reorder(w: torch.Tensor, order: Sequence[int], axis: int) -> torch.Tensor:
        blocks = w.chunk(len(order), dim=axis)
        return torch.cat([blocks[i] for i in order], dim=axis)

    def to_keras(self, w: torch.Tensor) -> torch.Tensor:
        """The weight in Keras's layout (a view when no gate reordering is needed)."""
        if self.gate_order is not None:
            w = self._reorder(w, self.gate_order, self.gate_axis)
        if self.grouped_shape is not None:
            w = w.reshape(self.grouped_shape)
        return w.permute(self.permutation)

    def from_keras(self, k: torch.Tensor, torch_shape: Tuple[int, ...]) -> torch.Tensor:
        """A weight given in Keras's layout, back in torch's layout of shape `torch_shape`."""
        w = k.permute(self.inverse)
        if self.grouped_shape is not None:
            w = w.reshape(torch_shape)
        if self.gate_inverse is not None:
            w = self._reorder(w, self.gate_inverse, self.gate_axis)
        return w


class LayoutConstraint:
    """A constraint written for Keras's layout, applied to a weight stored in torch's layout.

    Args:
        constraint: the user's constraint (any callable from a tensor to a tensor).
        layout: the weight's `KerasLayout`.

    Example:
        >>> from kerasish.constraints import UnitNorm
        >>> c = LayoutConstraint(UnitNorm(axis=[0, 1, 2]), KerasLayout((2, 3, 1, 0)))
        >>> w = c(torch.randn(8, 3, 5, 5))  # each of the 8 filters gets norm 1
        >>> torch.allclose(w.flatten(1).norm(dim=1), torch.ones(8))
        True
    """

    def __init__(self, constraint: Callable[[torch.Tensor], torch.Tensor], layout: KerasLayout) -> None:
        self.constraint = constraint
        self.layout = layout

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        out = self.constraint(self.layout.to_keras(w))
        return self.layout.from_keras(out, tuple(w.shape))

    def __repr__(self) -> str:
        return f"LayoutConstraint({self.constraint!r}, permutation={self.layout.permutation})"


def conv_layout(rank: int) -> KerasLayout:
    """A convolution kernel: torch `(a, b, *k)` to Keras `(*k, b, a)` (Conv and Conv transpose)."""
    return KerasLayout(tuple(range(2, rank + 2)) + (1, 0))


def attach_constraint(param: Optional[torch.Tensor], constraint: Any, layout: Optional[KerasLayout] = None) -> None:
    """Stores `constraint` on `param` (wrapped for `layout` when given) for the optimizer to apply.

    Args:
        param: the layer's parameter, or None (a layer without that weight: nothing to do).
        constraint: a constraint from `kerasish.constraints.get`, or None.
        layout: the weight's Keras layout when it is stored in torch's layout. Defaults to `None`.
    """
    if param is None:
        return
    if constraint is not None and layout is not None:
        constraint = LayoutConstraint(constraint, layout)
    param.constraint = constraint


# --------------------------------------------------------------------------- weight arrays
def layouts_under(module: nn.Module) -> Dict[int, KerasLayout]:
    """`id(parameter) -> KerasLayout` for every weight of `module` and its sublayers that is
    stored in torch's layout (layers list them in `_weight_layouts()`)."""
    out: Dict[int, KerasLayout] = {}
    for m in module.modules():
        pairs = getattr(m, "_weight_layouts", None)
        if pairs is None or not getattr(m, "built", True):
            continue  # an unbuilt layer has no weights yet (nor their attributes)
        for param, layout in pairs():
            if param is not None and layout is not None:
                out[id(param)] = layout
    return out


def keras_arrays(module: nn.Module, weights: Iterable[torch.Tensor]) -> List[np.ndarray]:
    """NumPy copies of `weights` (a layer's or model's `weights`), each in Keras's layout."""
    layouts = layouts_under(module)
    out = []
    for w in weights:
        layout = layouts.get(id(w))
        value = w.detach() if layout is None else layout.to_keras(w.detach())
        out.append(value.cpu().numpy().copy())
    return out


def keras_shape(w: torch.Tensor, layout: Optional[KerasLayout]) -> Tuple[int, ...]:
    """The shape `w` has in Keras's layout."""
    if layout is None:
        return tuple(w.shape)
    shape = layout.grouped_shape or tuple(w.shape)
    return tuple(shape[i] for i in layout.permutation)


def assign_keras_arrays(module: nn.Module, weights: Sequence[torch.Tensor], arrays: Sequence[Any],
                        owner: str) -> None:
    """Copies `arrays` (in Keras's layout, in `weights`' order) into `weights`.

    Every count and shape is checked before any weight changes.

    Args:
        module: the layer or model the weights belong to (its sublayers define the layouts).
        weights: the target weights, e.g. `module.weights`.
        arrays: NumPy arrays, tensors or nested lists, one per weight.
        owner: how to name the module in errors, e.g. "Layer 'conv2d'".

    Raises:
        ValueError: for a different number of arrays, or an array whose shape is not the
            weight's Keras shape.
    """
    weights = list(weights)
    if len(arrays) != len(weights):
        raise ValueError(
            f"{owner} expects {len(weights)} weight arrays, received {len(arrays)}. Pass arrays in the order "
            "get_weights() returns them (Keras's order: each layer's kernel, then bias, ...)."
        )
    layouts = layouts_under(module)
    tensors = []
    for i, (w, new) in enumerate(zip(weights, arrays)):
        new = new.detach() if isinstance(new, torch.Tensor) else torch.as_tensor(np.asarray(new))
        layout = layouts.get(id(w))
        expected = keras_shape(w, layout)
        if tuple(new.shape) != expected:
            name = getattr(w, "path", None) or f"weight {i}"
            raise ValueError(
                f"{owner}: weight {i} ({name}) has Keras shape {expected}, received an array of shape "
                f"{tuple(new.shape)}. Pass arrays shaped as get_weights() returns them."
            )
        tensors.append(new if layout is None else layout.from_keras(new, tuple(w.shape)))
    with torch.no_grad():
        for w, new in zip(weights, tensors):
            w.copy_(new)
