"""`get_source_inputs`: the `Input` tensors a symbolic tensor of a functional model depends on."""

from __future__ import annotations

from typing import Any, List


def get_source_inputs(tensor: Any) -> Any:
    """Returns the input tensors needed to compute `tensor`, as Keras's `keras.utils.get_source_inputs`.

    Walks the recorded layer calls back from `tensor` to the `Input` tensors they start
    from, each listed once, in the order they are first reached.

    Args:
        tensor: a symbolic tensor (`kerasish.Input(...)` or a layer's output on one).

    Returns:
        A list of `KerasTensor`s; `tensor` itself in a list when it is an input. Anything
        that is not a symbolic tensor comes back unchanged, as in Keras.

    Example:
        >>> from kerasish import Input, layers
        >>> a, b = Input(shape=(3,)), Input(shape=(3,))
        >>> out = layers.Dense(2)(layers.add([a, b]))
        >>> get_source_inputs(out) == [a, b]
        True
    """
    from kerasish.ops.keras_tensor import KerasTensor

    if not isinstance(tensor, KerasTensor):
        return tensor
    sources: List[KerasTensor] = []
    stack, seen = [tensor], set()
    while stack:  # depth first, leftmost input first, as Keras's recursion visits them
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        parents = t.node.flat_inputs if t.node is not None else []
        if not parents:
            if all(t is not s for s in sources):
                sources.append(t)
        else:
            stack.extend(reversed(parents))
    return sources
