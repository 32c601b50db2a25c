"""Where `predict` puts its outputs: one host array per output, written batch by batch.

When the number of samples is known (arrays), the first batch fixes each output's per-sample
shape and dtype and a host array for all samples is allocated once (pinned on CUDA); every batch
is copied into its rows as it is produced (asynchronously on CUDA), so the outputs are held once,
never as a list of batches plus their concatenation, and a long predict never accumulates
outputs on the GPU. Float16/bfloat16 outputs arrive as float32 arrays, as before.

Otherwise (generators, a custom `predict_step`, outputs that are not one row per sample) the
batches are kept, copied to the host as they come on CUDA, and concatenated at the end.
"""

from __future__ import annotations

from typing import Any, List, Optional

import numpy as np
import torch

from kerasish.tree import flatten as _leaves, pack_sequence_as as _rebuild
from kerasish.utils.tree import map_structure

_HALF = (torch.bfloat16, torch.float16)


class Predictions:
    """Collects predict's batch outputs.

    Args:
        total: the number of samples predict will see, or None when unknown.
        device: the model's device (CUDA copies to pinned host memory asynchronously).
    """

    def __init__(self, total: Optional[int], device: torch.device) -> None:
        self.total, self.device = total, device
        self.cuda = device.type == "cuda"
        self.template: Any = None
        self.buffers: Optional[List[torch.Tensor]] = None
        self.offset = 0
        self.batches: List[Any] = []

    def add(self, out: Any) -> None:
        """Stores one batch's outputs (no host sync)."""
        if self.template is None:
            self.template = out
            self.buffers = self._allocate(out)
        if self.buffers is not None:
            leaves = _leaves(out)
            n = leaves[0].shape[0]
            if (len(leaves) == len(self.buffers) and self.offset + n <= self.total
                    and all(type(t) is torch.Tensor and t.dim() > 0 and t.shape[0] == n
                            and t.shape[1:] == b.shape[1:] for t, b in zip(leaves, self.buffers))):
                for t, b in zip(leaves, self.buffers):
                    b[self.offset:self.offset + n].copy_(t, non_blocking=self.cuda)
                self.offset += n
                return
            self._fall_back()  # not one row per sample after all: keep batches from here on
        self.batches.append(map_structure(_to_host_async, out) if self.cuda else out)

    def _allocate(self, out: Any) -> Optional[List[torch.Tensor]]:
        leaves = _leaves(out)
        if not self.total or not all(type(t) is torch.Tensor and t.dim() > 0 for t in leaves):
            return None
        n = leaves[0].shape[0]
        if any(t.shape[0] != n for t in leaves):
            return None
        return [torch.empty((self.total,) + tuple(t.shape[1:]), dtype=torch.float32 if t.dtype in _HALF else t.dtype,
                            pin_memory=self.cuda) for t in leaves]

    def _fall_back(self) -> None:
        if self.buffers is not None and self.offset:
            self.batches.append(_rebuild(self.template, [b[:self.offset] for b in self.buffers]))
        self.buffers = None

    def result(self) -> Any:
        """The outputs as NumPy arrays in the model's output structure (host sync: once)."""
        if self.template is None:
            raise ValueError("predict received no batches: the data is empty.")
        if self.cuda:
            torch.cuda.synchronize(self.device)  # the asynchronous copies must land first
        if self.buffers is not None:
            return _rebuild(self.template, [b[:self.offset].numpy() for b in self.buffers])
        return concat(self.batches)

    def as_batches(self) -> List[Any]:
        """The outputs as a list of per-batch structures (for gathering across processes)."""
        self._fall_back()
        return self.batches


def _to_host_async(t: Any) -> Any:
    """Starts a device-to-host copy (non_blocking: torch allocates the target pinned)."""
    return t.to("cpu", non_blocking=True) if isinstance(t, torch.Tensor) else t


def concat(outputs: List[Any]) -> Any:
    """Batches of outputs (same structure each) concatenated into NumPy arrays."""
    first = outputs[0]
    if isinstance(first, (list, tuple)):
        return type(first)(concat([o[i] for o in outputs]) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: concat([o[k] for o in outputs]) for k in first}
    if not isinstance(first, torch.Tensor):
        return np.concatenate([np.asarray(o) for o in outputs])
    # host sync: once, copying all predictions back
    return torch.cat(outputs).float().cpu().numpy() if first.dtype in _HALF else torch.cat(outputs).cpu().numpy()
