"""The few `tf.data.Dataset` methods Keras tutorials call on the folder datasets: `map`, `take`,
`prefetch`.

`image_dataset_from_directory(...).map(lambda x, y: (augment(x, training=True), y))` is how
keras-io applies augmentation on the data side; `take(1)` is how it looks at one batch;
`prefetch(n)` is a hint. Each returns a new iterable that `fit`, `evaluate` and `predict` take.
`map` runs the function on each batch in the consuming process, as the batches come (lazily);
`prefetch` returns the dataset unchanged because its DataLoader already reads ahead when
`num_workers > 0` (say so rather than pretend: the method exists so tutorials run, and is
documented as a no-op).
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Iterator, Optional


class DatasetOps:
    """Mixin: `map`, `take` and `prefetch` on an iterable of batches with `class_names`."""

    class_names: Optional[list] = None

    def map(self, map_func: Callable, num_parallel_calls: Any = None, deterministic: Any = None,
            name: Optional[str] = None) -> "MappedDataset":
        """A dataset of `map_func(*element)` for tuple elements (as tf.data unpacks them), else
        `map_func(element)`. `num_parallel_calls` and `deterministic` are accepted and have no
        effect (the function runs in order, in this process)."""
        if not callable(map_func):
            raise TypeError(f"map() needs a callable, received {map_func!r}. Example: ds.map(lambda x, y: (x / 255, y)).")
        return MappedDataset(self, map_func)

    def take(self, count: int, name: Optional[str] = None) -> "TakenDataset":
        """The first `count` batches (all of them for `count=-1`, as tf.data)."""
        if isinstance(count, bool) or not isinstance(count, int) or count < -1:
            raise ValueError(f"take() needs an int count >= -1 (-1: all), received count={count!r}.")
        return TakenDataset(self, count)

    def prefetch(self, buffer_size: Any = None, name: Optional[str] = None) -> "DatasetOps":
        """Returns this dataset unchanged (its DataLoader reads ahead with `num_workers > 0`)."""
        return self


class _Derived(DatasetOps):
    def __init__(self, source: Any) -> None:
        self.source = source
        self.class_names = getattr(source, "class_names", None)
        self.file_paths = getattr(source, "file_paths", None)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self.source!r}>"


class MappedDataset(_Derived):
    """`source.map(fn)`: each element passed through `fn` as it is read."""

    def __init__(self, source: Any, fn: Callable) -> None:
        super().__init__(source)
        self.fn = fn

    def __len__(self) -> int:
        return len(self.source)

    def __iter__(self) -> Iterator[Any]:
        for element in self.source:
            yield self.fn(*element) if isinstance(element, tuple) else self.fn(element)


class TakenDataset(_Derived):
    """`source.take(n)`: the first n elements of each pass."""

    def __init__(self, source: Any, count: int) -> None:
        super().__init__(source)
        self.count = count

    def __len__(self) -> int:
        n = len(self.source)
        return n if self.count == -1 else min(n, self.count)

    def __iter__(self) -> Iterator[Any]:
        it = iter(self.source)
        return it if self.count == -1 else itertools.islice(it, self.count)
