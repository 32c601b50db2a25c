"""Keras's update rules written on tensors, one per eager rule, for `compiled_update` to trace.

Each rule has three parts:
- a plan: the group's settings that change the graph's shape (host booleans; a changed plan
  recompiles);
- its scalars: host numbers computed exactly as the eager rule computes them (same NumPy
  precision, same order), which `CompiledUpdate` writes into 0-d tensors, so a schedule or a
  step-dependent factor (Adam's or Adamax's bias correction, Nadam's momentum cache) changes
  a tensor's value and not the graph;
- an update of parameters, gradients and state buffers, in place, read by the graph as
  `s[i]` from those tensors.

Supported, each against its eager rule: SGD (momentum, Nesterov), RMSprop (momentum,
centered), Adam (AMSGrad; AdamW), Adamax, Nadam and Lion. Weight decay and clipping are the
driver's (`CompiledUpdate.apply`), as they are the eager optimizer's.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Sequence, Tuple

import torch

from kerasish.optimizers.keras_adam_rules import KerasAdamaxTorch, KerasAdamTorch, KerasNadamTorch
from kerasish.optimizers.keras_rules import KerasLionTorch, KerasRMSpropTorch, KerasSGDTorch, adam_alpha

Plan = Tuple[Any, ...]
Group = Dict[str, Any]
Tensors = List[torch.Tensor]
States = List[List[torch.Tensor]]


# ----------------------------------------------------------------- SGD
def _sgd_plan(group: Group) -> Plan:
    return (bool(group["momentum"]), bool(group["nesterov"]))


def _sgd_scalars(opt: Any, group: Group, f: Callable[[Any], Any]) -> List[float]:
    return [float(f(group["lr"])), float(group["momentum"])]


def _sgd_update(plan: Plan, params: Tensors, grads: Tensors, states: States, s: Sequence[torch.Tensor]) -> None:
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


# ----------------------------------------------------------------- RMSprop
def _rmsprop_plan(group: Group) -> Plan:
    return (bool(group["centered"]), group["momentum"] > 0)


def _rmsprop_scalars(opt: Any, group: Group, f: Callable[[Any], Any]) -> List[float]:
    rho = group["rho"]
    return [float(f(group["lr"])), rho, 1.0 - rho, group["eps"], group["momentum"]]


def _rmsprop_update(plan: Plan, params: Tensors, grads: Tensors, states: States, s: Sequence[torch.Tensor]) -> None:
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


# ----------------------------------------------------------------- Adam, AdamW
def _adam_plan(group: Group) -> Plan:
    return (bool(group["amsgrad"]),)


def _adam_scalars(opt: Any, group: Group, f: Callable[[Any], Any]) -> List[float]:
    b1, b2 = group["beta_1"], group["beta_2"]
    return [adam_alpha(group, f), b1, 1.0 - b1, b2, 1.0 - b2, group["eps"]]


def _adam_update(plan: Plan, params: Tensors, grads: Tensors, states: States, s: Sequence[torch.Tensor]) -> None:
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


# ----------------------------------------------------------------- Adamax
def _no_plan(group: Group) -> Plan:
    return ()


def _adamax_scalars(opt: Any, group: Group, f: Callable[[Any], Any]) -> List[float]:
    b1 = group["beta_1"]
    correction = f(1) - f(b1) ** f(group["step"])  # 1 - beta_1**t, as KerasAdamaxTorch.update
    return [float(f(group["lr"])), b1, 1.0 - b1, group["beta_2"], group["eps"], float(correction)]


def _adamax_update(plan: Plan, params: Tensors, grads: Tensors, states: States, s: Sequence[torch.Tensor]) -> None:
    lr, b1, one_minus_b1, b2, eps, correction = s[0], s[1], s[2], s[3], s[4], s[5]
    for p, g, st in zip(params, grads, states):
        m, u = st[0], st[1]
        m.mul_(b1).add_(g * one_minus_b1)
        u.copy_(torch.maximum(u * b2, g.abs()))  # Keras: epsilon outside the maximum
        p.sub_(m * lr / ((u + eps) * correction))


# ----------------------------------------------------------------- Nadam
def _nadam_scalars(opt: Any, group: Group, f: Callable[[Any], Any]) -> List[float]:
    # `opt.begin_step` (called by the driver, as KerasRule.step calls it) has advanced the
    # momentum-cache product in the group and left this step's u_t, u_{t+1} and product.
    u_t, u_next, u_product = opt._scalars
    b1, b2 = group["beta_1"], group["beta_2"]
    m_coef = u_next / (f(1) - u_product * u_next)
    g_coef = (f(1) - u_t) / (f(1) - u_product)
    v_coef = f(1) - f(b2) ** f(group["step"])
    return [float(f(group["lr"])), b1, 1.0 - b1, b2, 1.0 - b2, group["eps"], float(m_coef), float(g_coef),
            float(v_coef)]


def _nadam_update(plan: Plan, params: Tensors, grads: Tensors, states: States, s: Sequence[torch.Tensor]) -> None:
    lr, b1, one_minus_b1, b2, one_minus_b2, eps = s[0], s[1], s[2], s[3], s[4], s[5]
    m_coef, g_coef, v_coef = s[6], s[7], s[8]
    for p, g, st in zip(params, grads, states):
        m, v = st[0], st[1]
        m.mul_(b1).add_(g * one_minus_b1)
        v.mul_(b2).add_(g * g * one_minus_b2)
        m_hat = m * m_coef + g * g_coef
        p.sub_(m_hat * lr / ((v / v_coef).sqrt() + eps))


# ----------------------------------------------------------------- Lion
def _lion_scalars(opt: Any, group: Group, f: Callable[[Any], Any]) -> List[float]:
    b1, b2 = group["beta_1"], group["beta_2"]
    return [float(f(group["lr"])), b1, 1.0 - b1, b2, 1.0 - b2]


def _lion_update(plan: Plan, params: Tensors, grads: Tensors, states: States, s: Sequence[torch.Tensor]) -> None:
    lr, b1, one_minus_b1, b2, one_minus_b2 = s[0], s[1], s[2], s[3], s[4]
    for p, g, st in zip(params, grads, states):
        m = st[0]
        p.sub_(torch.sign(m * b1 + g * one_minus_b1) * lr)  # the step reads the old momentum
        m.mul_(b2).add_(g * one_minus_b2)


# ----------------------------------------------------------------- the table
class Rule:
    """One eager rule's compiled form.

    Args:
        plan: `plan(group)`, the host settings that shape the graph.
        scalars: `scalars(torch_optimizer, group, f)`, the step's host numbers in precision `f`.
        update: `update(plan, params, grads, states, scalars)`, traceable, in place.
        state_keys: `state_keys(plan)`, the state buffers the update reads, in its order.
        host_keys: the group entries the eager rule's `begin_step` changes besides `step`
            (restored when a prepared step does not run). Defaults to `()`.
    """

    def __init__(self, plan: Callable, scalars: Callable, update: Callable,
                 state_keys: Callable[[Plan], Tuple[str, ...]], host_keys: Tuple[str, ...] = ()) -> None:
        self.plan, self.scalars, self.update, self.state_keys = plan, scalars, update, state_keys
        self.host_keys = host_keys


RULES: Dict[type, Rule] = {
    KerasSGDTorch: Rule(_sgd_plan, _sgd_scalars, _sgd_update, lambda plan: ("momentum",) if plan[0] else ()),
    KerasRMSpropTorch: Rule(_rmsprop_plan, _rmsprop_scalars, _rmsprop_update,
                            lambda plan: ("velocity",) + (("average_gradient",) if plan[0] else ())
                            + (("momentum",) if plan[1] else ())),
    KerasAdamTorch: Rule(_adam_plan, _adam_scalars, _adam_update,
                         lambda plan: ("momentum", "velocity") + (("velocity_hat",) if plan[0] else ())),
    KerasAdamaxTorch: Rule(_no_plan, _adamax_scalars, _adamax_update, lambda plan: ("momentum", "norm")),
    KerasNadamTorch: Rule(_no_plan, _nadam_scalars, _nadam_update, lambda plan: ("momentum", "velocity"),
                          host_keys=("u_product",)),
    KerasLionTorch: Rule(_no_plan, _lion_scalars, _lion_update, lambda plan: ("momentum",)),
}
