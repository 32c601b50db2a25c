"""An op called on symbolic tensors becomes a graph node: `OpLayer`.

`x = ops.expand_dims(inputs, -1)` between layers of a functional model records a node
whose layer is an `OpLayer` for 'numpy.expand_dims'; the node keeps the op's arguments
(KerasTensors and constants), so running the model calls the op on real tensors, and a
saved model stores the op's name and the constant arguments. The output shape is found
by running the op on zeros of the input shapes (as for layers without
`compute_output_shape`).
"""

from __future__ import annotations

from typing import Any, Callable, Dict

from kerasish.layers.layer import Layer, unique_name
from kerasish.layers.symbolic import call_symbolic
from kerasish.ops import operation


class OpLayer(Layer):
    """A weightless layer that runs one registered op (`op`: 'namespace.name')."""

    def __init__(self, op: str, **kwargs: Any) -> None:
        self._op_fn = operation.get_op(op)  # validates the name before anything is built
        kwargs.setdefault("name", unique_name(op.split(".", 1)[1]))
        super().__init__(**kwargs)
        self.op = op
        self.built = True

    def call(self, *args: Any, **kwargs: Any) -> Any:
        return self._op_fn(*args, **kwargs)

    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        config["op"] = self.op
        return config


def record(key: str, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """The symbolic handler of `kerasish.ops`: a node for `fn(*args, **kwargs)`."""
    return call_symbolic(OpLayer(key), args, kwargs)


operation.set_symbolic_handler(record)
