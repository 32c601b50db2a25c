"""Logs returned by a user's `train_step` / `test_step`: checked, flattened, read lazily.

A step returns a dict of results (tensors, floats, or a nested dict such as
`compile_metrics`' result). The loop keeps the last one; callbacks reading batch logs
and the epoch end convert it to floats, with one host synchronisation per read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Dict, Iterator, List, Optional, Tuple

import torch

from kerasish.training.logs import NestedLogs, results_to_floats


def check_step_result(result: Any, what: str) -> Mapping:
    """The step's result, or a clear error when it is not a dict.

    Raises:
        TypeError: when `result` is not a mapping.
    """
    if isinstance(result, Mapping):
        return result
    raise TypeError(
        f"{what}() must return a dict mapping metric names to results (e.g. {{'loss': loss}}), received "
        f"{type(result).__name__}: {result!r:.80}. End your {what} with "
        "`return {m.name: m.result() for m in self.metrics}`."
    )


def flatten(result: Mapping) -> Tuple[List[str], List[Any]]:
    """Names and values in Keras's order: the result's keys sorted, a nested dict (e.g.
    'compile_metrics') listed entry by entry where its key sorts."""
    names: List[str] = []
    values: List[Any] = []
    for k, v in sorted(result.items(), key=lambda item: str(item[0])):
        if isinstance(v, Mapping):
            sub_names, sub_values = flatten(v)
            names += sub_names
            values += sub_values
        else:
            names.append(str(k))
            values.append(v)
    return names, values


def _sort_keys(result: Mapping) -> Dict[str, str]:
    """Each flattened name of a nested entry, mapped to the top-level key it sorts under."""
    return {name: str(k) for k, v in result.items() if isinstance(v, Mapping) for name in flatten(v)[0]}


def to_floats(result: Mapping) -> Dict[str, float]:
    """Floats for every entry (host sync: once, for all device values together).

    Raises:
        ValueError: for a non-scalar tensor or a value that is not a number.
    """
    names, values = flatten(result)
    tensors: List[torch.Tensor] = []
    for n, v in zip(names, values):
        if isinstance(v, torch.Tensor):
            if v.numel() != 1:
                raise ValueError(
                    f"The step's result {n!r} has shape {tuple(v.shape)}; logs hold scalars. Return a scalar "
                    "(e.g. metric.result() or loss.mean())."
                )
            tensors.append(v)
            continue
        try:
            tensors.append(torch.tensor(float(v), dtype=torch.float64))
        except (TypeError, ValueError):
            raise ValueError(
                f"The step's result {n!r} is {v!r} of type {type(v).__name__}; logs hold numbers. Return "
                "a number or a scalar tensor."
            ) from None
    return NestedLogs(results_to_floats(names, tensors), _sort_keys(result))


class StepLogs(Mapping):
    """Batch logs over a step's returned dict; converted to floats only when read."""

    __slots__ = ("_result", "_names", "_cache")

    def __init__(self, result: Mapping) -> None:
        self._result = result
        self._names: Optional[List[str]] = None
        self._cache: Optional[Dict[str, float]] = None

    def _values(self) -> Dict[str, float]:
        if self._cache is None:
            self._cache = to_floats(self._result)
        return self._cache

    def __getitem__(self, key: str) -> float:
        return self._values()[key]

    def __iter__(self) -> Iterator[str]:
        if self._names is None:
            self._names = flatten(self._result)[0]  # Keras's order, as its batch logs
        return iter(self._names)

    def __len__(self) -> int:
        return len(list(iter(self)))

    def __repr__(self) -> str:
        return f"StepLogs({self._values()!r})"
