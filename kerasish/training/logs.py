"""Logs: lazy batch-level mappings and the once-per-epoch conversion to floats."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Dict, Iterator, List, Optional

import torch

from kerasish import distributed
from kerasish.utils.host_sync import labelled_sync


def results_to_floats(names: List[str], tensors: List[torch.Tensor], prefix: str = "") -> Dict[str, float]:
    """Converts device results to floats with ONE host synchronisation for all of them."""
    if not tensors:
        return {}
    if distributed.is_distributed() and all(hasattr(t, "result") for t in tensors):
        # Trackers, not values: sum (total, count) across processes before dividing, so every
        # process gets the same sample-weighted numbers. A collective: every rank gets here.
        tensors = distributed.reduced_results(tensors)
    tensors = [t.result() if hasattr(t, "result") else t for t in tensors]
    # Host memory already: no device sync, less overhead.
    values: List[Any] = [t.item() if t.device.type == "cpu" else None for t in tensors]
    on_device = [i for i, v in enumerate(values) if v is None]
    if on_device:
        stacked = torch.stack([tensors[i].detach().to(torch.float64).reshape(()) for i in on_device])
        with labelled_sync("logs read as floats: once per epoch, or per progress-bar refresh"):
            on_host = stacked.cpu().tolist()
        for i, v in zip(on_device, on_host):
            values[i] = v
    return {prefix + n: float(v) for n, v in zip(names, values)}


class NestedLogs(dict):
    """Floats flattened from a custom step's result, with the top-level key each entry came from.

    Keras sorts a step's result by its own keys and lists a nested dict's entries (the
    `compile_metrics` result, say) where that key sorts: `{'loss': .., 'compile_metrics': {'mae': ..}}`
    reads `mae, loss`. `sort_keys` maps a flattened name to the key it sorts under.
    """

    def __init__(self, items: Any = (), sort_keys: Optional[Dict[str, str]] = None) -> None:
        super().__init__(items)
        self.sort_keys: Dict[str, str] = dict(sort_keys or {})


def keras_order(logs: Mapping[str, Any]) -> Dict[str, Any]:
    """`logs` with its keys sorted, the order in which Keras 3 hands logs to every callback hook,
    fills `History` and returns `evaluate(..., return_dict=True)` (`accuracy` before `loss`).
    Entries of a nested result (see `NestedLogs`) sort under their parent's key, keeping their own
    order. Host floats only: no device sync."""
    sort_keys = getattr(logs, "sort_keys", {})
    return dict(sorted(logs.items(), key=lambda item: sort_keys.get(item[0], item[0])))


class LazyLogs(Mapping):
    """Batch-end logs: the running epoch means, computed only when someone reads them.

    Reading any key syncs once (all values are fetched together); a hook that never
    reads its logs costs no synchronisation. Keys iterate sorted, as Keras's batch logs do.
    """

    __slots__ = ("_names", "_trackers", "_cache")

    def __init__(self, names: List[str], trackers: List[Any]) -> None:
        self._names = names
        self._trackers = trackers
        self._cache: Optional[Dict[str, float]] = None

    def _values(self) -> Dict[str, float]:
        if self._cache is None:
            # This process's running values: no collective, since only some ranks may read them.
            self._cache = results_to_floats(self._names, distributed.local_results(self._trackers))
        return self._cache

    def __getitem__(self, key: str) -> float:
        return self._values()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._names))  # Keras's order (see `keras_order`); names only, no sync

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, key: object) -> bool:
        return key in self._names

    def __repr__(self) -> str:
        return f"LazyLogs({self._values()!r})"
