"""Keras's `stateful=True` for recurrent layers: the final states of one batch start the next.

Shared by the generic `RNN` (`rnn_generic.py`) and the fused `SimpleRNN`/`LSTM`/`GRU`
(`recurrent.py`). The kept states are plain detached tensors, not weights (Keras does not save
them either), so no gradient flows from one batch into the previous one; `reset_states()` zeroes
them. Sample `i` of a batch continues sample `i` of the previous batch, so the batch size must
stay the size of the first batch until the layer is rebuilt.
"""

from __future__ import annotations

from typing import Any, List, Optional

import torch

from kerasish.layers.calling import has_symbolic


class StatefulStates:
    """Mixin of recurrent layers: `states`, `reset_states()` and the batch-size check."""

    stateful: bool
    name: str
    #: The kept final states of the last batch (stateful layers only), flat, one per state.
    states: Optional[List[torch.Tensor]] = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if getattr(self, "stateful", False) and has_symbolic(args, kwargs):
            # A symbolic call may run the layer on probe batches; they must not become the kept states.
            kept = self.states
            try:
                return super().__call__(*args, **kwargs)  # type: ignore[misc]
            finally:
                self.states = kept
        return super().__call__(*args, **kwargs)  # type: ignore[misc]

    def reset_states(self) -> None:
        """Zeroes the kept states of a stateful layer (nothing before its first batch)."""
        if self.states is not None:
            self.states = [torch.zeros_like(s) for s in self.states]

    reset_state = reset_states

    def _kept_states(self, batch: int, device: torch.device) -> Optional[List[torch.Tensor]]:
        """The states to start this batch from when stateful (None: start from zeros)."""
        if not self.stateful or self.states is None:
            return None
        if self.states[0].shape[0] != batch:
            raise ValueError(
                f"Layer {self.name!r} is stateful, so the batch size must stay {self.states[0].shape[0]} "
                f"(the size of its first batch), received a batch of {batch}. Feed batches of one size "
                "(e.g. a dataset size divisible by batch_size, or drop the last short batch), or call "
                "reset_states() on a new layer."
            )
        if self.states[0].device != device:
            self.states = [s.to(device) for s in self.states]
        return self.states

    def _keep_states(self, states: List[torch.Tensor]) -> None:
        """Keeps this batch's final states for the next one (stateful layers only)."""
        if self.stateful:
            self.states = [s.detach() for s in states]
