"""Preprocessing layers on the data side of a torch `DataLoader`: `collate_with(layer)`.

Keras recommends augmenting on the CPU, asynchronously with training, when the model runs on
a CPU (`dataset.map(lambda x, y: (augment(x, training=True), y))`). With a torch DataLoader the
place for that is its `collate_fn`, which runs in the loader's worker processes:

    loader = DataLoader(dataset, batch_size=128, num_workers=2,
                        collate_fn=collate_with(Sequential([RandomFlip(), RandomRotation(0.1)])))

`collate_with` stacks the samples with torch's `default_collate`, then passes the inputs (the
first element of each `(x, y[, sample_weight])` sample, or the whole batch when the samples are
not tuples) through the layer. Each worker process holds its own copy of the layer, so seeded
layers should be given different seeds per worker (`worker_init_fn`) if the workers must not
repeat each other's draws; unseeded layers draw from torch's generator, which the DataLoader
already seeds per worker.
"""

from __future__ import annotations

from typing import Any, Callable, List

import torch
from torch.utils.data import default_collate


def collate_with(layer: Callable, training: bool = True) -> Callable[[List[Any]], Any]:
    """A DataLoader `collate_fn` that batches samples and applies `layer` to the inputs.

    Args:
        layer: a preprocessing layer, a `Sequential` of them, or any callable on a batch tensor.
        training: passed to the layer (True: augmentation layers augment). Defaults to `True`.

    Returns:
        `collate_fn(samples) -> batch`, where the batch is `(layer(x), y, ...)` for tuple
        samples and `layer(batch)` otherwise.

    Example:
        >>> from kerasish.layers import RandomFlip
        >>> collate = collate_with(RandomFlip(seed=1))
        >>> x, y = collate([(torch.zeros(4, 4, 3), 0), (torch.ones(4, 4, 3), 1)])
        >>> tuple(x.shape), y.tolist()
        ((2, 4, 4, 3), [0, 1])
    """
    if not callable(layer):
        raise TypeError(
            f"collate_with needs a layer or callable to apply to each batch, received {layer!r}. "
            "Example: collate_with(RandomFlip('horizontal'))."
        )

    def collate(samples: List[Any]) -> Any:
        batch = default_collate(samples)
        with torch.no_grad():
            if isinstance(batch, (list, tuple)) and batch and isinstance(samples[0], tuple):
                return (layer(batch[0], training=training),) + tuple(batch[1:])
            return layer(batch, training=training)

    return collate
