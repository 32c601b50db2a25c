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

from typing import Any, Callable, Dict, List

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


def _modules(module: nn.Module) -> List[nn.Module]:
    """`module.modules()`'s list (pre-order, each module once), or None if a class walks its own way."""
    out: List[nn.Module] = []
    seen = set()

    def visit(m: nn.Module) -> bool:
        seen.add(id(m))
        cls = type(m)
        if cls not in _plain_walk and not _walks_like_torch(cls) or not _plain_walk[cls]:
            return False
        out.append(m)
        for c in m._modules.values():
            if c is not None and id(c) not in seen and not visit(c):
                return False
        return True

    return out if visit(module) else None  # type: ignore[return-value]


def _members(module: nn.Module, store: str, torch_walk: Callable[[], Any]) -> List[torch.Tensor]:
    modules = _modules(module)
    if modules is None:
        return list(torch_walk())
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
    return _members(module, "_parameters", module.parameters)


def buffers_of(module: nn.Module) -> List[torch.Tensor]:
    """`list(module.buffers())`, faster."""
    return _members(module, "_buffers", module.buffers)


def keras_weights(layer: nn.Module, is_layer: Callable[[Any], bool]) -> List[torch.Tensor]:
    """A layer's weights in Keras's order: its own parameters (trainable first, then the rest),
    then each child's (a layer's `weights`, a plain module's parameters then float buffers),
    then its own float buffers; each tensor once."""
    out: List[torch.Tensor] = []
    seen = set()

    def add(tensors: Any) -> None:
        for t in tensors:
            if id(t) not in seen:
                seen.add(id(t))
                out.append(t)

    own = [p for p in layer._parameters.values() if p is not None]
    add([p for p in own if p.requires_grad])
    add([p for p in own if not p.requires_grad])
    if _walks_like_torch(type(layer)):
        children, seen_children = [], set()
        for c in layer._modules.values():
            if c is not None and id(c) not in seen_children:
                seen_children.add(id(c))
                children.append(c)
    else:
        children = list(layer.children())
    for child in children:
        if is_layer(child):
            add(child.weights)
        else:
            add(parameters_of(child))
            add([b for b in buffers_of(child) if b.is_floating_point()])
    add([b for b in layer._buffers.values() if b is not None and b.is_floating_point()])
    return out


def zero_grad(module: nn.Module, set_to_none: bool = True) -> None:
    """`nn.Module.zero_grad`, walking the parameters with `parameters_of`."""
    if not set_to_none or getattr(module, "_is_replica", False):
        nn.Module.zero_grad(module, set_to_none)  # the rare forms: torch's own code (and its warning)
        return
    for p in scoped(module, "parameters", lambda: parameters_of(module)):
        if p.grad is not None:
            p.grad = None


# ---------------------------------------------------------------- the step-scoped cache
# A user's train_step reads `self.trainable_weights` every batch. While a fit's step runs
# (`begin_step_scope` .. `end_step_scope`), a model's weight list is kept and reused until any
# module anywhere registers a parameter, buffer or submodule (torch's global registration hooks),
# or kerasish changes a tree by hand (`tree_changed`: a deleted attribute, a parameter set to
# None, a model's layer dict, a tracked list). `trainable` still filters on every read.
_generation = 0
_hooks_installed = False


def tree_changed(*_: Any) -> None:
    """Marks every cached weight list stale (also torch's registration hook: returns None)."""
    global _generation
    _generation += 1


def _install_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    from torch.nn.modules import module as torch_module

    for name in ("register_module_parameter_registration_hook", "register_module_buffer_registration_hook",
                 "register_module_module_registration_hook"):
        getattr(torch_module, name)(tree_changed)
    _hooks_installed = True


def begin_step_scope(model: nn.Module) -> bool:
    """A fit/evaluate step loop starts: `model`'s weight lists may be cached from now on.
    Returns whether this call opened the scope (a nested loop, validation inside fit, did not)."""
    if "_weights_cache" in model.__dict__:
        return False
    _install_hooks()
    model.__dict__["_weights_cache"] = {"generation": None}
    return True


def end_step_scope(model: nn.Module) -> None:
    model.__dict__.pop("_weights_cache", None)


def scoped(model: nn.Module, key: str, compute: Callable[[], List[Any]]) -> List[Any]:
    """`compute()`, reused while the tree is unchanged inside a step scope (a fresh list each time)."""
    cache = model.__dict__.get("_weights_cache")
    if cache is None:
        return compute()
    if cache["generation"] != _generation:
        cache.clear()
        cache["generation"] = _generation
    found = cache.get(key)
    if found is None:
        found = cache[key] = compute()
    return list(found)
