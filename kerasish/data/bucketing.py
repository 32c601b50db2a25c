"""Length-bucketed batches for variable-length sequences: a batch sampler and a padding collate.

Random batches of texts carry a lot of padding: each batch is padded to its longest member.
`BucketBatchSampler` shuffles the dataset, cuts it into pools of `batch_size *
pool_size_multiplier` items, sorts each pool by length, cuts the pools into batches and shuffles
the batches, so each batch holds sequences of similar length while epochs stay random (what
torchtext's `BucketIterator` did). `pad_collate` pads a batch and returns the lengths that
`torch.nn.utils.rnn.pack_padded_sequence` needs.

Example:
    ```python
    from torch.utils.data import DataLoader
    from kerasish.data.bucketing import BucketBatchSampler, pad_collate

    dataset = list(zip(sequences, labels))          # sequences: lists of token ids
    sampler = BucketBatchSampler([len(s) for s in sequences], batch_size=32, seed=0)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=pad_collate)
    for x, lengths, y in loader:                    # x: (32, longest in batch), post-padded
        ...
    ```
"""

from __future__ import annotations

import math
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Sampler


def _positive_int(arg: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(
            f"{arg} must be a positive int, received {arg}={value!r} of type "
            f"{type(value).__name__}. Pass e.g. {arg}=32."
        )
    return int(value)


class BucketBatchSampler(Sampler[List[int]]):
    """Yields batches of indices whose sequences have similar lengths, in random order.

    Each epoch: shuffle all indices, split them into pools of `batch_size *
    pool_size_multiplier`, sort each pool by length (longest first, so every batch is in the
    decreasing order `pack_padded_sequence(enforce_sorted=True)` wants), cut the pools into
    batches of `batch_size` and shuffle the batches. Every index appears exactly once per
    epoch; only the last batch of the epoch can be smaller than `batch_size`.

    Args:
        lengths: the length of every sequence in the dataset (a list or 1-D array of ints).
            No default.
        batch_size: indices per batch. No default.
        shuffle: shuffle the indices and the batch order each epoch; with `False` the pools
            follow the dataset order and the batches keep their order. Defaults to `True`.
        pool_size_multiplier: pool size in batches. Larger pools give tighter batches and
            less randomness. Defaults to `100`.
        drop_last: drop the last batch when it is smaller than `batch_size`.
            Defaults to `False`.
        seed: seed of the shuffles; epoch `e` uses `(seed, e)`, so runs repeat exactly while
            epochs differ. Defaults to `None` (seeded from torch's global generator, so
            `kerasish.utils.set_random_seed` makes runs repeatable).

    Example:
        >>> sampler = BucketBatchSampler([5, 1, 4, 2, 3, 6], batch_size=2, shuffle=False)
        >>> list(sampler)
        [[5, 0], [2, 4], [3, 1]]
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, shuffle: bool = True,
                 pool_size_multiplier: int = 100, drop_last: bool = False,
                 seed: Optional[int] = None) -> None:
        lengths = np.asarray(lengths)
        if lengths.ndim != 1 or (lengths.size and (lengths.dtype.kind not in "iu" or lengths.min() < 0)):
            raise ValueError(
                f"lengths must be a 1-D list of non-negative ints, received an array of shape "
                f"{lengths.shape} and dtype {lengths.dtype}. Pass [len(s) for s in sequences]."
            )
        self.lengths = lengths.astype(np.int64)
        self.batch_size = _positive_int("batch_size", batch_size)
        self.pool_size_multiplier = _positive_int("pool_size_multiplier", pool_size_multiplier)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Chooses the epoch whose shuffle the next iteration uses (with a `seed`)."""
        self.epoch = int(epoch)

    def _rng(self) -> np.random.Generator:
        if self.seed is None:
            return np.random.default_rng(int(torch.randint(0, 2**31 - 1, ()).item()))
        return np.random.default_rng([int(self.seed), self.epoch])

    def __iter__(self) -> Iterator[List[int]]:
        rng = self._rng()
        self.epoch += 1
        n = len(self.lengths)
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        pool = self.batch_size * self.pool_size_multiplier
        batches = []
        for start in range(0, n, pool):
            chunk = order[start:start + pool]
            # Stable sort on negated lengths: longest first, ties keep their shuffled order.
            chunk = chunk[np.argsort(-self.lengths[chunk], kind="stable")]
            batches += [chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        # Pools are whole multiples of batch_size, so only the very last batch can be short.
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.shuffle:
            rng.shuffle(batches)
        for batch in batches:
            yield batch.tolist()

    def __len__(self) -> int:
        n = len(self.lengths)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)


def pad_collate(batch: Sequence[Any], padding_value: float = 0, *,
                lengths: bool = True) -> Tuple[torch.Tensor, ...]:
    """Pads a batch of variable-length sequences at the end; returns `(x, lengths, y)`.

    Use it as a DataLoader's `collate_fn` (with `functools.partial` for other options).
    Items are `(sequence, label)` pairs, or bare sequences (then the result is
    `(x, lengths)`). Sequences may be lists, arrays or tensors of ids or of feature vectors.
    `model.fit` reads a 3-tuple batch as `(x, y, sample_weight)`, so for `fit` pass
    `functools.partial(pad_collate, lengths=False)`: batches are then `(x, y)` and
    `Embedding(mask_zero=True)` recovers the lengths from the zero padding.

    Args:
        batch: the items of one batch. No default.
        padding_value: the value padded positions get. Defaults to `0`.
        lengths: include the lengths tensor after `x`. Defaults to `True`.

    Returns:
        `x`: a tensor of shape (batch, longest, ...) padded after each sequence; `lengths`:
        an int64 CPU tensor of the true lengths (what `pack_padded_sequence` takes; only
        with `lengths=True`); `y`: the labels stacked into a tensor (only when items are
        pairs).

    Raises:
        ValueError: for an empty batch, or pairs mixed with bare sequences.

    Example:
        >>> x, lengths, y = pad_collate([([3, 4, 5], 1), ([6], 0)])
        >>> x.tolist(), lengths.tolist(), y.tolist()
        ([[3, 4, 5], [6, 0, 0]], [3, 1], [1, 0])
    """
    if len(batch) == 0:
        raise ValueError(
            "pad_collate received an empty batch. Check the sampler: it must not yield "
            "empty index lists."
        )
    paired = [isinstance(item, tuple) and len(item) == 2 for item in batch]
    if any(paired) and not all(paired):
        raise ValueError(
            f"pad_collate received a batch mixing (sequence, label) pairs and bare sequences "
            f"(item {paired.index(not paired[0])} differs from item 0). Make every dataset "
            "item the same kind."
        )
    seqs = [item[0] for item in batch] if paired[0] else list(batch)
    tensors = [torch.as_tensor(np.asarray(s)) if not isinstance(s, torch.Tensor) else s for s in seqs]
    # An empty list becomes a float64 tensor; give it the dtype of the others.
    dtype = next((t.dtype for t in tensors if t.numel()), tensors[0].dtype)
    tensors = [t if t.dtype == dtype else t.to(dtype) for t in tensors]
    x = pad_sequence(tensors, batch_first=True, padding_value=padding_value)
    out: Tuple[torch.Tensor, ...] = (x,)
    if lengths:
        out += (torch.tensor([len(t) for t in tensors], dtype=torch.int64),)
    if paired[0]:
        out += (torch.stack([torch.as_tensor(item[1]) for item in batch]),)
    return out
