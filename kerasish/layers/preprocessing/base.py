"""PreprocessingLayer: the base of layers whose state is learned from data by `adapt`.

`adapt(data)` streams the data one batch at a time: `reset_state()`, then `update_state(batch)`
per batch, then `finalize_state()`. Only the running statistics stay in memory, so a DataLoader
or generator over a data set larger than memory can be adapted to.
"""

from __future__ import annotations

import itertools
from typing import Any, Iterator, Optional

import numpy as np
import torch

from kerasish.layers.layer import Layer

_DEFAULT_DATASET_BATCH = 32


def _x_of(batch: Any) -> Any:
    """The inputs of a batch: (x, y) and (x, y, sample_weight) give x.

    Tuples always count as such; lists too when they hold 1 to 3 tensors/arrays, which is
    how a DataLoader collates the (x, y) samples of a TensorDataset.
    """
    if isinstance(batch, tuple) and batch:
        return batch[0]
    if isinstance(batch, list) and len(batch) in (1, 2, 3) and all(
            isinstance(b, (torch.Tensor, np.ndarray)) for b in batch):
        return batch[0]
    return batch


def _is_whole(data: Any) -> bool:
    """Arrays, tensors and flat lists are one data set, not an iterable of batches."""
    return isinstance(data, (np.ndarray, torch.Tensor, list, tuple, str, bytes, int, float))


def _slices(data: Any, batch_size: int) -> Iterator[Any]:
    for start in range(0, len(data), batch_size):
        yield data[start:start + batch_size]


def _check_positive(value: Any, arg: str) -> None:
    if value is not None and (not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1):
        raise ValueError(
            f"adapt() received {arg}={value!r}; expected None or a positive int. "
            f"Pass e.g. {arg}=32, or leave it out."
        )


def iterate_batches(data: Any, batch_size: Optional[int] = None, steps: Optional[int] = None) -> Iterator[Any]:
    """Yields the input part of each batch of `data`, as `adapt` sees it.

    Args:
        data: a NumPy array, tensor or list (one data set, cut into `batch_size` rows when
            that is given), a torch `Dataset` (sample by sample; batched by a DataLoader of
            `batch_size`, default 32), a `DataLoader`, a generator or any other iterable of
            batches. Tuples `(x, y)` and `(x, y, sample_weight)` give their `x`. No default.
        batch_size: rows per batch for arrays and Datasets. Defaults to `None` (arrays in one
            piece).
        steps: stop after this many batches. Defaults to `None` (all of them).

    Raises:
        ValueError: for a non-positive `batch_size` or `steps`.
        TypeError: for data that is neither an array nor iterable.
    """
    _check_positive(batch_size, "batch_size")
    _check_positive(steps, "steps")
    if _is_whole(data):
        if isinstance(data, (list, tuple)) and not isinstance(data, torch.Tensor):
            data = np.asarray(data, dtype=object if _holds_strings(data) else None)
        batches: Iterator[Any] = iter([data]) if batch_size is None else _slices(data, batch_size)
    elif isinstance(data, torch.utils.data.Dataset) and not isinstance(data, torch.utils.data.IterableDataset) \
            and hasattr(data, "__len__"):
        loader = torch.utils.data.DataLoader(data, batch_size=batch_size or _DEFAULT_DATASET_BATCH)
        batches = (_x_of(b) for b in loader)
    elif hasattr(data, "__iter__"):
        batches = (_x_of(b) for b in data)
    else:
        raise TypeError(
            f"adapt() received data of type {type(data).__name__}, which is neither an array nor iterable. "
            "Pass a NumPy array, a tensor, a list, a torch Dataset, a DataLoader or a generator of batches."
        )
    return itertools.islice(batches, steps) if steps is not None else batches


def _holds_strings(data: Any) -> bool:
    first = data
    while isinstance(first, (list, tuple)) and first:
        first = first[0]
    return isinstance(first, (str, bytes))


class PreprocessingLayer(Layer):
    """A layer whose state (statistics, a vocabulary) is computed from data by `adapt`.

    Subclasses implement `reset_state()`, `update_state(batch)` (one batch of inputs, as a
    NumPy array or tensor) and `finalize_state()` (turn what was accumulated into the state
    the layer calls with). Numeric state lives in non-trainable weights, so it is in the
    state dict and `get_weights()`; vocabularies live in `get_config()`.

    Args:
        **kwargs: `name`, `dtype`, `trainable`, `input_shape`, as for every layer.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._is_adapted = False

    @property
    def is_adapted(self) -> bool:
        """Whether `adapt` has run (or the state was given to the constructor)."""
        return self._is_adapted

    def adapt(self, data: Any, batch_size: Optional[int] = None, steps: Optional[int] = None) -> None:
        """Computes the layer's state from `data`, replacing the previous state.

        Args:
            data: a NumPy array, tensor, list, torch `Dataset`, `DataLoader`, generator or
                any iterable of batches (`(x, y)` tuples give their `x`). No default.
            batch_size: rows per batch for arrays and Datasets. Defaults to `None`.
            steps: the number of batches to read. Defaults to `None` (all).

        Raises:
            ValueError: when `data` holds no batch, or for a bad `batch_size`/`steps`.
        """
        self.reset_state()
        seen = False
        for batch in iterate_batches(data, batch_size, steps):
            seen = True
            self.update_state(batch)
        if not seen:
            raise ValueError(
                f"{type(self).__name__}.adapt() received data with no batches ({type(data).__name__}). "
                "Pass a non-empty array, list or iterable of batches."
            )
        self.finalize_state()
        self._is_adapted = True

    def reset_state(self) -> None:
        """Forgets what `update_state` accumulated."""

    def update_state(self, data: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement update_state(data).")

    def finalize_state(self) -> None:
        """Turns the accumulated statistics into the layer's state."""
