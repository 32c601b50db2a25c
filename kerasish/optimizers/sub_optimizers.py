"""`MultiOptimizer.torch_optimizer`: its sub-optimizers' torch optimizers seen as one.

Code that works on a kerasish optimizer's torch optimizer (the summary's state count, the
non-finite guard, torch's GradScaler under the 'mixed_float16' policy) reads `param_groups`
and `state`, and GradScaler calls `step()`. `SubOptimizers` gives those over the torch
optimizers of the sub-optimizers that have weights: their param groups in order, their states
as one mapping, a step of each.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Dict, Iterator, List

import torch

from kerasish.optimizers import torch_calls


class _MergedState(Mapping):
    """The sub-optimizers' torch `state` dicts read as one (each parameter is in one of them)."""

    def __init__(self, states: List[Dict[Any, Any]]) -> None:
        self._states = states

    def __getitem__(self, key: Any) -> Any:
        for state in self._states:
            if key in state:
                return state[key]
        raise KeyError(key)

    def __iter__(self) -> Iterator[Any]:
        for state in self._states:
            yield from state

    def __len__(self) -> int:
        return sum(len(state) for state in self._states)

    def clear(self) -> None:
        for state in self._states:
            state.clear()


class SubOptimizers:
    """`MultiOptimizer.torch_optimizer`: the built sub-optimizers' torch optimizers seen as one, for
    code that reads a kerasish optimizer's torch optimizer (param groups, state, GradScaler's
    unscale and step under the 'mixed_float16' policy)."""

    def __init__(self, multi: Any) -> None:
        self._multi = multi

    def _torch(self) -> List[torch.optim.Optimizer]:
        return [opt.torch_optimizer for opt in self._multi._stepping()]

    @property
    def param_groups(self) -> List[Dict[str, Any]]:
        return [group for opt in self._torch() for group in opt.param_groups]

    @property
    def state(self) -> _MergedState:
        return _MergedState([opt.state for opt in self._torch()])

    @property
    def defaults(self) -> Dict[str, Any]:
        return {}

    def step(self, closure: Any = None) -> None:
        if closure is not None:
            raise ValueError("MultiOptimizer's torch optimizers step without a closure: call optimizer.step().")
        for opt in self._torch():
            torch_calls.step(opt)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self._torch():
            if set_to_none:
                torch_calls.zero_grad(opt)
            else:
                opt.zero_grad(set_to_none=False)

    def __repr__(self) -> str:
        return f"<torch optimizers of {self._multi.name}: {[type(o).__name__ for o in self._torch()]}>"
