"""timeseries_dataset_from_array: batches of sliding windows over an array, as in Keras.

Window `i` starts at `start_index + positions[i]` and takes `sequence_length` steps,
`sampling_rate` apart; its target is `targets[start_index + positions[i]]`. With
`shuffle`, the start positions are shuffled by `np.random.RandomState(seed)`, the same
first order as Keras; later passes draw new orders from that generator. Keras returns a
`tf.data.Dataset`; the tutorials' `dataset.take(1)`, `map` and `prefetch` work here too
(see `dataset_ops`).
"""

from __future__ import annotations

import math
from typing import Any, Iterator, Optional

import numpy as np
import torch

from kerasish.utils.dataset_ops import DatasetOps


def _positive(value: Any, name: str) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}.")


def _tensor(array: np.ndarray) -> torch.Tensor:
    # A read-only array (a pandas frame's `.values` under copy-on-write) is copied: torch warns
    # that it cannot share memory it may not write, and the user's frame stays untouched.
    return torch.from_numpy(np.require(array, requirements=("C_CONTIGUOUS", "WRITEABLE")))


class TimeseriesDataset(DatasetOps):
    """Batches of windows `(batch, sequence_length, ...)`, with targets when given.

    Iterating yields torch tensors with the dtypes of `data` and `targets`; `len()` is
    the number of batches; `take(n)`, `map(fn)` and `prefetch()` work as on the folder
    datasets (see `dataset_ops`).
    Built by `timeseries_dataset_from_array`.
    """

    def __init__(self, data: np.ndarray, targets: Optional[np.ndarray], positions: np.ndarray,
                 sequence_length: int, sampling_rate: int, batch_size: Optional[int], shuffle: bool,
                 seed: Optional[int]) -> None:
        self._data = _tensor(data)
        self._targets = None if targets is None else _tensor(targets)
        self._offsets = torch.arange(sequence_length) * sampling_rate
        self._positions = positions
        self.batch_size = batch_size
        self.shuffle = shuffle
        self._rng = np.random.RandomState(seed if seed is not None else np.random.randint(1e6))
        self._first_order: Optional[np.ndarray] = None
        if shuffle:
            self._first_order = positions.copy()
            self._rng.shuffle(self._first_order)  # Keras's order for this seed

    def __len__(self) -> int:
        n = len(self._positions)
        return n if self.batch_size is None else math.ceil(n / self.batch_size)

    def _order(self) -> np.ndarray:
        if not self.shuffle:
            return self._positions
        if self._first_order is not None:
            order, self._first_order = self._first_order, None
            return order
        order = self._positions.copy()
        self._rng.shuffle(order)
        return order

    def _window(self, starts: torch.Tensor) -> Any:
        windows = self._data[starts[:, None] + self._offsets]
        return windows if self._targets is None else (windows, self._targets[starts])

    def __iter__(self) -> Iterator[Any]:
        starts = torch.from_numpy(self._order().astype("int64"))
        if self.batch_size is None:
            for start in starts:
                item = self._window(start[None])
                yield item[0] if self._targets is None else (item[0][0], item[1][0])
            return
        for i in range(0, len(starts), self.batch_size):
            yield self._window(starts[i:i + self.batch_size])


def timeseries_dataset_from_array(data: Any, targets: Any, sequence_length: int, sequence_stride: int = 1,
                                  sampling_rate: int = 1, batch_size: Optional[int] = 128, shuffle: bool = False,
                                  seed: Optional[int] = None, start_index: Optional[int] = None,
                                  end_index: Optional[int] = None) -> TimeseriesDataset:
    """Sliding windows over a series, batched (Keras's `timeseries_dataset_from_array`).

    Args:
        data: array of timesteps on the first axis (NumPy, torch or a list).
        targets: per-timestep targets (the target of a window is the one at its first
            step), or None for windows only.
        sequence_length: steps per window.
        sequence_stride: steps between the starts of consecutive windows. Defaults to `1`.
        sampling_rate: steps between the elements of one window. Defaults to `1`.
        batch_size: windows per batch, or None for single windows. Defaults to `128`.
        shuffle: shuffle the windows. Defaults to `False`.
        seed: seed of the shuffle. Defaults to `None`.
        start_index: first timestep used (inclusive). Defaults to `None` (0).
        end_index: last timestep used (exclusive). Defaults to `None` (the end).

    Returns:
        A `TimeseriesDataset`: an iterable of `(windows, targets)` (or `windows`) torch tensors.

    Raises:
        ValueError: for indices, strides or rates out of range.

    Example:
        >>> ds = timeseries_dataset_from_array(np.arange(10), None, sequence_length=3, batch_size=None)
        >>> next(iter(ds)).tolist()
        [0, 1, 2]
    """
    data = data.detach().cpu().numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
    if targets is not None:
        targets = targets.detach().cpu().numpy() if isinstance(targets, torch.Tensor) else np.asarray(targets)
    if data.ndim == 0:
        raise ValueError(f"data must be an array with timesteps on its first axis. Received a scalar: {data!r}.")
    _positive(sequence_length, "sequence_length")
    if batch_size is not None:
        _positive(batch_size, "batch_size")
    n = len(data)
    if start_index:
        if start_index < 0:
            raise ValueError(f"start_index must be 0 or greater. Received: start_index={start_index}.")
        if start_index >= n:
            raise ValueError(
                f"start_index must be lower than the length of data ({n}). Received: start_index={start_index}."
            )
    if end_index:
        if start_index and end_index <= start_index:
            raise ValueError(
                f"end_index must be higher than start_index. Received: start_index={start_index}, "
                f"end_index={end_index}."
            )
        if end_index >= n:
            raise ValueError(
                f"end_index must be lower than the length of data ({n}); leave it None to use all data. "
                f"Received: end_index={end_index}."
            )
        if end_index <= 0:
            raise ValueError(f"end_index must be higher than 0. Received: end_index={end_index}.")
    for name, value in (("sampling_rate", sampling_rate), ("sequence_stride", sequence_stride)):
        _positive(value, name)
        if value >= n:
            raise ValueError(
                f"{name} must be lower than the length of data ({n}). Received: {name}={value}."
            )
    start = start_index or 0
    end = n if end_index is None else end_index
    num_seqs = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        num_seqs = min(num_seqs, len(targets))
    positions = np.arange(0, max(num_seqs, 0), sequence_stride)
    return TimeseriesDataset(data[start:end], None if targets is None else targets[start:],
                             positions, sequence_length, sampling_rate, batch_size, shuffle, seed)
