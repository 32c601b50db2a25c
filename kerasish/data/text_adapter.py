"""Arrays of strings for models that start with TextVectorization/StringLookup: the strings stay
on the host, batched as lists, the targets on the device (an `ArrayAdapter` otherwise)."""

from __future__ import annotations

from typing import Iterator, Tuple

import numpy as np
import torch

from kerasish.data.adapters import ArrayAdapter, Batch


class TextArrayAdapter(ArrayAdapter):
    """Like ArrayAdapter, but x stays a host array of strings; batches are lists of str.

    The model's first layer (TextVectorization) turns each batch into ids on the CPU
    and the model moves them to its device. y and sample_weight live on the device as
    ArrayAdapter's do. Steps follow the same rules as ArrayAdapter's (`steps_per_epoch`
    continues through the data across epochs and warns when it runs out; see
    kerasish/training/epoch_data.py), and so does `state_dict`.
    """

    def __init__(self, x, y, sample_weight, batch_size, shuffle, device, steps=None) -> None:
        super().__init__(torch.zeros(len(x), 0), y, sample_weight, batch_size, shuffle, device, steps)
        self.texts = np.asarray(x, dtype=object)

    def _placed(self, order: torch.Tensor) -> Tuple[np.ndarray, torch.Tensor]:
        # The strings are gathered on the host, the targets on the device: no copy back per batch.
        return order.numpy(), order.to(self.device, non_blocking=True)

    def _batch_at(self, order: Tuple[np.ndarray, torch.Tensor], step: int) -> Batch:
        host, dev = order
        s = slice(step * self.batch_size, (step + 1) * self.batch_size)
        return (self.texts[host[s]],) + self._take_targets(dev[s])

    def __iter__(self) -> Iterator[Batch]:
        if self.requested:
            yield from self._carried_over()
            return
        order = self._placed(torch.randperm(self.n) if self.shuffle else torch.arange(self.n))
        for i in range(self.steps):
            yield self._batch_at(order, i)
