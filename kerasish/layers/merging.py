"""Merge layers for the functional API: Concatenate, Add, Subtract, Multiply, Average, Maximum, Minimum, Dot."""

from __future__ import annotations

from typing import Any, List, Sequence, Union

import torch
import torch.nn.functional as F

from kerasish.layers.layer import Layer, Shape


def _check_list(layer: Layer, shapes: Any, exactly: int = 0) -> List[Shape]:
    if not isinstance(shapes, (list, tuple)) or not shapes or not isinstance(shapes[0], (list, tuple)):
        raise ValueError(
            f"Layer {layer.name!r} ({type(layer).__name__}) must be called on a list of tensors, received one "
            f"tensor of shape {tuple(shapes) if isinstance(shapes, (list, tuple)) else shapes}. "
            f"Example: {type(layer).__name__}()([x1, x2])."
        )
    if len(shapes) < 2 or (exactly and len(shapes) != exactly):
        want = f"exactly {exactly}" if exactly else "at least 2"
        raise ValueError(
            f"Layer {layer.name!r} ({type(layer).__name__}) needs {want} inputs, received {len(shapes)}."
        )
    return [tuple(s) for s in shapes]


def _masks(inputs: Any, previous: Any = None) -> List[Any]:
    """Each input's Keras mask (None where it has none): given as a list, or read from the tensors."""
    if isinstance(previous, (list, tuple)):
        return list(previous)
    return [getattr(x, "_keras_mask", None) for x in inputs]


def _or_masks(masks: List[Any]) -> Any:
    """Keras's merge rule for the output mask: the OR of the inputs' masks, or None if one has none."""
    if not masks or any(m is None for m in masks):
        return None
    out = masks[0]
    for m in masks[1:]:
        out = torch.logical_or(out, m)
    return out


def _broadcast_mask(mask: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A (batch, steps) mask over a (batch, steps, features) tensor, as Keras broadcasts it."""
    return mask.to(torch.bool).unsqueeze(-1).expand(x.shape)


class _Elementwise(Layer):
    """Element-wise merge of tensors of one rank whose axes agree or are 1 (Keras's broadcasting:
    a `(None, 1, 1, C)` gate times a `(None, H, W, C)` feature map)."""

    exact_inputs = 0

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape):
        shapes = _check_list(self, input_shape, self.exact_inputs)
        out = list(shapes[0])
        for shape in shapes[1:]:
            bad = len(shape) != len(out) or any(
                a is not None and b is not None and a != b and 1 not in (a, b) for a, b in zip(out, shape))
            if bad:
                raise ValueError(
                    f"Layer {self.name!r} ({type(self).__name__}) needs inputs of one rank whose axes are equal or "
                    f"1, received {[tuple(s) for s in shapes]}. Reshape or project them (e.g. with Dense) first."
                )
            # Keras's rule per axis: unknown if either is, else the one that is not 1.
            out = [None if a is None or b is None else (b if a == 1 else a) for a, b in zip(out, shape)]
        return tuple(out)

    def _merge(self, tensors: List[torch.Tensor]) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def call(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        return self._merge(list(inputs))

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        """Keras's rule: the OR of the inputs' masks when every input has one, else None."""
        return _or_masks(_masks(inputs, previous_mask))


class Add(_Elementwise):
    """Sum of a list of tensors."""

    def _merge(self, t):
        out = t[0]
        for x in t[1:]:
            out = out + x
        return out


class Subtract(_Elementwise):
    """`inputs[0] - inputs[1]` (exactly two inputs)."""

    exact_inputs = 2

    def _merge(self, t):
        return t[0] - t[1]


class Multiply(_Elementwise):
    """Element-wise product of a list of tensors."""

    def _merge(self, t):
        masks = _masks(t)
        if any(m is not None for m in masks):
            return self._merge_masked(t, masks)
        out = t[0]
        for x in t[1:]:
            out = out * x
        return out

    @staticmethod
    def _merge_masked(t: List[torch.Tensor], masks: List[Any]) -> torch.Tensor:
        """Keras's masked product: masked-out steps count as 1, and are 0 in the output where every
        input has a mask and all of them mask the step out."""
        out, keep = None, None
        for x, mask in zip(t, masks):
            if mask is not None:
                m = _broadcast_mask(mask, x)
                x = torch.where(m, x, torch.ones((), dtype=x.dtype, device=x.device))
                keep = m if keep is None else torch.logical_or(keep, m)
            out = x if out is None else out * x
        if all(m is not None for m in masks):
            out = torch.where(keep, out, torch.zeros((), dtype=out.dtype, device=out.device))
        return out


class Average(_Elementwise):
    """Element-wise mean of a list of tensors."""

    def _merge(self, t):
        return torch.stack(torch.broadcast_tensors(*t)).mean(dim=0)


def _masked_extreme(t: List[torch.Tensor], masks: List[Any], op: Any) -> torch.Tensor:
    """Keras's masked maximum/minimum: a masked-out step of one input takes the running result's
    value and the other way round, so masked steps never win."""
    out, out_mask = None, None
    for x, mask in zip(t, masks):
        m = _broadcast_mask(mask, x) if mask is not None else None
        if out is None:
            out, out_mask = x, m
            continue
        if m is not None:
            x = torch.where(m, x, out)
        if out_mask is not None:
            out = torch.where(out_mask, out, x)
        out_mask = torch.logical_or(out_mask, m) if m is not None and out_mask is not None else None
        out = op(out, x)
    return out


class Maximum(_Elementwise):
    """Element-wise maximum of a list of tensors of broadcastable shapes."""

    def _merge(self, t):
        masks = _masks(t)
        if any(m is not None for m in masks):
            return _masked_extreme(t, masks, torch.maximum)
        return torch.stack(torch.broadcast_tensors(*t)).amax(dim=0)


class Minimum(_Elementwise):
    """Element-wise minimum of a list of tensors of broadcastable shapes."""

    def _merge(self, t):
        masks = _masks(t)
        if any(m is not None for m in masks):
            return _masked_extreme(t, masks, torch.minimum)
        return torch.stack(torch.broadcast_tensors(*t)).amin(dim=0)


class Concatenate(Layer):
    """Concatenates a list of tensors along `axis`.

    Args:
        axis: the axis to join along. Defaults to `-1`.
    """

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = axis

    def compute_output_shape(self, input_shape):
        shapes = _check_list(self, input_shape)
        rank = len(shapes[0])
        axis = self.axis % rank
        for s in shapes:
            others = [d for i, d in enumerate(s) if i != axis]
            first = [d for i, d in enumerate(shapes[0]) if i != axis]
            if len(s) != rank or any(a is not None and b is not None and a != b for a, b in zip(others, first)):
                raise ValueError(
                    f"Concatenate {self.name!r} needs inputs whose shapes match except on axis {self.axis}, "
                    f"received {[tuple(x) for x in shapes]}."
                )
        sizes = [s[axis] for s in shapes]
        out = list(shapes[0])
        out[axis] = None if any(d is None for d in sizes) else sum(sizes)
        return tuple(out)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def call(self, inputs):
        return torch.cat(list(inputs), dim=self.axis)

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        """Keras's rule: each input's mask (all True where it has none, broadcast over its features),
        joined along `axis`, then any() over the last axis; None when no input has a mask."""
        masks = _masks(inputs, previous_mask)
        if all(m is None for m in masks):
            return None
        full = []
        for x, m in zip(inputs, masks):
            if m is None:
                full.append(torch.ones(x.shape, dtype=torch.bool, device=x.device))
            elif m.dim() < x.dim():
                full.append(_broadcast_mask(m, x))
            else:
                full.append(m.to(torch.bool))
        return torch.cat(full, dim=self.axis).any(dim=-1)

    def get_config(self):
        c = super().get_config()
        c["axis"] = self.axis
        return c


class Dot(Layer):
    """Dot product of two tensors along `axes` (per sample).

    Args:
        axes: an int or a pair of ints (axes of each input, batch excluded counts from 1).
        normalize: L2-normalise along the axes first (cosine similarity). Defaults to `False`.
    """

    def __init__(self, axes: Union[int, Sequence[int]], normalize: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axes = list(axes) if isinstance(axes, (list, tuple)) else [axes, axes]
        self._axes_arg = list(axes) if isinstance(axes, (list, tuple)) else axes  # written as given, as Keras
        self.normalize = bool(normalize)

    def _axes(self, shapes):
        return [a % len(s) for a, s in zip(self.axes, shapes)]

    def compute_output_shape(self, input_shape):
        shapes = _check_list(self, input_shape, 2)
        a0, a1 = self._axes(shapes)
        if shapes[0][a0] is not None and shapes[1][a1] is not None and shapes[0][a0] != shapes[1][a1]:
            raise ValueError(
                f"Dot {self.name!r}: axis {a0} of the first input ({shapes[0][a0]}) and axis {a1} of the second "
                f"({shapes[1][a1]}) must have the same size. Received shapes {shapes}."
            )
        rest = [d for i, d in enumerate(shapes[0]) if i not in (0, a0)] + [
            d for i, d in enumerate(shapes[1]) if i not in (0, a1)]
        return (shapes[0][0],) + (tuple(rest) if rest else (1,))

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def call(self, inputs):
        x, y = inputs
        a0, a1 = self._axes([tuple(x.shape), tuple(y.shape)])
        if self.normalize:
            x, y = F.normalize(x, dim=a0), F.normalize(y, dim=a1)
        x = x.movedim(a0, -1)
        y = y.movedim(a1, -1)
        if x.dim() == 2 and y.dim() == 2:
            return (x * y).sum(-1, keepdim=True)
        xs, ys = x.shape, y.shape
        res = torch.einsum("bik,bjk->bij", x.reshape(xs[0], -1, xs[-1]), y.reshape(ys[0], -1, ys[-1]))
        return res.reshape((xs[0],) + tuple(xs[1:-1]) + tuple(ys[1:-1]))

    def get_config(self):
        c = super().get_config()
        c.update(axes=self._axes_arg, normalize=self.normalize)
        return c


def concatenate(inputs: List[Any], axis: int = -1, **kwargs: Any) -> Any:
    """Functional form of Concatenate."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def add(inputs: List[Any], **kwargs: Any) -> Any:
    """Functional form of `Add`: the sum of `inputs`; `kwargs` go to the layer."""
    return Add(**kwargs)(inputs)


def multiply(inputs: List[Any], **kwargs: Any) -> Any:
    """Functional form of `Multiply`: the element-wise product of `inputs`; `kwargs` go to the layer."""
    return Multiply(**kwargs)(inputs)


def average(inputs: List[Any], **kwargs: Any) -> Any:
    """Functional form of `Average`: the element-wise mean of `inputs`; `kwargs` go to the layer."""
    return Average(**kwargs)(inputs)


def subtract(inputs: List[Any], **kwargs: Any) -> Any:
    """Functional form of `Subtract`: `inputs[0] - inputs[1]`; `kwargs` go to the layer."""
    return Subtract(**kwargs)(inputs)


def maximum(inputs: List[Any], **kwargs: Any) -> Any:
    """Functional form of `Maximum`: the element-wise maximum of `inputs`; `kwargs` go to the layer."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs: List[Any], **kwargs: Any) -> Any:
    """Functional form of `Minimum`: the element-wise minimum of `inputs`; `kwargs` go to the layer."""
    return Minimum(**kwargs)(inputs)


def dot(inputs: List[Any], axes: Union[int, Sequence[int]] = -1, **kwargs: Any) -> Any:
    """Functional form of `Dot`: the per-sample dot product of two inputs along `axes` (default the last);
    `kwargs` (e.g. `normalize=True`) go to the layer."""
    return Dot(axes=axes, **kwargs)(inputs)
