"""Keras's optimizer updates as functions of tensors, for a compiled training step to trace.

`compile(jit_compile=True)` traces the whole training step (forward, loss, metrics, the
gradients and the update) as one graph (see kerasish/training/compiled_step.py). The
eager rules (`keras_rules`, `keras_adam_rules`) take their step's scalars (the scheduled
rate, Adam's bias-corrected step size) as host numbers: traced, each new value would be a
constant of the graph and every step would compile a new one. Here the host computes the
same scalars in the same precision, writes them into 0-d tensors on the parameters' device
(only those that changed: one `fill_` per changed value, no host sync), and the traced
update reads them, so one graph serves every step of a schedule.

The update runs the eager optimizer's order (`Optimizer.step`): Keras's gradient clipping
(`clipnorm` per gradient, `global_clipnorm` over all of them, or `clipvalue`; the norms
stay tensors), then per param group the decoupled weight decay and the rule's update
(`compiled_rules`: SGD, RMSprop, Adam/AdamW, Adamax, Nadam, Lion). The weights' moving
average, the constraints and the step count follow on the host, as the eager step ends.
`CompiledUpdate.unsupported(optimizer)` says why another optimizer or setting keeps the
eager update.

Example:
    >>> import torch, kerasish
    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> opt = kerasish.optimizers.SGD(0.1, clipnorm=0.5).build([w])
    >>> update = CompiledUpdate(opt)
    >>> state = update.prepare()
    >>> update.apply(state, [torch.full((2,), 3.0)])  # norm 4.24: clipped to 0.5
    >>> update.finish()
    >>> [round(v, 4) for v in w.detach().tolist()], int(opt.iterations)
    ([0.9646, 0.9646], 1)
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from kerasish.optimizers import torch_calls
from kerasish.optimizers.base import Optimizer
from kerasish.optimizers.compiled_rules import RULES, Plan
from kerasish.optimizers.keras_rules import scalar_type

# What `prepare` returns per param group: (plan, params, state buffers, scalar tensors, decay).
Prepared = Tuple[Optional[Tuple[str, List[torch.Tensor]]], List[Tuple[Plan, List[torch.Tensor],
                 List[List[torch.Tensor]], List[torch.Tensor], bool]]]


# ----------------------------------------------------------------- the driver
class CompiledUpdate:
    """One optimizer's update, split into host bookkeeping and a traceable tensor update.

    Per step: `prepare()` (eager: the schedule's rate, the step count, the scalars into their
    tensors), `apply(state, grads)` (traced inside the compiled step: the gradients' clipping,
    then decoupled weight decay and the rule's update, in place), `finish()` (eager: the weights' moving average, the
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
                "(optimizer.step()) instead, as the compiled training step does; SGD, RMSprop, Adam, AdamW, "
                "Adamax, Nadam and Lion with Keras's formula and without loss scaling or gradient accumulation "
                "compile (with or without clipping)."
            )
        self.optimizer = optimizer
        self.torch_optimizer = optimizer.torch_optimizer
        self.rule = RULES[type(self.torch_optimizer)]
        self._tensors: Dict[Any, List[torch.Tensor]] = {}
        self._values: Dict[Any, List[float]] = {}
        self._saved: List[Tuple[Dict[str, Any], Dict[str, Any]]] = []  # host group entries `undo` restores

    @staticmethod
    def unsupported(optimizer: Any) -> Optional[str]:
        """Why this optimizer's update cannot join a compiled step, or None when it can."""
        opt = getattr(optimizer, "torch_optimizer", None)
        if not isinstance(optimizer, Optimizer) or opt is None:
            return "it is not a built kerasish optimizer"
        if type(opt) not in RULES:
            names = sorted(c.__name__ for c in RULES)
            return f"its update rule {type(opt).__name__} has no compiled form (those with one: {names})"
        cls = type(optimizer)
        if any(getattr(cls, name) is not getattr(Optimizer, name) for name in ("step", "before_step", "after_step")):
            return f"{cls.__name__} changes how a step runs (it overrides step, before_step or after_step)"
        settings = [name for name in ("loss_scale_factor", "gradient_accumulation_steps")
                    if getattr(optimizer, name, None)]
        if settings:
            return f"it sets {', '.join(settings)}, which the compiled update does not apply"
        if not optimizer._params:
            return "it has no trainable variables"
        return None

    def observed(self) -> bool:
        """Whether something watches the torch optimizer's `step` (hooks, a patched `step`):
        then the eager update runs, so they see it."""
        return torch_calls.step_observed(self.torch_optimizer)

    def prepare(self) -> Prepared:
        """Host bookkeeping before the compiled step; returns what `apply` reads: the clipping
        (its kind and bound as tensors, or None) and, per param group, the rule's inputs.

        Sets the scheduled rate, counts the step in each group and runs the rule's `begin_step`
        (as `KerasRule.step` does), and writes the scalars into their 0-d tensors (only the
        changed ones).
        """
        self.optimizer.before_step()
        rule, state, torch_opt = self.rule, self.torch_optimizer.state, self.torch_optimizer
        if rule.host_keys:
            self._saved = [(g, {k: g[k] for k in rule.host_keys if k in g}) for g in torch_opt.param_groups]
        out = []
        for group in torch_opt.param_groups:
            group["step"] = group.get("step", 0) + 1  # a host integer: no device sync
            params = group["params"]
            f = scalar_type(params[0])
            torch_opt.begin_step(group, f)  # host numbers only (Nadam's momentum-cache product)
            plan = rule.plan(group)
            keys = rule.state_keys(plan)
            states = []
            for p in params:
                st = state[p]
                if not st:
                    torch_opt.init_state(st, p, group)
                # setdefault: a buffer switched on mid-fit (e.g. momentum by OneCycle) starts from zero
                states.append([st[k] if k in st else st.setdefault(k, torch.zeros_like(p)) for k in keys])
            values = rule.scalars(torch_opt, group, f)
            decay = bool(group.get("weight_decay"))
            if decay:  # Keras 3: decoupled, before the update, with the current rate
                values.append(float(f(1) - f(group["weight_decay"]) * f(group["lr"])))
            out.append((plan, params, states, self._scalar_tensors(id(group), values, params[0]), decay))
        return self._clipping(), out

    def _clipping(self) -> Optional[Tuple[str, List[torch.Tensor]]]:
        """The eager optimizer's clipping (`Optimizer._clip`: the first of clipnorm,
        global_clipnorm, clipvalue set above 0) as a kind and its bounds in 0-d tensors."""
        opt = self.optimizer
        like = opt._params[0]
        if opt.clipnorm and opt.clipnorm > 0:
            return "norm", self._scalar_tensors("clip", [float(opt.clipnorm)], like)
        if opt.global_clipnorm and opt.global_clipnorm > 0:
            clip = float(opt.global_clipnorm)
            inverse = 1.0 / clip  # in the weights' dtype, as the eager rule holds it
            return "global", self._scalar_tensors("clip", [clip, inverse], like)
        if opt.clipvalue and opt.clipvalue > 0:
            return "value", self._scalar_tensors("clip", [-float(opt.clipvalue), float(opt.clipvalue)], like)
        return None

    def _scalar_tensors(self, key: Any, values: List[float], like: torch.Tensor) -> List[torch.Tensor]:
        tensors, old = self._tensors.get(key), self._values.get(key)
        if tensors is None or len(tensors) != len(values):
            # torch.full writes the value with a kernel; torch.tensor(v, device=cuda) would copy it
            # from host memory and wait for the copy (a sync).
            tensors = [torch.full((), v, dtype=like.dtype, device=like.device) for v in values]
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
        clipping, groups = prepared
        with torch.no_grad():
            if clipping is not None:
                grads = _clip(clipping, grads)
            i = 0
            for plan, params, states, scalars, decay in groups:
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
        return [p for _, params, _, _, _ in prepared[1] for p in params]

    def finish(self) -> None:
        """Host bookkeeping after the compiled step (as the eager step ends it)."""
        self.torch_optimizer._opt_called = True  # what torch's LR schedulers check
        self.optimizer.after_step()

    def undo(self, prepared: Any) -> None:
        """Takes back `prepare`'s step count (and the rule's host entries, e.g. Nadam's
        momentum-cache product) when the compiled step did not run."""
        for group in self.torch_optimizer.param_groups:
            group["step"] -= 1
        for group, saved in self._saved:
            group.update(saved)


def _clip(clipping: Tuple[str, List[torch.Tensor]], grads: Sequence[Optional[torch.Tensor]]
          ) -> List[Optional[torch.Tensor]]:
    """Keras's clipping of the present gradients, as `Optimizer._clip` does it eagerly (traceable:
    the norms and the scale stay tensors)."""
    kind, bounds = clipping
    present = [g for g in grads if g is not None]
    if not present:
        return list(grads)
    if kind == "norm":  # per gradient: g * clipnorm / max(norm(g), clipnorm)
        clip = bounds[0]
        norms = torch._foreach_norm(present)
        clipped = [g * clip / torch.clamp_min(n, clip) for g, n in zip(present, norms)]
    elif kind == "global":  # all together: g * min(clip / global_norm, 1), NaN for a non-finite norm
        clip, inverse = bounds
        total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(present)))
        scale = clip * torch.minimum(1.0 / total, inverse) + (total - total)
        clipped = [g * scale for g in present]
    else:  # "value"
        low, high = bounds
        clipped = [torch.clamp_max(torch.clamp_min(g, low), high) for g in present]
    found = iter(clipped)
    return [None if g is None else next(found) for g in grads]
