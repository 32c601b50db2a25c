"""Symbolic tensors and nodes: what the functional API records.

`Input(shape=...)` returns a `KerasTensor`. Calling a layer or an op on KerasTensors
records a `Node` (the layer, its inputs and its outputs) and returns new KerasTensors
with the inferred shapes. `Model(inputs, outputs)` walks the nodes back from the
outputs to run the same computation on real tensors.

This module is a leaf (no kerasish imports at module level) so that `kerasish.ops`
can recognise symbolic arguments without importing the layers.
"""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

Shape = Tuple[Optional[int], ...]


class KerasTensor:
    """A placeholder with a shape (batch entry None) that remembers the layer that made it.

    Attributes:
        shape: e.g. `(None, 28, 28, 1)`.
        dtype: a dtype name, 'float32' unless the Input said otherwise.
        node: the Node that produced it; `node.layer` is the layer.
        index: which output of that node it is.
    """

    def __init__(self, shape: Shape, dtype: str = "float32", node: Optional["Node"] = None, index: int = 0) -> None:
        self.shape = tuple(shape)
        self.dtype = dtype
        self.node = node
        self.index = index

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def layer(self) -> Any:
        return self.node.layer if self.node is not None else None

    @property
    def name(self) -> str:
        layer = self.layer
        return getattr(layer, "name", "tensor") if self.index == 0 else f"{getattr(layer, 'name', 'tensor')}_{self.index}"

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __bool__(self) -> bool:
        raise TypeError(
            "A KerasTensor is a symbolic placeholder without values, so it has no truth value. "
            "Build the model with Model(inputs, outputs) and call it on real data."
        )

    def __iter__(self) -> Any:
        raise TypeError(
            f"Iterating over a symbolic KerasTensor of shape {self.shape} is not supported. Index it "
            "(x[:, 0]) or split it with ops.split / ops.unstack(x, num=...)."
        )

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            "A symbolic KerasTensor cannot become a NumPy array: it has no values while the model is built. "
            "Use kerasish.ops functions on it, or wrap NumPy code in a layer's call()."
        )

    # Python operators record ops, as Keras's KerasTensor does (`x * 2 + 1` between layers).
    def _op(self, name: str, *args: Any) -> "KerasTensor":
        from kerasish.ops.operation import get_op

        return get_op(f"numpy.{name}")(*args)

    def __add__(self, other: Any) -> "KerasTensor": return self._op("add", self, other)
    def __radd__(self, other: Any) -> "KerasTensor": return self._op("add", other, self)
    def __sub__(self, other: Any) -> "KerasTensor": return self._op("subtract", self, other)
    def __rsub__(self, other: Any) -> "KerasTensor": return self._op("subtract", other, self)
    def __mul__(self, other: Any) -> "KerasTensor": return self._op("multiply", self, other)
    def __rmul__(self, other: Any) -> "KerasTensor": return self._op("multiply", other, self)
    def __matmul__(self, other: Any) -> "KerasTensor": return self._op("matmul", self, other)
    def __rmatmul__(self, other: Any) -> "KerasTensor": return self._op("matmul", other, self)
    def __truediv__(self, other: Any) -> "KerasTensor": return self._op("true_divide", self, other)
    def __rtruediv__(self, other: Any) -> "KerasTensor": return self._op("true_divide", other, self)
    def __floordiv__(self, other: Any) -> "KerasTensor": return self._op("floor_divide", self, other)
    def __rfloordiv__(self, other: Any) -> "KerasTensor": return self._op("floor_divide", other, self)
    def __mod__(self, other: Any) -> "KerasTensor": return self._op("mod", self, other)
    def __rmod__(self, other: Any) -> "KerasTensor": return self._op("mod", other, self)
    def __pow__(self, other: Any) -> "KerasTensor": return self._op("power", self, other)
    def __rpow__(self, other: Any) -> "KerasTensor": return self._op("power", other, self)
    def __neg__(self) -> "KerasTensor": return self._op("negative", self)
    def __abs__(self) -> "KerasTensor": return self._op("absolute", self)
    def __invert__(self) -> "KerasTensor": return self._op("logical_not", self)
    def __lt__(self, other: Any) -> "KerasTensor": return self._op("less", self, other)
    def __le__(self, other: Any) -> "KerasTensor": return self._op("less_equal", self, other)
    def __gt__(self, other: Any) -> "KerasTensor": return self._op("greater", self, other)
    def __ge__(self, other: Any) -> "KerasTensor": return self._op("greater_equal", self, other)
    def __ne__(self, other: Any) -> "KerasTensor": return self._op("not_equal", self, other)  # type: ignore[override]
    def __and__(self, other: Any) -> "KerasTensor": return self._op("logical_and", self, other)
    def __rand__(self, other: Any) -> "KerasTensor": return self._op("logical_and", other, self)
    def __or__(self, other: Any) -> "KerasTensor": return self._op("logical_or", self, other)
    def __ror__(self, other: Any) -> "KerasTensor": return self._op("logical_or", other, self)
    def __xor__(self, other: Any) -> "KerasTensor": return self._op("logical_xor", self, other)
    def __rxor__(self, other: Any) -> "KerasTensor": return self._op("logical_xor", other, self)
    def __getitem__(self, key: Any) -> "KerasTensor": return self._op("get_item", self, key)
    def __round__(self, ndigits: Any = None) -> "KerasTensor": return self._op("round", self, ndigits or 0)

    __hash__ = object.__hash__


class Node:
    """One call of a layer in a graph: `outputs = layer(inputs)`.

    Attributes:
        layer: the layer called.
        inputs: the call's input structure (a KerasTensor or a list of them).
        outputs: the output KerasTensors, in order.
        kwargs: keyword arguments of the call (kept for re-running the graph).
    """

    def __init__(self, layer: Any, inputs: Any, kwargs: dict) -> None:
        self.layer = layer
        self.inputs = inputs
        self.kwargs = dict(kwargs)
        self.args: Tuple[Any, ...] = (inputs,)
        self.outputs: List[KerasTensor] = []

    @property
    def flat_inputs(self) -> List[KerasTensor]:
        """Every KerasTensor the call read: positional, nested and keyword arguments."""
        return _symbolic_leaves((self.args, self.kwargs))

    @property
    def simple(self) -> bool:
        """One positional input structure and no tensor keyword arguments."""
        return len(self.args) == 1 and not _symbolic_leaves(self.kwargs)

    @property
    def index(self) -> int:
        return self.layer._inbound_nodes.index(self)


def flatten(structure: Any) -> List[Any]:
    if isinstance(structure, (list, tuple)):
        return [t for item in structure for t in flatten(item)]
    if isinstance(structure, dict):
        return [t for key in structure for t in flatten(structure[key])]
    return [structure]


def is_symbolic(x: Any) -> bool:
    if isinstance(x, KerasTensor):
        return True
    if isinstance(x, (list, tuple)) and x:
        return all(isinstance(t, KerasTensor) for t in x)
    return False


def shapes_of(inputs: Any) -> Any:
    if isinstance(inputs, (list, tuple)):
        return [shapes_of(t) for t in inputs]
    if isinstance(inputs, dict):  # a layer called on a dict of tensors builds from a dict of shapes, as in Keras
        return {k: shapes_of(t) for k, t in inputs.items()}
    return inputs.shape


def map_symbolic(fn: Any, structure: Any) -> Any:
    """`structure` with every KerasTensor replaced by `fn(tensor)`."""
    if isinstance(structure, KerasTensor):
        return fn(structure)
    if isinstance(structure, (list, tuple)):
        return type(structure)(map_symbolic(fn, t) for t in structure)
    if isinstance(structure, dict):
        return {k: map_symbolic(fn, v) for k, v in structure.items()}
    return structure


def _symbolic_leaves(structure: Any) -> List[KerasTensor]:
    out: List[KerasTensor] = []
    map_symbolic(out.append, structure)
    return out


