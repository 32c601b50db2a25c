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


_state = _State()


def state() -> _State:
    return _state


def current_training() -> Optional[bool]:
    """The `training` value a layer called now would inherit (None outside any call)."""
    return _state.training


class training_scope:
    """Runs a block as if inside a call with `training=value` (used by the loops).

    A scope entered outside any layer call also starts a new forward pass for
    `add_loss`: the losses of the previous pass are cleared on entry.
    """

    __slots__ = ("value", "saved")

    def __init__(self, value: Optional[bool]) -> None:
        self.value = value

    def __enter__(self) -> None:
        st = _state
        if st.depth == 0:
            clear_pass_losses()
        self.saved = st.training
        st.training = self.value
        st.depth += 1

    def __exit__(self, *exc: Any) -> None:
        st = _state
        st.training = self.saved
        st.depth -= 1


def clear_pass_losses() -> None:
    """Drops the losses the previous forward pass added (start of an outermost call)."""
    st = _state
    if st.loss_layers:
        for layer in st.loss_layers:
            layer._call_losses.clear()
        st.loss_layers.clear()


def record_loss_layer(layer: Any) -> None:
    _state.loss_layers.append(layer)


def pass_losses() -> List[Any]:
    """Every loss added by `add_loss` during the current (or last) forward pass."""
    out: List[Any] = []
    for layer in _state.loss_layers:
        out.extend(layer._call_losses)
    return out
