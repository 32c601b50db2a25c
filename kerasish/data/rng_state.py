"""Random states saved with a data position, so that a resumed fit draws the same batches.

BackupAndRestore stores where the data stood: the host's global random states a pass's
order depends on, and the torch generators of a DataLoader and its sampler. Everything is
tensors and numbers (no pickle), checked before it is set.
"""

from __future__ import annotations

import random
from typing import Any, Dict, List, Mapping

import numpy as np
import torch


def bad_state(what: str, field: str, value: Any, expected: str) -> ValueError:
    return ValueError(
        f"The saved {what} position has an invalid {field!r}: received {value!r:.80}, expected {expected}. The "
        "backup was written by another kind of data or edited; delete it to start training from scratch.")


def host_rng_state() -> Dict[str, Any]:
    """torch's CPU, NumPy's and Python's global random states, as tensors and numbers (no pickle)."""
    _, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {"torch": torch.get_rng_state(), "numpy": [torch.from_numpy(keys.astype(np.int64)), int(pos),
                                                      int(has_gauss), float(cached)],
            "python": [int(version), torch.tensor(internal, dtype=torch.int64), gauss_next]}


def set_host_rng_state(state: Mapping[str, Any]) -> None:
    """Sets the states `host_rng_state` returned."""
    keys, pos, has_gauss, cached = state["numpy"]
    version, internal, gauss_next = state["python"]
    torch.set_rng_state(state["torch"])
    np.random.set_state(("MT19937", keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))
    random.setstate((int(version), tuple(int(v) for v in internal.tolist()), gauss_next))


def generators(data: Any) -> List[torch.Generator]:
    """The torch generators a DataLoader draws its order from (its own, its sampler's), each once."""
    found: List[torch.Generator] = []
    for owner in (data, getattr(data, "sampler", None), getattr(getattr(data, "batch_sampler", None), "sampler", None)):
        gen = getattr(owner, "generator", None)
        if isinstance(gen, torch.Generator) and all(gen is not g for g in found):
            found.append(gen)
    return found


def generator_states(data: Any) -> List[torch.Tensor]:
    return [g.get_state() for g in generators(data)]


def check_generator_states(data: Any, states: Any) -> None:
    count = len(generators(data))
    if (not isinstance(states, list) or len(states) != count
            or not all(isinstance(v, torch.Tensor) and v.dtype == torch.uint8 for v in states)):
        raise bad_state("iterable data", "generators", states, f"{count} torch.Generator.get_state() tensor(s), as "
                         "many as this data's DataLoader and sampler have generators")


def set_generator_states(data: Any, states: Any) -> None:
    check_generator_states(data, states)
    for gen, value in zip(generators(data), states):
        gen.set_state(value)
