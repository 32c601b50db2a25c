"""PyDataset (alias Sequence): batches computed by Python code, optionally in parallel.

A subclass defines `__len__` (or `num_batches`) and `__getitem__(index)` returning one
batch. Iterating over it is one pass (one epoch): `on_epoch_begin()` first, the batches
in index order, `on_epoch_end()` after the last one. So `fit`, `evaluate` and `predict`
take it through their ordinary iterable path (on_epoch_end runs as the last batch is
handed out, see `__iter__`). With `workers > 1` (threads) or
`use_multiprocessing=True` (processes), up to `max_queue_size` batches are computed
ahead, and still delivered in index order.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import multiprocessing
import random
import warnings
from collections import deque
from typing import Any, Iterator, Optional

_WORKER_DATASET: Any = None  # the PyDataset a worker process computes batches of


def _remember(dataset: Any) -> None:
    global _WORKER_DATASET
    _WORKER_DATASET = dataset


def _batch_in_worker(index: int) -> Any:
    return _WORKER_DATASET[index]


class PyDataset:
    """Base class for datasets whose batches are computed by Python code.

    Args:
        workers: threads (or processes) computing batches ahead. Defaults to `1`
            (in the iterating thread, no prefetch).
        use_multiprocessing: compute batches in processes instead of threads (the
            dataset must be picklable). Defaults to `False`.
        max_queue_size: batches computed ahead at most. Defaults to `10`.

    Example:
        >>> import numpy as np
        >>> class Squares(PyDataset):
        ...     def __init__(self, **kwargs):
        ...         super().__init__(**kwargs)
        ...     def __len__(self):
        ...         return 3
        ...     def __getitem__(self, index):
        ...         x = np.full((2, 1), float(index))
        ...         return x, x ** 2
        >>> [float(y[0, 0]) for _, y in Squares()]
        [0.0, 1.0, 4.0]
    """

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10) -> None:
        for name, value, low in (("workers", workers, 0), ("max_queue_size", max_queue_size, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"PyDataset: {name} must be an integer >= {low}. Received: {name}={value!r}.")
        self._workers = workers
        self._use_multiprocessing = bool(use_multiprocessing)
        self._max_queue_size = max_queue_size

    # Properties, so a subclass that forgot super().__init__() still works (with a warning).
    def _setting(self, name: str, default: Any) -> Any:
        if not hasattr(self, name):
            warnings.warn(
                f"{type(self).__name__}.__init__ should call super().__init__(**kwargs) so that workers, "
                "use_multiprocessing and max_queue_size are set; using their defaults.", stacklevel=3)
            setattr(self, name, default)
        return getattr(self, name)

    @property
    def workers(self) -> int:
        return self._setting("_workers", 1)

    @workers.setter
    def workers(self, value: int) -> None:
        self._workers = value

    @property
    def use_multiprocessing(self) -> bool:
        return self._setting("_use_multiprocessing", False)

    @use_multiprocessing.setter
    def use_multiprocessing(self, value: bool) -> None:
        self._use_multiprocessing = value

    @property
    def max_queue_size(self) -> int:
        return self._setting("_max_queue_size", 10)

    @max_queue_size.setter
    def max_queue_size(self, value: int) -> None:
        self._max_queue_size = value

    def __getitem__(self, index: int) -> Any:
        """The batch at position `index`: `x`, `(x,)`, `(x, y)` or `(x, y, sample_weight)`."""
        raise NotImplementedError(
            f"{type(self).__name__} must define __getitem__(self, index) returning the batch at that index."
        )

    @property
    def num_batches(self) -> Optional[int]:
        """Batches per epoch, or None for an endless dataset; defaults to `len(self)`."""
        if hasattr(self, "__len__"):
            return len(self)  # type: ignore[arg-type]
        raise NotImplementedError(
            f"{type(self).__name__} must define __len__ (batches per epoch) or a num_batches property "
            "(None for an endless dataset)."
        )

    def on_epoch_begin(self) -> None:
        """Called before the first batch of each pass."""

    def on_epoch_end(self) -> None:
        """Called after the last batch of each pass (e.g. to reshuffle)."""

    # ----------------------------------------------------------------- iteration
    def _indices(self, shuffle: bool = False) -> Iterator[int]:
        count = self.num_batches
        if count is None:
            return itertools.count()
        order = list(range(count))
        if shuffle:
            random.shuffle(order)  # Python's global generator, as Keras's PyDataset adapter
        return iter(order)

    def _pool(self) -> Optional[concurrent.futures.Executor]:
        workers, processes = self.workers, self.use_multiprocessing
        if processes and workers > 0:
            # fork: the children inherit the dataset (no pickling); elsewhere it is pickled once per worker.
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("fork" if "fork" in methods else None)
            return concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, initializer=_remember,
                                                          initargs=(self,))
        if workers > 1:
            return concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="kerasish-pydataset")
        return None

    def __iter__(self) -> Iterator[Any]:
        """One epoch: on_epoch_begin, every batch in index order, on_epoch_end."""
        return self._epoch(shuffle=False)

    def _epoch(self, shuffle: bool) -> Iterator[Any]:
        """One epoch, the batches in index order or (shuffle) in a random order.

        on_epoch_end runs once the last batch is computed, just before it is handed out:
        a consumer that stops after exactly `len(self)` batches (fit does) never asks for
        the element after it, so a later call would not happen within the epoch.
        """
        self.on_epoch_begin()
        pool = self._pool()
        if pool is None:
            last = self.num_batches
            for position, index in enumerate(self._indices(shuffle)):
                batch = self[index]
                if last is not None and position == last - 1:
                    self.on_epoch_end()
                yield batch
            return
        fetch = _batch_in_worker if isinstance(pool, concurrent.futures.ProcessPoolExecutor) else self.__getitem__
        pending: deque = deque()
        indices = self._indices(shuffle)
        try:
            for index in itertools.islice(indices, self.max_queue_size):
                pending.append(pool.submit(fetch, index))
            while pending:
                batch = pending.popleft().result()
                for index in itertools.islice(indices, 1):
                    pending.append(pool.submit(fetch, index))
                if not pending:
                    pool.shutdown(wait=True)  # every batch is computed: the epoch's data work is done
                    self.on_epoch_end()
                yield batch
        finally:
            # Also on an early stop (break, steps_per_epoch, an error): drop what was queued.
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)


class ShuffledPasses:
    """A PyDataset whose every pass visits the batches in a new random order (fit's shuffle=True).

    Keras's fit shuffles the batch order of a PyDataset when `shuffle=True`; kerasish's
    data adapter wraps the dataset in this to do the same. `len()` is the dataset's.
    """

    def __init__(self, dataset: PyDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        count = self.dataset.num_batches
        if count is None:
            raise TypeError(f"{type(self.dataset).__name__} is endless (num_batches is None), so it has no length.")
        return count

    def __iter__(self) -> Iterator[Any]:
        return self.dataset._epoch(shuffle=True)


Sequence = PyDataset
