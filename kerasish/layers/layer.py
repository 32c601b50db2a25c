"""The Layer base class: a torch nn.Module with Keras's lazy build, names and configs.

Subclasses implement:
- `build(input_shape)`: create parameters once the input shape is known. `input_shape`
  is a tuple whose first entry (the batch) is None, e.g. `(None, 784)`.
- `call(inputs)`: the computation (`forward` delegates to it).
- `compute_output_shape(input_shape)`: the output shape, batch entry None.
- `get_config()`: constructor arguments as a JSON-ready dict (`super().get_config()` first).
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from kerasish.layers.symbolic import call_symbolic, is_symbolic

Shape = Tuple[Optional[int], ...]

_name_counts: Dict[str, int] = defaultdict(int)


def to_snake_case(name: str) -> str:
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    s = re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()
    return re.sub(r"(\d)_d\b", r"\1d", s)  # conv2_d -> conv2d


def unique_name(base: str) -> str:
    """Keras's naming: 'dense', 'dense_1', 'dense_2' ... per base name, process-wide."""
    n = _name_counts[base]
    _name_counts[base] += 1
    return base if n == 0 else f"{base}_{n}"


def reset_names() -> None:
    """Restarts the name counters (Keras's `clear_session` does this)."""
    _name_counts.clear()


def normalize_shape(shape: Any, arg: str = "input_shape") -> Tuple[Optional[int], ...]:
    """Validates a user-given shape (without batch) and returns it as a tuple."""
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(
            f"{arg} must be a tuple of ints such as (784,) or (28, 28, 1), received {shape!r}."
        ) from None
    for d in shape:
        if d is not None and (not isinstance(d, (int, np.integer)) or isinstance(d, bool) or d < 1):
            raise ValueError(
                f"{arg} must hold positive ints (or None for a variable size), received {shape!r}. "
                "Example: input_shape=(28, 28, 1)."
            )
    return tuple(None if d is None else int(d) for d in shape)


def infer_output_shape(module: nn.Module, input_shape: Shape, dtype: torch.dtype = torch.float32) -> Shape:
    """Output shape of an arbitrary module, found by running it on a zero batch of 2.

    Used for plain torch modules inside a Sequential; it runs in eval mode without
    gradients, so no state (BatchNorm statistics, RNG) changes.
    """
    if any(d is None for d in input_shape[1:]):
        raise ValueError(
            f"Cannot infer the output shape of {type(module).__name__} for input shape {input_shape} "
            "with unknown (None) dimensions. Give the first layer a full input_shape."
        )
    params = list(module.parameters())
    device = params[0].device if params else torch.device("cpu")
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = module(torch.zeros((2,) + tuple(input_shape[1:]), dtype=dtype, device=device))
    finally:
        module.train(was_training)
    if isinstance(out, (tuple, list)):
        out = out[0]
    return (None,) + tuple(out.shape[1:])


class Layer(nn.Module):
    """Base class of kerasish layers: an `nn.Module` built lazily from its input shape.

    Args:
        name: the layer's name; unique names ('dense', 'dense_1' ...) by default.
        input_shape: shape of one sample, without the batch, for a first layer. Defaults to `None`.
        input_dim: shorthand for `input_shape=(input_dim,)`. Defaults to `None`.
        batch_input_shape: shape with the batch entry first (Keras 2 style). Defaults to `None`.
        dtype: the parameter dtype name. Defaults to `None` (kerasish.config.floatx()).
        trainable: whether the weights are updated by fit. Defaults to `True`.
    """

    def __init__(
        self,
        *,
        name: Optional[str] = None,
        input_shape: Optional[Sequence[Optional[int]]] = None,
        input_dim: Optional[int] = None,
        batch_input_shape: Optional[Sequence[Optional[int]]] = None,
        dtype: Optional[str] = None,
        trainable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if kwargs:
            raise TypeError(
                f"{type(self).__name__}() got unexpected keyword argument(s) {sorted(kwargs)}. "
                f"Check the spelling against {type(self).__name__}'s documented arguments."
            )
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"name must be a non-empty string, received {name!r}.")
        self.name: str = name or unique_name(to_snake_case(type(self).__name__))
        self._input_shape_arg: Optional[Shape] = None
        if batch_input_shape is not None:
            self._input_shape_arg = (None,) + normalize_shape(tuple(batch_input_shape)[1:], "batch_input_shape")
        elif input_shape is not None:
            self._input_shape_arg = (None,) + normalize_shape(input_shape)
        elif input_dim is not None:
            self._input_shape_arg = (None,) + normalize_shape((input_dim,), "input_dim")
        self._dtype_arg = dtype
        self.built: bool = False
        self._build_input_shape: Optional[Shape] = None
        self._trainable = bool(trainable)
        # Calls on symbolic tensors (functional API), in order; plain Python objects,
        # not submodules.
        self._inbound_nodes: List[Any] = []

    # ------------------------------------------------------------------ building
    def build(self, input_shape: Shape) -> None:
        """Creates the layer's weights. The base implementation creates none."""

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        """The output shape for an input shape (batch entry None).

        The base implementation runs the layer on a zero batch; subclasses override it
        with the closed form.
        """
        return infer_output_shape(self, input_shape)

    def build_from_shape(self, input_shape: Shape, device: Optional[torch.device] = None) -> None:
        """Builds the layer for `input_shape` (batch entry first) if it is not built yet."""
        if self.built:
            return
        input_shape = tuple(input_shape)
        self.build(input_shape)
        self._build_input_shape = input_shape
        self.built = True
        if device is not None:
            self.to(device)
        if not self._trainable:
            for p in self.parameters():
                p.requires_grad_(False)

    @property
    def dtype(self) -> str:
        from kerasish import config

        return self._dtype_arg or config.floatx()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if args and not isinstance(args[0], torch.Tensor) and is_symbolic(args[0]):
            # Functional API: record the call on symbolic inputs, return symbolic outputs.
            return call_symbolic(self, args[0], kwargs)
        if not self.built and args and isinstance(args[0], torch.Tensor):
            self.build_from_shape((None,) + tuple(args[0].shape[1:]), args[0].device)
        return nn.Module.__call__(self, *args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.call(*args, **kwargs)

    def call(self, inputs: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement call(inputs).")

    # ------------------------------------------------------------------ functional graph
    def _single_node(self, what: str) -> Any:
        if not self._inbound_nodes:
            # ValueError, not AttributeError: nn.Module would swallow the message.
            raise ValueError(
                f"Layer {self.name!r} has never been called on a symbolic input, so it has no {what}. "
                "Build the model first (give the first layer input_shape=..., or call the layer on Input(...))."
            )
        return self._inbound_nodes[0]

    @property
    def input(self) -> Any:
        """The symbolic input of the layer's first call (functional API / built Sequential)."""
        node = self._single_node("input")
        return node.inputs

    @property
    def output(self) -> Any:
        """The symbolic output of the layer's first call (functional API / built Sequential)."""
        node = self._single_node("output")
        return node.outputs[0] if len(node.outputs) == 1 else list(node.outputs)

    # Activation fusion: layers whose output ends in softmax/sigmoid can hand the
    # training step the pre-activation logits (exact, stable cross-entropy).
    def logits_activation(self) -> Optional[str]:
        """'softmax' or 'sigmoid' when `call_logits` gives the pre-activation output."""
        return None

    def call_logits(self, inputs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no fused logits path.")

    # ------------------------------------------------------------------ weights
    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)

        def apply(module: nn.Module) -> None:
            for p in module.parameters(recurse=False):
                p.requires_grad_(self._trainable)
            for child in module.children():
                if isinstance(child, Layer):
                    # Child layers decide for themselves (BatchNormalization keeps its
                    # moving statistics frozen whatever `trainable` says).
                    child.trainable = value
                else:
                    apply(child)

        apply(self)

    @property
    def weights(self) -> List[torch.Tensor]:
        return list(self.parameters()) + [b for b in self.buffers() if b.is_floating_point()]

    @property
    def trainable_weights(self) -> List[torch.Tensor]:
        return [p for p in self.parameters() if p.requires_grad]

    @property
    def non_trainable_weights(self) -> List[torch.Tensor]:
        return [p for p in self.parameters() if not p.requires_grad] + [
            b for b in self.buffers() if b.is_floating_point()
        ]

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(
                f"Layer {self.name!r} is not built yet, so it has no weights to count. "
                "Give the first layer input_shape=..., or call the model on data first."
            )
        return sum(p.numel() for p in self.parameters())

    def get_weights(self) -> List[np.ndarray]:
        """The weights as NumPy arrays, in Keras's order (e.g. [kernel, bias])."""
        return [w.detach().cpu().numpy().copy() for w in self.weights]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Sets the weights from arrays in `get_weights()` order, checking every shape."""
        own = self.weights
        if len(weights) != len(own):
            raise ValueError(
                f"Layer {self.name!r} expects {len(own)} weight arrays, received {len(weights)}. "
                "Pass arrays in the order get_weights() returns them."
            )
        for i, (w, new) in enumerate(zip(own, weights)):
            new = torch.as_tensor(np.asarray(new) if not isinstance(new, torch.Tensor) else new)
            if tuple(new.shape) != tuple(w.shape):
                raise ValueError(
                    f"Weight {i} of layer {self.name!r} has shape {tuple(w.shape)}, "
                    f"received an array of shape {tuple(new.shape)}."
                )
        with torch.no_grad():
            for w, new in zip(own, weights):
                w.copy_(torch.as_tensor(np.asarray(new) if not isinstance(new, torch.Tensor) else new))

    #: (regularizer attribute, weight attribute) pairs whose penalties `losses` returns.
    regularized_weights: Tuple[Tuple[str, str], ...] = ()

    @property
    def losses(self) -> List[torch.Tensor]:
        """Regularisation penalties of this layer (recomputed on each access)."""
        out = []
        for reg_name, weight_name in self.regularized_weights:
            reg, weight = getattr(self, reg_name, None), getattr(self, weight_name, None)
            if reg is not None and weight is not None:
                out.append(reg(weight))
        return out

    # ------------------------------------------------------------------ config
    def get_config(self) -> Dict[str, Any]:
        """Constructor arguments as a JSON-ready dict; `cls.from_config(config)` rebuilds."""
        config: Dict[str, Any] = {"name": self.name, "trainable": self._trainable}
        if self._dtype_arg is not None:
            config["dtype"] = self._dtype_arg
        if self._input_shape_arg is not None:
            config["input_shape"] = list(self._input_shape_arg[1:])
        return config

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Layer":
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}"
