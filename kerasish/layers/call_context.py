"""The call context: what a layer call inherits from the call around it.

Keras's rule for `training`: an explicit argument wins; otherwise a nested layer inherits
the value of the outermost call that set one; a top-level call with none leaves it None
(the layer's own default). `fit` runs its steps with `training=True`, `evaluate`,
`predict` and validation with `training=False`.

The context also collects `add_loss` values: losses added during a forward pass belong to
that pass. The outermost call clears the losses the previous pass left on its layers.

State is per thread, so two threads predicting with one model do not see each other's
flags.
"""

from __future__ import annotations

import threading
from typing import Any, List, Optional


class _State(threading.local):
    def __init__(self) -> None:
        self.training: Optional[bool] = None
        self.depth = 0
        # Layers holding losses added by add_loss during the last pass (cleared by the next one).
        self.loss_layers: List[Any] = []
        # (model, activation, loss) while fit runs a custom step of a model whose built-in step would
        # compute the loss from logits: that model's call keeps its logits (training/kept_logits.py).
        self.keep_logits: Optional[Any] = None


_state = _State()


def state() -> _State:
    return _state


class training_scope:
    """Runs a block as if inside a call with `training=value` (used by the loops).

    Entered outside any layer call with a `root` (a layer, or the set of ids of its
    modules, cheaper per batch), it also starts a new forward pass of that layer for
    `add_loss`: the losses its layers added before are cleared.
    """

    __slots__ = ("value", "root", "saved")

    def __init__(self, value: Optional[bool], root: Any = None) -> None:
        self.value = value
        self.root = root

    def __enter__(self) -> None:
        st = _state
        if st.depth == 0 and st.loss_layers and self.root is not None:
            clear_losses_under(self.root)
        self.saved = st.training
        st.training = self.value
        st.depth += 1

    def __exit__(self, *exc: Any) -> None:
        st = _state
        st.training = self.saved
        st.depth -= 1


def clear_losses_under(root: Any) -> None:
    """Drops the `add_loss` values that `root` and its sublayers hold (start of root's
    outermost call, as in Keras); other layers keep theirs. `root` is a module or the
    set of ids of its modules."""
    st = _state
    if not st.loss_layers:
        return
    inside = root if isinstance(root, (set, frozenset)) else {id(m) for m in root.modules()}
    keep = []
    for layer in st.loss_layers:
        if id(layer) in inside:
            layer._call_losses.clear()
        else:
            keep.append(layer)
    st.loss_layers[:] = keep


def record_loss_layer(layer: Any) -> None:
    _state.loss_layers.append(layer)


def pass_losses(module_ids: Optional[set] = None) -> List[Any]:
    """Losses added by `add_loss` and not cleared yet; only those of the layers whose ids are in
    `module_ids` when given (a model's layers)."""
    out: List[Any] = []
    for layer in _state.loss_layers:
        if module_ids is None or id(layer) in module_ids:
            out.extend(layer._call_losses)
    return out
