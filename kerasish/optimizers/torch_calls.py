"""The torch optimizer's `step` and `zero_grad` without torch's per-call wrappers, when nothing needs them.

`torch.optim.Optimizer` wraps every `step` in a profiler range plus the pre/post step hooks, and
`zero_grad` in another profiler range behind a dynamo guard: about 6-8 us per training step on a
CPU, as much as a tiny model's forward. kerasish calls the update rule directly while no profiler
runs, no hook is registered and no LR scheduler has patched `step`; otherwise it calls torch's
methods, so hooks, `torch.profiler` traces and `torch.optim.lr_scheduler` behave as with torch.
"""

from __future__ import annotations

import torch
from torch.optim import optimizer as torch_optimizer

_profiling = torch._C._autograd._profiler_enabled


def step_observed(opt: torch.optim.Optimizer) -> bool:
    """Whether something watches `opt.step`: step hooks (its own or global) or a patched `step`
    (torch's LR schedulers patch it)."""
    return bool(opt._optimizer_step_pre_hooks or opt._optimizer_step_post_hooks
                or torch_optimizer._global_optimizer_pre_hooks or torch_optimizer._global_optimizer_post_hooks
                or "step" in vars(opt))


def _plain(opt: torch.optim.Optimizer) -> bool:
    return not (_profiling() or step_observed(opt))


def step(opt: torch.optim.Optimizer) -> None:
    """`opt.step()`; the unwrapped rule when nothing observes the call."""
    method = type(opt).step
    raw = getattr(method, "__wrapped__", None)
    # Only torch's own profiling wrapper (marked `hooked`) is skipped; any other decorator stays.
    if raw is None or not getattr(method, "hooked", False) or not _plain(opt):
        opt.step()
        return
    raw(opt)
    opt._opt_called = True  # what torch's LR schedulers check (as the wrapper they install sets it)


def zero_grad(opt: torch.optim.Optimizer) -> None:
    """`opt.zero_grad(set_to_none=True)`: every parameter's gradient becomes None."""
    if _profiling() or "zero_grad" in vars(opt) or type(opt).zero_grad is not torch.optim.Optimizer.zero_grad:
        opt.zero_grad(set_to_none=True)
        return
    for group in opt.param_groups:
        for p in group["params"]:
            p.grad = None
