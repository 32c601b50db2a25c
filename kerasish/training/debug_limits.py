"""Keras's debugging caps on training length: `config.set_max_epochs` / `set_max_steps_per_epoch`
(or the `KERAS_MAX_EPOCHS` / `KERAS_MAX_STEPS_PER_EPOCH` environment variables).

`fit` caps its epochs; `fit` (training and validation data), `evaluate` and `predict` cap their
steps per pass as if given `steps_per_epoch` / `steps`, each with Keras's warning text, so a
tutorial runs shortened in CI without edits. `train_on_batch` / `test_on_batch` / `predict_on_batch`
are single batches and are not capped (Keras's are not either).
"""

from __future__ import annotations

import warnings
from typing import Optional

from kerasish import config


def epochs(requested: int) -> int:
    """`requested`, or the configured cap when that is smaller (with Keras's warning)."""
    cap = config.max_epochs()
    if cap is not None and cap < requested:
        warnings.warn(f"Limiting epochs to {cap}", UserWarning, stacklevel=4)
        return cap
    return requested


def steps(requested: Optional[int]) -> Optional[int]:
    """The steps per pass: `requested` (None: the whole data), or the configured cap when there is
    none or it is smaller (with Keras's warning)."""
    cap = config.max_steps_per_epoch()
    if cap is not None and (requested is None or cap < requested):
        warnings.warn(f"Limiting steps_per_epoch to {cap}", UserWarning, stacklevel=4)
        return cap
    return requested
