"""Keras's update rules as functions of tensors, for a compiled training step to trace.

`compile(jit_compile=True)` traces the whole training step (forward, loss, metrics, the
gradients and the update) as one graph (see kerasish/training/compiled_step.py). The
eager rules (`keras_rules`, `keras_adam_rules`) take their step's scalars (the scheduled
rate, Adam's bias-corrected step size) as host numbers: traced, each new value would be a
constant of the graph and every step would compile a new one. Here the host computes the
same scalars in the same precision, writes them into 0-d tensors on the parameters' device
(only those that changed: one `fill_` per changed value, no host sync), and the traced
update reads them, so one graph serves every step of a schedule.

Supported: Keras's formulas of SGD (momentum, Nesterov), RMSprop (momentum, centered) and
Adam (AMSGrad; AdamW), with decoupled weight decay. `CompiledUpdate.unsupported(optimizer)`
says why another optimizer or setting keeps the eager update.

Example:
    >>> import torch, kerasish
    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> opt = kerasish.optimizers.SGD(0.1).build([w])
    >>> update = CompiledUpdate(opt)
    >>> state = update.prepare()
    >>> update.apply(state, [torch.ones(2)])
    >>> update.finish()
    >>> w.detach().tolist(), opt.iterations
    ([0.8999999761581421, 0.8999999761581421], 1)
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from kerasish.optimizers import torch_calls
from kerasish.optimizers.base import Optimizer
from kerasish.optimizers.keras_adam_rules import KerasAdamTorch
from kerasish.optimizers.keras_rules import (
    KerasRMSpropTorch,
    KerasSGDTorch,
    adam_alpha,
    scalar_type,
)

Plan = Tuple[Any, ...]


# ----------------------------------------------------------------- the rules
# Each rule has a plan (the group's settings that change the graph's shape: host booleans,
# a change recompiles), its scalars (host numbers computed as the eager rule computes them)
# and an update of tensors that the compiled step traces. `scalars` are read as `s[i]`.

def _sgd_plan(group: Dict[str, Any]) -> Plan:
    return (bool(group["momentum"]), bool(group["nesterov"]))


def _sgd_scalars(group: Dict[str, Any], f: Callable[[Any], Any]) -> List[float]:
    return [float(f(group["lr"])), float(group["momentum"])]


def _sgd_update(plan: Plan, params: List[torch.Tensor], grads: List[torch.Tensor], states: List[List[torch.Tensor]],
                s: Sequence[torch.Tensor]) -> None:
    has_momentum, nesterov = plan
    lr, momentum = s[0], s[1]
    for p, g, st in zip(params, grads, states):
        if not has_momentum:
            p.sub_(g * lr)
            continue
        m = st[0]
        m.mul_(momentum).sub_(g * lr)  # Keras's velocity: m = momentum * m - lr * g
        if nesterov:
            p.add_(m * momentum - g * lr)
        else:
            p.add_(m)


def _rmsprop_plan(group: Dict[str, Any]) -> Plan:
    return (bool(group["centered"]), group["momentum"] > 0)


def _rmsprop_scalars(group: Dict[str, Any], f: Callable[[Any], Any]) -> List[float]:
    rho = group["rho"]
    return [float(f(group["lr"])), rho, 1.0 - rho, group["eps"], group["momentum"]]


def _rmsprop_update(plan: Plan, params: List[torch.Tensor], grads: List[torch.Tensor],
                    states: List[List[torch.Tensor]], s: Sequence[torch.Tensor]) -> None:
    centered, has_momentum = plan
    lr, rho, one_minus_rho, eps, momentum = s[0], s[1], s[2], s[3], s[4]
    for p, g, st in zip(params, grads, states):
        v = st[0]
        v.mul_(rho).add_(g * g * one_minus_rho)
        denom = v + eps  # Keras: epsilon inside the square root
        if centered:
            avg = st[1]
            avg.mul_(rho).add_(g * one_minus_rho)
            denom = denom - avg * avg
        denom = denom.sqrt()
        if has_momentum:
            m = st[-1]
            m.mul_(momentum).add_(g / denom * lr)
            p.sub_(m)
        else:
            p.sub_(g / denom * lr)


def _adam_plan(group: Dict[str, Any]) -> Plan:
    return (bool(group["amsgrad"]),)


def _adam_scalars(group: Dict[str, Any], f: Callable[[Any], Any]) -> List[float]:
    b1, b2 = group["beta_1"], group["beta_2"]
    return [adam_alpha(group, f), b1, 1.0 - b1, b2, 1.0 - b2, group["eps"]]


def _adam_update(plan: Plan, params: List[torch.Tensor], grads: List[torch.Tensor], states: List[List[torch.Tensor]],
                 s: Sequence[torch.Tensor]) -> None:
    (amsgrad,) = plan
    alpha, b1, one_minus_b1, b2, one_minus_b2, eps = s[0], s[1], s[2], s[3], s[4], s[5]
    for p, g, st in zip(params, grads, states):
        m, v = st[0], st[1]
        m.mul_(b1).add_(g * one_minus_b1)
        v.mul_(b2).add_(g * g * one_minus_b2)
        if amsgrad:
            v_hat = st[2]
            v_hat.copy_(torch.maximum(v_hat, v))
            v = v_hat
        p.sub_(m * alpha / (v.sqrt() + eps))


class _Rule:
    def __init__(self, plan: Callable, scalars: Callable, update: Callable,
                 state_keys: Callable[[Plan], Tuple[str, ...]]) -> None:
        self.plan, self.scalars, self.update, self.state_keys = plan, scalars, update, state_keys


# The state each plan reads, in the order the update indexes it.
_RULES: Dict[type, _Rule] = {
    KerasSGDTorch: _Rule(_sgd_plan, _sgd_scalars, _sgd_update, lambda plan: ("momentum",) if plan[0] else ()),
    KerasRMSpropTorch: _Rule(_rmsprop_plan, _rmsprop_scalars, _rmsprop_update,
                             lambda plan: ("velocity",) + (("average_gradient",) if plan[0] else ())
                             + (("momentum",) if plan[1] else ())),
    KerasAdamTorch: _Rule(_adam_plan, _adam_scalars, _adam_update,
                          lambda plan: ("momentum", "velocity") + (("velocity_hat",) if plan[0] else ())),
}


# ----------------------------------------------------------------- the driver
class CompiledUpdate:
    """One optimizer's update, split into host bookkeeping and a traceable tensor update.

    Per step: `prepare()` (eager: the schedule's rate, the step count, the scalars into their
    tensors), `apply(state, grads)` (traced inside the compiled step: decoupled weight decay
    and the rule's update, in place), `finish()` (eager: the weights' moving average, the
    constraints and `iterations`, as the eager step ends). `undo(state)` takes back a
    `prepare` whose step did not run.

    Args:
        optimizer: a built kerasish `Optimizer` for which `unsupported` returns None.

    Raises:
        ValueError: for an optimizer `unsupported` refuses (the message says why).
    """

    def __init__(self, optimizer: Optimizer) -> None:
        reason = self.unsupported(optimizer)
        if reason is not None:
            raise ValueError(
                f"CompiledUpdate cannot run {type(optimizer).__name__}'s update: {reason}. Run its eager update "
                "(optimizer.step()) instead, as the compiled training step does; SGD, RMSprop, Adam and AdamW "
                "with Keras's formula and without clipping, loss scaling or gradient accumulation compile."
            )
        self.optimizer = optimizer
        self.torch_optimizer = optimizer.torch_optimizer
        self.rule = _RULES[type(self.torch_optimizer)]
        self._tensors: Dict[int, List[torch.Tensor]] = {}
        self._values: Dict[int, List[float]] = {}

    @staticmethod
    def unsupported(optimizer: Any) -> Optional[str]:
        """Why this optimizer's update cannot join a compiled step, or None when it can."""
        opt = getattr(optimizer, "torch_optimizer", None)
        if not isinstance(optimizer, Optimizer) or opt is None:
            return "it is not a built kerasish optimizer"
        if type(opt) not in _RULES:
            names = sorted(c.__name__ for c in _RULES)
            return f"its update rule {type(opt).__name__} has no compiled form (those with one: {names})"
        cls = type(optimizer)
        if any(getattr(cls, name) is not getattr(Optimizer, name) for name in ("step", "before_step", "after_step")):
            return f"{cls.__name__} changes how a step runs (it overrides step, before_step or after_step)"
        settings = [name for name in ("loss_scale_factor", "gradient_accumulation_steps", "clipnorm", "clipvalue",
                                      "global_clipnorm") if getattr(optimizer, name, None)]
        if settings:
            return f"it sets {', '.join(settings)}, which the compiled update does not apply"
        if not optimizer._params:
            return "it has no trainable variables"
        return None

    def observed(self) -> bool:
        """Whether something watches the torch optimizer's `step` (hooks, a patched `step`):
        then the eager update runs, so they see it."""
        return torch_calls.step_observed(self.torch_optimizer)

    def prepare(self) -> List[Tuple[Plan, List[torch.Tensor], List[List[torch.Tensor]], List[torch.Tensor], bool]]:
        """Host bookkeeping before the compiled step; returns what `apply` reads, per param group.

        Sets the scheduled rate, counts the step in each group (as `KerasRule.step` does) and
        writes the group's scalars into their 0-d tensors (only the changed ones).
        """
        self.optimizer.before_step()
        rule, state = self.rule, self.torch_optimizer.state
        out = []
        for group in self.torch_optimizer.param_groups:
            group["step"] = group.get("step", 0) + 1  # a host integer: no device sync
            params = group["params"]
            f = scalar_type(params[0])
            plan = rule.plan(group)
            keys = rule.state_keys(plan)
            states = []
            for p in params:
                st = state[p]
                if not st:
                    self.torch_optimizer.init_state(st, p, group)
                # setdefault: a buffer switched on mid-fit (e.g. momentum by OneCycle) starts from zero
                states.append([st[k] if k in st else st.setdefault(k, torch.zeros_like(p)) for k in keys])
            values = rule.scalars(group, f)
            decay = bool(group.get("weight_decay"))
            if decay:  # Keras 3: decoupled, before the update, with the current rate
                values.append(float(f(1) - f(group["weight_decay"]) * f(group["lr"])))
            out.append((plan, params, states, self._scalar_tensors(id(group), values, params[0]), decay))
        return out

    def _scalar_tensors(self, key: int, values: List[float], like: torch.Tensor) -> List[torch.Tensor]:
        tensors, old = self._tensors.get(key), self._values.get(key)
        if tensors is None or len(tensors) != len(values):
            tensors = [torch.tensor(v, dtype=like.dtype, device=like.device) for v in values]
            self._tensors[key] = tensors
        elif old != values:
            for t, v, o in zip(tensors, values, old):
                if v != o:
                    t.fill_(v)  # a kernel argument, not a copy from host memory: no sync
        self._values[key] = values
        return tensors

    def apply(self, prepared: Any, grads: Sequence[Optional[torch.Tensor]]) -> None:
        """The update from `grads` (in the order of the groups' parameters; None: no update of
        that parameter, as the eager rule skips a parameter without a gradient). Traceable."""
        i = 0
        with torch.no_grad():
            for plan, params, states, scalars, decay in prepared:
                group_grads = grads[i:i + len(params)]
                i += len(params)
                kept = [(p, g, st) for p, g, st in zip(params, group_grads, states) if g is not None]
                if not kept:
                    continue
                ps, gs, sts = [k[0] for k in kept], [k[1] for k in kept], [k[2] for k in kept]
                if decay:
                    for p in ps:
                        p.mul_(scalars[-1])
                self.rule.update(plan, ps, gs, sts, scalars)

    @staticmethod
    def params(prepared: Any) -> List[torch.Tensor]:
        """The parameters `apply(prepared, ...)` expects gradients for, in order. Traceable: it
        reads `prepare`'s result, not the param groups (whose step count would be a guard)."""
        return [p for _, params, _, _, _ in prepared for p in params]

    def finish(self) -> None:
        """Host bookkeeping after the compiled step (as the eager step ends it)."""
        self.torch_optimizer._opt_called = True  # what torch's LR schedulers check
        self.optimizer.after_step()

    def undo(self, prepared: Any) -> None:
        """Takes back `prepare`'s step count when the compiled step did not run."""
        for group in self.torch_optimizer.param_groups:
            group["step"] -= 1
