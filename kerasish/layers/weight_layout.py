"""Keras's layout of weights that kerasish stores in torch's layout, for constraints.

Convolution and recurrent layers keep their weights in the layout torch's kernels consume
(a Conv2D kernel is `(filters, in_channels, kh, kw)`, an LSTM kernel `(4 * units, features)`
in torch's gate order), while a Keras constraint's `axis` refers to Keras's layout
(`(kh, kw, in_channels, filters)`, `(features, 4 * units)` in Keras's gate order). A
`LayoutConstraint` views the weight in Keras's layout, applies the user's constraint there
and maps the result back, so `MaxNorm(axis=[0, 1, 2])` constrains each Conv2D filter as
in Keras.

`attach_constraint(param, constraint, layout)` is what a layer's `build` calls: it sets the
parameter's `constraint` attribute, which the optimizer applies after each step
(`p.data.copy_(p.constraint(p.data))`).
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Tuple

import torch


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
