"""Rematerialization (gradient checkpointing): Keras 3's `RematScope` and `remat` on torch.

A rematerialized computation keeps only its inputs for the backward pass and runs again
during it to get the activations back: less memory for more compute. Both forms are
`torch.utils.checkpoint.checkpoint(..., use_reentrant=False)` underneath, as in Keras's
torch backend:

- `remat(f)` wraps one function;
- `with RematScope(mode=...):` picks layers: a layer takes the scope that is open when it is
  *constructed* (as Keras's `Operation.__init__` reads it), and its calls follow that mode for
  the layer's life, wherever it is called from.

Modes, as Keras's:

- `"full"`: the layer's whole `call` is checkpointed;
- `"activations"`: only the layer's `activation` (Dense, Conv, Activation ... whatever holds an
  `activation` attribute) is checkpointed; layers without one run plainly;
- `"larger_than"`: the whole `call` when its output has more than `output_size_threshold`
  elements (all outputs summed, the batch included); smaller outputs run plainly;
- `"list_of_layers"`: the whole `call` of the layers named in `layer_names`;
- `None`: no rematerialization (an inner `RematScope(None)` turns an outer one off).

Layers made outside any scope pay one attribute read per call for this feature.
"""

from __future__ import annotations

import collections
import functools
import math
import threading
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch.utils import checkpoint as _checkpoint

from kerasish.layers import call_context
from kerasish.layers.calling import shape_tree
from kerasish.random.seed_generator import SeedGenerator

MODES = ("full", "activations", "larger_than", "list_of_layers", None)

#: The mode a layer took from the scope open at its construction (Keras's `RematMode`).
RematMode = collections.namedtuple("RematMode", ["mode", "output_size_threshold", "layer_names"])


class _Stack(threading.local):
    def __init__(self) -> None:
        self.scopes: List["RematScope"] = []


_stack = _Stack()


class RematScope:
    """Turns on rematerialization (gradient checkpointing) for the layers created inside it.

    The scope applies to the layers *constructed* inside the `with` block; their calls follow
    its mode for the rest of their life. Checkpointing runs when gradients are recorded (a
    training step, a `GradientTape`-style torch loop); under `torch.no_grad()` or inference
    mode (`evaluate`, `predict`) calls run plainly, as there is no backward pass to save
    memory for (Keras's torch backend checkpoints those calls too, to no effect).

    Args:
        mode: `"full"`, `"activations"`, `"larger_than"`, `"list_of_layers"` or `None` (see the
            module docstring). Defaults to `"full"`.
        output_size_threshold: for `"larger_than"`, the number of output elements above which a
            call is checkpointed. Defaults to `1024`.
        layer_names: for `"list_of_layers"`, the names of the layers to checkpoint. Defaults to
            `None` (no layer).

    Raises:
        ValueError: for a `mode` outside the five above.

    A `Model`'s own call is not checkpointed as a whole, where Keras's is: the layers made
    inside the scope are, one by one (a model built in the scope has all its layers made there).

    Example:
        >>> import torch, kerasish
        >>> with kerasish.RematScope(mode="full"):
        ...     dense = kerasish.layers.Dense(4, activation="relu")
        >>> x = torch.ones(2, 3, requires_grad=True)
        >>> dense(x).sum().backward()  # dense's call runs a second time here, to rebuild its activations
    """

    def __init__(self, mode: Optional[str] = "full", output_size_threshold: int = 1024,
                 layer_names: Optional[Sequence[str]] = None) -> None:
        if mode not in MODES:
            raise ValueError(
                f"Invalid mode '{mode}'. Supported modes are: 'full', 'activations', 'larger_than', "
                "'list_of_layers', or None."
            )
        self.mode = mode
        self.output_size_threshold = output_size_threshold
        self.layer_names = list(layer_names or [])
        self._entered = 0  # how many times this object is open now (`with s: with s:` is allowed)

    def __enter__(self) -> "RematScope":
        _stack.scopes.append(self)
        self._entered += 1
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._entered:
            _stack.scopes.pop()
            self._entered -= 1

    def __repr__(self) -> str:
        return (f"RematScope(mode={self.mode!r}, output_size_threshold={self.output_size_threshold}, "
                f"layer_names={self.layer_names!r})")


def get_current_remat_mode() -> Optional[RematMode]:
    """The mode of the innermost open `RematScope`, or None outside any (Keras's function)."""
    scopes = _stack.scopes
    if not scopes:
        return None
    top = scopes[-1]
    return RematMode(top.mode, top.output_size_threshold, top.layer_names)


def mode_for_new_layer() -> Optional[RematMode]:
    """What a layer constructed now stores: the current mode, None when it checkpoints nothing."""
    mode = get_current_remat_mode()
    return None if mode is None or mode.mode is None else mode


def remat(f: Callable[..., Any]) -> Callable[..., Any]:
    """Wraps `f` so that its activations are recomputed in the backward pass instead of stored.

    The wrapper calls `torch.utils.checkpoint.checkpoint(f, *args, use_reentrant=False,
    **kwargs)`: `f`'s intermediate tensors are dropped after the forward pass and `f` runs
    again when the gradients are computed, with the same random state (dropout masks agree).

    Args:
        f: the function (or layer) to rematerialize. Required.

    Returns:
        A function with `f`'s signature that returns what `f` returns.

    Example:
        >>> import torch, kerasish
        >>> double = kerasish.remat(lambda x: torch.sin(x) * 2)
        >>> x = torch.ones(3, requires_grad=True)
        >>> double(x).sum().backward()
        >>> x.grad.shape
        torch.Size([3])
    """
    if not callable(f):
        raise TypeError(f"remat() expects a callable (a function or a layer), received {f!r} "
                        f"(type {type(f).__name__}). Pass the function whose activations should be recomputed.")

    @functools.wraps(f)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return _checkpoint.checkpoint(f, *args, use_reentrant=False, **kwargs)

    return wrapped


# ---------------------------------------------------------------------------- the layer hook
def remat_call(layer: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
    """Runs `layer.call(*args, **kwargs)` as `layer._remat_mode` says (Layer.forward's hook)."""
    mode = layer._remat_mode
    if not torch.is_grad_enabled():
        return layer.call(*args, **kwargs)
    if mode.mode == "activations":
        activation = getattr(layer, "activation", None)
        if activation is None:
            return layer.call(*args, **kwargs)
        return _with_remat_activation(layer, activation, args, kwargs)
    if mode.mode == "list_of_layers" and layer.name not in mode.layer_names:
        return layer.call(*args, **kwargs)
    if mode.mode == "larger_than" and not _output_larger(layer, args, mode.output_size_threshold):
        return layer.call(*args, **kwargs)
    return _checkpoint.checkpoint(_replayable(layer), *args, use_reentrant=False, **kwargs)


def _replayable(layer: Any) -> Callable[..., Any]:
    """`layer.call` that runs again in the backward pass exactly as it ran in the forward one.

    The recomputation happens outside the layer's call, so the call context it ran under (the
    inherited `training` flag, the call depth) is put back for it, and the `add_loss` values the
    rerun adds are dropped (the forward pass already counted them).
    """
    st = call_context.state()
    training, depth = st.training, st.depth
    runs = [0]
    # Seeded layers inside (a Dropout(seed=...)) draw from their SeedGenerator, which the forward pass
    # moves on; torch's checkpoint restores only torch's own generators. Their states before the forward
    # pass are kept (a device copy, no sync) and put back for the rerun, so its masks are the forward's.
    generators = [m for m in layer.modules() if isinstance(m, SeedGenerator)]
    before = [g.snapshot() for g in generators]

    def run(*args: Any, **kwargs: Any) -> Any:
        runs[0] += 1
        if runs[0] == 1:  # the forward pass: the context is already the right one
            return layer.call(*args, **kwargs)
        kept = [(m, list(m._call_losses)) for m in layer.modules() if hasattr(m, "_call_losses")]
        saved = st.training, st.depth
        after = [g.snapshot() for g in generators]
        st.training, st.depth = training, depth
        for g, state in zip(generators, before):
            g.restore(state)
        try:
            return layer.call(*args, **kwargs)
        finally:
            st.training, st.depth = saved
            for module, losses in kept:
                module._call_losses[:] = losses
            for g, state in zip(generators, after):
                g.restore(state)

    return run


def _with_remat_activation(layer: Any, activation: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
    # The activation swapped for its checkpointed form for this call only, as Keras's "activations" mode.
    as_module = isinstance(activation, torch.nn.Module) and "activation" in layer._modules
    if as_module:  # a registered submodule: shadow it in the instance dict (nn.Module refuses a function there)
        layer.__dict__["activation"] = remat(activation)
    else:
        layer.activation = remat(activation)
    try:
        return layer.call(*args, **kwargs)
    finally:
        if as_module:
            del layer.__dict__["activation"]
        else:
            layer.activation = activation


def _output_larger(layer: Any, args: Tuple[Any, ...], threshold: int) -> bool:
    """Whether the call's outputs hold more than `threshold` elements, from the layer's output
    shape for these input shapes (found once per input shape and kept on the layer)."""
    if not args:
        return False
    key = _shape_key(args[0])
    decided = layer.__dict__.setdefault("_remat_sizes", {})
    if key not in decided:
        out_shape = layer.compute_output_shape(shape_tree(args[0]))
        first = next((t for t in _tensors(args[0])), None)
        batch = int(first.shape[0]) if first is not None and first.dim() else 1
        decided[key] = _size(out_shape, batch) > threshold
    return decided[key]


def _shape_key(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return tuple(x.shape)
    if isinstance(x, (list, tuple)):
        return tuple(_shape_key(t) for t in x)
    if isinstance(x, dict):
        return tuple((k, _shape_key(v)) for k, v in sorted(x.items()))
    return None


def _tensors(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        yield x
    elif isinstance(x, (list, tuple)):
        for t in x:
            yield from _tensors(t)
    elif isinstance(x, dict):
        for t in x.values():
            yield from _tensors(t)


def _size(shape: Any, batch: int) -> int:
    """Elements in an output of `shape` (or the sum over a list of shapes); an unknown batch
    entry counts the real batch size, any other unknown dimension 1 (Keras's count)."""
    if isinstance(shape, dict):
        return sum(_size(s, batch) for s in shape.values())
    if isinstance(shape, (list, tuple)) and shape and all(isinstance(s, (list, tuple)) for s in shape):
        return sum(_size(s, batch) for s in shape)
    dims = list(shape)
    if dims and dims[0] is None:
        dims[0] = batch
    return math.prod(d or 1 for d in dims)
