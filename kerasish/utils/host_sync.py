"""Labelled host syncs: the few places where kerasish reads device values on purpose.

A training loop on CUDA runs ahead of the GPU until something on the host needs a value the
GPU computes (`.item()`, `.cpu()`, `float(t)`, a blocking copy): then the host waits. kerasish
does that only where a value must reach Python: once per epoch (the logs that History and
callbacks get), when a progress bar refreshes (a few times a second at most), once per fit (the
first batch's label check, a compiled graph's first call), and per step only where a feature the
user chose needs a host decision: `mixed_float16` loss scaling and `LossScaleOptimizer` (skip an
overflowing update, as Keras does) and masked recurrent layers (torch's packed sequences take
their lengths from host memory). Each such read is wrapped in `labelled_sync(reason)`.

`torch.cuda.set_sync_debug_mode("warn"/"error")` reports synchronising calls (torch calls it a
prototype that does not detect every one). Inside `labelled_sync` it is suspended, so what it
reports are syncs nobody labelled, the ones in a per-batch path (kerasish's or the user's), and a
whole `fit` can run with it set to "error". A labelled block covers all of its body: a graph's
whole first compiled call, and under `mixed_float16` the whole optimizer step. `labelled_count()` tells how many labelled reads there were (for tests and
benchmarks/cuda_syncs.py, which also shows whether their number grows with the batches).

    >>> import torch
    >>> from kerasish.utils.host_sync import labelled_sync, labelled_count
    >>> before = labelled_count()
    >>> with labelled_sync("epoch logs"):
    ...     value = torch.ones(()).item()
    >>> labelled_count() - before
    1
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator, Optional

import torch

_count = 0
# torch's sync debug mode is one setting for the whole process: labelled reads in several threads
# (or nested ones) share one suspension, lifted when the last of them ends.
_lock = threading.Lock()
_depth = 0
_saved_mode = 0


def labelled_count() -> int:
    """How many labelled reads kerasish has made in this process."""
    return _count


@contextlib.contextmanager
def labelled_sync(reason: str, of: Optional[torch.Tensor] = None) -> Iterator[None]:
    """Marks an intended device-to-host read; `reason` says what is read and how often.

    torch's sync debug mode, if set, is off until the last labelled read running (in any thread)
    ends, then set back, unless the code inside set a mode of its own. While it is off, syncs in
    other threads go unreported too. `of`, when given, is the tensor read: one in host memory needs
    no sync, so nothing is done or counted.
    """
    global _count, _depth, _saved_mode
    if of is not None and of.device.type == "cpu":
        yield
        return
    # No CUDA context yet means no CUDA tensor exists, so nothing here can synchronise.
    cuda = torch.cuda.is_initialized()
    with _lock:
        _count += 1
        if cuda:
            if _depth == 0:
                _saved_mode = torch.cuda.get_sync_debug_mode()
                if _saved_mode:
                    torch.cuda.set_sync_debug_mode(0)
            _depth += 1
    try:
        yield
    finally:
        if cuda:
            with _lock:
                _depth -= 1
                if _depth == 0 and _saved_mode and torch.cuda.get_sync_debug_mode() == 0:
                    torch.cuda.set_sync_debug_mode(_saved_mode)
