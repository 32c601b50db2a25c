"""Symbolic tensors and nodes: what the functional API records.

`Input(shape=...)` returns a `KerasTensor`. Calling a layer on KerasTensors builds the
layer for their shapes, records a `Node` (the layer, its inputs and its outputs) and
returns new KerasTensors with the inferred shapes. `Model(inputs, outputs)` walks the
nodes back from the outputs to run the same computation on real tensors.
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
        self.outputs: List[KerasTensor] = []

    @property
    def flat_inputs(self) -> List[KerasTensor]:
        return flatten(self.inputs)

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
    return inputs.shape


def call_symbolic(layer: Any, inputs: Any, kwargs: dict) -> Any:
    """Records `layer(inputs)` for KerasTensor inputs and returns the output KerasTensor(s)."""
    shapes = shapes_of(inputs)
    if not layer.built:
        layer.build_from_shape(shapes)
    out_shapes = layer.compute_output_shape(shapes)
    node = Node(layer, inputs, kwargs)
    layer._inbound_nodes.append(node)
    dtype = flatten(inputs)[0].dtype if flatten(inputs) else "float32"
    if getattr(layer, "integer_input", False) or getattr(layer, "string_input", False):
        dtype = "float32"
    if isinstance(out_shapes, list):
        node.outputs = [KerasTensor(s, dtype, node, i) for i, s in enumerate(out_shapes)]
        return list(node.outputs)
    node.outputs = [KerasTensor(out_shapes, dtype, node, 0)]
    return node.outputs[0]
