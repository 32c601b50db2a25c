"""Walks over a module tree that per-step code can afford: torch's order, without torch's generators.

A user's own `train_step` reads `self.trainable_weights` and calls `self.zero_grad()` on every
batch (the Keras 3 guide's step does both). torch's `parameters()` / `buffers()` walk the tree
through nested generators (`named_modules` → `_named_members`), several microseconds per module,
which on a small model is a visible share of the step. These functions read the `_parameters`,
`_buffers` and `_modules` dicts directly, in exactly torch's order and with its de-duplication
(modules and tensors by identity, `None` entries skipped). Nothing is cached: every change to the
tree is seen on the next call. A module class that overrides torch's walk (`named_modules`,
`parameters`, `buffers`, `children`) is walked by torch's own methods instead.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

import torch
from torch import nn

_WALK_METHODS = ("named_modules", "parameters", "named_parameters", "buffers", "named_buffers", "children",
                 "named_children", "_named_members")
_plain_walk: Dict[type, bool] = {}


def _walks_like_torch(cls: type) -> bool:
    """Whether `cls` keeps torch's own tree-walking methods (then reading its dicts is exact)."""
    known = _plain_walk.get(cls)
    if known is None:
        known = _plain_walk[cls] = all(getattr(cls, m, None) is getattr(nn.Module, m) for m in _WALK_METHODS)
    return known


def _modules(module: nn.Module) -> Optional[List[nn.Module]]:
    """`module.modules()`'s list (pre-order, each module once), or None if a class walks its own way."""
    out: List[nn.Module] = []
    seen = set()

    def visit(m: nn.Module) -> bool:
        seen.add(id(m))
        if not _walks_like_torch(type(m)):
            return False
        out.append(m)
        for c in m._modules.values():
            if c is not None and id(c) not in seen and not visit(c):
                return False
        return True

    return out if visit(module) else None


def _collect(modules: List[nn.Module], store: str) -> List[torch.Tensor]:
    """The tensors of each module's `store` dict (`_parameters` or `_buffers`), each once."""
    out: List[torch.Tensor] = []
    seen = set()
    for m in modules:
        for t in m.__dict__[store].values():
            if t is not None and id(t) not in seen:
                seen.add(id(t))
                out.append(t)
    return out


def parameters_of(module: nn.Module) -> List[nn.Parameter]:
    """`list(module.parameters())`, faster."""
    modules = _modules(module)
    return list(module.parameters()) if modules is None else _collect(modules, "_parameters")


def buffers_of(module: nn.Module) -> List[torch.Tensor]:
    """`list(module.buffers())`, faster."""
    modules = _modules(module)
    return list(module.buffers()) if modules is None else _collect(modules, "_buffers")


def _parameters_and_float_buffers(module: nn.Module) -> List[torch.Tensor]:
    """`list(module.parameters()) + [float buffers of module.buffers()]`, walking the tree once."""
    modules = _modules(module)
    if modules is None:
        return list(module.parameters()) + [b for b in module.buffers() if b.is_floating_point()]
    return _collect(modules, "_parameters") + [b for b in _collect(modules, "_buffers") if b.is_floating_point()]


def keras_weights(layer: nn.Module, is_layer: Callable[[Any], bool]) -> List[torch.Tensor]:
    """A layer's weights in Keras's order: its own parameters (trainable first, then the rest),
    then each child's (a layer's `weights`, a plain module's parameters then float buffers),
    then its own float buffers; each tensor once."""
    out: List[torch.Tensor] = []
    seen = set()
    own = [p for p in layer._parameters.values() if p is not None]
    for group in ([p for p in own if p.requires_grad], [p for p in own if not p.requires_grad]):
        for t in group:
            if id(t) not in seen:
                seen.add(id(t))
                out.append(t)
    if _walks_like_torch(type(layer)):
        children, seen_children = [], set()
        for c in layer._modules.values():
            if c is not None and id(c) not in seen_children:
                seen_children.add(id(c))
                children.append(c)
    else:
        children = list(layer.children())
    for child in children:
        for t in (child.weights if is_layer(child) else _parameters_and_float_buffers(child)):
            if id(t) not in seen:
                seen.add(id(t))
                out.append(t)
    for t in layer._buffers.values():
        if t is not None and t.is_floating_point() and id(t) not in seen:
            seen.add(id(t))
            out.append(t)
    return out


def zero_grad(module: nn.Module, set_to_none: bool = True) -> None:
    """`nn.Module.zero_grad(set_to_none)`, reading the modules' parameter dicts directly."""
    if not set_to_none or getattr(module, "_is_replica", False):
        nn.Module.zero_grad(module, set_to_none)  # the rare forms: torch's own code (and its warning)
        return
    modules = _modules(module)
    if modules is None:
        nn.Module.zero_grad(module, set_to_none)
        return
    for m in modules:
        for p in m._parameters.values():  # a parameter met twice is cleared twice: no harm
            if p is not None and p.grad is not None:
                p.grad = None

