"""How many batches an epoch draws, and the warning when the data runs out: Keras 3's rules.

Keras's epoch iterator (`keras/src/trainers/epoch_iterator.py`, 3.x) decides what each epoch
of fit, and each evaluate/predict, draws; kerasish's data adapters follow the same rules:

- Without `steps_per_epoch` (evaluate/predict: `steps`) every epoch is one fresh pass.
- With it, the pass is kept across epochs: an epoch continues where the last one stopped.
  A pass that runs out first ends the epoch early, with the warning below, and the next
  epoch starts a new pass (one that ended exactly with the last epoch restarts silently).
  Arrays, DataLoaders, Datasets and PyDatasets all behave so.
- Despite the warning's words, training goes on: every epoch runs and is recorded in the
  History. An epoch that got no batch at all ends with empty logs (History then has fewer
  values than epochs), as in Keras.
- Data of unknown length (a generator, an IterableDataset) ends by raising StopIteration,
  and Keras warns about that even without `steps_per_epoch`.
- A generator cannot start a new pass: Keras restarts it from the first two batches it
  kept when it first looked at the data, so later epochs draw those two batches again.
"""

from __future__ import annotations

import warnings
from typing import Any, Optional

RAN_OUT = (
    "Your input ran out of data; interrupting training. The data held fewer batches than the epoch's "
    "steps (steps_per_epoch, or steps for evaluate/predict). Give at least steps_per_epoch * epochs "
    "batches (e.g. a generator that loops forever), or lower steps_per_epoch / steps."
)


def warn_if_ran_out(adapter: Any, stacklevel: int = 1) -> None:
    """Warns as Keras does when the adapter's last epoch ran out of data before its steps.

    Args:
        adapter: the data adapter that was just iterated for one epoch (its `ran_out` flag).
        stacklevel: frames between the caller and the user's line. Defaults to `1`.
    """
    if getattr(adapter, "ran_out", False):
        warnings.warn(RAN_OUT, stacklevel=stacklevel + 1)


def default_batch_size(batch_size: Optional[int], samples: int, steps: Optional[int]) -> int:
    """`batch_size`, or Keras's default for arrays when it is None: with `steps` given, enough
    samples per batch for the steps to cover the arrays once (`ceil(samples / steps)`), else 32."""
    if batch_size is not None:
        return batch_size
    return max(1, -(-samples // steps)) if steps else 32
