"""Seeding."""

from __future__ import annotations

import random

import numpy as np
import torch


def set_random_seed(seed: int) -> None:
    """Seeds Python's `random`, NumPy and torch (all devices), as Keras's function does.

    Also resets the global `kerasish.random.SeedGenerator` (used by `seed=None`), which is
    rebuilt from Python's `random` on its next draw, as in Keras.

    Args:
        seed: a non-negative integer.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(
            f"set_random_seed expects a non-negative integer seed, received {seed!r} "
            f"of type {type(seed).__name__}."
        )
    random.seed(int(seed))
    np.random.seed(int(seed) % (2**32))
    torch.manual_seed(int(seed))
    from kerasish.random.seed_generator import reset_global_seed_generator  # late: keeps kerasish.utils light

    reset_global_seed_generator()
